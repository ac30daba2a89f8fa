//! Writes and checks docs/vectors/transport.json, the known answers of
//! docs/spec/transport.md: fragments, frames, signaling blobs and the channel binding.
//!
//! `SYNCSHELL_WRITE_VECTORS=1 cargo test -p syncshell-webrtc --lib vectors` writes the file
//! from the code; without the variable the test fails when the code no longer produces the
//! committed file byte for byte. docs/vectors/check_transport.py checks the same file against
//! the spec alone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::path::PathBuf;

use bytes::Bytes;
use syncshell_transport::{split, Error, Reassembler};
use webrtc::peer_connection::RTCIceCandidateInit;

use crate::connection::frame_cost;
use crate::link::{on_frame, Shared};
use crate::signal::{Blob, Kind, Signal};
use crate::transport::{channel_binding, Fingerprint, CHANNEL_BINDING_LABEL};

/// Just enough JSON to write the file the way `json.dumps(indent=2)` would read it.
enum J {
    S(String),
    N(u64),
    Null,
    A(Vec<J>),
    O(Vec<(&'static str, J)>),
}

fn s(text: impl Into<String>) -> J {
    J::S(text.into())
}

fn hex(bytes: &[u8]) -> J {
    J::S(bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    }))
}

impl J {
    fn write(&self, out: &mut String, indent: usize) {
        let pad = |n: usize| " ".repeat(n);
        match self {
            J::S(text) => {
                out.push('"');
                for c in text.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        c if (c as u32) < 0x20 => {
                            let _ = write!(out, "\\u{:04x}", c as u32);
                        }
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            J::N(n) => {
                let _ = write!(out, "{n}");
            }
            J::Null => out.push_str("null"),
            J::A(items) if items.is_empty() => out.push_str("[]"),
            J::A(items) => {
                out.push_str("[\n");
                for (i, item) in items.iter().enumerate() {
                    out.push_str(&pad(indent + 2));
                    item.write(out, indent + 2);
                    out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                }
                out.push_str(&pad(indent));
                out.push(']');
            }
            J::O(fields) => {
                out.push_str("{\n");
                for (i, (k, v)) in fields.iter().enumerate() {
                    let _ = write!(out, "{}\"{k}\": ", pad(indent + 2));
                    v.write(out, indent + 2);
                    out.push_str(if i + 1 < fields.len() { ",\n" } else { "\n" });
                }
                out.push_str(&pad(indent));
                out.push('}');
            }
        }
    }
}

fn channel_binding_vector() -> J {
    let mut off = [0u8; 32];
    let mut ans = [0u8; 32];
    for i in 0..32u8 {
        off[usize::from(i)] = i;
        ans[usize::from(i)] = 0xff - i;
    }
    let (off, ans) = (Fingerprint(off), Fingerprint(ans));
    let mut input = CHANNEL_BINDING_LABEL.to_vec();
    for fp in [&off, &ans] {
        input.extend_from_slice(&(fp.text().len() as u32).to_be_bytes());
        input.extend_from_slice(fp.text().as_bytes());
    }
    J::O(vec![
        (
            "label",
            s(String::from_utf8(CHANNEL_BINDING_LABEL.to_vec()).unwrap()),
        ),
        ("offerer_fingerprint", s(off.text())),
        ("answerer_fingerprint", s(ans.text())),
        ("input", hex(&input)),
        ("binding", hex(&channel_binding(&off, &ans))),
    ])
}

fn error(e: &Error) -> J {
    match e {
        Error::Protocol(why) => J::O(vec![("error", s("Protocol")), ("reason", s(*why))]),
        Error::TooLarge { len, max } => J::O(vec![
            ("error", s("TooLarge")),
            ("len", J::N(*len as u64)),
            ("max", J::N(*max as u64)),
        ]),
        other => panic!("no vector form for {other:?}"),
    }
}

/// Section 1, both ways: a message split for a unit of `F` bytes.
fn fragment_vectors() -> J {
    let cases: [(&[u8], usize); 7] = [
        (b"", 4),
        (b"a", 4),
        (b"abc", 4),
        (b"abcd", 4),
        (b"abcdef", 4),
        (b"ab", 2),
        (b"hello, syncshell", 7),
    ];
    J::A(
        cases
            .iter()
            .map(|(message, f)| {
                let fragments = split(message, *f, 1 << 20).unwrap();
                // Joined again, they give the message back.
                let mut r = Reassembler::new(1 << 20);
                let out: Vec<Bytes> = fragments
                    .iter()
                    .filter_map(|x| r.push(x).unwrap())
                    .collect();
                assert_eq!(out, [Bytes::copy_from_slice(message)]);
                J::O(vec![
                    ("max_fragment", J::N(*f as u64)),
                    ("message", hex(message)),
                    (
                        "fragments",
                        J::A(fragments.iter().map(|x| hex(x)).collect()),
                    ),
                ])
            })
            .collect(),
    )
}

/// Section 1's refusals: fragments fed in order to a receiver with a message limit; the
/// messages delivered before the refusal, and the refusal (after which every fragment is
/// refused with the same error).
fn reassembly_vectors() -> J {
    let cases: [(usize, &[&[u8]]); 7] = [
        (16, &[b""]),
        (16, &[b"\x02"]),
        (16, &[b"\x01ab", b"\x00c", b"\xffd", b"\x01e"]),
        (3, &[b"\x00abc", b"\x01d"]),
        (3, &[b"\x01abc", b"\x00ab", b"\x00cd"]),
        (0, &[b"\x01", b"\x01a"]),
        (16, &[b"\x00ab", b"", b"\x01c"]),
    ];
    J::A(
        cases
            .iter()
            .map(|(max, fragments)| {
                let mut r = Reassembler::new(*max);
                let mut delivered = Vec::new();
                let mut refused = None;
                for (i, f) in fragments.iter().enumerate() {
                    match r.push(f) {
                        Ok(Some(m)) => delivered.push(hex(&m)),
                        Ok(None) => {}
                        Err(e) => {
                            refused = Some((i, e));
                            break;
                        }
                    }
                }
                let (at, e) = refused.expect("every case is refused");
                for f in &fragments[at..] {
                    assert_eq!(r.push(f).as_ref(), Err(&e), "a refusal is final");
                }
                J::O(vec![
                    ("max_message", J::N(*max as u64)),
                    (
                        "fragments",
                        J::A(fragments.iter().map(|x| hex(x)).collect()),
                    ),
                    ("delivered", J::A(delivered)),
                    ("refused_at", J::N(at as u64)),
                    ("refusal", error(&e)),
                ])
            })
            .collect(),
    )
}

/// Section 6.1: one frame read by a receiver whose window is `window`, holding `available`
/// bytes of credit to send and having granted its peer `peer_credit`; what it makes of it.
fn frame_vectors() -> J {
    const W: usize = 262_144;
    let cases: [(&[u8], usize, usize); 15] = [
        (b"\x00\x01", W, W),
        (b"\x00\x01abc", W, W),
        (b"\x00\x00abc", W, 69),
        (b"\x00\x00abc", W, 68),
        (b"\x00", W, W),
        (b"\x01\x00\x01\x00\x00", 0, W),
        (b"\x01\x00\x00\x00\x64", W - 100, W),
        (b"\x01\x00\x00\x00\x65", W - 100, W),
        (b"\x02", W, W),
        (b"", W, W),
        (b"\x03", W, W),
        (b"\xff\x00", W, W),
        (b"\x02\x00", W, W),
        (b"\x01\x00\x00\x01", W, W),
        (b"\x01\x00\x00\x01\x00\x00", W, W),
    ];
    J::A(
        cases
            .iter()
            .map(|(frame, available, peer_credit)| {
                let shared = Shared::new();
                shared.open_window(W);
                let _ = shared
                    .credits
                    .try_acquire_many((W - available) as u32)
                    .map(|p| p.forget());
                let taken = W - peer_credit;
                shared.charge_peer(taken).unwrap();
                let mut fields = vec![
                    ("window", J::N(W as u64)),
                    ("available", J::N(*available as u64)),
                    ("peer_credit", J::N(*peer_credit as u64)),
                    ("frame", hex(frame)),
                ];
                match on_frame(&shared, Bytes::copy_from_slice(frame)) {
                    Ok(Some(fragment)) => {
                        let cost = frame_cost(fragment.len());
                        assert_eq!(
                            shared
                                .peer_credit
                                .load(std::sync::atomic::Ordering::Acquire),
                            peer_credit - cost
                        );
                        fields.push(("kind", s("data")));
                        fields.push(("fragment", hex(&fragment)));
                        fields.push(("cost", J::N(cost as u64)));
                    }
                    Ok(None) if *shared.peer_ready.borrow() => fields.push(("kind", s("ready"))),
                    Ok(None) => {
                        let granted = shared.credits.available_permits() - available;
                        fields.push(("kind", s("credit")));
                        fields.push(("credit", J::N(granted as u64)));
                    }
                    Err(why) => fields.push(("refusal", error(&Error::Protocol(why)))),
                }
                J::O(fields)
            })
            .collect(),
    )
}

/// Section 6.2: signaling blobs a receiver keeps (decoded) or drops (with the reason).
fn blob_vectors() -> J {
    let offer = Blob::Sdp(Signal {
        kind: Kind::Offer,
        session: 0x0102_0304_0506_0708,
        window: 1 << 20,
        sdp: "v=0\r\n".to_owned(),
    })
    .encode()
    .unwrap();
    let answer = Blob::Sdp(Signal {
        kind: Kind::Answer,
        session: 0x0102_0304_0506_0708,
        window: 262_144,
        sdp: String::new(),
    })
    .encode()
    .unwrap();
    let candidate = Blob::Candidate(
        7,
        RTCIceCandidateInit {
            candidate: "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host".to_owned(),
            sdp_mid: Some("0".to_owned()),
            sdp_mline_index: Some(0),
            username_fragment: None,
            url: None,
        },
    )
    .encode()
    .unwrap();
    let end = Blob::EndOfCandidates(7).encode().unwrap();
    let with = |b: &[u8], extra: &[u8]| [b, extra].concat();
    let mut bad_flag = candidate.to_vec();
    let flag_at = 2 + 8 + 2 + 53;
    assert_eq!(bad_flag[flag_at], 1);
    bad_flag[flag_at] = 2;
    let cases: Vec<Vec<u8>> = vec![
        offer.to_vec(),
        answer.to_vec(),
        candidate.to_vec(),
        end.to_vec(),
        offer[..13].to_vec(),
        end[..9].to_vec(),
        with(&end, b"\x00"),
        with(&candidate, b"\x00"),
        bad_flag,
        [&[2u8][..], &offer[1..]].concat(),
        [&[1u8, 5][..], &offer[2..]].concat(),
        with(&offer[..14], b"\xff"),
        b"\x01".to_vec(),
        b"\x01\x05".to_vec(),
        b"\x01\x02\x00".to_vec(),
    ];
    J::A(
        cases
            .iter()
            .map(|blob| {
                let mut fields = vec![("blob", hex(blob))];
                match Blob::decode(blob) {
                    Ok(Blob::Sdp(sig)) => {
                        let kind = if sig.kind == Kind::Offer {
                            "offer"
                        } else {
                            "answer"
                        };
                        fields.push(("kind", s(kind)));
                        fields.push(("session", J::N(sig.session)));
                        fields.push(("window", J::N(u64::from(sig.window))));
                        fields.push(("sdp", s(sig.sdp)));
                    }
                    Ok(Blob::Candidate(session, c)) => {
                        fields.push(("kind", s("candidate")));
                        fields.push(("session", J::N(session)));
                        fields.push(("candidate", s(c.candidate)));
                        fields.push(("sdp_mid", c.sdp_mid.map_or(J::Null, s)));
                        fields.push((
                            "sdp_mline_index",
                            c.sdp_mline_index.map_or(J::Null, |i| J::N(u64::from(i))),
                        ));
                        fields.push(("username_fragment", c.username_fragment.map_or(J::Null, s)));
                    }
                    Ok(Blob::EndOfCandidates(session)) => {
                        fields.push(("kind", s("end_of_candidates")));
                        fields.push(("session", J::N(session)));
                    }
                    Err(crate::error::WebRtcError::BadSignal(why)) => {
                        fields.push(("dropped", s(why)));
                    }
                    Err(other) => panic!("{other}"),
                }
                J::O(fields)
            })
            .collect(),
    )
}

fn vectors() -> J {
    J::O(vec![
        (
            "description",
            s("known answers of docs/spec/transport.md; checked by the command below and by check_transport.py"),
        ),
        (
            "generated_by",
            s("SYNCSHELL_WRITE_VECTORS=1 cargo test -p syncshell-webrtc --lib vectors"),
        ),
        ("fragments", fragment_vectors()),
        ("reassembly_refusals", reassembly_vectors()),
        ("frames", frame_vectors()),
        ("signaling_blobs", blob_vectors()),
        ("channel_binding", channel_binding_vector()),
    ])
}

#[test]
fn vectors_match_the_committed_file() {
    let mut text = String::new();
    vectors().write(&mut text, 0);
    text.push('\n');
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/vectors/transport.json");
    if std::env::var_os("SYNCSHELL_WRITE_VECTORS").is_some() {
        std::fs::write(&path, &text).expect("vectors written");
    }
    let committed =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        committed == text,
        "transport.json differs from what the code produces: regenerate with \
         SYNCSHELL_WRITE_VECTORS=1 and review the diff"
    );
}

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

use crate::transport::{channel_binding, Fingerprint, CHANNEL_BINDING_LABEL};

/// Just enough JSON to write the file the way `json.dumps(indent=2)` would read it.
#[allow(dead_code)] // until the fragment and frame vectors use numbers and arrays
enum J {
    S(String),
    N(u64),
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

//! Known-answer vectors: docs/vectors/reconnect.json, one complete handshake from seeded
//! randomness, with the random bytes each side drew so another implementation can redo it.
//!
//! ```text
//! SYNCSHELL_WRITE_VECTORS=1 cargo test -p syncshell-reconnect --test vectors
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::Duration;

use rand_chacha::rand_core::{CryptoRng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use syncshell_identity::{Identity, Role, ShellGenesis, Timestamp, TokenChain};
use syncshell_reconnect::{BackoffPolicy, Error, Handshake, Local, ReplayGuard};
use syncshell_revocation::RevocationSet;

#[allow(dead_code, unreachable_pub, clippy::expect_used, clippy::panic)]
#[path = "../../../docs/vectors/known_answers.rs"]
mod known_answers;

use known_answers::{bytes_field, put_varint};

const NOW: Timestamp = Timestamp::from_millis(1_767_225_600_000);

/// An RNG that remembers what it handed out.
struct Recording {
    inner: ChaCha20Rng,
    drawn: Vec<Vec<u8>>,
}

impl RngCore for Recording {
    fn next_u32(&mut self) -> u32 {
        self.inner.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.inner.fill_bytes(dest);
        self.drawn.push(dest.to_vec());
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_chacha::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for Recording {}

fn generate() -> Value {
    let mut setup = ChaCha20Rng::seed_from_u64(0x4a4d);
    let owner = Identity::from_secret_bytes(&[1; 32]);
    let alice = Identity::from_secret_bytes(&[5; 32]);
    let genesis = ShellGenesis::create(&owner, "Weekend raid", NOW, &mut setup).unwrap();
    let alice_chain = TokenChain::issue(
        &syncshell_revocation::RevocationSet::new(genesis.clone()),
        &owner,
        &TokenChain::owner(),
        alice.peer_id(),
        Role::Member,
        NOW,
        Some(NOW.saturating_add(Duration::from_secs(7 * 86400))),
        &mut setup,
    )
    .unwrap();
    let revocations = RevocationSet::new(genesis.clone());
    let owner_chain = TokenChain::owner();
    let a = Local {
        identity: &alice,
        chain: &alice_chain,
        revocations: &revocations,
    };
    let b = Local {
        identity: &owner,
        chain: &owner_chain,
        revocations: &revocations,
    };
    let cb = b"sha-256 AA:BB fingerprints of both DTLS certificates";

    let mut ra = Recording {
        inner: ChaCha20Rng::seed_from_u64(1),
        drawn: Vec::new(),
    };
    let mut rb = Recording {
        inner: ChaCha20Rng::seed_from_u64(2),
        drawn: Vec::new(),
    };
    let mut x = Handshake::initiate(&a, cb, NOW, &mut ra).unwrap();
    let mut y = Handshake::respond(cb, NOW).unwrap();
    let hello = x.poll_transmit().unwrap();
    y.handle(&b, &mut ReplayGuard::new(), &hello, NOW, &mut rb)
        .unwrap();
    let challenge = y.poll_transmit().unwrap();
    x.handle(&a, &mut ReplayGuard::new(), &challenge, NOW, &mut ra)
        .unwrap();
    let proof = x.poll_transmit().unwrap();
    y.handle(&b, &mut ReplayGuard::new(), &proof, NOW, &mut rb)
        .unwrap();
    let (sx, sy) = (x.into_session().unwrap(), y.into_session().unwrap());
    assert_eq!(sx.key(), sy.key());

    // The transcript and the shared secret, by the spec (§ 5, § 7), from the wire bytes.
    let offer_h = field_bytes(&hello, 2);
    let offer_o = field_bytes(&field_bytes(&challenge, 3), 1);
    let transcript = transcript(cb, &offer_h, &offer_o);
    let i_secret =
        x25519_dalek::StaticSecret::from(<[u8; 32]>::try_from(ra.drawn[1].clone()).unwrap());
    let r_secret =
        x25519_dalek::StaticSecret::from(<[u8; 32]>::try_from(rb.drawn[1].clone()).unwrap());
    let shared = i_secret.diffie_hellman(&x25519_dalek::PublicKey::from(&r_secret));
    let (key, id) = session_keys(&transcript, shared.as_bytes());
    assert_eq!((&key, &id), (sx.key(), sx.id()));

    let negatives = invalid_messages(&a, &b, cb, &hello, &challenge, &proof);
    let low_order = low_order_keys(&b, cb, &hello);
    let backoff = backoff_schedule();
    json!({
        "description": "one syncshell handshake; see docs/spec/reconnect.md",
        "generated_by": "SYNCSHELL_WRITE_VECTORS=1 cargo test -p syncshell-reconnect --test vectors",
        "now_ms": NOW.as_millis(),
        "genesis": hex::encode(genesis.encode()),
        "initiator_secret": hex::encode(*alice.to_secret_bytes()),
        "initiator_chain": hex::encode(alice_chain.encode()),
        "responder_secret": hex::encode(*owner.to_secret_bytes()),
        "channel_binding": hex::encode(cb),
        "initiator_nonce": hex::encode(&ra.drawn[0]),
        "initiator_ephemeral_secret": hex::encode(&ra.drawn[1]),
        "responder_nonce": hex::encode(&rb.drawn[0]),
        "responder_ephemeral_secret": hex::encode(&rb.drawn[1]),
        "hello": hex::encode(&hello),
        "challenge": hex::encode(&challenge),
        "proof": hex::encode(&proof),
        "session_key": hex::encode(sx.key()),
        "session_id": hex::encode(sx.id()),
        "hello_offer": hex::encode(&offer_h),
        "challenge_offer": hex::encode(&offer_o),
        "transcript": hex::encode(transcript),
        "shared_secret": hex::encode(shared.as_bytes()),
        "invalid_messages": negatives,
        "low_order_ephemerals": low_order,
        "backoff": backoff,
    })
}

/// The bytes of the last length-delimited field `field` of a message (the vectors' messages
/// are minimal, so a one-byte key).
fn field_bytes(msg: &[u8], field: u8) -> Vec<u8> {
    let mut pos = 0;
    let mut found = None;
    while pos < msg.len() {
        let key = msg[pos];
        pos += 1;
        let (n, used) = varint(&msg[pos..]);
        pos += used;
        match key & 7 {
            0 => {}
            2 => {
                if key >> 3 == field {
                    found = Some(msg[pos..pos + n as usize].to_vec());
                }
                pos += n as usize;
            }
            other => panic!("wire type {other}"),
        }
    }
    found.unwrap()
}

fn varint(b: &[u8]) -> (u64, usize) {
    let mut v = 0u64;
    for (i, byte) in b.iter().enumerate() {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return (v, i + 1);
        }
    }
    panic!("truncated varint")
}

fn transcript(cb: &[u8], h: &[u8], o: &[u8]) -> [u8; 32] {
    let mut t = Sha256::new();
    t.update(b"syncshell/v1/handshake-transcript\0");
    for part in [cb, h, o] {
        t.update(u32::try_from(part.len()).unwrap().to_be_bytes());
        t.update(part);
    }
    t.finalize().into()
}

fn session_keys(t: &[u8; 32], shared: &[u8; 32]) -> ([u8; 32], [u8; 16]) {
    let hk = hkdf::Hkdf::<Sha256>::new(Some(t), shared);
    let (mut key, mut id) = ([0u8; 32], [0u8; 16]);
    hk.expand(b"syncshell/v1/session-key", &mut key).unwrap();
    hk.expand(b"syncshell/v1/session-id", &mut id).unwrap();
    (key, id)
}

/// The name of an error's variant, as the vectors write it.
fn error_name(e: &Error) -> &'static str {
    match e {
        Error::WrongShell => "WrongShell",
        Error::Revoked => "Revoked",
        Error::Expired => "Expired",
        Error::NotAdmitted(_) => "NotAdmitted",
        Error::BadSignature => "BadSignature",
        Error::Replay => "Replay",
        Error::Reflection => "Reflection",
        Error::LowOrderKey => "LowOrderKey",
        Error::UnsupportedVersion(_) => "UnsupportedVersion",
        Error::Malformed(_) => "Malformed",
        Error::Unexpected(_) => "Unexpected",
        Error::Busy => "Busy",
        other => panic!("unexpected error {other:?}"),
    }
}

/// What a side in a given state says to `message` at `NOW`: `accepted` or its error's name.
/// `to` is `responder` (a fresh responder awaiting a hello), `initiator` (having sent the
/// vector's hello, awaiting the challenge) or `responder_after_hello` (having answered the
/// vector's hello, awaiting the proof).
fn answer(a: &Local<'_>, b: &Local<'_>, cb: &[u8], to: &str, message: &[u8]) -> &'static str {
    let mut rb = ChaCha20Rng::seed_from_u64(2);
    let mut ra = ChaCha20Rng::seed_from_u64(1);
    let mut guard = ReplayGuard::new();
    let r = match to {
        "responder" => {
            let mut y = Handshake::respond(cb, NOW).unwrap();
            y.handle(b, &mut guard, message, NOW, &mut rb)
        }
        "initiator" => {
            let mut x = Handshake::initiate(a, cb, NOW, &mut ra).unwrap();
            let _hello = x.poll_transmit().unwrap();
            x.handle(a, &mut guard, message, NOW, &mut ra)
        }
        "responder_after_hello" => {
            let mut x = Handshake::initiate(a, cb, NOW, &mut ra).unwrap();
            let hello = x.poll_transmit().unwrap();
            let mut y = Handshake::respond(cb, NOW).unwrap();
            y.handle(b, &mut guard, &hello, NOW, &mut rb).unwrap();
            y.handle(b, &mut guard, message, NOW, &mut rb)
        }
        other => panic!("unknown state {other}"),
    };
    match r {
        Ok(()) => "accepted",
        Err(e) => error_name(&e),
    }
}

/// Handshake messages each side must refuse in its state, one defect each (§ 3.2, § 9, § 10.3).
fn invalid_messages(
    a: &Local<'_>,
    b: &Local<'_>,
    cb: &[u8],
    hello: &[u8],
    challenge: &[u8],
    proof: &[u8],
) -> Value {
    let h = field_bytes(hello, 2);
    let with_offer = |offer: &[u8]| [vec![0x08, 0x01], bytes_field(2, offer)].concat();
    // The hello's offer with field `field` replaced by `value` (appended: the last one wins).
    let patched = |extra: &[u8]| with_offer(&[h.clone(), extra.to_vec()].concat());
    let c = field_bytes(challenge, 3);
    let sig = field_bytes(&c, 2);
    let o = field_bytes(&c, 1);
    let challenge_with = |s: &[u8]| {
        [
            vec![0x08, 0x01],
            bytes_field(3, &[bytes_field(1, &o), bytes_field(2, s)].concat()),
        ]
        .concat()
    };
    let mut sig_flipped = sig.clone();
    sig_flipped[40] ^= 1;
    let p = field_bytes(proof, 4);
    let mut p_flipped = p.clone();
    p_flipped[40] ^= 1;
    let mut small = [0u8; 32];
    small[0] = 1;
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("responder", "empty: version 0", vec![]),
        (
            "responder",
            "version 2",
            [vec![0x08, 0x02], hello[2..].to_vec()].concat(),
        ),
        ("responder", "no kind", vec![0x08, 0x01]),
        (
            "responder",
            "not protobuf: the last byte missing",
            hello[..hello.len() - 1].to_vec(),
        ),
        (
            "responder",
            "a version of 2^64: 10-byte varint",
            [
                vec![
                    0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02,
                ],
                hello[2..].to_vec(),
            ]
            .concat(),
        ),
        (
            "responder",
            "a proof to a responder awaiting a hello",
            proof.to_vec(),
        ),
        (
            "responder",
            "a challenge to a responder awaiting a hello",
            challenge.to_vec(),
        ),
        (
            "responder",
            "a hello whose offer is not protobuf",
            with_offer(&[0x0a, 0x05]),
        ),
        (
            "responder",
            "a hello whose offer has version 2",
            patched(&[0x08, 0x02]),
        ),
        (
            "responder",
            "a hello for another shell",
            patched(&bytes_field(2, &[9; 32])),
        ),
        (
            "responder",
            "a hello with a small-order peer key",
            patched(&bytes_field(3, &small)),
        ),
        (
            "responder",
            "a hello with the responder's own key (reflection)",
            patched(&bytes_field(3, b.identity.peer_id().as_bytes())),
        ),
        (
            "responder",
            "a hello with a 31-byte nonce",
            patched(&bytes_field(5, &[7; 31])),
        ),
        (
            "responder",
            "a hello with a 33-byte ephemeral key",
            patched(&bytes_field(6, &[9; 33])),
        ),
        (
            "responder",
            "a hello sent 300 001 ms ago",
            patched(&{
                let mut f = vec![0x38];
                put_varint(&mut f, NOW.as_millis() - 300_001);
                f
            }),
        ),
        (
            "responder",
            "a hello whose chain does not admit its peer (the owner's empty chain)",
            patched(&[0x22, 0x00]),
        ),
        ("responder", "accepted: the vector's hello", hello.to_vec()),
        (
            "initiator",
            "a challenge with a 63-byte signature",
            challenge_with(&sig[..63]),
        ),
        (
            "initiator",
            "a challenge with a flipped signature bit",
            challenge_with(&sig_flipped),
        ),
        ("initiator", "a hello to an initiator", hello.to_vec()),
        (
            "initiator",
            "accepted: the vector's challenge",
            challenge.to_vec(),
        ),
        (
            "responder_after_hello",
            "a proof of 63 bytes",
            [vec![0x08, 0x01], bytes_field(4, &p[..63])].concat(),
        ),
        (
            "responder_after_hello",
            "a proof with a flipped bit",
            [vec![0x08, 0x01], bytes_field(4, &p_flipped)].concat(),
        ),
        ("responder_after_hello", "the hello again", hello.to_vec()),
        (
            "responder_after_hello",
            "accepted: the vector's proof",
            proof.to_vec(),
        ),
    ];
    Value::Array(
        cases
            .into_iter()
            .map(|(to, why, msg)| {
                let error = answer(a, b, cb, to, &msg);
                json!({"to": to, "why": why, "message": hex::encode(msg), "error": error})
            })
            .collect(),
    )
}

/// The 14 ephemeral keys whose X25519 result is all zero (§ 7): a hello carrying one is
/// refused by the responder with `LowOrderKey`.
fn low_order_keys(b: &Local<'_>, cb: &[u8], hello: &[u8]) -> Value {
    let p: [u8; 32] = {
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        p
    };
    let plus = |base: [u8; 32], n: u8| {
        let mut out = base;
        let (v, carry) = out[0].overflowing_add(n);
        out[0] = v;
        assert!(!carry);
        out
    };
    let minus_one = {
        let mut q = p;
        q[0] -= 1;
        q
    };
    let hex32 = |s: &str| -> [u8; 32] { hex::decode(s).unwrap().try_into().unwrap() };
    let base = [
        [0u8; 32],
        plus([0; 32], 1),
        minus_one,
        p,
        plus(p, 1),
        hex32("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
        hex32("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    ];
    let mut keys = Vec::new();
    for k in base {
        keys.push(k);
        let mut high = k;
        high[31] |= 0x80;
        keys.push(high);
    }
    let h = field_bytes(hello, 2);
    let eph = field_bytes(&h, 6);
    let at = hello.windows(32).position(|w| w == eph.as_slice()).unwrap();
    Value::Array(
        keys.into_iter()
            .map(|k| {
                let mut msg = hello.to_vec();
                msg[at..at + 32].copy_from_slice(&k);
                let mut y = Handshake::respond(cb, NOW).unwrap();
                let err = y
                    .handle(
                        b,
                        &mut ReplayGuard::new(),
                        &msg,
                        NOW,
                        &mut ChaCha20Rng::seed_from_u64(2),
                    )
                    .unwrap_err();
                json!({"ephemeral": hex::encode(k), "error": error_name(&err)})
            })
            .collect(),
    )
}

/// The default policy's ceilings and a seeded full-jitter schedule (§ 14.1): delay(f) for
/// f = 1..=9 from one `ChaCha20Rng::seed_from_u64(0xbac0ff)`, in order.
fn backoff_schedule() -> Value {
    let policy = BackoffPolicy::default();
    let mut rng = ChaCha20Rng::seed_from_u64(0xbac0ff);
    let rows: Vec<Value> = (0..=9u32)
        .map(|f| {
            let ceiling = u64::try_from(policy.ceiling(f).as_millis()).unwrap();
            let delay = if f == 0 {
                Value::Null
            } else {
                json!(u64::try_from(policy.delay(f, &mut rng).as_millis()).unwrap())
            };
            json!({"failures": f, "ceiling_ms": ceiling, "delay_ms": delay})
        })
        .collect();
    json!({"base_ms": 30_000, "max_ms": 3_600_000, "rng_seed": 0xbac0ff, "schedule": rows})
}

fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

/// Replays the committed negative vectors through the public API, from the committed inputs.
fn check(v: &Value) {
    let genesis = ShellGenesis::decode(&h(&v["genesis"])).unwrap();
    let alice = Identity::from_secret_bytes(&h(&v["initiator_secret"]).try_into().unwrap());
    let owner = Identity::from_secret_bytes(&h(&v["responder_secret"]).try_into().unwrap());
    let alice_chain = TokenChain::decode(&h(&v["initiator_chain"])).unwrap();
    let owner_chain = TokenChain::owner();
    let revocations = RevocationSet::new(genesis);
    let a = Local {
        identity: &alice,
        chain: &alice_chain,
        revocations: &revocations,
    };
    let b = Local {
        identity: &owner,
        chain: &owner_chain,
        revocations: &revocations,
    };
    let cb = h(&v["channel_binding"]);
    for m in v["invalid_messages"].as_array().unwrap() {
        let got = answer(&a, &b, &cb, m["to"].as_str().unwrap(), &h(&m["message"]));
        assert_eq!(got, m["error"], "{}", m["why"]);
    }
    let hello = h(&v["hello"]);
    let eph = field_bytes(&field_bytes(&hello, 2), 6);
    for k in v["low_order_ephemerals"].as_array().unwrap() {
        let msg = hex::encode(&hello).replace(&hex::encode(&eph), k["ephemeral"].as_str().unwrap());
        let got = answer(&a, &b, &cb, "responder", &hex::decode(msg).unwrap());
        assert_eq!(got, k["error"]);
    }
}

#[test]
fn vectors_match_the_committed_file() {
    known_answers::compare("reconnect", &generate(), check);
}

//! Replays the fuzz corpora (fuzz/corpus/member_link_message, member_relay_message) through
//! the fuzz targets' own checks.
//!
//! Seeds are the messages of docs/vectors/link.json (valid, of unknown kinds and invalid),
//! written with `SYNCSHELL_WRITE_CORPUS=1 cargo test -p syncshell-member --test fuzz_corpus`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code, unreachable_pub, clippy::expect_used)]
#[path = "../../../fuzz/src/member.rs"]
mod checks;

#[allow(dead_code, unreachable_pub, clippy::expect_used, clippy::panic)]
#[path = "../../../fuzz/src/replay.rs"]
mod replay;

#[allow(dead_code, unreachable_pub, clippy::expect_used, clippy::panic)]
#[path = "../../../docs/vectors/known_answers.rs"]
mod known_answers;

use serde_json::Value;

/// The `encoded` bytes of the entries of `section` in link.json about `message` ("link" or
/// "relay"; every entry of a section without a `message` field).
fn encoded(vectors: &Value, section: &str, message: &str) -> Vec<Vec<u8>> {
    vectors[section]
        .as_array()
        .expect("a section of messages")
        .iter()
        .filter(|v| v.get("message").is_none_or(|m| m == message))
        .map(|v| hex::decode(v["encoded"].as_str().expect("hex")).expect("valid hex"))
        .collect()
}

fn write_seeds() {
    let path = known_answers::vectors_dir().join("link.json");
    let vectors: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let targets = [
        ("member_link_message", "link", "link_messages"),
        ("member_relay_message", "relay", "relay_messages"),
    ];
    let mut seeds = Vec::new();
    for (target, message, valid) in targets {
        let mut bytes = encoded(&vectors, valid, message);
        bytes.extend(encoded(&vectors, "unknown_kinds", message));
        seeds.push((target, bytes));
    }
    replay::write_seeds(seeds);
    for (target, message, _) in targets {
        let dir = replay::corpus_dir(target);
        for (i, bytes) in encoded(&vectors, "invalid_messages", message)
            .into_iter()
            .enumerate()
        {
            std::fs::write(dir.join(format!("seed-invalid-{i}")), bytes).unwrap();
        }
    }
}

#[test]
fn fuzz_corpus_replays() {
    if std::env::var_os("SYNCSHELL_WRITE_CORPUS").is_some() {
        write_seeds();
    }
    replay::replay_all(checks::TARGETS);
}

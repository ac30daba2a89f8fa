//! Replays the fuzz corpus (fuzz/corpus/signal_frame) through the fuzz target's own check.
//!
//! Seeds are the frames of docs/vectors/signal.json (valid, tolerated and invalid), written
//! with `SYNCSHELL_WRITE_CORPUS=1 cargo test -p syncshell-signal --test fuzz_corpus`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code, unreachable_pub, clippy::expect_used)]
#[path = "../../../fuzz/src/signal.rs"]
mod checks;

#[allow(dead_code, unreachable_pub, clippy::expect_used, clippy::panic)]
#[path = "../../../fuzz/src/replay.rs"]
mod replay;

#[allow(dead_code, unreachable_pub, clippy::expect_used, clippy::panic)]
#[path = "../../../docs/vectors/known_answers.rs"]
mod known_answers;

use serde_json::Value;

/// The `encoded` bytes of every entry of `section` in signal.json.
fn encoded(vectors: &Value, section: &str) -> Vec<Vec<u8>> {
    vectors[section]
        .as_array()
        .expect("a section of frames")
        .iter()
        .map(|v| hex::decode(v["encoded"].as_str().expect("hex")).expect("valid hex"))
        .collect()
}

fn write_seeds() {
    let path = known_answers::vectors_dir().join("signal.json");
    let vectors: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut seeds = encoded(&vectors, "frames");
    seeds.extend(encoded(&vectors, "tolerated"));
    replay::write_seeds(vec![("signal_frame", seeds)]);
    let dir = replay::corpus_dir("signal_frame");
    for (i, bytes) in encoded(&vectors, "invalid_frames").into_iter().enumerate() {
        std::fs::write(dir.join(format!("seed-invalid-{i}")), bytes).unwrap();
    }
}

#[test]
fn fuzz_corpus_replays() {
    if std::env::var_os("SYNCSHELL_WRITE_CORPUS").is_some() {
        write_seeds();
    }
    replay::replay_all(checks::TARGETS);
}

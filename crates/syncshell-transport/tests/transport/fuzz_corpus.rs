//! Replays the fuzz corpus (fuzz/corpus/transport_*) through the fuzz target's own check.
//!
//! Seeds are written with
//! `SYNCSHELL_WRITE_CORPUS=1 cargo test -p syncshell-transport --test transport fuzz_corpus`.

#[allow(dead_code, unreachable_pub, clippy::expect_used)]
#[path = "../../../../fuzz/src/transport.rs"]
mod checks;

#[allow(dead_code, unreachable_pub, clippy::expect_used, clippy::panic)]
#[path = "../../../../fuzz/src/replay.rs"]
mod replay;

/// `fragments` as the target reads them: each a length byte, then the fragment.
fn framed(fragments: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fragments {
        out.push(u8::try_from(f.len()).expect("a seed fragment is short"));
        out.extend_from_slice(f);
    }
    out
}

fn write_seeds() {
    let seeds: Vec<(&str, Vec<Vec<u8>>)> = vec![(
        "transport_fragments",
        vec![
            framed(&[b"\x01hello"]),
            framed(&[b"\x00one ", b"\x00two ", b"\x01three", b"\x01"]),
        ],
    )];
    replay::write_seeds(seeds);
    // Inputs that must be refused, kept under names that say so.
    let refused: [(&str, Vec<u8>); 2] = [
        ("seed-unknown-flag", framed(&[b"\x07what", b"\x01after"])),
        ("seed-empty-fragment", framed(&[b"", b"\x01after"])),
    ];
    for (name, bytes) in refused {
        std::fs::write(replay::corpus_dir("transport_fragments").join(name), bytes).unwrap();
    }
}

#[test]
fn fuzz_corpora_replay() {
    if std::env::var_os("SYNCSHELL_WRITE_CORPUS").is_some() {
        write_seeds();
    }
    replay::replay_all(checks::TARGETS);
}

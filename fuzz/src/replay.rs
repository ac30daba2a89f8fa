//! Replays every committed corpus file of the given targets through their checks, as an
//! ordinary test on stable Rust. Included by each crate's `fuzz_corpus` test module, so
//! `CARGO_MANIFEST_DIR` is that crate's folder.

use std::path::PathBuf;

/// The corpus folder of `target`.
pub fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

/// A fuzz target's check.
pub type Check = fn(&[u8]);

/// Runs every file of every target's corpus through its check; each corpus must be non-empty.
pub fn replay_all(targets: &[(&str, Check)]) {
    for (target, check) in targets {
        let dir = corpus_dir(target);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e} (every target has a corpus)", dir.display()));
        let mut n = 0;
        for entry in entries {
            let path = entry.expect("corpus entry").path();
            check(&std::fs::read(&path).expect("corpus file"));
            n += 1;
        }
        assert!(n > 0, "{target} has an empty corpus");
    }
}

/// Writes seed inputs: `seed-valid-<i>` files under each target's corpus folder.
pub fn write_seeds(seeds: Vec<(&str, Vec<Vec<u8>>)>) {
    for (target, list) in seeds {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).expect("corpus folder");
        for (i, bytes) in list.into_iter().enumerate() {
            std::fs::write(dir.join(format!("seed-valid-{i}")), bytes).expect("seed file");
        }
    }
}

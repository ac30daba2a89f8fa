//! Replays the fuzz corpora (fuzz/corpus/reconnect_*) through the fuzz targets' own checks.
//! Seeds are written with
//! `SYNCSHELL_WRITE_CORPUS=1 cargo test -p syncshell-reconnect --test reconnect fuzz_corpus`.

#[allow(dead_code, unreachable_pub, clippy::expect_used)]
#[path = "../../../../fuzz/src/reconnect.rs"]
mod checks;

use std::path::PathBuf;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

#[test]
fn fuzz_corpora_replay() {
    if std::env::var_os("SYNCSHELL_WRITE_CORPUS").is_some() {
        for (target, seeds) in checks::seeds() {
            let dir = corpus_dir(target);
            std::fs::create_dir_all(&dir).unwrap();
            for (i, s) in seeds.into_iter().enumerate() {
                std::fs::write(dir.join(format!("seed-valid-{i}")), s).unwrap();
            }
        }
    }
    for (target, check) in checks::TARGETS {
        let dir = corpus_dir(target);
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            check(&std::fs::read(entry.unwrap().path()).unwrap());
            n += 1;
        }
        assert!(n > 0, "{target} has an empty corpus");
    }
}

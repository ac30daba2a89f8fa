//! Replays the fuzz corpora (fuzz/corpus/reconnect_*) through the fuzz targets' own checks.
//! Seeds are written with
//! `SYNCSHELL_WRITE_CORPUS=1 cargo test -p syncshell-reconnect --test reconnect fuzz_corpus`.

#[allow(dead_code, unreachable_pub, clippy::expect_used)]
#[path = "../../../../fuzz/src/reconnect.rs"]
mod checks;

#[allow(dead_code, unreachable_pub, clippy::expect_used, clippy::panic)]
#[path = "../../../../fuzz/src/replay.rs"]
mod replay;

#[test]
fn fuzz_corpora_replay() {
    if std::env::var_os("SYNCSHELL_WRITE_CORPUS").is_some() {
        replay::write_seeds(checks::seeds());
    }
    replay::replay_all(checks::TARGETS);
}

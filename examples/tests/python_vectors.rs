//! Runs the independent Python checkers (`docs/vectors/check_*.py`, standard library plus
//! `cryptography` only) against the committed known-answer vectors, so the specs in docs/spec
//! are shown to be implementable by someone who has only them.
//!
//! Needs `python3` with `cryptography` >= 44. Without them the test reports itself skipped,
//! unless `SYNCSHELL_REQUIRE_INTEROP` is set (CI sets it), in which case it fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    clippy::panic
)]

use std::path::PathBuf;
use std::process::Command;

fn python_ready() -> bool {
    Command::new("python3")
        .args(["-c", "import cryptography.hazmat.primitives.kdf.argon2"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn python_checkers_accept_the_committed_vectors() {
    if !python_ready() {
        if std::env::var_os("SYNCSHELL_REQUIRE_INTEROP").is_some() {
            panic!(
                "python3 with cryptography >= 44 is required (SYNCSHELL_REQUIRE_INTEROP is set)"
            );
        }
        eprintln!("SKIPPED: python3 with cryptography >= 44 not found");
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/vectors");
    let mut checkers: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("check_") && n.ends_with(".py"))
        })
        .collect();
    checkers.sort();
    assert!(!checkers.is_empty(), "no checkers in {}", dir.display());
    for checker in checkers {
        let out = Command::new("python3").arg(&checker).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last = stdout.lines().last().unwrap_or_default().to_owned();
        assert!(
            out.status.success() && last.ends_with(" 0 failed"),
            "{} failed:\n{stdout}\n{}",
            checker.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("{}: {last}", checker.display());
    }
}

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! The C# bindings work end to end: compiles `bindings/csharp/Syncshell.cs` with
//! `tests/csharp/Flow.cs` under Mono and runs the flow against the built library (identities,
//! invites, revocation, phonebooks, WebRTC on 127.0.0.1, handshake, transfers, error cases).
//! Skipped when `mcs` or `mono` is missing, unless `SYNCSHELL_REQUIRE_MONO` is set.

#[path = "support/library.rs"]
mod library;

use std::path::Path;
use std::process::Command;

#[test]
fn csharp_flow_under_mono() {
    let have_mcs = library::available("mcs", "--version");
    let have_mono = library::available("mono", "--version");
    if !(have_mcs && have_mono) {
        let missing = if have_mcs { "mono" } else { "mcs" };
        assert!(
            std::env::var_os("SYNCSHELL_REQUIRE_MONO").is_none(),
            "SYNCSHELL_REQUIRE_MONO is set but `{missing}` does not run; install mono-mcs and \
             mono-runtime (Debian: apt-get install mono-mcs mono-runtime)"
        );
        eprintln!("mono not found: skipping the C# test");
        return;
    }

    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bindings = crate_dir.join("../../bindings/csharp/Syncshell.cs");
    let flow = crate_dir.join("tests/csharp/Flow.cs");
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("flow.exe");

    let compiled = Command::new("mcs")
        .arg("-unsafe")
        .arg("-nologo")
        .arg(format!("-out:{}", exe.display()))
        .arg(&bindings)
        .arg(&flow)
        .output()
        .expect("mcs runs");
    assert!(
        compiled.status.success(),
        "mcs failed ({}):\n{}{}",
        compiled.status,
        String::from_utf8_lossy(&compiled.stdout),
        String::from_utf8_lossy(&compiled.stderr)
    );

    let ran = Command::new("mono")
        .arg(&exe)
        .env("LD_LIBRARY_PATH", library::dir())
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("mono runs");
    let stdout = String::from_utf8_lossy(&ran.stdout);
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert!(
        ran.status.success(),
        "the C# flow failed ({}):\n--- stdout\n{stdout}--- stderr\n{stderr}",
        ran.status
    );
    assert!(
        stdout.contains("C# flow: all checks passed"),
        "the C# flow did not finish:\n{stdout}"
    );
    eprintln!("{stdout}");
}

//! Windows for real: the library cross-built for `x86_64-pc-windows-gnu` (linked by
//! mingw-w64) is one DLL that imports only Windows system DLLs and exports every function of
//! the header; the C flow (`tests/c/flow.c`) compiled with mingw-w64 against it, and run
//! under wine inside a network namespace that has only a loopback interface. wine 8 lacks
//! `ProcessPrng`, which Rust's standard library calls for random bytes, so the test supplies
//! a small `bcryptprimitives.dll` that forwards it to `RtlGenRandom`
//! (`tests/windows/process_prng.c`).
//!
//! Skipped with a message where the Windows target, mingw-w64, wine or `unshare` is missing;
//! `SYNCSHELL_REQUIRE_WINE=1` (set by CI) turns the skip into a failure. The DLL is built into
//! `target/windows`, apart from the running build, in about 4 minutes on 2 cores the first
//! time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stderr
)]

#[path = "support/csharp_gen.rs"]
#[allow(dead_code)]
mod csharp_gen;
#[path = "support/library.rs"]
mod library;

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "x86_64-pc-windows-gnu";
const MINGW: &str = "x86_64-w64-mingw32-gcc";

/// What is missing to run the test here, if anything.
fn missing() -> Option<String> {
    let target = Command::new("rustc")
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if !target.is_some_and(|dir| dir.exists()) {
        return Some(format!(
            "the Rust target {TARGET} (rustup target add {TARGET})"
        ));
    }
    if !library::available(MINGW, "--version") {
        return Some(format!("{MINGW} (Debian: gcc-mingw-w64-x86-64)"));
    }
    if !library::available("wine", "--version") {
        return Some("wine (Debian: wine64)".to_owned());
    }
    let isolated = Command::new("unshare")
        .args(["--net", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !isolated {
        return Some("`unshare --net` (root, or user namespaces)".to_owned());
    }
    None
}

fn run(command: &mut Command, what: &str) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn c_flow_against_the_windows_dll_under_wine() {
    if let Some(what) = missing() {
        assert!(
            std::env::var_os("SYNCSHELL_REQUIRE_WINE").is_none(),
            "SYNCSHELL_REQUIRE_WINE is set but this machine lacks {what}"
        );
        eprintln!("skipping the Windows test: no {what}");
        return;
    }
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    // target/debug/deps/<this test> → target/windows
    let target_dir = library::dir()
        .parent()
        .and_then(Path::parent)
        .expect("the test binary is in target/<profile>/deps")
        .join("windows");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    run(
        Command::new(cargo)
            .args(["build", "-p", "syncshell-ffi", "--target", TARGET])
            .env("CARGO_TARGET_DIR", &target_dir)
            .current_dir(crate_dir),
        "cross-building syncshell_ffi.dll",
    );
    let built = target_dir.join(TARGET).join("debug");
    let dll = built.join("syncshell_ffi.dll");

    // One self-contained DLL (Dalamud loads native libraries from a temporary copy of the
    // plugin's folder, so a sibling DLL would not be found): it imports Windows' own DLLs
    // only, and exports every function of the header.
    let dump = run(
        Command::new("x86_64-w64-mingw32-objdump")
            .arg("-p")
            .arg(&dll),
        "objdump -p syncshell_ffi.dll",
    );
    let system = [
        "advapi32",
        "api-ms-win-",
        "bcrypt",
        "bcryptprimitives",
        "crypt32",
        "iphlpapi",
        "kernel32",
        "msvcrt",
        "ncrypt",
        "ntdll",
        "secur32",
        "userenv",
        "ws2_32",
    ];
    for import in dump
        .lines()
        .filter_map(|l| l.trim().strip_prefix("DLL Name: "))
    {
        let name = import.to_ascii_lowercase();
        assert!(
            system.iter().any(|s| name.starts_with(s)),
            "syncshell_ffi.dll imports {import}, which is not a Windows system DLL"
        );
    }
    let header = std::fs::read_to_string(crate_dir.join("../../include/syncshell.h")).unwrap();
    for f in csharp_gen::functions(&header) {
        assert!(
            dump.contains(&format!(" {}\n", f.name)),
            "syncshell_ffi.dll does not export {}",
            f.name
        );
    }

    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    std::fs::copy(&dll, dir.join("syncshell_ffi.dll")).unwrap();
    run(
        Command::new(MINGW)
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1"])
            .arg("-I")
            .arg(crate_dir.join("../../include"))
            .arg(crate_dir.join("tests/c/flow.c"))
            .arg("-L")
            .arg(&built)
            .arg("-lsyncshell_ffi")
            .arg("-o")
            .arg(dir.join("flow.exe")),
        "compiling flow.c with mingw-w64",
    );
    run(
        Command::new(MINGW)
            .args(["-shared", "-O1", "-o"])
            .arg(dir.join("bcryptprimitives.dll"))
            .arg(crate_dir.join("tests/windows/process_prng.c"))
            .arg("-ladvapi32"),
        "building the ProcessPrng shim",
    );
    std::fs::create_dir(dir.join("work")).unwrap();
    // Only a loopback interface: the flow's WebRTC peers talk over 127.0.0.1 and nothing else
    // is reachable.
    let stdout = run(
        Command::new("unshare")
            .args([
                "--net",
                "sh",
                "-c",
                "ip link set lo up && exec wine flow.exe work",
            ])
            .current_dir(dir)
            .env("WINEPREFIX", dir.join("prefix"))
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "bcryptprimitives=n;mscoree,mshtml=")
            .env("RUST_BACKTRACE", "0"),
        "flow.exe under wine",
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}

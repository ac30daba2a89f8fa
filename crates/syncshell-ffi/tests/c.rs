//! The C flow (`tests/c/flow.c`) compiled with gcc against the committed header, linked to
//! the built library and run under valgrind: every check passes, and valgrind reports no
//! invalid access and no leak. Where valgrind is missing the program runs bare and the test
//! says so; `SYNCSHELL_REQUIRE_VALGRIND=1` (set by CI) turns that into a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "support/library.rs"]
mod library;

use std::path::Path;
use std::process::Command;

#[test]
fn c_flow_under_valgrind() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = library::dir();
    let scratch = tempfile::tempdir().unwrap();
    let exe = scratch.path().join("flow");
    let compiled = Command::new("gcc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-g"])
        .arg("-I")
        .arg(crate_dir.join("../../include"))
        .arg(crate_dir.join("tests/c/flow.c"))
        .arg("-L")
        .arg(&lib)
        .arg("-lsyncshell_ffi")
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-o")
        .arg(&exe)
        .output()
        .expect("gcc runs");
    assert!(
        compiled.status.success(),
        "gcc failed:\n{}",
        String::from_utf8_lossy(&compiled.stderr)
    );
    let work = scratch.path().join("work");
    std::fs::create_dir(&work).unwrap();

    let valgrind = library::available("valgrind", "--version");
    if !valgrind && std::env::var_os("SYNCSHELL_REQUIRE_VALGRIND").is_some() {
        panic!("valgrind is required (SYNCSHELL_REQUIRE_VALGRIND is set) but not installed");
    }
    let mut run = if valgrind {
        let mut c = Command::new("valgrind");
        c.args([
            "--error-exitcode=97",
            "--leak-check=full",
            "--show-leak-kinds=definite,indirect,possible",
            "--errors-for-leak-kinds=definite,indirect,possible",
        ])
        .arg(&exe);
        c
    } else {
        eprintln!("valgrind not found: running the C flow without it");
        Command::new(&exe)
    };
    // No backtrace for the deliberate panic: symbolizing it would only add noise.
    // The library beside the test binary, not a stale copy elsewhere on cargo's path.
    let output = run
        .arg(&work)
        .env("LD_LIBRARY_PATH", &lib)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the C flow failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
    if valgrind {
        assert!(stderr.contains("ERROR SUMMARY: 0 errors"), "{stderr}");
        assert!(
            stderr.contains("definitely lost: 0 bytes")
                || stderr.contains("All heap blocks were freed"),
            "{stderr}"
        );
    }
}

/// Each handle kind is a type of its own in C: passing a genesis where an identity is taken
/// does not compile, while the right kind does.
#[test]
fn c_refuses_a_handle_of_the_wrong_kind_at_compile_time() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scratch = tempfile::tempdir().unwrap();
    let compile = |call: &str| {
        let source = scratch.path().join("kinds.c");
        std::fs::write(
            &source,
            format!(
                "#include \"syncshell.h\"\n\
                 int main(void) {{\n\
                 syncshell_genesis genesis = {{0}};\n\
                 syncshell_identity identity = {{0}};\n\
                 syncshell_bytes peer = {{0}};\n\
                 (void)genesis; (void)identity;\n\
                 return (int){call};\n\
                 }}\n"
            ),
        )
        .unwrap();
        Command::new("gcc")
            .args(["-std=c11", "-Wall", "-Werror", "-fsyntax-only", "-I"])
            .arg(crate_dir.join("../../include"))
            .arg(&source)
            .output()
            .expect("gcc runs")
    };
    let right = compile("syncshell_identity_peer_id(identity, &peer)");
    assert!(
        right.status.success(),
        "{}",
        String::from_utf8_lossy(&right.stderr)
    );
    let wrong = compile("syncshell_identity_peer_id(genesis, &peer)");
    assert!(
        !wrong.status.success(),
        "a genesis was taken as an identity"
    );
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("incompatible type"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
}

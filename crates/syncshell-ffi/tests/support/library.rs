//! Where the built shared library is, for the tests that load it from C and C#.

use std::path::PathBuf;

/// The folder holding `libsyncshell_ffi.so`: cargo builds it beside the test binaries
/// (`target/<profile>/deps`) whenever it builds the crate for a test.
pub(crate) fn dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let deps = exe
        .parent()
        .expect("the test binary is in a folder")
        .to_path_buf();
    assert!(
        deps.join("libsyncshell_ffi.so").exists(),
        "libsyncshell_ffi.so is not in {}",
        deps.display()
    );
    deps
}

/// Whether `program` runs here (`program --version` or similar succeeds).
pub(crate) fn available(program: &str, arg: &str) -> bool {
    std::process::Command::new(program)
        .arg(arg)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

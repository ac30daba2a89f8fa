//! Writes or checks one committed known-answer file of `docs/vectors/`, as
//! `docs/vectors/known_answers.rs` does for the crates under `crates/` (that file finds the
//! folder two levels above its crate; `examples/` is one level below the workspace root).
// Each test binary uses a part of it.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;

/// The committed vectors folder.
pub(crate) fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/vectors")
}

/// With `SYNCSHELL_WRITE_VECTORS` set, writes `generated` to `docs/vectors/<name>.json`. Then
/// reads the committed file, runs `check` on it (decoding it with the public API, independently
/// of the generator), and fails if it differs from `generated`.
pub(crate) fn compare(name: &str, generated: &Value, check: impl FnOnce(&Value)) {
    let path = vectors_dir().join(format!("{name}.json"));
    if std::env::var_os("SYNCSHELL_WRITE_VECTORS").is_some() {
        let text = serde_json::to_string_pretty(generated).expect("vectors serialise") + "\n";
        std::fs::write(&path, text).expect("vectors written");
    }
    let committed =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let committed: Value = serde_json::from_str(&committed).expect("committed vectors are JSON");
    check(&committed);
    assert_eq!(
        &committed, generated,
        "{name}.json changed: regenerate with SYNCSHELL_WRITE_VECTORS=1 and review the diff"
    );
}

/// The bytes of a hex string field.
pub(crate) fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("a hex string")).expect("valid hex")
}

//! Writes or checks one committed known-answer file of this folder. Included by each crate's
//! `tests/vectors.rs` (`#[path = "../../../docs/vectors/known_answers.rs"]`), so
//! `CARGO_MANIFEST_DIR` is that crate's folder.

use std::path::PathBuf;

use serde_json::Value;

/// With `SYNCSHELL_WRITE_VECTORS` set, writes `generated` to `docs/vectors/<name>.json`. Then
/// reads the committed file, runs `check` on it (decoding it with the public API, independently
/// of the generator), and fails if it differs from `generated`.
pub fn compare(name: &str, generated: &Value, check: impl FnOnce(&Value)) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/vectors")
        .join(format!("{name}.json"));
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

/// Appends `v` as a protobuf varint: how the negative vectors build frames by hand.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited protobuf field: tag `field`, wire type 2, the length, the bytes.
pub fn bytes_field(field: u8, b: &[u8]) -> Vec<u8> {
    let mut out = vec![(field << 3) | 2];
    put_varint(&mut out, b.len() as u64);
    out.extend_from_slice(b);
    out
}

//! Writes or checks one committed known-answer file of this folder. Included by each crate's
//! `tests/vectors.rs` (`#[path = "../../../docs/vectors/known_answers.rs"]`) and by the
//! examples' vector tests; the folder is found from `CARGO_MANIFEST_DIR` upwards.

use std::path::PathBuf;

use serde_json::Value;

/// `docs/vectors`, in the nearest folder above the including crate that has one.
pub fn vectors_dir() -> PathBuf {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    crate_dir
        .ancestors()
        .map(|d| d.join("docs/vectors"))
        .find(|d| d.is_dir())
        .expect("docs/vectors above the crate")
}

/// With `SYNCSHELL_WRITE_VECTORS` set, writes `generated` to `docs/vectors/<name>.json`. Then
/// reads the committed file, runs `check` on it (decoding it with the public API, independently
/// of the generator), and fails if it differs from `generated`.
pub fn compare(name: &str, generated: &Value, check: impl FnOnce(&Value)) {
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

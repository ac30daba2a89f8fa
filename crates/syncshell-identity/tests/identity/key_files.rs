//! Key files: round trip, wrong passphrase and corruption are distinct, bounded parameters.

use syncshell_identity::{Error, Identity, KdfParams, KeyFile};

use crate::rng;

fn small() -> KdfParams {
    KdfParams::new(64, 1, 1).unwrap()
}

#[test]
fn seal_save_load_open() {
    let mut r = rng(80);
    let id = Identity::generate(&mut r);
    let file = KeyFile::seal(&id, "pässphrase".as_bytes(), small(), &mut r).unwrap();
    let bytes = file.encode();
    let loaded = KeyFile::decode(&bytes).unwrap();
    assert_eq!(loaded.peer_id(), &id.peer_id());
    assert_eq!(loaded.params(), small());
    assert_eq!(loaded.open("pässphrase".as_bytes()).unwrap(), id);
}

#[test]
fn wrong_passphrase_and_corruption_are_distinct_errors() {
    let mut r = rng(81);
    let id = Identity::generate(&mut r);
    let bytes = KeyFile::seal(&id, b"right", small(), &mut r)
        .unwrap()
        .encode();
    assert_eq!(
        KeyFile::decode(&bytes).unwrap().open(b"wrong").unwrap_err(),
        Error::WrongPassphrase
    );
    // Flip each byte in turn: every damaged file is refused, never opened, never a panic.
    for i in 0..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[i] ^= 0x01;
        match KeyFile::decode(&damaged) {
            Err(
                Error::CorruptKeyFile | Error::Malformed { .. } | Error::UnsupportedVersion { .. },
            ) => {}
            Err(other) => panic!("byte {i}: unexpected error {other:?}"),
            Ok(f) => {
                // A flip that protobuf tolerates without changing any field value can decode,
                // but then it must still open to the same key.
                assert_eq!(f.open(b"right").unwrap(), id, "byte {i}");
            }
        }
    }
    // Truncation at every length.
    for n in 0..bytes.len() {
        assert!(KeyFile::decode(&bytes[..n]).is_err(), "truncated to {n}");
    }
}

#[test]
fn parameters_are_bounded() {
    assert!(KdfParams::new(KdfParams::MAX_M_COST_KIB + 1, 1, 1).is_err());
    assert!(KdfParams::new(64, 0, 1).is_err());
    assert!(KdfParams::new(64, 1, 0).is_err());
    assert!(KdfParams::new(7, 1, 1).is_err());
    assert!(KdfParams::new(64, 65, 1).is_err());
    assert_eq!(KdfParams::default(), KdfParams::DEFAULT);
    assert_eq!(KdfParams::DEFAULT.m_cost_kib(), 65536);
}

#[test]
fn raw_export_and_import() {
    let mut r = rng(82);
    let id = Identity::generate(&mut r);
    let raw = id.to_secret_bytes();
    assert_eq!(Identity::from_secret_bytes(&raw), id);
}

//! Property tests: every encoding round-trips, whole transfers of random folders arrive
//! intact, and no decoder or state machine panics on arbitrary or mutated input.

use bytes::Bytes;
use proptest::prelude::*;
use syncshell_stream::{
    AbortReason, Cipher, FileHash, Frame, Manifest, ManifestBuilder, ManifestHash, Receiver,
    ReceiverConfig, RelativePath, Sender, Want, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE,
};

use crate::{build, drain_receiver, drain_sender, session, transfer, Disk};

fn path_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec("[A-Za-z0-9_-][A-Za-z0-9_. -]{0,10}[A-Za-z0-9_-]", 1..4)
        .prop_map(|parts| parts.join("/"))
        .prop_filter("safe", |p| RelativePath::parse(p).is_ok())
}

fn cipher_strategy() -> impl Strategy<Value = Cipher> {
    prop_oneof![Just(Cipher::ChaCha20Poly1305), Just(Cipher::Aes256Gcm)]
}

fn frame_strategy() -> impl Strategy<Value = Frame> {
    prop_oneof![
        (
            prop::collection::vec(any::<u8>(), 0..200),
            any::<[u8; 32]>(),
            any::<[u8; 32]>()
        )
            .prop_map(|(m, confirm, salt)| Frame::Offer {
                manifest: Bytes::from(m),
                confirm,
                salt
            }),
        (
            any::<[u8; 32]>(),
            prop::collection::vec((any::<u32>(), any::<u32>()), 0..20),
            any::<[u8; 32]>()
        )
            .prop_map(|(h, w, tag)| Frame::Request {
                manifest_hash: ManifestHash::from_bytes(h),
                wants: w
                    .into_iter()
                    .map(|(file, from_chunk)| Want { file, from_chunk })
                    .collect(),
                tag,
            }),
        (
            any::<u32>(),
            any::<u32>(),
            prop::collection::vec(any::<u8>(), 16..300)
        )
            .prop_map(|(file, index, s)| Frame::Chunk {
                file,
                index,
                sealed: Bytes::from(s)
            }),
        (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(h, tag)| Frame::Complete {
            manifest_hash: ManifestHash::from_bytes(h),
            tag
        }),
        ("[a-z é]{0,40}", 0u8..6).prop_map(|(message, r)| Frame::Abort {
            reason: [
                AbortReason::Unspecified,
                AbortReason::Cancelled,
                AbortReason::Refused,
                AbortReason::Protocol,
                AbortReason::HashMismatch,
                AbortReason::Io,
            ][r as usize],
            message,
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn manifests_round_trip(
        entries in prop::collection::btree_map(path_strategy(), (any::<u64>(), any::<[u8; 32]>()), 0..20),
        chunk in MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE,
        cipher in cipher_strategy(),
    ) {
        let mut b = ManifestBuilder::new().chunk_size(chunk).cipher(cipher);
        let mut total = 0u64;
        let mut folded = std::collections::HashSet::new();
        for (p, (size, h)) in &entries {
            let size = size % (1 << 40);
            b.add_file(p, size, FileHash::from_bytes(*h)).unwrap();
            total += size;
            folded.insert(p.to_lowercase());
        }
        match b.build() {
            Ok(m) => {
                let again = Manifest::decode(m.encoded()).unwrap();
                prop_assert_eq!(&again, &m);
                prop_assert_eq!(again.total_size(), total);
                prop_assert_eq!(again.cipher(), cipher);
                prop_assert_eq!(again.chunk_size(), chunk);
                prop_assert_eq!(ManifestHash::of(m.encoded()), *m.hash());
            }
            // Only collisions (case, or a file that is also a folder) may refuse.
            Err(e) => prop_assert!(
                matches!(e, syncshell_stream::Error::PathCollision { .. }),
                "{e}"
            ),
        }
    }

    #[test]
    fn frames_round_trip(f in frame_strategy()) {
        let bytes = f.encode();
        prop_assert_eq!(Frame::decode(bytes.clone()).unwrap(), f);
    }

    #[test]
    fn random_folders_transfer_intact(
        files in prop::collection::btree_map("[a-c]{1,3}(/[d-f]{1,3}){0,2}\\.x", prop::collection::vec(any::<u8>(), 0..6000), 1..6),
        chunk in prop_oneof![Just(1024u32), Just(1500), Just(4096), Just(65536)],
        cipher in cipher_strategy(),
    ) {
        let refs: Vec<(&str, &[u8])> = files.iter().map(|(p, d)| (p.as_str(), d.as_slice())).collect();
        let (m, data) = build(&refs, chunk, cipher);
        let mut disk = Disk::default();
        transfer(&m, &data, 3, &mut disk);
        for (p, d) in &files {
            prop_assert_eq!(&disk.placed[p], d);
        }
    }

    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let _ = Manifest::decode(&bytes);
        let _ = Frame::decode(bytes.clone());
        if let Ok(s) = std::str::from_utf8(&bytes) {
            let _ = RelativePath::parse(s);
        }
        let mut r = Receiver::new(session(1), ReceiverConfig::default());
        let _ = r.handle_frame(bytes.clone());
        let (m, d) = build(&[("a", b"hello")], 1024, Cipher::ChaCha20Poly1305);
        let mut s = Sender::new(m, &session(1), &mut rand_core::OsRng);
        let _ = drain_sender(&mut s, &d);
        let _ = s.handle_frame(bytes);
    }

    #[test]
    fn mutated_transfers_never_panic_or_release_forged_data(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let data = (0..5000u32).map(|i| (i % 253) as u8).collect::<Vec<_>>();
        let (m, d) = build(&[("f", &data)], 1024, Cipher::Aes256Gcm);
        let mut s = Sender::new(m.clone(), &session(2), &mut rand_core::OsRng);
        let mut r = Receiver::new(session(2), ReceiverConfig::default());
        let mut disk = Disk::default();
        let offer = drain_sender(&mut s, &d);
        r.handle_frame(offer[0].clone()).unwrap();
        s.handle_frame(drain_receiver(&mut r, &mut disk).remove(0)).unwrap();
        let mut frames = drain_sender(&mut s, &d);
        for (which, at, x) in flips {
            let f = which.get_mut(&mut frames);
            let i = at.index(f.len());
            f[i] ^= x | 1;
        }
        for f in frames {
            let _ = r.handle_frame(f);
            drain_receiver(&mut r, &mut disk);
        }
        // Whatever got through is a prefix of the real data.
        let got = disk.partials.get(m.files()[0].hash()).cloned()
            .or_else(|| disk.placed.get("f").cloned())
            .unwrap_or_default();
        prop_assert_eq!(&got[..], &data[..got.len()]);
    }
}

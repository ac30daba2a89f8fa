//! ADVERSARIAL.md items 15-22: each attack, and the test that shows it fails.

use bytes::Bytes;
use syncshell_stream::{
    AbortReason, ChunkOpener, ChunkSealer, Cipher, Error, FileHash, Frame, Manifest,
    ManifestBuilder, ManifestHash, Receiver, ReceiverConfig, ReceiverOutput, RelativePath, Sender,
    SenderOutput, StreamKey, MAX_CHUNKS_PER_FILE, MIN_CHUNK_SIZE,
};

use crate::{
    build, drain_receiver, drain_sender, offer_key, random_bytes, raw_manifest, raw_offer, rng,
    session, transfer, Disk,
};

const CHUNK: u32 = 1024;

/// A one-file transfer whose receiver has accepted the offer, and the sender's chunk frames.
struct Setup {
    manifest: Manifest,
    data: Vec<u8>,
    receiver: Receiver,
    disk: Disk,
    offer: Vec<u8>,
    chunks: Vec<Vec<u8>>,
}

fn setup(size: usize, cipher: Cipher) -> Setup {
    let data = random_bytes(&mut rng(size as u64), size);
    let (manifest, all) = build(&[("mods/f.bin", &data)], CHUNK, cipher);
    let mut s = Sender::new(manifest.clone(), &session(1), &mut rand_core::OsRng);
    let offer = drain_sender(&mut s, &all);
    let mut receiver = Receiver::new(session(1), ReceiverConfig::default());
    let mut disk = Disk::default();
    receiver.handle_frame(offer[0].clone()).unwrap();
    let request = drain_receiver(&mut receiver, &mut disk);
    s.handle_frame(request[0].clone()).unwrap();
    let chunks = drain_sender(&mut s, &all);
    assert_eq!(chunks.len() as u64, manifest.chunk_count(0));
    Setup {
        manifest,
        data,
        receiver,
        disk,
        offer: offer[0].clone(),
        chunks,
    }
}

impl Setup {
    fn deliver(&mut self, frame: &[u8]) -> Result<(), Error> {
        let r = self.receiver.handle_frame(frame.to_vec());
        drain_receiver(&mut self.receiver, &mut self.disk);
        r
    }

    fn released(&self) -> Vec<u8> {
        self.disk
            .partials
            .get(self.manifest.files()[0].hash())
            .cloned()
            .or_else(|| self.disk.placed.get("mods/f.bin").cloned())
            .unwrap_or_default()
    }

    fn key(&self) -> StreamKey {
        offer_key(&self.offer, 1)
    }
}

/// A chunk frame sealed by someone who holds the key (a lying or buggy sender).
fn insider_chunk(key: &StreamKey, file: u32, index: u32, plaintext: &[u8], last: bool) -> Vec<u8> {
    let mut sealer = ChunkSealer::starting_at(key, file, index);
    let mut buf = plaintext.to_vec();
    let tag = if last {
        sealer.seal_last(&mut buf).unwrap()
    } else {
        sealer.seal_next(&mut buf).unwrap()
    };
    buf.extend_from_slice(&tag);
    Frame::Chunk {
        file,
        index,
        sealed: Bytes::from(buf),
    }
    .encode()
}

fn rechunk(frame: &[u8], f: impl FnOnce(u32, u32, Vec<u8>) -> (u32, u32, Vec<u8>)) -> Vec<u8> {
    match Frame::decode(frame.to_vec()).unwrap() {
        Frame::Chunk {
            file,
            index,
            sealed,
        } => {
            let (file, index, sealed) = f(file, index, sealed.to_vec());
            Frame::Chunk {
                file,
                index,
                sealed: Bytes::from(sealed),
            }
            .encode()
        }
        other => panic!("not a chunk: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// 15. Truncation

#[test]
fn truncation_at_every_chunk_boundary_releases_only_the_authenticated_prefix() {
    for cipher in [Cipher::ChaCha20Poly1305, Cipher::Aes256Gcm] {
        let size = 5 * CHUNK as usize - 300;
        for k in 0..5 {
            let mut s = setup(size, cipher);
            for c in s.chunks.clone().iter().take(k) {
                s.deliver(c).unwrap();
            }
            assert!(!s.receiver.is_finished(), "{k} of 5 chunks must not finish");
            assert!(s.disk.placed.is_empty(), "nothing placed after {k} chunks");
            let released = s.released();
            assert_eq!(released.len(), k * CHUNK as usize);
            assert_eq!(released, s.data[..released.len()], "only authentic bytes");
        }
    }
}

#[test]
fn truncation_mid_chunk_fails_and_a_missing_final_chunk_never_finishes() {
    let mut s = setup(3 * CHUNK as usize + 10, Cipher::ChaCha20Poly1305);
    let chunks = s.chunks.clone();
    s.deliver(&chunks[0]).unwrap();
    // The sealed bytes cut short, at several points including inside the tag.
    for cut in [1, 8, 16, 17, 500] {
        let short = rechunk(&chunks[1], |f, i, mut b| {
            b.truncate(b.len() - cut);
            (f, i, b)
        });
        assert!(matches!(
            s.deliver(&short),
            Err(Error::WrongChunkLength { .. })
        ));
    }
    // The frame itself cut short.
    for cut in [1, 2, 100, chunks[1].len() - 3] {
        assert!(matches!(
            s.deliver(&chunks[1][..chunks[1].len() - cut]),
            Err(Error::Malformed { .. })
        ));
    }
    s.deliver(&chunks[1]).unwrap();
    s.deliver(&chunks[2]).unwrap();
    // Everything but the final chunk: no file, no completion.
    assert!(!s.receiver.is_finished());
    assert!(s.disk.placed.is_empty());
    assert!(!s.disk.finished);
    assert_eq!(s.released(), s.data[..3 * CHUNK as usize]);
}

#[test]
fn a_chunk_sealed_as_final_before_the_end_fails() {
    // An insider truncates the file by sealing chunk 1 of 4 as the last one.
    let mut s = setup(4 * CHUNK as usize, Cipher::ChaCha20Poly1305);
    let key = s.key();
    s.deliver(&s.chunks[0].clone()).unwrap();
    let early_end = insider_chunk(&key, 0, 1, &s.data[1024..2048], true);
    assert!(matches!(s.deliver(&early_end), Err(Error::Authentication)));
    assert!(!s.receiver.is_finished());
}

// ---------------------------------------------------------------------------------------
// 16. Reordered, duplicated, dropped chunks; trailing garbage; two final chunks; an empty
//     final chunk after a non-empty payload

#[test]
fn reordered_duplicated_and_dropped_chunks_fail() {
    let mut s = setup(4 * CHUNK as usize, Cipher::Aes256Gcm);
    let c = s.chunks.clone();
    // Reordered: chunk 1 before chunk 0.
    assert!(matches!(
        s.deliver(&c[1]),
        Err(Error::UnexpectedChunk {
            index: 1,
            expected: Some((0, 0)),
            ..
        })
    ));
    s.deliver(&c[0]).unwrap();
    // Duplicated.
    assert!(matches!(
        s.deliver(&c[0]),
        Err(Error::UnexpectedChunk { .. })
    ));
    // Dropped: chunk 2 while 1 is expected.
    assert!(matches!(
        s.deliver(&c[2]),
        Err(Error::UnexpectedChunk { .. })
    ));
    // Relabelled: chunk 2's ciphertext claiming to be chunk 1 (the nonce gives it away).
    let relabelled = rechunk(&c[2], |f, _, b| (f, 1, b));
    assert!(matches!(s.deliver(&relabelled), Err(Error::Authentication)));
    // A chunk for a file that was never requested.
    let other_file = rechunk(&c[1], |_, i, b| (7, i, b));
    assert!(matches!(
        s.deliver(&other_file),
        Err(Error::UnexpectedChunk { .. })
    ));
    // None of that moved the receiver: the genuine order still completes.
    for chunk in &c[1..] {
        s.deliver(chunk).unwrap();
    }
    assert!(s.receiver.is_finished());
    assert_eq!(s.disk.placed["mods/f.bin"], s.data);
}

#[test]
fn trailing_garbage_fails() {
    let mut s = setup(2 * CHUNK as usize, Cipher::ChaCha20Poly1305);
    let c = s.chunks.clone();
    s.deliver(&c[0]).unwrap();
    // Bytes appended to the sealed chunk.
    let longer = rechunk(&c[1], |f, i, mut b| {
        b.extend_from_slice(b"garbage");
        (f, i, b)
    });
    assert!(matches!(
        s.deliver(&longer),
        Err(Error::WrongChunkLength { .. })
    ));
    // Bytes appended to the frame.
    for tail in [&[0xffu8, 0xff][..], &[0x78, 0x01], &[0x22, 0x00]] {
        let mut f = c[1].clone();
        f.extend_from_slice(tail);
        assert!(
            matches!(s.deliver(&f), Err(Error::Malformed { .. })),
            "{tail:?}"
        );
    }
    s.deliver(&c[1]).unwrap();
    assert!(s.receiver.is_finished());
    // Frames after the end: the last chunk again, or a next chunk.
    assert!(matches!(
        s.deliver(&c[1]),
        Err(Error::UnexpectedChunk { expected: None, .. })
    ));
    let after = insider_chunk(&s.key(), 0, 2, b"more", true);
    assert!(matches!(
        s.deliver(&after),
        Err(Error::UnexpectedChunk { expected: None, .. })
    ));
    assert_eq!(s.disk.placed["mods/f.bin"], s.data);
}

#[test]
fn two_final_chunks_fail() {
    let mut s = setup(3 * CHUNK as usize, Cipher::ChaCha20Poly1305);
    let key = s.key();
    let d = s.data.clone();
    s.deliver(&s.chunks[0].clone()).unwrap();
    // A final chunk at position 1, then one at position 2.
    let first_final = insider_chunk(&key, 0, 1, &d[1024..2048], true);
    assert!(matches!(
        s.deliver(&first_final),
        Err(Error::Authentication)
    ));
    s.deliver(&s.chunks[1].clone()).unwrap();
    s.deliver(&s.chunks[2].clone()).unwrap();
    // A second final chunk after the real one.
    let second_final = insider_chunk(&key, 0, 3, b"", true);
    assert!(matches!(
        s.deliver(&second_final),
        Err(Error::UnexpectedChunk { .. })
    ));
    assert_eq!(s.disk.placed["mods/f.bin"], d);
}

#[test]
fn an_empty_final_chunk_after_a_non_empty_payload_fails() {
    // 2 full chunks: the last one must carry data and the final flag; an insider sends both
    // as middle chunks and closes with an empty final chunk.
    let mut s = setup(2 * CHUNK as usize, Cipher::ChaCha20Poly1305);
    let key = s.key();
    let d = s.data.clone();
    s.deliver(&s.chunks[0].clone()).unwrap();
    let not_final = insider_chunk(&key, 0, 1, &d[1024..], false);
    assert!(matches!(s.deliver(&not_final), Err(Error::Authentication)));
    let empty_final = insider_chunk(&key, 0, 2, b"", true);
    assert!(matches!(
        s.deliver(&empty_final),
        Err(Error::UnexpectedChunk { .. })
    ));
    // An empty final chunk in the final position fails on its length.
    let empty_at_1 = insider_chunk(&key, 0, 1, b"", true);
    assert!(matches!(
        s.deliver(&empty_at_1),
        Err(Error::WrongChunkLength { .. })
    ));
    assert!(!s.receiver.is_finished());
}

// ---------------------------------------------------------------------------------------
// 17. Wrong key or wrong manifest

#[test]
fn wrong_key_or_wrong_manifest_is_rejected_before_any_chunk() {
    let data = random_bytes(&mut rng(17), 5000);
    let (m, all) = build(&[("a.bin", &data)], CHUNK, Cipher::ChaCha20Poly1305);
    let mut s = Sender::new(m.clone(), &session(1), &mut rand_core::OsRng);
    let offer = drain_sender(&mut s, &all).remove(0);

    // Another session key.
    let mut r = Receiver::new(session(2), ReceiverConfig::default());
    assert!(matches!(
        r.handle_frame(offer.clone()),
        Err(Error::KeyMismatch)
    ));
    assert!(matches!(r.poll(), ReceiverOutput::Idle));
    assert!(r.manifest().is_none());

    // The manifest altered in flight (a size, a hash byte) with the confirmation kept.
    let Frame::Offer {
        manifest,
        confirm,
        salt,
    } = Frame::decode(offer.clone()).unwrap()
    else {
        panic!()
    };
    let other_data = random_bytes(&mut rng(18), 5000);
    let (other, _) = build(&[("a.bin", &other_data)], CHUNK, Cipher::ChaCha20Poly1305);
    let (other_size, _) = build(&[("a.bin", &data[..4999])], CHUNK, Cipher::ChaCha20Poly1305);
    let (other_cipher, _) = build(&[("a.bin", &data)], CHUNK, Cipher::Aes256Gcm);
    for swapped in [
        other.encoded(),
        other_size.encoded(),
        other_cipher.encoded(),
    ] {
        assert_ne!(swapped, &manifest[..]);
        let forged = Frame::Offer {
            manifest: Bytes::copy_from_slice(swapped),
            confirm,
            salt,
        }
        .encode();
        let mut r = Receiver::new(session(1), ReceiverConfig::default());
        assert!(matches!(r.handle_frame(forged), Err(Error::KeyMismatch)));
        assert!(r.manifest().is_none());
    }

    // Chunks before any offer, or after a refused one, are refused too.
    let mut r = Receiver::new(session(2), ReceiverConfig::default());
    let _ = r.handle_frame(offer.clone());
    let mut good = Receiver::new(session(1), ReceiverConfig::default());
    good.handle_frame(offer).unwrap();
    let mut disk = Disk::default();
    let request = drain_receiver(&mut good, &mut disk).remove(0);
    s.handle_frame(request).unwrap();
    let chunks = drain_sender(&mut s, &all);
    assert!(matches!(
        r.handle_frame(chunks[0].clone()),
        Err(Error::UnexpectedFrame { got: "chunk", .. })
    ));

    // Chunks sealed under another session's key fail after a valid offer.
    let mut s2 = Sender::new(m.clone(), &session(3), &mut rand_core::OsRng);
    let mut r2 = Receiver::new(session(3), ReceiverConfig::default());
    r2.handle_frame(drain_sender(&mut s2, &all).remove(0))
        .unwrap();
    drain_receiver(&mut r2, &mut Disk::default());
    assert!(matches!(
        r2.handle_frame(chunks[0].clone()),
        Err(Error::Authentication)
    ));
}

// ---------------------------------------------------------------------------------------
// 18. No key and nonce seal two different plaintexts

#[test]
fn resuming_after_the_source_changed_uses_a_new_key() {
    let original = random_bytes(&mut rng(180), 6 * CHUNK as usize);
    let (m1, d1) = build(&[("a.bin", &original)], CHUNK, Cipher::ChaCha20Poly1305);

    // Attempt 1 stops after 3 chunks.
    let mut disk = Disk::default();
    let mut s = Sender::new(m1.clone(), &session(1), &mut rand_core::OsRng);
    let mut r = Receiver::new(session(1), ReceiverConfig::default());
    r.handle_frame(drain_sender(&mut s, &d1).remove(0)).unwrap();
    s.handle_frame(drain_receiver(&mut r, &mut disk).remove(0))
        .unwrap();
    let chunks1 = drain_sender(&mut s, &d1);
    for c in &chunks1[..3] {
        r.handle_frame(c.clone()).unwrap();
        drain_receiver(&mut r, &mut disk);
    }

    // Chunk 4 of the source changes; the same session key is used again.
    let mut changed = original.clone();
    changed[4 * CHUNK as usize + 5] ^= 0x40;
    let (m2, d2) = build(&[("a.bin", &changed)], CHUNK, Cipher::ChaCha20Poly1305);
    assert_ne!(m1.hash(), m2.hash());
    let k1 = StreamKey::derive(&session(1), m1.hash(), &[0; 32], m1.cipher());
    let k2 = StreamKey::derive(&session(1), m2.hash(), &[0; 32], m2.cipher());
    assert_ne!(
        k1.confirmation(),
        k2.confirmation(),
        "a new manifest gets a new key"
    );

    // The same position under the two keys: different key, so a different keystream.
    let mut s2 = Sender::new(m2.clone(), &session(1), &mut rand_core::OsRng);
    let mut r2 = Receiver::new(session(1), ReceiverConfig::default());
    r2.handle_frame(drain_sender(&mut s2, &d2).remove(0))
        .unwrap();
    // The partial of the old content is keyed by the old hash: it is not resumed.
    let request = drain_receiver(&mut r2, &mut disk).remove(0);
    let Frame::Request { wants, .. } = Frame::decode(request.clone()).unwrap() else {
        panic!()
    };
    assert_eq!(wants[0].from_chunk, 0, "changed content starts over");
    s2.handle_frame(request).unwrap();
    let chunks2 = drain_sender(&mut s2, &d2);
    // Unchanged chunk 0: same plaintext, different key, so different ciphertext.
    assert_ne!(chunks1[0], chunks2[0]);
    for c in chunks2 {
        r2.handle_frame(c).unwrap();
        drain_receiver(&mut r2, &mut disk);
    }
    assert_eq!(disk.placed["a.bin"], changed);
}

#[test]
fn a_sender_seals_each_position_at_most_once() {
    let data = random_bytes(&mut rng(181), 3 * CHUNK as usize);
    let (m, d) = build(&[("a.bin", &data)], CHUNK, Cipher::ChaCha20Poly1305);
    let mut s = Sender::new(m.clone(), &session(1), &mut rand_core::OsRng);
    let mut r = Receiver::new(session(1), ReceiverConfig::default());
    r.handle_frame(drain_sender(&mut s, &d).remove(0)).unwrap();
    let request = drain_receiver(&mut r, &mut Disk::default()).remove(0);
    s.handle_frame(request.clone()).unwrap();
    let _ = drain_sender(&mut s, &d);
    // Asking again (to get the same positions sealed twice) is refused.
    assert!(matches!(
        s.handle_frame(request),
        Err(Error::UnexpectedFrame { got: "request", .. })
    ));
}

// ---------------------------------------------------------------------------------------
// 19. A failed decryption does not advance the receiver

#[test]
fn failed_decryption_does_not_advance_the_receiver() {
    for cipher in [Cipher::ChaCha20Poly1305, Cipher::Aes256Gcm] {
        let mut s = setup(3 * CHUNK as usize + 1, cipher);
        let c = s.chunks.clone();
        for (i, chunk) in c.iter().enumerate() {
            let before = s.receiver.progress();
            let released = s.released().len();
            // Flip bits at the start, the middle, and in the tag.
            for pos in [0usize, 1, 500, usize::MAX] {
                let bad = rechunk(chunk, |f, idx, mut b| {
                    let p = pos.min(b.len() - 1);
                    b[p] ^= 0x01;
                    (f, idx, b)
                });
                assert!(
                    matches!(s.deliver(&bad), Err(Error::Authentication)),
                    "chunk {i}"
                );
                assert_eq!(s.receiver.progress(), before, "progress moved");
                assert_eq!(s.released().len(), released, "plaintext released");
            }
            s.deliver(chunk).unwrap();
        }
        assert!(s.receiver.is_finished());
        assert_eq!(s.disk.placed["mods/f.bin"], s.data);
    }
}

#[test]
fn a_failed_open_does_not_advance_the_public_opener() {
    let key = StreamKey::derive(
        &session(1),
        &ManifestHash::from_bytes([5; 32]),
        &[6; 32],
        Cipher::Aes256Gcm,
    );
    let mut sealer = ChunkSealer::new(&key, 0);
    let mut a = b"chunk zero".to_vec();
    let tag = sealer.seal_next(&mut a).unwrap();
    let mut opener = ChunkOpener::new(&key, 0);
    let mut wrong_tag = tag;
    wrong_tag[15] ^= 1;
    let mut copy = a.clone();
    assert!(opener.open_next(&mut copy, &wrong_tag).is_err());
    assert!(
        copy.iter().all(|&b| b == 0),
        "AES-GCM plaintext of a bad tag is wiped"
    );
    assert_eq!(opener.position(), 0);
    opener.open_next(&mut a, &tag).unwrap();
    assert_eq!(a, b"chunk zero");
}

#[test]
fn a_malformed_request_does_not_move_the_sender() {
    let data = random_bytes(&mut rng(190), 2 * CHUNK as usize);
    let (m, d) = build(&[("a.bin", &data)], CHUNK, Cipher::ChaCha20Poly1305);
    let mut s = Sender::new(m.clone(), &session(1), &mut rand_core::OsRng);
    let offer = drain_sender(&mut s, &d).remove(0);
    // Requests from an insider (correctly tagged) that ask for what does not exist.
    let key = offer_key(&offer, 1);
    let want = |file, from_chunk| syncshell_stream::Want { file, from_chunk };
    let request = |manifest_hash, wants: Vec<syncshell_stream::Want>| Frame::Request {
        manifest_hash,
        tag: key.request_tag(&wants),
        wants,
    };
    let bad = [
        request(ManifestHash::from_bytes([0; 32]), vec![]),
        request(*m.hash(), vec![want(1, 0)]),
        request(*m.hash(), vec![want(0, 2)]),
        request(*m.hash(), vec![want(0, 0), want(0, 1)]),
    ];
    for f in bad {
        assert!(s.handle_frame(f.encode()).is_err(), "{f:?}");
    }
    let mut disk = Disk::default();
    transfer_with(&mut s, &offer, &d, &mut disk);
    assert_eq!(disk.placed["a.bin"], data);
}

fn transfer_with(s: &mut Sender, offer: &[u8], d: &[Vec<u8>], disk: &mut Disk) {
    let mut r = Receiver::new(session(1), ReceiverConfig::default());
    r.handle_frame(offer.to_vec()).unwrap();
    for f in drain_receiver(&mut r, disk) {
        s.handle_frame(f).unwrap();
    }
    for f in drain_sender(s, d) {
        r.handle_frame(f).unwrap();
        for back in drain_receiver(&mut r, disk) {
            s.handle_frame(back).unwrap();
        }
    }
    assert!(r.is_finished() && s.is_finished());
}

// ---------------------------------------------------------------------------------------
// 20. Counter limits

#[test]
fn more_chunks_than_the_nonce_space_is_a_hard_error() {
    let h = FileHash::of(b"");
    let limit = MAX_CHUNKS_PER_FILE * u64::from(MIN_CHUNK_SIZE);
    // Exactly 2^32 chunks is fine; one byte more is not.
    let mut ok = ManifestBuilder::new().chunk_size(MIN_CHUNK_SIZE);
    ok.add_file("big", limit, h).unwrap();
    let m = ok.build().unwrap();
    assert_eq!(m.chunk_count(0), MAX_CHUNKS_PER_FILE);
    let mut over = ManifestBuilder::new().chunk_size(MIN_CHUNK_SIZE);
    over.add_file("big", limit + 1, h).unwrap();
    assert!(matches!(over.build(), Err(Error::TooManyChunks { .. })));
    // The same manifest arriving from a peer.
    let raw = raw_manifest(&[("big", limit + 1, *h.as_bytes())], MIN_CHUNK_SIZE, 1);
    assert!(matches!(
        Manifest::decode(&raw),
        Err(Error::TooManyChunks { .. })
    ));
    // And the counters themselves stop instead of wrapping.
    let key = StreamKey::derive(&session(1), m.hash(), &[0; 32], m.cipher());
    let mut sealer = ChunkSealer::starting_at(&key, 0, u32::MAX);
    assert!(matches!(
        sealer.seal_next(&mut [0u8; 4]),
        Err(Error::CounterExhausted)
    ));
    let mut opener = ChunkOpener::starting_at(&key, 0, u32::MAX);
    assert!(matches!(
        opener.open_next(&mut [0u8; 4], &[0; 16]),
        Err(Error::CounterExhausted)
    ));
}

// ---------------------------------------------------------------------------------------
// 21. Received paths

const BAD_PATHS: &[&str] = &[
    "..",
    "../etc/passwd",
    "mods/../../x",
    "a/./b",
    "/etc/passwd",
    "/",
    "C:\\Windows\\system32",
    "C:/x",
    "c:",
    "\\\\server\\share\\x",
    "//server/share/x",
    "mods\\evil.dll",
    "CON",
    "con",
    "NUL.txt",
    "nul.tar.gz",
    "aux",
    "Aux.json",
    "COM1",
    "lpt9.log",
    "COM¹",
    "CONIN$",
    "mods/PRN/x",
    "NUL .txt",
    "trailing.",
    "trailing ",
    "mods./x",
    "nul\0byte",
    "a\0",
    "tab\there",
    "line\nbreak",
    "del\u{7f}",
    "a|b",
    "a<b",
    "a>b",
    "a*b",
    "a?b",
    "a\"b",
    "a:stream",
    "",
    "a//b",
    "a/",
];

#[test]
fn unsafe_received_paths_are_rejected() {
    let long_name = "n".repeat(256);
    let long_path = vec!["d"; 600].join("/");
    let deep = vec!["d"; 65].join("/");
    let mut all: Vec<String> = BAD_PATHS.iter().map(|s| s.to_string()).collect();
    all.extend([long_name, long_path, deep, format!("{}/x", "é".repeat(128))]);
    for p in &all {
        assert!(
            matches!(RelativePath::parse(p), Err(Error::UnsafePath { .. })),
            "{p:?} accepted"
        );
        let mut b = ManifestBuilder::new();
        assert!(b.add_file(p, 1, FileHash::of(b"x")).is_err(), "{p:?} built");
        // From a peer: the offer is refused and nothing is accepted.
        let raw = raw_manifest(&[(p.as_str(), 1, [0; 32])], 1024, 1);
        if let Ok(m) = Manifest::decode(&raw) {
            panic!("{p:?} decoded: {m:?}");
        }
        let mut r = Receiver::new(session(1), ReceiverConfig::default());
        assert!(r.handle_frame(raw_offer(&raw, 1)).is_err(), "{p:?}");
        assert!(r.manifest().is_none());
        assert!(matches!(r.poll(), ReceiverOutput::Idle));
    }
    // Limits themselves are fine.
    RelativePath::parse(&"n".repeat(255)).unwrap();
    RelativePath::parse(&vec!["d"; 64].join("/")).unwrap();
}

#[test]
fn colliding_paths_are_rejected() {
    let h = [0u8; 32];
    for entries in [
        vec![("Mods/a.txt", 1, h), ("mods/a.txt", 1, h)],
        vec![("mods/A.TXT", 1, h), ("mods/a.txt", 1, h)],
        vec![("a", 1, h), ("a/b", 1, h)],
        vec![("A", 1, h), ("a/b", 1, h)],
        vec![("a", 1, h), ("a", 1, h)],
    ] {
        let raw = raw_manifest(&entries, 1024, 1);
        assert!(
            matches!(
                Manifest::decode(&raw),
                Err(Error::PathCollision { .. } | Error::Malformed { .. })
            ),
            "{entries:?}"
        );
        let mut b = ManifestBuilder::new();
        for (p, s, h) in &entries {
            b.add_file(p, *s, FileHash::from_bytes(*h)).unwrap();
        }
        assert!(
            matches!(b.build(), Err(Error::PathCollision { .. })),
            "{entries:?}"
        );
    }
    // Unsorted entries from a peer are refused (one canonical form per manifest).
    let raw = raw_manifest(&[("b", 1, h), ("a", 1, h)], 1024, 1);
    assert!(matches!(
        Manifest::decode(&raw),
        Err(Error::Malformed { .. })
    ));
}

// ---------------------------------------------------------------------------------------
// 22. Declared sizes against actual bytes

#[test]
fn a_lying_sender_cannot_write_beyond_the_declared_size() {
    let mut s = setup(2 * CHUNK as usize + 100, Cipher::ChaCha20Poly1305);
    let key = s.key();
    let c = s.chunks.clone();
    s.deliver(&c[0]).unwrap();
    s.deliver(&c[1]).unwrap();
    // A final chunk longer than declared, a middle chunk longer than the chunk size.
    let long_last = insider_chunk(&key, 0, 2, &[7u8; 101], true);
    assert!(matches!(
        s.deliver(&long_last),
        Err(Error::WrongChunkLength { .. })
    ));
    let big = insider_chunk(&key, 0, 2, &[7u8; 5000], true);
    assert!(matches!(
        s.deliver(&big),
        Err(Error::WrongChunkLength { .. })
    ));
    s.deliver(&c[2]).unwrap();
    // More chunks after the end.
    let extra = insider_chunk(&key, 0, 3, &[7u8; 1024], false);
    assert!(matches!(
        s.deliver(&extra),
        Err(Error::UnexpectedChunk { .. })
    ));
    let released: u64 = s.disk.released.values().sum();
    assert_eq!(released, s.manifest.files()[0].size());
    assert_eq!(s.disk.placed["mods/f.bin"], s.data);
}

#[test]
fn a_lying_manifest_is_caught_and_its_file_never_placed() {
    // The manifest claims a hash the bytes do not have.
    let real = random_bytes(&mut rng(220), 3000);
    let claimed = random_bytes(&mut rng(221), 3000);
    let mut b = ManifestBuilder::new().chunk_size(CHUNK);
    b.add_file("a.bin", 3000, FileHash::of(&claimed)).unwrap();
    let m = b.build().unwrap();
    let mut s = Sender::new(m.clone(), &session(1), &mut rand_core::OsRng);
    let mut r = Receiver::new(session(1), ReceiverConfig::default());
    let mut disk = Disk::default();
    let d = vec![real];
    r.handle_frame(drain_sender(&mut s, &d).remove(0)).unwrap();
    s.handle_frame(drain_receiver(&mut r, &mut disk).remove(0))
        .unwrap();
    let chunks = drain_sender(&mut s, &d);
    let mut result = Ok(());
    for c in chunks {
        result = r.handle_frame(c);
        if result.is_err() {
            break;
        }
        drain_receiver(&mut r, &mut disk);
    }
    assert!(matches!(result, Err(Error::HashMismatch { file: 0 })));
    assert!(disk.placed.is_empty());
    // The receiver tells the sender why, and the sender stops; the file is never done.
    let mut abort = None;
    loop {
        match r.poll() {
            ReceiverOutput::Transmit(f) => abort = Some(f),
            ReceiverOutput::Event(e) => assert!(
                matches!(
                    e,
                    syncshell_stream::Event::Data { .. } | syncshell_stream::Event::Progress(_)
                ),
                "{e:?}"
            ),
            ReceiverOutput::Done => break,
            ReceiverOutput::Idle => panic!("a failed receiver is done"),
        }
    }
    assert!(matches!(
        s.handle_frame(abort.unwrap()),
        Err(Error::PeerAborted {
            reason: AbortReason::HashMismatch,
            ..
        })
    ));
}

#[test]
fn offers_over_the_receivers_limit_are_refused_up_front() {
    let mut b = ManifestBuilder::new();
    b.add_file("huge.bin", 1 << 40, FileHash::of(b"")).unwrap();
    let m = b.build().unwrap();
    let mut s = Sender::new(m, &session(1), &mut rand_core::OsRng);
    let offer = drain_sender(&mut s, &[]).remove(0);
    let mut r = Receiver::new(session(1), ReceiverConfig::with_max_total_size(1 << 30));
    assert!(matches!(
        r.handle_frame(offer),
        Err(Error::OfferTooLarge { .. })
    ));
    assert!(r.manifest().is_none());
}

#[test]
fn duplicate_entries_with_lying_sizes_cannot_exceed_the_total_size_limit() {
    // One 4 GiB file, then the same hash again and again with size 0: the receiver gets the
    // 4 GiB once and copies it to every duplicate, so the declared total (4 GiB) must not be
    // what it checks against its limit.
    const GIB: u64 = 1 << 30;
    let h = *FileHash::of(b"the big file").as_bytes();
    // (10 000 copies here rather than the 100 000 a manifest may hold: the same attack, a
    // faster test.)
    let names: Vec<String> = (0..9_999).map(|i| format!("dup{i:05}")).collect();
    let mut lying: Vec<(&str, u64, [u8; 32])> = vec![("big.bin", 4 * GIB, h)];
    lying.extend(names.iter().map(|n| (n.as_str(), 0, h)));
    let raw = raw_manifest(&lying, 64 * 1024, 1);
    assert!(
        matches!(Manifest::decode(&raw), Err(Error::Malformed { .. })),
        "same hash, different sizes"
    );
    let mut r = Receiver::new(session(1), ReceiverConfig::default());
    assert!(r.handle_frame(raw_offer(&raw, 1)).is_err());
    assert!(r.manifest().is_none());
    assert!(matches!(r.poll(), ReceiverOutput::Idle));

    // Told the truth, the same manifest counts every copy and is over the limit.
    let honest: Vec<(&str, u64, [u8; 32])> =
        lying.iter().map(|&(p, _, h)| (p, 4 * GIB, h)).collect();
    let raw = raw_manifest(&honest, 64 * 1024, 1);
    assert_eq!(
        Manifest::decode(&raw).unwrap().total_size(),
        10_000 * 4 * GIB
    );
    let mut r = Receiver::new(session(1), ReceiverConfig::default());
    assert!(matches!(
        r.handle_frame(raw_offer(&raw, 1)),
        Err(Error::OfferTooLarge { .. })
    ));
    assert!(r.manifest().is_none());

    // The builder refuses to make the lie as well.
    let mut b = ManifestBuilder::new();
    b.add_file("a", 4 * GIB, FileHash::from_bytes(h)).unwrap();
    b.add_file("b", 0, FileHash::from_bytes(h)).unwrap();
    assert!(matches!(b.build(), Err(Error::Malformed { .. })));
}

#[test]
fn empty_files_and_many_files_transfer() {
    let files: Vec<(String, Vec<u8>)> = (0..40)
        .map(|i| {
            (
                format!("dir{}/f{i}.dat", i % 3),
                random_bytes(&mut rng(i), (i as usize * 97) % 3000),
            )
        })
        .collect();
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, d)| (p.as_str(), d.as_slice()))
        .collect();
    let (m, d) = build(&refs, CHUNK, Cipher::Aes256Gcm);
    let mut disk = Disk::default();
    transfer(&m, &d, 9, &mut disk);
    for (p, data) in &files {
        assert_eq!(&disk.placed[p], data, "{p}");
    }
    assert!(disk.finished);
}

// ---------------------------------------------------------------------------------------
// Requests and completions are authenticated under the transfer's key (carriers without
// DTLS: length-prefixed pipes, frames the host carries through the C ABI).

/// A complete frame by hand: `manifest_hash`, and a tag field if one is given.
fn complete_bytes(manifest_hash: &ManifestHash, tag: Option<[u8; 32]>) -> Vec<u8> {
    let mut body = vec![0x0a, 0x20];
    body.extend_from_slice(manifest_hash.as_bytes());
    if let Some(t) = tag {
        body.extend_from_slice(&[0x12, 0x20]);
        body.extend_from_slice(&t);
    }
    let mut f = vec![
        0x08,
        syncshell_stream::FRAME_VERSION as u8,
        0x2a,
        body.len() as u8,
    ];
    f.extend_from_slice(&body);
    f
}

/// A tag anyone can compute: HMAC-SHA256 keyed with the (public) manifest hash.
fn public_tag(manifest_hash: &ManifestHash, label: &[u8]) -> [u8; 32] {
    use hkdf::hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(manifest_hash.as_bytes()).unwrap();
    mac.update(label);
    mac.update(manifest_hash.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Runs a transfer until the receiver has answered the last chunk; returns the sender
/// (waiting for the completion), the receiver's frames in order (request, completion).
fn transfer_until_completion(m: &Manifest, d: &[Vec<u8>]) -> (Sender, Vec<Vec<u8>>) {
    let mut s = Sender::new(m.clone(), &session(1), &mut rand_core::OsRng);
    let mut r = Receiver::new(session(1), ReceiverConfig::default());
    let mut disk = Disk::default();
    let mut answers = Vec::new();
    for f in drain_sender(&mut s, d) {
        r.handle_frame(f).unwrap();
        answers.extend(drain_receiver(&mut r, &mut disk));
    }
    s.handle_frame(answers[0].clone()).unwrap();
    for f in drain_sender(&mut s, d) {
        r.handle_frame(f).unwrap();
        answers.extend(drain_receiver(&mut r, &mut disk));
    }
    assert!(r.is_finished());
    assert_eq!(answers.len(), 2, "a request, then a completion");
    (s, answers)
}

#[test]
fn a_forged_completion_without_the_key_is_refused() {
    let data = random_bytes(&mut rng(80), 3 * CHUNK as usize);
    let (m, d) = build(&[("a.bin", &data)], CHUNK, Cipher::ChaCha20Poly1305);
    // An earlier transfer of the same manifest under the same session key: its genuine
    // completion is what an attacker on the carrier could have recorded.
    let (_, earlier) = transfer_until_completion(&m, &d);
    let (mut s, answers) = transfer_until_completion(&m, &d);
    let h = m.hash();
    let forgeries = [
        complete_bytes(h, None),
        complete_bytes(h, Some([0; 32])),
        complete_bytes(h, Some(public_tag(h, b"syncshell/v1/stream-complete\0"))),
        earlier[1].clone(),
    ];
    for (i, forged) in forgeries.into_iter().enumerate() {
        assert!(s.handle_frame(forged).is_err(), "forgery {i} accepted");
        assert!(!s.is_finished(), "forgery {i} finished the transfer");
        assert!(matches!(s.poll(), SenderOutput::Idle), "forgery {i}");
    }
    // The genuine completion still finishes it.
    s.handle_frame(answers[1].clone()).unwrap();
    assert!(s.is_finished());
}

#[test]
fn a_forged_request_without_the_key_is_refused() {
    let data = random_bytes(&mut rng(81), 3 * CHUNK as usize);
    let (m, d) = build(&[("a.bin", &data)], CHUNK, Cipher::ChaCha20Poly1305);
    let (_, earlier) = transfer_until_completion(&m, &d);
    let mut s = Sender::new(m.clone(), &session(1), &mut rand_core::OsRng);
    let offer = drain_sender(&mut s, &d).remove(0);
    // "Send me nothing" (the sender would wait for a completion that a forger then sends),
    // with no tag, a zero tag, a tag from public values, or the genuine request of an
    // earlier transfer of the same manifest.
    let mut nothing = vec![0x0a, 0x20];
    nothing.extend_from_slice(m.hash().as_bytes());
    let request = |body: &[u8]| {
        let mut f = vec![
            0x08,
            syncshell_stream::FRAME_VERSION as u8,
            0x1a,
            body.len() as u8,
        ];
        f.extend_from_slice(body);
        f
    };
    let with_tag = |t: [u8; 32]| {
        let mut b = nothing.clone();
        b.extend_from_slice(&[0x1a, 0x20]);
        b.extend_from_slice(&t);
        request(&b)
    };
    let forgeries = [
        request(&nothing),
        with_tag([0; 32]),
        with_tag(public_tag(m.hash(), b"syncshell/v1/stream-request\0")),
        earlier[0].clone(),
    ];
    for (i, forged) in forgeries.into_iter().enumerate() {
        assert!(s.handle_frame(forged).is_err(), "forgery {i} accepted");
        assert!(matches!(s.poll(), SenderOutput::Idle), "forgery {i}");
    }
    // The genuine request is still taken and the transfer completes.
    let mut r = Receiver::new(session(1), ReceiverConfig::default());
    let mut disk = Disk::default();
    r.handle_frame(offer).unwrap();
    let req = drain_receiver(&mut r, &mut disk).remove(0);
    s.handle_frame(req).unwrap();
    for f in drain_sender(&mut s, &d) {
        r.handle_frame(f).unwrap();
        for back in drain_receiver(&mut r, &mut disk) {
            s.handle_frame(back).unwrap();
        }
    }
    assert!(s.is_finished());
    assert_eq!(disk.placed["a.bin"], data);
}

// ---------------------------------------------------------------------------------------
// Path aliases: names that differ in bytes but name the same file or folder on a
// case-insensitive file system, Windows short names, and links on the way.

#[tokio::test]
async fn unicode_case_and_short_name_aliases_are_refused() {
    let h = |b: u8| [b; 32];
    // A file that is also a folder once case is folded: the Kelvin sign (3 bytes) folds to
    // `k` (1 byte), and `İ` (2 bytes) to `i̇` (3 bytes), so byte offsets of the original
    // name do not fit its folded form.
    for entries in [
        vec![("k", 1, h(1)), ("\u{212a}/x", 1, h(2))],
        vec![("i\u{307}", 1, h(1)), ("\u{130}/x", 1, h(2))],
        vec![("mods/k", 1, h(1)), ("mods/\u{212a}/x", 1, h(2))],
    ] {
        let raw = raw_manifest(&entries, 1024, 1);
        assert!(
            matches!(Manifest::decode(&raw), Err(Error::PathCollision { .. })),
            "{entries:?}"
        );
    }
    // Two files that are one on NTFS (both sigmas upcase to Σ) and APFS.
    for entries in [
        vec![("a\u{3c2}", 1, h(1)), ("a\u{3c3}", 1, h(2))],
        vec![("stra\u{df}e", 1, h(1)), ("strasse", 1, h(2))],
        vec![("\u{212a}", 1, h(1)), ("k", 1, h(2))],
    ] {
        let mut sorted = entries.clone();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        let raw = raw_manifest(&sorted, 1024, 1);
        assert!(
            matches!(Manifest::decode(&raw), Err(Error::PathCollision { .. })),
            "{sorted:?}"
        );
        let mut b = ManifestBuilder::new();
        for (p, s, h) in &entries {
            b.add_file(p, *s, FileHash::from_bytes(*h)).unwrap();
        }
        assert!(
            matches!(b.build(), Err(Error::PathCollision { .. })),
            "{entries:?}"
        );
    }
    // Device names whatever the Unicode case (dotless ı upcases to I), 8.3 short names
    // (`SYNCSH~1` is the short name of `.syncshell-partial`), and the partial folder in any
    // case.
    for p in [
        "con\u{131}n$",
        "CON\u{131}N$.txt",
        "mods/\u{1d0f}ux",
        "SYNCSH~1/x.part",
        "syncsh~1.par/x",
        "mods/PROGRA~12",
        "~1",
        ".SYNCSHELL-PARTIAL/x",
        ".sync\u{17f}hell-partial/x",
    ] {
        if p == "mods/\u{1d0f}ux" {
            // A small-capital letter that is not a case variant: fine.
            RelativePath::parse(p).unwrap();
            continue;
        }
        assert!(
            matches!(RelativePath::parse(p), Err(Error::UnsafePath { .. })),
            "{p:?} accepted"
        );
        let raw = raw_manifest(&[(p, 1, h(3))], 1024, 1);
        let mut r = Receiver::new(session(1), ReceiverConfig::default());
        assert!(r.handle_frame(raw_offer(&raw, 1)).is_err(), "{p:?}");
        assert!(r.manifest().is_none());
    }
    // Names that only look alike are still fine.
    for p in [
        "backup~",
        "a~b1",
        "v1~beta.txt",
        "mods/.syncshell-partial/x",
        "Straße",
    ] {
        RelativePath::parse(p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
    }

    // A link on the way to a file in the destination: the receiver must not look through
    // it, or what it requests tells the sender whether a file with a guessed hash exists
    // outside the destination.
    #[cfg(unix)]
    {
        let src = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let secret = b"-----BEGIN OPENSSH PRIVATE KEY----- (a guess)";
        std::fs::write(outside.path().join("id_ed25519"), secret).unwrap();
        std::fs::create_dir(src.path().join("ssh")).unwrap();
        std::fs::write(src.path().join("ssh/id_ed25519"), secret).unwrap();
        std::os::unix::fs::symlink(outside.path(), dest.path().join("ssh")).unwrap();
        let (sent, got) = crate::adapter::send_and_receive(src.path(), dest.path(), 12).await;
        assert!(
            matches!(got, Err(Error::UnsafePath { .. })),
            "the file behind the link was looked at: {got:?}"
        );
        assert!(sent.is_err());
        assert_eq!(
            std::fs::read(outside.path().join("id_ed25519")).unwrap(),
            secret
        );
    }
}

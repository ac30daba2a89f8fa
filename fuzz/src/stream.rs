//! What each stream fuzz target checks. This file is compiled twice: by the fuzz crate
//! (`cargo fuzz run <target>`) and by syncshell-stream's corpus replay test, which runs every
//! file under `fuzz/corpus/<target>/` through the same function on stable Rust.
//!
//! Each check: decoding arbitrary bytes never panics; whatever decodes re-encodes to
//! something that decodes to the same value; the state machines refuse garbage without
//! panicking and without releasing data.

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use syncshell_stream::{
    Event, FileHash, Frame, Manifest, ManifestBuilder, Receiver, ReceiverConfig, ReceiverOutput,
    RelativePath, Sender, SenderOutput, SessionKey,
};

/// A fuzz target's check.
pub type Check = fn(&[u8]);

/// Every target: its name (the corpus folder) and its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("stream_manifest", manifest),
    ("stream_frame", frame),
    ("stream_path", path),
    ("stream_receiver", receiver),
    ("stream_sender", sender),
];

/// The session key of the state-machine targets.
pub const KEY: [u8; 32] = [0x5a; 32];

/// The generator of the fixture offer's salt: fixed, so seeds recorded from a transfer
/// (whose requests and completions are bound to the salt) replay.
pub fn salt_rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(0x5a17)
}

/// The small manifest the state-machine targets are offered: three files, 1 KiB chunks.
pub fn fixture_manifest() -> Manifest {
    let mut b = ManifestBuilder::new().chunk_size(1024);
    for (path, len) in [("a.bin", 2500usize), ("dir/b.txt", 10), ("empty", 0)] {
        let data = fixture_data(len);
        b.add_file(path, len as u64, FileHash::of(&data))
            .expect("fixture path is valid");
    }
    b.build().expect("fixture manifest builds")
}

/// The content of a fixture file of `len` bytes.
pub fn fixture_data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Splits `data` into frames, each prefixed by a little-endian `u16` length.
pub fn frames(mut data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while data.len() >= 2 {
        let len = usize::from(u16::from_le_bytes([data[0], data[1]]));
        data = &data[2..];
        let n = len.min(data.len());
        out.push(data[..n].to_vec());
        data = &data[n..];
    }
    out
}

/// The inverse of [`frames`], for writing seeds.
pub fn join_frames(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        let len = u16::try_from(f.len()).expect("seed frames are under 64 KiB");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// `Manifest::decode`.
pub fn manifest(data: &[u8]) {
    if let Ok(m) = Manifest::decode(data) {
        assert_eq!(m.encoded(), data, "the exact bytes are kept");
        let again = Manifest::decode(m.encoded()).expect("re-decoding works");
        assert!(again == m, "round trip changed the value");
        for f in m.files() {
            RelativePath::parse(f.path().as_str()).expect("decoded paths are safe");
        }
    }
}

/// `Frame::decode`.
pub fn frame(data: &[u8]) {
    if let Ok(f) = Frame::decode(data.to_vec()) {
        let encoded = f.encode();
        assert_eq!(encoded.len(), data.len(), "frames are length-canonical");
        let again = Frame::decode(encoded).expect("re-encoding decodes");
        assert!(again == f, "round trip changed the value");
    }
}

/// `RelativePath::parse` on arbitrary UTF-8.
pub fn path(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(p) = RelativePath::parse(text) {
            assert_eq!(p.as_str(), text);
            for c in p.components() {
                assert!(!c.is_empty() && c != "." && c != "..");
                assert!(!c.contains(['\\', ':', '\0']));
            }
        }
    }
}

/// A receiver given the fixture offer, then arbitrary frames: never panics, releases data
/// only in order and within the declared sizes.
pub fn receiver(data: &[u8]) {
    let m = fixture_manifest();
    let mut sender = Sender::new(m.clone(), &SessionKey::from_bytes(KEY), &mut salt_rng());
    let SenderOutput::Transmit(offer) = sender.poll() else {
        unreachable!("a sender starts with its offer")
    };
    let mut r = Receiver::new(SessionKey::from_bytes(KEY), ReceiverConfig::default());
    r.handle_frame(offer).expect("the fixture offer is valid");
    let mut written = vec![0u64; m.files().len()];
    let mut drain = |r: &mut Receiver| loop {
        match r.poll() {
            ReceiverOutput::Event(Event::Offered { .. }) => r.accept().expect("accept"),
            ReceiverOutput::Event(Event::Data { file, offset, data }) => {
                assert_eq!(offset, written[file], "data in order");
                written[file] += data.len() as u64;
                assert!(written[file] <= m.files()[file].size(), "within the size");
            }
            ReceiverOutput::Idle | ReceiverOutput::Done => break,
            _ => {}
        }
    };
    drain(&mut r);
    for f in frames(data) {
        let _ = r.handle_frame(f);
        drain(&mut r);
    }
}

/// A sender of the fixture manifest given arbitrary frames: never panics, and only ever asks
/// for chunks that exist.
pub fn sender(data: &[u8]) {
    let m = fixture_manifest();
    let mut s = Sender::new(m.clone(), &SessionKey::from_bytes(KEY), &mut salt_rng());
    let drain = |s: &mut Sender| loop {
        match s.poll() {
            SenderOutput::Read(mut slot) => {
                let f = &m.files()[slot.file()];
                assert!(slot.offset() + slot.len() as u64 <= f.size());
                let content = fixture_data(f.size() as usize);
                let start = slot.offset() as usize;
                let end = start + slot.len();
                slot.data_mut().copy_from_slice(&content[start..end]);
                s.seal(slot).expect("sealing the requested slot works");
            }
            SenderOutput::Idle | SenderOutput::Done => break,
            _ => {}
        }
    };
    drain(&mut s);
    for f in frames(data) {
        let _ = s.handle_frame(f);
        drain(&mut s);
    }
}

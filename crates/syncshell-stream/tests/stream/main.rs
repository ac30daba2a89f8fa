//! Integration tests of syncshell-stream: one binary, one module per concern.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod adapter;
mod adversarial;
mod fuzz_corpus;
mod resume;
mod round_trips;

use std::collections::HashMap;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use syncshell_stream::{
    Cipher, Event, FileHash, Manifest, ManifestBuilder, Receiver, ReceiverConfig, ReceiverOutput,
    Sender, SenderOutput, SessionKey,
};

pub(crate) fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub(crate) fn random_bytes(rng: &mut ChaCha20Rng, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rng.fill_bytes(&mut v);
    v
}

pub(crate) fn session(b: u8) -> SessionKey {
    SessionKey::from_bytes([b; 32])
}

/// A manifest of in-memory files, and their contents in manifest order.
pub(crate) fn build(
    files: &[(&str, &[u8])],
    chunk_size: u32,
    cipher: Cipher,
) -> (Manifest, Vec<Vec<u8>>) {
    let mut b = ManifestBuilder::new().chunk_size(chunk_size).cipher(cipher);
    for (path, data) in files {
        b.add_file(path, data.len() as u64, FileHash::of(data))
            .unwrap();
    }
    let m = b.build().unwrap();
    let data = m
        .files()
        .iter()
        .map(|f| {
            files
                .iter()
                .find(|(p, _)| *p == f.path().as_str())
                .unwrap()
                .1
                .to_vec()
        })
        .collect();
    (m, data)
}

/// Runs the sender until it waits, reading chunks from `data`; returns the frames it sent.
pub(crate) fn drain_sender(s: &mut Sender, data: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        match s.poll() {
            SenderOutput::Transmit(f) => out.push(f),
            SenderOutput::Read(mut slot) => {
                let start = slot.offset() as usize;
                let end = start + slot.len();
                let file = slot.file();
                slot.data_mut().copy_from_slice(&data[file][start..end]);
                s.seal(slot).unwrap();
            }
            SenderOutput::Event(_) => {}
            SenderOutput::Idle | SenderOutput::Done => return out,
        }
    }
}

/// The receiving side's "disk": partial files keyed by content hash (as the adapter keeps
/// them) and the files moved into place.
#[derive(Debug, Default, Clone)]
pub(crate) struct Disk {
    pub(crate) partials: HashMap<FileHash, Vec<u8>>,
    pub(crate) placed: HashMap<String, Vec<u8>>,
    /// Plaintext released through `Event::Data`, per file index.
    pub(crate) released: HashMap<usize, u64>,
    pub(crate) finished: bool,
    pub(crate) discarded: Vec<usize>,
}

/// Drains the receiver, acting like the adapter: on an offer it resumes from `disk`
/// partials (and takes placed files with the right hash as present), then accepts.
/// Returns the frames for the sender.
pub(crate) fn drain_receiver(r: &mut Receiver, disk: &mut Disk) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        match r.poll() {
            ReceiverOutput::Transmit(f) => out.push(f),
            ReceiverOutput::Event(e) => on_event(r, disk, e),
            ReceiverOutput::Idle | ReceiverOutput::Done => return out,
        }
    }
}

fn on_event(r: &mut Receiver, disk: &mut Disk, e: Event) {
    let m = r.manifest().cloned();
    match e {
        Event::Offered { .. } => {
            let m = m.unwrap();
            for (i, f) in m.files().iter().enumerate() {
                if disk
                    .placed
                    .get(f.path().as_str())
                    .is_some_and(|d| FileHash::of(d) == *f.hash())
                {
                    r.mark_present(i).unwrap();
                } else if let Some(p) = disk.partials.get_mut(f.hash()) {
                    let usable = r.resumable_len(i, p.len() as u64) as usize;
                    p.truncate(usable);
                    for piece in p.chunks(10_000) {
                        r.resume_prefix(i, piece).unwrap();
                    }
                }
            }
            r.accept().unwrap();
        }
        Event::Data { file, offset, data } => {
            let hash = *m.unwrap().files()[file].hash();
            let p = disk.partials.entry(hash).or_default();
            assert_eq!(offset, p.len() as u64, "data arrives in order");
            p.extend_from_slice(&data);
            *disk.released.entry(file).or_default() += data.len() as u64;
        }
        Event::FileDone { file } => {
            let m = m.unwrap();
            let f = &m.files()[file];
            let data = disk.partials.remove(f.hash()).unwrap_or_default();
            assert_eq!(FileHash::of(&data), *f.hash());
            disk.placed.insert(f.path().as_str().to_owned(), data);
        }
        Event::PartialDiscarded { file } => {
            let m = m.unwrap();
            disk.partials.remove(m.files()[file].hash());
            disk.discarded.push(file);
        }
        Event::Finished => disk.finished = true,
        _ => {}
    }
}

/// Runs a whole transfer in memory; returns the receiver's disk.
pub(crate) fn transfer(manifest: &Manifest, data: &[Vec<u8>], key: u8, disk: &mut Disk) {
    let mut s = Sender::new(manifest.clone(), &session(key), &mut rand_core::OsRng);
    let mut r = Receiver::new(session(key), ReceiverConfig::default());
    loop {
        let frames = drain_sender(&mut s, data);
        let mut back = Vec::new();
        for f in frames {
            r.handle_frame(f).unwrap();
            back.extend(drain_receiver(&mut r, disk));
        }
        if back.is_empty() {
            break;
        }
        for f in back {
            s.handle_frame(f).unwrap();
        }
    }
    assert!(s.is_finished());
    assert!(r.is_finished());
}

/// A hand-written manifest encoding, for manifests the builder refuses to make.
pub(crate) fn raw_manifest(
    entries: &[(&str, u64, [u8; 32])],
    chunk_size: u32,
    cipher: u8,
) -> Vec<u8> {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    let mut out = vec![0x08, 0x01, 0x10, cipher, 0x18];
    varint(&mut out, u64::from(chunk_size));
    for (path, size, hash) in entries {
        let mut e = vec![0x0a];
        varint(&mut e, path.len() as u64);
        e.extend_from_slice(path.as_bytes());
        if *size != 0 {
            e.push(0x10);
            varint(&mut e, *size);
        }
        e.push(0x1a);
        e.push(32);
        e.extend_from_slice(hash);
        out.push(0x22);
        varint(&mut out, e.len() as u64);
        out.extend_from_slice(&e);
    }
    out
}

/// An offer frame for raw manifest bytes, with a correct key confirmation for `key`.
pub(crate) fn raw_offer(manifest: &[u8], key: u8) -> Vec<u8> {
    let salt = [0x5a; 32];
    let k = syncshell_stream::StreamKey::derive(
        &session(key),
        &syncshell_stream::ManifestHash::of(manifest),
        &salt,
        Cipher::ChaCha20Poly1305,
    );
    syncshell_stream::Frame::Offer {
        manifest: manifest.to_vec().into(),
        confirm: *k.confirmation(),
        salt,
    }
    .encode()
}

/// The stream key of an offer frame (its manifest and salt) under session key `key`.
pub(crate) fn offer_key(offer: &[u8], key: u8) -> syncshell_stream::StreamKey {
    let syncshell_stream::Frame::Offer { manifest, salt, .. } =
        syncshell_stream::Frame::decode(offer.to_vec()).unwrap()
    else {
        panic!("not an offer")
    };
    let m = Manifest::decode(&manifest).unwrap();
    syncshell_stream::StreamKey::derive(&session(key), m.hash(), &salt, m.cipher())
}

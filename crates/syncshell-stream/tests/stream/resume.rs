//! Transfers killed at seeded random points and restarted from what is on disk, ending
//! byte-identical; and, in memory, a property test that no key and nonce ever seal two
//! different plaintexts across attempts whatever changes in between.

use std::collections::{BTreeMap, HashMap};
use std::io::ErrorKind;
use std::path::Path;

use proptest::prelude::*;
use rand_chacha::rand_core::RngCore;
use syncshell_stream::{
    receive_folder, send_folder, ChannelConnection, Cipher, Error, FileHash, Frame,
    ManifestBuilder, MessageConnection, ReceiveOptions, Receiver, ReceiverConfig, SendOptions,
    Sender, SenderOutput, PARTIAL_DIR,
};

use crate::{build, drain_receiver, random_bytes, rng, session, Disk};

/// A connection that dies (both directions) at its `left`-th receive.
struct Killable<C> {
    inner: Option<C>,
    left: usize,
}

impl<C: MessageConnection> MessageConnection for Killable<C> {
    async fn send(&mut self, message: Vec<u8>) -> std::io::Result<()> {
        match &mut self.inner {
            Some(c) => c.send(message).await,
            None => Err(ErrorKind::BrokenPipe.into()),
        }
    }

    async fn recv(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        if self.left == 0 {
            self.inner = None;
            return Err(std::io::Error::new(ErrorKind::ConnectionReset, "killed"));
        }
        self.left -= 1;
        match &mut self.inner {
            Some(c) => c.recv().await,
            None => Err(ErrorKind::BrokenPipe.into()),
        }
    }
}

pub(crate) fn read_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if rel == PARTIAL_DIR {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn random_tree(root: &Path, seed: u64) {
    let mut r = rng(seed);
    for i in 0..6 {
        let dir = root
            .join(format!("pack{}", i % 2))
            .join(if i % 3 == 0 { "tex" } else { "meta" });
        std::fs::create_dir_all(&dir).unwrap();
        let len = 2_000 + (r.next_u32() % 18_000) as usize;
        std::fs::write(dir.join(format!("file{i}.bin")), random_bytes(&mut r, len)).unwrap();
    }
    std::fs::write(root.join("empty.txt"), b"").unwrap();
}

fn damage_partials(dest: &Path, r: &mut rand_chacha::ChaCha20Rng) {
    let Ok(entries) = std::fs::read_dir(dest.join(PARTIAL_DIR)) else {
        return;
    };
    for e in entries {
        let p = e.unwrap().path();
        let mut bytes = std::fs::read(&p).unwrap();
        match r.next_u32() % 6 {
            // A torn write: junk after the last whole chunk.
            0 | 1 => {
                let n = (r.next_u32() % 1500) as usize;
                bytes.extend(random_bytes(r, n));
            }
            // A write cut short.
            2 => {
                let cut = (r.next_u32() as usize) % (bytes.len() + 1);
                bytes.truncate(cut);
            }
            // A flipped bit inside the verified prefix: caught by the file hash.
            3 if !bytes.is_empty() => {
                let at = (r.next_u32() as usize) % bytes.len();
                bytes[at] ^= 0x10;
            }
            _ => {}
        }
        std::fs::write(&p, bytes).unwrap();
    }
}

fn change_a_source_byte(src: &Path, r: &mut rand_chacha::ChaCha20Rng) {
    let files: Vec<_> = read_tree(src)
        .into_iter()
        .filter(|(_, d)| !d.is_empty())
        .collect();
    let (path, mut data) = files[(r.next_u32() as usize) % files.len()].clone();
    let at = (r.next_u32() as usize) % data.len();
    data[at] ^= 0x01;
    std::fs::write(src.join(path), data).unwrap();
}

#[tokio::test]
async fn killed_and_restarted_transfers_end_byte_identical() {
    for seed in 0..6u64 {
        let src = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        random_tree(src.path(), seed);
        let mut r = rng(1000 + seed);
        let cipher = if seed % 2 == 0 {
            Cipher::ChaCha20Poly1305
        } else {
            Cipher::Aes256Gcm
        };
        let send_opts = SendOptions {
            cipher,
            chunk_size: Some(1024),
            ..SendOptions::default()
        };
        let mut attempts = 0;
        let mut kills = 0;
        loop {
            attempts += 1;
            assert!(attempts < 200, "seed {seed}: no progress");
            // Die somewhere in the first ~60 frames (the first attempt always dies: the
            // tree has more than 20 chunks); every fourth attempt runs to the end.
            let left = if attempts == 1 {
                1 + (r.next_u32() % 20) as usize
            } else if attempts % 4 == 0 {
                usize::MAX
            } else {
                1 + (r.next_u32() % 60) as usize
            };
            let (mut a, b) = ChannelConnection::pair(4);
            let mut b = Killable {
                inner: Some(b),
                left,
            };
            let key = session(seed as u8);
            let recv_opts = ReceiveOptions {
                sender: Some([seed as u8; 32]),
                ..ReceiveOptions::default()
            };
            // Each side closes its end when it returns, as a real caller would.
            let (sent, received) = tokio::join!(
                async {
                    let r = send_folder(&mut a, &key, src.path(), &send_opts).await;
                    drop(a);
                    r
                },
                async {
                    let r = receive_folder(&mut b, &key, dest.path(), &recv_opts).await;
                    drop(b);
                    r
                },
            );
            match received {
                Ok(report) => {
                    sent.unwrap();
                    assert_eq!(report.manifest.files().len(), 7);
                    break;
                }
                Err(e) => {
                    assert!(sent.is_err(), "seed {seed}: sender finished alone");
                    assert!(
                        matches!(e, Error::Io(_) | Error::HashMismatch { .. }),
                        "seed {seed}: {e}"
                    );
                    kills += 1;
                }
            }
            // Between attempts: the receiver "crashed" mid-write, and sometimes the source
            // changed (a new manifest, so a new key).
            damage_partials(dest.path(), &mut r);
            if r.next_u32() % 5 == 0 {
                change_a_source_byte(src.path(), &mut r);
            }
        }
        assert!(kills > 0, "seed {seed}: never interrupted");
        assert_eq!(read_tree(dest.path()), read_tree(src.path()), "seed {seed}");
        assert!(
            !dest.path().join(PARTIAL_DIR).exists(),
            "partials left behind"
        );
    }
}

// ---------------------------------------------------------------------------------------
// In memory: every (key, nonce) maps to one plaintext across attempts.

/// Runs one attempt that stops after `stop_after` chunk frames, recording every sealed
/// (key id, file, chunk, last) -> plaintext hash.
fn attempt(
    files: &[(String, Vec<u8>)],
    chunk: u32,
    stop_after: usize,
    disk: &mut Disk,
    seen: &mut HashMap<([u8; 32], u32, u32, bool), [u8; 32]>,
) -> bool {
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, d)| (p.as_str(), d.as_slice()))
        .collect();
    let (m, data) = build(&refs, chunk, Cipher::ChaCha20Poly1305);
    let mut s = Sender::new(m.clone(), &session(1), &mut rand_core::OsRng);
    let SenderOutput::Transmit(offer) = s.poll() else {
        panic!("the offer comes first")
    };
    let key_id = *crate::offer_key(&offer, 1).confirmation();
    let mut r = Receiver::new(session(1), ReceiverConfig::default());
    let mut to_r: Vec<Vec<u8>> = vec![offer];
    let mut chunks = 0;
    loop {
        loop {
            match s.poll() {
                SenderOutput::Transmit(f) => to_r.push(f),
                SenderOutput::Read(mut slot) => {
                    let start = slot.offset() as usize;
                    let end = start + slot.len();
                    let file = slot.file();
                    slot.data_mut().copy_from_slice(&data[file][start..end]);
                    let last = slot.offset() + slot.len() as u64 == m.files()[slot.file()].size()
                        && u64::from(slot.index()) + 1 == m.chunk_count(slot.file());
                    let id = (key_id, slot.file() as u32, slot.index(), last);
                    let h = *blake3::hash(slot.data_mut()).as_bytes();
                    if let Some(prev) = seen.insert(id, h) {
                        assert_eq!(prev, h, "a key and nonce sealed two plaintexts");
                    }
                    s.seal(slot).unwrap();
                }
                SenderOutput::Event(_) => {}
                SenderOutput::Idle | SenderOutput::Done => break,
            }
        }
        if to_r.is_empty() {
            return r.is_finished();
        }
        let mut back = Vec::new();
        for f in to_r.drain(..) {
            if matches!(
                syncshell_stream::Frame::decode(f.clone()),
                Ok(syncshell_stream::Frame::Chunk { .. })
            ) {
                if chunks == stop_after {
                    return false;
                }
                chunks += 1;
            }
            r.handle_frame(f).unwrap();
            back.extend(drain_receiver(&mut r, disk));
        }
        for f in back {
            s.handle_frame(f).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn no_key_and_nonce_ever_seal_two_plaintexts(
        sizes in prop::collection::vec(0usize..5000, 1..4),
        plan in prop::collection::vec((0usize..12, any::<bool>(), any::<u16>()), 1..6),
        seed in any::<u64>(),
    ) {
        let mut r = rng(seed);
        let mut files: Vec<(String, Vec<u8>)> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| (format!("f{i}"), random_bytes(&mut r, n)))
            .collect();
        let mut disk = Disk::default();
        let mut seen = HashMap::new();
        for (stop, change, at) in plan {
            attempt(&files, 1024, stop, &mut disk, &mut seen);
            if change {
                let i = at as usize % files.len();
                if !files[i].1.is_empty() {
                    let j = at as usize % files[i].1.len();
                    files[i].1[j] ^= 0x80;
                }
            }
        }
        prop_assert!(attempt(&files, 1024, usize::MAX, &mut disk, &mut seen));
        for (p, d) in &files {
            prop_assert_eq!(&disk.placed[p], d);
        }
    }
}

/// A member who sends `claimed` content under the hash of `real`, and stops after `chunks`
/// chunks: what an attacker does to plant a prefix for someone else's transfer.
async fn send_a_poisoned_prefix(
    conn: &mut ChannelConnection,
    real: &[u8],
    chunks: usize,
    key: &syncshell_stream::SessionKey,
) {
    let mut b = ManifestBuilder::new().chunk_size(1024);
    b.add_file("mod.bin", real.len() as u64, FileHash::of(real))
        .unwrap();
    let m = b.build().unwrap();
    let garbage = vec![0xeeu8; real.len()];
    let mut s = Sender::new(m, key, &mut rand_core::OsRng);
    let mut sent = 0;
    loop {
        match s.poll() {
            SenderOutput::Transmit(f) => {
                if matches!(Frame::decode(f.clone()), Ok(Frame::Chunk { .. })) {
                    if sent == chunks {
                        return;
                    }
                    sent += 1;
                }
                conn.send(f).await.unwrap();
            }
            SenderOutput::Read(mut slot) => {
                let n = slot.len();
                slot.data_mut().copy_from_slice(&garbage[..n]);
                s.seal(slot).unwrap();
            }
            SenderOutput::Event(_) => {}
            SenderOutput::Idle => {
                let f = conn.recv().await.unwrap().unwrap();
                s.handle_frame(f).unwrap();
            }
            SenderOutput::Done => return,
        }
    }
}

#[tokio::test]
async fn a_partial_from_another_sender_is_not_resumed() {
    let src = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let real = random_bytes(&mut rng(90), 10 * 1024);
    std::fs::write(src.path().join("mod.bin"), &real).unwrap();
    let (mallory, honest) = ([0x4d; 32], [0x48; 32]);
    let key = session(9);
    let opts = |sender| ReceiveOptions {
        sender: Some(sender),
        ..ReceiveOptions::default()
    };

    // Mallory sends 6 chunks of garbage under the hash of the real file, then hangs up.
    let (mut a, mut b) = ChannelConnection::pair(16);
    let mallorys = opts(mallory);
    let (_, got) = tokio::join!(
        async {
            send_a_poisoned_prefix(&mut a, &real, 6, &key).await;
            drop(a);
        },
        receive_folder(&mut b, &key, dest.path(), &mallorys),
    );
    assert!(matches!(got, Err(Error::ConnectionClosed)), "{got:?}");
    assert!(std::fs::read_dir(dest.path().join(PARTIAL_DIR))
        .unwrap()
        .any(|e| std::fs::metadata(e.unwrap().path()).unwrap().len() == 6 * 1024));

    // The honest member's transfer of the real file is not resumed from it: it starts over
    // and succeeds.
    let (mut a, mut b) = ChannelConnection::pair(16);
    let (sent, got) = tokio::join!(
        async {
            let so = SendOptions {
                chunk_size: Some(1024),
                ..SendOptions::default()
            };
            let r = send_folder(&mut a, &key, src.path(), &so).await;
            drop(a);
            r
        },
        async {
            let r = receive_folder(&mut b, &key, dest.path(), &opts(honest)).await;
            drop(b);
            r
        },
    );
    let got = got.unwrap();
    sent.unwrap();
    assert_eq!(got.bytes_received, real.len() as u64, "started over");
    assert_eq!(std::fs::read(dest.path().join("mod.bin")).unwrap(), real);
}

#[tokio::test]
async fn a_partial_is_resumed_for_the_same_sender_only() {
    let dest = tempfile::tempdir().unwrap();
    let real = random_bytes(&mut rng(91), 10 * 1024);
    let key = session(9);
    let from = |sender| ReceiveOptions {
        sender,
        ..ReceiveOptions::default()
    };
    let partial_lens = || -> Vec<u64> {
        std::fs::read_dir(dest.path().join(PARTIAL_DIR))
            .map(|d| {
                d.map(|e| std::fs::metadata(e.unwrap().path()).unwrap().len())
                    .collect()
            })
            .unwrap_or_default()
    };
    // Sender A leaves 3 chunks; an unknown sender leaves nothing behind at all.
    for (sender, chunks) in [(Some([0xa; 32]), 3), (None, 4)] {
        let (mut a, mut b) = ChannelConnection::pair(16);
        let options = from(sender);
        let (_, got) = tokio::join!(
            async {
                send_a_poisoned_prefix(&mut a, &real, chunks, &key).await;
                drop(a);
            },
            receive_folder(&mut b, &key, dest.path(), &options),
        );
        assert!(got.is_err());
        assert_eq!(partial_lens(), vec![3 * 1024], "{sender:?}");
    }
    // Sender A comes back: its request starts after its 3 chunks.
    let mut builder = ManifestBuilder::new().chunk_size(1024);
    builder
        .add_file("mod.bin", real.len() as u64, FileHash::of(&real))
        .unwrap();
    let mut s = Sender::new(builder.build().unwrap(), &key, &mut rand_core::OsRng);
    let (mut a, mut b) = ChannelConnection::pair(16);
    let SenderOutput::Transmit(offer) = s.poll() else {
        panic!()
    };
    a.send(offer).await.unwrap();
    let options = from(Some([0xa; 32]));
    let (request, _) = tokio::join!(
        async {
            let r = a.recv().await.unwrap().unwrap();
            drop(a);
            r
        },
        receive_folder(&mut b, &key, dest.path(), &options),
    );
    let Ok(Frame::Request { wants, .. }) = Frame::decode(request) else {
        panic!("a request")
    };
    assert_eq!(wants[0].from_chunk, 3);
}

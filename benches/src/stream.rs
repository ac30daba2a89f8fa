//! syncshell-stream: fixtures and ratio lines.

use std::hint::black_box;
use std::path::Path;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use syncshell_stream::{
    chunk_nonce, receive_folder, send_folder, ChunkOpener, ChunkSealer, Cipher, LengthPrefixed,
    ManifestHash, ReceiveOptions, SendOptions, SessionKey, StreamKey, SALT_LEN, TAG_LEN,
};

use crate::{compare, Ratio};

/// Chunk size of the AEAD ratio lines: the default, 64 KiB.
pub const CHUNK: usize = 64 * 1024;
/// Chunks per measured call: 4 MiB of plaintext.
pub const CHUNKS: usize = 64;

/// `CHUNKS` buffers of `CHUNK` bytes of deterministic data, and a key for `cipher`.
#[derive(Debug)]
pub struct AeadFixture {
    /// The chunk buffers (sealed and opened in place, so they are plaintext between calls).
    pub chunks: Vec<Vec<u8>>,
    /// Tags, one per chunk.
    pub tags: Vec<[u8; TAG_LEN]>,
    /// The raw 32-byte key of the stream key (derived the way docs/spec/stream.md section 4
    /// says: HKDF-SHA256 with the manifest hash and the offer salt as the extract salt).
    pub raw_key: [u8; 32],
    /// Our stream key over the same raw key.
    pub key: StreamKey,
}

/// Builds an [`AeadFixture`].
pub fn aead_fixture(cipher: Cipher) -> AeadFixture {
    let session = [0x11u8; 32];
    let mh = ManifestHash::of(b"bench manifest");
    let offer_salt = [0x33u8; SALT_LEN];
    let extract_salt = [mh.as_bytes().as_slice(), offer_salt.as_slice()].concat();
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(&extract_salt), &session);
    let mut raw_key = [0u8; 32];
    if hk
        .expand(syncshell_stream::KEY_INFO.as_bytes(), &mut raw_key)
        .is_err()
    {
        unreachable!("32 bytes of HKDF-SHA256 output");
    }
    let chunks = (0..CHUNKS)
        .map(|c| (0..CHUNK).map(|i| (i ^ c) as u8).collect())
        .collect();
    AeadFixture {
        chunks,
        tags: vec![[0; TAG_LEN]; CHUNKS],
        raw_key,
        key: StreamKey::derive(&SessionKey::from_bytes(session), &mh, &offer_salt, cipher),
    }
}

/// Seals every chunk of `f` with our STREAM sealer, then opens them with our opener.
pub fn stream_seal_open(f: &mut AeadFixture) {
    let mut sealer = ChunkSealer::new(&f.key, 0);
    let last = f.chunks.len() - 1;
    for (i, (chunk, tag)) in f.chunks.iter_mut().zip(f.tags.iter_mut()).enumerate() {
        if i == last {
            break;
        }
        *tag = sealer.seal_next(chunk).unwrap_or_default();
    }
    if let (Some(chunk), Some(tag)) = (f.chunks.last_mut(), f.tags.last_mut()) {
        *tag = sealer.seal_last(chunk).unwrap_or_default();
    }
    let mut opener = ChunkOpener::new(&f.key, 0);
    for (i, (chunk, tag)) in f.chunks.iter_mut().zip(f.tags.iter()).enumerate() {
        let ok = if i == last {
            opener.open_last(chunk, tag)
        } else {
            opener.open_next(chunk, tag)
        };
        assert!(ok.is_ok());
    }
}

/// The same work with the bare AEAD crate: `encrypt_in_place_detached` then
/// `decrypt_in_place_detached` over the same buffers and nonces.
pub fn raw_seal_open<A: AeadInPlace>(aead: &A, f: &mut AeadFixture) {
    let last = f.chunks.len() - 1;
    for (i, (chunk, tag)) in f.chunks.iter_mut().zip(f.tags.iter_mut()).enumerate() {
        let n = chunk_nonce(0, i as u32, i == last);
        match aead.encrypt_in_place_detached(n.as_slice().into(), &[], chunk) {
            Ok(t) => tag.copy_from_slice(&t),
            Err(_) => unreachable!("64 KiB is within every AEAD's limit"),
        }
    }
    for (i, (chunk, tag)) in f.chunks.iter_mut().zip(f.tags.iter()).enumerate() {
        let n = chunk_nonce(0, i as u32, i == last);
        let ok =
            aead.decrypt_in_place_detached(n.as_slice().into(), &[], chunk, tag.as_slice().into());
        assert!(ok.is_ok());
    }
}

/// The stream lines of the ratio report.
pub fn ratios() -> Vec<Ratio> {
    vec![
        aead_ratio("stream_chacha_vs_raw_aead", Cipher::ChaCha20Poly1305),
        aead_ratio("stream_aesgcm_vs_raw_aead", Cipher::Aes256Gcm),
        peak_rss_in_child(),
    ]
}

/// Our seal + open of 4 MiB in 64 KiB chunks against the bare crate on the same buffers.
/// Throughput in MiB/s; higher is better, 1.0 means no overhead.
fn aead_ratio(name: &'static str, cipher: Cipher) -> Ratio {
    let mut ours_f = aead_fixture(cipher);
    let mut base_f = aead_fixture(cipher);
    let (ours, base) = match cipher {
        Cipher::ChaCha20Poly1305 => {
            let raw = chacha20poly1305::ChaCha20Poly1305::new(&base_f.raw_key.into());
            compare(
                15,
                4,
                || stream_seal_open(black_box(&mut ours_f)),
                || raw_seal_open(&raw, black_box(&mut base_f)),
            )
        }
        Cipher::Aes256Gcm => {
            let raw = aes_gcm::Aes256Gcm::new(&base_f.raw_key.into());
            compare(
                15,
                4,
                || stream_seal_open(black_box(&mut ours_f)),
                || raw_seal_open(&raw, black_box(&mut base_f)),
            )
        }
    };
    // Both must have round-tripped to the same plaintext, and sealed it to the same tags:
    // the bare AEAD ran under the key the spec derives, not some other key.
    assert_eq!(ours_f.chunks, base_f.chunks);
    assert_eq!(
        ours_f.tags, base_f.tags,
        "raw_key differs from the stream key"
    );
    let mib = (CHUNK * CHUNKS) as f64 / (1024.0 * 1024.0);
    Ratio::new(
        name,
        (mib / ours.as_secs_f64()).round(),
        (mib / base.as_secs_f64()).round(),
        "MiB/s sealed+opened",
    )
}

/// Peak resident memory, in MiB, from `/proc/self/status` (`VmHWM`).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Writes `len` bytes of cheap pseudo-random data to `path`, 1 MiB at a time.
fn generate_file(path: &Path, len: u64) -> std::io::Result<()> {
    use std::io::Write;
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut block = vec![0u8; 1 << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut left = len;
    while left > 0 {
        for b in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let bytes = x.to_le_bytes();
            let n = b.len();
            b.copy_from_slice(bytes.get(..n).unwrap_or_default());
        }
        let n = left.min(block.len() as u64) as usize;
        w.write_all(block.get(..n).unwrap_or_default())?;
        left -= n as u64;
    }
    w.flush()
}

/// The argument that makes the `ratios` binary measure only [`peak_rss_1gib`], in a fresh
/// process whose peak memory no earlier benchmark has touched.
pub const PEAK_RSS_CHILD_ARG: &str = "--only-stream-peak-rss";

/// Runs [`peak_rss_1gib`] in a child process (the current executable, with
/// [`PEAK_RSS_CHILD_ARG`]), because memory freed by earlier benchmarks can stay resident in
/// this one and would be counted.
fn peak_rss_in_child() -> Ratio {
    let out = std::env::current_exe().and_then(|exe| {
        std::process::Command::new(exe)
            .arg(PEAK_RSS_CHILD_ARG)
            .output()
    });
    let ours = out.ok().filter(|o| o.status.success()).and_then(|o| {
        let line = String::from_utf8_lossy(&o.stdout)
            .lines()
            .last()?
            .to_owned();
        let v: serde_json::Value = serde_json::from_str(&line).ok()?;
        v.get("ours")?.as_f64()
    });
    let Some(ours) = ours else {
        unreachable!("the peak-memory child process failed")
    };
    Ratio::new("stream_peak_rss_mib_1gib", ours, 1024.0, "MiB")
}

/// Streams a generated 1 GiB file through an in-memory pipe, sender to receiver to disk,
/// and reports the process's peak resident memory during the transfer. The peak is reset
/// first (`/proc/self/clear_refs`); what the process already holds counts, so run it in a
/// fresh process (see [`PEAK_RSS_CHILD_ARG`]). Ratio: peak MiB / 1024 MiB of file; lower is
/// better.
pub fn peak_rss_1gib() -> Ratio {
    const LEN: u64 = 1 << 30;
    let Ok(dir) = tempfile::tempdir() else {
        unreachable!("a temporary folder")
    };
    let src = dir.path().join("src");
    let dest = dir.path().join("dest");
    let made = std::fs::create_dir_all(&src)
        .and_then(|_| std::fs::create_dir_all(&dest))
        .and_then(|_| generate_file(&src.join("pack.bin"), LEN));
    assert!(made.is_ok(), "fixture: {made:?}");
    // Writing "5" resets VmHWM to the current resident size (Linux 4.0 and later).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    else {
        unreachable!("a tokio runtime")
    };
    let key = SessionKey::from_bytes([0x22; 32]);
    let result = rt.block_on(async {
        let (a, b) = tokio::io::duplex(256 * 1024);
        let (mut a, mut b) = (LengthPrefixed::new(a), LengthPrefixed::new(b));
        let (so, ro) = (SendOptions::default(), ReceiveOptions::default());
        let (sent, got) = tokio::join!(
            send_folder(&mut a, &key, &src, &so),
            receive_folder(&mut b, &key, &dest, &ro),
        );
        sent.and(got)
    });
    let peak = peak_rss_mib().unwrap_or(f64::NAN);
    drop(rt);
    let received = std::fs::metadata(dest.join("pack.bin")).map(|m| m.len());
    assert!(
        matches!((&result, &received), (Ok(r), Ok(LEN)) if r.bytes_received == LEN),
        "the 1 GiB transfer failed: {result:?} {received:?}"
    );
    Ratio::new("stream_peak_rss_mib_1gib", peak.round(), 1024.0, "MiB")
}

//! Packs: a folder sealed into one file for a 32-byte key, the offline form of a transfer.
//!
//! A pack is the recording of what a stream sender sends to a receiver that starts with an
//! empty folder: a header, then the sender's frames, each behind a 4-byte big-endian length.
//! Sealing runs the sans-IO sender against an in-process receiver, which checks every chunk
//! and file hash before the pack is kept. Opening feeds the recorded frames to a fresh
//! receiver; its answers are not needed, since the recording already holds what the sender
//! sent back. Files are written in a staging folder and moved into place only once every one
//! of them matched its hash, so a wrong key or a damaged pack places nothing.
//!
//! Layout (version 1):
//!
//! ```text
//! magic   8 bytes  89 53 53 50 41 43 4B 0A  ("\x89SSPACK\n")
//! version 4 bytes  big-endian u32, 1
//! frames  repeated until the end of the file:
//!           length 4 bytes big-endian u32, 1 ..= syncshell_stream::MAX_FRAME_LEN
//!           frame  `length` bytes: a syncshell-stream frame
//! ```
//!
//! The first frame is the offer (manifest, key confirmation and the offer's random salt, which
//! keys this pack and no other: sealing one folder twice gives two different packs). Then come
//! the chunk frames of every file the receiver requests, in manifest order, each file's chunks
//! in order. The receiver requests every file except one whose content hash equals that of an
//! earlier entry: such a file is not in the pack and is copied from the earlier one. Nothing
//! follows the last chunk; a pack that ends early, or has bytes after its end, is refused.
//! Frames are stream frames of version 2: a pack sealed with version 1 frames (before offers
//! had a salt) is refused with a message that says to seal it again.

use std::collections::{HashMap, VecDeque};
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rand_core::{CryptoRng, OsRng, RngCore};
use serde_json::json;
use syncshell_stream::{
    build_manifest, ChunkSlot, Cipher, Error as StreamError, Event, FileHash, Manifest, Receiver,
    ReceiverConfig, ReceiverOutput, Sender, SenderOutput, SessionKey, FRAME_VERSION, KEY_LEN,
    MAX_FRAME_LEN, PARTIAL_DIR,
};

use crate::cli::{CipherArg, PackKey, PackKeyArgs, PackOpenArgs, PackSealArgs};
use crate::files::{create_new, read, refuse_existing, shown, write_new};
use crate::output::{CliError, Context, Outcome};

/// The first bytes of a pack.
const MAGIC: [u8; 8] = *b"\x89SSPACK\n";
/// The pack format version this tool writes and reads.
const VERSION: u32 = 1;

fn session_key(key: &PackKey) -> Result<SessionKey, CliError> {
    let bytes: Vec<u8> = match (&key.key_hex, &key.key_file) {
        (Some(text), _) => hex::decode(text.trim())
            .map_err(|_| CliError::new("--key-hex must be 64 hexadecimal digits"))?,
        (None, Some(path)) => read(path, "key file")?,
        (None, None) => return Err(CliError::new("give --key-hex or --key-file")),
    };
    let key: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
        CliError::new(match &key.key_file {
            Some(path) if key.key_hex.is_none() => format!(
                "the key file {} must hold exactly 32 raw bytes (it has {})",
                shown(path),
                bytes.len()
            ),
            _ => format!(
                "--key-hex must be 64 hexadecimal digits (32 bytes), not {} bytes",
                bytes.len()
            ),
        })
    })?;
    Ok(SessionKey::from_bytes(key))
}

pub(crate) fn key(args: &PackKeyArgs) -> Result<Outcome, CliError> {
    let mut key = zeroize::Zeroizing::new([0u8; KEY_LEN]);
    OsRng.fill_bytes(key.as_mut());
    match &args.out {
        Some(path) => {
            write_new(path, key.as_ref(), "pack key file", true)?;
            Ok(
                Outcome::new(json!({ "key_file": path.display().to_string() }))
                    .field("key file", path.display()),
            )
        }
        None => {
            let text = hex::encode(key.as_ref());
            Ok(Outcome::new(json!({ "key_hex": text })).line(text))
        }
    }
}

/// The files the receiver does not request because an earlier entry has the same content:
/// `(earlier, later)` pairs. Also refuses a manifest naming the staging folder.
fn duplicates(manifest: &Manifest) -> Result<Vec<(usize, usize)>, CliError> {
    let mut first: HashMap<FileHash, usize> = HashMap::new();
    let mut copies = Vec::new();
    for (i, f) in manifest.files().iter().enumerate() {
        if f.path()
            .components()
            .next()
            .is_some_and(|c| c.eq_ignore_ascii_case(PARTIAL_DIR))
        {
            return Err(CliError::new(format!(
                "the path {:?} uses the reserved folder name {PARTIAL_DIR}",
                f.path().as_str()
            )));
        }
        match first.get(f.hash()) {
            Some(&j) => copies.push((j, i)),
            None => {
                first.insert(*f.hash(), i);
            }
        }
    }
    Ok(copies)
}

/// After an offer: marks the duplicates present and requests everything else.
fn accept_offer(rx: &mut Receiver) -> Result<Vec<(usize, usize)>, CliError> {
    let Some(manifest) = rx.manifest().cloned() else {
        return Err(CliError::new("the pack has no offer"));
    };
    let copies = duplicates(&manifest)?;
    for &(_, later) in &copies {
        rx.mark_present(later).map_err(pack_error)?;
    }
    rx.accept().map_err(pack_error)?;
    Ok(copies)
}

/// A stream error met while checking or opening a pack, in the user's terms.
fn pack_error(e: StreamError) -> CliError {
    match e {
        StreamError::KeyMismatch => {
            CliError::new("wrong key, or the pack was altered (key confirmation failed)")
        }
        StreamError::Authentication => {
            CliError::new("the pack is damaged or was altered: a chunk failed authentication")
        }
        StreamError::UnsafePath { .. } | StreamError::PathCollision { .. } => {
            CliError::new(format!("the pack names a path that is not safe: {e}"))
        }
        // Packs sealed before stream frame version 2 (no offer salt) are refused here.
        StreamError::UnsupportedVersion { what, version } => CliError::new(format!(
            "the pack's {what} has version {version} (this tool reads frame version \
             {FRAME_VERSION}): it was sealed by another version of syncshell, or is damaged; \
             seal the folder again with this one"
        )),
        StreamError::OfferTooLarge { .. } | StreamError::Io(_) => CliError::new(e.to_string()),
        other => CliError::new(format!("the pack is damaged: {other}")),
    }
}

fn cipher_of(arg: CipherArg) -> Cipher {
    match arg {
        CipherArg::ChaCha20Poly1305 => Cipher::ChaCha20Poly1305,
        CipherArg::Aes256Gcm => Cipher::Aes256Gcm,
    }
}

fn cipher_name(cipher: Cipher) -> &'static str {
    match cipher {
        Cipher::ChaCha20Poly1305 => "chacha20-poly1305",
        Cipher::Aes256Gcm => "aes-256-gcm",
    }
}

fn write_frame(out: &mut impl Write, frame: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(frame.len())
        .ok()
        .filter(|&l| l as usize <= MAX_FRAME_LEN)
        .ok_or_else(|| std::io::Error::new(ErrorKind::InvalidInput, "frame too large"))?;
    out.write_all(&len.to_be_bytes())?;
    out.write_all(frame)
}

/// Reads the next frame; `None` at a clean end of the file.
fn read_frame(input: &mut impl Read) -> Result<Option<Vec<u8>>, CliError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < len.len() {
        let n = match input.read(len.get_mut(got..).unwrap_or_default()) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(CliError::new(format!("cannot read the pack: {e}"))),
        };
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(CliError::new("the pack is truncated"))
            };
        }
        got += n;
    }
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 || len > MAX_FRAME_LEN {
        return Err(CliError::new(format!(
            "the pack is damaged: a frame length of {len} bytes is out of range"
        )));
    }
    let mut frame = vec![0u8; len];
    input.read_exact(&mut frame).map_err(|e| {
        if e.kind() == ErrorKind::UnexpectedEof {
            CliError::new("the pack is truncated")
        } else {
            CliError::new(format!("cannot read the pack: {e}"))
        }
    })?;
    Ok(Some(frame))
}

fn changed(manifest: &Manifest, file: usize) -> CliError {
    let path = manifest
        .files()
        .get(file)
        .map_or("?", |f| f.path().as_str());
    CliError::new(format!("{path:?} changed while it was being sealed"))
}

/// Fills a sender's slot from the source folder.
fn read_slot(
    manifest: &Manifest,
    folder: &Path,
    source: &mut Option<(usize, File)>,
    slot: &mut ChunkSlot,
) -> Result<(), CliError> {
    let Some(entry) = manifest.files().get(slot.file()) else {
        return Err(CliError::new(
            "the sender asked for a file not in the manifest",
        ));
    };
    if source.as_ref().map(|s| s.0) != Some(slot.file()) {
        let path = entry.path().under(folder);
        let file = File::open(&path).context(format!("cannot read {}", shown(&path)))?;
        let len = file
            .metadata()
            .context(format!("cannot read {}", shown(&path)))?
            .len();
        if len != entry.size() {
            return Err(changed(manifest, slot.file()));
        }
        *source = Some((slot.file(), file));
    }
    let Some((_, file)) = source.as_mut() else {
        return Err(CliError::new("no source file is open"));
    };
    let read = file
        .seek(SeekFrom::Start(slot.offset()))
        .and_then(|_| file.read_exact(slot.data_mut()));
    match read {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => Err(changed(manifest, slot.file())),
        Err(e) => Err(CliError::new(format!(
            "cannot read {:?}: {e}",
            entry.path().as_str()
        ))),
    }
}

/// Runs the sender against an in-process receiver and records the sender's frames. `rng`
/// draws the offer's salt: the OS RNG when sealing, a seeded one for the known-answer vectors.
fn record(
    manifest: &Manifest,
    folder: &Path,
    session: &SessionKey,
    rng: &mut (impl CryptoRng + RngCore),
    out: &mut impl Write,
) -> Result<(), CliError> {
    let io = |e: std::io::Error| CliError::new(format!("cannot write the pack: {e}"));
    out.write_all(&MAGIC).map_err(io)?;
    out.write_all(&VERSION.to_be_bytes()).map_err(io)?;
    let mut sender = Sender::new(manifest.clone(), session, rng);
    let mut check = Receiver::new(session.clone(), ReceiverConfig::default());
    let mut replies: VecDeque<Vec<u8>> = VecDeque::new();
    let mut source = None;
    let sealing = |e: StreamError| match e {
        StreamError::HashMismatch { file } => changed(manifest, file),
        other => CliError::new(format!("cannot seal: {other}")),
    };
    loop {
        match sender.poll() {
            SenderOutput::Transmit(frame) => {
                write_frame(out, &frame).map_err(io)?;
                check.handle_frame(frame).map_err(sealing)?;
                loop {
                    match check.poll() {
                        ReceiverOutput::Transmit(reply) => replies.push_back(reply),
                        ReceiverOutput::Event(Event::Offered { .. }) => {
                            accept_offer(&mut check)?;
                        }
                        ReceiverOutput::Event(_) => {}
                        ReceiverOutput::Idle | ReceiverOutput::Done => break,
                    }
                }
            }
            SenderOutput::Read(mut slot) => {
                read_slot(manifest, folder, &mut source, &mut slot)?;
                sender.seal(slot).map_err(sealing)?;
            }
            SenderOutput::Event(_) => {}
            SenderOutput::Idle => match replies.pop_front() {
                Some(reply) => sender.handle_frame(reply).map_err(sealing)?,
                None => return Err(CliError::new("cannot seal: the transfer stalled")),
            },
            SenderOutput::Done => break,
        }
    }
    if !(sender.is_finished() && check.is_finished()) {
        return Err(CliError::new("cannot seal: the transfer did not finish"));
    }
    out.flush().map_err(io)
}

pub(crate) fn seal(args: &PackSealArgs) -> Result<Outcome, CliError> {
    let session = session_key(&args.key)?;
    match fs::metadata(&args.folder) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(CliError::new(format!(
                "{} is not a folder",
                shown(&args.folder)
            )))
        }
        Err(e) => {
            return Err(CliError::new(format!(
                "cannot read the folder {}: {e}",
                shown(&args.folder)
            )))
        }
    }
    refuse_existing(&args.out, "pack")?;
    let manifest = build_manifest(&args.folder, args.chunk_size, cipher_of(args.cipher))
        .context(format!("cannot seal {}", shown(&args.folder)))?;
    duplicates(&manifest)?;
    let name = args
        .out
        .file_name()
        .map_or_else(|| "pack".into(), |n| n.to_string_lossy().into_owned());
    let tmp = args
        .out
        .with_file_name(format!(".{name}.{:016x}.tmp", OsRng.next_u64()));
    let result = (|| {
        let file = create_new(&tmp, false)
            .context(format!("cannot write the pack {}", shown(&args.out)))?;
        let mut out = BufWriter::new(file);
        record(&manifest, &args.folder, &session, &mut OsRng, &mut out)?;
        let file = out
            .into_inner()
            .map_err(|e| CliError::new(format!("cannot write the pack: {}", e.error())))?;
        file.sync_all().context("cannot write the pack")?;
        let size = file.metadata().context("cannot write the pack")?.len();
        fs::rename(&tmp, &args.out).context(format!("cannot write {}", shown(&args.out)))?;
        Ok(size)
    })();
    let size = match result {
        Ok(size) => size,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let hash = hex::encode(manifest.hash().as_bytes());
    Ok(Outcome::new(json!({
        "pack_file": args.out.display().to_string(),
        "files": manifest.files().len(),
        "bytes": manifest.total_size(),
        "pack_bytes": size,
        "chunk_size": manifest.chunk_size(),
        "cipher": cipher_name(manifest.cipher()),
        "manifest_hash": hash,
    }))
    .field("pack", args.out.display())
    .field(
        "contents",
        format!(
            "{} files, {} bytes",
            manifest.files().len(),
            manifest.total_size()
        ),
    )
    .field("pack size", format!("{size} bytes"))
    .field("cipher", cipher_name(manifest.cipher()))
    .field("manifest", hash))
}

/// The file being written while opening: its index, handle and length so far.
type Writing = Option<(usize, File, u64)>;

fn staged(manifest: &Manifest, staging: &Path, file: usize) -> Result<PathBuf, CliError> {
    let entry = manifest
        .files()
        .get(file)
        .ok_or_else(|| CliError::new("the pack names a file not in its manifest"))?;
    let path = entry.path().under(staging);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).context(format!("cannot create {}", shown(parent)))?;
    }
    Ok(path)
}

fn write_data(
    manifest: &Manifest,
    staging: &Path,
    writing: &mut Writing,
    file: usize,
    offset: u64,
    data: &[u8],
) -> Result<(), CliError> {
    if writing.as_ref().map(|w| w.0) != Some(file) {
        let path = staged(manifest, staging, file)?;
        let handle = create_new(&path, false).context(format!("cannot create {}", shown(&path)))?;
        *writing = Some((file, handle, 0));
    }
    let Some((_, handle, written)) = writing.as_mut() else {
        return Err(CliError::new("no file is open"));
    };
    if *written != offset {
        return Err(CliError::new("the pack's data is out of order"));
    }
    handle.write_all(data).context("cannot write a file")?;
    *written += data.len() as u64;
    Ok(())
}

fn file_done(
    manifest: &Manifest,
    staging: &Path,
    writing: &mut Writing,
    file: usize,
) -> Result<(), CliError> {
    match writing.take() {
        Some((w, handle, _)) if w == file => handle.sync_all().context("cannot write a file"),
        _ => {
            // An empty file has no data.
            let path = staged(manifest, staging, file)?;
            create_new(&path, false)
                .map(drop)
                .context(format!("cannot create {}", shown(&path)))
        }
    }
}

/// Feeds the recorded frames to a receiver, writing the files under `staging`.
fn replay(
    input: &mut impl Read,
    session: &SessionKey,
    staging: &Path,
) -> Result<Manifest, CliError> {
    let mut header = [0u8; 12];
    input.read_exact(&mut header).map_err(|e| {
        if e.kind() == ErrorKind::UnexpectedEof {
            CliError::new("not a syncshell pack (too short)")
        } else {
            CliError::new(format!("cannot read the pack: {e}"))
        }
    })?;
    let (magic, version) = header.split_at(MAGIC.len());
    if magic != MAGIC {
        return Err(CliError::new("not a syncshell pack"));
    }
    let version = u32::from_be_bytes(version.try_into().unwrap_or_default());
    if version != VERSION {
        return Err(CliError::new(format!(
            "pack version {version} is not supported (this tool reads version {VERSION})"
        )));
    }
    let mut rx = Receiver::new(session.clone(), ReceiverConfig::default());
    let mut offered: Option<(Manifest, Vec<(usize, usize)>)> = None;
    let mut writing: Writing = None;
    let no_offer = || CliError::new("the pack is damaged: data before its offer");
    loop {
        match rx.poll() {
            // The recording already holds the sender's answer to whatever the receiver says.
            ReceiverOutput::Transmit(_) => {}
            ReceiverOutput::Event(Event::Offered { .. }) => {
                let copies = accept_offer(&mut rx)?;
                offered = rx.manifest().cloned().map(|m| (m, copies));
            }
            ReceiverOutput::Event(Event::Data { file, offset, data }) => {
                let (manifest, _) = offered.as_ref().ok_or_else(no_offer)?;
                write_data(manifest, staging, &mut writing, file, offset, &data)?;
            }
            ReceiverOutput::Event(Event::FileDone { file }) => {
                let (manifest, _) = offered.as_ref().ok_or_else(no_offer)?;
                file_done(manifest, staging, &mut writing, file)?;
            }
            ReceiverOutput::Event(Event::Finished) => {
                let (manifest, copies) = offered.as_ref().ok_or_else(no_offer)?;
                for &(from, to) in copies {
                    let source = staged(manifest, staging, from)?;
                    let target = staged(manifest, staging, to)?;
                    fs::copy(&source, &target)
                        .context(format!("cannot create {}", shown(&target)))?;
                }
            }
            ReceiverOutput::Event(_) => {}
            ReceiverOutput::Idle => match read_frame(input)? {
                Some(frame) => rx.handle_frame(frame).map_err(pack_error)?,
                None => return Err(CliError::new("the pack is truncated")),
            },
            ReceiverOutput::Done => break,
        }
    }
    let Some(manifest) = rx.manifest().cloned().filter(|_| rx.is_finished()) else {
        return Err(CliError::new(
            "the pack is damaged: the transfer did not finish",
        ));
    };
    let mut extra = [0u8; 1];
    if input.read(&mut extra).context("cannot read the pack")? != 0 {
        return Err(CliError::new(
            "the pack is damaged: it has data after its end",
        ));
    }
    Ok(manifest)
}

/// Moves everything in `staging` up into `dest`; on failure removes what it moved.
fn move_into_place(staging: &Path, dest: &Path) -> Result<(), CliError> {
    let mut moved: Vec<PathBuf> = Vec::new();
    let result = (|| {
        for entry in fs::read_dir(staging)? {
            let entry = entry?;
            let target = dest.join(entry.file_name());
            fs::rename(entry.path(), &target)?;
            moved.push(target);
        }
        Ok::<(), std::io::Error>(())
    })();
    if let Err(e) = result {
        for path in moved {
            let _ = fs::remove_dir_all(&path).or_else(|_| fs::remove_file(&path));
        }
        return Err(CliError::new(format!(
            "cannot move the files into {}: {e}",
            shown(dest)
        )));
    }
    Ok(())
}

pub(crate) fn open(args: &PackOpenArgs) -> Result<Outcome, CliError> {
    let session = session_key(&args.key)?;
    let file =
        File::open(&args.input).context(format!("cannot read the pack {}", shown(&args.input)))?;
    let mut input = BufReader::new(file);
    let dest = &args.dest;
    let created = match fs::symlink_metadata(dest) {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            fs::create_dir_all(dest).context(format!("cannot create {}", shown(dest)))?;
            true
        }
        Err(e) => {
            return Err(CliError::new(format!("cannot use {}: {e}", shown(dest))));
        }
        Ok(m) if m.is_dir() => {
            let mut entries = fs::read_dir(dest).context(format!("cannot read {}", shown(dest)))?;
            if entries.next().is_some() {
                return Err(CliError::new(format!(
                    "{} is not empty: a pack opens only into an empty or new folder",
                    shown(dest)
                )));
            }
            false
        }
        Ok(_) => {
            return Err(CliError::new(format!(
                "{} exists and is not a folder",
                shown(dest)
            )))
        }
    };
    let staging_root = dest.join(PARTIAL_DIR);
    let staging = staging_root.join(format!("open-{:016x}", OsRng.next_u64()));
    let result = fs::create_dir_all(&staging)
        .context(format!("cannot create {}", shown(&staging)))
        .and_then(|()| replay(&mut input, &session, &staging))
        .and_then(|manifest| {
            move_into_place(&staging, dest)?;
            Ok(manifest)
        });
    let _ = fs::remove_dir_all(&staging_root);
    let manifest = match result {
        Ok(m) => m,
        Err(e) => {
            if created {
                let _ = fs::remove_dir(dest);
            }
            return Err(e);
        }
    };
    let hash = hex::encode(manifest.hash().as_bytes());
    Ok(Outcome::new(json!({
        "dest": dest.display().to_string(),
        "files": manifest.files().len(),
        "bytes": manifest.total_size(),
        "cipher": cipher_name(manifest.cipher()),
        "manifest_hash": hash,
    }))
    .field("opened", dest.display())
    .field(
        "contents",
        format!(
            "{} files, {} bytes, every hash checked",
            manifest.files().len(),
            manifest.total_size()
        ),
    )
    .field("manifest", hash))
}

/// Known-answer vectors of packs: docs/vectors/pack.json, generated from fixed inputs by
///
/// ```text
/// SYNCSHELL_WRITE_VECTORS=1 cargo test -p syncshell-examples --bin syncshell pack_vectors
/// ```
///
/// The pack is sealed by this module's own [`record`] with the offer salt drawn from a seeded
/// RNG; without the variable the test regenerates it, fails if the committed file differs, and
/// opens every committed pack with [`replay`] (the good one gives back its files, each damaged
/// one is refused with its error). `docs/vectors/check_pack.py` checks the file from the spec.
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod pack_vectors {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use serde_json::Value;

    const KEY: [u8; KEY_LEN] = [0x42; KEY_LEN];
    const SALT_SEED: u64 = 0x9ac;
    const CHUNK_SIZE: u32 = 1024;

    fn files() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("hello.txt", b"hello, pack\n".to_vec()),
            (
                "mods/data.bin",
                (0..1500u32).map(|i| (i * 7 % 251) as u8).collect(),
            ),
        ]
    }

    /// The pack of [`files`] under [`KEY`], its offer salt drawn from `ChaCha20Rng(SALT_SEED)`.
    fn seal_fixed() -> (Manifest, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        for (path, content) in files() {
            let path = dir.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, content).unwrap();
        }
        let manifest = build_manifest(dir.path(), CHUNK_SIZE, Cipher::ChaCha20Poly1305).unwrap();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(SALT_SEED);
        let mut out = Vec::new();
        record(
            &manifest,
            dir.path(),
            &SessionKey::from_bytes(KEY),
            &mut rng,
            &mut out,
        )
        .unwrap();
        (manifest, out)
    }

    /// The frames of a well-formed pack.
    fn frames_of(pack: &[u8]) -> Vec<Vec<u8>> {
        let mut input = &pack[12..];
        std::iter::from_fn(|| read_frame(&mut input).unwrap()).collect()
    }

    /// Opens `pack` as `pack open` does; the files it gives back, or the refusal.
    fn open(pack: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join("staging");
        fs::create_dir_all(&staging).unwrap();
        let manifest = replay(&mut &pack[..], &SessionKey::from_bytes(KEY), &staging)
            .map_err(|e| format!("{e:?}"))?;
        Ok(manifest
            .files()
            .iter()
            .map(|f| {
                let path = f.path().as_str().to_owned();
                let content = fs::read(f.path().under(&staging)).unwrap();
                (path, content)
            })
            .collect())
    }

    /// What the opener says for each error of the spec's pack section.
    fn message_of(error: &str) -> &'static str {
        match error {
            "NotAPack" => "not a syncshell pack",
            "UnsupportedVersion" => "pack version 2 is not supported",
            "FrameLength" => "is out of range",
            "Truncated" => "the pack is truncated",
            "TrailingBytes" => "it has data after its end",
            other => panic!("unknown pack error {other}"),
        }
    }

    fn generate() -> Value {
        let (manifest, pack) = seal_fixed();
        let frames = frames_of(&pack);
        let salt = match syncshell_stream::Frame::decode(frames[0].clone()).unwrap() {
            syncshell_stream::Frame::Offer { salt, .. } => salt,
            other => panic!("the first frame is {other:?}"),
        };
        let with = |mut head: Vec<u8>, tail: &[u8]| {
            head.extend_from_slice(tail);
            head
        };
        let last = frames.last().unwrap().len() + 4;
        let too_long = u32::try_from(MAX_FRAME_LEN + 1).unwrap().to_be_bytes();
        let mut version_2 = pack.clone();
        version_2[8..12].copy_from_slice(&2u32.to_be_bytes());
        let mut bad_magic = pack.clone();
        bad_magic[0] = 0x88;
        let invalid = [
            (
                "truncated: the last byte is missing",
                pack[..pack.len() - 1].to_vec(),
                "Truncated",
            ),
            (
                "a byte after the last chunk",
                with(pack.clone(), &[0]),
                "TrailingBytes",
            ),
            (
                "a whole frame after the last chunk",
                with(pack.clone(), &pack[pack.len() - last..]),
                "TrailingBytes",
            ),
            (
                "the last chunk frame is missing",
                pack[..pack.len() - last].to_vec(),
                "Truncated",
            ),
            ("only the header", pack[..12].to_vec(), "Truncated"),
            (
                "cut inside a frame length",
                pack[..14].to_vec(),
                "Truncated",
            ),
            ("another magic", bad_magic, "NotAPack"),
            ("shorter than the header", pack[..11].to_vec(), "NotAPack"),
            ("version 2", version_2, "UnsupportedVersion"),
            (
                "a frame length of 0",
                with(pack[..12].to_vec(), &[0, 0, 0, 0]),
                "FrameLength",
            ),
            (
                "a frame length over MAX_FRAME_LEN",
                with(pack[..12].to_vec(), &too_long),
                "FrameLength",
            ),
        ];
        json!({
            "description": "syncshell packs (`syncshell pack seal` / `pack open`); see docs/spec/stream.md section 12a",
            "generated_by": "SYNCSHELL_WRITE_VECTORS=1 cargo test -p syncshell-examples --bin syncshell pack_vectors",
            "key": hex::encode(KEY),
            "salt_rng": format!("ChaCha20Rng::seed_from_u64({SALT_SEED:#x})"),
            "salt": hex::encode(salt),
            "cipher": cipher_name(manifest.cipher()),
            "chunk_size": manifest.chunk_size(),
            "max_frame_len": MAX_FRAME_LEN,
            "files": files().iter().map(|(path, content)| json!({
                "path": path,
                "content": hex::encode(content),
                "blake3": hex::encode(FileHash::of(content).as_bytes()),
            })).collect::<Vec<_>>(),
            "manifest": hex::encode(manifest.encoded()),
            "manifest_hash": hex::encode(manifest.hash().as_bytes()),
            "frames": frames.iter().map(hex::encode).collect::<Vec<_>>(),
            "pack": hex::encode(&pack),
            "invalid_packs": invalid.iter().map(|(why, bytes, error)| json!({
                "why": why,
                "pack": hex::encode(bytes),
                "error": error,
            })).collect::<Vec<_>>(),
        })
    }

    fn h(v: &Value) -> Vec<u8> {
        hex::decode(v.as_str().unwrap()).unwrap()
    }

    /// Opens the committed packs, without the generator's values.
    fn check(v: &Value) {
        let expected: Vec<(String, Vec<u8>)> = v["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["path"].as_str().unwrap().to_owned(), h(&f["content"])))
            .collect();
        let pack = h(&v["pack"]);
        assert_eq!(&pack[..8], &MAGIC);
        assert_eq!(open(&pack).unwrap(), expected);
        let frames: Vec<String> = frames_of(&pack).iter().map(hex::encode).collect();
        assert_eq!(serde_json::to_value(frames).unwrap(), v["frames"]);
        for n in v["invalid_packs"].as_array().unwrap() {
            let why = n["why"].as_str().unwrap();
            let err = open(&h(&n["pack"])).expect_err(why);
            let want = message_of(n["error"].as_str().unwrap());
            assert!(err.contains(want), "{why}: {err:?} does not say {want:?}");
        }
    }

    #[test]
    fn pack_vectors_match_the_committed_file() {
        let generated = generate();
        let path =
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/vectors/pack.json");
        if std::env::var_os("SYNCSHELL_WRITE_VECTORS").is_some() {
            let text = serde_json::to_string_pretty(&generated).unwrap() + "\n";
            fs::write(&path, text).unwrap();
        }
        let committed: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        check(&committed);
        assert_eq!(
            committed, generated,
            "pack.json changed: regenerate with SYNCSHELL_WRITE_VECTORS=1 and review the diff"
        );
    }
}

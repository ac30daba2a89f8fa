//! The tokio adapter: folders on disk, sent and received over any message connection.

use std::collections::HashMap;
use std::future::Future;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use tokio::fs::{self, File, OpenOptions};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use crate::error::{shown, Error, Result};
use crate::frame::{AbortReason, MAX_FRAME_LEN};
use crate::key::{Cipher, SessionKey};
use crate::limiter::TokenBucket;
use crate::manifest::{FileHash, Manifest, ManifestBuilder, DEFAULT_CHUNK_SIZE};
use crate::path::{fold, PARTIAL_DIR};
use crate::receiver::{Event, Receiver, ReceiverConfig, ReceiverOutput};
use crate::sender::{Sender, SenderEvent, SenderOutput};
use crate::Progress;

/// A reliable, ordered message connection: what the transport crate's connections provide,
/// or a pipe, or a channel. Messages are whole frames.
pub trait MessageConnection: Send {
    /// Sends one message; waits while the connection applies back-pressure.
    fn send(&mut self, message: Vec<u8>) -> impl Future<Output = std::io::Result<()>> + Send;
    /// Receives the next message, or `None` when the peer closed the connection.
    fn recv(&mut self) -> impl Future<Output = std::io::Result<Option<Vec<u8>>>> + Send;
}

/// One end of an in-process connection made of two bounded tokio channels.
#[derive(Debug)]
pub struct ChannelConnection {
    tx: mpsc::Sender<Vec<u8>>,
    rx: mpsc::Receiver<Vec<u8>>,
}

impl ChannelConnection {
    /// Two connected ends; each direction holds at most `capacity` messages in flight.
    pub fn pair(capacity: usize) -> (Self, Self) {
        let (a_tx, b_rx) = mpsc::channel(capacity.max(1));
        let (b_tx, a_rx) = mpsc::channel(capacity.max(1));
        (
            ChannelConnection { tx: a_tx, rx: a_rx },
            ChannelConnection { tx: b_tx, rx: b_rx },
        )
    }
}

impl MessageConnection for ChannelConnection {
    async fn send(&mut self, message: Vec<u8>) -> std::io::Result<()> {
        self.tx
            .send(message)
            .await
            .map_err(|_| std::io::Error::new(ErrorKind::BrokenPipe, "peer closed"))
    }

    async fn recv(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        Ok(self.rx.recv().await)
    }
}

/// Messages over a byte stream (a pipe, a socket, `tokio::io::duplex`), each sent as a
/// 4-byte big-endian length and the bytes. Lengths above [`MAX_FRAME_LEN`] are refused
/// before anything is allocated.
#[derive(Debug)]
pub struct LengthPrefixed<T> {
    io: T,
}

impl<T> LengthPrefixed<T> {
    /// Wraps a byte stream.
    pub fn new(io: T) -> Self {
        LengthPrefixed { io }
    }

    /// The byte stream.
    pub fn into_inner(self) -> T {
        self.io
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> MessageConnection for LengthPrefixed<T> {
    async fn send(&mut self, message: Vec<u8>) -> std::io::Result<()> {
        let len = u32::try_from(message.len())
            .ok()
            .filter(|&l| l as usize <= MAX_FRAME_LEN)
            .ok_or_else(|| std::io::Error::new(ErrorKind::InvalidInput, "message too large"))?;
        self.io.write_all(&len.to_be_bytes()).await?;
        self.io.write_all(&message).await?;
        self.io.flush().await
    }

    async fn recv(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let mut len = [0u8; 4];
        match self.io.read_exact(&mut len).await {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let len = u32::from_be_bytes(len) as usize;
        if len > MAX_FRAME_LEN {
            return Err(std::io::Error::new(
                ErrorKind::InvalidData,
                "message length over the frame limit",
            ));
        }
        let mut buf = vec![0u8; len];
        self.io.read_exact(&mut buf).await?;
        Ok(Some(buf))
    }
}

/// How [`send_folder`] sends.
#[derive(Debug, Default)]
pub struct SendOptions {
    /// The cipher (ChaCha20-Poly1305 unless set).
    pub cipher: Cipher,
    /// Plaintext bytes per chunk; [`DEFAULT_CHUNK_SIZE`] when `None`.
    pub chunk_size: Option<u32>,
    /// Cap on bytes per second put on the connection (frames, headers included); off when
    /// `None`. The bucket holds one second's worth, at least one chunk.
    pub rate_limit: Option<u64>,
    /// Receives progress after every chunk.
    pub progress: Option<watch::Sender<Progress>>,
}

/// What [`send_folder`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendReport {
    /// The manifest that was sent.
    pub manifest: Manifest,
    /// Files sent, whole or in part (the receiver had the others).
    pub files_sent: usize,
    /// Plaintext bytes sent.
    pub bytes_sent: u64,
}

/// How [`receive_folder`] receives.
#[derive(Debug, Default)]
pub struct ReceiveOptions {
    /// Limits on what is accepted.
    pub config: ReceiverConfig,
    /// A content store: a folder of files named by their lowercase hex BLAKE3 hash. Files
    /// found there (and matching their hash) are copied instead of received.
    pub store: Option<PathBuf>,
    /// Receives progress after every chunk.
    pub progress: Option<watch::Sender<Progress>>,
    /// Who is sending: a stable identifier of the peer, for example its 32-byte Ed25519
    /// public key. Partial files are kept per sender and resumed only for the same sender,
    /// so one member cannot plant a prefix that makes another member's transfer of the same
    /// content fail at its end. `None` (an unknown sender): nothing is resumed, and this
    /// run's partial files are deleted when it ends.
    pub sender: Option<[u8; 32]>,
    /// Where completed files are placed instead of the destination, under the same paths, to
    /// wait for the host's approval ([`release_held`] moves one into place). A file found
    /// here with the offered content counts as present, like one in the destination.
    pub hold: Option<PathBuf>,
    /// Content never wanted (the host denied it): counted as present, so it is neither
    /// requested nor placed.
    pub refuse: std::collections::HashSet<FileHash>,
}

/// What [`receive_folder`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceiveReport {
    /// The manifest that was received.
    pub manifest: Manifest,
    /// Files that were already in place or in the store.
    pub files_present: usize,
    /// Files received (whole, or the rest of a partial file).
    pub files_received: usize,
    /// Plaintext bytes received over the connection in this run.
    pub bytes_received: u64,
}

/// Reads a whole file's BLAKE3 hash and size in one pass (so they describe the same bytes).
fn hash_file(path: &Path) -> std::io::Result<(FileHash, u64)> {
    struct Counting<R>(R, u64);
    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.read(buf)?;
            self.1 += n as u64;
            Ok(n)
        }
    }
    let mut reader = Counting(std::fs::File::open(path)?, 0);
    let hash = FileHash::of_reader(&mut reader)?;
    Ok((hash, reader.1))
}

/// Makes the manifest of everything under `folder` (blocking: reads every file once, in
/// 64 KiB pieces). Symbolic links are skipped, and so is a [`PARTIAL_DIR`] at the top.
/// A file whose name is not UTF-8 or not safe on Windows and Unix is an error: rename it.
pub fn build_manifest(folder: &Path, chunk_size: u32, cipher: Cipher) -> Result<Manifest> {
    let mut builder = ManifestBuilder::new().cipher(cipher).chunk_size(chunk_size);
    let mut stack = vec![(folder.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let mut entries = std::fs::read_dir(&dir)?.collect::<std::io::Result<Vec<_>>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                return Err(Error::UnsafePath {
                    path: shown(&entry.path().to_string_lossy()),
                    reason: "file name is not UTF-8",
                });
            };
            if prefix.is_empty() && fold(name) == PARTIAL_DIR {
                continue;
            }
            let rel = if prefix.is_empty() {
                name.to_owned()
            } else {
                format!("{prefix}/{name}")
            };
            let kind = entry.file_type()?;
            if kind.is_symlink() {
                warn!(path = %rel, "stream: skipping a symbolic link");
            } else if kind.is_dir() {
                stack.push((entry.path(), rel));
            } else if kind.is_file() {
                let (hash, size) = hash_file(&entry.path())?;
                builder.add_file(&rel, size, hash)?;
            }
        }
    }
    builder.build()
}

fn report(progress: Option<&watch::Sender<Progress>>, p: Progress) {
    if let Some(tx) = progress {
        tx.send_replace(p);
    }
}

async fn recv_frame<C: MessageConnection>(conn: &mut C) -> Result<Vec<u8>> {
    conn.recv().await?.ok_or(Error::ConnectionClosed)
}

/// Sends `folder` to the peer at the other end of `conn`, which runs [`receive_folder`].
///
/// The manifest is made from the folder as it is now, so files changed since an earlier
/// attempt get a new key. Returns when the receiver confirmed every file. On a local error
/// an abort frame is sent before the error is returned; after any error, close the
/// connection (the peer may be waiting on it) and retry on a new one.
pub async fn send_folder<C: MessageConnection>(
    conn: &mut C,
    session: &SessionKey,
    folder: &Path,
    options: &SendOptions,
) -> Result<SendReport> {
    let chunk_size = options.chunk_size.unwrap_or(DEFAULT_CHUNK_SIZE);
    let root = folder.to_path_buf();
    let cipher = options.cipher;
    let manifest = tokio::task::spawn_blocking(move || build_manifest(&root, chunk_size, cipher))
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e)))??;
    let mut sender = Sender::new(manifest.clone(), session, &mut rand_core::OsRng);
    let now = || tokio::time::Instant::now().into_std();
    let mut limiter = options
        .rate_limit
        .map(|rate| TokenBucket::new(rate, rate.max(u64::from(chunk_size) + 64), now()));
    let mut reader: Option<(usize, File, u64)> = None;
    let mut files_sent = 0;
    let mut bytes_sent = 0u64;
    loop {
        let step: Result<()> = match sender.poll() {
            SenderOutput::Transmit(frame) => {
                if let Some(l) = limiter.as_mut() {
                    let wait = l.reserve(now(), frame.len() as u64);
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                }
                conn.send(frame).await.map_err(Error::from)
            }
            SenderOutput::Read(mut slot) => {
                let read = read_chunk(&manifest, folder, &mut reader, &mut slot).await;
                match read {
                    Ok(()) => {
                        bytes_sent += slot.len() as u64;
                        sender.seal(slot)
                    }
                    Err(e) => Err(e),
                }
            }
            SenderOutput::Event(SenderEvent::Progress(p)) => {
                report(options.progress.as_ref(), p);
                Ok(())
            }
            SenderOutput::Event(SenderEvent::FileSent { .. }) => {
                files_sent += 1;
                Ok(())
            }
            SenderOutput::Event(_) => Ok(()),
            SenderOutput::Idle => match recv_frame(conn).await {
                Ok(f) => sender.handle_frame(f),
                Err(e) => Err(e),
            },
            SenderOutput::Done => break,
        };
        if let Err(e) = step {
            let reason = match &e {
                Error::Io(_) => AbortReason::Io,
                Error::SourceChanged { .. } => AbortReason::Cancelled,
                _ => AbortReason::Protocol,
            };
            sender.abort(reason, &e.to_string());
            loop {
                match sender.poll() {
                    // Best effort: the connection may be what failed.
                    SenderOutput::Transmit(f) => {
                        let _ = conn.send(f).await;
                    }
                    SenderOutput::Event(_) | SenderOutput::Read(_) => {}
                    SenderOutput::Idle | SenderOutput::Done => break,
                }
            }
            return Err(e);
        }
    }
    if sender.is_finished() {
        Ok(SendReport {
            manifest,
            files_sent,
            bytes_sent,
        })
    } else {
        Err(Error::Finished)
    }
}

async fn read_chunk(
    manifest: &Manifest,
    folder: &Path,
    reader: &mut Option<(usize, File, u64)>,
    slot: &mut crate::ChunkSlot,
) -> Result<()> {
    let Some(entry) = manifest.files().get(slot.file()) else {
        return Err(Error::InvalidArgument(
            "slot for a file not in the manifest",
        ));
    };
    let changed = || Error::SourceChanged {
        path: shown(entry.path().as_str()),
    };
    if reader.as_ref().map(|r| r.0) != Some(slot.file()) {
        let path = entry.path().under(folder);
        let file = File::open(&path).await?;
        if file.metadata().await?.len() != entry.size() {
            return Err(changed());
        }
        *reader = Some((slot.file(), file, 0));
    }
    let Some((_, file, pos)) = reader.as_mut() else {
        return Err(Error::InvalidArgument("no open file"));
    };
    if *pos != slot.offset() {
        file.seek(std::io::SeekFrom::Start(slot.offset())).await?;
    }
    match file.read_exact(slot.data_mut()).await {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Err(changed()),
        Err(e) => return Err(e.into()),
    }
    *pos = slot.offset() + slot.len() as u64;
    Ok(())
}

/// BLAKE3 `derive_key` context that turns a sender identifier into its partial files' tag.
const PARTIAL_SENDER_CONTEXT: &str = "syncshell/v1/stream-partial-sender";

/// The partial folder of one run: `<dest>/.syncshell-partial/<blake3 hex>.<sender tag>.part`,
/// where the tag is 16 bytes (32 hex digits) of BLAKE3 `derive_key` of the sender
/// identifier, or 16 random bytes for an unknown sender.
#[derive(Debug)]
struct PartialFolder {
    dir: PathBuf,
    tag: String,
    anonymous: bool,
}

impl PartialFolder {
    fn new(dir: PathBuf, sender: Option<&[u8; 32]>) -> Self {
        let (bytes, anonymous) = match sender {
            Some(id) => {
                let k = blake3::derive_key(PARTIAL_SENDER_CONTEXT, id);
                let mut b = [0u8; 16];
                b.copy_from_slice(k.get(..16).unwrap_or(&[0; 16]));
                (b, false)
            }
            None => {
                let mut b = [0u8; 16];
                rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
                (b, true)
            }
        };
        let tag = bytes.iter().map(|x| format!("{x:02x}")).collect();
        PartialFolder {
            dir,
            tag,
            anonymous,
        }
    }

    /// The partial file of content `hash` from this run's sender.
    fn file(&self, hash: &FileHash) -> PathBuf {
        self.dir
            .join(format!("{}.{}.part", hash.to_hex(), self.tag))
    }

    /// After a failed run of an unknown sender: its partial files go (they are never
    /// resumed). Best effort.
    async fn forget_if_anonymous(&self) {
        if !self.anonymous {
            return;
        }
        let suffix = format!(".{}.part", self.tag);
        let Ok(mut left) = fs::read_dir(&self.dir).await else {
            return;
        };
        while let Ok(Some(entry)) = left.next_entry().await {
            if entry.file_name().to_string_lossy().ends_with(&suffix) {
                let _ = fs::remove_file(entry.path()).await;
            }
        }
    }
}

/// Creates the folders of `rel` under `dest`, refusing to go through a symbolic link, so a
/// link planted in the destination cannot redirect a write outside it.
async fn prepare_parent(dest: &Path, rel: &crate::RelativePath) -> Result<PathBuf> {
    local_path(dest, rel, true).await
}

/// The local path of `rel` under `dest`, after checking that every folder on the way that
/// exists is a real folder (not a symbolic link, not a file): `UnsafePath` otherwise. With
/// `create`, missing folders are made; without, the walk stops at the first missing one.
async fn local_path(dest: &Path, rel: &crate::RelativePath, create: bool) -> Result<PathBuf> {
    let mut p = dest.to_path_buf();
    let comps: Vec<&str> = rel.components().collect();
    let Some((file_name, dirs)) = comps.split_last() else {
        return Err(Error::InvalidArgument("empty path"));
    };
    let mut exists = true;
    for c in dirs {
        p.push(c);
        if !exists {
            continue;
        }
        match fs::symlink_metadata(&p).await {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::UnsafePath {
                    path: shown(rel.as_str()),
                    reason: "a folder on the path is a symbolic link",
                })
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::UnsafePath {
                    path: shown(rel.as_str()),
                    reason: "a folder on the path is a file",
                })
            }
            Err(e) if e.kind() == ErrorKind::NotFound && create => fs::create_dir(&p).await?,
            Err(e) if e.kind() == ErrorKind::NotFound => exists = false,
            Err(e) => return Err(e.into()),
        }
    }
    p.push(file_name);
    if fs::symlink_metadata(&p).await.is_ok_and(|m| m.is_dir()) {
        return Err(Error::UnsafePath {
            path: shown(rel.as_str()),
            reason: "a folder is in the way",
        });
    }
    Ok(p)
}

/// The length of the partial file at `path`, or `None` if there is none. Anything else at
/// that name in the partial folder (a symbolic link, say) is not ours: it is removed, never
/// followed.
async fn partial_len(path: &Path) -> Result<Option<u64>> {
    match fs::symlink_metadata(path).await {
        Ok(m) if m.file_type().is_file() => Ok(Some(m.len())),
        Ok(m) if m.is_dir() => Err(Error::UnsafePath {
            path: shown(&path.to_string_lossy()),
            reason: "a folder is in the way of a partial file",
        }),
        Ok(_) => {
            remove_if_present(path).await?;
            Ok(None)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Whether `path` is a regular file (not a link) with this size and hash.
async fn matches(path: &Path, size: u64, hash: &FileHash) -> bool {
    match fs::symlink_metadata(path).await {
        Ok(m) if m.file_type().is_file() && m.len() == size => {}
        _ => return false,
    }
    let p = path.to_path_buf();
    let got = tokio::task::spawn_blocking(move || hash_file(&p)).await;
    matches!(got, Ok(Ok((h, s))) if h == *hash && s == size)
}

/// Receives a folder from the peer at the other end of `conn`, which runs [`send_folder`],
/// into `dest`.
///
/// Files already in `dest` with the right hash, or in the content store, are not requested.
/// Chunks go to partial files under `dest/.syncshell-partial/`, kept per sender
/// ([`ReceiveOptions::sender`]), which survive a crash or a lost connection: calling this
/// again for the same sender resumes each file after its last whole verified chunk; another
/// sender's partial files are never resumed. A file is moved to its place only after its BLAKE3 hash matched. Parent folders
/// are created without following symbolic links. After a complete transfer, partial files
/// of content no longer offered are deleted. One transfer at a time may use a destination.
/// After an error, close the connection and retry on a new one: the partial files stay.
pub async fn receive_folder<C: MessageConnection>(
    conn: &mut C,
    session: &SessionKey,
    dest: &Path,
    options: &ReceiveOptions,
) -> Result<ReceiveReport> {
    let partial_dir = dest.join(PARTIAL_DIR);
    match fs::symlink_metadata(&partial_dir).await {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::UnsafePath {
                path: shown(&partial_dir.to_string_lossy()),
                reason: "the partial-file folder is not a folder (a symbolic link?)",
            })
        }
        Err(e) if e.kind() == ErrorKind::NotFound => fs::create_dir_all(&partial_dir).await?,
        Err(e) => return Err(e.into()),
    }
    let partials = PartialFolder::new(partial_dir, options.sender.as_ref());
    // Where completed files go: the destination, or the folder they wait in.
    let placed = options.hold.as_deref().unwrap_or(dest);
    if let Some(hold) = &options.hold {
        fs::create_dir_all(hold).await?;
    }
    let mut rx = Receiver::new(session.clone(), options.config.clone());
    let mut writer: Option<(usize, File, u64)> = None;
    let mut copies: Vec<(usize, usize)> = Vec::new();
    let mut files_present = 0;
    let mut files_received = 0;
    let mut bytes_received = 0u64;
    loop {
        let step: Result<()> = match rx.poll() {
            ReceiverOutput::Transmit(frame) => conn.send(frame).await.map_err(Error::from),
            ReceiverOutput::Event(Event::Offered { .. }) => {
                match decide(&mut rx, dest, &partials, options, &mut copies).await {
                    Ok(present) => {
                        files_present = present;
                        rx.accept()
                    }
                    Err(e) => Err(e),
                }
            }
            ReceiverOutput::Event(Event::Data { file, offset, data }) => {
                bytes_received += data.len() as u64;
                write_data(&rx, &partials, &mut writer, file, offset, &data).await
            }
            ReceiverOutput::Event(Event::FileDone { file }) => {
                files_received += 1;
                place(&rx, placed, &partials, &mut writer, file).await
            }
            ReceiverOutput::Event(Event::PartialDiscarded { file }) => {
                match rx.manifest().and_then(|m| m.files().get(file)) {
                    Some(f) => fs::remove_file(partials.file(f.hash()))
                        .await
                        .map_err(Error::from),
                    None => Ok(()),
                }
            }
            ReceiverOutput::Event(Event::Progress(p)) => {
                report(options.progress.as_ref(), p);
                Ok(())
            }
            // Before the completion frame leaves: files with the same content as an earlier
            // entry are copied from it.
            ReceiverOutput::Event(Event::Finished) => {
                copy_duplicates(&rx, dest, placed, &partials, &copies).await
            }
            ReceiverOutput::Idle => match recv_frame(conn).await {
                Ok(f) => rx.handle_frame(f),
                Err(e) => Err(e),
            },
            ReceiverOutput::Done => break,
        };
        if let Err(e) = step {
            // A write may still be in flight on the blocking pool: let it land before
            // returning, so that a retry finds the partial file as it will stay.
            if let Some((_, mut handle, _)) = writer.take() {
                let _ = handle.flush().await;
            }
            if let (Error::HashMismatch { file }, Some(m)) = (&e, rx.manifest()) {
                if let Some(f) = m.files().get(*file) {
                    let _ = fs::remove_file(partials.file(f.hash())).await;
                }
            }
            let reason = match &e {
                Error::Io(_) => AbortReason::Io,
                Error::OfferTooLarge { .. }
                | Error::UnsafePath { .. }
                | Error::PathCollision { .. } => AbortReason::Refused,
                _ => AbortReason::Protocol,
            };
            rx.abort(reason, &e.to_string());
            loop {
                match rx.poll() {
                    // Best effort: the connection may be what failed.
                    ReceiverOutput::Transmit(f) => {
                        let _ = conn.send(f).await;
                    }
                    ReceiverOutput::Event(_) => {}
                    ReceiverOutput::Idle | ReceiverOutput::Done => break,
                }
            }
            partials.forget_if_anonymous().await;
            return Err(e);
        }
    }
    let Some(manifest) = rx.manifest().cloned().filter(|_| rx.is_finished()) else {
        partials.forget_if_anonymous().await;
        return Err(Error::Finished);
    };
    // Whatever is left belongs to content no longer offered (a file that changed since an
    // earlier attempt) or to other senders: the transfer is complete, so it goes.
    let mut left = fs::read_dir(&partials.dir).await?;
    while let Some(entry) = left.next_entry().await? {
        if entry.file_name().to_string_lossy().ends_with(".part") {
            fs::remove_file(entry.path()).await?;
        }
    }
    let _ = fs::remove_dir(&partials.dir).await;
    debug!(files_received, bytes_received, "stream: folder received");
    Ok(ReceiveReport {
        manifest,
        files_present,
        files_received,
        bytes_received,
    })
}

/// After a complete transfer from one sender into `dest`, moves the files its previous
/// complete transfer (`before`) placed and this one (`after`) no longer offers — the sender
/// removed them — out of `dest` into `versions`, under the same relative paths, instead of
/// deleting them. A file is moved only while it still holds exactly what the sender had sent
/// (its size and BLAKE3 hash): a file changed here since stays, and so does a path this
/// transfer offers again (compared as on a case-insensitive file system). Nothing is looked
/// at or moved through a symbolic link. Returns the paths moved, in `before`'s order.
pub async fn retire_removed(
    dest: &Path,
    before: &Manifest,
    after: &Manifest,
    versions: &Path,
) -> Result<Vec<crate::RelativePath>> {
    let offered: std::collections::HashSet<String> =
        after.files().iter().map(|f| f.path().fold()).collect();
    let mut moved = Vec::new();
    for f in before.files() {
        if offered.contains(&f.path().fold()) {
            continue;
        }
        let local = match local_path(dest, f.path(), false).await {
            Ok(p) => p,
            // A folder on the way is no longer a real folder: not ours to touch.
            Err(Error::UnsafePath { .. }) => continue,
            Err(e) => return Err(e),
        };
        if !matches(&local, f.size(), f.hash()).await {
            continue;
        }
        fs::create_dir_all(versions).await?;
        let target = local_path(versions, f.path(), true).await?;
        remove_if_present(&target).await?;
        if let Err(e) = fs::rename(&local, &target).await {
            // Another file system: a checked copy, then the original goes.
            debug!(error = %e, "stream: moving a removed file by copying it");
            copy_checked(&local, &target, f.size(), f.hash()).await?;
            fs::remove_file(&local).await?;
        }
        moved.push(f.path().clone());
    }
    Ok(moved)
}

/// Copies each later entry with the same content as an earlier one from where that one is
/// (the destination, or `placed` when it was received into a hold folder) to `placed`.
async fn copy_duplicates(
    rx: &Receiver,
    dest: &Path,
    placed: &Path,
    partials: &PartialFolder,
    copies: &[(usize, usize)],
) -> Result<()> {
    let Some(m) = rx.manifest() else {
        return Ok(());
    };
    for &(from, to) in copies {
        let (Some(a), Some(b)) = (m.files().get(from), m.files().get(to)) else {
            continue;
        };
        // Like a received file: the copy is made in the partial folder, checked, and renamed
        // into place, so a symbolic link at the target is replaced, never written through.
        let tmp = partials.dir.join(format!("copy-{to}.part"));
        let mut copied = copy_checked(&a.path().under(placed), &tmp, a.size(), a.hash()).await;
        if copied.is_err() && placed != dest {
            copied = copy_checked(&a.path().under(dest), &tmp, a.size(), a.hash()).await;
        }
        copied?;
        let target = prepare_parent(placed, b.path()).await?;
        fs::rename(&tmp, &target).await?;
    }
    Ok(())
}

/// Moves a file that waits in `hold` (see [`ReceiveOptions::hold`]) to its place in `dest`,
/// if it still holds the content `hash`: its approval. Returns `false` when no such file
/// waits there. Nothing is followed through a symbolic link on either side.
pub async fn release_held(hold: &Path, dest: &Path, path: &str, hash: &FileHash) -> Result<bool> {
    let rel = crate::RelativePath::parse(path)?;
    let held = match local_path(hold, &rel, false).await {
        Ok(p) => p,
        Err(Error::UnsafePath { .. }) => return Ok(false),
        Err(e) => return Err(e),
    };
    let size = match fs::symlink_metadata(&held).await {
        Ok(m) if m.file_type().is_file() => m.len(),
        _ => return Ok(false),
    };
    if !matches(&held, size, hash).await {
        return Ok(false);
    }
    let target = prepare_parent(dest, &rel).await?;
    if fs::rename(&held, &target).await.is_err() {
        // Another file system: a checked copy next to the target, renamed over it.
        let tmp = target.with_extension("syncshell-release.tmp");
        copy_checked(&held, &tmp, size, hash).await?;
        fs::rename(&tmp, &target).await?;
        fs::remove_file(&held).await?;
    }
    Ok(true)
}

/// Removes a file that waits in `hold` with the content `hash` (its refusal). Returns
/// `false` when no such file waits there.
pub async fn discard_held(hold: &Path, path: &str, hash: &FileHash) -> Result<bool> {
    let rel = crate::RelativePath::parse(path)?;
    let held = match local_path(hold, &rel, false).await {
        Ok(p) => p,
        Err(Error::UnsafePath { .. }) => return Ok(false),
        Err(e) => return Err(e),
    };
    let size = match fs::symlink_metadata(&held).await {
        Ok(m) if m.file_type().is_file() => m.len(),
        _ => return Ok(false),
    };
    if !matches(&held, size, hash).await {
        return Ok(false);
    }
    fs::remove_file(&held).await?;
    Ok(true)
}

/// Copies the regular file `from` to a new file `to` in the partial folder (whatever was at
/// `to` is removed first, a link included, and the new file is created exclusively so a link
/// planted in between is not followed), checking on the way that it has exactly `size`
/// bytes and the BLAKE3 hash `hash`. Nothing beyond `size + 1` bytes is read or written.
async fn copy_checked(from: &Path, to: &Path, size: u64, hash: &FileHash) -> Result<()> {
    match fs::symlink_metadata(from).await {
        Ok(m) if m.file_type().is_file() => {}
        Ok(_) => {
            return Err(Error::UnsafePath {
                path: shown(&from.to_string_lossy()),
                reason: "the source of a local copy is not a regular file",
            })
        }
        Err(e) => return Err(e.into()),
    }
    remove_if_present(to).await?;
    let (source_path, target_path, hash) = (from.to_path_buf(), to.to_path_buf(), *hash);
    let copied = tokio::task::spawn_blocking(move || -> Result<bool> {
        use std::io::Write;
        let source = std::fs::File::open(&source_path)?;
        let mut target = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target_path)?;
        let mut reader = source.take(size.saturating_add(1));
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            let piece = buf.get(..n).unwrap_or_default();
            hasher.update(piece);
            target.write_all(piece)?;
            total += n as u64;
        }
        target.sync_all()?;
        Ok(total == size && FileHash::from_bytes(*hasher.finalize().as_bytes()) == hash)
    })
    .await
    .map_err(|e| Error::Io(std::io::Error::other(e)))??;
    if !copied {
        let _ = fs::remove_file(to).await;
        return Err(Error::Io(std::io::Error::other(format!(
            "{} changed while it was copied",
            shown(&from.to_string_lossy())
        ))));
    }
    Ok(())
}

/// Removes whatever is at `path` (a file or a link, not followed); nothing there is fine.
async fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// After an offer: tells the receiver what is already here. Returns the files present.
async fn decide(
    rx: &mut Receiver,
    dest: &Path,
    partials: &PartialFolder,
    options: &ReceiveOptions,
    copies: &mut Vec<(usize, usize)>,
) -> Result<usize> {
    let Some(m) = rx.manifest().cloned() else {
        return Err(Error::InvalidArgument("no offer"));
    };
    let mut first: HashMap<FileHash, usize> = HashMap::new();
    let mut present = 0;
    for (i, f) in m.files().iter().enumerate() {
        // (A path naming the partial folder never gets here: RelativePath refuses it.)
        if let Some(&j) = first.get(f.hash()) {
            // Same content as an earlier entry: copied from it at the end.
            rx.mark_present(i)?;
            copies.push((j, i));
            continue;
        }
        first.insert(*f.hash(), i);
        // Nothing is looked at through a link: a folder on the way that is a symbolic link
        // (to the user's home, say) would otherwise tell the sender, by what is requested,
        // whether a file with a guessed hash exists outside the destination.
        if options.refuse.contains(f.hash()) {
            rx.mark_present(i)?;
            continue;
        }
        let local = local_path(dest, f.path(), false).await?;
        if matches(&local, f.size(), f.hash()).await {
            rx.mark_present(i)?;
            present += 1;
            continue;
        }
        if let Some(hold) = &options.hold {
            let held = local_path(hold, f.path(), false).await?;
            if matches(&held, f.size(), f.hash()).await {
                rx.mark_present(i)?;
                present += 1;
                continue;
            }
        }
        let partial = partials.file(f.hash());
        if let Some(store) = &options.store {
            let stored = store.join(f.hash().to_hex());
            if matches(&stored, f.size(), f.hash()).await
                && copy_checked(&stored, &partial, f.size(), f.hash())
                    .await
                    .is_err()
            {
                remove_if_present(&partial).await?;
            }
        }
        let Some(on_disk) = partial_len(&partial).await? else {
            continue;
        };
        let usable = rx.resumable_len(i, on_disk);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&partial)
            .await?;
        file.set_len(usable).await?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut left = usable;
        while left > 0 {
            let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let piece = buf.get_mut(..n).unwrap_or_default();
            file.read_exact(piece).await?;
            rx.resume_prefix(i, piece)?;
            left -= n as u64;
        }
        debug!(
            file = i,
            resumed = usable,
            "stream: resuming a partial file"
        );
    }
    Ok(present)
}

async fn write_data(
    rx: &Receiver,
    partials: &PartialFolder,
    writer: &mut Option<(usize, File, u64)>,
    file: usize,
    offset: u64,
    data: &[u8],
) -> Result<()> {
    if writer.as_ref().map(|w| w.0) != Some(file) {
        let Some(f) = rx.manifest().and_then(|m| m.files().get(file)) else {
            return Err(Error::InvalidArgument(
                "data for a file not in the manifest",
            ));
        };
        let path = partials.file(f.hash());
        // Drops anything at that name that is not a regular file (a planted link).
        partial_len(&path).await?;
        let handle = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .await?;
        let len = handle.metadata().await?.len();
        *writer = Some((file, handle, len));
    }
    let Some((_, handle, pos)) = writer.as_mut() else {
        return Err(Error::InvalidArgument("no partial file open"));
    };
    if *pos != offset {
        // The receiver releases chunks in order from the resumed length; anything else
        // means the partial file changed under us.
        return Err(Error::Io(std::io::Error::other(
            "partial file length does not match the received offset",
        )));
    }
    handle.write_all(data).await?;
    *pos += data.len() as u64;
    Ok(())
}

async fn place(
    rx: &Receiver,
    dest: &Path,
    partials: &PartialFolder,
    writer: &mut Option<(usize, File, u64)>,
    file: usize,
) -> Result<()> {
    let Some(f) = rx.manifest().and_then(|m| m.files().get(file)) else {
        return Err(Error::InvalidArgument("no such file"));
    };
    let partial = partials.file(f.hash());
    match writer.take() {
        Some((w, handle, _)) if w == file => {
            handle.sync_all().await?;
        }
        _ => {
            // An empty file sends no data, and a complete resumed file was never reopened.
            partial_len(&partial).await?;
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&partial)
                .await?;
        }
    }
    let target = prepare_parent(dest, f.path()).await?;
    fs::rename(&partial, &target).await?;
    Ok(())
}

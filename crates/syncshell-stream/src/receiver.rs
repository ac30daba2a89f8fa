//! The sans-IO receiver.

use std::collections::{HashMap, VecDeque};

use bytes::{Bytes, BytesMut};
use tracing::{debug, warn};

use crate::error::{Error, Result};
use crate::frame::{AbortReason, Frame, Want};
use crate::key::{SessionKey, StreamKey, SALT_LEN, TAG_LEN};
use crate::manifest::{FileHash, Manifest};
use crate::seal::ChunkOpener;
use crate::{FileProgress, Progress};

/// Default [`ReceiverConfig::max_total_size`]: 16 GiB.
pub const DEFAULT_MAX_TOTAL_SIZE: u64 = 16 * 1024 * 1024 * 1024;

/// What a receiver accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceiverConfig {
    /// Offers that declare more bytes than this are refused ([`Error::OfferTooLarge`]).
    pub max_total_size: u64,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            max_total_size: DEFAULT_MAX_TOTAL_SIZE,
        }
    }
}

impl ReceiverConfig {
    /// The default limits with another total size limit.
    pub fn with_max_total_size(max_total_size: u64) -> Self {
        ReceiverConfig { max_total_size }
    }
}

/// What the receiver wants done next; see [`Receiver::poll`].
#[derive(Debug)]
#[must_use]
pub enum ReceiverOutput {
    /// Send this frame to the sender, then poll again.
    Transmit(Vec<u8>),
    /// Something happened; act on it, then poll again.
    Event(Event),
    /// Nothing to do until a frame arrives (or, after [`Event::Offered`], until you call
    /// [`Receiver::accept`]).
    Idle,
    /// The transfer is over (finished or failed); nothing more will come.
    Done,
}

/// What happened on the receiving side.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A valid offer whose key confirmation matched. Look at [`Receiver::manifest`], tell the
    /// receiver what you already have ([`Receiver::mark_present`],
    /// [`Receiver::resume_prefix`]) and call [`Receiver::accept`].
    Offered {
        /// Files in the manifest.
        files: usize,
        /// Their total size.
        total_size: u64,
    },
    /// Authenticated plaintext of file `file` at byte `offset`. Chunks of a file come in
    /// order, so `offset` is always the end of what was written before: append it to the
    /// file's partial data. It is not verified against the file hash yet, so keep it out of
    /// the user's sight until [`Event::FileDone`].
    Data {
        /// Index of the file.
        file: usize,
        /// Byte offset in the file.
        offset: u64,
        /// The plaintext.
        data: Bytes,
    },
    /// A chunk arrived.
    Progress(Progress),
    /// The file is complete and matches its BLAKE3 hash: move it into place.
    FileDone {
        /// Index of the file.
        file: usize,
    },
    /// A partial file given to [`Receiver::resume_prefix`] was complete but did not match its
    /// hash: truncate it to zero; the file is requested from the start.
    PartialDiscarded {
        /// Index of the file.
        file: usize,
    },
    /// Every file is present and verified; the completion frame is queued.
    Finished,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitOffer,
    Deciding,
    Receiving,
    Finished,
    Failed,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::AwaitOffer => "waiting for an offer",
            State::Deciding => "deciding which files to request",
            State::Receiving => "receiving chunks",
            State::Finished => "finished",
            State::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Needed,
    Present,
    Done,
}

struct Partial {
    fed: u64,
    hasher: blake3::Hasher,
}

struct Incoming {
    file: usize,
    opener: ChunkOpener,
    chunks: u64,
    hasher: blake3::Hasher,
    received: u64,
}

/// Receives one transfer, as a state machine without I/O.
///
/// Drive it like this: after creating it, and after every [`Receiver::handle_frame`] or
/// [`Receiver::accept`], call [`Receiver::poll`] until it returns [`ReceiverOutput::Idle`] or
/// [`ReceiverOutput::Done`], acting on each output in order.
///
/// Guarantees: nothing is accepted before the offer's key confirmation matches; every
/// [`Event::Data`] is authenticated plaintext in order; a file is reported done only after
/// its BLAKE3 hash matched; no file gets more bytes than the manifest declares; a frame that
/// is refused (malformed, unauthenticated, out of order) leaves the state as it was.
pub struct Receiver {
    session: SessionKey,
    config: ReceiverConfig,
    state: State,
    manifest: Option<Manifest>,
    key: Option<StreamKey>,
    status: Vec<Status>,
    partials: HashMap<usize, Partial>,
    wants: VecDeque<Want>,
    current: Option<Incoming>,
    queue: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    done: u64,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("state", &self.state)
            .field("manifest", &self.manifest.as_ref().map(Manifest::hash))
            .field(
                "current",
                &self.current.as_ref().map(|c| (c.file, c.opener.position())),
            )
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Receiver {
    /// A receiver keyed from `session`, waiting for an offer.
    pub fn new(session: SessionKey, config: ReceiverConfig) -> Self {
        Receiver {
            session,
            config,
            state: State::AwaitOffer,
            manifest: None,
            key: None,
            status: Vec::new(),
            partials: HashMap::new(),
            wants: VecDeque::new(),
            current: None,
            queue: VecDeque::new(),
            events: VecDeque::new(),
            done: 0,
        }
    }

    /// The offered manifest, once a valid offer arrived.
    pub fn manifest(&self) -> Option<&Manifest> {
        self.manifest.as_ref()
    }

    /// Whether every file arrived and matched.
    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }

    /// Overall progress (bytes present, resumed or received, of the manifest's total) and
    /// the progress of the file being received.
    pub fn progress(&self) -> Progress {
        Progress {
            bytes_done: self.done,
            bytes_total: self.manifest.as_ref().map_or(0, Manifest::total_size),
            file: self.current.as_ref().map(|c| FileProgress {
                index: c.file,
                bytes_done: c.received,
                bytes_total: self.size(c.file),
            }),
        }
    }

    fn size(&self, file: usize) -> u64 {
        self.manifest
            .as_ref()
            .and_then(|m| m.files().get(file))
            .map_or(0, |f| f.size())
    }

    /// The next thing to do. See the type's documentation for the loop.
    ///
    /// Events come before frames: a driver moves a file into place on [`Event::FileDone`]
    /// before the completion frame leaves, and if that fails, [`Receiver::abort`] replaces
    /// the completion with an abort.
    pub fn poll(&mut self) -> ReceiverOutput {
        if let Some(e) = self.events.pop_front() {
            return ReceiverOutput::Event(e);
        }
        if let Some(f) = self.queue.pop_front() {
            return ReceiverOutput::Transmit(f);
        }
        match self.state {
            State::Finished | State::Failed => ReceiverOutput::Done,
            _ => ReceiverOutput::Idle,
        }
    }

    fn deciding(&self, file: usize) -> Result<(&Manifest, Status)> {
        if self.state != State::Deciding {
            return Err(Error::InvalidArgument(
                "only between the offer and accept()",
            ));
        }
        let m = self
            .manifest
            .as_ref()
            .ok_or(Error::InvalidArgument("no offer"))?;
        let s = *self
            .status
            .get(file)
            .ok_or(Error::InvalidArgument("no such file"))?;
        Ok((m, s))
    }

    /// After [`Event::Offered`]: file `file` is already here (for example in a content store,
    /// checked against its hash by the caller) and is not requested.
    pub fn mark_present(&mut self, file: usize) -> Result<()> {
        let (_, status) = self.deciding(file)?;
        if status != Status::Needed || self.partials.contains_key(&file) {
            return Err(Error::InvalidArgument("file already marked or resumed"));
        }
        if let Some(s) = self.status.get_mut(file) {
            *s = Status::Present;
        }
        self.done += self.size(file);
        Ok(())
    }

    /// After [`Event::Offered`]: how many of the `on_disk` bytes of a partial copy of file
    /// `file` can be resumed: whole chunks only, or the whole file. Truncate the partial
    /// copy to this length and pass exactly these bytes to [`Receiver::resume_prefix`].
    pub fn resumable_len(&self, file: usize, on_disk: u64) -> u64 {
        let Some(m) = self.manifest.as_ref() else {
            return 0;
        };
        let size = self.size(file);
        if on_disk >= size {
            return size;
        }
        let cs = u64::from(m.chunk_size());
        on_disk / cs * cs
    }

    /// After [`Event::Offered`]: the next piece of the resumable prefix of file `file`, read
    /// back from its partial copy (call as often as needed, in order). The receiver hashes
    /// it so the whole file can be checked when its last chunk arrives. Feed only a prefix
    /// that this same sender sent earlier: chunks authenticate their sender, not the
    /// content, so another member's prefix would make this transfer fail at the file's end
    /// (docs/spec/stream.md, section 9).
    pub fn resume_prefix(&mut self, file: usize, data: &[u8]) -> Result<()> {
        let (_, status) = self.deciding(file)?;
        if status != Status::Needed {
            return Err(Error::InvalidArgument("file already marked present"));
        }
        let size = self.size(file);
        let p = self.partials.entry(file).or_insert_with(|| Partial {
            fed: 0,
            hasher: blake3::Hasher::new(),
        });
        let fed = p.fed.saturating_add(data.len() as u64);
        if fed > size {
            return Err(Error::InvalidArgument("prefix longer than the file"));
        }
        p.hasher.update(data);
        p.fed = fed;
        self.done += data.len() as u64;
        Ok(())
    }

    /// After [`Event::Offered`]: requests every file not present, each from the end of its
    /// resumed prefix. Queues the request frame.
    pub fn accept(&mut self) -> Result<()> {
        if self.state != State::Deciding {
            return Err(Error::InvalidArgument("only after an offer"));
        }
        let Some(m) = self.manifest.as_ref() else {
            return Err(Error::InvalidArgument("no offer"));
        };
        let cs = u64::from(m.chunk_size());
        for (file, p) in &self.partials {
            let size = m.files().get(*file).map_or(0, |f| f.size());
            if p.fed != size && p.fed % cs != 0 {
                return Err(Error::InvalidArgument(
                    "a resumed prefix must be whole chunks (see resumable_len)",
                ));
            }
        }
        let mut wants = Vec::new();
        for (file, entry) in m.files().iter().enumerate() {
            if self.status.get(file) != Some(&Status::Needed) {
                continue;
            }
            let mut from = 0u64;
            if let Some(p) = self.partials.get(&file) {
                if p.fed == entry.size() {
                    let hash = FileHash::from_bytes(*p.hasher.finalize().as_bytes());
                    if hash == *entry.hash() {
                        self.partials.remove(&file);
                        if let Some(s) = self.status.get_mut(file) {
                            *s = Status::Done;
                        }
                        self.events.push_back(Event::FileDone { file });
                        continue;
                    }
                    warn!(
                        file,
                        "stream: complete partial file does not match; discarded"
                    );
                    self.done -= p.fed;
                    self.partials.remove(&file);
                    self.events.push_back(Event::PartialDiscarded { file });
                } else {
                    from = p.fed / cs;
                }
            }
            wants.push(Want {
                file: file as u32,
                from_chunk: from as u32,
            });
        }
        debug!(files = wants.len(), "stream: requesting");
        let tag = self
            .key
            .as_ref()
            .ok_or(Error::InvalidArgument("no offer"))?
            .request_tag(&wants);
        self.queue.push_back(
            Frame::Request {
                manifest_hash: *m.hash(),
                wants: wants.clone(),
                tag,
            }
            .encode(),
        );
        self.wants = wants.into();
        self.state = State::Receiving;
        self.next_file();
        Ok(())
    }

    /// Starts the next requested file, or finishes.
    fn next_file(&mut self) {
        let (Some(m), Some(key)) = (self.manifest.as_ref(), self.key.as_ref()) else {
            return;
        };
        match self.wants.pop_front() {
            Some(w) => {
                let file = w.file as usize;
                let (hasher, received) = match self.partials.remove(&file) {
                    Some(p) => (p.hasher, p.fed),
                    None => (blake3::Hasher::new(), 0),
                };
                self.current = Some(Incoming {
                    file,
                    opener: ChunkOpener::starting_at(key, w.file, w.from_chunk),
                    chunks: m.chunk_count(file),
                    hasher,
                    received,
                });
            }
            None => {
                self.current = None;
                self.state = State::Finished;
                self.queue.push_back(
                    Frame::Complete {
                        manifest_hash: *m.hash(),
                        tag: key.completion_tag(),
                    }
                    .encode(),
                );
                self.events.push_back(Event::Finished);
            }
        }
    }

    /// Takes a frame from the sender.
    ///
    /// Refused frames ([`Error::Malformed`], [`Error::KeyMismatch`], [`Error::Authentication`],
    /// [`Error::UnexpectedChunk`], [`Error::WrongChunkLength`], [`Error::UnexpectedFrame`],
    /// [`Error::OfferTooLarge`], unsafe paths) change nothing. [`Error::HashMismatch`] and
    /// [`Error::PeerAborted`] end the transfer.
    pub fn handle_frame(&mut self, frame: impl Into<Bytes>) -> Result<()> {
        if matches!(self.state, State::Failed) {
            return Err(Error::Finished);
        }
        let frame = Frame::decode(frame)?;
        match frame {
            Frame::Offer {
                manifest,
                confirm,
                salt,
            } if self.state == State::AwaitOffer => self.handle_offer(manifest, &confirm, &salt),
            Frame::Chunk {
                file,
                index,
                sealed,
            } if self.state != State::AwaitOffer && self.state != State::Deciding => {
                self.handle_chunk(file, index, sealed)
            }
            Frame::Abort { reason, message } if self.state != State::Finished => {
                self.state = State::Failed;
                self.current = None;
                Err(Error::PeerAborted { reason, message })
            }
            f => Err(Error::UnexpectedFrame {
                got: f.kind(),
                state: self.state.name(),
            }),
        }
    }

    fn handle_offer(
        &mut self,
        manifest: Bytes,
        confirm: &[u8],
        salt: &[u8; SALT_LEN],
    ) -> Result<()> {
        let m = Manifest::decode_bytes(manifest)?;
        if m.total_size() > self.config.max_total_size {
            return Err(Error::OfferTooLarge {
                total: m.total_size(),
                max: self.config.max_total_size,
            });
        }
        let key = StreamKey::derive(&self.session, m.hash(), salt, m.cipher());
        key.check_confirmation(confirm)?;
        debug!(
            files = m.files().len(),
            total = m.total_size(),
            "stream: offer accepted"
        );
        self.events.push_back(Event::Offered {
            files: m.files().len(),
            total_size: m.total_size(),
        });
        self.status = vec![Status::Needed; m.files().len()];
        self.manifest = Some(m);
        self.key = Some(key);
        self.state = State::Deciding;
        Ok(())
    }

    fn handle_chunk(&mut self, file: u32, index: u32, sealed: Bytes) -> Result<()> {
        let (Some(m), Some(cur)) = (self.manifest.as_ref(), self.current.as_mut()) else {
            return Err(Error::UnexpectedChunk {
                file,
                index,
                expected: None,
            });
        };
        let expected = (cur.file as u32, cur.opener.position());
        if (file, index) != expected {
            return Err(Error::UnexpectedChunk {
                file,
                index,
                expected: Some(expected),
            });
        }
        let plain_len = m
            .chunk_len(cur.file, u64::from(index))
            .ok_or(Error::UnexpectedChunk {
                file,
                index,
                expected: Some(expected),
            })? as usize;
        if sealed.len() != plain_len + TAG_LEN {
            return Err(Error::WrongChunkLength {
                file,
                index,
                len: sealed.len() as u64,
                expected: (plain_len + TAG_LEN) as u64,
            });
        }
        // The frame buffer is normally ours alone now, so this reuses it without a copy.
        let mut buf = sealed
            .try_into_mut()
            .unwrap_or_else(|shared| BytesMut::from(shared.as_ref()));
        let tag_bytes = buf.split_off(plain_len);
        let tag: [u8; TAG_LEN] = tag_bytes
            .as_ref()
            .try_into()
            .map_err(|_| Error::Authentication)?;
        let last = u64::from(index) + 1 == cur.chunks;
        if last {
            cur.opener.open_last(&mut buf, &tag)?;
        } else {
            cur.opener.open_next(&mut buf, &tag)?;
        }
        // Authenticated: from here on the state moves.
        cur.hasher.update(&buf);
        cur.received += plain_len as u64;
        let offset = u64::from(index) * u64::from(m.chunk_size());
        let file_index = cur.file;
        self.done += plain_len as u64;
        if plain_len > 0 {
            self.events.push_back(Event::Data {
                file: file_index,
                offset,
                data: buf.freeze(),
            });
        }
        self.events.push_back(Event::Progress(self.progress()));
        if last {
            let expected_hash = m.files().get(file_index).map(|f| *f.hash());
            let got = self
                .current
                .take()
                .map(|c| FileHash::from_bytes(*c.hasher.finalize().as_bytes()));
            if got.is_none() || got != expected_hash {
                warn!(file = file_index, "stream: file does not match its hash");
                self.state = State::Failed;
                self.queue.push_back(
                    Frame::Abort {
                        reason: AbortReason::HashMismatch,
                        message: format!("file {file_index} does not match its hash"),
                    }
                    .encode(),
                );
                return Err(Error::HashMismatch { file: file_index });
            }
            if let Some(s) = self.status.get_mut(file_index) {
                *s = Status::Done;
            }
            self.events.push_back(Event::FileDone { file: file_index });
            self.next_file();
        }
        Ok(())
    }

    /// Ends the transfer and queues an abort frame for the sender (dropping any frame not yet
    /// polled). Also after [`Event::Finished`], as long as the completion frame has not been polled:
    /// the abort replaces it.
    pub fn abort(&mut self, reason: AbortReason, message: &str) {
        let completion_pending = self.state == State::Finished && !self.queue.is_empty();
        if self.state == State::Failed || (self.state == State::Finished && !completion_pending) {
            return;
        }
        self.state = State::Failed;
        self.current = None;
        self.queue.clear();
        self.queue.push_back(
            Frame::Abort {
                reason,
                message: message.to_owned(),
            }
            .encode(),
        );
    }
}

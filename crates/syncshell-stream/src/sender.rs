//! The sans-IO sender.

use std::collections::VecDeque;

use bytes::Bytes;
use rand_core::{CryptoRng, RngCore};
use tracing::debug;

use crate::error::{Error, Result};
use crate::frame::{chunk_header, AbortReason, Frame, Want};
use crate::key::{SessionKey, StreamKey, SALT_LEN, TAG_LEN};
use crate::manifest::Manifest;
use crate::seal::ChunkSealer;
use crate::{FileProgress, Progress};

/// What the sender wants done next; see [`Sender::poll`].
#[derive(Debug)]
#[must_use]
pub enum SenderOutput {
    /// Send this frame to the receiver, then poll again.
    Transmit(Vec<u8>),
    /// Fill [`ChunkSlot::data_mut`] with the named bytes of the named file and give the slot
    /// back through [`Sender::seal`], then poll again.
    Read(ChunkSlot),
    /// Something happened; poll again.
    Event(SenderEvent),
    /// Nothing to do until a frame arrives: call [`Sender::handle_frame`], then poll again.
    Idle,
    /// The transfer is over (finished or failed); nothing more will come.
    Done,
}

/// What happened on the sending side.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SenderEvent {
    /// The receiver asked for `files` files, `bytes` bytes in all (it has the rest).
    Requested {
        /// Files to send, whole or in part.
        files: usize,
        /// Plaintext bytes to send.
        bytes: u64,
    },
    /// A chunk was sealed.
    Progress(Progress),
    /// The last chunk of a file was sealed.
    FileSent {
        /// Its index in the manifest.
        file: usize,
    },
    /// The receiver confirmed it has every file and every hash matched.
    Finished,
}

/// A chunk to read: the sender's buffer, with the frame header already in place, waiting
/// for `len()` bytes of file `file()` from byte `offset()`.
#[derive(Debug)]
pub struct ChunkSlot {
    file: u32,
    index: u32,
    offset: u64,
    header: usize,
    buf: Vec<u8>,
}

impl ChunkSlot {
    /// Index of the file in the manifest.
    pub fn file(&self) -> usize {
        self.file as usize
    }

    /// Chunk index within the file.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Byte offset of the chunk in the file.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes to read (the whole of [`ChunkSlot::data_mut`]).
    pub fn len(&self) -> usize {
        self.buf.len() - self.header
    }

    /// Whether the chunk is empty (only an empty file's single chunk is).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where the chunk's plaintext goes; fill all of it.
    pub fn data_mut(&mut self) -> &mut [u8] {
        let h = self.header;
        self.buf.get_mut(h..).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitRequest,
    Sending,
    AwaitComplete,
    Finished,
    Failed,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::AwaitRequest => "waiting for a request",
            State::Sending => "sending chunks",
            State::AwaitComplete => "waiting for completion",
            State::Finished => "finished",
            State::Failed => "failed",
        }
    }
}

#[derive(Debug)]
struct Current {
    file: u32,
    next: u32,
    chunks: u64,
    sealer: Option<ChunkSealer>,
    sent: u64,
}

/// Sends one manifest's files to one receiver, as a state machine without I/O.
///
/// Drive it like this: after creating it, and after every [`Sender::handle_frame`] or
/// [`Sender::seal`], call [`Sender::poll`] until it returns [`SenderOutput::Idle`] or
/// [`SenderOutput::Done`]. It hands out one [`ChunkSlot`] at a time and never another one
/// before the previous frame was taken with `poll`, so memory stays at one chunk whatever
/// the file sizes.
///
/// Each chunk position of each file is sealed at most once by a sender: a receiver gets one
/// request per offer. Every sender draws a new random salt for its offer, and the key is
/// bound to the manifest and that salt, so the same key and nonce never seal different
/// bytes, even when a file changes between hashing and reading and two senders offer the
/// same manifest.
#[derive(Debug)]
pub struct Sender {
    manifest: Manifest,
    key: StreamKey,
    state: State,
    queue: VecDeque<Vec<u8>>,
    events: VecDeque<SenderEvent>,
    wants: VecDeque<Want>,
    current: Option<Current>,
    slot_out: bool,
    done: u64,
}

impl Sender {
    /// A sender for `manifest`, keyed from `session` and a salt drawn from `rng` (a
    /// cryptographically secure generator: the salt keeps two offers of one manifest from
    /// sharing a key). Its first output is the offer.
    pub fn new(
        manifest: Manifest,
        session: &SessionKey,
        rng: &mut (impl CryptoRng + RngCore),
    ) -> Self {
        let mut salt = [0u8; SALT_LEN];
        rng.fill_bytes(&mut salt);
        let key = StreamKey::derive(session, manifest.hash(), &salt, manifest.cipher());
        let offer = Frame::Offer {
            manifest: manifest.encoded_bytes(),
            confirm: *key.confirmation(),
            salt,
        }
        .encode();
        Sender {
            manifest,
            key,
            state: State::AwaitRequest,
            queue: VecDeque::from([offer]),
            events: VecDeque::new(),
            wants: VecDeque::new(),
            current: None,
            slot_out: false,
            done: 0,
        }
    }

    /// The manifest being sent.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Overall progress: bytes the receiver has or was sent, of the manifest's total.
    pub fn progress(&self) -> Progress {
        Progress {
            bytes_done: self.done,
            bytes_total: self.manifest.total_size(),
            file: self.current.as_ref().map(|c| FileProgress {
                index: c.file as usize,
                bytes_done: u64::from(c.next) * u64::from(self.manifest.chunk_size()),
                bytes_total: self.file_size(c.file),
            }),
        }
    }

    /// Whether the receiver confirmed the transfer.
    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }

    fn file_size(&self, file: u32) -> u64 {
        self.manifest
            .files()
            .get(file as usize)
            .map_or(0, |f| f.size())
    }

    /// The next thing to do. See the type's documentation for the loop.
    pub fn poll(&mut self) -> SenderOutput {
        if let Some(f) = self.queue.pop_front() {
            return SenderOutput::Transmit(f);
        }
        if let Some(e) = self.events.pop_front() {
            return SenderOutput::Event(e);
        }
        match self.state {
            State::Sending if !self.slot_out => match self.next_slot() {
                Some(slot) => {
                    self.slot_out = true;
                    SenderOutput::Read(slot)
                }
                None => SenderOutput::Idle,
            },
            State::Finished | State::Failed => SenderOutput::Done,
            _ => SenderOutput::Idle,
        }
    }

    fn next_slot(&mut self) -> Option<ChunkSlot> {
        if self.current.is_none() {
            let want = self.wants.pop_front()?;
            self.current = Some(Current {
                file: want.file,
                next: want.from_chunk,
                chunks: self.manifest.chunk_count(want.file as usize),
                sealer: Some(ChunkSealer::starting_at(
                    &self.key,
                    want.file,
                    want.from_chunk,
                )),
                sent: 0,
            });
        }
        let c = self.current.as_ref()?;
        let len = self
            .manifest
            .chunk_len(c.file as usize, u64::from(c.next))? as usize;
        let sealed_len = len + TAG_LEN;
        let mut buf = chunk_header(c.file, c.next, sealed_len, 24 + sealed_len);
        let header = buf.len();
        buf.resize(header + len, 0);
        Some(ChunkSlot {
            file: c.file,
            index: c.next,
            offset: u64::from(c.next) * u64::from(self.manifest.chunk_size()),
            header,
            buf,
        })
    }

    /// Seals a filled slot and queues its frame.
    ///
    /// Fails with [`Error::InvalidArgument`] for a slot this sender is not waiting for.
    pub fn seal(&mut self, slot: ChunkSlot) -> Result<()> {
        if matches!(self.state, State::Finished | State::Failed) {
            return Err(Error::Finished);
        }
        let Some(c) = self.current.as_mut() else {
            return Err(Error::InvalidArgument("no chunk is being read"));
        };
        if !self.slot_out || slot.file != c.file || slot.index != c.next {
            return Err(Error::InvalidArgument(
                "not the chunk this sender asked for",
            ));
        }
        let ChunkSlot {
            mut buf, header, ..
        } = slot;
        let last = u64::from(c.next) + 1 == c.chunks;
        let data = buf.get_mut(header..).unwrap_or_default();
        let len = data.len() as u64;
        let tag = if last {
            let sealer = c.sealer.take().ok_or(Error::CounterExhausted)?;
            sealer.seal_last(data)?
        } else {
            let sealer = c.sealer.as_mut().ok_or(Error::CounterExhausted)?;
            sealer.seal_next(data)?
        };
        buf.extend_from_slice(&tag);
        self.queue.push_back(buf);
        self.slot_out = false;
        self.done += len;
        c.sent += len;
        if last {
            let file = c.file as usize;
            self.current = None;
            self.events.push_back(SenderEvent::FileSent { file });
        } else {
            c.next += 1;
        }
        self.events
            .push_back(SenderEvent::Progress(self.progress()));
        if self.current.is_none() && self.wants.is_empty() {
            self.state = State::AwaitComplete;
        }
        Ok(())
    }

    /// Takes a frame from the receiver.
    ///
    /// A malformed or unexpected frame, or a request or completion whose tag does not
    /// authenticate ([`Error::Authentication`]: forged, or recorded from another offer), is
    /// refused and changes nothing. An abort from the receiver ends the transfer with
    /// [`Error::PeerAborted`].
    pub fn handle_frame(&mut self, frame: impl Into<Bytes>) -> Result<()> {
        if matches!(self.state, State::Finished | State::Failed) {
            return Err(Error::Finished);
        }
        let frame = Frame::decode(frame)?;
        match (frame, self.state) {
            (
                Frame::Request {
                    manifest_hash,
                    wants,
                    tag,
                },
                State::AwaitRequest,
            ) => {
                if manifest_hash != *self.manifest.hash() {
                    return Err(Error::ManifestMismatch);
                }
                self.key.check_request_tag(&wants, &tag)?;
                let bytes = self.check_wants(&wants)?;
                debug!(files = wants.len(), bytes, "stream: request accepted");
                self.done = self.manifest.total_size() - bytes;
                self.events.push_back(SenderEvent::Requested {
                    files: wants.len(),
                    bytes,
                });
                self.state = if wants.is_empty() {
                    State::AwaitComplete
                } else {
                    State::Sending
                };
                self.wants = wants.into();
                Ok(())
            }
            (Frame::Complete { manifest_hash, tag }, State::AwaitComplete) => {
                if manifest_hash != *self.manifest.hash() {
                    return Err(Error::ManifestMismatch);
                }
                self.key.check_completion_tag(&tag)?;
                self.state = State::Finished;
                self.events.push_back(SenderEvent::Finished);
                Ok(())
            }
            (Frame::Abort { reason, message }, _) => {
                self.state = State::Failed;
                Err(Error::PeerAborted { reason, message })
            }
            (f, state) => Err(Error::UnexpectedFrame {
                got: f.kind(),
                state: state.name(),
            }),
        }
    }

    /// Checks a request against the manifest; returns the plaintext bytes it asks for.
    fn check_wants(&self, wants: &[Want]) -> Result<u64> {
        let bad = |reason| Error::Malformed {
            what: "request",
            reason,
        };
        let mut bytes = 0u64;
        let mut prev: Option<u32> = None;
        for w in wants {
            if prev.is_some_and(|p| p >= w.file) {
                return Err(bad("files are not strictly increasing"));
            }
            prev = Some(w.file);
            let Some(f) = self.manifest.files().get(w.file as usize) else {
                return Err(bad("no such file"));
            };
            if u64::from(w.from_chunk) >= self.manifest.chunk_count(w.file as usize) {
                return Err(bad("no such chunk"));
            }
            let skipped = u64::from(w.from_chunk) * u64::from(self.manifest.chunk_size());
            bytes += f.size() - skipped.min(f.size());
        }
        Ok(bytes)
    }

    /// Ends the transfer and queues an abort frame for the receiver.
    pub fn abort(&mut self, reason: AbortReason, message: &str) {
        if matches!(self.state, State::Finished | State::Failed) {
            return;
        }
        self.state = State::Failed;
        self.queue.push_back(
            Frame::Abort {
                reason,
                message: message.to_owned(),
            }
            .encode(),
        );
    }
}

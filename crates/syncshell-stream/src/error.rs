//! The crate's error type.

use crate::frame::AbortReason;

/// Everything that can go wrong in this crate.
///
/// Errors returned by `handle_frame` for a single bad frame ([`Error::Malformed`],
/// [`Error::Authentication`], [`Error::UnexpectedChunk`], [`Error::WrongChunkLength`], ...)
/// leave the state machine exactly as it was: the frame is dropped and the transfer can go on
/// if the right frame follows. Errors that end a transfer say so in their documentation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a valid encoding of the object.
    #[error("{what} is malformed: {reason}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// The input is larger than this crate accepts for that object.
    #[error("{what} is {len}, over the limit of {max}")]
    TooLarge {
        /// What was being decoded or built.
        what: &'static str,
        /// The size or count that was offered.
        len: u64,
        /// The documented limit.
        max: u64,
    },
    /// The object uses a format version this implementation does not know.
    #[error("{what} has unsupported version {version}")]
    UnsupportedVersion {
        /// What was being decoded.
        what: &'static str,
        /// The version found.
        version: u32,
    },
    /// A path is not safe to create on Windows or Unix. Nothing was written.
    #[error("unsafe path {path:?}: {reason}")]
    UnsafePath {
        /// The path, cut to 256 characters.
        path: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// Two manifest entries name the same file, also when compared without case, or one
    /// entry names a file inside another entry's file.
    #[error("path {path:?} collides with another entry: {reason}")]
    PathCollision {
        /// The second of the two paths, cut to 256 characters.
        path: String,
        /// How they collide.
        reason: &'static str,
    },
    /// A file would need more chunks than the nonce counter allows (2^32).
    #[error("a file of {size} bytes needs {chunks} chunks of {chunk_size} bytes, over 2^32")]
    TooManyChunks {
        /// The file size.
        size: u64,
        /// The chunk size.
        chunk_size: u32,
        /// Chunks needed.
        chunks: u64,
    },
    /// A sealer or opener has used every nonce of its file; it never wraps around.
    #[error("the chunk counter of this file is exhausted")]
    CounterExhausted,
    /// The offer was made with another session key, or the manifest was altered: the key
    /// confirmation does not match. Nothing of the transfer was accepted.
    #[error("key confirmation failed: wrong session key or altered manifest")]
    KeyMismatch,
    /// A chunk, a request or a completion did not authenticate (wrong key, altered, forged,
    /// or recorded from another offer). Deliberately opaque. The state did not move.
    #[error("frame failed authentication")]
    Authentication,
    /// A chunk arrived that is not the one the receiver expects next (reordered, duplicated,
    /// dropped before it, after the end, or not requested). The receiver's state did not move.
    #[error("unexpected chunk {index} of file {file} (expected {expected:?})")]
    UnexpectedChunk {
        /// File index on the wire.
        file: u32,
        /// Chunk index on the wire.
        index: u32,
        /// `(file, index)` the receiver expects, if it expects a chunk at all.
        expected: Option<(u32, u32)>,
    },
    /// A chunk's sealed length does not match the size the manifest declares for it.
    /// The receiver's state did not move.
    #[error("chunk {index} of file {file} is {len} bytes sealed, expected {expected}")]
    WrongChunkLength {
        /// File index.
        file: u32,
        /// Chunk index.
        index: u32,
        /// Sealed length received.
        len: u64,
        /// Sealed length the manifest implies.
        expected: u64,
    },
    /// A frame of this kind is not valid in the current state (for example a chunk before
    /// the offer, or a second request). The state did not move.
    #[error("unexpected {got} frame while {state}")]
    UnexpectedFrame {
        /// The kind of frame received.
        got: &'static str,
        /// What the state machine was doing.
        state: &'static str,
    },
    /// A request or completion names another manifest than the one offered.
    #[error("the frame answers another manifest")]
    ManifestMismatch,
    /// A received file does not match the BLAKE3 hash in the manifest. The transfer is over;
    /// delete the file's partial data (it was never moved into place).
    #[error("file {file} does not match its manifest hash")]
    HashMismatch {
        /// Index of the file in the manifest.
        file: usize,
    },
    /// The source changed since its manifest was made (a file's size or hash differs).
    /// Make a new manifest; it gets a new key.
    #[error("source file {path:?} changed since the manifest was made")]
    SourceChanged {
        /// The file's manifest path.
        path: String,
    },
    /// The offer declares more data than the receiver accepts.
    #[error("the offer declares {total} bytes, over the receiver's limit of {max}")]
    OfferTooLarge {
        /// Declared total size.
        total: u64,
        /// The receiver's limit.
        max: u64,
    },
    /// The peer aborted the transfer.
    #[error("the peer aborted: {reason:?} {message:?}")]
    PeerAborted {
        /// Its reason code.
        reason: AbortReason,
        /// Its message, for logs only.
        message: String,
    },
    /// The transfer has already failed or finished; make a new sender or receiver.
    #[error("the transfer is over")]
    Finished,
    /// The connection closed before the transfer finished.
    #[error("the connection closed before the transfer finished")]
    ConnectionClosed,
    /// A local read or write failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// An argument given by the caller is not acceptable.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Cuts a path for an error message so a hostile manifest cannot make huge errors.
pub(crate) fn shown(path: &str) -> String {
    path.chars().take(256).collect()
}

#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod error;
mod frame;
#[cfg(feature = "tokio")]
mod fs;
mod key;
mod limiter;
mod manifest;
mod path;
mod receiver;
mod seal;
mod sender;
mod wire;

#[allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    clippy::all
)]
mod proto {
    include!(concat!(env!("OUT_DIR"), "/syncshell.stream.v1.rs"));
}

pub use error::{Error, Result};
pub use frame::{AbortReason, Frame, Want, FRAME_VERSION, MAX_ABORT_MESSAGE_LEN, MAX_FRAME_LEN};
#[cfg(feature = "tokio")]
pub use fs::{
    build_manifest, discard_held, receive_folder, release_held, retire_removed, send_folder,
    ChannelConnection, LengthPrefixed, MessageConnection, ReceiveOptions, ReceiveReport,
    SendOptions, SendReport,
};
pub use key::{
    chunk_nonce, Cipher, SessionKey, StreamKey, AUTH_INFO, AUTH_TAG_LEN, COMPLETE_TAG_LABEL,
    CONFIRM_INFO, KEY_INFO, KEY_LEN, NONCE_LEN, REQUEST_TAG_LABEL, SALT_LEN, TAG_LEN,
};
pub use limiter::TokenBucket;
pub use manifest::{
    FileEntry, FileHash, Manifest, ManifestBuilder, ManifestHash, DEFAULT_CHUNK_SIZE,
    MANIFEST_HASH_LABEL, MAX_CHUNKS_PER_FILE, MAX_CHUNK_SIZE, MAX_FILES, MAX_MANIFEST_LEN,
    MIN_CHUNK_SIZE,
};
pub use path::{RelativePath, MAX_COMPONENT_LEN, MAX_PATH_DEPTH, MAX_PATH_LEN, PARTIAL_DIR};
pub use receiver::{Event, Receiver, ReceiverConfig, ReceiverOutput, DEFAULT_MAX_TOTAL_SIZE};
pub use seal::{ChunkOpener, ChunkSealer};
pub use sender::{ChunkSlot, Sender, SenderEvent, SenderOutput};

/// How far a transfer is, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Bytes the receiver has: present before, resumed, or received and authenticated.
    pub bytes_done: u64,
    /// The manifest's total size.
    pub bytes_total: u64,
    /// The file in flight, if any.
    pub file: Option<FileProgress>,
}

/// Progress of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileProgress {
    /// Its index in the manifest.
    pub index: usize,
    /// Bytes of it done.
    pub bytes_done: u64,
    /// Its size.
    pub bytes_total: u64,
}

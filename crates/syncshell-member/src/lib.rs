#![doc = include_str!("../README.md")]

mod error;
#[cfg(feature = "tokio")]
mod folder;
mod join;
mod link;
mod member;
#[cfg(feature = "tokio")]
mod node;
mod settings;
#[cfg(feature = "tokio")]
mod start;

#[allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    clippy::all
)]
mod proto {
    include!(concat!(env!("OUT_DIR"), "/syncshell.member.v1.rs"));
}

pub use error::Error;
#[cfg(feature = "tokio")]
pub use folder::{DataFolder, FolderLock, KeyError};
pub use join::{Joiner, JOIN_RETRY};
pub use link::{
    ChatKind, Direction, Info, LinkMessage, RelayMessage, MAX_CHAT_TEXT_LEN, MAX_DENIED_LEN,
    MAX_LINK_MESSAGE_LEN, MAX_NAME_LEN, MAX_RELAY_MESSAGE_LEN, VERSION,
};
pub use member::{
    Config, ConnId, Event, LinkEnd, LinkView, Member, MemberRng, Output, Shell, Stored, Transfer,
    TransferFrame, TransferRole, ACCEPT_RATE, ADMISSION_RECHECK, DIAL_TIMEOUT, HANDSHAKE_LIMIT,
    INFO_WAIT, MAX_RECEIVES, NEWS_FANOUT, PING_TIMEOUT, RING_GRACE, RING_TIMEOUT,
};
#[cfg(feature = "tokio")]
pub use node::{sharer_folder, wall_clock, Folders, Node, Storage, Waiting};
pub use settings::{Settings, MAX_DENIED, MAX_PAUSED_MEMBERS};
#[cfg(feature = "tokio")]
pub use start::{
    FirstStart, Key, Opening, StartError, StartOptions, Started, Startup, WebRtcNet, DEFAULT_RELAY,
    FIRST_ICE_GRANT, WEBRTC_CONNECT_TIMEOUT,
};

#![doc = include_str!("../README.md")]

mod error;
mod link;

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
pub use link::{
    ChatKind, Direction, Info, LinkMessage, RelayMessage, MAX_CHAT_TEXT_LEN, MAX_DENIED_LEN,
    MAX_LINK_MESSAGE_LEN, MAX_NAME_LEN, MAX_RELAY_MESSAGE_LEN, VERSION,
};

#![doc = include_str!("../README.md")]

#[cfg(feature = "tokio")]
mod adapter;
mod agree;
mod backoff;
mod error;
mod handshake;
mod replay;

#[allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    clippy::all
)]
mod proto {
    include!(concat!(env!("OUT_DIR"), "/syncshell.reconnect.v1.rs"));
}

#[cfg(feature = "tokio")]
pub use adapter::{run, MessageConnection};
pub use backoff::{BackoffPolicy, Reconnector, Retry};
pub use error::{Error, Result};
pub use handshake::{
    drive_in_memory, Handshake, Local, Session, HANDSHAKE_TIMEOUT, INITIATOR_CONTEXT,
    MAX_CHANNEL_BINDING_LEN, MAX_MESSAGE_AGE, MAX_MESSAGE_LEN, RESPONDER_CONTEXT,
};
pub use replay::{ReplayGuard, MAX_REMEMBERED_NONCES};

//! Signaling through a small relay server: the `syncshell-signal` binary's protocol, its
//! server and its client. The protocol is specified in `docs/spec/signal.md`.
//!
//! A client proves its key by signing the server's challenge and shows its token chain and
//! the shell's genesis (or, to join, a join request); the server verifies them itself and
//! then relays opaque blobs between admitted peers of the same shell only.

mod client;
mod frame;
mod server;

pub use client::{
    ClientOptions, Credentials, Notice, SignalClient, SignalError, Status, TransportSignaling,
};
pub use frame::{
    signed_bytes, Frame, FrameError, NoticeCode, RefuseCode, Standing, AUTH_CONTEXT,
    MAX_CREDENTIAL_LEN, MAX_REASON_LEN, NONCE_LEN, SESSION_LEN, VERSION,
};
pub use server::{Limits, Server};

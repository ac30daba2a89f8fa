//! Signaling through a small relay server: the `syncshell-signal` binary's protocol, its
//! server and its client. The protocol is specified in `docs/spec/signal.md`.
//!
//! A client proves its key by signing the server's challenge and shows its token chain and
//! the shell's genesis (or, to join, a join request); the server verifies them itself and
//! then relays opaque blobs between admitted peers of the same shell only. It serves plain
//! `ws://` or, given a certificate, `wss://`, and hands admitted peers its STUN and TURN
//! servers with short-lived TURN credentials.

mod client;
mod frame;
mod ice;
mod server;
mod tls;

pub use client::{
    ClientOptions, Credentials, Notice, SignalClient, SignalError, Status, TransportSignaling,
};
pub use frame::{
    signed_bytes, Frame, FrameError, IceServer, NoticeCode, RefuseCode, Standing, AUTH_CONTEXT,
    MAX_CREDENTIAL_LEN, MAX_ICE_SERVERS, MAX_ICE_TEXT_LEN, MAX_ICE_URLS, MAX_REASON_LEN, NONCE_LEN,
    SESSION_LEN, VERSION,
};
pub use ice::{
    turn_password, turn_username, IceConfig, IceGrant, TurnSecret, DEFAULT_TURN_TTL, MAX_TURN_TTL,
    MIN_TURN_TTL,
};
pub use server::{Limits, Server};
pub use tls::ServerTls;

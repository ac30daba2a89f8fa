#![doc = include_str!("../README.md")]

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "server")]
mod cluster;
mod error;
mod frame;
mod hints;
mod ice;
#[cfg(feature = "server")]
mod listener;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "client")]
mod tls;

#[cfg(feature = "client")]
pub use client::{ClientOptions, Credentials, Notice, SignalClient, Status, TransportSignaling};
#[cfg(feature = "server")]
pub use cluster::RedisConfig;
pub use error::Error;
pub use frame::{
    signed_bytes, Frame, IceServer, NoticeCode, PresenceChange, RefuseCode, Standing, AUTH_CONTEXT,
    MAX_CREDENTIAL_LEN, MAX_ICE_SERVERS, MAX_ICE_TEXT_LEN, MAX_ICE_URLS, MAX_PRESENCE_PEERS,
    MAX_REASON_LEN, NONCE_LEN, SESSION_LEN, VERSION,
};
pub use hints::{relay_hints, relay_hints_text, MAX_HINT_RELAYS};
pub use ice::{
    turn_password, turn_username, IceConfig, IceGrant, TurnSecret, DEFAULT_TURN_TTL, MAX_TURN_TTL,
    MIN_TURN_TTL,
};
#[cfg(feature = "server")]
pub use listener::ServerTls;
#[cfg(feature = "server")]
pub use server::{Limits, Server};

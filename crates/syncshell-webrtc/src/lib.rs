#![doc = include_str!("../README.md")]

mod config;
mod connection;
mod error;
mod link;
mod runtime;
mod signal;
mod transport;
mod turn_tcp;
#[cfg(test)]
mod vectors;

pub use config::{IceServer, WebRtcConfig, MIN_WINDOW};
pub use connection::WebRtcConnection;
pub use error::WebRtcError;
pub use link::SetupTimes;
pub use transport::{WebRtcTransport, CHANNEL_BINDING_LABEL};

//! The crate's error type.

/// What can go wrong on a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection was closed (by either side); nothing more can be sent.
    #[error("the connection is closed")]
    Closed,
    /// The connection broke (killed, partitioned, reset) before it was closed.
    #[error("the connection was lost")]
    ConnectionLost,
    /// The connection is not open yet.
    #[error("the connection is not open yet")]
    NotOpen,
    /// The peer is slow: the send buffer is full. Wait ([`crate::Connection::send`]) or retry.
    #[error("the send buffer is full")]
    WouldBlock,
    /// The message is larger than the connection accepts.
    #[error("message of {len} bytes is over the limit of {max}")]
    TooLarge {
        /// The message size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The backend has no unreliable channel.
    #[error("this backend has no unreliable channel")]
    Unsupported,
    /// No peer answers at that address.
    #[error("no peer at {0}")]
    Unreachable(String),
    /// The peer broke the framing rules.
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
    /// A backend-specific failure.
    #[error("transport failure: {0}")]
    Backend(String),
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

use crate::frame::RefuseCode;

/// Why a frame did not decode, or why the client (or the relay's set-up) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The frame is shorter than its fields.
    #[error("truncated signaling frame")]
    Truncated,
    /// The version byte is not [`VERSION`](crate::VERSION).
    #[error("unsupported signaling version {0}")]
    UnsupportedVersion(u8),
    /// The type byte names no frame.
    #[error("unknown signaling frame type {0}")]
    UnknownType(u8),
    /// A field holds a value it may not.
    #[error("malformed signaling frame: {0}")]
    Malformed(&'static str),
    /// A length field is over its bound.
    #[error("signaling field of {len} bytes is over the limit of {max}")]
    TooLarge {
        /// The length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// The server could not be reached, or the connection broke.
    #[error("signal server unreachable: {0}")]
    Connect(String),
    /// TLS with the server failed: most often its certificate is not trusted (not issued by
    /// a system root nor by the CA file, or not for the URL's host). Retrying does not help
    /// until the certificate or the trust changes.
    #[error("TLS with the signal server failed: {0}")]
    Tls(String),
    /// A setting or a file it names is unusable: a CA, certificate, key or TURN secret file,
    /// an ICE server URL, a lifetime.
    #[error("signal settings: {0}")]
    Config(String),
    /// The server refused or closed the connection, and said why.
    #[error("signal server refused: {code:?} ({reason})")]
    Refused {
        /// Why.
        code: RefuseCode,
        /// The server's words.
        reason: String,
    },
    /// The server broke the protocol.
    #[error("signal protocol error: {0}")]
    Protocol(String),
    /// The client was closed.
    #[error("signal client closed")]
    Closed,
}

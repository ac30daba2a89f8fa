//! The crate's error type.

use syncshell_identity::Timestamp;

/// Why a handshake failed. Every variant is final: a failed handshake releases no session key
/// and must be started again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer belongs to another shell.
    #[error("the peer belongs to another shell")]
    WrongShell,
    /// The peer, or a key its admission rests on, is revoked.
    #[error("the peer is revoked")]
    Revoked,
    /// The peer's token chain has expired (or is not valid yet).
    #[error("the peer's token has expired or is not valid yet")]
    Expired,
    /// The peer's credentials do not admit it (broken chain, no authority, bad token).
    #[error("the peer is not admitted: {0}")]
    NotAdmitted(String),
    /// A signature over the transcript did not verify (another connection, a tampered
    /// message, or an impostor).
    #[error("handshake signature verification failed")]
    BadSignature,
    /// A nonce was seen before, or a message is too old or from too far in the future.
    #[error("replayed or stale handshake message")]
    Replay,
    /// The peer presented our own key: a reflected message.
    #[error("the peer presented our own key (reflection)")]
    Reflection,
    /// The peer's X25519 key has low order, or the shared secret is all zero.
    #[error("the peer's ephemeral key is of low order")]
    LowOrderKey,
    /// The handshake did not finish before its deadline.
    #[error("handshake timed out at {deadline}")]
    Timeout {
        /// The deadline that passed.
        deadline: Timestamp,
    },
    /// The message uses a format version this implementation does not know.
    #[error("unsupported handshake version {0}")]
    UnsupportedVersion(u32),
    /// A message could not be decoded or is out of bounds.
    #[error("malformed handshake message: {0}")]
    Malformed(&'static str),
    /// A message arrived that this side does not expect in its current state.
    #[error("unexpected handshake message: {0}")]
    Unexpected(&'static str),
    /// Too many handshakes are in flight for the replay guard to remember their nonces.
    #[error("too many handshakes in flight")]
    Busy,
    /// An argument given by the caller is not acceptable.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
}

impl From<syncshell_revocation::Error> for Error {
    fn from(e: syncshell_revocation::Error) -> Self {
        use syncshell_identity::Error as I;
        use syncshell_revocation::Error as R;
        match e {
            R::Revoked { .. } | R::Identity(I::Revoked { .. }) => Error::Revoked,
            R::WrongShell | R::Identity(I::WrongShell { .. }) => Error::WrongShell,
            R::Identity(I::Expired { .. } | I::NotYetValid { .. }) => Error::Expired,
            R::Identity(I::BadSignature) => {
                Error::NotAdmitted("a token signature is invalid".into())
            }
            other => Error::NotAdmitted(other.to_string()),
        }
    }
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

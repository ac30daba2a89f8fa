//! The crate's error type.

use syncshell_identity::PeerId;

use crate::TombstoneId;

/// Everything that can go wrong with tombstones and revocation sets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A signature, token chain or encoding failed in syncshell-identity.
    #[error(transparent)]
    Identity(#[from] syncshell_identity::Error),
    /// The peer, or a key its admission rests on, has been revoked.
    #[error("{peer} is revoked (tombstone {tombstone})")]
    Revoked {
        /// The revoked key (the peer itself or an admin in its chain).
        peer: Box<PeerId>,
        /// The tombstone that revoked it.
        tombstone: TombstoneId,
    },
    /// The tombstone or set belongs to another shell.
    #[error("tombstone belongs to another shell")]
    WrongShell,
    /// The issuer may not revoke (not an admin), or the target may not be revoked (the owner).
    #[error("not authorised: {0}")]
    NotAuthorized(&'static str),
    /// The bytes are not a valid encoding.
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// The input, or the set, is larger than this crate accepts.
    #[error("{what} is {len}, over the limit of {max}")]
    TooLarge {
        /// What is too large.
        what: &'static str,
        /// The size offered.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The object uses a format version this implementation does not know.
    #[error("unsupported version {0}")]
    UnsupportedVersion(u32),
    /// A snapshot entry failed verification: the whole snapshot is refused.
    #[error("snapshot entry {index} is invalid: {error}")]
    Snapshot {
        /// Position of the entry in the snapshot.
        index: usize,
        /// Why it failed.
        error: Box<Error>,
    },
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! The crate's error type.

/// Everything that can go wrong with phonebook entries, books and sync messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A signature, token chain or encoding failed in syncshell-identity.
    #[error(transparent)]
    Identity(#[from] syncshell_identity::Error),
    /// A tombstone failed verification or did not fit in the revocation set.
    #[error(transparent)]
    Revocation(#[from] syncshell_revocation::Error),
    /// The entry or book belongs to another shell.
    #[error("entry belongs to another shell")]
    WrongShell,
    /// The bytes are not a valid encoding.
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// The input, or the book, is larger than this crate accepts.
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
    /// An argument given by the caller is not acceptable.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
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

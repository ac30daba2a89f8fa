//! The one error type of the crate.

use syncshell_identity::{PeerId, Timestamp};

/// Why a message or a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The message is longer than its kind allows (checked before decoding).
    #[error("message of {len} bytes over the limit of {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The message is of a version this crate does not speak.
    #[error("unsupported version {0}")]
    UnsupportedVersion(u32),
    /// The bytes are not a message of the schema.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The message decodes but breaks a rule of the spec (a field over its bound, an unknown
    /// enum value).
    #[error("invalid message: {0}")]
    Invalid(&'static str),
    /// The shell's rules refuse it (an expired or foreign invite, a member without the
    /// role, ...).
    #[error(transparent)]
    Identity(#[from] syncshell_identity::Error),
    /// The revocation set refuses it (this member or the target is revoked, ...).
    #[error(transparent)]
    Revocation(#[from] syncshell_revocation::Error),
    /// The phonebook refuses it.
    #[error(transparent)]
    Phonebook(#[from] syncshell_phonebook::Error),
    /// No member of the phonebook goes by that name or id.
    #[error("no member is named {0:?} or has an id starting so")]
    UnknownMember(String),
    /// Several members go by that name or id start.
    #[error("{who:?} names several members ({matches}): give more of the id")]
    AmbiguousMember {
        /// What was asked for.
        who: String,
        /// The members it names, with their short ids.
        matches: String,
    },
    /// The invite expired before the inviter answered: ask for a new one.
    #[error("the invite expired at {at} while waiting for the inviter: ask for a new one")]
    InviteExpired {
        /// When it expired.
        at: Timestamp,
    },
    /// The inviter did not answer in time: ask them to come online, or wait longer.
    #[error(
        "the inviter {} did not {} within {} s: ask them to start their node and try again",
        inviter.short(),
        if *online { "answer" } else { "come online" },
        timeout.as_secs_f64()
    )]
    JoinTimedOut {
        /// The inviter.
        inviter: Box<PeerId>,
        /// Whether the relay saw the inviter online.
        online: bool,
        /// How long the join waited.
        timeout: std::time::Duration,
    },
    /// The inviter refused the join.
    #[error("refused: {0}")]
    JoinDenied(String),
}

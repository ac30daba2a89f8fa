//! The crate's error type.

use std::fmt;

use crate::Timestamp;

/// The kind of object an error is about, so one error type can say "invite expired" and
/// "token expired" apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// A [`crate::PeerId`] or its text form.
    PeerId,
    /// A [`crate::ShellId`] or its text form.
    ShellId,
    /// A [`crate::SignedEnvelope`].
    Envelope,
    /// A [`crate::ShellGenesis`].
    Genesis,
    /// A [`crate::MemberToken`].
    MemberToken,
    /// A [`crate::TokenChain`].
    TokenChain,
    /// An [`crate::Invite`] or [`crate::InviteCode`].
    Invite,
    /// A [`crate::JoinRequest`].
    JoinRequest,
    /// A [`crate::KeyFile`].
    KeyFile,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::PeerId => "peer id",
            Kind::ShellId => "shell id",
            Kind::Envelope => "signed envelope",
            Kind::Genesis => "shell genesis",
            Kind::MemberToken => "member token",
            Kind::TokenChain => "token chain",
            Kind::Invite => "invite",
            Kind::JoinRequest => "join request",
            Kind::KeyFile => "key file",
        })
    }
}

/// Everything that can go wrong in this crate.
///
/// Each variant says what the caller can do about it: input that is malformed or too large is
/// rejected before any signature is checked; a [`Error::BadSignature`] is deliberately opaque.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A signature did not verify (strict Ed25519), or a key is not acceptable for signing.
    #[error("signature verification failed")]
    BadSignature,
    /// The bytes are not a valid encoding of the object.
    #[error("{kind} is malformed: {reason}")]
    Malformed {
        /// What was being decoded.
        kind: Kind,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// The input is larger than this crate accepts for that object.
    #[error("{kind} is {len} bytes, over the limit of {max}")]
    TooLarge {
        /// What was being decoded or built.
        kind: Kind,
        /// The size that was offered.
        len: usize,
        /// The documented limit.
        max: usize,
    },
    /// The object uses a format version this implementation does not know.
    #[error("{kind} has unsupported version {version}")]
    UnsupportedVersion {
        /// What was being decoded.
        kind: Kind,
        /// The version found.
        version: u32,
    },
    /// The object is past its expiry (valid strictly before `expired_at`).
    #[error("{kind} expired at {expired_at} (now {now})")]
    Expired {
        /// What expired.
        kind: Kind,
        /// When it stopped being valid.
        expired_at: Timestamp,
        /// The time it was checked against.
        now: Timestamp,
    },
    /// The object claims to be issued later than `now` plus [`crate::MAX_CLOCK_SKEW`].
    #[error("{kind} is issued at {issued_at}, in the future (now {now})")]
    NotYetValid {
        /// What is not valid yet.
        kind: Kind,
        /// The issue time it claims.
        issued_at: Timestamp,
        /// The time it was checked against.
        now: Timestamp,
    },
    /// The object belongs to a different shell than the one it was checked against.
    #[error("{kind} belongs to another shell")]
    WrongShell {
        /// What was checked.
        kind: Kind,
    },
    /// A token chain is longer than [`crate::MAX_CHAIN_DEPTH`].
    #[error("token chain has {depth} tokens, over the limit of {max}")]
    ChainTooDeep {
        /// Tokens in the chain.
        depth: usize,
        /// The limit.
        max: usize,
    },
    /// The tokens of a chain do not link from the member to the shell owner.
    #[error("token chain is broken: {0}")]
    BrokenChain(&'static str),
    /// The signer had no authority to do this (a member issuing tokens, an admin granting more
    /// than it holds).
    #[error("not authorised: {0}")]
    NotAuthorized(&'static str),
    /// A key the admission rests on (the peer itself, or an admin its chain passes through)
    /// is revoked: the peer is out of the shell for good.
    #[error("{peer} is revoked")]
    Revoked {
        /// The revoked key.
        peer: Box<crate::PeerId>,
    },
    /// A token or invite would be valid for longer than its issuer's own token.
    #[error("{kind} would outlive its issuer's token")]
    OutlivesIssuer {
        /// The object that outlives its issuer.
        kind: Kind,
    },
    /// Someone other than an invite's inviter tried to redeem it; only the inviter accepts
    /// join requests made with its invites.
    #[error("only the invite's inviter can accept its join requests")]
    NotInviter,
    /// The invite has been used by as many joiners as it allows.
    #[error("invite has reached its use limit ({max_uses})")]
    InviteUsedUp {
        /// The invite's use limit.
        max_uses: u32,
    },
    /// A text form does not start with the expected prefix.
    #[error("{kind} text must start with {expected:?}")]
    WrongPrefix {
        /// What was being parsed.
        kind: Kind,
        /// The prefix expected.
        expected: &'static str,
    },
    /// A text form contains a character outside its alphabet.
    #[error("{kind} text has the character {ch:?} at position {position}, which is not allowed")]
    BadCharacter {
        /// What was being parsed.
        kind: Kind,
        /// The offending character.
        ch: char,
        /// Its position (in characters) in the input.
        position: usize,
    },
    /// A text form's checksum does not match: it was mistyped, cut short or altered.
    #[error("{kind} text has a bad checksum: it was mistyped, cut or altered")]
    BadChecksum {
        /// What was being parsed.
        kind: Kind,
    },
    /// The passphrase does not open the key file.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// The key file's bytes were damaged.
    #[error("key file is corrupted")]
    CorruptKeyFile,
    /// Key-derivation parameters are outside the accepted range.
    #[error("key-derivation parameters out of range: {0}")]
    KdfParams(&'static str),
    /// An argument given by the caller is not acceptable.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

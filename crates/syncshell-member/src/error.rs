//! The one error type of the crate.

/// Why a message was refused.
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
}

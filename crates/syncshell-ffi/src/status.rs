//! Status codes, the error every export can return, the thread-local last error and the
//! panic boundary.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What a call did. `SYNCSHELL_OK` is 0; every failure is a code from 7301 up, so a stray
/// `errno`, `HRESULT` or boolean is never mistaken for one of ours.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum syncshell_status {
    /// Success: the out-parameters were written.
    SYNCSHELL_OK = 0,
    /// A required pointer argument was NULL, or a handle argument was 0.
    SYNCSHELL_ERR_NULL_ARGUMENT = 7301,
    /// The handle was never issued or was already freed (use after free, double free).
    SYNCSHELL_ERR_INVALID_HANDLE = 7302,
    /// The handle is live but of another kind than the function takes.
    SYNCSHELL_ERR_WRONG_HANDLE_KIND = 7303,
    /// The library panicked; the call had no effect the host can rely on. The message is in
    /// the last error.
    SYNCSHELL_ERR_PANIC = 7304,
    /// An argument is out of range, not UTF-8, or of the wrong length.
    SYNCSHELL_ERR_INVALID_ARGUMENT = 7305,
    /// The caller's buffer is too small; nothing was written.
    SYNCSHELL_ERR_BUFFER_TOO_SMALL = 7306,
    /// Bytes or text could not be decoded (malformed, wrong version, wrong checksum).
    SYNCSHELL_ERR_DECODE = 7307,
    /// A signature, token chain or admission check failed.
    SYNCSHELL_ERR_VERIFY = 7308,
    /// The peer (or a key its chain rests on) is revoked.
    SYNCSHELL_ERR_REVOKED = 7309,
    /// Something expired or is not valid yet.
    SYNCSHELL_ERR_EXPIRED = 7310,
    /// The key file's passphrase is wrong.
    SYNCSHELL_ERR_WRONG_PASSPHRASE = 7311,
    /// A file system operation failed.
    SYNCSHELL_ERR_IO = 7312,
    /// Nothing happened within the timeout; the object is fine, call again.
    SYNCSHELL_ERR_TIMEOUT = 7313,
    /// The connection, transport or transfer is closed; nothing more will come.
    SYNCSHELL_ERR_CLOSED = 7314,
    /// A queue is full; drain the other direction and retry.
    SYNCSHELL_ERR_WOULD_BLOCK = 7315,
    /// The handshake failed (bad signature, replay, wrong shell, timeout...).
    SYNCSHELL_ERR_HANDSHAKE = 7316,
    /// The transfer failed (authentication, hash mismatch, peer abort...).
    SYNCSHELL_ERR_TRANSFER = 7317,
    /// The transport failed (unreachable peer, lost connection, backend error).
    SYNCSHELL_ERR_TRANSPORT = 7318,
    /// A size or count limit was hit, or the peer is too busy.
    SYNCSHELL_ERR_LIMIT = 7319,
    /// The object was left inconsistent by an earlier panic; free it.
    SYNCSHELL_ERR_POISONED = 7320,
    /// The object is not in a state where this call makes sense (for example a session key
    /// before the handshake finished).
    SYNCSHELL_ERR_STATE = 7321,
    /// The request is not allowed: the issuer may not issue that, the owner cannot be
    /// revoked, the invite is used up.
    SYNCSHELL_ERR_NOT_ALLOWED = 7322,
}

impl syncshell_status {
    /// The variant's name, NUL-terminated.
    pub(crate) fn name(self) -> &'static [u8] {
        use syncshell_status::*;
        match self {
            SYNCSHELL_OK => b"SYNCSHELL_OK\0",
            SYNCSHELL_ERR_NULL_ARGUMENT => b"SYNCSHELL_ERR_NULL_ARGUMENT\0",
            SYNCSHELL_ERR_INVALID_HANDLE => b"SYNCSHELL_ERR_INVALID_HANDLE\0",
            SYNCSHELL_ERR_WRONG_HANDLE_KIND => b"SYNCSHELL_ERR_WRONG_HANDLE_KIND\0",
            SYNCSHELL_ERR_PANIC => b"SYNCSHELL_ERR_PANIC\0",
            SYNCSHELL_ERR_INVALID_ARGUMENT => b"SYNCSHELL_ERR_INVALID_ARGUMENT\0",
            SYNCSHELL_ERR_BUFFER_TOO_SMALL => b"SYNCSHELL_ERR_BUFFER_TOO_SMALL\0",
            SYNCSHELL_ERR_DECODE => b"SYNCSHELL_ERR_DECODE\0",
            SYNCSHELL_ERR_VERIFY => b"SYNCSHELL_ERR_VERIFY\0",
            SYNCSHELL_ERR_REVOKED => b"SYNCSHELL_ERR_REVOKED\0",
            SYNCSHELL_ERR_EXPIRED => b"SYNCSHELL_ERR_EXPIRED\0",
            SYNCSHELL_ERR_WRONG_PASSPHRASE => b"SYNCSHELL_ERR_WRONG_PASSPHRASE\0",
            SYNCSHELL_ERR_IO => b"SYNCSHELL_ERR_IO\0",
            SYNCSHELL_ERR_TIMEOUT => b"SYNCSHELL_ERR_TIMEOUT\0",
            SYNCSHELL_ERR_CLOSED => b"SYNCSHELL_ERR_CLOSED\0",
            SYNCSHELL_ERR_WOULD_BLOCK => b"SYNCSHELL_ERR_WOULD_BLOCK\0",
            SYNCSHELL_ERR_HANDSHAKE => b"SYNCSHELL_ERR_HANDSHAKE\0",
            SYNCSHELL_ERR_TRANSFER => b"SYNCSHELL_ERR_TRANSFER\0",
            SYNCSHELL_ERR_TRANSPORT => b"SYNCSHELL_ERR_TRANSPORT\0",
            SYNCSHELL_ERR_LIMIT => b"SYNCSHELL_ERR_LIMIT\0",
            SYNCSHELL_ERR_POISONED => b"SYNCSHELL_ERR_POISONED\0",
            SYNCSHELL_ERR_STATE => b"SYNCSHELL_ERR_STATE\0",
            SYNCSHELL_ERR_NOT_ALLOWED => b"SYNCSHELL_ERR_NOT_ALLOWED\0",
        }
    }
}

use syncshell_status as S;

/// A failed call: the status to return and the message for the last error.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: syncshell_status,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(status: syncshell_status, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }
}

/// The result of an export's body.
pub(crate) type Outcome<T = ()> = Result<T, Failure>;

impl From<::syncshell_identity::Error> for Failure {
    fn from(e: ::syncshell_identity::Error) -> Self {
        use ::syncshell_identity::Error as E;
        let status = match &e {
            E::BadSignature | E::WrongShell { .. } | E::BrokenChain(_) => S::SYNCSHELL_ERR_VERIFY,
            E::Malformed { .. }
            | E::UnsupportedVersion { .. }
            | E::WrongPrefix { .. }
            | E::BadCharacter { .. }
            | E::BadChecksum { .. }
            | E::CorruptKeyFile => S::SYNCSHELL_ERR_DECODE,
            E::TooLarge { .. } | E::ChainTooDeep { .. } => S::SYNCSHELL_ERR_LIMIT,
            E::Expired { .. } | E::NotYetValid { .. } => S::SYNCSHELL_ERR_EXPIRED,
            E::NotAuthorized(_) | E::OutlivesIssuer { .. } | E::InviteUsedUp { .. } => {
                S::SYNCSHELL_ERR_NOT_ALLOWED
            }
            E::WrongPassphrase => S::SYNCSHELL_ERR_WRONG_PASSPHRASE,
            E::KdfParams(_) | E::InvalidArgument(_) => S::SYNCSHELL_ERR_INVALID_ARGUMENT,
            _ => S::SYNCSHELL_ERR_VERIFY,
        };
        Failure::new(status, e.to_string())
    }
}

impl From<::syncshell_member::Error> for Failure {
    fn from(e: ::syncshell_member::Error) -> Self {
        use ::syncshell_member::Error as E;
        match e {
            E::Identity(e) => e.into(),
            E::Revocation(e) => e.into(),
            E::Phonebook(e) => e.into(),
            e => {
                let status = match &e {
                    E::UnknownMember(_) | E::AmbiguousMember { .. } => {
                        S::SYNCSHELL_ERR_INVALID_ARGUMENT
                    }
                    E::InviteExpired { .. } => S::SYNCSHELL_ERR_EXPIRED,
                    E::JoinTimedOut { .. } => S::SYNCSHELL_ERR_TIMEOUT,
                    E::JoinDenied(_) => S::SYNCSHELL_ERR_NOT_ALLOWED,
                    E::TooLarge { .. } => S::SYNCSHELL_ERR_LIMIT,
                    _ => S::SYNCSHELL_ERR_DECODE,
                };
                Failure::new(status, e.to_string())
            }
        }
    }
}

impl From<::syncshell_revocation::Error> for Failure {
    fn from(e: ::syncshell_revocation::Error) -> Self {
        use ::syncshell_revocation::Error as E;
        let status = match e {
            E::Identity(inner) => return inner.into(),
            E::Revoked { .. } => S::SYNCSHELL_ERR_REVOKED,
            E::WrongShell => S::SYNCSHELL_ERR_VERIFY,
            E::NotAuthorized(_) => S::SYNCSHELL_ERR_NOT_ALLOWED,
            E::Malformed(_) | E::UnsupportedVersion(_) | E::Snapshot { .. } => {
                S::SYNCSHELL_ERR_DECODE
            }
            E::TooLarge { .. } => S::SYNCSHELL_ERR_LIMIT,
            ref other => return Failure::new(S::SYNCSHELL_ERR_VERIFY, other.to_string()),
        };
        Failure::new(status, e.to_string())
    }
}

impl From<::syncshell_phonebook::Error> for Failure {
    fn from(e: ::syncshell_phonebook::Error) -> Self {
        use ::syncshell_phonebook::Error as E;
        let status = match e {
            E::Identity(inner) => return inner.into(),
            E::Revocation(inner) => return inner.into(),
            E::WrongShell => S::SYNCSHELL_ERR_VERIFY,
            E::Malformed(_) | E::UnsupportedVersion(_) | E::Snapshot { .. } => {
                S::SYNCSHELL_ERR_DECODE
            }
            E::TooLarge { .. } => S::SYNCSHELL_ERR_LIMIT,
            E::InvalidArgument(_) => S::SYNCSHELL_ERR_INVALID_ARGUMENT,
            ref other => return Failure::new(S::SYNCSHELL_ERR_VERIFY, other.to_string()),
        };
        Failure::new(status, e.to_string())
    }
}

impl From<::syncshell_reconnect::Error> for Failure {
    fn from(e: ::syncshell_reconnect::Error) -> Self {
        use ::syncshell_reconnect::Error as E;
        let status = match &e {
            E::Revoked => S::SYNCSHELL_ERR_REVOKED,
            E::Busy => S::SYNCSHELL_ERR_LIMIT,
            E::InvalidArgument(_) => S::SYNCSHELL_ERR_INVALID_ARGUMENT,
            _ => S::SYNCSHELL_ERR_HANDSHAKE,
        };
        Failure::new(status, format!("handshake: {e}"))
    }
}

impl From<::syncshell_stream::Error> for Failure {
    fn from(e: ::syncshell_stream::Error) -> Self {
        use ::syncshell_stream::Error as E;
        let status = match &e {
            E::Io(_) => S::SYNCSHELL_ERR_IO,
            E::InvalidArgument(_) | E::UnsafePath { .. } | E::PathCollision { .. } => {
                S::SYNCSHELL_ERR_INVALID_ARGUMENT
            }
            E::ConnectionClosed => S::SYNCSHELL_ERR_CLOSED,
            _ => S::SYNCSHELL_ERR_TRANSFER,
        };
        Failure::new(status, format!("transfer: {e}"))
    }
}

impl From<::syncshell_transport::Error> for Failure {
    fn from(e: ::syncshell_transport::Error) -> Self {
        use ::syncshell_transport::Error as E;
        let status = match &e {
            E::Closed => S::SYNCSHELL_ERR_CLOSED,
            E::WouldBlock => S::SYNCSHELL_ERR_WOULD_BLOCK,
            E::TooLarge { .. } => S::SYNCSHELL_ERR_LIMIT,
            _ => S::SYNCSHELL_ERR_TRANSPORT,
        };
        Failure::new(status, format!("transport: {e}"))
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::new(S::SYNCSHELL_ERR_IO, e.to_string())
    }
}

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Records `message` as this thread's last error.
pub(crate) fn set_last_error(message: String) {
    LAST_ERROR.with(|last| *last.borrow_mut() = message);
}

/// This thread's last error message ("" if none).
pub(crate) fn last_error() -> String {
    LAST_ERROR.with(|last| last.borrow().clone())
}

/// Runs an export's body: its failure becomes a status and the last error, and a panic is
/// caught and reported as [`syncshell_status::SYNCSHELL_ERR_PANIC`] instead of unwinding
/// into the host.
pub(crate) fn boundary(body: impl FnOnce() -> Outcome) -> syncshell_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => S::SYNCSHELL_OK,
        Ok(Err(failure)) => {
            set_last_error(failure.message);
            failure.status
        }
        Err(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown payload".to_owned());
            set_last_error(format!("panic inside syncshell: {text}"));
            S::SYNCSHELL_ERR_PANIC
        }
    }
}

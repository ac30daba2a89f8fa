#![doc = include_str!("../README.md")]
// The host's pointers are read here and nowhere else in the workspace.
#![allow(unsafe_code)]

mod args;
mod buffer;
mod handle;
mod handshake;
mod identity;
mod member;
mod phonebook;
mod revocation;
mod runtime;
mod status;
mod transfer;
mod transport;

use std::ffi::c_char;

pub use buffer::*;
pub use handle::syncshell_handle;
pub use handshake::*;
pub use identity::*;
pub use member::*;
pub use phonebook::*;
pub use revocation::*;
pub use runtime::*;
pub use status::syncshell_status;
pub use transfer::*;
pub use transport::*;

use args::Out;
use status::{boundary, syncshell_status as S, Failure};

/// The ABI version: `major << 16 | minor`. A host refuses a library whose major differs
/// from the one its header or bindings were generated for. Minor 1 added the member
/// (`syncshell_member_*`) and `syncshell_shutdown`, and gave each handle kind its own C type
/// (the same 64 bits in every call).
pub const SYNCSHELL_ABI_VERSION: u32 = (2 << 16) | 1;

/// The ABI version of the loaded library (`major << 16 | minor`).
#[no_mangle]
pub extern "C" fn syncshell_abi_version() -> u32 {
    SYNCSHELL_ABI_VERSION
}

/// The name of a status code as a static NUL-terminated string (never freed). Unknown codes
/// give "SYNCSHELL_UNKNOWN_STATUS".
#[no_mangle]
pub extern "C" fn syncshell_status_name(status: u32) -> *const c_char {
    use syncshell_status::*;
    let all = [
        SYNCSHELL_OK,
        SYNCSHELL_ERR_NULL_ARGUMENT,
        SYNCSHELL_ERR_INVALID_HANDLE,
        SYNCSHELL_ERR_WRONG_HANDLE_KIND,
        SYNCSHELL_ERR_PANIC,
        SYNCSHELL_ERR_INVALID_ARGUMENT,
        SYNCSHELL_ERR_BUFFER_TOO_SMALL,
        SYNCSHELL_ERR_DECODE,
        SYNCSHELL_ERR_VERIFY,
        SYNCSHELL_ERR_REVOKED,
        SYNCSHELL_ERR_EXPIRED,
        SYNCSHELL_ERR_WRONG_PASSPHRASE,
        SYNCSHELL_ERR_IO,
        SYNCSHELL_ERR_TIMEOUT,
        SYNCSHELL_ERR_CLOSED,
        SYNCSHELL_ERR_WOULD_BLOCK,
        SYNCSHELL_ERR_HANDSHAKE,
        SYNCSHELL_ERR_TRANSFER,
        SYNCSHELL_ERR_TRANSPORT,
        SYNCSHELL_ERR_LIMIT,
        SYNCSHELL_ERR_POISONED,
        SYNCSHELL_ERR_STATE,
        SYNCSHELL_ERR_NOT_ALLOWED,
    ];
    let name: &'static [u8] = all
        .into_iter()
        .find(|s| *s as u32 == status)
        .map(|s| s.name())
        .unwrap_or(b"SYNCSHELL_UNKNOWN_STATUS\0");
    name.as_ptr().cast()
}

/// Copies this thread's last error message, NUL-terminated, into `buf` (capacity `cap`) and
/// writes its length without the NUL to `*out_len`. The message describes the last call on
/// this thread that failed; successful calls leave it alone. With `buf` NULL and `cap` 0 it
/// only reports the length (then allocate `len + 1`). `SYNCSHELL_ERR_BUFFER_TOO_SMALL` if
/// `cap < len + 1`; `*out_len` is still written so the host can retry.
///
/// # Safety
/// `buf` must point to `cap` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn syncshell_last_error(
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
) -> syncshell_status {
    let Ok(out) = Out::new(out_len, "out_len") else {
        return S::SYNCSHELL_ERR_NULL_ARGUMENT;
    };
    // Not through `boundary`: it must not replace the message it reports.
    let message = status::last_error();
    let len = message.len();
    out.write(len);
    if buf.is_null() && cap == 0 {
        return S::SYNCSHELL_OK;
    }
    if buf.is_null() {
        return S::SYNCSHELL_ERR_NULL_ARGUMENT;
    }
    if cap < len + 1 {
        return S::SYNCSHELL_ERR_BUFFER_TOO_SMALL;
    }
    // SAFETY: `buf` has `cap >= len + 1` writable bytes (the caller's promise).
    unsafe {
        std::ptr::copy_nonoverlapping(message.as_ptr(), buf.cast::<u8>(), len);
        buf.add(len).write(0);
    }
    S::SYNCSHELL_OK
}

/// Milliseconds since the Unix epoch by this machine's clock: the `now_ms` the other calls
/// take, for hosts without a clock of their own.
#[no_mangle]
pub extern "C" fn syncshell_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Writes the number of live handles of every kind in the process: a host's leak check
/// (0 once everything it made is freed).
#[no_mangle]
pub extern "C" fn syncshell_live_handles(out_count: *mut usize) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_count, "out_count")?;
        out.write(handle::live());
        Ok(())
    })
}

/// Stops everything the library runs and frees every handle: members stop (each waiting at
/// most `timeout_ms` for its links and transfers to end), then every runtime ends and its
/// threads are joined (each waits at most 5 s for its tasks). Afterwards no library thread or
/// socket is left, and every handle is invalid; the library can be used afresh. For a host
/// that unloads while the library stays loaded (a Dalamud plugin). No other call may run
/// while it does.
#[no_mangle]
pub extern "C" fn syncshell_shutdown(timeout_ms: u32) -> syncshell_status {
    boundary(|| {
        let objects = handle::drain();
        for (kind, object) in &objects {
            if *kind == handle::Kind::Member {
                if let Some(member) = object.downcast_ref::<member::MemberObject>() {
                    // A member that does not stop in time is dropped all the same.
                    let _ = member.stop(timeout_ms);
                }
            }
        }
        drop(objects);
        Ok(())
    })
}

/// Panics on purpose inside the library, so a host can check that a panic comes back as
/// `SYNCSHELL_ERR_PANIC` and the process lives on. Always returns that status.
#[no_mangle]
pub extern "C" fn syncshell_debug_panic() -> syncshell_status {
    boundary(|| -> Result<(), Failure> {
        #[allow(clippy::panic)]
        {
            panic!("syncshell_debug_panic was called")
        }
    })
}

//! Reading the host's arguments: NULL checks, lengths, UTF-8, and out-parameters that are
//! written only once the call has succeeded.

use std::ffi::{c_char, CStr};
use std::ptr::NonNull;

use crate::status::{syncshell_status as S, Failure, Outcome};

/// Hosts pass at most this many bytes in one argument (a sanity bound, not a protocol one).
const MAX_INPUT_LEN: usize = 1 << 30;

fn null(what: &str) -> Failure {
    Failure::new(S::SYNCSHELL_ERR_NULL_ARGUMENT, format!("{what} is NULL"))
}

/// `len` bytes at `ptr`; NULL is allowed only when `len` is 0.
///
/// # Safety
/// A non-NULL `ptr` must point to `len` readable bytes that stay unchanged during the call.
pub(crate) unsafe fn bytes<'a>(ptr: *const u8, len: usize, what: &str) -> Outcome<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(null(what));
    }
    if len > MAX_INPUT_LEN {
        return Err(Failure::new(
            S::SYNCSHELL_ERR_INVALID_ARGUMENT,
            format!("{what} is {len} bytes, over the 1 GiB argument limit"),
        ));
    }
    // SAFETY: the caller promises `len` readable bytes at the non-NULL `ptr`.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Exactly `N` bytes at `ptr`.
///
/// # Safety
/// As [`bytes`].
pub(crate) unsafe fn array<const N: usize>(
    ptr: *const u8,
    len: usize,
    what: &str,
) -> Outcome<[u8; N]> {
    // SAFETY: forwarded from the caller.
    let slice = unsafe { bytes(ptr, len, what) }?;
    slice.try_into().map_err(|_| {
        Failure::new(
            S::SYNCSHELL_ERR_INVALID_ARGUMENT,
            format!("{what} must be {N} bytes, got {len}"),
        )
    })
}

/// A NUL-terminated UTF-8 string.
///
/// # Safety
/// A non-NULL `ptr` must point to a NUL-terminated string that stays unchanged during the call.
pub(crate) unsafe fn text<'a>(ptr: *const c_char, what: &str) -> Outcome<&'a str> {
    if ptr.is_null() {
        return Err(null(what));
    }
    // SAFETY: the caller promises a NUL-terminated string at the non-NULL `ptr`.
    let c = unsafe { CStr::from_ptr(ptr) };
    c.to_str().map_err(|_| {
        Failure::new(
            S::SYNCSHELL_ERR_INVALID_ARGUMENT,
            format!("{what} is not UTF-8"),
        )
    })
}

/// An out-parameter, checked for NULL before the call does anything and written at the end.
#[derive(Debug)]
pub(crate) struct Out<T>(NonNull<T>);

impl<T> Out<T> {
    /// Checks `ptr`.
    pub(crate) fn new(ptr: *mut T, what: &str) -> Outcome<Self> {
        NonNull::new(ptr).map(Out).ok_or_else(|| null(what))
    }

    /// Writes the result.
    pub(crate) fn write(self, value: T)
    where
        T: Copy,
    {
        // SAFETY: the pointer is non-NULL, and the ABI requires out-parameters to point to
        // writable, aligned storage of their type for the duration of the call.
        unsafe { self.0.as_ptr().write(value) }
    }
}

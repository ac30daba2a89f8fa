//! Calling the C ABI from a Rust test as a host would: statuses checked with the last error
//! in the message, bytes handles copied out and freed, C strings.

use std::ffi::{CStr, CString};
use std::ptr;

use syncshell_ffi::syncshell_status::*;
use syncshell_ffi::*;

/// Asserts the call succeeded, showing the library's message when it did not.
#[track_caller]
pub(crate) fn ok(status: syncshell_status) {
    assert_eq!(status, SYNCSHELL_OK, "{}", last_error());
}

/// This thread's last error message.
pub(crate) fn last_error() -> String {
    let mut len = 0usize;
    // SAFETY: NULL with capacity 0 asks for the length only.
    unsafe { syncshell_last_error(ptr::null_mut(), 0, &mut len) };
    let mut buf = vec![0u8; len + 1];
    // SAFETY: `buf` has `buf.len()` writable bytes.
    ok(unsafe { syncshell_last_error(buf.as_mut_ptr().cast(), buf.len(), &mut len) });
    CStr::from_bytes_until_nul(&buf)
        .expect("a NUL-terminated message")
        .to_str()
        .expect("UTF-8")
        .to_owned()
}

/// Copies and frees a bytes handle.
pub(crate) fn take(bytes: syncshell_bytes) -> Vec<u8> {
    let mut len = 0;
    ok(syncshell_bytes_len(bytes, &mut len));
    let mut out = vec![0u8; len];
    let mut written = 0;
    // SAFETY: `out` has `out.len()` writable bytes.
    ok(unsafe { syncshell_bytes_copy(bytes, out.as_mut_ptr(), out.len(), &mut written) });
    assert_eq!(written, len);
    ok(syncshell_bytes_free(bytes));
    out
}

/// A NUL-terminated copy of `s`.
pub(crate) fn c(s: &str) -> CString {
    CString::new(s).expect("no NUL inside")
}

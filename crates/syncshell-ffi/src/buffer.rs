//! Byte buffers and lists that the library returns. The host copies them out and frees them
//! with their own `_free`; their memory never changes hands.

use std::any::Any;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::args::Out;
use crate::handle::{self, object, syncshell_handle, AnyObject};
use crate::status::{boundary, syncshell_status, syncshell_status as S, Failure, Outcome};

/// A handle to bytes the library returned (encodings, text in UTF-8 without a NUL, keys).
/// Read with `syncshell_bytes_len` and `syncshell_bytes_copy`; free with
/// `syncshell_bytes_free`. The memory is wiped when freed.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(non_camel_case_types)]
pub struct syncshell_bytes {
    /// The handle's value; 0 names no object.
    pub h: u64,
}

/// A handle to a list of handles (phonebook entries, sync replies). Free with
/// `syncshell_list_free`; the handles `syncshell_list_get` returns are freed on their own.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(non_camel_case_types)]
pub struct syncshell_list {
    /// The handle's value; 0 names no object.
    pub h: u64,
}
handle::raw_handles!(syncshell_bytes, syncshell_list);

pub(crate) struct Buffer(Zeroizing<Vec<u8>>);
object!(Buffer, Bytes);

pub(crate) struct List(Vec<AnyObject>);
object!(List, List);

/// Registers `data` as a new bytes handle.
pub(crate) fn new_bytes(data: impl Into<Vec<u8>>) -> Outcome<syncshell_bytes> {
    handle::insert(Buffer(Zeroizing::new(data.into())))
}

/// Registers a list of objects of kind `T`.
pub(crate) fn new_list<T: handle::Object>(items: Vec<T>) -> Outcome<syncshell_list> {
    let items = items
        .into_iter()
        .map(|item| (T::KIND, Arc::new(item) as Arc<dyn Any + Send + Sync>))
        .collect();
    handle::insert(List(items))
}

/// Registers a list of byte strings.
pub(crate) fn new_bytes_list(items: Vec<Vec<u8>>) -> Outcome<syncshell_list> {
    new_list(
        items
            .into_iter()
            .map(|b| Buffer(Zeroizing::new(b)))
            .collect(),
    )
}

/// Writes the number of bytes in `bytes` to `*out_len`.
#[no_mangle]
pub extern "C" fn syncshell_bytes_len(
    bytes: syncshell_bytes,
    out_len: *mut usize,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_len, "out_len")?;
        out.write(handle::get::<Buffer>(bytes)?.0.len());
        Ok(())
    })
}

/// Copies the bytes into `dst` (capacity `dst_cap`) and writes their number to
/// `*out_written`. `SYNCSHELL_ERR_BUFFER_TOO_SMALL` if they do not all fit (nothing is
/// written). `dst` may be NULL when the bytes are empty.
///
/// # Safety
/// `dst` must point to `dst_cap` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn syncshell_bytes_copy(
    bytes: syncshell_bytes,
    dst: *mut u8,
    dst_cap: usize,
    out_written: *mut usize,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_written, "out_written")?;
        let data = handle::get::<Buffer>(bytes)?;
        let len = data.0.len();
        if len > dst_cap {
            return Err(Failure::new(
                S::SYNCSHELL_ERR_BUFFER_TOO_SMALL,
                format!("{len} bytes do not fit a buffer of {dst_cap}"),
            ));
        }
        if len > 0 {
            if dst.is_null() {
                return Err(Failure::new(S::SYNCSHELL_ERR_NULL_ARGUMENT, "dst is NULL"));
            }
            // SAFETY: `dst` has `dst_cap >= len` writable bytes (the caller's promise) and
            // cannot overlap our own buffer.
            unsafe { std::ptr::copy_nonoverlapping(data.0.as_ptr(), dst, len) };
        }
        out.write(len);
        Ok(())
    })
}

/// Frees a bytes handle (the memory is wiped). 0 does nothing; a freed handle or a handle
/// of another kind is an error.
#[no_mangle]
pub extern "C" fn syncshell_bytes_free(bytes: syncshell_bytes) -> syncshell_status {
    boundary(|| handle::remove::<Buffer>(bytes))
}

/// Writes the number of items in `list` to `*out_len`.
#[no_mangle]
pub extern "C" fn syncshell_list_len(
    list: syncshell_list,
    out_len: *mut usize,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_len, "out_len")?;
        out.write(handle::get::<List>(list)?.0.len());
        Ok(())
    })
}

/// Writes a new handle to item `index` of `list` to `*out_item`; its kind is the one the
/// function that made the list names. Free it with that kind's `_free`.
#[no_mangle]
pub extern "C" fn syncshell_list_get(
    list: syncshell_list,
    index: usize,
    out_item: *mut syncshell_handle,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_item, "out_item")?;
        let list = handle::get::<List>(list)?;
        let item = list.0.get(index).ok_or_else(|| {
            Failure::new(
                S::SYNCSHELL_ERR_INVALID_ARGUMENT,
                format!("index {index} is past the list's {} items", list.0.len()),
            )
        })?;
        out.write(handle::insert_any((item.0, Arc::clone(&item.1)))?);
        Ok(())
    })
}

/// Frees a list handle (items already taken with `syncshell_list_get` stay valid).
#[no_mangle]
pub extern "C" fn syncshell_list_free(list: syncshell_list) -> syncshell_status {
    boundary(|| handle::remove::<List>(list))
}

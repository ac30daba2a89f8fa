//! The phonebook: publishing one's own entry, merging others', listing, sync and snapshots.

use std::ffi::c_char;
use std::sync::Mutex;
use std::time::Duration;

use ::syncshell_identity::{Identity, ShellGenesis, Timestamp, TokenChain};
use ::syncshell_phonebook::{Change, Clock, Entry, Phonebook, Presence, Profile, DEFAULT_TTL};

use crate::args::{self, Out};
use crate::buffer::{new_bytes_list, new_list, syncshell_bytes, syncshell_list};
use crate::handle::{self, lock, object};
use crate::identity::{
    put, put_bytes, role_code, syncshell_chain, syncshell_genesis, syncshell_identity,
};
use crate::status::{boundary, syncshell_status, syncshell_status as S, Failure, Outcome};

/// A handle to a phonebook (with the clock that stamps this member's own entries).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(non_camel_case_types)]
pub struct syncshell_phonebook {
    /// The handle's value; 0 names no object.
    pub h: u64,
}
/// A handle to one verified phonebook entry.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(non_camel_case_types)]
pub struct syncshell_entry {
    /// The handle's value; 0 names no object.
    pub h: u64,
}
handle::raw_handles!(syncshell_phonebook, syncshell_entry);

/// Presence: connected and reachable.
pub const SYNCSHELL_PRESENCE_ONLINE: u32 = 0;
/// Presence: connected, not at the keyboard.
pub const SYNCSHELL_PRESENCE_AWAY: u32 = 1;
/// Presence: not connected.
pub const SYNCSHELL_PRESENCE_OFFLINE: u32 = 2;

/// What merging an entry did: the peer had none, now it has this one.
pub const SYNCSHELL_CHANGE_ADDED: u32 = 0;
/// What merging an entry did: it replaced an older version.
pub const SYNCSHELL_CHANGE_UPDATED: u32 = 1;
/// What merging an entry did: the book already had this version or a newer one.
pub const SYNCSHELL_CHANGE_UNCHANGED: u32 = 2;
/// What merging an entry did: it is kept but not shown, since its peer is revoked.
pub const SYNCSHELL_CHANGE_HIDDEN: u32 = 3;
/// What merging an entry did: the book's bounds do not keep it (its issuer's pool is full).
pub const SYNCSHELL_CHANGE_NOT_KEPT: u32 = 4;

pub(crate) struct Book {
    book: Mutex<Phonebook>,
    clock: Mutex<Clock>,
}
object!(Book, Phonebook);
object!(Entry, Entry);

fn book(handle: syncshell_phonebook) -> Outcome<std::sync::Arc<Book>> {
    handle::get::<Book>(handle)
}

fn new_book(book: Phonebook) -> Book {
    let mut clock = Clock::new();
    for entry in book.stored() {
        clock.observe(entry.stamp());
    }
    Book {
        book: Mutex::new(book),
        clock: Mutex::new(clock),
    }
}

fn change_code(change: Change) -> u32 {
    match change {
        Change::Added => SYNCSHELL_CHANGE_ADDED,
        Change::Updated => SYNCSHELL_CHANGE_UPDATED,
        Change::Unchanged => SYNCSHELL_CHANGE_UNCHANGED,
        Change::Hidden => SYNCSHELL_CHANGE_HIDDEN,
        Change::NotKept => SYNCSHELL_CHANGE_NOT_KEPT,
    }
}

/// A new, empty phonebook for the shell of `genesis`.
#[no_mangle]
pub extern "C" fn syncshell_phonebook_new(
    genesis: syncshell_genesis,
    out_book: *mut syncshell_phonebook,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_book, "out_book")?;
        let genesis = handle::get::<ShellGenesis>(genesis)?;
        put(out, new_book(Phonebook::new((*genesis).clone())))
    })
}

/// Decodes a snapshot (from `syncshell_phonebook_encode`), verifying everything in it.
///
/// # Safety
/// `data` must point to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn syncshell_phonebook_decode(
    genesis: syncshell_genesis,
    data: *const u8,
    len: usize,
    out_book: *mut syncshell_phonebook,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_book, "out_book")?;
        // SAFETY: the caller's promise.
        let data = unsafe { args::bytes(data, len, "data") }?;
        let genesis = handle::get::<ShellGenesis>(genesis)?;
        put(out, new_book(Phonebook::decode(data, (*genesis).clone())?))
    })
}

/// Writes a snapshot of the whole book (entries and tombstones) as new bytes.
#[no_mangle]
pub extern "C" fn syncshell_phonebook_encode(
    book: syncshell_phonebook,
    out_bytes: *mut syncshell_bytes,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_bytes, "out_bytes")?;
        let bytes = lock(&self::book(book)?.book)?.encode();
        put_bytes(out, bytes)
    })
}

/// Signs and inserts `member`'s own entry (display name up to 64 bytes, empty for a
/// generated friendly name; presence; contact hints up to 1 KiB; valid for `ttl_ms`, 0 for
/// 24 h, at most 7 days) and writes its encoding as new bytes, to send to peers.
///
/// # Safety
/// `display_name` must be a NUL-terminated string; `hints` must point to `hints_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn syncshell_phonebook_publish(
    book: syncshell_phonebook,
    member: syncshell_identity,
    chain: syncshell_chain,
    display_name: *const c_char,
    presence: u32,
    hints: *const u8,
    hints_len: usize,
    ttl_ms: u64,
    now_ms: u64,
    out_entry: *mut syncshell_bytes,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_entry, "out_entry")?;
        // SAFETY: the caller's promise.
        let (name, hints) = unsafe {
            (
                args::text(display_name, "display_name")?,
                args::bytes(hints, hints_len, "hints")?,
            )
        };
        let presence = match presence {
            SYNCSHELL_PRESENCE_ONLINE => Presence::Online,
            SYNCSHELL_PRESENCE_AWAY => Presence::Away,
            SYNCSHELL_PRESENCE_OFFLINE => Presence::Offline,
            other => {
                return Err(Failure::new(
                    S::SYNCSHELL_ERR_INVALID_ARGUMENT,
                    format!("presence {other} is not one of 0..=2"),
                ))
            }
        };
        let now = Timestamp::from_millis(now_ms);
        let profile = Profile {
            display_name: name.to_owned(),
            presence,
            last_seen: now,
            hints: hints.to_vec(),
            ttl: if ttl_ms == 0 {
                DEFAULT_TTL
            } else {
                Duration::from_millis(ttl_ms)
            },
        };
        let book = self::book(book)?;
        let member = handle::get::<Identity>(member)?;
        let chain = handle::get::<TokenChain>(chain)?;
        let mut phonebook = lock(&book.book)?;
        let mut clock = lock(&book.clock)?;
        if let Some(own) = phonebook.stored().find(|e| *e.peer() == member.peer_id()) {
            clock.observe(own.stamp());
        }
        let stamp = clock.tick(now);
        let entry = Entry::publish(phonebook.genesis(), &member, &chain, &profile, stamp)?;
        let bytes = entry.encode();
        phonebook.insert(entry)?;
        put_bytes(out, bytes)
    })
}

/// Verifies and merges one entry received from a peer; writes what it changed
/// (`SYNCSHELL_CHANGE_*`). A bad entry leaves the book unchanged.
///
/// # Safety
/// `entry` must point to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn syncshell_phonebook_insert(
    book: syncshell_phonebook,
    entry: *const u8,
    len: usize,
    out_change: *mut u32,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_change, "out_change")?;
        // SAFETY: the caller's promise.
        let entry = unsafe { args::bytes(entry, len, "entry") }?;
        let change = lock(&self::book(book)?.book)?.insert_encoded(entry)?;
        out.write(change_code(change));
        Ok(())
    })
}

/// Verifies and applies one tombstone; writes whether it was new.
///
/// # Safety
/// `tombstone` must point to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn syncshell_phonebook_revoke(
    book: syncshell_phonebook,
    tombstone: *const u8,
    len: usize,
    out_added: *mut bool,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_added, "out_added")?;
        // SAFETY: the caller's promise.
        let data = unsafe { args::bytes(tombstone, len, "tombstone") }?;
        let book = self::book(book)?;
        let mut phonebook = lock(&book.book)?;
        let tombstone = ::syncshell_revocation::Tombstone::decode(data, phonebook.genesis())?;
        let added = phonebook.revoke(tombstone)?;
        out.write(added);
        Ok(())
    })
}

/// Decodes a snapshot received from a peer and merges all of it; writes how many entries
/// were added or updated. Entries or tombstones that fail verification are skipped.
///
/// # Safety
/// `snapshot` must point to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn syncshell_phonebook_merge(
    book: syncshell_phonebook,
    snapshot: *const u8,
    len: usize,
    out_changed: *mut usize,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_changed, "out_changed")?;
        // SAFETY: the caller's promise.
        let data = unsafe { args::bytes(snapshot, len, "snapshot") }?;
        let book = self::book(book)?;
        let mut phonebook = lock(&book.book)?;
        let other = Phonebook::decode(data, phonebook.genesis().clone())?;
        let report = phonebook.merge(&other)?;
        out.write(report.added + report.updated);
        Ok(())
    })
}

/// Writes a new list of the entries shown at `now_ms` (live, not expired, not revoked),
/// ordered by peer id; take them with `syncshell_list_get` (entry handles).
#[no_mangle]
pub extern "C" fn syncshell_phonebook_entries(
    book: syncshell_phonebook,
    now_ms: u64,
    out_list: *mut syncshell_list,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_list, "out_list")?;
        let book = self::book(book)?;
        let entries: Vec<Entry> = lock(&book.book)?
            .entries(Timestamp::from_millis(now_ms))
            .cloned()
            .collect();
        out.write(new_list(entries)?);
        Ok(())
    })
}

/// Drops entries expired long enough ago that no late copy can matter; writes how many.
#[no_mangle]
pub extern "C" fn syncshell_phonebook_gc(
    book: syncshell_phonebook,
    now_ms: u64,
    out_removed: *mut usize,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_removed, "out_removed")?;
        let removed = lock(&self::book(book)?.book)?.gc(Timestamp::from_millis(now_ms));
        out.write(removed);
        Ok(())
    })
}

/// Starts a delta sync: writes the first message to send to the peer as new bytes.
#[no_mangle]
pub extern "C" fn syncshell_phonebook_sync_start(
    book: syncshell_phonebook,
    out_message: *mut syncshell_bytes,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_message, "out_message")?;
        let message = lock(&self::book(book)?.book)?.sync_start();
        put_bytes(out, message)
    })
}

/// Handles one delta-sync message from the peer: merges what it carries and writes a new
/// list of the replies to send back (bytes handles; empty when the sync is complete).
///
/// # Safety
/// `message` must point to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn syncshell_phonebook_sync_handle(
    book: syncshell_phonebook,
    message: *const u8,
    len: usize,
    out_replies: *mut syncshell_list,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_replies, "out_replies")?;
        // SAFETY: the caller's promise.
        let message = unsafe { args::bytes(message, len, "message") }?;
        let outcome = lock(&self::book(book)?.book)?.handle_sync(message)?;
        out.write(new_bytes_list(outcome.replies)?);
        Ok(())
    })
}

/// Frees a phonebook handle.
#[no_mangle]
pub extern "C" fn syncshell_phonebook_free(book: syncshell_phonebook) -> syncshell_status {
    boundary(|| handle::remove::<Book>(book))
}

/// Writes the entry's peer id (text) as new bytes.
#[no_mangle]
pub extern "C" fn syncshell_entry_peer_id(
    entry: syncshell_entry,
    out_text: *mut syncshell_bytes,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_text, "out_text")?;
        put_bytes(out, handle::get::<Entry>(entry)?.peer().to_string())
    })
}

/// Writes the name to show (the display name, or the friendly name made from the peer id)
/// as new bytes.
#[no_mangle]
pub extern "C" fn syncshell_entry_name(
    entry: syncshell_entry,
    out_text: *mut syncshell_bytes,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_text, "out_text")?;
        put_bytes(out, handle::get::<Entry>(entry)?.shown_name())
    })
}

/// Writes the entry's presence (`SYNCSHELL_PRESENCE_*`), role (`SYNCSHELL_ROLE_*`) and
/// last-seen time.
#[no_mangle]
pub extern "C" fn syncshell_entry_status(
    entry: syncshell_entry,
    out_presence: *mut u32,
    out_role: *mut u32,
    out_last_seen_ms: *mut u64,
) -> syncshell_status {
    boundary(|| {
        let (presence, role, seen) = (
            Out::new(out_presence, "out_presence")?,
            Out::new(out_role, "out_role")?,
            Out::new(out_last_seen_ms, "out_last_seen_ms")?,
        );
        let entry = handle::get::<Entry>(entry)?;
        presence.write(match entry.presence() {
            Presence::Online => SYNCSHELL_PRESENCE_ONLINE,
            Presence::Away => SYNCSHELL_PRESENCE_AWAY,
            _ => SYNCSHELL_PRESENCE_OFFLINE,
        });
        role.write(role_code(entry.verified_chain().role()));
        seen.write(entry.last_seen().as_millis());
        Ok(())
    })
}

/// Writes the entry's contact hints as new bytes.
#[no_mangle]
pub extern "C" fn syncshell_entry_hints(
    entry: syncshell_entry,
    out_hints: *mut syncshell_bytes,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_hints, "out_hints")?;
        put_bytes(out, handle::get::<Entry>(entry)?.hints())
    })
}

/// Frees an entry handle.
#[no_mangle]
pub extern "C" fn syncshell_entry_free(entry: syncshell_entry) -> syncshell_status {
    boundary(|| handle::remove::<Entry>(entry))
}

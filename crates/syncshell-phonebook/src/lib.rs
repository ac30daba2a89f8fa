#![doc = include_str!("../README.md")]

mod book;
mod clock;
mod entry;
mod error;
mod names;
mod sync;

#[allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    clippy::all
)]
mod proto {
    include!(concat!(env!("OUT_DIR"), "/syncshell.phonebook.v1.rs"));
}

pub use book::{
    Change, MergeReport, Phonebook, MAX_ADMIN_POOLS, MAX_ADMIN_POOL_ENTRIES, MAX_ENTRIES,
    MAX_OWNER_POOL_ENTRIES, MAX_SNAPSHOT_LEN,
};
pub use clock::{Clock, Stamp};
pub use entry::{
    Entry, EntryId, Presence, Profile, DEFAULT_TTL, ENTRY_CONTEXT, MAX_DISPLAY_NAME_LEN,
    MAX_ENTRY_BODY_LEN, MAX_HINTS_LEN, MAX_TTL,
};
pub use error::{Error, Result};
pub use names::friendly_name;
pub use sync::{
    sync_in_memory, SyncBytes, SyncOutcome, MAX_ENTRIES_PER_REPLY, MAX_ITEMS_PER_REPLY,
    MAX_SYNC_MESSAGE_LEN, MAX_SYNC_REPLY_LEN, MAX_TOMBSTONES_PER_REPLY,
    MAX_TOMBSTONE_IDS_PER_REPLY,
};

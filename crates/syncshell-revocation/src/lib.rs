#![doc = include_str!("../README.md")]

mod error;
mod set;
mod tombstone;

#[allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    clippy::all
)]
mod proto {
    include!(concat!(env!("OUT_DIR"), "/syncshell.revocation.v1.rs"));
}

pub use error::{Error, Result};
pub use set::{
    RevocationSet, MAX_ADMIN_POOLS, MAX_OWNER_TOMBSTONES, MAX_SNAPSHOT_LEN, MAX_TOMBSTONES,
    MAX_TOMBSTONES_PER_ADMIN,
};
pub use syncshell_identity::Revocations;
pub use tombstone::{Reason, Tombstone, TombstoneId, MAX_TOMBSTONE_BODY_LEN, TOMBSTONE_CONTEXT};

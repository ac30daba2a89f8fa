//! Tombstones and the revocation set.

use std::ffi::c_char;
use std::sync::Mutex;

use ::syncshell_identity::{Identity, ShellGenesis, Timestamp, TokenChain};
use ::syncshell_revocation::{Reason, RevocationSet, Tombstone};

use crate::args::{self, Out};
use crate::buffer::syncshell_bytes;
use crate::handle::{self, lock, object};
use crate::identity::{
    peer_arg, put, put_bytes, syncshell_chain, syncshell_genesis, syncshell_identity,
};
use crate::status::{boundary, syncshell_status, syncshell_status as S, Failure, Outcome};

/// A handle to a revocation set: the grow-only set of a shell's tombstones.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(non_camel_case_types)]
pub struct syncshell_revocations {
    /// The handle's value; 0 names no object.
    pub h: u64,
}
handle::raw_handles!(syncshell_revocations);

/// Revocation reason: thrown out by an admin or the owner.
pub const SYNCSHELL_REASON_REMOVED: u32 = 0;
/// Revocation reason: left of their own accord.
pub const SYNCSHELL_REASON_LEFT: u32 = 1;
/// Revocation reason: the key leaked.
pub const SYNCSHELL_REASON_COMPROMISED: u32 = 2;
/// Revocation reason: replaced by a new key of the same person.
pub const SYNCSHELL_REASON_SUPERSEDED: u32 = 3;

object!(Mutex<RevocationSet>, Revocations);

fn reason_from(code: u32) -> Outcome<Reason> {
    Ok(match code {
        SYNCSHELL_REASON_REMOVED => Reason::Removed,
        SYNCSHELL_REASON_LEFT => Reason::Left,
        SYNCSHELL_REASON_COMPROMISED => Reason::Compromised,
        SYNCSHELL_REASON_SUPERSEDED => Reason::Superseded,
        _ => {
            return Err(Failure::new(
                S::SYNCSHELL_ERR_INVALID_ARGUMENT,
                format!("reason {code} is not one of 0..=3"),
            ))
        }
    })
}

/// The revocation set behind a handle.
pub(crate) fn set(handle: syncshell_revocations) -> Outcome<std::sync::Arc<Mutex<RevocationSet>>> {
    handle::get::<Mutex<RevocationSet>>(handle)
}

/// Signs a tombstone that revokes `revoked` (peer id text), as new bytes to spread to every
/// member. The issuer must be an admin or the owner admitted by `revocations` (the shell's
/// set; the tombstone is not added to it); the owner cannot be revoked.
///
/// # Safety
/// `revoked` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn syncshell_tombstone_issue(
    revocations: syncshell_revocations,
    issuer: syncshell_identity,
    issuer_chain: syncshell_chain,
    revoked: *const c_char,
    reason: u32,
    now_ms: u64,
    out_tombstone: *mut syncshell_bytes,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_tombstone, "out_tombstone")?;
        // SAFETY: the caller's promise.
        let revoked = unsafe { peer_arg(revoked, "revoked") }?;
        let reason = reason_from(reason)?;
        let revocations = set(revocations)?;
        let issuer = handle::get::<Identity>(issuer)?;
        let chain = handle::get::<TokenChain>(issuer_chain)?;
        let tombstone = Tombstone::issue(
            &*lock(&revocations)?,
            &issuer,
            &chain,
            revoked,
            reason,
            Timestamp::from_millis(now_ms),
        )?;
        put_bytes(out, tombstone.encode())
    })
}

/// A new, empty revocation set for the shell of `genesis`.
#[no_mangle]
pub extern "C" fn syncshell_revocations_new(
    genesis: syncshell_genesis,
    out_set: *mut syncshell_revocations,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_set, "out_set")?;
        let genesis = handle::get::<ShellGenesis>(genesis)?;
        put(out, Mutex::new(RevocationSet::new((*genesis).clone())))
    })
}

/// Decodes a saved revocation set, verifying every tombstone and the digest.
///
/// # Safety
/// `data` must point to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn syncshell_revocations_decode(
    genesis: syncshell_genesis,
    data: *const u8,
    len: usize,
    out_set: *mut syncshell_revocations,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_set, "out_set")?;
        // SAFETY: the caller's promise.
        let data = unsafe { args::bytes(data, len, "data") }?;
        let genesis = handle::get::<ShellGenesis>(genesis)?;
        put(
            out,
            Mutex::new(RevocationSet::decode(data, (*genesis).clone())?),
        )
    })
}

/// Writes the set's encoding (to save or send whole) as new bytes.
#[no_mangle]
pub extern "C" fn syncshell_revocations_encode(
    set: syncshell_revocations,
    out_bytes: *mut syncshell_bytes,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_bytes, "out_bytes")?;
        let bytes = lock(&*self::set(set)?)?.encode();
        put_bytes(out, bytes)
    })
}

/// Verifies and adds one tombstone; `*out_added` says whether it was new. A bad tombstone
/// leaves the set unchanged.
///
/// # Safety
/// `tombstone` must point to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn syncshell_revocations_insert(
    set: syncshell_revocations,
    tombstone: *const u8,
    len: usize,
    out_added: *mut bool,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_added, "out_added")?;
        // SAFETY: the caller's promise.
        let tombstone = unsafe { args::bytes(tombstone, len, "tombstone") }?;
        let added = lock(&*self::set(set)?)?.insert_encoded(tombstone)?;
        out.write(added);
        Ok(())
    })
}

/// Adds every tombstone of `other` (same shell) to `set`; writes how many were new.
#[no_mangle]
pub extern "C" fn syncshell_revocations_merge(
    set: syncshell_revocations,
    other: syncshell_revocations,
    out_added: *mut usize,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_added, "out_added")?;
        let (target, source) = (self::set(set)?, self::set(other)?);
        if std::sync::Arc::ptr_eq(&target, &source) {
            out.write(0);
            return Ok(());
        }
        let source = lock(&source)?.clone();
        let added = lock(&target)?.merge(&source)?;
        out.write(added);
        Ok(())
    })
}

/// Writes whether `peer` (peer id text) is revoked by a tombstone of the set.
///
/// # Safety
/// `peer` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn syncshell_revocations_is_revoked(
    set: syncshell_revocations,
    peer: *const c_char,
    out_revoked: *mut bool,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_revoked, "out_revoked")?;
        // SAFETY: the caller's promise.
        let peer = unsafe { peer_arg(peer, "peer") }?;
        let revoked = lock(&*self::set(set)?)?.is_revoked(&peer);
        out.write(revoked);
        Ok(())
    })
}

/// Writes the number of tombstones in the set.
#[no_mangle]
pub extern "C" fn syncshell_revocations_len(
    set: syncshell_revocations,
    out_len: *mut usize,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_len, "out_len")?;
        let len = lock(&*self::set(set)?)?.len();
        out.write(len);
        Ok(())
    })
}

/// Frees a revocation set handle.
#[no_mangle]
pub extern "C" fn syncshell_revocations_free(set: syncshell_revocations) -> syncshell_status {
    boundary(|| handle::remove::<Mutex<RevocationSet>>(set))
}

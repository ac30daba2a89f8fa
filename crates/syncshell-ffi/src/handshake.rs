//! The mutual handshake, driven by the host: it carries the messages over its connection.

use std::sync::Mutex;

use ::syncshell_identity::{Identity, Timestamp, TokenChain};
use ::syncshell_reconnect::{Handshake, Local, ReplayGuard};
use rand_core::OsRng;

use crate::args::{self, Out};
use crate::buffer::{new_bytes, syncshell_bytes};
use crate::handle::{self, lock, object};
use crate::identity::{put, put_bytes, role_code, syncshell_chain, syncshell_identity};
use crate::revocation::{set, syncshell_revocations};
use crate::status::{boundary, syncshell_status, syncshell_status as S, Failure, Outcome};

/// A handle to a replay guard: share one between all the handshakes of a node.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(non_camel_case_types)]
pub struct syncshell_replay_guard {
    /// The handle's value; 0 names no object.
    pub h: u64,
}
/// A handle to one handshake.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(non_camel_case_types)]
pub struct syncshell_handshake {
    /// The handle's value; 0 names no object.
    pub h: u64,
}
handle::raw_handles!(syncshell_replay_guard, syncshell_handshake);

/// Handshake state: still running.
pub const SYNCSHELL_HANDSHAKE_RUNNING: u32 = 0;
/// Handshake state: both sides are authenticated; the session key is ready.
pub const SYNCSHELL_HANDSHAKE_DONE: u32 = 1;
/// Handshake state: failed for good (the reason is what the failing call returned).
pub const SYNCSHELL_HANDSHAKE_FAILED: u32 = 2;

object!(Mutex<ReplayGuard>, ReplayGuard);
object!(Mutex<Handshake>, Handshake);

fn handshake(handle: syncshell_handshake) -> Outcome<std::sync::Arc<Mutex<Handshake>>> {
    handle::get::<Mutex<Handshake>>(handle)
}

/// A new, empty replay guard.
#[no_mangle]
pub extern "C" fn syncshell_replay_guard_new(
    out_guard: *mut syncshell_replay_guard,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_guard, "out_guard")?;
        put(out, Mutex::new(ReplayGuard::new()))
    })
}

/// Frees a replay guard handle.
#[no_mangle]
pub extern "C" fn syncshell_replay_guard_free(guard: syncshell_replay_guard) -> syncshell_status {
    boundary(|| handle::remove::<Mutex<ReplayGuard>>(guard))
}

/// Starts a handshake as the initiator over a connection whose channel binding is given
/// (`syncshell_connection_channel_binding`). The hello is ready in
/// `syncshell_handshake_poll_transmit`.
///
/// # Safety
/// `channel_binding` must point to `binding_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn syncshell_handshake_initiate(
    identity: syncshell_identity,
    chain: syncshell_chain,
    revocations: syncshell_revocations,
    channel_binding: *const u8,
    binding_len: usize,
    now_ms: u64,
    out_handshake: *mut syncshell_handshake,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_handshake, "out_handshake")?;
        // SAFETY: the caller's promise.
        let binding = unsafe { args::bytes(channel_binding, binding_len, "channel_binding") }?;
        let identity = handle::get::<Identity>(identity)?;
        let chain = handle::get::<TokenChain>(chain)?;
        let revocations = set(revocations)?;
        let revocations = lock(&revocations)?;
        let local = Local {
            identity: &identity,
            chain: &chain,
            revocations: &revocations,
        };
        let hs = Handshake::initiate(&local, binding, Timestamp::from_millis(now_ms), &mut OsRng)?;
        put(out, Mutex::new(hs))
    })
}

/// Starts a handshake as the responder, waiting for the initiator's hello.
///
/// # Safety
/// `channel_binding` must point to `binding_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn syncshell_handshake_respond(
    channel_binding: *const u8,
    binding_len: usize,
    now_ms: u64,
    out_handshake: *mut syncshell_handshake,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_handshake, "out_handshake")?;
        // SAFETY: the caller's promise.
        let binding = unsafe { args::bytes(channel_binding, binding_len, "channel_binding") }?;
        let hs = Handshake::respond(binding, Timestamp::from_millis(now_ms))?;
        put(out, Mutex::new(hs))
    })
}

/// Handles one message from the other side, as this node (`identity`, `chain`,
/// `revocations`, `guard`). A failure here ends the handshake for good; its status says why
/// (`SYNCSHELL_ERR_REVOKED`, `SYNCSHELL_ERR_HANDSHAKE`, `SYNCSHELL_ERR_LIMIT` when busy).
/// After it, send whatever `syncshell_handshake_poll_transmit` gives, even on failure.
///
/// # Safety
/// `message` must point to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn syncshell_handshake_handle(
    handshake: syncshell_handshake,
    identity: syncshell_identity,
    chain: syncshell_chain,
    revocations: syncshell_revocations,
    guard: syncshell_replay_guard,
    message: *const u8,
    len: usize,
    now_ms: u64,
) -> syncshell_status {
    boundary(|| {
        // SAFETY: the caller's promise.
        let message = unsafe { args::bytes(message, len, "message") }?;
        let hs = self::handshake(handshake)?;
        let identity = handle::get::<Identity>(identity)?;
        let chain = handle::get::<TokenChain>(chain)?;
        let revocations = set(revocations)?;
        let guard = handle::get::<Mutex<ReplayGuard>>(guard)?;
        let revocations = lock(&revocations)?;
        let mut guard = lock(&guard)?;
        let local = Local {
            identity: &identity,
            chain: &chain,
            revocations: &revocations,
        };
        lock(&hs)?.handle(
            &local,
            &mut guard,
            message,
            Timestamp::from_millis(now_ms),
            &mut OsRng,
        )?;
        Ok(())
    })
}

/// Fails the handshake if `now_ms` is past its deadline (10 s after it started). Call it
/// when nothing arrived for a while.
#[no_mangle]
pub extern "C" fn syncshell_handshake_handle_timeout(
    handshake: syncshell_handshake,
    now_ms: u64,
) -> syncshell_status {
    boundary(|| {
        lock(&*self::handshake(handshake)?)?.handle_timeout(Timestamp::from_millis(now_ms));
        Ok(())
    })
}

/// Writes the next message to send to the other side as new bytes, or 0 when there is
/// nothing to send. Call until it writes 0.
#[no_mangle]
pub extern "C" fn syncshell_handshake_poll_transmit(
    handshake: syncshell_handshake,
    out_message: *mut syncshell_bytes,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_message, "out_message")?;
        let message = lock(&*self::handshake(handshake)?)?.poll_transmit();
        out.write(match message {
            Some(m) => new_bytes(m)?,
            None => syncshell_bytes::default(),
        });
        Ok(())
    })
}

/// Writes the handshake's state (`SYNCSHELL_HANDSHAKE_*`).
#[no_mangle]
pub extern "C" fn syncshell_handshake_state(
    handshake: syncshell_handshake,
    out_state: *mut u32,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_state, "out_state")?;
        let hs = self::handshake(handshake)?;
        let hs = lock(&hs)?;
        out.write(if hs.session().is_some() {
            SYNCSHELL_HANDSHAKE_DONE
        } else if hs.error().is_some() {
            SYNCSHELL_HANDSHAKE_FAILED
        } else {
            SYNCSHELL_HANDSHAKE_RUNNING
        });
        Ok(())
    })
}

fn with_session<T>(
    handshake: syncshell_handshake,
    f: impl FnOnce(&::syncshell_reconnect::Session) -> T,
) -> Outcome<T> {
    let hs = self::handshake(handshake)?;
    let hs = lock(&hs)?;
    match (hs.session(), hs.error()) {
        (Some(session), _) => Ok(f(session)),
        (None, Some(e)) => Err(Failure::new(
            S::SYNCSHELL_ERR_STATE,
            format!("the handshake failed: {e}"),
        )),
        (None, None) => Err(Failure::new(
            S::SYNCSHELL_ERR_STATE,
            "the handshake has not finished",
        )),
    }
}

/// Writes the 32-byte session key as new bytes (wiped when freed): the key a transfer
/// between the two takes. `SYNCSHELL_ERR_STATE` before the handshake is done.
#[no_mangle]
pub extern "C" fn syncshell_handshake_session_key(
    handshake: syncshell_handshake,
    out_key: *mut syncshell_bytes,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_key, "out_key")?;
        let key = with_session(handshake, |s| s.key().to_vec())?;
        put_bytes(out, key)
    })
}

/// Writes the authenticated peer's id (text) as new bytes and its role.
#[no_mangle]
pub extern "C" fn syncshell_handshake_peer(
    handshake: syncshell_handshake,
    out_peer: *mut syncshell_bytes,
    out_role: *mut u32,
) -> syncshell_status {
    boundary(|| {
        let (peer_out, role_out) = (
            Out::new(out_peer, "out_peer")?,
            Out::new(out_role, "out_role")?,
        );
        let (peer, role) =
            with_session(handshake, |s| (s.peer().to_string(), role_code(s.role())))?;
        put_bytes(peer_out, peer)?;
        role_out.write(role);
        Ok(())
    })
}

/// Frees a handshake handle.
#[no_mangle]
pub extern "C" fn syncshell_handshake_free(handshake: syncshell_handshake) -> syncshell_status {
    boundary(|| handle::remove::<Mutex<Handshake>>(handshake))
}

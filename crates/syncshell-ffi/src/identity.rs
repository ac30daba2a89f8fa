//! Identities, key files, shell genesis, token chains, invites and the invite ledger.

use std::ffi::c_char;
use std::path::Path;
use std::time::Duration;

use ::syncshell_identity::{
    Identity, InviteCode, InviteLedger, InviteOptions, JoinRequest, KdfParams, KeyFile, PeerId,
    Role, ShellGenesis, Timestamp, TokenChain,
};
use rand_core::OsRng;

use crate::args::{self, Out};
use crate::buffer::{new_bytes, syncshell_bytes};
use crate::handle::{self, lock, object};
use crate::revocation::syncshell_revocations;
use crate::status::{boundary, syncshell_status, syncshell_status as S, Failure, Outcome};

/// A handle to an Ed25519 identity (its secret key stays inside the library).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(non_camel_case_types)]
pub struct syncshell_identity {
    /// The handle's value; 0 names no object.
    pub h: u64,
}
/// A handle to a shell genesis.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(non_camel_case_types)]
pub struct syncshell_genesis {
    /// The handle's value; 0 names no object.
    pub h: u64,
}
/// A handle to a token chain (the owner's is empty).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(non_camel_case_types)]
pub struct syncshell_chain {
    /// The handle's value; 0 names no object.
    pub h: u64,
}
/// A handle to an invite code (it holds the invite secret).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(non_camel_case_types)]
pub struct syncshell_invite {
    /// The handle's value; 0 names no object.
    pub h: u64,
}
/// A handle to an invite ledger: the use counts of the invites its holder accepts.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(non_camel_case_types)]
pub struct syncshell_ledger {
    /// The handle's value; 0 names no object.
    pub h: u64,
}
handle::raw_handles!(
    syncshell_identity,
    syncshell_genesis,
    syncshell_chain,
    syncshell_invite,
    syncshell_ledger
);

/// Role of a member: shares and receives files.
pub const SYNCSHELL_ROLE_MEMBER: u32 = 0;
/// Role of an admin: also invites, issues tokens and revokes.
pub const SYNCSHELL_ROLE_ADMIN: u32 = 1;
/// Role of the owner, the key named in the genesis.
pub const SYNCSHELL_ROLE_OWNER: u32 = 2;

object!(Identity, Identity);
object!(ShellGenesis, Genesis);
object!(TokenChain, Chain);
object!(InviteCode, Invite);
object!(std::sync::Mutex<InviteLedger>, Ledger);

pub(crate) fn role_code(role: Role) -> u32 {
    match role {
        Role::Member => SYNCSHELL_ROLE_MEMBER,
        Role::Admin => SYNCSHELL_ROLE_ADMIN,
        _ => SYNCSHELL_ROLE_OWNER,
    }
}

fn role_from(code: u32) -> Outcome<Role> {
    match code {
        SYNCSHELL_ROLE_MEMBER => Ok(Role::Member),
        SYNCSHELL_ROLE_ADMIN => Ok(Role::Admin),
        _ => Err(Failure::new(
            S::SYNCSHELL_ERR_INVALID_ARGUMENT,
            format!("role {code} cannot be issued (0 member, 1 admin)"),
        )),
    }
}

/// Parses a peer id's text form.
///
/// # Safety
/// As [`args::text`].
pub(crate) unsafe fn peer_arg(ptr: *const c_char, what: &str) -> Outcome<PeerId> {
    // SAFETY: forwarded from the caller.
    Ok(unsafe { args::text(ptr, what) }?.parse::<PeerId>()?)
}

/// Writes a new handle for `value` to `out`.
pub(crate) fn put<H: handle::Raw, T: handle::Object>(out: Out<H>, value: T) -> Outcome {
    out.write(handle::insert(value)?);
    Ok(())
}

/// Writes new bytes to `out`.
pub(crate) fn put_bytes(out: Out<syncshell_bytes>, data: impl Into<Vec<u8>>) -> Outcome {
    out.write(new_bytes(data)?);
    Ok(())
}

/// Generates a new identity from the operating system's random generator.
#[no_mangle]
pub extern "C" fn syncshell_identity_generate(
    out_identity: *mut syncshell_identity,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_identity, "out_identity")?;
        put(out, Identity::generate(&mut OsRng))
    })
}

/// Rebuilds an identity from its 32-byte secret key (for a host that stores keys itself).
///
/// # Safety
/// `secret` must point to `secret_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn syncshell_identity_from_secret(
    secret: *const u8,
    secret_len: usize,
    out_identity: *mut syncshell_identity,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_identity, "out_identity")?;
        // SAFETY: the caller's promise.
        let secret =
            zeroize::Zeroizing::new(unsafe { args::array::<32>(secret, secret_len, "secret") }?);
        put(out, Identity::from_secret_bytes(&secret))
    })
}

/// Writes the identity's 32-byte secret key as new bytes (wiped when freed). Whoever holds
/// them is this member: store them as carefully as the host stores passwords.
#[no_mangle]
pub extern "C" fn syncshell_identity_secret(
    identity: syncshell_identity,
    out_secret: *mut syncshell_bytes,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_secret, "out_secret")?;
        let identity = handle::get::<Identity>(identity)?;
        put_bytes(out, identity.to_secret_bytes().to_vec())
    })
}

/// Writes the identity's peer id in its text form (`peer-…`, UTF-8) as new bytes.
#[no_mangle]
pub extern "C" fn syncshell_identity_peer_id(
    identity: syncshell_identity,
    out_text: *mut syncshell_bytes,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_text, "out_text")?;
        put_bytes(
            out,
            handle::get::<Identity>(identity)?.peer_id().to_string(),
        )
    })
}

/// Seals the identity into a key file at `path` (Argon2id, then ChaCha20-Poly1305), written
/// to a temporary file beside it and renamed into place. All three costs 0 take the default
/// (64 MiB, 3 passes, 1 lane); otherwise each must be in range (memory at least 8 KiB per
/// lane, at most 1 GiB; 1..=64 passes; 1..=16 lanes).
///
/// # Safety
/// `path` and `passphrase` must be NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn syncshell_identity_save(
    identity: syncshell_identity,
    path: *const c_char,
    passphrase: *const c_char,
    kdf_memory_kib: u32,
    kdf_passes: u32,
    kdf_lanes: u32,
) -> syncshell_status {
    boundary(|| {
        // SAFETY: the caller's promise.
        let (path, passphrase) = unsafe {
            (
                args::text(path, "path")?,
                args::text(passphrase, "passphrase")?,
            )
        };
        let identity = handle::get::<Identity>(identity)?;
        let params = if (kdf_memory_kib, kdf_passes, kdf_lanes) == (0, 0, 0) {
            KdfParams::DEFAULT
        } else {
            KdfParams::new(kdf_memory_kib, kdf_passes, kdf_lanes)?
        };
        let file = KeyFile::seal(&identity, passphrase.as_bytes(), params, &mut OsRng)?;
        let path = Path::new(path);
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        std::fs::write(&temporary, file.encode())?;
        std::fs::rename(&temporary, path)?;
        Ok(())
    })
}

/// Opens the key file at `path` with `passphrase`. `SYNCSHELL_ERR_WRONG_PASSPHRASE` and
/// `SYNCSHELL_ERR_DECODE` (a damaged file) are told apart.
///
/// # Safety
/// `path` and `passphrase` must be NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn syncshell_identity_load(
    path: *const c_char,
    passphrase: *const c_char,
    out_identity: *mut syncshell_identity,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_identity, "out_identity")?;
        // SAFETY: the caller's promise.
        let (path, passphrase) = unsafe {
            (
                args::text(path, "path")?,
                args::text(passphrase, "passphrase")?,
            )
        };
        let bytes = std::fs::read(path)?;
        let identity = KeyFile::decode(&bytes)?.open(passphrase.as_bytes())?;
        put(out, identity)
    })
}

/// Creates a shell owned by `owner`, named `name` (UTF-8, at most 64 bytes).
///
/// # Safety
/// `name` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn syncshell_genesis_create(
    owner: syncshell_identity,
    name: *const c_char,
    now_ms: u64,
    out_genesis: *mut syncshell_genesis,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_genesis, "out_genesis")?;
        // SAFETY: the caller's promise.
        let name = unsafe { args::text(name, "name") }?;
        let owner = handle::get::<Identity>(owner)?;
        let genesis =
            ShellGenesis::create(&owner, name, Timestamp::from_millis(now_ms), &mut OsRng)?;
        put(out, genesis)
    })
}

/// Decodes and verifies a genesis.
///
/// # Safety
/// `data` must point to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn syncshell_genesis_decode(
    data: *const u8,
    len: usize,
    out_genesis: *mut syncshell_genesis,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_genesis, "out_genesis")?;
        // SAFETY: the caller's promise.
        let data = unsafe { args::bytes(data, len, "data") }?;
        put(out, ShellGenesis::decode(data)?)
    })
}

/// Writes the genesis's encoding as new bytes.
#[no_mangle]
pub extern "C" fn syncshell_genesis_encode(
    genesis: syncshell_genesis,
    out_bytes: *mut syncshell_bytes,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_bytes, "out_bytes")?;
        put_bytes(out, handle::get::<ShellGenesis>(genesis)?.encode())
    })
}

/// Writes the shell id's text form as new bytes.
#[no_mangle]
pub extern "C" fn syncshell_genesis_id(
    genesis: syncshell_genesis,
    out_text: *mut syncshell_bytes,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_text, "out_text")?;
        put_bytes(out, handle::get::<ShellGenesis>(genesis)?.id().to_string())
    })
}

/// Writes the shell's name (UTF-8) as new bytes.
#[no_mangle]
pub extern "C" fn syncshell_genesis_name(
    genesis: syncshell_genesis,
    out_text: *mut syncshell_bytes,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_text, "out_text")?;
        put_bytes(out, handle::get::<ShellGenesis>(genesis)?.name())
    })
}

/// Writes the owner's peer id (text) as new bytes.
#[no_mangle]
pub extern "C" fn syncshell_genesis_owner(
    genesis: syncshell_genesis,
    out_text: *mut syncshell_bytes,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_text, "out_text")?;
        put_bytes(
            out,
            handle::get::<ShellGenesis>(genesis)?.owner().to_string(),
        )
    })
}

/// Frees a genesis handle.
#[no_mangle]
pub extern "C" fn syncshell_genesis_free(genesis: syncshell_genesis) -> syncshell_status {
    boundary(|| handle::remove::<ShellGenesis>(genesis))
}

/// Frees an identity handle (the secret key is wiped once no call uses it).
#[no_mangle]
pub extern "C" fn syncshell_identity_free(identity: syncshell_identity) -> syncshell_status {
    boundary(|| handle::remove::<Identity>(identity))
}

/// The owner's chain: empty, since the genesis names the owner.
#[no_mangle]
pub extern "C" fn syncshell_chain_owner(out_chain: *mut syncshell_chain) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_chain, "out_chain")?;
        put(out, TokenChain::owner())
    })
}

/// Issues a token to `subject` (peer id text) with `role` (member or admin), extending
/// `issuer_chain`. `expires_ms` 0 means no expiry of its own (it still cannot outlive the
/// issuer's). Only admins and the owner issue, never above their own role, and only while
/// `revocations` (the shell's set) admits them.
///
/// # Safety
/// `subject` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn syncshell_chain_issue(
    revocations: syncshell_revocations,
    issuer: syncshell_identity,
    issuer_chain: syncshell_chain,
    subject: *const c_char,
    role: u32,
    now_ms: u64,
    expires_ms: u64,
    out_chain: *mut syncshell_chain,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_chain, "out_chain")?;
        // SAFETY: the caller's promise.
        let subject = unsafe { peer_arg(subject, "subject") }?;
        let role = role_from(role)?;
        let revocations = crate::revocation::set(revocations)?;
        let issuer = handle::get::<Identity>(issuer)?;
        let issuer_chain = handle::get::<TokenChain>(issuer_chain)?;
        let expires = (expires_ms != 0).then(|| Timestamp::from_millis(expires_ms));
        let chain = TokenChain::issue(
            &*lock(&revocations)?,
            &issuer,
            &issuer_chain,
            subject,
            role,
            Timestamp::from_millis(now_ms),
            expires,
            &mut OsRng,
        )?;
        put(out, chain)
    })
}

/// Decodes a token chain (its signatures are checked by `syncshell_chain_verify`).
///
/// # Safety
/// `data` must point to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn syncshell_chain_decode(
    data: *const u8,
    len: usize,
    out_chain: *mut syncshell_chain,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_chain, "out_chain")?;
        // SAFETY: the caller's promise.
        let data = unsafe { args::bytes(data, len, "data") }?;
        put(out, TokenChain::decode(data)?)
    })
}

/// Writes the chain's encoding as new bytes.
#[no_mangle]
pub extern "C" fn syncshell_chain_encode(
    chain: syncshell_chain,
    out_bytes: *mut syncshell_bytes,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_bytes, "out_bytes")?;
        put_bytes(out, handle::get::<TokenChain>(chain)?.encode())
    })
}

/// Checks that `chain` admits `peer` (peer id text) to the shell of `revocations` at
/// `now_ms` and that no key it rests on is revoked there: the one admission check. Writes
/// the role.
///
/// # Safety
/// `peer` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn syncshell_chain_verify(
    chain: syncshell_chain,
    revocations: syncshell_revocations,
    peer: *const c_char,
    now_ms: u64,
    out_role: *mut u32,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_role, "out_role")?;
        // SAFETY: the caller's promise.
        let peer = unsafe { peer_arg(peer, "peer") }?;
        let chain = handle::get::<TokenChain>(chain)?;
        let revocations = crate::revocation::set(revocations)?;
        let admission = lock(&revocations)?.admit(&peer, &chain, Timestamp::from_millis(now_ms))?;
        out.write(role_code(admission.role()));
        Ok(())
    })
}

/// Frees a token chain handle.
#[no_mangle]
pub extern "C" fn syncshell_chain_free(chain: syncshell_chain) -> syncshell_status {
    boundary(|| handle::remove::<TokenChain>(chain))
}

/// Makes an invite: the inviter (owner or admin, holding `inviter_chain` and admitted by the
/// shell's `revocations`) lets up to
/// `max_uses` people (1..=1000) join with `role` within `valid_for_ms` (0: 7 days).
/// `hints` (up to 1 KiB) tell joiners how to reach the shell.
///
/// # Safety
/// `hints` must point to `hints_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn syncshell_invite_create(
    revocations: syncshell_revocations,
    inviter: syncshell_identity,
    inviter_chain: syncshell_chain,
    role: u32,
    max_uses: u32,
    valid_for_ms: u64,
    hints: *const u8,
    hints_len: usize,
    now_ms: u64,
    out_invite: *mut syncshell_invite,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_invite, "out_invite")?;
        // SAFETY: the caller's promise.
        let hints = unsafe { args::bytes(hints, hints_len, "hints") }?;
        let defaults = InviteOptions::default();
        let options = InviteOptions {
            validity: if valid_for_ms == 0 {
                defaults.validity
            } else {
                Duration::from_millis(valid_for_ms)
            },
            max_uses,
            role: role_from(role)?,
            hints: hints.to_vec(),
        };
        let revocations = crate::revocation::set(revocations)?;
        let inviter = handle::get::<Identity>(inviter)?;
        let chain = handle::get::<TokenChain>(inviter_chain)?;
        let code = InviteCode::create(
            &*lock(&revocations)?,
            &inviter,
            &chain,
            &options,
            Timestamp::from_millis(now_ms),
            &mut OsRng,
        )?;
        put(out, code)
    })
}

/// Writes the invite's text form (`syncshell-invite-…`, to paste into a chat) as new bytes.
/// It carries the invite secret: whoever reads it can join.
#[no_mangle]
pub extern "C" fn syncshell_invite_text(
    invite: syncshell_invite,
    out_text: *mut syncshell_bytes,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_text, "out_text")?;
        let text = handle::get::<InviteCode>(invite)?.to_text();
        put_bytes(out, text.as_bytes().to_vec())
    })
}

/// Parses an invite's text form (case, spaces, line breaks and look-alike characters are
/// forgiven; the checksum is not).
///
/// # Safety
/// `text` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn syncshell_invite_parse(
    text: *const c_char,
    out_invite: *mut syncshell_invite,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_invite, "out_invite")?;
        // SAFETY: the caller's promise.
        let text = unsafe { args::text(text, "text") }?;
        put(out, text.parse::<InviteCode>()?)
    })
}

/// Writes a new handle to the genesis of the shell the invite is for.
#[no_mangle]
pub extern "C" fn syncshell_invite_genesis(
    invite: syncshell_invite,
    out_genesis: *mut syncshell_genesis,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_genesis, "out_genesis")?;
        let genesis = handle::get::<InviteCode>(invite)?
            .invite()
            .genesis()
            .clone();
        put(out, genesis)
    })
}

/// Makes the join request `joiner` sends to the inviter (or any admin), as new bytes.
#[no_mangle]
pub extern "C" fn syncshell_invite_join_request(
    invite: syncshell_invite,
    joiner: syncshell_identity,
    now_ms: u64,
    out_request: *mut syncshell_bytes,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_request, "out_request")?;
        let invite = handle::get::<InviteCode>(invite)?;
        let joiner = handle::get::<Identity>(joiner)?;
        let request = invite.join_request(&joiner, Timestamp::from_millis(now_ms))?;
        put_bytes(out, request.encode())
    })
}

/// Frees an invite handle (its secret is wiped).
#[no_mangle]
pub extern "C" fn syncshell_invite_free(invite: syncshell_invite) -> syncshell_status {
    boundary(|| handle::remove::<InviteCode>(invite))
}

/// A new, empty invite ledger.
#[no_mangle]
pub extern "C" fn syncshell_ledger_new(out_ledger: *mut syncshell_ledger) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_ledger, "out_ledger")?;
        put(out, std::sync::Mutex::new(InviteLedger::new()))
    })
}

/// Decodes a saved ledger.
///
/// # Safety
/// `data` must point to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn syncshell_ledger_decode(
    data: *const u8,
    len: usize,
    out_ledger: *mut syncshell_ledger,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_ledger, "out_ledger")?;
        // SAFETY: the caller's promise.
        let data = unsafe { args::bytes(data, len, "data") }?;
        put(out, std::sync::Mutex::new(InviteLedger::decode(data)?))
    })
}

/// Writes the ledger's encoding (to save it across restarts) as new bytes.
#[no_mangle]
pub extern "C" fn syncshell_ledger_encode(
    ledger: syncshell_ledger,
    out_bytes: *mut syncshell_bytes,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_bytes, "out_bytes")?;
        let ledger = handle::get::<std::sync::Mutex<InviteLedger>>(ledger)?;
        let bytes = lock(&ledger)?.encode();
        put_bytes(out, bytes)
    })
}

/// Accepts a join request as the invite's inviter: checks the invite (with the inviter's
/// whole chain against `revocations`), its use count and the request, and issues the
/// joiner's chain through the inviter (sent back to the joiner). Anyone but the inviter is
/// refused. Nothing is counted unless a chain is issued.
///
/// # Safety
/// `request` must point to `request_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn syncshell_ledger_accept(
    ledger: syncshell_ledger,
    revocations: syncshell_revocations,
    acceptor: syncshell_identity,
    acceptor_chain: syncshell_chain,
    request: *const u8,
    request_len: usize,
    now_ms: u64,
    out_chain: *mut syncshell_chain,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_chain, "out_chain")?;
        // SAFETY: the caller's promise.
        let request = unsafe { args::bytes(request, request_len, "request") }?;
        let request = JoinRequest::decode(request)?;
        let ledger = handle::get::<std::sync::Mutex<InviteLedger>>(ledger)?;
        let revocations = crate::revocation::set(revocations)?;
        let acceptor = handle::get::<Identity>(acceptor)?;
        let acceptor_chain = handle::get::<TokenChain>(acceptor_chain)?;
        let chain = lock(&ledger)?.accept(
            &*lock(&revocations)?,
            &acceptor,
            &acceptor_chain,
            &request,
            Timestamp::from_millis(now_ms),
            &mut OsRng,
        )?;
        put(out, chain)
    })
}

/// Frees an invite ledger handle.
#[no_mangle]
pub extern "C" fn syncshell_ledger_free(ledger: syncshell_ledger) -> syncshell_status {
    boundary(|| handle::remove::<std::sync::Mutex<InviteLedger>>(ledger))
}

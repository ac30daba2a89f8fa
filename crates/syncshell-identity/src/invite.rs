//! Invites, their text form, join requests and the admin side of joining.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use hkdf::Hkdf;
use prost::Message;
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::envelope::{
    check_version, decode_bounded, fixed, signer_named, SignedEnvelope, MAX_WIRE_LEN,
};
use crate::error::{Error, Kind, Result};
use crate::genesis::ShellGenesis;
use crate::keys::{Context, Identity, PeerId};
use crate::token::{
    Admission, Revocations, Role, TokenChain, VerifiedChain, DEFAULT_TOKEN_VALIDITY, MAX_CLOCK_SKEW,
};
use crate::{proto, text, Timestamp};

/// Signature context of an invite body.
pub const INVITE_CONTEXT: Context = Context::new("syncshell/v1/invite");
/// Signature context of a join request body, signed by the joiner.
pub const JOIN_REQUEST_CONTEXT: Context = Context::new("syncshell/v1/join-request");
/// Signature context of the invite key's signature over a join request body.
pub const JOIN_PROOF_CONTEXT: Context = Context::new("syncshell/v1/join-invite-proof");
/// Default lifetime of an invite: 30 minutes.
pub const DEFAULT_INVITE_VALIDITY: Duration = Duration::from_secs(30 * 60);
/// Most joiners one invite may admit.
pub const MAX_INVITE_USES: u32 = 1000;
/// Largest bootstrap hints blob an invite carries.
pub const MAX_HINTS_LEN: usize = 2048;

const INVITE_PREFIX: &str = "syncshell-invite-";
const INVITE_KEY_INFO: &[u8] = b"syncshell/v1/invite-key";

/// How to make an invite; `Default` is a one-use member invite valid for 30 minutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteOptions {
    /// How long the invite can be used.
    pub validity: Duration,
    /// How many different joiners it admits (1 to [`MAX_INVITE_USES`]).
    pub max_uses: u32,
    /// The role joiners receive (never above the inviter's).
    pub role: Role,
    /// Opaque bootstrap hints for the transport, at most [`MAX_HINTS_LEN`] bytes.
    pub hints: Vec<u8>,
}

impl Default for InviteOptions {
    fn default() -> Self {
        InviteOptions {
            validity: DEFAULT_INVITE_VALIDITY,
            max_uses: 1,
            role: Role::Member,
            hints: Vec::new(),
        }
    }
}

/// A verified invite: the inviter's signed offer to admit whoever knows the invite secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    envelope: SignedEnvelope,
    genesis: ShellGenesis,
    inviter_chain: TokenChain,
    invite_key: PeerId,
    issued_at: Timestamp,
    expires_at: Timestamp,
    max_uses: u32,
    role: Role,
    hints: Vec<u8>,
}

impl Invite {
    fn from_envelope(envelope: SignedEnvelope) -> Result<Self> {
        let kind = Kind::Invite;
        let body: proto::InviteBody = decode_bounded(kind, envelope.body(), MAX_WIRE_LEN)?;
        check_version(kind, body.version)?;
        let genesis = ShellGenesis::from_proto(body.genesis.ok_or(Error::Malformed {
            kind,
            reason: "no genesis",
        })?)?;
        let inviter_chain = TokenChain::from_proto(body.inviter_chain.unwrap_or_default())?;
        let invite_key = PeerId::from_slice(&body.invite_key).map_err(|_| Error::Malformed {
            kind,
            reason: "bad invite key",
        })?;
        if body.max_uses == 0 || body.max_uses > MAX_INVITE_USES {
            return Err(Error::Malformed {
                kind,
                reason: "max uses out of range",
            });
        }
        if body.hints.len() > MAX_HINTS_LEN {
            return Err(Error::TooLarge {
                kind,
                len: body.hints.len(),
                max: MAX_HINTS_LEN,
            });
        }
        if body.expires_at_ms <= body.issued_at_ms {
            return Err(Error::Malformed {
                kind,
                reason: "expires before it is issued",
            });
        }
        // The signer must be the member the chain names (or the owner with no chain).
        let inviter_named = match inviter_chain.tokens().first() {
            Some(t) => t.subject(),
            None => genesis.owner(),
        };
        if envelope.signer() != inviter_named {
            return Err(Error::Malformed {
                kind,
                reason: "not signed by the member its chain names",
            });
        }
        envelope.verify(INVITE_CONTEXT)?;
        Ok(Invite {
            role: Role::from_wire(kind, body.role)?,
            envelope,
            genesis,
            inviter_chain,
            invite_key,
            issued_at: Timestamp::from_millis(body.issued_at_ms),
            expires_at: Timestamp::from_millis(body.expires_at_ms),
            max_uses: body.max_uses,
            hints: body.hints,
        })
    }

    /// Checks what anyone holding the invite can check at `now`, without the shell's
    /// revocations (a joiner has none yet): not expired, not issued in the future, and the
    /// inviter's chain makes it an admin that may grant the invite's role. The inviter checks
    /// revocations too when it accepts ([`Invite::verify`]).
    pub fn check_usable(&self, now: Timestamp) -> Result<VerifiedChain> {
        if now >= self.expires_at {
            return Err(Error::Expired {
                kind: Kind::Invite,
                expired_at: self.expires_at,
                now,
            });
        }
        if self.issued_at > now.saturating_add(MAX_CLOCK_SKEW) {
            return Err(Error::NotYetValid {
                kind: Kind::Invite,
                issued_at: self.issued_at,
                now,
            });
        }
        let inviter = self
            .inviter_chain
            .verify_peer(&self.genesis, self.inviter(), now)?;
        if inviter.role() < Role::Admin {
            return Err(Error::NotAuthorized("only admins invite"));
        }
        if self.role > inviter.role() || self.role == Role::Owner {
            return Err(Error::NotAuthorized(
                "an invite grants more than its inviter holds",
            ));
        }
        Ok(inviter)
    }

    /// Checks that the invite can be used at `now` in the shell of `revocations`:
    /// [`Invite::check_usable`], and the inviter's whole chain admitted by [`Revocations::admit`] (so an
    /// invite of a revoked admin, or of an admin whose own issuer is revoked, is refused).
    /// Returns the inviter's admission.
    pub fn verify(
        &self,
        revocations: &(impl Revocations + ?Sized),
        now: Timestamp,
    ) -> Result<Admission> {
        if revocations.genesis().id() != self.genesis.id() {
            return Err(Error::WrongShell { kind: Kind::Invite });
        }
        self.check_usable(now)?;
        revocations.admit(self.inviter(), &self.inviter_chain, now)
    }

    /// The shell's genesis, as the invite carries it.
    pub fn genesis(&self) -> &ShellGenesis {
        &self.genesis
    }
    /// Who made the invite.
    pub fn inviter(&self) -> &PeerId {
        self.envelope.signer()
    }
    /// The inviter's chain (empty for the owner).
    pub fn inviter_chain(&self) -> &TokenChain {
        &self.inviter_chain
    }
    /// The public key derived from the invite secret; it also identifies the invite.
    pub fn invite_key(&self) -> &PeerId {
        &self.invite_key
    }
    /// When it was made.
    pub fn issued_at(&self) -> Timestamp {
        self.issued_at
    }
    /// When it stops being usable (usable strictly before).
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }
    /// How many joiners it admits.
    pub fn max_uses(&self) -> u32 {
        self.max_uses
    }
    /// The role joiners receive.
    pub fn role(&self) -> Role {
        self.role
    }
    /// Opaque bootstrap hints for the transport.
    pub fn hints(&self) -> &[u8] {
        &self.hints
    }
}

/// An invite together with its secret: what the inviter hands out, as text.
///
/// Whoever holds it can join (within the invite's limits), so treat the text like a password.
/// `Debug` does not show the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct InviteCode {
    invite: Invite,
    secret: Zeroizing<[u8; 16]>,
}

impl InviteCode {
    /// Makes an invite. The inviter must be admitted ([`Revocations::admit`]) as owner or admin at `now`.
    pub fn create<R: CryptoRng + RngCore + ?Sized>(
        revocations: &(impl Revocations + ?Sized),
        inviter: &Identity,
        inviter_chain: &TokenChain,
        options: &InviteOptions,
        now: Timestamp,
        rng: &mut R,
    ) -> Result<Self> {
        if options.max_uses == 0 || options.max_uses > MAX_INVITE_USES {
            return Err(Error::InvalidArgument("max_uses must be 1..=1000"));
        }
        if options.hints.len() > MAX_HINTS_LEN {
            return Err(Error::TooLarge {
                kind: Kind::Invite,
                len: options.hints.len(),
                max: MAX_HINTS_LEN,
            });
        }
        if options.validity < Duration::from_millis(1) {
            return Err(Error::InvalidArgument("validity must be at least 1 ms"));
        }
        let genesis = revocations.genesis();
        let authority = revocations.admit(&inviter.peer_id(), inviter_chain, now)?;
        if authority.role() < Role::Admin {
            return Err(Error::NotAuthorized("only admins invite"));
        }
        let expires_at = now.saturating_add(options.validity);
        if authority
            .expires_at()
            .is_some_and(|limit| expires_at > limit)
        {
            return Err(Error::OutlivesIssuer { kind: Kind::Invite });
        }
        let mut secret = Zeroizing::new([0u8; 16]);
        rng.fill_bytes(secret.as_mut());
        let invite_key = invite_signing_key(&secret).peer_id();
        let body = proto::InviteBody {
            version: 1,
            genesis: Some(genesis.to_proto()),
            inviter_chain: Some(inviter_chain.to_proto()),
            invite_key: invite_key.as_bytes().to_vec(),
            issued_at_ms: now.as_millis(),
            expires_at_ms: expires_at.as_millis(),
            max_uses: options.max_uses,
            role: options.role.to_wire(Kind::Invite)?,
            hints: options.hints.clone(),
        };
        let envelope = SignedEnvelope::seal(inviter, INVITE_CONTEXT, body.encode_to_vec());
        let invite = Invite::from_envelope(envelope)?;
        invite.verify(revocations, now)?;
        Ok(InviteCode { invite, secret })
    }

    /// The invite.
    pub fn invite(&self) -> &Invite {
        &self.invite
    }

    /// The binary encoding (what the text form carries).
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(
            proto::InviteCode {
                version: 1,
                invite: Some(self.invite.envelope.to_proto()),
                secret: self.secret.to_vec(),
            }
            .encode_to_vec(),
        )
    }

    /// Parses the binary encoding and verifies the invite's signatures. Whether it can still
    /// be used is checked by [`Invite::check_usable`] (and by the inviter, with the shell's
    /// revocations, on joining).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let kind = Kind::Invite;
        let mut msg: proto::InviteCode = decode_bounded(kind, bytes, MAX_WIRE_LEN)?;
        let raw_secret = Zeroizing::new(std::mem::take(&mut msg.secret));
        check_version(kind, msg.version)?;
        let secret = Zeroizing::new(fixed(kind, &raw_secret, "the invite secret is 16 bytes")?);
        let envelope = SignedEnvelope::from_proto(msg.invite.ok_or(Error::Malformed {
            kind,
            reason: "no invite",
        })?)?;
        let invite = Invite::from_envelope(envelope)?;
        if invite_signing_key(&secret).peer_id() != invite.invite_key {
            return Err(Error::Malformed {
                kind,
                reason: "the secret does not match the invite",
            });
        }
        Ok(InviteCode { invite, secret })
    }

    /// The text form: `syncshell-invite-` and checksummed lower-case Crockford base32. Pasting
    /// it into a chat and back (line breaks, case changes) does not break it.
    pub fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(text::encode(INVITE_PREFIX, &self.encode()))
    }

    /// Builds the joiner's request: `joiner` signs it and the invite secret co-signs it. The
    /// request does not reveal the secret.
    pub fn join_request(&self, joiner: &Identity, now: Timestamp) -> Result<JoinRequest> {
        self.invite.check_usable(now)?;
        let body = proto::JoinRequestBody {
            version: 1,
            invite: Some(self.invite.envelope.to_proto()),
            joiner: joiner.peer_id().as_bytes().to_vec(),
            requested_at_ms: now.as_millis(),
        };
        let envelope = SignedEnvelope::seal(joiner, JOIN_REQUEST_CONTEXT, body.encode_to_vec());
        let invite_proof =
            invite_signing_key(&self.secret).sign(JOIN_PROOF_CONTEXT, envelope.body());
        JoinRequest::from_parts(envelope, invite_proof)
    }
}

impl fmt::Debug for InviteCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InviteCode")
            .field("invite", &self.invite)
            .finish_non_exhaustive()
    }
}

impl FromStr for InviteCode {
    type Err = Error;

    /// Parses the text form; each way it can be wrong has its own error (prefix, character,
    /// checksum, encoding, signature).
    fn from_str(s: &str) -> Result<Self> {
        let bytes = Zeroizing::new(text::decode(Kind::Invite, INVITE_PREFIX, s)?);
        InviteCode::decode(&bytes)
    }
}

/// The invite's signing key: Ed25519 with seed `HKDF-SHA256(ikm = secret, salt = none,
/// info = "syncshell/v1/invite-key")`.
fn invite_signing_key(secret: &[u8; 16]) -> Identity {
    let mut seed = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's output limit, so expand cannot fail.
    let _ = Hkdf::<Sha256>::new(None, secret).expand(INVITE_KEY_INFO, seed.as_mut());
    Identity::from_secret_bytes(&seed)
}

/// A verified join request: a joiner's key, the invite it uses, and proof that it knows the
/// invite's secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    envelope: SignedEnvelope,
    invite_proof: [u8; 64],
    invite: Invite,
    joiner: PeerId,
    requested_at: Timestamp,
}

impl JoinRequest {
    fn from_parts(envelope: SignedEnvelope, invite_proof: [u8; 64]) -> Result<Self> {
        let kind = Kind::JoinRequest;
        let body: proto::JoinRequestBody = decode_bounded(kind, envelope.body(), MAX_WIRE_LEN)?;
        check_version(kind, body.version)?;
        let invite = Invite::from_envelope(SignedEnvelope::from_proto(body.invite.ok_or(
            Error::Malformed {
                kind,
                reason: "no invite",
            },
        )?)?)?;
        let joiner = signer_named(&envelope, kind, &body.joiner, "not signed by its joiner")?;
        envelope.verify(JOIN_REQUEST_CONTEXT)?;
        invite
            .invite_key
            .verify(JOIN_PROOF_CONTEXT, envelope.body(), &invite_proof)?;
        Ok(JoinRequest {
            envelope,
            invite_proof,
            invite,
            joiner,
            requested_at: Timestamp::from_millis(body.requested_at_ms),
        })
    }

    /// Parses and verifies both signatures.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let kind = Kind::JoinRequest;
        let msg: proto::JoinRequest = decode_bounded(kind, bytes, MAX_WIRE_LEN)?;
        let envelope = SignedEnvelope::from_proto(msg.request.ok_or(Error::Malformed {
            kind,
            reason: "no request",
        })?)?;
        let proof = fixed(kind, &msg.invite_proof, "the invite proof is 64 bytes")?;
        Self::from_parts(envelope, proof)
    }

    /// The wire encoding.
    pub fn encode(&self) -> Vec<u8> {
        proto::JoinRequest {
            request: Some(self.envelope.to_proto()),
            invite_proof: self.invite_proof.to_vec(),
        }
        .encode_to_vec()
    }

    /// Who wants to join.
    pub fn joiner(&self) -> &PeerId {
        &self.joiner
    }
    /// The invite used.
    pub fn invite(&self) -> &Invite {
        &self.invite
    }
    /// When the joiner made the request.
    pub fn requested_at(&self) -> Timestamp {
        self.requested_at
    }
}

/// The admin side of joining: checks join requests against invites, counts uses, and issues
/// tokens.
///
/// Uses are counted per ledger, so an invite's limit holds when one admin (usually its
/// inviter) accepts its requests; save the ledger with [`InviteLedger::encode`] to keep the
/// count across restarts. A joiner who asks again with the same invite gets a fresh token
/// without using up another use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InviteLedger {
    uses: HashMap<PeerId, LedgerEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct LedgerEntry {
    expires_at: Timestamp,
    joiners: Vec<PeerId>,
}

/// Most joiners a ledger records over all its invites; [`InviteLedger::accept`] refuses new
/// joiners beyond it (after forgetting expired invites), so a saved ledger always reloads.
pub const MAX_LEDGER_JOINERS: usize = 65_536;
/// Largest encoded ledger: room for [`MAX_LEDGER_JOINERS`] joiners, each in its own invite.
pub const MAX_LEDGER_LEN: usize = MAX_LEDGER_JOINERS * 96;

impl InviteLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        InviteLedger::default()
    }

    /// How many different joiners used the invite with this key.
    pub fn uses(&self, invite_key: &PeerId) -> u32 {
        self.uses
            .get(invite_key)
            .map_or(0, |e| u32::try_from(e.joiners.len()).unwrap_or(u32::MAX))
    }

    fn joiner_count(&self) -> usize {
        self.uses.values().map(|e| e.joiners.len()).sum()
    }

    /// Forgets invites that expired at or before `now`; they can no longer be accepted anyway.
    pub fn prune(&mut self, now: Timestamp) {
        self.uses.retain(|_, e| e.expires_at > now);
    }

    /// The ledger's encoding, for saving it across restarts (deterministic: sorted by key).
    pub fn encode(&self) -> Vec<u8> {
        let mut entries: Vec<_> = self.uses.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        proto::InviteLedger {
            version: 1,
            entries: entries
                .into_iter()
                .map(|(key, e)| proto::InviteLedgerEntry {
                    invite_key: key.as_bytes().to_vec(),
                    expires_at_ms: e.expires_at.as_millis(),
                    joiners: e.joiners.iter().map(|j| j.as_bytes().to_vec()).collect(),
                })
                .collect(),
        }
        .encode_to_vec()
    }

    /// Loads a ledger saved by [`InviteLedger::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let kind = Kind::Invite;
        let msg: proto::InviteLedger = decode_bounded(kind, bytes, MAX_LEDGER_LEN)?;
        check_version(kind, msg.version)?;
        let joiners: usize = msg.entries.iter().map(|e| e.joiners.len()).sum();
        if msg.entries.len() > MAX_LEDGER_JOINERS || joiners > MAX_LEDGER_JOINERS {
            return Err(Error::TooLarge {
                kind,
                len: joiners.max(msg.entries.len()),
                max: MAX_LEDGER_JOINERS,
            });
        }
        let mut uses = HashMap::with_capacity(msg.entries.len());
        for entry in msg.entries {
            let malformed = |reason| Error::Malformed { kind, reason };
            let key = PeerId::from_slice(&entry.invite_key)
                .map_err(|_| malformed("bad invite key in ledger"))?;
            if entry.joiners.len() > MAX_INVITE_USES as usize {
                return Err(malformed("more joiners than an invite allows"));
            }
            if entry.joiners.is_empty() {
                // `accept` records an invite only with its first joiner.
                return Err(malformed("an invite entry lists no joiner"));
            }
            let joiners = entry
                .joiners
                .iter()
                .map(|j| PeerId::from_slice(j).map_err(|_| malformed("bad joiner key in ledger")))
                .collect::<Result<Vec<_>>>()?;
            let mut distinct = joiners.clone();
            distinct.sort();
            distinct.dedup();
            if distinct.len() != joiners.len() {
                return Err(malformed("a joiner appears twice for one invite"));
            }
            let e = LedgerEntry {
                expires_at: Timestamp::from_millis(entry.expires_at_ms),
                joiners,
            };
            if uses.insert(key, e).is_some() {
                return Err(malformed("an invite appears twice in the ledger"));
            }
        }
        Ok(InviteLedger { uses })
    }

    /// Accepts a join request as the invite's inviter and returns the joiner's token chain.
    ///
    /// Only the inviter redeems its invites ([`Error::NotInviter`] for anyone else), and the
    /// token it issues names it as issuer, so the joiner's chain passes through the inviter:
    /// revoking the inviter later revokes every member its invites brought in. Refused with a
    /// distinct error: another shell ([`Error::WrongShell`]), an expired invite
    /// ([`Error::Expired`] with [`Kind::Invite`]), an invite used up
    /// ([`Error::InviteUsedUp`]), an inviter whose chain is no longer admitted or rests on a
    /// revoked key ([`Error::Revoked`]), a request from the future. The token lasts
    /// [`DEFAULT_TOKEN_VALIDITY`], cut to the inviter's own expiry. Nothing is recorded unless
    /// a token is issued.
    #[allow(clippy::too_many_arguments)]
    pub fn accept<R: CryptoRng + RngCore + ?Sized>(
        &mut self,
        revocations: &(impl Revocations + ?Sized),
        acceptor: &Identity,
        acceptor_chain: &TokenChain,
        request: &JoinRequest,
        now: Timestamp,
        rng: &mut R,
    ) -> Result<TokenChain> {
        let invite = &request.invite;
        if invite.genesis.id() != revocations.genesis().id() {
            return Err(Error::WrongShell { kind: Kind::Invite });
        }
        if &acceptor.peer_id() != invite.inviter() {
            return Err(Error::NotInviter);
        }
        invite.verify(revocations, now)?;
        if request.requested_at > now.saturating_add(MAX_CLOCK_SKEW) {
            return Err(Error::NotYetValid {
                kind: Kind::JoinRequest,
                issued_at: request.requested_at,
                now,
            });
        }
        let used = self.uses.get(&invite.invite_key);
        let returning = used.is_some_and(|e| e.joiners.contains(&request.joiner));
        if !returning && used.is_some_and(|e| e.joiners.len() >= invite.max_uses as usize) {
            tracing::debug!(joiner = %request.joiner.short(), "invite used up");
            return Err(Error::InviteUsedUp {
                max_uses: invite.max_uses,
            });
        }
        if !returning && self.joiner_count() >= MAX_LEDGER_JOINERS {
            self.prune(now);
            if self.joiner_count() >= MAX_LEDGER_JOINERS {
                return Err(Error::TooLarge {
                    kind: Kind::Invite,
                    len: MAX_LEDGER_JOINERS + 1,
                    max: MAX_LEDGER_JOINERS,
                });
            }
        }
        let authority = revocations.admit(&acceptor.peer_id(), acceptor_chain, now)?;
        let mut expires_at = now.saturating_add(DEFAULT_TOKEN_VALIDITY);
        if let Some(limit) = authority.expires_at() {
            expires_at = expires_at.min(limit);
        }
        let chain = TokenChain::issue(
            revocations,
            acceptor,
            acceptor_chain,
            request.joiner,
            invite.role,
            now,
            Some(expires_at),
            rng,
        )?;
        if !returning {
            self.uses
                .entry(invite.invite_key)
                .or_insert_with(|| LedgerEntry {
                    expires_at: invite.expires_at,
                    joiners: Vec::new(),
                })
                .joiners
                .push(request.joiner);
        }
        tracing::debug!(joiner = %request.joiner.short(), returning, "join request accepted");
        Ok(chain)
    }
}

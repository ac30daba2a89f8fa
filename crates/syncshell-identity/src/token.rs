//! Member tokens and delegation chains.

use std::time::Duration;

use prost::Message;
use rand_core::{CryptoRng, RngCore};

use crate::envelope::{
    check_version, decode_bounded, fixed, signer_named, SignedEnvelope, MAX_WIRE_LEN,
};
use crate::error::{Error, Kind, Result};
use crate::genesis::{ShellGenesis, ShellId};
use crate::keys::{verify_all, Context, Identity, PeerId};
use crate::{proto, Timestamp};

/// Signature context of a member token body.
pub const TOKEN_CONTEXT: Context = Context::new("syncshell/v1/member-token");
/// Most tokens in a chain: the owner's token to an admin, and up to three more delegations.
pub const MAX_CHAIN_DEPTH: usize = 4;
/// Default lifetime of a token issued through an invite: 180 days (about six months).
pub const DEFAULT_TOKEN_VALIDITY: Duration = Duration::from_secs(180 * 24 * 3600);
/// How far in the future an issue time may be before it is refused: 5 minutes.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// What a member may do. Ordered: `Member < Admin < Owner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Role {
    /// Shares and receives files.
    Member,
    /// Also invites, issues tokens (up to its own role and lifetime) and revokes.
    Admin,
    /// The key named in the genesis; holds no token.
    Owner,
}

impl Role {
    pub(crate) fn from_wire(kind: Kind, role: i32) -> Result<Self> {
        match proto::TokenRole::try_from(role) {
            Ok(proto::TokenRole::Member) => Ok(Role::Member),
            Ok(proto::TokenRole::Admin) => Ok(Role::Admin),
            _ => Err(Error::Malformed {
                kind,
                reason: "role must be member or admin",
            }),
        }
    }

    pub(crate) fn to_wire(self, kind: Kind) -> Result<i32> {
        match self {
            Role::Member => Ok(proto::TokenRole::Member as i32),
            Role::Admin => Ok(proto::TokenRole::Admin as i32),
            Role::Owner => Err(Error::Malformed {
                kind,
                reason: "the owner role cannot be granted",
            }),
        }
    }
}

/// A verified member token: `issuer` says `subject` is a member (or admin) of `shell_id`.
///
/// A token on its own proves only that the issuer signed it; a [`TokenChain`] checked with
/// [`TokenChain::verify`] proves the issuer had the right to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberToken {
    envelope: SignedEnvelope,
    shell_id: ShellId,
    subject: PeerId,
    role: Role,
    issuer: PeerId,
    issued_at: Timestamp,
    expires_at: Option<Timestamp>,
    token_id: [u8; 16],
}

/// The fields of a token to sign; see [`MemberToken::sign`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenFields {
    /// The shell the token admits into.
    pub shell_id: ShellId,
    /// Who is admitted.
    pub subject: PeerId,
    /// With which role (member or admin).
    pub role: Role,
    /// When it was issued.
    pub issued_at: Timestamp,
    /// When it stops being valid, if ever.
    pub expires_at: Option<Timestamp>,
}

impl MemberToken {
    /// Signs a token with no policy checks at all; [`TokenChain::issue`] is the checked way.
    /// Verification ([`TokenChain::verify`]) refuses tokens that break the delegation rules
    /// whoever signed them, so this exists for tools and tests that need exact control.
    pub fn sign<R: CryptoRng + RngCore + ?Sized>(
        issuer: &Identity,
        fields: TokenFields,
        rng: &mut R,
    ) -> Result<Self> {
        let mut token_id = [0u8; 16];
        rng.fill_bytes(&mut token_id);
        let body = proto::MemberTokenBody {
            version: 1,
            shell_id: fields.shell_id.as_bytes().to_vec(),
            subject: fields.subject.as_bytes().to_vec(),
            role: fields.role.to_wire(Kind::MemberToken)?,
            issuer: issuer.peer_id().as_bytes().to_vec(),
            issued_at_ms: fields.issued_at.as_millis(),
            expires_at_ms: fields.expires_at.map_or(0, Timestamp::as_millis),
            token_id: token_id.to_vec(),
        };
        let envelope = SignedEnvelope::seal(issuer, TOKEN_CONTEXT, body.encode_to_vec());
        Self::parse(envelope)
    }

    /// Verifies a token envelope's signature and parses its body.
    pub fn from_envelope(envelope: SignedEnvelope) -> Result<Self> {
        let token = Self::parse(envelope)?;
        token.envelope.verify(TOKEN_CONTEXT)?;
        Ok(token)
    }

    /// Parses the body without checking the signature (callers verify, one by one or batched).
    fn parse(envelope: SignedEnvelope) -> Result<Self> {
        let kind = Kind::MemberToken;
        let body: proto::MemberTokenBody = decode_bounded(kind, envelope.body(), MAX_WIRE_LEN)?;
        check_version(kind, body.version)?;
        let shell_id = ShellId::from_bytes(fixed(kind, &body.shell_id, "shell id is 32 bytes")?);
        let subject = PeerId::named_slice(&body.subject).map_err(|_| Error::Malformed {
            kind,
            reason: "bad subject key",
        })?;
        let issuer = signer_named(&envelope, kind, &body.issuer, "not signed by its issuer")?;
        if subject == issuer {
            return Err(Error::Malformed {
                kind,
                reason: "a token cannot be issued to its own issuer",
            });
        }
        let role = Role::from_wire(kind, body.role)?;
        let token_id = fixed(kind, &body.token_id, "token id is 16 bytes")?;
        Ok(MemberToken {
            envelope,
            shell_id,
            subject,
            role,
            issuer,
            issued_at: Timestamp::from_millis(body.issued_at_ms),
            expires_at: (body.expires_at_ms != 0)
                .then(|| Timestamp::from_millis(body.expires_at_ms)),
            token_id,
        })
    }

    /// Parses and verifies the wire encoding (a signed envelope).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        Self::from_envelope(SignedEnvelope::decode(bytes)?)
    }

    /// Parses and verifies many tokens (signatures by [`crate::verify_all`]).
    ///
    /// Returns the index and error of the first token that fails.
    pub fn decode_batch(encoded: &[&[u8]]) -> std::result::Result<Vec<Self>, (usize, Error)> {
        let tokens = encoded
            .iter()
            .enumerate()
            .map(|(i, b)| {
                SignedEnvelope::decode(b)
                    .and_then(Self::parse)
                    .map_err(|e| (i, e))
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let items: Vec<_> = tokens
            .iter()
            .map(|t| t.envelope.signature_item(TOKEN_CONTEXT))
            .collect();
        verify_all(&items).map_err(|i| (i, Error::BadSignature))?;
        Ok(tokens)
    }

    /// The wire encoding.
    pub fn encode(&self) -> Vec<u8> {
        self.envelope.encode()
    }

    /// The shell this token admits into.
    pub fn shell_id(&self) -> ShellId {
        self.shell_id
    }
    /// Who the token admits.
    pub fn subject(&self) -> &PeerId {
        &self.subject
    }
    /// The granted role (member or admin).
    pub fn role(&self) -> Role {
        self.role
    }
    /// Who signed it.
    pub fn issuer(&self) -> &PeerId {
        &self.issuer
    }
    /// When it was issued.
    pub fn issued_at(&self) -> Timestamp {
        self.issued_at
    }
    /// When it stops being valid (valid strictly before), if ever.
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.expires_at
    }
    /// The token's random id.
    pub fn token_id(&self) -> &[u8; 16] {
        &self.token_id
    }
    /// The signed envelope.
    pub fn envelope(&self) -> &SignedEnvelope {
        &self.envelope
    }

    fn check_time(&self, now: Timestamp) -> Result<()> {
        if self.issued_at > now.saturating_add(MAX_CLOCK_SKEW) {
            return Err(Error::NotYetValid {
                kind: Kind::MemberToken,
                issued_at: self.issued_at,
                now,
            });
        }
        match self.expires_at {
            Some(expired_at) if now >= expired_at => Err(Error::Expired {
                kind: Kind::MemberToken,
                expired_at,
                now,
            }),
            _ => Ok(()),
        }
    }
}

/// What a chain's signatures and links prove on their own, before revocation is considered:
/// who it names, with which role, until when, through which keys.
///
/// This is not an admission: a chain that verifies may rest on a revoked key. It is what a
/// check that must not depend on revocations uses (a tombstone's issuer had authority when
/// it signed; a phonebook entry is stored before tombstones filter it). To admit a peer, use
/// [`Revocations::admit`], which also takes the shell's revocations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedChain {
    peer: PeerId,
    role: Role,
    expires_at: Option<Timestamp>,
    chain_keys: Vec<PeerId>,
}

impl VerifiedChain {
    /// The peer the chain names (the owner for the owner's empty chain).
    pub fn peer(&self) -> &PeerId {
        &self.peer
    }
    /// Its role.
    pub fn role(&self) -> Role {
        self.role
    }
    /// When the chain stops being valid (its first token's expiry, which no later token
    /// outlives), if ever.
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.expires_at
    }
    /// Every key the chain rests on, from the peer itself to the last issuer before the
    /// owner (empty for the owner). Revoking any of them revokes an admission through it.
    pub fn chain_keys(&self) -> &[PeerId] {
        &self.chain_keys
    }
}

/// A view of one shell's revocations, and the one admission check, which needs them.
///
/// `syncshell_revocation::RevocationSet` is the implementation programs use; this crate
/// depends on no other, so it names only what [`Revocations::admit`] asks of it.
pub trait Revocations {
    /// The genesis of the shell the revocations belong to.
    fn genesis(&self) -> &ShellGenesis;
    /// `true` if a valid tombstone of the shell names `key`.
    fn is_revoked(&self, key: &PeerId) -> bool;

    /// Admits `peer` into the shell at `now`: the owner with an empty chain, anyone else with
    /// a chain that verifies and names them; and no key the admission rests on (the peer, or
    /// an admin its chain passes through) is revoked ([`Error::Revoked`]).
    ///
    /// This is the one admission check: every part of syncshell admits through it, and it
    /// is the only way to make an [`Admission`]. The chain is checked first and revocation
    /// last, so a chain that is both broken and revoked fails as broken.
    fn admit(&self, peer: &PeerId, chain: &TokenChain, now: Timestamp) -> Result<Admission> {
        let chain = chain.verify_peer(self.genesis(), peer, now)?;
        if let Some(key) = chain.chain_keys.iter().find(|k| self.is_revoked(k)) {
            return Err(Error::Revoked {
                peer: Box::new(*key),
            });
        }
        Ok(Admission { chain })
    }
}

/// What a successful admission check proves: the peer's chain verified against the shell's
/// genesis at a given time, and no key it rests on was revoked then.
///
/// Only [`Revocations::admit`] makes one. An admission held for a long time (a live link) is re-checked
/// against newer tombstones and its expiry by its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    chain: VerifiedChain,
}

impl Admission {
    /// The admitted peer.
    pub fn peer(&self) -> &PeerId {
        &self.chain.peer
    }
    /// Its role.
    pub fn role(&self) -> Role {
        self.chain.role
    }
    /// When the admission ends (the earliest expiry in the chain), if ever.
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.chain.expires_at
    }
    /// Every key the admission rests on, from the peer itself to the last issuer before the
    /// owner. Revoking any of them revokes this admission.
    pub fn chain_keys(&self) -> &[PeerId] {
        &self.chain.chain_keys
    }
}

/// A delegation chain from a member up to the shell owner.
///
/// `tokens[0]` names the member; each next token names the issuer of the one before; the last
/// is issued by the owner. The owner's own chain is empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenChain {
    tokens: Vec<MemberToken>,
}

impl TokenChain {
    /// The empty chain, which only the owner holds.
    pub fn owner() -> Self {
        TokenChain::default()
    }

    /// A chain from tokens ordered member first. Only the count is checked here; see
    /// [`TokenChain::verify`].
    pub fn from_tokens(tokens: Vec<MemberToken>) -> Result<Self> {
        if tokens.len() > MAX_CHAIN_DEPTH {
            return Err(Error::ChainTooDeep {
                depth: tokens.len(),
                max: MAX_CHAIN_DEPTH,
            });
        }
        Ok(TokenChain { tokens })
    }

    /// The tokens, member first.
    pub fn tokens(&self) -> &[MemberToken] {
        &self.tokens
    }

    /// `true` for the owner's empty chain.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Parses and verifies the signatures of an encoded chain (one batch).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let msg: proto::TokenChain = decode_bounded(Kind::TokenChain, bytes, MAX_WIRE_LEN)?;
        Self::from_proto(msg)
    }

    pub(crate) fn from_proto(msg: proto::TokenChain) -> Result<Self> {
        if msg.tokens.len() > MAX_CHAIN_DEPTH {
            return Err(Error::ChainTooDeep {
                depth: msg.tokens.len(),
                max: MAX_CHAIN_DEPTH,
            });
        }
        let tokens = msg
            .tokens
            .into_iter()
            .map(|t| MemberToken::parse(SignedEnvelope::from_proto(t)?))
            .collect::<Result<Vec<_>>>()?;
        let items: Vec<_> = tokens
            .iter()
            .map(|t| t.envelope.signature_item(TOKEN_CONTEXT))
            .collect();
        verify_all(&items).map_err(|_| Error::BadSignature)?;
        Ok(TokenChain { tokens })
    }

    pub(crate) fn to_proto(&self) -> proto::TokenChain {
        proto::TokenChain {
            tokens: self.tokens.iter().map(|t| t.envelope.to_proto()).collect(),
        }
    }

    /// The wire encoding.
    pub fn encode(&self) -> Vec<u8> {
        self.to_proto().encode_to_vec()
    }

    /// Verifies the whole chain against `genesis` at `now` and returns who it admits.
    ///
    /// Checks, for every token: the shell, the issue time (not beyond `now` +
    /// [`MAX_CLOCK_SKEW`]), the expiry; and between tokens: each issuer is the subject of the
    /// next token, holds the admin role, does not grant more than it holds, is not outlived by
    /// what it issued and did not issue before it was admitted; the last issuer is the owner;
    /// no key appears twice. Revocations are not considered: [`Revocations::admit`] is the
    /// admission check. The empty chain is refused: see [`TokenChain::verify_peer`].
    pub fn verify(&self, genesis: &ShellGenesis, now: Timestamp) -> Result<VerifiedChain> {
        let Some(first) = self.tokens.first() else {
            return Err(Error::BrokenChain("the chain is empty"));
        };
        if self.tokens.len() > MAX_CHAIN_DEPTH {
            return Err(Error::ChainTooDeep {
                depth: self.tokens.len(),
                max: MAX_CHAIN_DEPTH,
            });
        }
        for t in &self.tokens {
            if t.shell_id != genesis.id() {
                return Err(Error::WrongShell {
                    kind: Kind::MemberToken,
                });
            }
            if &t.subject == genesis.owner() {
                return Err(Error::BrokenChain("the owner holds no token"));
            }
            t.check_time(now)?;
        }
        for pair in self.tokens.windows(2) {
            let [child, parent] = pair else { continue };
            if child.issuer != parent.subject {
                return Err(Error::BrokenChain(
                    "a token's issuer is not the next subject",
                ));
            }
            if parent.role != Role::Admin {
                return Err(Error::NotAuthorized("only admins issue tokens"));
            }
            if child.role > parent.role {
                return Err(Error::NotAuthorized(
                    "a token grants more than its issuer holds",
                ));
            }
            if let Some(parent_end) = parent.expires_at {
                if child.expires_at.is_none_or(|end| end > parent_end) {
                    return Err(Error::OutlivesIssuer {
                        kind: Kind::MemberToken,
                    });
                }
            }
            if child.issued_at < parent.issued_at {
                return Err(Error::BrokenChain(
                    "a token was issued before its issuer's token",
                ));
            }
        }
        let last = self.tokens.last().unwrap_or(first);
        if &last.issuer != genesis.owner() {
            return Err(Error::BrokenChain("the chain does not end at the owner"));
        }
        let chain_keys: Vec<PeerId> = self.tokens.iter().map(|t| t.subject).collect();
        for (i, k) in chain_keys.iter().enumerate() {
            if chain_keys.iter().skip(i + 1).any(|o| o == k) {
                return Err(Error::BrokenChain("a key appears twice"));
            }
        }
        Ok(VerifiedChain {
            peer: first.subject,
            role: first.role,
            expires_at: first.expires_at,
            chain_keys,
        })
    }

    /// Verifies that this chain names `peer` in the shell of `genesis` at `now`: the owner
    /// with the empty chain, anyone else with a chain that [`TokenChain::verify`]s and names
    /// them. Revocations are not considered; [`Revocations::admit`] is the
    /// admission check.
    pub fn verify_peer(
        &self,
        genesis: &ShellGenesis,
        peer: &PeerId,
        now: Timestamp,
    ) -> Result<VerifiedChain> {
        if peer == genesis.owner() {
            if !self.is_empty() {
                return Err(Error::BrokenChain("the owner holds no token"));
            }
            return Ok(VerifiedChain {
                peer: *peer,
                role: Role::Owner,
                expires_at: None,
                chain_keys: Vec::new(),
            });
        }
        let verified = self.verify(genesis, now)?;
        if verified.peer != *peer {
            return Err(Error::BrokenChain("the chain names another peer"));
        }
        Ok(verified)
    }

    /// Issues a token to `subject`, checking the issuer's own authority first, and returns
    /// the subject's new chain (the new token followed by the issuer's chain).
    ///
    /// `issuer_chain` is empty when the owner issues. Refuses an issuer that [`Revocations::admit`] refuses
    /// (revoked keys included), a member issuer, a role above the issuer's own, and an expiry
    /// after the issuer's own (`expires_at: None` is refused when the issuer's token expires).
    #[allow(clippy::too_many_arguments)]
    pub fn issue<R: CryptoRng + RngCore + ?Sized>(
        revocations: &(impl Revocations + ?Sized),
        issuer: &Identity,
        issuer_chain: &TokenChain,
        subject: PeerId,
        role: Role,
        now: Timestamp,
        expires_at: Option<Timestamp>,
        rng: &mut R,
    ) -> Result<TokenChain> {
        let genesis = revocations.genesis();
        let authority = revocations.admit(&issuer.peer_id(), issuer_chain, now)?;
        if authority.role() < Role::Admin {
            return Err(Error::NotAuthorized("only admins issue tokens"));
        }
        if role > authority.role() || role == Role::Owner {
            return Err(Error::NotAuthorized(
                "cannot grant more than the issuer holds",
            ));
        }
        if let Some(limit) = authority.expires_at() {
            if expires_at.is_none_or(|e| e > limit) {
                return Err(Error::OutlivesIssuer {
                    kind: Kind::MemberToken,
                });
            }
        }
        if expires_at.is_some_and(|e| e <= now) {
            return Err(Error::InvalidArgument("expiry is not after now"));
        }
        let fields = TokenFields {
            shell_id: genesis.id(),
            subject,
            role,
            issued_at: now,
            expires_at,
        };
        let token = MemberToken::sign(issuer, fields, rng)?;
        let mut tokens = Vec::with_capacity(issuer_chain.tokens.len() + 1);
        tokens.push(token);
        tokens.extend(issuer_chain.tokens.iter().cloned());
        let chain = TokenChain::from_tokens(tokens)?;
        chain.verify(genesis, now)?;
        Ok(chain)
    }
}

//! Tombstones: signed statements that a key is out of the shell for good.

use std::fmt;

use prost::Message;
use sha2::{Digest, Sha256};
use syncshell_identity::{
    Context, Identity, PeerId, Revocations, Role, ShellGenesis, ShellId, SignedEnvelope, Timestamp,
    TokenChain,
};

use crate::error::{Error, Result};
use crate::proto;

/// Signature context of a tombstone body.
pub const TOMBSTONE_CONTEXT: Context = Context::new("syncshell/v1/tombstone");

const ID_LABEL: &[u8] = b"syncshell/v1/tombstone-id";

/// Largest tombstone body: room for an issuer chain of the maximum depth.
pub const MAX_TOMBSTONE_BODY_LEN: usize = 4096;

/// Why a key was revoked. Informational: every reason revokes the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// Thrown out by an admin or the owner.
    Removed,
    /// Left of its own accord.
    Left,
    /// The key leaked.
    Compromised,
    /// Replaced by a new key of the same person.
    Superseded,
}

impl Reason {
    fn to_wire(self) -> i32 {
        (match self {
            Reason::Removed => proto::Reason::Removed,
            Reason::Left => proto::Reason::Left,
            Reason::Compromised => proto::Reason::Compromised,
            Reason::Superseded => proto::Reason::Superseded,
        }) as i32
    }

    fn from_wire(v: i32) -> Result<Self> {
        match proto::Reason::try_from(v) {
            Ok(proto::Reason::Removed) => Ok(Reason::Removed),
            Ok(proto::Reason::Left) => Ok(Reason::Left),
            Ok(proto::Reason::Compromised) => Ok(Reason::Compromised),
            Ok(proto::Reason::Superseded) => Ok(Reason::Superseded),
            _ => Err(Error::Malformed("unknown revocation reason")),
        }
    }
}

/// A tombstone's identifier: `SHA-256("syncshell/v1/tombstone-id" || 0x00 || body)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TombstoneId([u8; 32]);

impl TombstoneId {
    /// The id from its 32 bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        TombstoneId(bytes)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub(crate) fn of_body(body: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(ID_LABEL);
        h.update([0u8]);
        h.update(body);
        TombstoneId(h.finalize().into())
    }
}

impl fmt::Display for TombstoneId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for TombstoneId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TombstoneId({self})")
    }
}

/// A verified tombstone: `issuer`, an owner or admin of the shell when it signed, revokes
/// `revoked` for good.
///
/// Validity depends only on the tombstone and the genesis — not on the time it is checked nor
/// on other tombstones — so every replica judges it the same way: the signature verifies, the
/// shell matches, the revoked key is not the owner, and the issuer is the owner or holds a
/// token chain that admits it as an admin at `revoked_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    envelope: SignedEnvelope,
    id: TombstoneId,
    shell_id: ShellId,
    revoked: PeerId,
    reason: Reason,
    revoked_at: Timestamp,
    issuer_chain: TokenChain,
}

impl Tombstone {
    /// Revokes `revoked`. The issuer must be admitted ([`Revocations::admit`]) as owner or
    /// admin at `now`; the owner cannot be revoked.
    pub fn issue(
        revocations: &(impl Revocations + ?Sized),
        issuer: &Identity,
        issuer_chain: &TokenChain,
        revoked: PeerId,
        reason: Reason,
        now: Timestamp,
    ) -> Result<Self> {
        let genesis = revocations.genesis();
        let authority = revocations.admit(&issuer.peer_id(), issuer_chain, now)?;
        if authority.role() < Role::Admin {
            return Err(Error::NotAuthorized("only admins revoke"));
        }
        if &revoked == genesis.owner() {
            return Err(Error::NotAuthorized("the owner cannot be revoked"));
        }
        let body = proto::TombstoneBody {
            version: 1,
            shell_id: genesis.id().as_bytes().to_vec(),
            revoked: revoked.as_bytes().to_vec(),
            reason: reason.to_wire(),
            revoked_at_ms: now.as_millis(),
            issuer: issuer.peer_id().as_bytes().to_vec(),
            // The owner's empty chain encodes to no bytes at all.
            issuer_chain: issuer_chain.encode(),
        };
        let envelope = SignedEnvelope::seal(issuer, TOMBSTONE_CONTEXT, body.encode_to_vec());
        Self::from_envelope(envelope, genesis)
    }

    /// Parses and verifies a tombstone for the shell of `genesis`.
    pub fn decode(bytes: &[u8], genesis: &ShellGenesis) -> Result<Self> {
        Self::from_envelope(SignedEnvelope::decode(bytes)?, genesis)
    }

    /// Verifies a tombstone envelope for the shell of `genesis`.
    pub fn from_envelope(envelope: SignedEnvelope, genesis: &ShellGenesis) -> Result<Self> {
        let t = Self::parse(envelope, genesis)?;
        t.envelope.verify(TOMBSTONE_CONTEXT)?;
        Ok(t)
    }

    /// Everything but the envelope's own signature, which callers check one by one or batched.
    pub(crate) fn parse(envelope: SignedEnvelope, genesis: &ShellGenesis) -> Result<Self> {
        let body = envelope.body();
        if body.len() > MAX_TOMBSTONE_BODY_LEN {
            return Err(Error::TooLarge {
                what: "tombstone body",
                len: body.len(),
                max: MAX_TOMBSTONE_BODY_LEN,
            });
        }
        let msg = proto::TombstoneBody::decode(body)
            .map_err(|_| Error::Malformed("tombstone body is not protobuf"))?;
        if msg.version != 1 {
            return Err(Error::UnsupportedVersion(msg.version));
        }
        let shell_id = ShellId::from_bytes(
            msg.shell_id
                .as_slice()
                .try_into()
                .map_err(|_| Error::Malformed("shell id is 32 bytes"))?,
        );
        if shell_id != genesis.id() {
            return Err(Error::WrongShell);
        }
        let revoked = PeerId::from_slice(&msg.revoked)?;
        if &revoked == genesis.owner() {
            return Err(Error::NotAuthorized("the owner cannot be revoked"));
        }
        if msg.issuer.as_slice() != envelope.signer().as_bytes() {
            return Err(Error::Malformed("not signed by its issuer"));
        }
        let reason = Reason::from_wire(msg.reason)?;
        let revoked_at = Timestamp::from_millis(msg.revoked_at_ms);
        let issuer_chain = TokenChain::decode(&msg.issuer_chain)?;
        // Whether the issuer had authority when it signed; not whether it was revoked since
        // (see the type's docs), so this is the chain check and not an admission.
        let authority = issuer_chain.verify_peer(genesis, envelope.signer(), revoked_at)?;
        if authority.role() < Role::Admin {
            return Err(Error::NotAuthorized("only admins revoke"));
        }
        Ok(Tombstone {
            id: TombstoneId::of_body(body),
            envelope,
            shell_id,
            revoked,
            reason,
            revoked_at,
            issuer_chain,
        })
    }

    /// The wire encoding (a signed envelope).
    pub fn encode(&self) -> Vec<u8> {
        self.envelope.encode()
    }

    /// The tombstone's id.
    pub fn id(&self) -> TombstoneId {
        self.id
    }
    /// The shell.
    pub fn shell_id(&self) -> ShellId {
        self.shell_id
    }
    /// The revoked key.
    pub fn revoked(&self) -> &PeerId {
        &self.revoked
    }
    /// Why.
    pub fn reason(&self) -> Reason {
        self.reason
    }
    /// When the issuer says it revoked the key.
    pub fn revoked_at(&self) -> Timestamp {
        self.revoked_at
    }
    /// Who revoked it.
    pub fn issuer(&self) -> &PeerId {
        self.envelope.signer()
    }
    /// The issuer's token chain (empty for the owner).
    pub fn issuer_chain(&self) -> &TokenChain {
        &self.issuer_chain
    }
    /// The signed envelope.
    pub fn envelope(&self) -> &SignedEnvelope {
        &self.envelope
    }
}

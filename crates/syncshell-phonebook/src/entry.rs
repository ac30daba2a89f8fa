//! Phonebook entries: each member's signed description of itself.

use std::fmt;
use std::time::Duration;

use prost::Message;
use sha2::{Digest, Sha256};
use syncshell_identity::{
    Context, Identity, PeerId, ShellGenesis, ShellId, SignedEnvelope, Timestamp, TokenChain,
    VerifiedChain, MAX_CLOCK_SKEW,
};

use crate::clock::Stamp;
use crate::error::{Error, Result};
use crate::names::friendly_name;
use crate::proto;

/// Signature context of a phonebook entry body.
pub const ENTRY_CONTEXT: Context = Context::new("syncshell/v1/phonebook-entry");
/// Default lifetime of an entry: 24 hours. Members renew it by publishing again.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);
/// Longest lifetime an entry may claim: 7 days.
pub const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Longest display name, in bytes of UTF-8.
pub const MAX_DISPLAY_NAME_LEN: usize = 64;
/// Largest contact-hints blob.
pub const MAX_HINTS_LEN: usize = 1024;

const ID_LABEL: &[u8] = b"syncshell/v1/phonebook-entry-id";

/// Largest entry body: room for a chain of the maximum depth, the longest name and hints.
pub const MAX_ENTRY_BODY_LEN: usize = 4096;

/// Whether a member is around.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Presence {
    /// Connected and reachable.
    Online,
    /// Connected, not at the keyboard.
    Away,
    /// Not connected; `last_seen` says since when.
    Offline,
}

impl Presence {
    /// The presence as text: `online`, `away` or `offline`.
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Online => "online",
            Presence::Away => "away",
            Presence::Offline => "offline",
        }
    }

    fn to_wire(self) -> i32 {
        (match self {
            Presence::Online => proto::Presence::Online,
            Presence::Away => proto::Presence::Away,
            Presence::Offline => proto::Presence::Offline,
        }) as i32
    }

    fn from_wire(v: i32) -> Result<Self> {
        match proto::Presence::try_from(v) {
            Ok(proto::Presence::Online) => Ok(Presence::Online),
            Ok(proto::Presence::Away) => Ok(Presence::Away),
            Ok(proto::Presence::Offline) => Ok(Presence::Offline),
            _ => Err(Error::Malformed("unknown presence")),
        }
    }
}

/// An entry's identifier: `SHA-256("syncshell/v1/phonebook-entry-id" || 0x00 || body)`.
/// Together with the stamp it orders versions: `(stamp, id)`, larger wins.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId([u8; 32]);

impl EntryId {
    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn of_body(body: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(ID_LABEL);
        h.update([0u8]);
        h.update(body);
        EntryId(h.finalize().into())
    }
}

impl fmt::Debug for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryId(")?;
        for b in self.0.iter().take(8) {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// What a member says about itself; see [`Entry::publish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Display name, at most [`MAX_DISPLAY_NAME_LEN`] bytes; empty shows [`friendly_name`].
    pub display_name: String,
    /// Presence.
    pub presence: Presence,
    /// When the member was last active.
    pub last_seen: Timestamp,
    /// Opaque contact hints for the transport, at most [`MAX_HINTS_LEN`] bytes.
    pub hints: Vec<u8>,
    /// How long the entry stays valid, at most [`MAX_TTL`]; [`DEFAULT_TTL`] by default.
    pub ttl: Duration,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            display_name: String::new(),
            presence: Presence::Online,
            last_seen: Timestamp::EPOCH,
            hints: Vec::new(),
            ttl: DEFAULT_TTL,
        }
    }
}

/// A verified phonebook entry.
///
/// Verification (signature, fields, and the peer's token chain at the entry's own stamp
/// time) depends only on the entry and the genesis, so every replica judges it alike.
/// Revocation and expiry are applied by the [`crate::Phonebook`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    envelope: SignedEnvelope,
    shell_id: ShellId,
    id: EntryId,
    chain_id: [u8; 32],
    display_name: String,
    presence: Presence,
    last_seen: Timestamp,
    hints: Vec<u8>,
    stamp: Stamp,
    expires_at: Timestamp,
    chain: TokenChain,
    verified: VerifiedChain,
}

impl Entry {
    /// Signs `member`'s entry. `stamp` comes from the member's [`crate::Clock`]; the entry
    /// expires `profile.ttl` after the stamp's time.
    pub fn publish(
        genesis: &ShellGenesis,
        member: &Identity,
        chain: &TokenChain,
        profile: &Profile,
        stamp: Stamp,
    ) -> Result<Self> {
        if profile.display_name.len() > MAX_DISPLAY_NAME_LEN {
            return Err(Error::InvalidArgument(
                "display name is longer than 64 bytes",
            ));
        }
        if profile.hints.len() > MAX_HINTS_LEN {
            return Err(Error::InvalidArgument("hints are longer than 1024 bytes"));
        }
        if profile.ttl.is_zero() || profile.ttl > MAX_TTL {
            return Err(Error::InvalidArgument("ttl must be within (0, 7 days]"));
        }
        let ttl_ms = u64::try_from(profile.ttl.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let body = proto::EntryBody {
            version: 1,
            shell_id: genesis.id().as_bytes().to_vec(),
            peer: member.peer_id().as_bytes().to_vec(),
            display_name: profile.display_name.clone(),
            presence: profile.presence.to_wire(),
            last_seen_ms: profile.last_seen.as_millis(),
            hints: profile.hints.clone(),
            stamp: stamp.raw(),
            expires_at_ms: stamp.time().as_millis().saturating_add(ttl_ms),
            chain: chain.encode(),
        };
        let envelope = SignedEnvelope::seal(member, ENTRY_CONTEXT, body.encode_to_vec());
        Self::from_envelope(envelope, genesis, None)
    }

    /// Parses and verifies an entry for the shell of `genesis`.
    pub fn decode(bytes: &[u8], genesis: &ShellGenesis) -> Result<Self> {
        Self::from_envelope(SignedEnvelope::decode(bytes)?, genesis, None)
    }

    /// Verifies an envelope. `known_chain` is a chain already verified for the same peer
    /// (the book's current entry); when the new entry carries the same chain bytes its
    /// signatures are not checked again.
    pub(crate) fn from_envelope(
        envelope: SignedEnvelope,
        genesis: &ShellGenesis,
        known_chain: Option<(&[u8; 32], &TokenChain)>,
    ) -> Result<Self> {
        let body = envelope.body();
        if body.len() > MAX_ENTRY_BODY_LEN {
            return Err(Error::TooLarge {
                what: "entry body",
                len: body.len(),
                max: MAX_ENTRY_BODY_LEN,
            });
        }
        let msg = proto::EntryBody::decode(body)
            .map_err(|_| Error::Malformed("entry body is not protobuf"))?;
        if msg.version != 1 {
            return Err(Error::UnsupportedVersion(msg.version));
        }
        if msg.shell_id.as_slice() != genesis.id().as_bytes() {
            return Err(Error::WrongShell);
        }
        if msg.peer.as_slice() != envelope.signer().as_bytes() {
            // Nobody writes another member's entry.
            return Err(Error::Malformed("entry not signed by its peer"));
        }
        if msg.display_name.len() > MAX_DISPLAY_NAME_LEN {
            return Err(Error::TooLarge {
                what: "display name",
                len: msg.display_name.len(),
                max: MAX_DISPLAY_NAME_LEN,
            });
        }
        if msg.hints.len() > MAX_HINTS_LEN {
            return Err(Error::TooLarge {
                what: "hints",
                len: msg.hints.len(),
                max: MAX_HINTS_LEN,
            });
        }
        let presence = Presence::from_wire(msg.presence)?;
        let stamp = Stamp::from_raw(msg.stamp);
        let expires_at = Timestamp::from_millis(msg.expires_at_ms);
        let start = stamp.time();
        if expires_at <= start || expires_at > start.saturating_add(MAX_TTL) {
            return Err(Error::Malformed(
                "expiry must be within 7 days after the stamp",
            ));
        }
        envelope.verify(ENTRY_CONTEXT)?;
        let chain_id = chain_id(&msg.chain);
        let chain = match known_chain {
            Some((id, chain)) if *id == chain_id => chain.clone(),
            _ => TokenChain::decode(&msg.chain)?,
        };
        // The chain named the peer when the entry was made: a pure function of the entry and
        // the genesis. Revocation is the book's business.
        let verified = chain.verify_peer(genesis, envelope.signer(), start)?;
        Ok(Entry {
            shell_id: genesis.id(),
            id: EntryId::of_body(body),
            envelope,
            chain_id,
            display_name: msg.display_name,
            presence,
            last_seen: Timestamp::from_millis(msg.last_seen_ms),
            hints: msg.hints,
            stamp,
            expires_at,
            chain,
            verified,
        })
    }

    /// The wire encoding (a signed envelope).
    pub fn encode(&self) -> Vec<u8> {
        self.envelope.encode()
    }

    /// `true` if `self` replaces `other` (same peer): larger `(stamp, id)` wins.
    pub fn supersedes(&self, other: &Entry) -> bool {
        (self.stamp, self.id) > (other.stamp, other.id)
    }

    /// `true` while the entry is shown at `now`: not expired, not stamped beyond `now` plus
    /// the allowed clock skew, and its peer still admitted by its chain (revocation is the
    /// book's business).
    pub fn is_live(&self, genesis: &ShellGenesis, now: Timestamp) -> bool {
        now < self.expires_at
            && self.stamp.time() <= now.saturating_add(MAX_CLOCK_SKEW)
            && self.chain.verify_peer(genesis, self.peer(), now).is_ok()
    }

    /// When the book may forget the entry: [`MAX_TTL`] after it or its admission expired.
    /// Waiting that long means an older version arriving late is expired too.
    pub fn prunable_at(&self) -> Timestamp {
        let end = match self.verified.expires_at() {
            Some(chain_end) => chain_end.min(self.expires_at),
            None => self.expires_at,
        };
        end.saturating_add(MAX_TTL)
    }

    /// The entry's id.
    pub fn id(&self) -> EntryId {
        self.id
    }
    pub(crate) fn chain_id(&self) -> &[u8; 32] {
        &self.chain_id
    }
    /// The shell it belongs to.
    pub fn shell_id(&self) -> ShellId {
        self.shell_id
    }
    /// Whose entry it is.
    pub fn peer(&self) -> &PeerId {
        self.envelope.signer()
    }
    /// The display name the member chose (may be empty); see [`Entry::shown_name`].
    pub fn display_name(&self) -> &str {
        &self.display_name
    }
    /// The chosen name, or a [`friendly_name`] when none was chosen.
    pub fn shown_name(&self) -> String {
        if self.display_name.is_empty() {
            friendly_name(self.peer())
        } else {
            self.display_name.clone()
        }
    }
    /// Presence.
    pub fn presence(&self) -> Presence {
        self.presence
    }
    /// When the member was last active.
    pub fn last_seen(&self) -> Timestamp {
        self.last_seen
    }
    /// Opaque contact hints for the transport.
    pub fn hints(&self) -> &[u8] {
        &self.hints
    }
    /// The update stamp.
    pub fn stamp(&self) -> Stamp {
        self.stamp
    }
    /// When the entry stops being shown.
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }
    /// The member's token chain.
    pub fn chain(&self) -> &TokenChain {
        &self.chain
    }
    /// What the member's chain proved at the entry's stamp time (revocations are applied by
    /// the [`crate::Phonebook`]).
    pub fn verified_chain(&self) -> &VerifiedChain {
        &self.verified
    }
    /// The signed envelope.
    pub fn envelope(&self) -> &SignedEnvelope {
        &self.envelope
    }
}

fn chain_id(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

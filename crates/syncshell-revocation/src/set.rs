//! The revocation set: a grow-only set of verified tombstones.

use std::collections::{BTreeMap, HashMap};

use prost::Message;
use sha2::{Digest, Sha256};
use syncshell_identity::{
    admit, verify_batch, Admission, PeerId, ShellGenesis, SignedEnvelope, Timestamp, TokenChain,
};

use crate::error::{Error, Result};
use crate::proto;
use crate::tombstone::{Tombstone, TombstoneId, MAX_TOMBSTONE_BODY_LEN, TOMBSTONE_CONTEXT};

/// Most tombstones a set holds.
pub const MAX_TOMBSTONES: usize = 16_384;
/// Largest encoded snapshot: room for [`MAX_TOMBSTONES`] of the largest tombstones, so a set
/// that fits in memory always reloads.
pub const MAX_SNAPSHOT_LEN: usize = MAX_TOMBSTONES * (MAX_TOMBSTONE_BODY_LEN + 256) + 64;

/// The set of revoked keys of one shell: a grow-only CRDT of verified tombstones.
///
/// Merge is union, so replicas that have seen the same tombstones hold the same set whatever
/// the order, duplication or grouping of deliveries, and a revoked key can never come back:
/// no operation removes a tombstone.
///
/// Policy (docs/spec/revocation.md):
/// - A key is revoked when any valid tombstone names it. Revoking an admin also revokes every
///   admission whose token chain passes through it ([`RevocationSet::check`]).
/// - A tombstone stays in force after its issuer is revoked: it was a valid act when made,
///   and judging it by later events would let the order of deliveries change the outcome.
/// - Concurrent revocations, mutual ones included, all take effect: two admins who revoke
///   each other are both revoked, on every replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationSet {
    genesis: ShellGenesis,
    tombstones: BTreeMap<TombstoneId, Tombstone>,
    /// Each revoked key and the smallest id among the tombstones that name it.
    revoked: HashMap<PeerId, TombstoneId>,
}

impl RevocationSet {
    /// An empty set for the shell of `genesis`.
    pub fn new(genesis: ShellGenesis) -> Self {
        RevocationSet {
            genesis,
            tombstones: BTreeMap::new(),
            revoked: HashMap::new(),
        }
    }

    /// The shell's genesis.
    pub fn genesis(&self) -> &ShellGenesis {
        &self.genesis
    }

    /// Adds a tombstone (verified when it was decoded or issued). Returns `true` if it was new.
    pub fn insert(&mut self, tombstone: Tombstone) -> Result<bool> {
        if tombstone.shell_id() != self.genesis.id() {
            return Err(Error::WrongShell);
        }
        if self.tombstones.contains_key(&tombstone.id()) {
            return Ok(false);
        }
        if self.tombstones.len() >= MAX_TOMBSTONES {
            return Err(Error::TooLarge {
                what: "revocation set",
                len: self.tombstones.len() + 1,
                max: MAX_TOMBSTONES,
            });
        }
        let id = tombstone.id();
        let first = self.revoked.entry(*tombstone.revoked()).or_insert(id);
        if id < *first {
            *first = id;
        }
        tracing::debug!(revoked = %tombstone.revoked().short(), tombstone = %id, "tombstone added");
        self.tombstones.insert(id, tombstone);
        Ok(true)
    }

    /// Decodes, verifies and adds an encoded tombstone. Returns `true` if it was new.
    pub fn insert_encoded(&mut self, bytes: &[u8]) -> Result<bool> {
        let t = Tombstone::decode(bytes, &self.genesis)?;
        self.insert(t)
    }

    /// Adds every tombstone of `other` (union). Returns how many were new.
    pub fn merge(&mut self, other: &RevocationSet) -> Result<usize> {
        if other.genesis.id() != self.genesis.id() {
            return Err(Error::WrongShell);
        }
        let mut added = 0;
        for t in other.tombstones.values() {
            if self.insert(t.clone())? {
                added += 1;
            }
        }
        Ok(added)
    }

    /// `true` if a tombstone names `peer`.
    pub fn is_revoked(&self, peer: &PeerId) -> bool {
        self.revoked.contains_key(peer)
    }

    /// The tombstone that revokes `peer` (the one with the smallest id, if several do).
    pub fn revocation_of(&self, peer: &PeerId) -> Option<&Tombstone> {
        self.revoked
            .get(peer)
            .and_then(|id| self.tombstones.get(id))
    }

    /// Fails with [`Error::Revoked`] if the admitted peer or any key its admission rests on is
    /// revoked.
    pub fn check(&self, admission: &Admission) -> Result<()> {
        for key in admission.chain_keys() {
            if let Some(id) = self.revoked.get(key) {
                return Err(Error::Revoked {
                    peer: Box::new(*key),
                    tombstone: *id,
                });
            }
        }
        Ok(())
    }

    /// The admission check everything else uses: `peer`'s chain verifies against the genesis
    /// at `now` (the owner with an empty chain), and no key in it is revoked.
    pub fn admit(&self, peer: &PeerId, chain: &TokenChain, now: Timestamp) -> Result<Admission> {
        let admission = admit(&self.genesis, peer, chain, now)?;
        self.check(&admission)?;
        Ok(admission)
    }

    /// Number of tombstones.
    pub fn len(&self) -> usize {
        self.tombstones.len()
    }

    /// `true` when nothing has been revoked.
    pub fn is_empty(&self) -> bool {
        self.tombstones.is_empty()
    }

    /// The tombstones, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Tombstone> {
        self.tombstones.values()
    }

    /// `true` if the set holds a tombstone with this id.
    pub fn contains(&self, id: &TombstoneId) -> bool {
        self.tombstones.contains_key(id)
    }

    /// A digest of the set's contents: `SHA-256` over the sorted ids. Two sets with equal
    /// digests hold the same tombstones.
    pub fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"syncshell/v1/revocation-digest\0");
        for id in self.tombstones.keys() {
            h.update(id.as_bytes());
        }
        h.finalize().into()
    }

    /// A snapshot: every tombstone's envelope, sorted by id (deterministic).
    pub fn encode(&self) -> Vec<u8> {
        proto::RevocationSnapshot {
            version: 1,
            tombstones: self.tombstones.values().map(Tombstone::encode).collect(),
            digest: self.digest().to_vec(),
        }
        .encode_to_vec()
    }

    /// Reloads a snapshot, verifying every tombstone again (signatures as one batch). Any
    /// invalid entry refuses the whole snapshot with [`Error::Snapshot`]: nothing is silently
    /// dropped.
    pub fn decode(bytes: &[u8], genesis: ShellGenesis) -> Result<Self> {
        if bytes.len() > MAX_SNAPSHOT_LEN {
            return Err(Error::TooLarge {
                what: "revocation snapshot",
                len: bytes.len(),
                max: MAX_SNAPSHOT_LEN,
            });
        }
        let msg = proto::RevocationSnapshot::decode(bytes)
            .map_err(|_| Error::Malformed("revocation snapshot is not protobuf"))?;
        if msg.version != 1 {
            return Err(Error::UnsupportedVersion(msg.version));
        }
        if msg.tombstones.len() > MAX_TOMBSTONES {
            return Err(Error::TooLarge {
                what: "revocation snapshot",
                len: msg.tombstones.len(),
                max: MAX_TOMBSTONES,
            });
        }
        let at = |index: usize| {
            move |e: Error| Error::Snapshot {
                index,
                error: Box::new(e),
            }
        };
        let mut parsed = Vec::with_capacity(msg.tombstones.len());
        for (i, raw) in msg.tombstones.iter().enumerate() {
            let envelope = SignedEnvelope::decode(raw).map_err(|e| at(i)(e.into()))?;
            parsed.push(Tombstone::parse(envelope, &genesis).map_err(at(i))?);
        }
        let items: Vec<_> = parsed
            .iter()
            .map(|t| t.envelope().signature_item(TOMBSTONE_CONTEXT))
            .collect();
        verify_batch(&items).map_err(|i| at(i)(syncshell_identity::Error::BadSignature.into()))?;
        let mut set = RevocationSet::new(genesis);
        for (i, t) in parsed.into_iter().enumerate() {
            if !set.insert(t).map_err(at(i))? {
                return Err(at(i)(Error::Malformed("a tombstone appears twice")));
            }
        }
        if msg.digest.as_slice() != set.digest().as_slice() {
            return Err(Error::Malformed(
                "snapshot digest does not match its tombstones: cut off or altered",
            ));
        }
        Ok(set)
    }
}

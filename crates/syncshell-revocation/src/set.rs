//! The revocation set: a grow-only set of verified tombstones.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use prost::Message;
use sha2::{Digest, Sha256};
use syncshell_identity::{
    verify_all, Admission, PeerId, Revocations, ShellGenesis, SignedEnvelope, Timestamp, TokenChain,
};

use crate::error::{Error, Result};
use crate::proto;
use crate::tombstone::{Tombstone, TombstoneId, MAX_TOMBSTONE_BODY_LEN, TOMBSTONE_CONTEXT};

/// Most tombstones the owner's pool keeps.
pub const MAX_OWNER_TOMBSTONES: usize = 8192;
/// Most tombstones the pool of one admin keeps.
pub const MAX_TOMBSTONES_PER_ADMIN: usize = 256;
/// Most admin pools a set keeps (the owner's pool is not counted).
pub const MAX_ADMIN_POOLS: usize = 32;
/// Most tombstones a set holds: the owner's pool and every admin pool full.
pub const MAX_TOMBSTONES: usize = MAX_OWNER_TOMBSTONES + MAX_ADMIN_POOLS * MAX_TOMBSTONES_PER_ADMIN;
/// Largest encoded snapshot: room for [`MAX_TOMBSTONES`] of the largest tombstones, so a set
/// that fits in memory always reloads.
pub const MAX_SNAPSHOT_LEN: usize = MAX_TOMBSTONES * (MAX_TOMBSTONE_BODY_LEN + 256) + 64;

/// Which pool a tombstone counts against: the length of its issuer's chain (0 for the owner),
/// then the issuer's key. Pools rank in this order.
type Pool = (usize, PeerId);

/// The set of revoked keys of one shell: a convergent, bounded CRDT of verified tombstones.
///
/// Every tombstone counts against the pool of its issuer (docs/spec/revocation.md,
/// "Bounds"): the owner's pool keeps its [`MAX_OWNER_TOMBSTONES`] smallest ids, each admin's
/// its [`MAX_TOMBSTONES_PER_ADMIN`] smallest, and of the admin pools the set keeps the
/// [`MAX_ADMIN_POOLS`] that rank first by (issuer chain length, issuer key). Which
/// tombstones are kept is therefore a function of the tombstones delivered, not of their
/// order, so replicas that saw the same tombstones hold the same set; and a flood by one
/// admin fills only its own pool, or pushes out only pools of admins deeper in the
/// delegation than itself, so the owner's tombstones and those of the admins the owner
/// appointed always land.
///
/// Policy (docs/spec/revocation.md):
/// - A key is revoked when any kept tombstone names it. Revoking an admin also revokes every
///   admission whose token chain passes through it ([`RevocationSet::check`]).
/// - A tombstone stays in force after its issuer is revoked: it was a valid act when made,
///   and judging it by later events would let the order of deliveries change the outcome.
/// - Concurrent revocations, mutual ones included, all take effect: two admins who revoke
///   each other are both revoked, on every replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationSet {
    genesis: ShellGenesis,
    tombstones: BTreeMap<TombstoneId, Tombstone>,
    pools: BTreeMap<Pool, BTreeSet<TombstoneId>>,
    /// Each revoked key and the ids of the kept tombstones that name it.
    revoked: HashMap<PeerId, BTreeSet<TombstoneId>>,
}

impl Revocations for RevocationSet {
    fn genesis(&self) -> &ShellGenesis {
        &self.genesis
    }

    fn is_revoked(&self, key: &PeerId) -> bool {
        self.revoked.contains_key(key)
    }
}

impl RevocationSet {
    /// An empty set for the shell of `genesis`.
    pub fn new(genesis: ShellGenesis) -> Self {
        RevocationSet {
            genesis,
            tombstones: BTreeMap::new(),
            pools: BTreeMap::new(),
            revoked: HashMap::new(),
        }
    }

    /// The shell's genesis.
    pub fn genesis(&self) -> &ShellGenesis {
        &self.genesis
    }

    fn pool_of(&self, tombstone: &Tombstone) -> Pool {
        (tombstone.issuer_chain().tokens().len(), *tombstone.issuer())
    }

    fn quota(&self, pool: &Pool) -> usize {
        if &pool.1 == self.genesis.owner() {
            MAX_OWNER_TOMBSTONES
        } else {
            MAX_TOMBSTONES_PER_ADMIN
        }
    }

    /// Adds a tombstone (verified when it was decoded or issued). Returns `true` if it was new
    /// and is kept; `false` for a tombstone the set already holds, or one its issuer's pool
    /// does not keep (see [`RevocationSet`]'s bounds). It never fails for a full set.
    pub fn insert(&mut self, tombstone: Tombstone) -> Result<bool> {
        if tombstone.shell_id() != self.genesis.id() {
            return Err(Error::WrongShell);
        }
        let id = tombstone.id();
        if self.tombstones.contains_key(&id) {
            return Ok(false);
        }
        let pool = self.pool_of(&tombstone);
        if !self.pools.contains_key(&pool) && &pool.1 != self.genesis.owner() {
            let admin_pools = self
                .pools
                .keys()
                .filter(|p| &p.1 != self.genesis.owner())
                .count();
            if admin_pools >= MAX_ADMIN_POOLS {
                let Some(last) = self
                    .pools
                    .keys()
                    .rev()
                    .find(|p| &p.1 != self.genesis.owner())
                    .copied()
                else {
                    return Ok(false);
                };
                if pool > last {
                    tracing::debug!(issuer = %pool.1.short(), "tombstone of an admin pool that ranks last, not kept");
                    return Ok(false);
                }
                self.drop_pool(&last);
            }
        }
        let quota = self.quota(&pool);
        let ids = self.pools.entry(pool).or_default();
        ids.insert(id);
        let evicted = if ids.len() > quota {
            ids.pop_last()
        } else {
            None
        };
        if evicted == Some(id) {
            return Ok(false);
        }
        if let Some(evicted) = evicted {
            self.forget(&evicted);
        }
        self.revoked
            .entry(*tombstone.revoked())
            .or_default()
            .insert(id);
        tracing::debug!(revoked = %tombstone.revoked().short(), tombstone = %id, "tombstone added");
        self.tombstones.insert(id, tombstone);
        Ok(true)
    }

    fn drop_pool(&mut self, pool: &Pool) {
        for id in self.pools.remove(pool).unwrap_or_default() {
            self.forget(&id);
        }
    }

    /// Removes a tombstone that its pool no longer keeps.
    fn forget(&mut self, id: &TombstoneId) {
        let Some(t) = self.tombstones.remove(id) else {
            return;
        };
        if let Some(ids) = self.revoked.get_mut(t.revoked()) {
            ids.remove(id);
            if ids.is_empty() {
                self.revoked.remove(t.revoked());
            }
        }
    }

    /// Decodes, verifies and adds an encoded tombstone. Returns what [`RevocationSet::insert`]
    /// returns.
    pub fn insert_encoded(&mut self, bytes: &[u8]) -> Result<bool> {
        let t = Tombstone::decode(bytes, &self.genesis)?;
        self.insert(t)
    }

    /// Adds every tombstone of `other` (union, then the same bounds). Returns how many were
    /// new and kept. Only a set of another shell is refused; nothing stops half-way.
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

    /// `true` if a kept tombstone names `peer`.
    pub fn is_revoked(&self, peer: &PeerId) -> bool {
        self.revoked.contains_key(peer)
    }

    /// The tombstone that revokes `peer` (the one with the smallest id, if several do).
    pub fn revocation_of(&self, peer: &PeerId) -> Option<&Tombstone> {
        self.revoked
            .get(peer)
            .and_then(|ids| ids.first())
            .and_then(|id| self.tombstones.get(id))
    }

    /// Fails with [`Error::Revoked`] if any of `keys` is revoked (the first one in order).
    pub fn check_keys(&self, keys: &[PeerId]) -> Result<()> {
        for key in keys {
            if let Some(t) = self.revocation_of(key) {
                return Err(Error::Revoked {
                    peer: Box::new(*key),
                    tombstone: t.id(),
                });
            }
        }
        Ok(())
    }

    /// [`Revocations::admit`] against this set, with a revoked key reported as
    /// [`Error::Revoked`] naming the tombstone: `peer`'s chain verifies against the genesis at
    /// `now` (the owner with an empty chain) and no key it rests on is revoked.
    pub fn admit(&self, peer: &PeerId, chain: &TokenChain, now: Timestamp) -> Result<Admission> {
        Revocations::admit(self, peer, chain, now).map_err(|e| match e {
            syncshell_identity::Error::Revoked { peer } => match self.revocation_of(&peer) {
                Some(t) => Error::Revoked {
                    peer,
                    tombstone: t.id(),
                },
                None => Error::Identity(syncshell_identity::Error::Revoked { peer }),
            },
            other => Error::Identity(other),
        })
    }

    /// Fails with [`Error::Revoked`] if the admitted peer or any key its admission rests on
    /// has been revoked since: how the holder of a long-lived admission (a live link)
    /// re-checks it when tombstones arrive.
    pub fn check(&self, admission: &Admission) -> Result<()> {
        self.check_keys(admission.chain_keys())
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
        verify_all(&items).map_err(|i| at(i)(syncshell_identity::Error::BadSignature.into()))?;
        let mut set = RevocationSet::new(genesis);
        for (i, t) in parsed.into_iter().enumerate() {
            if set.contains(&t.id()) {
                return Err(at(i)(Error::Malformed("a tombstone appears twice")));
            }
            // A tombstone the bounds do not keep leaves the digest unmatched below: a set
            // never encodes one, so such a snapshot was not made by a set.
            set.insert(t).map_err(at(i))?;
        }
        if msg.digest.as_slice() != set.digest().as_slice() {
            return Err(Error::Malformed(
                "snapshot digest does not match its tombstones: cut off or altered",
            ));
        }
        Ok(set)
    }
}

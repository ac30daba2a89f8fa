//! The phonebook: a CRDT of members' newest entries.

use std::collections::{BTreeMap, BTreeSet};

use prost::Message;
use syncshell_identity::{PeerId, ShellGenesis, SignedEnvelope, Timestamp};
use syncshell_revocation::{RevocationSet, Tombstone};

use crate::entry::{Entry, MAX_ENTRY_BODY_LEN};
use crate::error::{Error, Result};
use crate::proto;

/// Most entries the pool of members the owner issued tokens to keeps.
pub const MAX_OWNER_POOL_ENTRIES: usize = 32_768;
/// Most entries the pool of members one admin issued tokens to keeps.
pub const MAX_ADMIN_POOL_ENTRIES: usize = 2048;
/// Most admin pools a book keeps (the owner's own entry and the owner's pool not counted).
pub const MAX_ADMIN_POOLS: usize = 48;
/// Most entries a phonebook holds: the owner's own, the owner's pool and every admin pool
/// full.
pub const MAX_ENTRIES: usize =
    1 + MAX_OWNER_POOL_ENTRIES + MAX_ADMIN_POOLS * MAX_ADMIN_POOL_ENTRIES;
/// Largest encoded snapshot: room for [`MAX_ENTRIES`] of the largest entries and the largest
/// revocation set, so a book that fits in memory always reloads.
pub const MAX_SNAPSHOT_LEN: usize =
    MAX_ENTRIES * (MAX_ENTRY_BODY_LEN + 256) + syncshell_revocation::MAX_SNAPSHOT_LEN + 64;

/// Which pool an entry counts against: the length of its chain (0 for the owner's own
/// entry), then whoever issued the member its token (the owner for the owner). Pools rank
/// in this order.
pub(crate) type Pool = (usize, PeerId);

/// What inserting an entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The peer had no entry; now it has this one.
    Added,
    /// The entry is now the peer's newest version.
    Updated,
    /// The book already had this version or a newer one (or kept it beside a newer one the
    /// peer published through another chain).
    Unchanged,
    /// The entry is now the peer's newest version, but the peer (or a key its admission
    /// rests on) is revoked, so it is not shown. Keeping it means an older version can never
    /// take its place, whatever the order in which versions and tombstones arrive.
    Hidden,
    /// The book's bounds do not keep it: its issuer's pool is full of peers that rank before
    /// it, or its pool ranks after as many others as the book keeps (see [`Phonebook`]).
    NotKept,
}

/// The member directory of one shell.
///
/// State is the shell's [`RevocationSet`] and, per peer and per pool, the newest valid entry
/// by `(stamp, id)`. A peer's entry is its newest version over its pools. Entries whose
/// admission rests on a revoked key (the peer itself, or an admin in its chain) are never
/// shown: [`Phonebook::get`] and [`Phonebook::entries`] skip them. Both parts only grow by
/// taking maxima and unions, so merging is commutative, associative and idempotent:
/// replicas that received the same entries and tombstones hold the same book, whatever the
/// order. Expiry does not change the state either — [`Phonebook::entries`] hides expired
/// entries at the `now` it is given, and [`Phonebook::gc`] prunes them later.
///
/// Bounds (docs/spec/phonebook.md, "Bounds") keep that: every entry counts against the pool
/// of whoever issued its peer's token (the owner's pool keeps [`MAX_OWNER_POOL_ENTRIES`]
/// peers, each admin's [`MAX_ADMIN_POOL_ENTRIES`], the smallest keys first), and the book
/// keeps the [`MAX_ADMIN_POOLS`] admin pools that rank first by (chain length, issuer key).
/// Which entries are kept is a function of the entries delivered, not of their order; a
/// rogue admin minting members fills its own pool, and its sub-admins' pools rank after
/// every member the owner or an owner-appointed admin admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phonebook {
    genesis: ShellGenesis,
    revocations: RevocationSet,
    /// Per peer, per pool, the newest version.
    entries: BTreeMap<PeerId, BTreeMap<Pool, Entry>>,
    /// The peers of each pool.
    pools: BTreeMap<Pool, BTreeSet<PeerId>>,
}

impl Phonebook {
    /// An empty phonebook for the shell of `genesis`.
    pub fn new(genesis: ShellGenesis) -> Self {
        Phonebook {
            revocations: RevocationSet::new(genesis.clone()),
            genesis,
            entries: BTreeMap::new(),
            pools: BTreeMap::new(),
        }
    }

    /// The shell's genesis.
    pub fn genesis(&self) -> &ShellGenesis {
        &self.genesis
    }

    /// The revocation set the book filters by.
    pub fn revocations(&self) -> &RevocationSet {
        &self.revocations
    }

    fn pool_of(&self, entry: &Entry) -> Pool {
        let chain = entry.chain().tokens();
        let issuer = chain.first().map_or(*self.genesis.owner(), |t| *t.issuer());
        (chain.len(), issuer)
    }

    fn quota(&self, pool: &Pool) -> usize {
        match pool {
            (0, _) => 1,
            (_, issuer) if issuer == self.genesis.owner() => MAX_OWNER_POOL_ENTRIES,
            _ => MAX_ADMIN_POOL_ENTRIES,
        }
    }

    /// `true` for a pool counted against [`MAX_ADMIN_POOLS`].
    fn is_admin_pool(&self, pool: &Pool) -> bool {
        &pool.1 != self.genesis.owner()
    }

    /// The peer's newest version over its pools.
    fn newest(&self, peer: &PeerId) -> Option<&Entry> {
        self.entries
            .get(peer)?
            .values()
            .max_by_key(|e| (e.stamp(), e.id()))
    }

    fn is_hidden(&self, e: &Entry) -> bool {
        self.revocations
            .check_keys(e.verified_chain().chain_keys())
            .is_err()
    }

    /// Inserts a verified entry if it is newer than the one the book has for its peer in
    /// its pool. An entry of a revoked peer is kept as the newest version but never shown
    /// ([`Change::Hidden`]); one the bounds do not keep is [`Change::NotKept`].
    pub fn insert(&mut self, entry: Entry) -> Result<Change> {
        if entry.shell_id() != self.genesis.id() {
            return Err(Error::WrongShell);
        }
        let peer = *entry.peer();
        let pool = self.pool_of(&entry);
        if let Some(current) = self.entries.get(&peer).and_then(|slots| slots.get(&pool)) {
            if !entry.supersedes(current) {
                return Ok(Change::Unchanged);
            }
        } else if !self.admit_to_pool(&peer, &pool) {
            tracing::debug!(peer = %peer.short(), "phonebook entry not kept: its pool is full");
            return Ok(Change::NotKept);
        }
        let before = self.newest(&peer).map(|e| (e.stamp(), e.id()));
        let hidden = self.is_hidden(&entry);
        let key = (entry.stamp(), entry.id());
        self.entries.entry(peer).or_default().insert(pool, entry);
        Ok(match before {
            None if hidden => Change::Hidden,
            None => Change::Added,
            Some(b) if b >= key => Change::Unchanged,
            Some(_) if hidden => Change::Hidden,
            Some(_) => Change::Updated,
        })
    }

    /// Makes room for `peer` in `pool` under the bounds, dropping whatever ranks last.
    /// Returns `false` if the peer itself is what the bounds drop.
    fn admit_to_pool(&mut self, peer: &PeerId, pool: &Pool) -> bool {
        if !self.pools.contains_key(pool) && self.is_admin_pool(pool) {
            let admin_pools: Vec<Pool> = self
                .pools
                .keys()
                .filter(|p| self.is_admin_pool(p))
                .copied()
                .collect();
            if admin_pools.len() >= MAX_ADMIN_POOLS {
                match admin_pools.last() {
                    Some(last) if pool < last => {
                        let last = *last;
                        self.drop_pool(&last);
                    }
                    _ => return false,
                }
            }
        }
        let quota = self.quota(pool);
        let peers = self.pools.entry(*pool).or_default();
        peers.insert(*peer);
        if peers.len() > quota {
            let evicted = peers.pop_last();
            if evicted.as_ref() == Some(peer) {
                if peers.is_empty() {
                    self.pools.remove(pool);
                }
                return false;
            }
            if let Some(evicted) = evicted {
                self.drop_slot(&evicted, pool);
            }
        }
        true
    }

    fn drop_pool(&mut self, pool: &Pool) {
        for peer in self.pools.remove(pool).unwrap_or_default() {
            self.drop_slot(&peer, pool);
        }
    }

    /// Removes a peer's version in one pool (the pool's own peer list is the caller's).
    fn drop_slot(&mut self, peer: &PeerId, pool: &Pool) {
        if let Some(slots) = self.entries.get_mut(peer) {
            slots.remove(pool);
            if slots.is_empty() {
                self.entries.remove(peer);
            }
        }
    }

    /// Decodes, verifies and inserts an encoded entry. Work is proportional to what is new:
    /// a version the book already has costs a decode and a hash, and a peer's unchanged
    /// token chain is not verified again.
    pub fn insert_encoded(&mut self, bytes: &[u8]) -> Result<Change> {
        let envelope = SignedEnvelope::decode(bytes)?;
        let slots = self.entries.get(envelope.signer());
        if slots.is_some_and(|s| s.values().any(|e| e.envelope() == &envelope)) {
            return Ok(Change::Unchanged);
        }
        let known = self
            .newest(envelope.signer())
            .map(|c| (c.chain_id(), c.chain()));
        let entry = Entry::from_envelope(envelope, &self.genesis, known)?;
        self.insert(entry)
    }

    /// Adds a tombstone; every entry it revokes stops being shown. Returns `true` if it was
    /// new.
    pub fn revoke(&mut self, tombstone: Tombstone) -> Result<bool> {
        Ok(self.revocations.insert(tombstone)?)
    }

    fn is_shown(&self, e: &Entry, now: Timestamp) -> bool {
        e.is_live(&self.genesis, now) && !self.is_hidden(e)
    }

    /// Merges `other` into this book: tombstones by union, entries by newest version.
    pub fn merge(&mut self, other: &Phonebook) -> Result<MergeReport> {
        if other.genesis.id() != self.genesis.id() {
            return Err(Error::WrongShell);
        }
        let mut report = MergeReport {
            tombstones_added: self.revocations.merge(&other.revocations)?,
            ..MergeReport::default()
        };
        for entry in other.stored() {
            report.record(self.insert(entry.clone()));
        }
        Ok(report)
    }

    /// The entry of `peer`, if it is shown at `now` (not expired, still admitted, not
    /// revoked).
    pub fn get(&self, peer: &PeerId, now: Timestamp) -> Option<&Entry> {
        self.newest(peer).filter(|e| self.is_shown(e, now))
    }

    /// The entries shown at `now` (each peer's newest version), ordered by peer.
    pub fn entries(&self, now: Timestamp) -> impl Iterator<Item = &Entry> + '_ {
        self.entries
            .keys()
            .filter_map(|p| self.newest(p))
            .filter(move |e| self.is_shown(e, now))
    }

    /// Every stored entry, shown or not, ordered by peer and then by pool: each peer's
    /// newest version per pool (almost always one per peer).
    pub fn stored(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.entries.values().flat_map(BTreeMap::values)
    }

    /// Number of stored entries (shown or not).
    pub fn len(&self) -> usize {
        self.pools.values().map(BTreeSet::len).sum()
    }

    /// `true` when no entry is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets entries that expired (or whose admission expired) at least
    /// [`crate::MAX_TTL`] before `now`. Returns how many were dropped. Deterministic: every
    /// replica that runs it at the same `now` drops the same entries.
    pub fn gc(&mut self, now: Timestamp) -> usize {
        let gone: Vec<(PeerId, Pool)> = self
            .entries
            .iter()
            .flat_map(|(peer, slots)| {
                slots
                    .iter()
                    .filter(|(_, e)| e.prunable_at() <= now)
                    .map(|(pool, _)| (*peer, *pool))
            })
            .collect();
        for (peer, pool) in &gone {
            self.drop_slot(peer, pool);
            if let Some(peers) = self.pools.get_mut(pool) {
                peers.remove(peer);
                if peers.is_empty() {
                    self.pools.remove(pool);
                }
            }
        }
        gone.len()
    }

    /// Each peer's stored versions, ordered by peer and then by pool.
    pub(crate) fn versions(&self) -> impl Iterator<Item = (&PeerId, &Entry)> + '_ {
        self.entries
            .iter()
            .flat_map(|(peer, slots)| slots.values().map(move |e| (peer, e)))
    }

    /// The peer's stored versions.
    pub(crate) fn versions_of(&self, peer: &PeerId) -> impl Iterator<Item = &Entry> + '_ {
        self.entries
            .get(peer)
            .into_iter()
            .flat_map(BTreeMap::values)
    }

    pub(crate) fn revocations_mut(&mut self) -> &mut RevocationSet {
        &mut self.revocations
    }

    /// A snapshot: entries ordered by peer, and the revocation set.
    pub fn encode(&self) -> Vec<u8> {
        proto::PhonebookSnapshot {
            version: 1,
            entries: self.stored().map(Entry::encode).collect(),
            revocations: self.revocations.encode(),
            count: u32::try_from(self.len()).unwrap_or(u32::MAX),
        }
        .encode_to_vec()
    }

    /// Reloads a snapshot with full re-verification. Any invalid or duplicate entry, or a
    /// cut-off file, refuses the whole snapshot with a clear error: nothing is silently
    /// dropped.
    pub fn decode(bytes: &[u8], genesis: ShellGenesis) -> Result<Self> {
        if bytes.len() > MAX_SNAPSHOT_LEN {
            return Err(Error::TooLarge {
                what: "phonebook snapshot",
                len: bytes.len(),
                max: MAX_SNAPSHOT_LEN,
            });
        }
        let msg = proto::PhonebookSnapshot::decode(bytes)
            .map_err(|_| Error::Malformed("phonebook snapshot is not protobuf"))?;
        if msg.version != 1 {
            return Err(Error::UnsupportedVersion(msg.version));
        }
        if msg.entries.len() > MAX_ENTRIES {
            return Err(Error::TooLarge {
                what: "phonebook snapshot",
                len: msg.entries.len(),
                max: MAX_ENTRIES,
            });
        }
        if msg.count as usize != msg.entries.len() {
            return Err(Error::Malformed(
                "snapshot entry count does not match: cut off?",
            ));
        }
        let revocations = RevocationSet::decode(&msg.revocations, genesis.clone())?;
        let mut book = Phonebook {
            genesis,
            revocations,
            entries: BTreeMap::new(),
            pools: BTreeMap::new(),
        };
        for (index, raw) in msg.entries.iter().enumerate() {
            let at = |e: Error| Error::Snapshot {
                index,
                error: Box::new(e),
            };
            let entry = Entry::decode(raw, &book.genesis).map_err(at)?;
            let pool = book.pool_of(&entry);
            if book
                .entries
                .get(entry.peer())
                .is_some_and(|slots| slots.contains_key(&pool))
            {
                return Err(at(Error::Malformed("two entries for one peer in one pool")));
            }
            if book.insert(entry).map_err(at)? == Change::NotKept {
                return Err(at(Error::Malformed(
                    "an entry the book's bounds do not keep: not written by a phonebook",
                )));
            }
        }
        Ok(book)
    }
}

/// What a merge or a sync message did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeReport {
    /// Entries for peers the book did not have.
    pub added: usize,
    /// Entries that replaced older versions.
    pub updated: usize,
    /// Entries the book already had (or had newer).
    pub unchanged: usize,
    /// Entries the book's bounds do not keep.
    pub not_kept: usize,
    /// Entries kept as their peer's newest version but not shown: the peer is revoked.
    pub hidden: usize,
    /// Tombstones that were new.
    pub tombstones_added: usize,
    /// Entries or tombstones refused, with why (at most [`MergeReport::MAX_ERRORS`] kept).
    pub rejected: Vec<Error>,
    /// How many were refused in all.
    pub rejected_count: usize,
}

impl MergeReport {
    /// Most refusal reasons a report keeps.
    pub const MAX_ERRORS: usize = 16;

    pub(crate) fn record(&mut self, result: Result<Change>) {
        match result {
            Ok(Change::Added) => self.added += 1,
            Ok(Change::Updated) => self.updated += 1,
            Ok(Change::Unchanged) => self.unchanged += 1,
            Ok(Change::Hidden) => self.hidden += 1,
            Ok(Change::NotKept) => self.not_kept += 1,
            Err(e) => self.reject(e),
        }
    }

    pub(crate) fn reject(&mut self, e: Error) {
        self.rejected_count += 1;
        if self.rejected.len() < Self::MAX_ERRORS {
            self.rejected.push(e);
        }
    }
}

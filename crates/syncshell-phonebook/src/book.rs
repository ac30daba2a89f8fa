//! The phonebook: a CRDT of members' newest entries.

use std::collections::BTreeMap;

use prost::Message;
use syncshell_identity::{PeerId, ShellGenesis, SignedEnvelope, Timestamp};
use syncshell_revocation::{RevocationSet, Tombstone};

use crate::entry::{Entry, MAX_ENTRY_BODY_LEN};
use crate::error::{Error, Result};
use crate::proto;

/// Most entries a phonebook holds.
pub const MAX_ENTRIES: usize = 131_072;
/// Largest encoded snapshot: room for [`MAX_ENTRIES`] of the largest entries and the largest
/// revocation set, so a book that fits in memory always reloads.
pub const MAX_SNAPSHOT_LEN: usize =
    MAX_ENTRIES * (MAX_ENTRY_BODY_LEN + 256) + syncshell_revocation::MAX_SNAPSHOT_LEN + 64;

/// What inserting an entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The peer had no entry; now it has this one.
    Added,
    /// The entry replaced an older version.
    Updated,
    /// The book already had this version or a newer one.
    Unchanged,
    /// The entry is now the peer's newest version, but the peer (or a key its admission
    /// rests on) is revoked, so it is not shown. Keeping it means an older version can never
    /// take its place, whatever the order in which versions and tombstones arrive.
    Hidden,
}

/// The member directory of one shell.
///
/// State is, per peer, the newest valid entry by `(stamp, id)`, plus the shell's
/// [`RevocationSet`]. Entries whose admission rests on a revoked key (the peer itself, or an
/// admin in its chain) are never shown: [`Phonebook::get`] and [`Phonebook::entries`] skip
/// them. Both parts only grow by taking maxima and unions, so merging is commutative,
/// associative and idempotent: replicas that received the same entries and tombstones hold
/// the same book, whatever the order. Expiry does not change the state either —
/// [`Phonebook::entries`] hides expired entries at the `now` it is given, and
/// [`Phonebook::gc`] prunes them later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phonebook {
    genesis: ShellGenesis,
    revocations: RevocationSet,
    entries: BTreeMap<PeerId, Entry>,
}

impl Phonebook {
    /// An empty phonebook for the shell of `genesis`.
    pub fn new(genesis: ShellGenesis) -> Self {
        Phonebook {
            revocations: RevocationSet::new(genesis.clone()),
            genesis,
            entries: BTreeMap::new(),
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

    /// Inserts a verified entry if it is newer than the one the book has for its peer.
    /// An entry of a revoked peer is kept as the newest version but never shown
    /// ([`Change::Hidden`]).
    pub fn insert(&mut self, entry: Entry) -> Result<Change> {
        if entry.shell_id() != self.genesis.id() {
            return Err(Error::WrongShell);
        }
        let hidden = self
            .revocations
            .check_keys(entry.verified_chain().chain_keys())
            .is_err();
        let change = match self.entries.get(entry.peer()) {
            Some(current) if !entry.supersedes(current) => return Ok(Change::Unchanged),
            Some(_) if hidden => Change::Hidden,
            Some(_) => Change::Updated,
            None => {
                if self.entries.len() >= MAX_ENTRIES {
                    return Err(Error::TooLarge {
                        what: "phonebook",
                        len: self.entries.len() + 1,
                        max: MAX_ENTRIES,
                    });
                }
                if hidden {
                    Change::Hidden
                } else {
                    Change::Added
                }
            }
        };
        self.entries.insert(*entry.peer(), entry);
        Ok(change)
    }

    /// Decodes, verifies and inserts an encoded entry. Work is proportional to what is new:
    /// a version the book already has costs a decode and a hash, and a peer's unchanged
    /// token chain is not verified again.
    pub fn insert_encoded(&mut self, bytes: &[u8]) -> Result<Change> {
        let envelope = SignedEnvelope::decode(bytes)?;
        let current = self.entries.get(envelope.signer());
        if let Some(current) = current {
            if current.envelope() == &envelope {
                return Ok(Change::Unchanged);
            }
        }
        let known = current.map(|c| (c.chain_id(), c.chain()));
        let entry = Entry::from_envelope(envelope, &self.genesis, known)?;
        self.insert(entry)
    }

    /// Adds a tombstone; every entry it revokes stops being shown. Returns `true` if it was
    /// new.
    pub fn revoke(&mut self, tombstone: Tombstone) -> Result<bool> {
        Ok(self.revocations.insert(tombstone)?)
    }

    fn is_shown(&self, e: &Entry, now: Timestamp) -> bool {
        e.is_live(&self.genesis, now)
            && self
                .revocations
                .check_keys(e.verified_chain().chain_keys())
                .is_ok()
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
        for entry in other.entries.values() {
            report.record(self.insert(entry.clone()));
        }
        Ok(report)
    }

    /// The entry of `peer`, if it is shown at `now` (not expired, still admitted, not
    /// revoked).
    pub fn get(&self, peer: &PeerId, now: Timestamp) -> Option<&Entry> {
        self.entries.get(peer).filter(|e| self.is_shown(e, now))
    }

    /// The entries shown at `now`, ordered by peer.
    pub fn entries(&self, now: Timestamp) -> impl Iterator<Item = &Entry> + '_ {
        self.entries.values().filter(move |e| self.is_shown(e, now))
    }

    /// Every stored entry (each peer's newest version), shown or not, ordered by peer.
    pub fn stored(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.entries.values()
    }

    /// Number of stored entries (shown or not).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when no entry is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets entries that expired (or whose admission expired) at least
    /// [`crate::MAX_TTL`] before `now`. Returns how many were dropped. Deterministic: every
    /// replica that runs it at the same `now` drops the same entries.
    pub fn gc(&mut self, now: Timestamp) -> usize {
        let before = self.entries.len();
        self.entries.retain(|_, e| e.prunable_at() > now);
        before - self.entries.len()
    }

    pub(crate) fn entry_map(&self) -> &BTreeMap<PeerId, Entry> {
        &self.entries
    }

    pub(crate) fn revocations_mut(&mut self) -> &mut RevocationSet {
        &mut self.revocations
    }

    /// A snapshot: entries ordered by peer, and the revocation set.
    pub fn encode(&self) -> Vec<u8> {
        proto::PhonebookSnapshot {
            version: 1,
            entries: self.entries.values().map(Entry::encode).collect(),
            revocations: self.revocations.encode(),
            count: u32::try_from(self.entries.len()).unwrap_or(u32::MAX),
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
        };
        for (index, raw) in msg.entries.iter().enumerate() {
            let at = |e: Error| Error::Snapshot {
                index,
                error: Box::new(e),
            };
            let entry = Entry::decode(raw, &book.genesis).map_err(at)?;
            if book.entries.contains_key(entry.peer()) {
                return Err(at(Error::Malformed("two entries for one peer")));
            }
            book.insert(entry).map_err(at)?;
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

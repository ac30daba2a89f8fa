//! Delta sync, sans-IO: two books exchange three kinds of message (an `Entries` reply may be
//! split into several) and end up with the same entries and tombstones. Bytes on the wire
//! grow with the difference, not the directory, and every reply is bounded whatever the
//! request ([`MAX_SYNC_REPLY_LEN`]).
//!
//! 1. The initiator sends a `Summary` ([`Phonebook::sync_start`]): a 16-byte fingerprint
//!    (a hash of the bucket's versions) per bucket of peers and the revocation set's digest.
//! 2. The responder answers with `Items` for the buckets whose fingerprints differ, at most
//!    [`MAX_ITEMS_PER_REPLY`]: per stored version the peer, the stamp and 16 bytes of the
//!    entry id; and its tombstone ids when the revocation digests differ.
//! 3. The initiator sends `Entries`: its entries and tombstones the responder lacks, and
//!    requests for those it lacks itself.
//! 4. The responder sends the requested `Entries`.
//!
//! A round moves at most [`MAX_ENTRIES_PER_REPLY`] entries and [`MAX_TOMBSTONES_PER_REPLY`]
//! tombstones each way; books that differ by more converge over further rounds. Every
//! message is handled by [`Phonebook::handle_sync`], which returns the replies to send (none
//! when the exchange is over). Any side can start; messages may be handled in any order and
//! repeated: each is answered from the book's state alone.

use std::collections::{BTreeSet, HashMap, HashSet};

use prost::Message;
use sha2::{Digest, Sha256};
use syncshell_identity::PeerId;
use syncshell_revocation::TombstoneId;

use crate::book::{MergeReport, Phonebook, MAX_ENTRIES};
use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::proto;

/// Largest sync message accepted.
pub const MAX_SYNC_MESSAGE_LEN: usize = 16 * 1024 * 1024;
/// Entries replies are split so that each stays under this size.
const REPLY_SPLIT_LEN: usize = 4 * 1024 * 1024;
const ITEM_LEN: usize = 56;
const FINGERPRINT_LEN: usize = 16;
const MAX_BUCKETS_LOG2: u32 = 16;
const BUCKET_LABEL: &[u8] = b"syncshell/v1/phonebook-bucket";
/// Most items an `Items` reply lists.
pub const MAX_ITEMS_PER_REPLY: usize = 4096;
/// Most tombstone ids an `Items` reply lists.
pub const MAX_TOMBSTONE_IDS_PER_REPLY: usize = 4096;
/// Most entries (and most requested peers) one `Entries` reply carries.
pub const MAX_ENTRIES_PER_REPLY: usize = 512;
/// Most tombstones (and most wanted tombstone ids) one `Entries` reply carries.
pub const MAX_TOMBSTONES_PER_REPLY: usize = 256;
/// Most bytes all the replies to one sync message add up to: the caps above at the largest
/// entry and tombstone sizes, and framing.
pub const MAX_SYNC_REPLY_LEN: usize = MAX_ENTRIES_PER_REPLY * (crate::MAX_ENTRY_BODY_LEN + 256)
    + MAX_TOMBSTONES_PER_REPLY * (syncshell_revocation::MAX_TOMBSTONE_BODY_LEN + 256)
    + (MAX_ENTRIES_PER_REPLY + MAX_TOMBSTONES_PER_REPLY) * 36
    + 4096;

/// What handling one sync message produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use = "the replies must be sent to the other side"]
pub struct SyncOutcome {
    /// Messages to send back, in order. Empty when this side has nothing more to say.
    pub replies: Vec<Vec<u8>>,
    /// What the message changed in the book.
    pub report: MergeReport,
}

/// The first `N` bytes of `bytes` (which is longer).
fn head<const N: usize>(bytes: &[u8; 32]) -> [u8; N] {
    let mut out = [0u8; N];
    out.iter_mut().zip(bytes).for_each(|(o, b)| *o = *b);
    out
}

fn bucket_of(peer: &[u8; 32], log2: u32) -> usize {
    if log2 == 0 {
        return 0;
    }
    let top = u16::from_be_bytes(head(peer));
    usize::from(top >> (16 - log2))
}

fn version_key(e: &Entry) -> (u64, [u8; 16]) {
    (e.stamp().raw(), head(e.id().as_bytes()))
}

fn encode(kind: proto::sync_message::Kind) -> Vec<u8> {
    proto::SyncMessage {
        version: 1,
        kind: Some(kind),
    }
    .encode_to_vec()
}

impl Phonebook {
    fn buckets_log2(&self) -> u32 {
        let wanted = self.len().div_ceil(8).max(1);
        (usize::BITS - (wanted - 1).leading_zeros()).min(MAX_BUCKETS_LOG2)
    }

    /// Each bucket's versions as `(peer, entry id)`, sorted.
    fn bucket_versions(&self, log2: u32) -> Vec<Vec<(PeerId, &Entry)>> {
        let mut buckets: Vec<Vec<(PeerId, &Entry)>> = vec![Vec::new(); 1 << log2];
        for (peer, e) in self.versions() {
            if let Some(b) = buckets.get_mut(bucket_of(peer.as_bytes(), log2)) {
                b.push((*peer, e));
            }
        }
        for b in &mut buckets {
            b.sort_by_key(|(peer, e)| (*peer, e.id()));
        }
        buckets
    }

    /// A bucket's fingerprint: the first 16 bytes of SHA-256 over the label, a zero byte and
    /// `peer || entry id` of each of its versions in ascending order. A hash, not a sum:
    /// versions cannot be chosen to cancel each other out.
    fn fingerprints(&self, log2: u32) -> Vec<[u8; FINGERPRINT_LEN]> {
        self.bucket_versions(log2)
            .iter()
            .map(|versions| {
                let mut h = Sha256::new();
                h.update(BUCKET_LABEL);
                h.update([0u8]);
                for (peer, e) in versions {
                    h.update(peer.as_bytes());
                    h.update(e.id().as_bytes());
                }
                head(&h.finalize().into())
            })
            .collect()
    }

    /// The first message of a sync: this book's summary, to send to the other side.
    pub fn sync_start(&self) -> Vec<u8> {
        let log2 = self.buckets_log2();
        let fingerprints = self.fingerprints(log2).concat();
        encode(proto::sync_message::Kind::Summary(proto::Summary {
            buckets_log2: log2,
            fingerprints,
            revocation_digest: self.revocations().digest().to_vec(),
        }))
    }

    /// Handles one sync message from the other side and returns what to send back.
    ///
    /// Malformed messages are refused whole with an error and change nothing. Within a
    /// well-formed message, entries or tombstones that fail verification are skipped and
    /// reported in [`SyncOutcome::report`]; the valid ones are merged.
    pub fn handle_sync(&mut self, message: &[u8]) -> Result<SyncOutcome> {
        if message.len() > MAX_SYNC_MESSAGE_LEN {
            return Err(Error::TooLarge {
                what: "sync message",
                len: message.len(),
                max: MAX_SYNC_MESSAGE_LEN,
            });
        }
        let msg = proto::SyncMessage::decode(message)
            .map_err(|_| Error::Malformed("sync message is not protobuf"))?;
        if msg.version != 1 {
            return Err(Error::UnsupportedVersion(msg.version));
        }
        match msg.kind {
            Some(proto::sync_message::Kind::Summary(s)) => self.on_summary(&s),
            Some(proto::sync_message::Kind::Items(i)) => self.on_items(&i),
            Some(proto::sync_message::Kind::Entries(e)) => self.on_entries(&e),
            None => Err(Error::Malformed("sync message has no content")),
        }
    }

    fn on_summary(&self, s: &proto::Summary) -> Result<SyncOutcome> {
        if s.buckets_log2 > MAX_BUCKETS_LOG2
            || s.fingerprints.len() != FINGERPRINT_LEN << s.buckets_log2
        {
            return Err(Error::Malformed(
                "summary fingerprints do not match its bucket count",
            ));
        }
        let differing: Vec<usize> = self
            .fingerprints(s.buckets_log2)
            .iter()
            .zip(s.fingerprints.chunks_exact(FINGERPRINT_LEN))
            .enumerate()
            .filter(|(_, (ours, theirs))| ours.as_slice() != *theirs)
            .map(|(i, _)| i)
            .collect();
        let revocations_differ =
            s.revocation_digest.as_slice() != self.revocations().digest().as_slice();
        if differing.is_empty() && !revocations_differ {
            return Ok(SyncOutcome::default());
        }
        // Items at least as fine as this book's own buckets, so a coarse summary (a small
        // message) cannot draw every entry at once: each differing bucket of the summary
        // stands for its sub-buckets at the finer resolution.
        let log2 = s.buckets_log2.max(self.buckets_log2());
        let shift = log2 - s.buckets_log2;
        let versions = self.bucket_versions(log2);
        let mut buckets = Vec::new();
        let mut items = Vec::new();
        'fill: for coarse in differing {
            for fine in (coarse << shift)..((coarse + 1) << shift) {
                let Some(bucket) = versions.get(fine) else {
                    continue;
                };
                if items.len() / ITEM_LEN + bucket.len() > MAX_ITEMS_PER_REPLY {
                    // Whole buckets only; the rest waits for the next round.
                    break 'fill;
                }
                buckets.push(fine as u32);
                for (peer, e) in bucket {
                    items.extend_from_slice(peer.as_bytes());
                    items.extend_from_slice(&e.stamp().raw().to_be_bytes());
                    items.extend_from_slice(&head::<16>(e.id().as_bytes()));
                }
            }
        }
        let (tombstone_ids, tombstone_ids_truncated) = if revocations_differ {
            let ids: Vec<Vec<u8>> = self
                .revocations()
                .iter()
                .take(MAX_TOMBSTONE_IDS_PER_REPLY)
                .map(|t| t.id().as_bytes().to_vec())
                .collect();
            (ids, self.revocations().len() > MAX_TOMBSTONE_IDS_PER_REPLY)
        } else {
            (Vec::new(), false)
        };
        let reply = encode(proto::sync_message::Kind::Items(proto::Items {
            buckets_log2: log2,
            buckets,
            items,
            tombstone_ids,
            revocations_differ,
            tombstone_ids_truncated,
        }));
        Ok(SyncOutcome {
            replies: vec![reply],
            report: MergeReport::default(),
        })
    }

    fn on_items(&self, i: &proto::Items) -> Result<SyncOutcome> {
        if i.buckets_log2 > MAX_BUCKETS_LOG2
            || i.buckets.len() > 1 << i.buckets_log2
            || i.items.len() % ITEM_LEN != 0
            || i.items.len() / ITEM_LEN > MAX_ENTRIES
        {
            return Err(Error::Malformed("items message out of bounds"));
        }
        let buckets: BTreeSet<usize> = i.buckets.iter().map(|&b| b as usize).collect();
        if buckets.len() != i.buckets.len() || buckets.iter().any(|&b| b >= 1 << i.buckets_log2) {
            return Err(Error::Malformed("items message lists bad buckets"));
        }
        let mut theirs: HashMap<[u8; 32], Vec<(u64, [u8; 16])>> = HashMap::new();
        for item in i.items.chunks_exact(ITEM_LEN) {
            let (peer, rest) = item.split_at(32);
            let (stamp, id) = rest.split_at(8);
            let peer: [u8; 32] = peer.try_into().map_err(|_| Error::Malformed("item"))?;
            let stamp = u64::from_be_bytes(stamp.try_into().map_err(|_| Error::Malformed("item"))?);
            let id: [u8; 16] = id.try_into().map_err(|_| Error::Malformed("item"))?;
            if !buckets.contains(&bucket_of(&peer, i.buckets_log2)) {
                return Err(Error::Malformed("an item is outside the listed buckets"));
            }
            let versions = theirs.entry(peer).or_default();
            if versions.iter().any(|v| v.1 == id) {
                return Err(Error::Malformed("an item appears twice"));
            }
            versions.push((stamp, id));
        }
        let mut entries = Vec::new();
        let mut requests = BTreeSet::new();
        let mut ours: HashMap<[u8; 32], Vec<(u64, [u8; 16])>> = HashMap::new();
        for (peer, e) in self.versions() {
            if !buckets.contains(&bucket_of(peer.as_bytes(), i.buckets_log2)) {
                continue;
            }
            ours.entry(*peer.as_bytes())
                .or_default()
                .push(version_key(e));
            let listed = theirs
                .get(peer.as_bytes())
                .is_some_and(|v| v.contains(&version_key(e)));
            if !listed && entries.len() < MAX_ENTRIES_PER_REPLY {
                entries.push(e.encode());
            }
        }
        for (peer, versions) in &theirs {
            let ours = ours.get(peer);
            if versions
                .iter()
                .any(|v| !ours.is_some_and(|o| o.contains(v)))
            {
                requests.insert(peer.to_vec());
            }
        }
        // Deterministic messages: requests in key order, as many as one reply answers.
        let requests: Vec<Vec<u8>> = requests.into_iter().take(MAX_ENTRIES_PER_REPLY).collect();
        let (tombstones, want_tombstones) = if i.revocations_differ {
            if i.tombstone_ids.len() > syncshell_revocation::MAX_TOMBSTONES {
                return Err(Error::Malformed("too many tombstone ids"));
            }
            let their_ids: HashSet<&[u8]> = i.tombstone_ids.iter().map(Vec::as_slice).collect();
            // A truncated list covers the ids up to its largest one.
            let covered = |id: &TombstoneId| {
                !i.tombstone_ids_truncated
                    || i.tombstone_ids
                        .iter()
                        .any(|listed| listed.as_slice() >= id.as_bytes().as_slice())
            };
            let push = self
                .revocations()
                .iter()
                .filter(|t| covered(&t.id()))
                .filter(|t| !their_ids.contains(t.id().as_bytes().as_slice()))
                .take(MAX_TOMBSTONES_PER_REPLY)
                .map(|t| t.encode())
                .collect();
            let want = i
                .tombstone_ids
                .iter()
                .filter(|id| {
                    <[u8; 32]>::try_from(id.as_slice())
                        .map(|id| !self.revocations().contains(&TombstoneId::from_bytes(id)))
                        .unwrap_or(false)
                })
                .take(MAX_TOMBSTONES_PER_REPLY)
                .cloned()
                .collect();
            (push, want)
        } else {
            (Vec::new(), Vec::new())
        };
        Ok(SyncOutcome {
            replies: split_entries(entries, tombstones, requests, want_tombstones),
            report: MergeReport::default(),
        })
    }

    fn on_entries(&mut self, m: &proto::Entries) -> Result<SyncOutcome> {
        if m.entries.len() > MAX_ENTRIES
            || m.requests.len() > MAX_ENTRIES
            || m.tombstones.len() > syncshell_revocation::MAX_TOMBSTONES
            || m.want_tombstones.len() > syncshell_revocation::MAX_TOMBSTONES
        {
            return Err(Error::Malformed("entries message out of bounds"));
        }
        let mut report = MergeReport::default();
        for t in &m.tombstones {
            match self.revocations_mut().insert_encoded(t) {
                Ok(true) => report.tombstones_added += 1,
                Ok(false) => {}
                Err(e) => report.reject(e.into()),
            }
        }
        for e in &m.entries {
            let result = self.insert_encoded(e);
            report.record(result);
        }
        // Each requested peer once, in key order, as many as one reply carries.
        let requested: BTreeSet<PeerId> = m
            .requests
            .iter()
            .filter_map(|p| PeerId::from_slice(p).ok())
            .collect();
        let entries: Vec<Vec<u8>> = requested
            .iter()
            .flat_map(|peer| self.versions_of(peer))
            .take(MAX_ENTRIES_PER_REPLY)
            .map(Entry::encode)
            .collect();
        let wanted: HashSet<&[u8]> = m.want_tombstones.iter().map(Vec::as_slice).collect();
        let tombstones: Vec<Vec<u8>> = self
            .revocations()
            .iter()
            .filter(|t| wanted.contains(t.id().as_bytes().as_slice()))
            .take(MAX_TOMBSTONES_PER_REPLY)
            .map(|t| t.encode())
            .collect();
        Ok(SyncOutcome {
            replies: split_entries(entries, tombstones, Vec::new(), Vec::new()),
            report,
        })
    }
}

/// Packs entries and tombstones into `Entries` messages of at most about
/// [`REPLY_SPLIT_LEN`] bytes each; requests ride in the first. Nothing to say: no message.
fn split_entries(
    entries: Vec<Vec<u8>>,
    tombstones: Vec<Vec<u8>>,
    requests: Vec<Vec<u8>>,
    want_tombstones: Vec<Vec<u8>>,
) -> Vec<Vec<u8>> {
    if entries.is_empty()
        && tombstones.is_empty()
        && requests.is_empty()
        && want_tombstones.is_empty()
    {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut current = proto::Entries {
        requests,
        want_tombstones,
        ..proto::Entries::default()
    };
    let mut size = current.encoded_len();
    let flush = |current: &mut proto::Entries, out: &mut Vec<Vec<u8>>| {
        let full = std::mem::take(current);
        out.push(encode(proto::sync_message::Kind::Entries(full)));
    };
    for t in tombstones {
        if size + t.len() > REPLY_SPLIT_LEN && size > 0 {
            flush(&mut current, &mut out);
            size = 0;
        }
        size += t.len() + 4;
        current.tombstones.push(t);
    }
    for e in entries {
        if size + e.len() > REPLY_SPLIT_LEN && size > 0 {
            flush(&mut current, &mut out);
            size = 0;
        }
        size += e.len() + 4;
        current.entries.push(e);
    }
    flush(&mut current, &mut out);
    out
}

/// Runs whole syncs between two books in memory, `a` initiating, until they agree, and
/// returns the bytes sent in each direction. A convenience for tests, tools and benchmarks; a
/// real node sends the same messages over its transport.
pub fn sync_in_memory(a: &mut Phonebook, b: &mut Phonebook) -> Result<SyncBytes> {
    let mut bytes = SyncBytes::default();
    // Each round moves up to MAX_ENTRIES_PER_REPLY entries each way; the bound only guards
    // against a logic error.
    let rounds = 4 + 2 * (MAX_ENTRIES / MAX_ENTRIES_PER_REPLY);
    for _ in 0..rounds {
        let before = (a.sync_start(), b.sync_start());
        let mut to_b = vec![a.sync_start()];
        let mut to_a: Vec<Vec<u8>> = Vec::new();
        // Four messages at most per round.
        for _ in 0..4 {
            if to_b.is_empty() && to_a.is_empty() {
                break;
            }
            for m in std::mem::take(&mut to_b) {
                bytes.a_to_b += m.len();
                to_a.extend(b.handle_sync(&m)?.replies);
            }
            for m in std::mem::take(&mut to_a) {
                bytes.b_to_a += m.len();
                to_b.extend(a.handle_sync(&m)?.replies);
            }
        }
        if !to_b.is_empty() || !to_a.is_empty() {
            return Err(Error::Malformed(
                "sync did not finish a round in four messages",
            ));
        }
        let again = b.handle_sync(&a.sync_start())?;
        // Done when they agree, or when a round changed neither book (what is left cannot
        // be synced: entries one side refuses).
        if again.replies.is_empty() || before == (a.sync_start(), b.sync_start()) {
            return Ok(bytes);
        }
    }
    Err(Error::Malformed("sync did not converge"))
}

/// Bytes a sync sent each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncBytes {
    /// From the initiator to the responder.
    pub a_to_b: usize,
    /// From the responder to the initiator.
    pub b_to_a: usize,
}

impl SyncBytes {
    /// Both directions together.
    pub fn total(&self) -> usize {
        self.a_to_b + self.b_to_a
    }
}

//! Delta sync, sans-IO: two books exchange four kinds of message (an `Entries` reply may be
//! split into several) and end up with the same entries and tombstones. Bytes on the wire grow with the difference, not the directory.
//!
//! 1. The initiator sends a `Summary` ([`Phonebook::sync_start`]): an 8-byte fingerprint per
//!    bucket of peers and the revocation set's digest.
//! 2. The responder answers with `Items` for the buckets whose fingerprints differ: per entry
//!    the peer, the stamp and 16 bytes of the entry id; and its tombstone ids when the
//!    revocation digests differ.
//! 3. The initiator sends `Entries`: its entries and tombstones the responder lacks, and
//!    requests for those it lacks itself.
//! 4. The responder sends the requested `Entries`.
//!
//! Every message is handled by [`Phonebook::handle_sync`], which returns the replies to send
//! (none when the exchange is over). Any side can start; messages may be handled in any
//! order and repeated: each is answered from the book's state alone.

use std::collections::{BTreeSet, HashMap, HashSet};

use prost::Message;
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
const MAX_BUCKETS_LOG2: u32 = 16;

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

fn id_prefix(e: &Entry) -> u64 {
    u64::from_be_bytes(head(e.id().as_bytes()))
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

    fn fingerprints(&self, log2: u32) -> Vec<u64> {
        let mut fps = vec![0u64; 1 << log2];
        for (peer, e) in self.entry_map() {
            if let Some(fp) = fps.get_mut(bucket_of(peer.as_bytes(), log2)) {
                *fp ^= id_prefix(e);
            }
        }
        fps
    }

    /// The first message of a sync: this book's summary, to send to the other side.
    pub fn sync_start(&self) -> Vec<u8> {
        let log2 = self.buckets_log2();
        let fingerprints = self
            .fingerprints(log2)
            .iter()
            .flat_map(|f| f.to_be_bytes())
            .collect();
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
        if s.buckets_log2 > MAX_BUCKETS_LOG2 || s.fingerprints.len() != 8 << s.buckets_log2 {
            return Err(Error::Malformed(
                "summary fingerprints do not match its bucket count",
            ));
        }
        let theirs = s
            .fingerprints
            .chunks_exact(8)
            .map(|c| c.try_into().map(u64::from_be_bytes).unwrap_or_default());
        let buckets: Vec<u32> = self
            .fingerprints(s.buckets_log2)
            .into_iter()
            .zip(theirs)
            .enumerate()
            .filter(|(_, (ours, theirs))| ours != theirs)
            .map(|(i, _)| i as u32)
            .collect();
        let revocations_differ =
            s.revocation_digest.as_slice() != self.revocations().digest().as_slice();
        if buckets.is_empty() && !revocations_differ {
            return Ok(SyncOutcome::default());
        }
        let wanted: HashSet<usize> = buckets.iter().map(|&b| b as usize).collect();
        let mut items = Vec::new();
        for (peer, e) in self.entry_map() {
            if wanted.contains(&bucket_of(peer.as_bytes(), s.buckets_log2)) {
                items.extend_from_slice(peer.as_bytes());
                items.extend_from_slice(&e.stamp().raw().to_be_bytes());
                items.extend_from_slice(&head::<16>(e.id().as_bytes()));
            }
        }
        let tombstone_ids = if revocations_differ {
            self.revocations()
                .iter()
                .map(|t| t.id().as_bytes().to_vec())
                .collect()
        } else {
            Vec::new()
        };
        let reply = encode(proto::sync_message::Kind::Items(proto::Items {
            buckets_log2: s.buckets_log2,
            buckets,
            items,
            tombstone_ids,
            revocations_differ,
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
        let mut theirs: HashMap<[u8; 32], (u64, [u8; 16])> = HashMap::new();
        for item in i.items.chunks_exact(ITEM_LEN) {
            let (peer, rest) = item.split_at(32);
            let (stamp, id) = rest.split_at(8);
            let peer: [u8; 32] = peer.try_into().map_err(|_| Error::Malformed("item"))?;
            let stamp = u64::from_be_bytes(stamp.try_into().map_err(|_| Error::Malformed("item"))?);
            let id: [u8; 16] = id.try_into().map_err(|_| Error::Malformed("item"))?;
            if !buckets.contains(&bucket_of(&peer, i.buckets_log2)) {
                return Err(Error::Malformed("an item is outside the listed buckets"));
            }
            if theirs.insert(peer, (stamp, id)).is_some() {
                return Err(Error::Malformed("an item appears twice"));
            }
        }
        let mut entries = Vec::new();
        let mut requests = Vec::new();
        let mut ours_in_buckets = HashSet::new();
        for (peer, e) in self.entry_map() {
            if !buckets.contains(&bucket_of(peer.as_bytes(), i.buckets_log2)) {
                continue;
            }
            ours_in_buckets.insert(*peer.as_bytes());
            match theirs.get(peer.as_bytes()) {
                Some(v) if *v >= version_key(e) => {
                    if *v > version_key(e) {
                        requests.push(peer.as_bytes().to_vec());
                    }
                }
                _ => entries.push(e.encode()),
            }
        }
        for peer in theirs.keys() {
            if !ours_in_buckets.contains(peer) {
                requests.push(peer.to_vec());
            }
        }
        // Deterministic messages: requests in key order.
        requests.sort();
        let (tombstones, want_tombstones) = if i.revocations_differ {
            if i.tombstone_ids.len() > syncshell_revocation::MAX_TOMBSTONES {
                return Err(Error::Malformed("too many tombstone ids"));
            }
            let their_ids: HashSet<&[u8]> = i.tombstone_ids.iter().map(Vec::as_slice).collect();
            let push = self
                .revocations()
                .iter()
                .filter(|t| !their_ids.contains(t.id().as_bytes().as_slice()))
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
        let requested: HashSet<&[u8]> = m.requests.iter().map(Vec::as_slice).collect();
        let entries: Vec<Vec<u8>> = self
            .entry_map()
            .iter()
            .filter(|(peer, _)| requested.contains(peer.as_bytes().as_slice()))
            .map(|(_, e)| e.encode())
            .collect();
        let wanted: HashSet<&[u8]> = m.want_tombstones.iter().map(Vec::as_slice).collect();
        let tombstones: Vec<Vec<u8>> = self
            .revocations()
            .iter()
            .filter(|t| wanted.contains(t.id().as_bytes().as_slice()))
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

/// Runs a whole sync between two books in memory, `a` initiating, and returns the bytes sent
/// in each direction. A convenience for tests, tools and benchmarks; a real node sends the
/// same messages over its transport.
pub fn sync_in_memory(a: &mut Phonebook, b: &mut Phonebook) -> Result<SyncBytes> {
    let mut bytes = SyncBytes::default();
    let mut to_b = vec![a.sync_start()];
    let mut to_a: Vec<Vec<u8>> = Vec::new();
    // Four messages at most; the bound only guards against a logic error.
    for _ in 0..8 {
        if to_b.is_empty() && to_a.is_empty() {
            return Ok(bytes);
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
    Err(Error::Malformed("sync did not finish in four messages"))
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

//! Delta sync: convergence, bytes proportional to the difference, malformed messages,
//! snapshots.

use syncshell_phonebook::{sync_in_memory, Error, Phonebook, MAX_SYNC_MESSAGE_LEN};
use syncshell_revocation::{Reason, Tombstone};

use crate::{entry, shell, T0};

fn books(n: usize, differ: usize, seed: u64) -> (Phonebook, Phonebook, crate::Shell) {
    let s = shell(seed, n);
    let mut a = Phonebook::new(s.genesis.clone());
    let mut b = Phonebook::new(s.genesis.clone());
    for (i, m) in s.members.iter().enumerate() {
        let e = entry(&s, m, 0, &format!("m{i}"));
        a.insert(e.clone()).unwrap();
        if i < differ {
            // b has a newer version of the first `differ` entries.
            b.insert(entry(&s, m, 10, &format!("m{i}-new"))).unwrap();
        } else {
            b.insert(e).unwrap();
        }
    }
    (a, b, s)
}

#[test]
fn sync_converges_both_ways_and_then_sends_one_message() {
    let (mut a, mut b, s) = books(300, 7, 1);
    // Plus tombstones on each side, and entries only one side has.
    let t = Tombstone::issue(
        &syncshell_revocation::RevocationSet::new(s.genesis.clone()),
        &s.admins[0].id,
        &s.admins[0].chain,
        s.members[100].id.peer_id(),
        Reason::Left,
        T0,
    )
    .unwrap();
    a.revoke(t).unwrap();
    sync_in_memory(&mut a, &mut b).unwrap();
    assert_eq!(a, b);
    // The newer versions are stamped ten minutes after T0: look a little later.
    let later = T0.saturating_add(std::time::Duration::from_secs(3600));
    assert_eq!(a.entries(later).count(), 299);
    assert_eq!(
        a.get(&s.members[3].id.peer_id(), later)
            .unwrap()
            .display_name(),
        "m3-new"
    );
    // In sync: the summary is answered with nothing.
    let bytes = sync_in_memory(&mut a, &mut b).unwrap();
    assert_eq!(bytes.b_to_a, 0);
}

#[test]
fn bytes_grow_with_the_difference_not_the_directory() {
    let mut totals = Vec::new();
    for (n, seed) in [(200usize, 2u64), (800, 3)] {
        let (mut a, mut b, _) = books(n, 4, seed);
        let bytes = sync_in_memory(&mut a, &mut b).unwrap();
        assert_eq!(a, b);
        totals.push((n, bytes.total(), a.encode().len()));
    }
    let (small, large) = (totals[0], totals[1]);
    // Four times the directory, same difference: far less than four times the bytes, and a
    // small fraction of a full snapshot.
    assert!(large.1 < small.1 * 2, "{totals:?}");
    assert!(large.1 * 10 < large.2, "{totals:?}");
}

#[test]
fn empty_book_learns_everything() {
    let (a, _, s) = books(50, 0, 4);
    let mut fresh = Phonebook::new(s.genesis.clone());
    let mut a = a;
    sync_in_memory(&mut fresh, &mut a).unwrap();
    assert_eq!(fresh, a);
}

#[test]
fn malformed_sync_messages_are_refused_and_change_nothing() {
    let (mut a, b, _) = books(20, 2, 5);
    let before = a.clone();
    let summary = b.sync_start();
    for bad in [
        vec![],
        vec![0xff; 10],
        summary[..summary.len() / 2].to_vec(),
        vec![0u8; MAX_SYNC_MESSAGE_LEN + 1],
    ] {
        assert!(a.handle_sync(&bad).is_err());
    }
    assert_eq!(a, before);
}

#[test]
fn snapshots_reload_and_refuse_tampering_and_truncation() {
    let (a, _, s) = books(30, 0, 6);
    let mut a = a;
    let t = Tombstone::issue(
        &syncshell_revocation::RevocationSet::new(s.genesis.clone()),
        &s.owner,
        &syncshell_identity::TokenChain::owner(),
        s.members[0].id.peer_id(),
        Reason::Removed,
        T0,
    )
    .unwrap();
    a.revoke(t).unwrap();
    let bytes = a.encode();
    assert_eq!(Phonebook::decode(&bytes, s.genesis.clone()).unwrap(), a);
    // Flip a byte inside one entry's signature: the whole snapshot is refused.
    let e = a.stored().nth(5).unwrap();
    let pos = bytes
        .windows(64)
        .position(|w| w == e.envelope().signature())
        .unwrap();
    let mut tampered = bytes.clone();
    tampered[pos + 1] ^= 0x10;
    assert!(matches!(
        Phonebook::decode(&tampered, s.genesis.clone()),
        Err(Error::Snapshot { index: 5, .. })
    ));
    for cut in (0..bytes.len()).step_by(97) {
        assert!(
            Phonebook::decode(&bytes[..cut], s.genesis.clone()).is_err(),
            "cut at {cut}"
        );
    }
}

/// A member of the shell (here a rogue admin's members) crafts versions of entries whose
/// 64-bit id prefixes XOR to the same value, so two replicas holding different versions had
/// the same bucket fingerprint under the old XOR-of-prefixes summary and never synced. Found
/// by linear algebra over GF(2) in a fraction of a second (2^32 work for a single pair). The
/// books must still converge.
#[test]
fn colliding_fingerprint_versions_still_converge() {
    use syncshell_identity::{Identity, Role, TokenChain};
    let s = shell(70, 0);
    let rogue = &s.admins[0];
    // 70 members whose keys share their first byte, so they share a bucket at every
    // resolution a book of this size uses.
    let mut members = Vec::new();
    let mut seed = 0u64;
    while members.len() < 70 {
        seed += 1;
        let mut b = [3u8; 32];
        b[..8].copy_from_slice(&seed.to_le_bytes());
        let id = Identity::from_secret_bytes(&b);
        if id.peer_id().as_bytes()[0] != 0 {
            continue;
        }
        let chain = TokenChain::issue(
            &syncshell_revocation::RevocationSet::new(s.genesis.clone()),
            &rogue.id,
            &rogue.chain,
            id.peer_id(),
            Role::Member,
            T0,
            Some(T0.saturating_add(crate::HOUR * 24)),
            &mut crate::rng(seed),
        )
        .unwrap();
        members.push(crate::Member { id, chain });
    }
    let newer: Vec<_> = members.iter().map(|m| entry(&s, m, 10, "new")).collect();
    let older: Vec<_> = members.iter().map(|m| entry(&s, m, 0, "old")).collect();
    let prefix = |e: &syncshell_phonebook::Entry| {
        u64::from_be_bytes(e.id().as_bytes()[..8].try_into().unwrap())
    };
    // Gaussian elimination: a non-empty set S with XOR over S of (newer ^ older) = 0.
    let mut basis: Vec<(u64, u128)> = Vec::new();
    let mut subset = 0u128;
    for i in 0..members.len() {
        let (mut v, mut used) = (prefix(&newer[i]) ^ prefix(&older[i]), 1u128 << i);
        for (b, b_used) in &basis {
            if v ^ b < v {
                v ^= b;
                used ^= b_used;
            }
        }
        if v == 0 {
            subset = used;
            break;
        }
        basis.push((v, used));
    }
    assert_ne!(subset, 0, "70 vectors of 64 bits are dependent");
    let mut a = Phonebook::new(s.genesis.clone());
    let mut b = Phonebook::new(s.genesis.clone());
    let mut xor = (0u64, 0u64);
    for i in 0..members.len() {
        a.insert(newer[i].clone()).unwrap();
        let theirs = if subset >> i & 1 == 1 {
            &older[i]
        } else {
            &newer[i]
        };
        b.insert(theirs.clone()).unwrap();
        xor = (xor.0 ^ prefix(&newer[i]), xor.1 ^ prefix(theirs));
    }
    assert_eq!(
        xor.0, xor.1,
        "the versions collide under XOR of 64-bit prefixes"
    );
    assert_ne!(a, b);
    sync_in_memory(&mut a, &mut b).unwrap();
    assert_eq!(a, b);
    for m in &members {
        assert_eq!(
            b.get(&m.id.peer_id(), T0.saturating_add(crate::HOUR))
                .unwrap()
                .display_name(),
            "new"
        );
    }
}

/// A 50-byte summary (an empty book's) asked of a book of 5 000 entries used to draw every
/// entry's item at once, and a request for every peer every entry: replies grew with the
/// directory, whoever asked. Each reply is now bounded, and the books still converge over
/// rounds.
#[test]
fn a_sync_summary_flood_stays_bounded() {
    use syncshell_identity::{Identity, Role, TokenChain};
    use syncshell_phonebook::{MAX_ENTRIES_PER_REPLY, MAX_ENTRY_BODY_LEN, MAX_ITEMS_PER_REPLY};
    let n = 5000;
    let s = shell(71, 0);
    let owner = crate::Member {
        id: Identity::from_secret_bytes(&s.owner.to_secret_bytes()),
        chain: TokenChain::owner(),
    };
    let mut big = Phonebook::new(s.genesis.clone());
    for i in 0..n {
        let id = Identity::from_secret_bytes(&[
            (i % 251) as u8 + 1,
            (i / 251) as u8,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
        ]);
        let chain = TokenChain::issue(
            &syncshell_revocation::RevocationSet::new(s.genesis.clone()),
            &owner.id,
            &owner.chain,
            id.peer_id(),
            Role::Member,
            T0,
            None,
            &mut crate::rng(i as u64),
        )
        .unwrap();
        big.insert(entry(&s, &crate::Member { id, chain }, 0, "m"))
            .unwrap();
    }
    assert_eq!(big.len(), n);
    let mut empty = Phonebook::new(s.genesis.clone());
    let summary = empty.sync_start();
    assert!(summary.len() < 80, "{}", summary.len());
    // The same small summary, many times: each reply is bounded.
    for _ in 0..20 {
        let replies = big.handle_sync(&summary).unwrap().replies;
        let bytes: usize = replies.iter().map(Vec::len).sum();
        // The items, plus the list of buckets they cover (at most 2^10 of them here, a
        // few bytes each).
        assert!(
            bytes <= MAX_ITEMS_PER_REPLY * 56 + 16 * 1024,
            "an items reply of {bytes} bytes"
        );
    }
    // The empty book asks for every peer it was told of; the reply is bounded too.
    let items = big.handle_sync(&summary).unwrap().replies;
    let mut requests = Vec::new();
    for m in &items {
        requests.extend(empty.handle_sync(m).unwrap().replies);
    }
    let mut answered = 0;
    for m in &requests {
        let bytes: usize = big
            .handle_sync(m)
            .unwrap()
            .replies
            .iter()
            .map(Vec::len)
            .sum();
        assert!(
            bytes <= MAX_ENTRIES_PER_REPLY * (MAX_ENTRY_BODY_LEN + 256),
            "an entries reply of {bytes} bytes"
        );
        answered += bytes;
    }
    assert!(answered > 0);
    // Over rounds, the books still converge.
    sync_in_memory(&mut empty, &mut big).unwrap();
    assert_eq!(empty, big);
    assert_eq!(empty.len(), n);
}

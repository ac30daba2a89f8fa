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

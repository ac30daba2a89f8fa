//! ADVERSARIAL.md item 9: CRDT laws under proptest, and convergence under random drop,
//! duplication and shuffling of deliveries, to identical state and identical expiry.

use std::sync::OnceLock;

use proptest::prelude::*;
use syncshell_identity::ShellGenesis;
use syncshell_phonebook::{Entry, Phonebook};
use syncshell_revocation::{Reason, Tombstone};

use crate::{entry, shell, HOUR, T0};

#[derive(Clone)]
enum Delivery {
    Entry(Entry),
    Tombstone(Tombstone),
}

struct Pool {
    genesis: ShellGenesis,
    deliveries: Vec<Delivery>,
}

/// Six members with three versions each (published 90 minutes apart), a tombstone for one
/// member and one for an admin (which drops the members it issued).
fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let s = shell(100, 6);
        let mut deliveries = Vec::new();
        for (i, m) in s.members.iter().enumerate() {
            for v in 0..3u64 {
                deliveries.push(Delivery::Entry(entry(
                    &s,
                    m,
                    v * 90 + i as u64,
                    &format!("m{i}v{v}"),
                )));
            }
        }
        let a0 = &s.admins[0];
        deliveries.push(Delivery::Tombstone(
            Tombstone::issue(
                &syncshell_revocation::RevocationSet::new(s.genesis.clone()),
                &a0.id,
                &a0.chain,
                s.members[1].id.peer_id(),
                Reason::Removed,
                T0.saturating_add(HOUR),
            )
            .unwrap(),
        ));
        deliveries.push(Delivery::Tombstone(
            Tombstone::issue(
                &syncshell_revocation::RevocationSet::new(s.genesis.clone()),
                &s.owner,
                &syncshell_identity::TokenChain::owner(),
                s.admins[1].id.peer_id(),
                Reason::Compromised,
                T0.saturating_add(HOUR * 2),
            )
            .unwrap(),
        ));
        Pool {
            genesis: s.genesis,
            deliveries,
        }
    })
}

fn deliver(book: &mut Phonebook, d: &Delivery) {
    match d {
        Delivery::Entry(e) => {
            // Refusals (revoked peers) are part of the behaviour under test.
            let _ = book.insert(e.clone());
        }
        Delivery::Tombstone(t) => {
            book.revoke(t.clone()).unwrap();
        }
    }
}

fn book_of(indices: &[usize]) -> Phonebook {
    let p = pool();
    let mut b = Phonebook::new(p.genesis.clone());
    for &i in indices {
        deliver(&mut b, &p.deliveries[i % p.deliveries.len()]);
    }
    b
}

fn merged(a: &Phonebook, b: &Phonebook) -> Phonebook {
    let mut m = a.clone();
    m.merge(b).unwrap();
    m
}

fn views(b: &Phonebook) -> Vec<Vec<(syncshell_identity::PeerId, String)>> {
    // The visible directory at several instants, expiry included.
    [0u64, 20, 26, 30, 200]
        .iter()
        .map(|h| {
            let now = T0.saturating_add(HOUR * (*h as u32));
            b.entries(now)
                .map(|e| (*e.peer(), e.display_name().to_owned()))
                .collect()
        })
        .collect()
}

fn subset() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(0usize..20, 0..24)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn merge_is_commutative_associative_and_idempotent(a in subset(), b in subset(), c in subset()) {
        let (x, y, z) = (book_of(&a), book_of(&b), book_of(&c));
        prop_assert_eq!(merged(&x, &y), merged(&y, &x));
        prop_assert_eq!(merged(&merged(&x, &y), &z), merged(&x, &merged(&y, &z)));
        prop_assert_eq!(merged(&x, &x), x.clone());
        let xy = merged(&x, &y);
        prop_assert_eq!(merged(&xy, &y), xy);
    }

    /// Two replicas get every delivery: one in order, the other shuffled, with duplicates, and
    /// with some dropped then redelivered at the end. Same state, same bytes, same views.
    #[test]
    fn random_drop_duplicate_shuffle_converges(
        order in Just((0..20usize).collect::<Vec<_>>()).prop_shuffle(),
        dups in proptest::collection::vec(0usize..20, 0..10),
        drops in proptest::collection::vec(any::<bool>(), 20),
    ) {
        let in_order = book_of(&(0..20).collect::<Vec<_>>());
        let mut first: Vec<usize> = order.iter().copied().filter(|&i| !drops[i]).collect();
        first.extend(dups);
        let mut shuffled = book_of(&first);
        let redelivered = book_of(&order.iter().copied().filter(|&i| drops[i]).collect::<Vec<_>>());
        shuffled.merge(&redelivered).unwrap();
        prop_assert_eq!(&shuffled, &in_order);
        prop_assert_eq!(shuffled.encode(), in_order.encode());
        prop_assert_eq!(views(&shuffled), views(&in_order));
    }
}

#[test]
fn the_pool_exercises_revocation_and_expiry() {
    let all = book_of(&(0..20).collect::<Vec<_>>());
    // Member 1 revoked by tombstone; admin 1 issued members 1, 3, 5: all three hidden.
    assert_eq!(all.len(), 6);
    assert_eq!(all.entries(T0.saturating_add(HOUR * 5)).count(), 3);
    let v = views(&all);
    // At T0 the newest versions are stamped hours ahead: not shown yet.
    assert_eq!(v[0].len(), 0);
    assert_eq!(v[1].len(), 3);
    assert!(v[4].is_empty(), "every entry has expired 200 hours later");
}

//! ADVERSARIAL.md items 6, 7, 8 and 10 as the phonebook meets them.

use syncshell_identity::{Context, Identity, PeerId, SignedEnvelope, TokenChain};
use syncshell_phonebook::{Change, Entry, Error, Phonebook, Profile, Stamp, ENTRY_CONTEXT};
use syncshell_revocation::{Reason, Tombstone};

use crate::{entry, rng, shell, HOUR, T0};

/// Item 6: a revoked member's entries are filtered on every replica whatever the delivery
/// order, including an update the member made concurrently with its revocation.
#[test]
fn revoked_members_entries_are_filtered_in_every_delivery_order() {
    let s = shell(1, 3);
    let victim = &s.members[0];
    let old = entry(&s, victim, 0, "before");
    let concurrent = entry(&s, victim, 5, "made while being revoked");
    let other = entry(&s, &s.members[1], 0, "bystander");
    let admin = &s.admins[0];
    let t = Tombstone::issue(
        &syncshell_revocation::RevocationSet::new(s.genesis.clone()),
        &admin.id,
        &admin.chain,
        victim.id.peer_id(),
        Reason::Removed,
        T0.saturating_add(HOUR / 12),
    )
    .unwrap();
    enum Op<'a> {
        E(&'a Entry),
        T(&'a Tombstone),
    }
    let ops = [Op::E(&old), Op::E(&concurrent), Op::E(&other), Op::T(&t)];
    let mut books = Vec::new();
    // All 24 orders of the four deliveries.
    let mut perm = [0usize, 1, 2, 3];
    loop {
        let mut b = Phonebook::new(s.genesis.clone());
        for &i in &perm {
            match ops[i] {
                Op::E(e) => {
                    let r = b.insert_encoded(&e.encode()).unwrap();
                    if e.peer() == &victim.id.peer_id() && b.revocations().is_revoked(e.peer()) {
                        assert!(matches!(r, Change::Hidden | Change::Unchanged), "{r:?}");
                    }
                }
                Op::T(t) => {
                    b.revoke((*t).clone()).unwrap();
                }
            }
        }
        assert!(b.get(&victim.id.peer_id(), T0).is_none());
        assert_eq!(b.entries(T0).count(), 1);
        books.push(b);
        if !next_permutation(&mut perm) {
            break;
        }
    }
    assert_eq!(books.len(), 24);
    assert!(books
        .windows(2)
        .all(|w| w[0] == w[1] && w[0].encode() == w[1].encode()));
}

fn next_permutation(p: &mut [usize]) -> bool {
    let Some(i) = (1..p.len()).rev().find(|&i| p[i - 1] < p[i]) else {
        return false;
    };
    let j = (i..p.len()).rev().find(|&j| p[j] > p[i - 1]).unwrap();
    p.swap(i - 1, j);
    p[i..].reverse();
    true
}

/// Item 7: a removed member cannot re-add itself (new entries, new keys signed by itself), and
/// a stale replica cannot re-introduce it.
#[test]
fn removed_member_cannot_come_back() {
    let s = shell(2, 2);
    let victim = &s.members[0];
    let admin = &s.admins[0];
    let t = Tombstone::issue(
        &syncshell_revocation::RevocationSet::new(s.genesis.clone()),
        &admin.id,
        &admin.chain,
        victim.id.peer_id(),
        Reason::Removed,
        T0,
    )
    .unwrap();
    let mut current = Phonebook::new(s.genesis.clone());
    current.revoke(t).unwrap();
    // A fresh entry, stamped later, is kept as the newest version but never shown.
    let later = entry(&s, victim, 60 * 24, "I'm back");
    assert_eq!(current.insert(later), Ok(Change::Hidden));
    assert!(current
        .get(&victim.id.peer_id(), T0.saturating_add(HOUR * 25))
        .is_none());
    // A stale replica holding the victim's old entry merges in: still not shown.
    let mut stale = Phonebook::new(s.genesis.clone());
    stale.insert(entry(&s, victim, 0, "old")).unwrap();
    assert!(stale.get(&victim.id.peer_id(), T0).is_some());
    current.merge(&stale).unwrap();
    assert!(current.get(&victim.id.peer_id(), T0).is_none());
    // Merging the other way hides it on the stale replica too.
    stale.merge(&current).unwrap();
    assert_eq!(stale.entries(T0).count(), 0);
    assert_eq!(stale, current);
    // A new key with a chain the victim issued itself is refused: the victim is no admin, and
    // chain verification fails before any revocation check.
    let mut r = rng(3);
    let sock = Identity::generate(&mut r);
    assert!(TokenChain::issue(
        &syncshell_revocation::RevocationSet::new(s.genesis.clone()),
        &victim.id,
        &victim.chain,
        sock.peer_id(),
        syncshell_identity::Role::Member,
        T0,
        Some(T0.saturating_add(HOUR)),
        &mut r
    )
    .is_err());
}

/// Item 8: revoking an admin drops every entry that chains through it, and mutual revocations
/// converge to the same book everywhere.
#[test]
fn revoking_an_admin_drops_entries_through_it_and_mutual_revocation_converges() {
    let s = shell(4, 4);
    let mut book = Phonebook::new(s.genesis.clone());
    for (i, m) in s.members.iter().enumerate() {
        book.insert(entry(&s, m, 0, &format!("m{i}"))).unwrap();
    }
    for (i, a) in s.admins.iter().enumerate() {
        book.insert(
            Entry::publish(
                &s.genesis,
                &a.id,
                &a.chain,
                &Profile {
                    display_name: format!("admin{i}"),
                    ..Profile::default()
                },
                Stamp::from_raw(T0.as_millis() << 16),
            )
            .unwrap(),
        )
        .unwrap();
    }
    assert_eq!(book.len(), 6);
    let (a, b) = (&s.admins[0], &s.admins[1]);
    let ta = Tombstone::issue(
        &syncshell_revocation::RevocationSet::new(s.genesis.clone()),
        &a.id,
        &a.chain,
        b.id.peer_id(),
        Reason::Removed,
        T0,
    )
    .unwrap();
    let tb = Tombstone::issue(
        &syncshell_revocation::RevocationSet::new(s.genesis.clone()),
        &b.id,
        &b.chain,
        a.id.peer_id(),
        Reason::Removed,
        T0,
    )
    .unwrap();
    let mut x = book.clone();
    let mut y = book.clone();
    x.revoke(ta.clone()).unwrap();
    x.revoke(tb.clone()).unwrap();
    y.revoke(tb).unwrap();
    y.revoke(ta).unwrap();
    assert_eq!(x, y);
    // Both admins and every member they issued are gone; nothing else was there.
    assert_eq!(x.entries(T0).count(), 0);
    // Owner's entry is unaffected by any of it.
    let mut z = Phonebook::new(s.genesis.clone());
    let owner_entry = Entry::publish(
        &s.genesis,
        &s.owner,
        &TokenChain::owner(),
        &Profile::default(),
        Stamp::from_raw(T0.as_millis() << 16),
    )
    .unwrap();
    z.insert(owner_entry).unwrap();
    z.merge(&x).unwrap();
    assert_eq!(z.entries(T0).count(), 1);
}

/// A member holding two chains (from two admins) publishes v1 on the first and v2 on the
/// second; the second admin is revoked. Every delivery order ends with the same book: v2 is
/// the newest version, so the member is hidden, and v1 can never take its place.
#[test]
fn versions_on_different_chains_converge_whatever_the_order() {
    let s = shell(12, 0);
    let mut r = rng(13);
    let m = Identity::generate(&mut r);
    let chain_for = |admin: &crate::Member, r: &mut rand_chacha::ChaCha20Rng| {
        TokenChain::issue(
            &syncshell_revocation::RevocationSet::new(s.genesis.clone()),
            &admin.id,
            &admin.chain,
            m.peer_id(),
            syncshell_identity::Role::Member,
            T0,
            Some(T0.saturating_add(HOUR * 24 * 30)),
            r,
        )
        .unwrap()
    };
    let c1 = chain_for(&s.admins[0], &mut r);
    let c2 = chain_for(&s.admins[1], &mut r);
    let publish = |chain: &TokenChain, minutes: u64| {
        let stamp = Stamp::from_raw((T0.as_millis() + minutes * 60_000) << 16);
        Entry::publish(&s.genesis, &m, chain, &Profile::default(), stamp).unwrap()
    };
    let v1 = publish(&c1, 0);
    let v2 = publish(&c2, 5);
    let t = Tombstone::issue(
        &syncshell_revocation::RevocationSet::new(s.genesis.clone()),
        &s.owner,
        &TokenChain::owner(),
        s.admins[1].id.peer_id(),
        Reason::Removed,
        T0,
    )
    .unwrap();
    let orders: [[usize; 3]; 6] = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    let mut books = Vec::new();
    for order in orders {
        let mut b = Phonebook::new(s.genesis.clone());
        for i in order {
            match i {
                0 => drop(b.insert(v1.clone()).unwrap()),
                1 => drop(b.insert(v2.clone()).unwrap()),
                _ => drop(b.revoke(t.clone()).unwrap()),
            }
        }
        assert!(
            b.get(&m.peer_id(), T0.saturating_add(HOUR)).is_none(),
            "{order:?}"
        );
        books.push(b);
    }
    assert!(books.windows(2).all(|w| w[0] == w[1]));
}

/// Item 10: forged entries (signed by another member, by nobody, re-signed bodies) are
/// refused, and no member can edit another's entry.
#[test]
fn forged_entries_are_refused() {
    let s = shell(5, 2);
    let (alice, mallory) = (&s.members[0], &s.members[1]);
    let genuine = entry(&s, alice, 0, "alice");
    let mut book = Phonebook::new(s.genesis.clone());
    // Mallory signs Alice's body (or an edited copy of it) with her own key.
    let resigned = SignedEnvelope::seal(
        &mallory.id,
        ENTRY_CONTEXT,
        genuine.envelope().body().to_vec(),
    );
    assert_eq!(
        book.insert_encoded(&resigned.encode()),
        Err(Error::Malformed("entry not signed by its peer"))
    );
    // A body signed under another context.
    let wrong_ctx = SignedEnvelope::seal(
        &alice.id,
        Context::new("syncshell/v1/tombstone"),
        genuine.envelope().body().to_vec(),
    );
    assert_eq!(
        book.insert_encoded(&wrong_ctx.encode()),
        Err(Error::Identity(syncshell_identity::Error::BadSignature))
    );
    // Signed by nobody: a flipped signature byte.
    let mut bytes = genuine.encode();
    let n = bytes.len();
    bytes[n - 3] ^= 1;
    assert!(book.insert_encoded(&bytes).is_err());
    // Someone outside the shell with a self-made chain.
    let mut r = rng(6);
    let outsider = Identity::generate(&mut r);
    let fake = Entry::publish(
        &s.genesis,
        &outsider,
        &TokenChain::owner(),
        &Profile::default(),
        Stamp::from_raw(T0.as_millis() << 16),
    );
    assert!(fake.is_err());
    assert!(book.is_empty());
    assert_eq!(book.insert_encoded(&genuine.encode()), Ok(Change::Added));
    // Another shell's entry.
    let other = shell(7, 1);
    let foreign = entry(&other, &other.members[0], 0, "x");
    assert_eq!(
        book.insert_encoded(&foreign.encode()),
        Err(Error::WrongShell)
    );
    let _: PeerId = *genuine.peer();
}

#[test]
fn caps_and_bad_profiles_are_clear_errors() {
    let s = shell(8, 1);
    let m = &s.members[0];
    let stamp = Stamp::from_raw(T0.as_millis() << 16);
    for profile in [
        Profile {
            display_name: "x".repeat(65),
            ..Profile::default()
        },
        Profile {
            hints: vec![0; 1025],
            ..Profile::default()
        },
        Profile {
            ttl: std::time::Duration::ZERO,
            ..Profile::default()
        },
        Profile {
            ttl: HOUR * 24 * 8,
            ..Profile::default()
        },
    ] {
        assert!(matches!(
            Entry::publish(&s.genesis, &m.id, &m.chain, &profile, stamp),
            Err(Error::InvalidArgument(_))
        ));
    }
}

#[test]
fn expiry_is_a_function_of_the_entry_and_now_and_gc_is_deterministic() {
    let s = shell(9, 2);
    let e = entry(&s, &s.members[0], 0, "a");
    let end = e.expires_at();
    let mut book = Phonebook::new(s.genesis.clone());
    book.insert(e.clone()).unwrap();
    assert!(book
        .get(
            e.peer(),
            syncshell_identity::Timestamp::from_millis(end.as_millis() - 1)
        )
        .is_some());
    assert!(book.get(e.peer(), end).is_none());
    assert_eq!(book.entries(end).count(), 0);
    // Hidden, but kept until MAX_TTL later, so an older version arriving late stays hidden.
    assert_eq!(book.gc(end), 0);
    assert_eq!(book.gc(e.prunable_at()), 1);
    let older = entry(&s, &s.members[0], 0, "a");
    book.insert(older).unwrap();
    assert!(book.get(e.peer(), e.prunable_at()).is_none());
    // A member's admission that expires hides its entry even if the entry has not.
    let short = shell(10, 1);
    let m = &short.members[0];
    let chain_end = m
        .chain
        .verify(&short.genesis, T0)
        .unwrap()
        .expires_at()
        .unwrap();
    let late = syncshell_phonebook::Entry::publish(
        &short.genesis,
        &m.id,
        &m.chain,
        &Profile::default(),
        Stamp::from_raw((chain_end.as_millis() - 1000) << 16),
    )
    .unwrap();
    let mut b = Phonebook::new(short.genesis.clone());
    b.insert(late.clone()).unwrap();
    assert!(b.get(late.peer(), chain_end).is_none());
    assert!(late.expires_at() > chain_end);
}

#[test]
fn friendly_names_are_stable_and_used_when_no_name_is_set() {
    let s = shell(11, 1);
    let e = entry(&s, &s.members[0], 0, "");
    let name = syncshell_phonebook::friendly_name(e.peer());
    assert_eq!(e.shown_name(), name);
    assert_eq!(syncshell_phonebook::friendly_name(e.peer()), name);
    assert_eq!(name.split('-').count(), 3);
    assert_eq!(entry(&s, &s.members[0], 0, "Named").shown_name(), "Named");
}

/// A rogue admin mints more member keys and entries than the whole book used to hold (the
/// old global cap refused every new peer past it, so members arriving after the flood were
/// hidden on every replica that saw the flood first), and sub-admins with pools of their
/// own. Members the owner admitted, and members of owner-appointed admins, are kept and
/// shown on every replica, and replicas that received the same entries in different orders
/// and groupings hold the same book.
mod flood {
    use std::sync::OnceLock;

    use proptest::prelude::*;
    use rand_chacha::rand_core::RngCore;
    use syncshell_identity::{Identity, Role, TokenChain};
    use syncshell_phonebook::{
        Change, Entry, Phonebook, MAX_ADMIN_POOLS, MAX_ADMIN_POOL_ENTRIES, MAX_ENTRIES,
    };

    use crate::{entry, rng, shell, Member, Shell, HOUR, T0};

    pub(super) struct Flood {
        pub(super) s: Shell,
        /// Entries of members the owner and the honest admin admitted.
        pub(super) honest: Vec<Entry>,
        /// The rogue's members and its sub-admins' members.
        pub(super) rogue: Vec<Entry>,
    }

    fn issue(s: &Shell, issuer: &Member, role: Role, seed: [u8; 32]) -> Member {
        let id = Identity::from_secret_bytes(&seed);
        let chain = TokenChain::issue(
            &syncshell_revocation::RevocationSet::new(s.genesis.clone()),
            &issuer.id,
            &issuer.chain,
            id.peer_id(),
            role,
            T0,
            Some(T0.saturating_add(HOUR * 24 * 30)),
            &mut rng(u64::from_le_bytes(seed[..8].try_into().unwrap())),
        )
        .unwrap();
        Member { id, chain }
    }

    pub(super) fn flood() -> &'static Flood {
        static FLOOD: OnceLock<Flood> = OnceLock::new();
        FLOOD.get_or_init(|| {
            let s = shell(900, 0);
            let owner = Member {
                id: Identity::from_secret_bytes(&s.owner.to_secret_bytes()),
                chain: TokenChain::owner(),
            };
            let (rogue, honest_admin) = (&s.admins[0], &s.admins[1]);
            let seed = |kind: u8, i: usize| {
                let mut b = [kind; 32];
                b[..8].copy_from_slice(&(i as u64).to_le_bytes());
                b
            };
            let mut honest = Vec::new();
            for i in 0..4 {
                let m = issue(&s, &owner, Role::Member, seed(1, i));
                honest.push(entry(&s, &m, 1, "by the owner"));
                let m = issue(&s, honest_admin, Role::Member, seed(2, i));
                honest.push(entry(&s, &m, 1, "by an honest admin"));
            }
            // More members than the whole book used to hold, all from the rogue (made on two
            // threads: it is most of this test's time).
            let half = MAX_ENTRIES / 2 + 1;
            let flood_part = |range: std::ops::Range<usize>| {
                range
                    .map(|i| entry(&s, &issue(&s, rogue, Role::Member, seed(3, i)), 1, "flood"))
                    .collect::<Vec<_>>()
            };
            let mut rogue_entries = std::thread::scope(|scope| {
                let first = scope.spawn(|| flood_part(0..half));
                let mut second = flood_part(half..2 * half);
                let mut all = first.join().unwrap();
                all.append(&mut second);
                all
            });
            // Sub-admins, each with a pool of its own.
            for i in 0..MAX_ADMIN_POOLS + 4 {
                let sub = issue(&s, rogue, Role::Admin, seed(4, i));
                let m = issue(&s, &sub, Role::Member, seed(5, i));
                rogue_entries.push(entry(&s, &m, 1, "sybil"));
            }
            Flood {
                s,
                honest,
                rogue: rogue_entries,
            }
        })
    }

    fn check(book: &Phonebook, f: &Flood) {
        for e in &f.honest {
            assert!(
                book.get(e.peer(), T0).is_some(),
                "an honest member is hidden"
            );
        }
        assert!(book.len() <= MAX_ENTRIES);
        let rogue_pool = book
            .stored()
            .filter(|e| e.chain().tokens()[0].issuer() == &f.s.admins[0].id.peer_id())
            .count();
        assert_eq!(rogue_pool, MAX_ADMIN_POOL_ENTRIES);
    }

    /// The flood delivered first, then the honest members: the book every other delivery
    /// order must reach.
    fn flood_first() -> &'static Phonebook {
        static BOOK: OnceLock<Phonebook> = OnceLock::new();
        BOOK.get_or_init(|| {
            let f = flood();
            let mut book = Phonebook::new(f.s.genesis.clone());
            for e in &f.rogue {
                book.insert(e.clone()).unwrap();
            }
            for e in &f.honest {
                assert_ne!(book.insert(e.clone()).unwrap(), Change::NotKept);
            }
            check(&book, f);
            book
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3, ..ProptestConfig::default() })]

        #[test]
        fn a_flood_of_entries_cannot_hide_members_or_split_replicas(
            seed in any::<u64>(),
            split in 0..MAX_ENTRIES,
        ) {
            let f = flood();
            let ordered = flood_first();
            let all: Vec<&Entry> = f.rogue.iter().chain(&f.honest).collect();
            // Shuffled, in two halves, merged.
            let mut order: Vec<usize> = (0..all.len()).collect();
            let mut r = rng(seed);
            for i in (1..order.len()).rev() {
                let j = (r.next_u64() % (i as u64 + 1)) as usize;
                order.swap(i, j);
            }
            let mut first = Phonebook::new(f.s.genesis.clone());
            let mut second = Phonebook::new(f.s.genesis.clone());
            for (n, &i) in order.iter().enumerate() {
                let book = if n < split { &mut first } else { &mut second };
                book.insert(all[i].clone()).unwrap();
            }
            second.merge(&first).unwrap();
            check(&second, f);
            prop_assert!(ordered == &second, "replicas differ");
            prop_assert_eq!(ordered.encode(), second.encode());
        }
    }
}

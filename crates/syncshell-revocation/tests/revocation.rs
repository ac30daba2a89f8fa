//! ADVERSARIAL.md items 6-8 for tombstones, snapshot reloading, and CRDT laws under proptest.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::Duration;

use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use syncshell_identity::{Context, Identity, Role, ShellGenesis, SignedEnvelope, TokenChain};
use syncshell_revocation::{Error, Reason, RevocationSet, Tombstone, TOMBSTONE_CONTEXT};
use syncshell_testkit::{copy, SeededShell, T0};

/// The revocations of a shell that has revoked nobody yet.
fn none(genesis: &ShellGenesis) -> RevocationSet {
    RevocationSet::new(genesis.clone())
}

const DAY: Duration = Duration::from_secs(24 * 3600);

struct Shell {
    owner: Identity,
    genesis: ShellGenesis,
    admins: Vec<(Identity, TokenChain)>,
    members: Vec<(Identity, TokenChain)>,
}

/// An owner, `a` admins (30-day tokens from the owner), `m` members issued by admin 0 (or the
/// owner when there is no admin).
fn shell(seed: u64, a: usize, m: usize) -> Shell {
    let mut s = SeededShell::new("rev", seed, T0);
    let owner = copy(&s.owner);
    let admins: Vec<_> = (0..a)
        .map(|_| {
            s.issue(
                &owner,
                &TokenChain::owner(),
                Role::Admin,
                Some(T0.saturating_add(DAY * 30)),
            )
        })
        .collect();
    let (issuer, issuer_chain) = match admins.first() {
        Some((a, c)) => (copy(a), c.clone()),
        None => (copy(&owner), TokenChain::owner()),
    };
    let members: Vec<_> = (0..m)
        .map(|_| {
            s.issue(
                &issuer,
                &issuer_chain,
                Role::Member,
                Some(T0.saturating_add(DAY * 7)),
            )
        })
        .collect();
    Shell {
        owner,
        genesis: s.genesis,
        admins,
        members,
    }
}

#[test]
fn revoked_member_is_refused_on_every_replica() {
    let s = shell(1, 1, 2);
    let (admin, admin_chain) = &s.admins[0];
    let (m, m_chain) = &s.members[0];
    let t = Tombstone::issue(
        &none(&s.genesis),
        admin,
        admin_chain,
        m.peer_id(),
        Reason::Removed,
        T0,
    )
    .unwrap();
    let mut a = RevocationSet::new(s.genesis.clone());
    let mut b = RevocationSet::new(s.genesis.clone());
    assert!(a.insert_encoded(&t.encode()).unwrap());
    assert!(
        !a.insert_encoded(&t.encode()).unwrap(),
        "duplicates are no-ops"
    );
    b.merge(&a).unwrap();
    for set in [&a, &b] {
        let err = set.admit(&m.peer_id(), m_chain, T0).unwrap_err();
        assert_eq!(
            err,
            Error::Revoked {
                peer: Box::new(m.peer_id()),
                tombstone: t.id()
            }
        );
        assert!(set
            .admit(&s.members[1].0.peer_id(), &s.members[1].1, T0)
            .is_ok());
    }
}

#[test]
fn revoking_an_admin_cascades_to_tokens_it_issued() {
    let s = shell(2, 2, 3);
    let (admin0, _) = &s.admins[0];
    let t = Tombstone::issue(
        &none(&s.genesis),
        &s.owner,
        &TokenChain::owner(),
        admin0.peer_id(),
        Reason::Compromised,
        T0,
    )
    .unwrap();
    let mut set = RevocationSet::new(s.genesis.clone());
    set.insert(t.clone()).unwrap();
    for (m, chain) in &s.members {
        // Every member was issued by admin 0: all refused, naming the admin.
        assert_eq!(
            set.admit(&m.peer_id(), chain, T0),
            Err(Error::Revoked {
                peer: Box::new(admin0.peer_id()),
                tombstone: t.id()
            })
        );
    }
    // Admin 1 is unaffected.
    assert!(set
        .admit(&s.admins[1].0.peer_id(), &s.admins[1].1, T0)
        .is_ok());
}

#[test]
fn a_removed_member_cannot_readd_itself_and_stale_replicas_cannot_reintroduce_it() {
    let s = shell(3, 1, 1);
    let (admin, admin_chain) = &s.admins[0];
    let (m, m_chain) = &s.members[0];
    let t = Tombstone::issue(
        &none(&s.genesis),
        admin,
        admin_chain,
        m.peer_id(),
        Reason::Removed,
        T0,
    )
    .unwrap();
    let mut current = RevocationSet::new(s.genesis.clone());
    current.insert(t).unwrap();
    // A stale replica that never saw the tombstone merges in: union, still revoked.
    let stale = RevocationSet::new(s.genesis.clone());
    current.merge(&stale).unwrap();
    assert!(current.is_revoked(&m.peer_id()));
    // The member cannot issue a token to itself or revoke the tombstone's issuer: it is no admin.
    let mut r = ChaCha20Rng::seed_from_u64(33);
    assert!(TokenChain::issue(
        &none(&s.genesis),
        m,
        m_chain,
        Identity::generate(&mut r).peer_id(),
        Role::Member,
        T0,
        Some(T0.saturating_add(DAY)),
        &mut r
    )
    .is_err());
    assert!(matches!(
        Tombstone::issue(
            &none(&s.genesis),
            m,
            m_chain,
            admin.peer_id(),
            Reason::Removed,
            T0
        ),
        Err(Error::NotAuthorized(_))
    ));
    // Nor can a forged tombstone body signed by the member be inserted.
    let forged = SignedEnvelope::seal(m, TOMBSTONE_CONTEXT, b"\x08\x01".to_vec());
    assert!(current.insert_encoded(&forged.encode()).is_err());
    assert!(current
        .admit(&m.peer_id(), m_chain, T0.saturating_add(DAY))
        .is_err());
}

#[test]
fn mutual_revocation_between_admins_revokes_both_on_every_replica() {
    let s = shell(4, 2, 0);
    let (a, a_chain) = &s.admins[0];
    let (b, b_chain) = &s.admins[1];
    let ta = Tombstone::issue(
        &none(&s.genesis),
        a,
        a_chain,
        b.peer_id(),
        Reason::Removed,
        T0,
    )
    .unwrap();
    let tb = Tombstone::issue(
        &none(&s.genesis),
        b,
        b_chain,
        a.peer_id(),
        Reason::Removed,
        T0,
    )
    .unwrap();
    let mut x = RevocationSet::new(s.genesis.clone());
    let mut y = RevocationSet::new(s.genesis.clone());
    x.insert(ta.clone()).unwrap();
    x.insert(tb.clone()).unwrap();
    y.insert(tb).unwrap();
    y.insert(ta).unwrap();
    assert_eq!(x, y);
    assert_eq!(x.encode(), y.encode());
    assert!(x.is_revoked(&a.peer_id()) && x.is_revoked(&b.peer_id()));
}

#[test]
fn a_tombstone_from_a_later_revoked_admin_stays_in_force() {
    let s = shell(5, 1, 1);
    let (admin, admin_chain) = &s.admins[0];
    let (m, _) = &s.members[0];
    let t1 = Tombstone::issue(
        &none(&s.genesis),
        admin,
        admin_chain,
        m.peer_id(),
        Reason::Removed,
        T0,
    )
    .unwrap();
    let later = T0.saturating_add(DAY);
    let t2 = Tombstone::issue(
        &none(&s.genesis),
        &s.owner,
        &TokenChain::owner(),
        admin.peer_id(),
        Reason::Removed,
        later,
    )
    .unwrap();
    let mut set = RevocationSet::new(s.genesis.clone());
    set.insert(t2).unwrap();
    set.insert(t1).unwrap();
    assert!(set.is_revoked(&m.peer_id()));
    // Its validity does not depend on when it is checked, so it verifies alone too.
    assert!(Tombstone::decode(
        &set.revocation_of(&m.peer_id()).unwrap().encode(),
        &s.genesis
    )
    .is_ok());
}

#[test]
fn bad_tombstones_are_refused_with_their_own_errors() {
    let s = shell(6, 1, 1);
    let other = shell(7, 1, 0);
    let (admin, admin_chain) = &s.admins[0];
    let (m, m_chain) = &s.members[0];
    // The owner cannot be revoked.
    assert!(matches!(
        Tombstone::issue(
            &none(&s.genesis),
            admin,
            admin_chain,
            s.owner.peer_id(),
            Reason::Removed,
            T0
        ),
        Err(Error::NotAuthorized(_))
    ));
    // A member cannot revoke.
    assert!(matches!(
        Tombstone::issue(
            &none(&s.genesis),
            m,
            m_chain,
            admin.peer_id(),
            Reason::Removed,
            T0
        ),
        Err(Error::NotAuthorized(_))
    ));
    // Another shell's tombstone.
    let foreign = Tombstone::issue(
        &none(&other.genesis),
        &other.owner,
        &TokenChain::owner(),
        m.peer_id(),
        Reason::Removed,
        T0,
    )
    .unwrap();
    assert_eq!(
        Tombstone::decode(&foreign.encode(), &s.genesis),
        Err(Error::WrongShell)
    );
    let mut set = RevocationSet::new(s.genesis.clone());
    assert_eq!(set.insert(foreign), Err(Error::WrongShell));
    // A tombstone's signature does not verify as anything else, nor another context's as a tombstone.
    let t = Tombstone::issue(
        &none(&s.genesis),
        admin,
        admin_chain,
        m.peer_id(),
        Reason::Removed,
        T0,
    )
    .unwrap();
    let as_token = SignedEnvelope::seal(
        admin,
        Context::new("syncshell/v1/member-token"),
        t.envelope().body().to_vec(),
    );
    assert!(Tombstone::decode(&as_token.encode(), &s.genesis).is_err());
    assert!(syncshell_identity::MemberToken::decode(&t.encode()).is_err());
    // An admin whose token had expired when it claims to revoke.
    let late = T0.saturating_add(DAY * 31);
    assert!(Tombstone::issue(
        &none(&s.genesis),
        admin,
        admin_chain,
        m.peer_id(),
        Reason::Removed,
        late
    )
    .is_err());
}

#[test]
fn snapshots_reload_with_full_verification_and_refuse_tampering() {
    let s = shell(8, 1, 3);
    let (admin, admin_chain) = &s.admins[0];
    let mut set = RevocationSet::new(s.genesis.clone());
    for (m, _) in &s.members {
        set.insert(
            Tombstone::issue(
                &none(&s.genesis),
                admin,
                admin_chain,
                m.peer_id(),
                Reason::Left,
                T0,
            )
            .unwrap(),
        )
        .unwrap();
    }
    let bytes = set.encode();
    assert_eq!(
        RevocationSet::decode(&bytes, s.genesis.clone()).unwrap(),
        set
    );
    // Flip one byte inside each tombstone's signature: refused, naming the entry.
    let mut refused = 0;
    for t in set.iter() {
        let sig = t.envelope().signature();
        let pos = bytes.windows(64).position(|w| w == sig).unwrap();
        let mut tampered = bytes.clone();
        tampered[pos + 10] ^= 1;
        match RevocationSet::decode(&tampered, s.genesis.clone()) {
            Err(Error::Snapshot { .. }) => refused += 1,
            other => panic!("tampered snapshot: {other:?}"),
        }
    }
    assert_eq!(refused, 3);
    // Truncation at every length is refused: nothing is silently dropped.
    for n in 0..bytes.len() {
        assert!(
            RevocationSet::decode(&bytes[..n], s.genesis.clone()).is_err(),
            "cut at {n}"
        );
    }
    assert!(RevocationSet::decode(&bytes, shell(9, 0, 0).genesis).is_err());
}

fn tombstones(s: &Shell) -> Vec<Tombstone> {
    let mut out = Vec::new();
    for (i, (a, chain)) in s.admins.iter().enumerate() {
        for (m, _) in &s.members {
            out.push(
                Tombstone::issue(
                    &none(&s.genesis),
                    a,
                    chain,
                    m.peer_id(),
                    Reason::Removed,
                    T0.saturating_add(Duration::from_secs(i as u64)),
                )
                .unwrap(),
            );
        }
        // Admins revoke each other too.
        for (b, _) in &s.admins {
            if b.peer_id() != a.peer_id() {
                out.push(
                    Tombstone::issue(
                        &none(&s.genesis),
                        a,
                        chain,
                        b.peer_id(),
                        Reason::Removed,
                        T0,
                    )
                    .unwrap(),
                );
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any order, duplication, dropping-then-redelivery and grouping of deliveries converges
    /// to the same set, byte for byte.
    #[test]
    fn deliveries_in_any_order_converge(
        order in Just((0..12usize).collect::<Vec<_>>()).prop_shuffle(),
        dups in proptest::collection::vec(0..12usize, 0..8),
        split in 0..12usize,
    ) {
        let s = shell(10, 2, 4);
        let all = tombstones(&s);
        prop_assert_eq!(all.len(), 10);
        let pick = |i: usize| all[i % all.len()].clone();
        // Replica X: everything in order. Replica Y: shuffled with duplicates, in two halves
        // merged through an intermediate replica.
        let mut x = RevocationSet::new(s.genesis.clone());
        for t in &all { x.insert(t.clone()).unwrap(); }
        let mut y1 = RevocationSet::new(s.genesis.clone());
        let mut y2 = RevocationSet::new(s.genesis.clone());
        for (n, &i) in order.iter().chain(dups.iter()).enumerate() {
            let target = if n < split { &mut y1 } else { &mut y2 };
            target.insert(pick(i)).unwrap();
        }
        // Whatever y1 and y2 missed is delivered at the end (a drop, then a retry).
        for t in &all { y2.insert(t.clone()).unwrap(); }
        let mut ab = y1.clone(); ab.merge(&y2).unwrap();
        let mut ba = y2.clone(); ba.merge(&y1).unwrap();
        let mut again = ab.clone(); again.merge(&ab).unwrap();
        prop_assert_eq!(&ab, &ba);
        prop_assert_eq!(&ab, &again);
        prop_assert_eq!(&ab, &x);
        prop_assert_eq!(ab.encode(), x.encode());
        prop_assert_eq!(ab.digest(), x.digest());
    }

    #[test]
    fn merge_is_associative(a in 0..10usize, b in 0..10usize, c in 0..10usize) {
        let s = shell(11, 2, 4);
        let all = tombstones(&s);
        let set_of = |n: usize| {
            let mut set = RevocationSet::new(s.genesis.clone());
            for t in all.iter().skip(n).step_by(3) { set.insert(t.clone()).unwrap(); }
            set
        };
        let (x, y, z) = (set_of(a), set_of(b), set_of(c));
        let mut left = x.clone(); left.merge(&y).unwrap(); left.merge(&z).unwrap();
        let mut yz = y.clone(); yz.merge(&z).unwrap();
        let mut right = x.clone(); right.merge(&yz).unwrap();
        prop_assert_eq!(left, right);
    }

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let s = shell(12, 0, 0);
        let _ = Tombstone::decode(&bytes, &s.genesis);
        let _ = RevocationSet::decode(&bytes, s.genesis.clone());
    }
}

#[test]
fn peer_ids_in_errors_are_readable() {
    let s = shell(13, 1, 1);
    let (admin, chain) = &s.admins[0];
    let m = s.members[0].0.peer_id();
    let t = Tombstone::issue(&none(&s.genesis), admin, chain, m, Reason::Removed, T0).unwrap();
    let e = Error::Revoked {
        peer: Box::new(m),
        tombstone: t.id(),
    };
    assert!(e.to_string().contains(&m.to_string()));
}

/// A rogue admin signs more tombstones than the whole set may hold (the old global cap
/// refused everything past it, so the owner's tombstone against the rogue was refused on
/// every replica that saw the flood first), and mints sub-admins that sign more, to fill the
/// admin pools. The owner's tombstone against the rogue and an honest admin's tombstone
/// still land on every replica, and replicas that saw the same tombstones in different
/// orders hold the same set.
#[test]
fn a_rogue_admin_filling_the_revocation_set_cannot_block_its_own_revocation() {
    use syncshell_revocation::{MAX_ADMIN_POOLS, MAX_TOMBSTONES, MAX_TOMBSTONES_PER_ADMIN};
    let s = shell(40, 2, 1);
    let (rogue, rogue_chain) = &s.admins[0];
    let (honest, honest_chain) = &s.admins[1];
    let mut r = ChaCha20Rng::seed_from_u64(41);
    let mut flood = Vec::with_capacity(MAX_TOMBSTONES + 1);
    for i in 0..=MAX_TOMBSTONES as u64 {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&i.to_le_bytes());
        let victim = Identity::from_secret_bytes(&seed).peer_id();
        flood.push(
            Tombstone::issue(
                &none(&s.genesis),
                rogue,
                rogue_chain,
                victim,
                Reason::Removed,
                T0,
            )
            .unwrap(),
        );
    }
    // Sub-admins of the rogue, each with a pool of its own.
    for _ in 0..MAX_ADMIN_POOLS + 8 {
        flood.extend(sub_admin_tombstones(&s, rogue, rogue_chain, 1, &mut r));
    }
    let owners = Tombstone::issue(
        &none(&s.genesis),
        &s.owner,
        &TokenChain::owner(),
        rogue.peer_id(),
        Reason::Removed,
        T0,
    )
    .unwrap();
    let (member, _) = &s.members[0];
    let honests = Tombstone::issue(
        &none(&s.genesis),
        honest,
        honest_chain,
        member.peer_id(),
        Reason::Removed,
        T0,
    )
    .unwrap();

    let mut flood_first = RevocationSet::new(s.genesis.clone());
    for t in flood.iter().chain([&owners, &honests]) {
        flood_first.insert(t.clone()).unwrap();
    }
    let mut flood_last = RevocationSet::new(s.genesis.clone());
    for t in [&owners, &honests].into_iter().chain(flood.iter().rev()) {
        flood_last.insert(t.clone()).unwrap();
    }
    // A third replica gets the flood in two halves through merges.
    let mut half_a = RevocationSet::new(s.genesis.clone());
    let mut half_b = RevocationSet::new(s.genesis.clone());
    for (i, t) in flood.iter().enumerate() {
        let half = if i % 2 == 0 { &mut half_a } else { &mut half_b };
        half.insert(t.clone()).unwrap();
    }
    half_b.insert(honests.clone()).unwrap();
    half_a.insert(owners.clone()).unwrap();
    let mut merged = RevocationSet::new(s.genesis.clone());
    merged.merge(&half_b).unwrap();
    merged.merge(&half_a).unwrap();

    for set in [&flood_first, &flood_last, &merged] {
        assert!(set.is_revoked(&rogue.peer_id()));
        assert!(set.is_revoked(&member.peer_id()));
        assert!(set.contains(&owners.id()) && set.contains(&honests.id()));
        assert!(set.len() <= MAX_TOMBSTONES);
        assert_eq!(
            set.iter()
                .filter(|t| t.issuer() == &rogue.peer_id())
                .count(),
            MAX_TOMBSTONES_PER_ADMIN
        );
        assert!(matches!(
            set.admit(&rogue.peer_id(), rogue_chain, T0),
            Err(Error::Revoked { .. })
        ));
    }
    assert_eq!(flood_first, flood_last);
    assert_eq!(flood_first, merged);
    assert_eq!(flood_first.encode(), merged.encode());
    // What is kept reloads as it is.
    let reloaded = RevocationSet::decode(&merged.encode(), s.genesis.clone()).unwrap();
    assert_eq!(reloaded, merged);
}

/// A new sub-admin of `issuer`, and `n` tombstones it signs against fresh keys: a pool of its
/// own.
fn sub_admin_tombstones(
    s: &Shell,
    issuer: &Identity,
    issuer_chain: &TokenChain,
    n: usize,
    r: &mut ChaCha20Rng,
) -> Vec<Tombstone> {
    let sub = Identity::generate(r);
    let sub_chain = TokenChain::issue(
        &none(&s.genesis),
        issuer,
        issuer_chain,
        sub.peer_id(),
        Role::Admin,
        T0,
        Some(T0.saturating_add(DAY)),
        r,
    )
    .unwrap();
    (0..n)
        .map(|_| {
            let victim = Identity::generate(r).peer_id();
            Tombstone::issue(
                &none(&s.genesis),
                &sub,
                &sub_chain,
                victim,
                Reason::Removed,
                T0,
            )
            .unwrap()
        })
        .collect()
}

/// Many pools, more than the set keeps, in any order of delivery and grouping: replicas
/// keep the same tombstones.
fn pool_flood() -> &'static (Shell, Vec<Tombstone>) {
    static FLOOD: std::sync::OnceLock<(Shell, Vec<Tombstone>)> = std::sync::OnceLock::new();
    FLOOD.get_or_init(|| {
        let s = shell(50, 3, 2);
        let mut r = ChaCha20Rng::seed_from_u64(51);
        let mut out = Vec::new();
        for (admin, chain) in &s.admins {
            for _ in 0..(syncshell_revocation::MAX_ADMIN_POOLS / 2) {
                out.extend(sub_admin_tombstones(&s, admin, chain, 2, &mut r));
            }
            out.push(
                Tombstone::issue(
                    &none(&s.genesis),
                    admin,
                    chain,
                    s.members[0].0.peer_id(),
                    Reason::Removed,
                    T0,
                )
                .unwrap(),
            );
        }
        (s, out)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn a_full_set_keeps_the_same_tombstones_whatever_the_delivery_order(
        seed in any::<u64>(),
        split in 0..200usize,
    ) {
        use rand_chacha::rand_core::RngCore;
        let (s, all) = pool_flood();
        let mut order: Vec<usize> = (0..all.len()).collect();
        let mut r = ChaCha20Rng::seed_from_u64(seed);
        for i in (1..order.len()).rev() {
            let j = (r.next_u64() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        let mut x = RevocationSet::new(s.genesis.clone());
        for t in all { x.insert(t.clone()).unwrap(); }
        let mut y1 = RevocationSet::new(s.genesis.clone());
        let mut y2 = RevocationSet::new(s.genesis.clone());
        for (n, &i) in order.iter().enumerate() {
            let target = if n < split { &mut y1 } else { &mut y2 };
            target.insert(all[i].clone()).unwrap();
        }
        y2.merge(&y1).unwrap();
        prop_assert_eq!(x.digest(), y2.digest());
        prop_assert_eq!(&x, &y2);
        // Every owner-appointed admin's own tombstone is kept.
        for (admin, _) in &s.admins {
            prop_assert!(x.iter().any(|t| t.issuer() == &admin.peer_id()));
        }
        prop_assert!(x.is_revoked(&s.members[0].0.peer_id()));
    }
}

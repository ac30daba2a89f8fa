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
use syncshell_identity::{
    Context, Identity, Role, ShellGenesis, SignedEnvelope, Timestamp, TokenChain,
};
use syncshell_revocation::{Error, Reason, RevocationSet, Tombstone, TOMBSTONE_CONTEXT};

const T0: Timestamp = Timestamp::from_millis(1_767_225_600_000);
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
    let mut r = ChaCha20Rng::seed_from_u64(seed);
    let owner = Identity::generate(&mut r);
    let genesis = ShellGenesis::create(&owner, "rev", T0, &mut r).unwrap();
    let admins: Vec<_> = (0..a)
        .map(|_| {
            let id = Identity::generate(&mut r);
            let chain = TokenChain::issue(
                &genesis,
                &owner,
                &TokenChain::owner(),
                id.peer_id(),
                Role::Admin,
                T0,
                Some(T0.saturating_add(DAY * 30)),
                &mut r,
            )
            .unwrap();
            (id, chain)
        })
        .collect();
    let members: Vec<_> = (0..m)
        .map(|_| {
            let id = Identity::generate(&mut r);
            let (issuer, issuer_chain) = match admins.first() {
                Some((a, c)) => (a, c.clone()),
                None => (&owner, TokenChain::owner()),
            };
            let chain = TokenChain::issue(
                &genesis,
                issuer,
                &issuer_chain,
                id.peer_id(),
                Role::Member,
                T0,
                Some(T0.saturating_add(DAY * 7)),
                &mut r,
            )
            .unwrap();
            (id, chain)
        })
        .collect();
    Shell {
        owner,
        genesis,
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
        &s.genesis,
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
        &s.genesis,
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
        &s.genesis,
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
        &s.genesis,
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
        Tombstone::issue(&s.genesis, m, m_chain, admin.peer_id(), Reason::Removed, T0),
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
    let ta = Tombstone::issue(&s.genesis, a, a_chain, b.peer_id(), Reason::Removed, T0).unwrap();
    let tb = Tombstone::issue(&s.genesis, b, b_chain, a.peer_id(), Reason::Removed, T0).unwrap();
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
        &s.genesis,
        admin,
        admin_chain,
        m.peer_id(),
        Reason::Removed,
        T0,
    )
    .unwrap();
    let later = T0.saturating_add(DAY);
    let t2 = Tombstone::issue(
        &s.genesis,
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
            &s.genesis,
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
        Tombstone::issue(&s.genesis, m, m_chain, admin.peer_id(), Reason::Removed, T0),
        Err(Error::NotAuthorized(_))
    ));
    // Another shell's tombstone.
    let foreign = Tombstone::issue(
        &other.genesis,
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
        &s.genesis,
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
        &s.genesis,
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
                &s.genesis,
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
                    &s.genesis,
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
                    Tombstone::issue(&s.genesis, a, chain, b.peer_id(), Reason::Removed, T0)
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
    let t = Tombstone::issue(&s.genesis, admin, chain, m, Reason::Removed, T0).unwrap();
    let e = Error::Revoked {
        peer: Box::new(m),
        tombstone: t.id(),
    };
    assert!(e.to_string().contains(&m.to_string()));
}

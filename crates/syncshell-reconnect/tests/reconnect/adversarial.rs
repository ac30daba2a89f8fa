//! ADVERSARIAL.md items 11-14.

use syncshell_identity::{Timestamp, TokenChain};
use syncshell_reconnect::{
    drive_in_memory, Error, Handshake, ReplayGuard, HANDSHAKE_TIMEOUT, MAX_MESSAGE_AGE,
};
use syncshell_revocation::{Reason, Tombstone};

use crate::{rng, run, shell, DAY, T0};

#[test]
fn a_handshake_authenticates_both_sides_and_agrees_on_keys() {
    let s = shell(1);
    let (log, a, b) = run(&s.local(&s.alice), &s.local(&s.bob), b"cb", T0, 2);
    assert_eq!(log.len(), 3);
    let (a, b) = (a.into_session().unwrap(), b.into_session().unwrap());
    assert_eq!(a.key(), b.key());
    assert_eq!(a.id(), b.id());
    assert_eq!(a.peer(), &s.bob.id.peer_id());
    assert_eq!(b.peer(), &s.alice.id.peer_id());
    assert!(a.is_initiator() && !b.is_initiator());
    assert!(!format!("{a:?}").contains(&format!("{:?}", a.key())));
    // Fresh randomness: a second handshake gives another key.
    let (_, c, _) = run(&s.local(&s.alice), &s.local(&s.bob), b"cb", T0, 3);
    assert_ne!(c.into_session().unwrap().key(), a.key());
}

/// Item 11: echoing a peer's own messages back on a second connection fails.
#[test]
fn reflection_fails() {
    let s = shell(4);
    let alice = s.local(&s.alice);
    let mut r = rng(5);
    let mut guard = ReplayGuard::new();
    // Alice initiates on connection 1; Mallory sends Alice's own hello back to her on
    // connection 2 where Alice responds.
    let mut a1 = Handshake::initiate(&alice, b"conn-1", T0, &mut r).unwrap();
    let hello = a1.poll_transmit().unwrap();
    let mut a2 = Handshake::respond(b"conn-2", T0).unwrap();
    assert_eq!(
        a2.handle(&alice, &mut guard, &hello, T0, &mut r),
        Err(Error::Reflection)
    );
    assert!(a2.session().is_none());
    // Alice responds to Bob on connection 3; Mallory echoes that challenge to Alice's
    // initiator on connection 1.
    let (log, _, _) = run(&s.local(&s.bob), &alice, b"conn-3", T0, 6);
    let alices_challenge = &log[1];
    assert_eq!(
        a1.handle(&alice, &mut guard, alices_challenge, T0, &mut r),
        Err(Error::Reflection)
    );
    assert!(a1.session().is_none());
}

/// Item 12: a recorded hello or proof replayed later, or on another connection, fails.
#[test]
fn replays_fail() {
    let s = shell(7);
    let (alice, bob) = (s.local(&s.alice), s.local(&s.bob));
    let mut r = rng(8);
    let mut bob_guard = ReplayGuard::new();
    let (log, _, _) = {
        // Run once with Bob's real guard so it remembers the nonce.
        let mut a = Handshake::initiate(&alice, b"conn-1", T0, &mut r).unwrap();
        let mut b = Handshake::respond(b"conn-1", T0).unwrap();
        let hello = a.poll_transmit().unwrap();
        b.handle(&bob, &mut bob_guard, &hello, T0, &mut r).unwrap();
        let challenge = b.poll_transmit().unwrap();
        a.handle(&alice, &mut ReplayGuard::new(), &challenge, T0, &mut r)
            .unwrap();
        let proof = a.poll_transmit().unwrap();
        b.handle(&bob, &mut bob_guard, &proof, T0, &mut r).unwrap();
        (vec![hello, challenge, proof], a, b)
    };
    // The same hello again, on the same or another connection: the nonce is spent.
    for cb in [&b"conn-1"[..], b"conn-2"] {
        let mut b = Handshake::respond(cb, T0).unwrap();
        assert_eq!(
            b.handle(&bob, &mut bob_guard, &log[0], T0, &mut r),
            Err(Error::Replay)
        );
    }
    // A hello replayed much later is stale even to a responder that never saw it.
    let later = T0.saturating_add(MAX_MESSAGE_AGE).saturating_add(DAY / 24);
    let mut b = Handshake::respond(b"conn-1", later).unwrap();
    assert_eq!(
        b.handle(&bob, &mut ReplayGuard::new(), &log[0], later, &mut r),
        Err(Error::Replay)
    );
    // The recorded hello on a fresh responder with another channel binding is answered, but
    // the recorded proof does not complete it: the transcript differs.
    let mut b = Handshake::respond(b"conn-2", T0).unwrap();
    b.handle(&bob, &mut ReplayGuard::new(), &log[0], T0, &mut r)
        .unwrap();
    assert_eq!(
        b.handle(&bob, &mut ReplayGuard::new(), &log[2], T0, &mut r),
        Err(Error::BadSignature)
    );
    assert!(b.session().is_none());
    // A challenge relayed from another connection fails the initiator's signature check.
    let mut a = Handshake::initiate(&alice, b"conn-9", T0, &mut r).unwrap();
    let _ = a.poll_transmit();
    assert_eq!(
        a.handle(&alice, &mut ReplayGuard::new(), &log[1], T0, &mut r),
        Err(Error::BadSignature)
    );
}

/// Item 13: wrong shell, revoked, expired, unadmitted: each its own error, on both sides,
/// before any session key exists.
#[test]
fn each_refusal_has_its_own_error_on_both_sides() {
    let s = shell(9);
    let other = shell(10);
    // `mutual`: the refusal is mutual (another shell), so the bad side, as responder, already
    // refuses the good side's hello; otherwise the good initiator refuses the challenge.
    let check = |a: &syncshell_reconnect::Local<'_>,
                 b: &syncshell_reconnect::Local<'_>,
                 now: Timestamp,
                 expected: Error,
                 mutual: bool| {
        // Bad side as initiator: the responder refuses the hello.
        let (_, x, y) = run(a, b, b"cb", now, 11);
        assert_eq!(y.error(), Some(&expected), "responder");
        assert!(x.session().is_none() && y.session().is_none());
        // Bad side as responder: the initiator refuses the challenge.
        let (_, x, y) = run(b, a, b"cb", now, 12);
        let refuser = if mutual { &y } else { &x };
        assert_eq!(refuser.error(), Some(&expected), "second run");
        assert!(x.session().is_none() && y.session().is_none());
    };
    // Wrong shell.
    check(
        &other.local(&other.alice),
        &s.local(&s.bob),
        T0,
        Error::WrongShell,
        true,
    );
    // Expired: Alice's 7-day token has run out (Bob's too, so Bob is the owner here).
    let later = T0.saturating_add(DAY * 8);
    check(
        &s.local(&s.alice),
        &s.local(&s.owner),
        later,
        Error::Expired,
        false,
    );
    // Not admitted: a stranger claiming membership with the owner's empty chain.
    let mut r = rng(13);
    let stranger = syncshell_identity::Identity::generate(&mut r);
    let empty = TokenChain::owner();
    let stranger_local = syncshell_reconnect::Local {
        identity: &stranger,
        chain: &empty,
        revocations: &s.revocations,
    };
    let (_, _, y) = run(&stranger_local, &s.local(&s.bob), b"cb", T0, 14);
    assert!(
        matches!(y.error(), Some(Error::NotAdmitted(_))),
        "{:?}",
        y.error()
    );
    let (_, x, _) = run(&s.local(&s.bob), &stranger_local, b"cb", T0, 15);
    assert!(
        matches!(x.error(), Some(Error::NotAdmitted(_))),
        "{:?}",
        x.error()
    );
    // Revoked: both sides hold the tombstone.
    let mut revoked = shell(9);
    let t = Tombstone::issue(
        &syncshell_revocation::RevocationSet::new(revoked.genesis.clone()),
        &revoked.admin.id,
        &revoked.admin.chain,
        revoked.alice.id.peer_id(),
        Reason::Removed,
        T0,
    )
    .unwrap();
    revoked.revocations.insert(t).unwrap();
    check(
        &revoked.local(&revoked.alice),
        &revoked.local(&revoked.bob),
        T0,
        Error::Revoked,
        false,
    );
}

#[test]
fn a_revocation_arriving_mid_handshake_is_applied_before_the_key_is_released() {
    let s = shell(16);
    let mut with_tombstone = s.revocations.clone();
    let t = Tombstone::issue(
        &syncshell_revocation::RevocationSet::new(s.genesis.clone()),
        &s.admin.id,
        &s.admin.chain,
        s.alice.id.peer_id(),
        Reason::Removed,
        T0,
    )
    .unwrap();
    with_tombstone.insert(t).unwrap();
    let alice = s.local(&s.alice);
    let bob_before = s.local(&s.bob);
    let bob_after = syncshell_reconnect::Local {
        revocations: &with_tombstone,
        ..bob_before
    };
    let mut r = rng(17);
    let mut a = Handshake::initiate(&alice, b"cb", T0, &mut r).unwrap();
    let mut b = Handshake::respond(b"cb", T0).unwrap();
    b.handle(
        &bob_before,
        &mut ReplayGuard::new(),
        &a.poll_transmit().unwrap(),
        T0,
        &mut r,
    )
    .unwrap();
    a.handle(
        &alice,
        &mut ReplayGuard::new(),
        &b.poll_transmit().unwrap(),
        T0,
        &mut r,
    )
    .unwrap();
    let proof = a.poll_transmit().unwrap();
    assert_eq!(
        b.handle(&bob_after, &mut ReplayGuard::new(), &proof, T0, &mut r),
        Err(Error::Revoked)
    );
    assert!(b.session().is_none());
}

/// Item 14 (and timeouts): failures are final and clean.
#[test]
fn failures_are_final_and_timeouts_are_clean() {
    let s = shell(18);
    let (alice, bob) = (s.local(&s.alice), s.local(&s.bob));
    let mut r = rng(19);
    let mut b = Handshake::respond(b"cb", T0).unwrap();
    assert!(matches!(
        b.handle(
            &bob,
            &mut ReplayGuard::new(),
            b"\x01\x02garbage",
            T0,
            &mut r
        ),
        Err(Error::Malformed(_))
    ));
    // A good hello afterwards does not revive it.
    let mut a = Handshake::initiate(&alice, b"cb", T0, &mut r).unwrap();
    let hello = a.poll_transmit().unwrap();
    assert!(matches!(
        b.handle(&bob, &mut ReplayGuard::new(), &hello, T0, &mut r),
        Err(Error::Malformed(_))
    ));
    assert!(b.poll_transmit().is_none() && b.session().is_none() && b.is_finished());
    // Timeout: nothing arrives before the deadline.
    assert_eq!(a.poll_timeout(), Some(T0.saturating_add(HANDSHAKE_TIMEOUT)));
    a.handle_timeout(T0.saturating_add(HANDSHAKE_TIMEOUT));
    assert!(matches!(a.error(), Some(Error::Timeout { .. })));
    assert!(a.poll_timeout().is_none());
    // A message arriving after the deadline fails with the timeout too.
    let mut b = Handshake::respond(b"cb", T0).unwrap();
    let late = T0.saturating_add(HANDSHAKE_TIMEOUT);
    assert!(matches!(
        b.handle(&bob, &mut ReplayGuard::new(), &hello, late, &mut r),
        Err(Error::Timeout { .. })
    ));
    // Channel bindings are bounded, and must not be empty.
    assert!(Handshake::respond(&[0u8; 2000], T0).is_err());
    assert!(Handshake::respond(b"", T0).is_err());
    assert!(Handshake::initiate(&alice, b"", T0, &mut r).is_err());
}

#[test]
fn low_order_ephemeral_keys_are_refused() {
    let s = shell(20);
    let (alice, bob) = (s.local(&s.alice), s.local(&s.bob));
    let mut r = rng(21);
    let mut a = Handshake::initiate(&alice, b"cb", T0, &mut r).unwrap();
    let hello = a.poll_transmit().unwrap();
    // The ephemeral key is the 32 bytes after the nonce; replace it with zero (low order).
    // Field 6 (tag 0x32, length 0x20) precedes it.
    let pos = hello.windows(2).rposition(|w| w == [0x32, 0x20]).unwrap() + 2;
    let mut bad = hello.clone();
    bad[pos..pos + 32].fill(0);
    let mut b = Handshake::respond(b"cb", T0).unwrap();
    assert_eq!(
        b.handle(&bob, &mut ReplayGuard::new(), &bad, T0, &mut r),
        Err(Error::LowOrderKey)
    );
}

#[test]
fn the_owner_and_admins_handshake_too() {
    let s = shell(22);
    let (a, b) = drive_in_memory(
        &s.local(&s.owner),
        &mut ReplayGuard::new(),
        &s.local(&s.admin),
        &mut ReplayGuard::new(),
        b"cb",
        T0,
        &mut rng(23),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.role(), syncshell_identity::Role::Admin);
    assert_eq!(b.role(), syncshell_identity::Role::Owner);
}

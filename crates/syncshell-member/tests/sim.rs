//! Members of one shell in a simulated network on a simulated clock: links form between
//! every pair, phonebooks and revocation sets converge, revoked, killed, partitioned and
//! restarted members are handled, joins go through the relay, and transfers are scheduled.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use syncshell_identity::{Identity, InviteLedger, InviteOptions, PeerId, Role, TokenChain};
use syncshell_member::{
    Config, ConnId, Error, Event, Joiner, LinkEnd, Member, Output, Settings, Shell, TransferRole,
    ACCEPT_RATE, MAX_RECEIVES, NEWS_FANOUT, PING_TIMEOUT,
};
use syncshell_phonebook::Phonebook;
use syncshell_reconnect::BackoffPolicy;
use syncshell_testkit::{copy, now, Sim, TestShell};

fn shell(test: &TestShell, chain: TokenChain) -> Shell {
    Shell {
        genesis: test.genesis.clone(),
        chain,
        phonebook: Phonebook::new(test.genesis.clone()),
        ledger: InviteLedger::new(),
        settings: Settings::default(),
    }
}

fn config(name: &str) -> Config {
    Config {
        name: name.into(),
        policy: BackoffPolicy {
            base: Duration::from_secs(1),
            max: Duration::from_secs(10),
            max_attempts_per_minute: 600,
            ..BackoffPolicy::default()
        },
        ..Config::default()
    }
}

/// The owner (0) and `n` members, each knowing only the owner.
fn shell_of(n: usize) -> (TestShell, Sim) {
    let test = TestShell::new("sim");
    let mut sim = Sim::new(now());
    sim.add(
        copy(&test.owner),
        shell(&test, TokenChain::owner()),
        config("owner"),
    );
    for i in 1..=n {
        let (id, chain) = test.member();
        sim.add(id, shell(&test, chain), config(&format!("m{i}")));
    }
    (test, sim)
}

fn link_downs(sim: &Sim, i: usize) -> Vec<(String, LinkEnd)> {
    sim.member(i)
        .events
        .iter()
        .filter_map(|e| match e {
            Event::LinkDown { name, why, .. } => Some((name.clone(), *why)),
            _ => None,
        })
        .collect()
}

fn entries(sim: &Sim, i: usize) -> BTreeSet<String> {
    sim.member(i)
        .member
        .phonebook()
        .entries(sim.now())
        .map(|e| e.shown_name())
        .collect()
}

#[test]
fn members_who_know_only_the_owner_link_to_each_other_and_their_phonebooks_converge() {
    let (_test, mut sim) = shell_of(4);
    sim.advance(Duration::from_secs(30));
    assert!(sim.fully_linked(), "every pair is linked");
    let all: BTreeSet<String> = ["owner", "m1", "m2", "m3", "m4"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for i in 0..sim.len() {
        assert_eq!(entries(&sim, i), all, "member {i}'s phonebook");
        // Link-ups name members by the names their infos gave.
        let named: BTreeSet<String> = sim
            .member(i)
            .events
            .iter()
            .filter_map(|e| match e {
                Event::LinkUp { name, .. } => Some(name.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(named.len(), 4, "member {i} saw four link-ups: {named:?}");
        assert!(!named.iter().any(|n| n.starts_with("peer-")));
        assert!(link_downs(&sim, i).is_empty(), "no link went down");
    }
}

#[test]
fn a_revoked_member_loses_every_link_and_never_links_again() {
    let (_test, mut sim) = shell_of(3);
    sim.advance(Duration::from_secs(30));
    assert!(sim.fully_linked());
    let m2 = sim.member(2).member.peer_id();
    let t = sim.now();
    sim.member_mut(0).member.revoke(m2, t).unwrap();
    sim.run();
    for i in [0, 1, 3] {
        assert!(!sim.linked(i, 2), "member {i} dropped m2");
        assert!(
            sim.member(i)
                .member
                .phonebook()
                .revocations()
                .is_revoked(&m2),
            "member {i} holds the tombstone"
        );
        assert!(
            link_downs(&sim, i).contains(&("m2".to_owned(), LinkEnd::Revoked)),
            "member {i}: {:?}",
            link_downs(&sim, i)
        );
    }
    // However long m2 keeps trying, nobody links to it; the others stay linked.
    sim.advance(Duration::from_secs(600));
    for i in [0, 1, 3] {
        assert!(!sim.linked(i, 2));
        assert!(!sim.linked(2, i));
    }
    assert!(sim.linked(0, 1) && sim.linked(1, 3) && sim.linked(0, 3));
    // A member revoked through another (an admin's tombstone reaching it by sync) is told
    // too: m1's set has it, so does m3's, through the owner or m1.
    assert_eq!(
        sim.member(1).member.phonebook().revocations().digest(),
        sim.member(3).member.phonebook().revocations().digest()
    );
}

#[test]
fn a_killed_member_is_noticed_within_the_ping_timeout_and_relinks_when_it_restarts() {
    let (_test, mut sim) = shell_of(2);
    sim.advance(Duration::from_secs(30));
    assert!(sim.fully_linked());
    sim.kill(2);
    // The relay stops listing it at once; its links end when the pings go unanswered.
    assert!(sim.linked(0, 2) && sim.linked(1, 2));
    sim.advance(PING_TIMEOUT - Duration::from_millis(1));
    assert!(sim.linked(0, 2), "not before the timeout");
    sim.advance(Duration::from_millis(1));
    for i in [0, 1] {
        assert!(!sim.linked(i, 2), "member {i} ended the link");
        assert!(link_downs(&sim, i).contains(&("m2".to_owned(), LinkEnd::NoAnswer)));
    }
    // A live member not listed by the relay answers the ping and keeps its link.
    assert!(sim.linked(0, 1));
    sim.restart(2);
    sim.advance(Duration::from_secs(30));
    assert!(sim.fully_linked(), "the restarted member linked again");
}

#[test]
fn partitioned_members_relink_after_the_heal() {
    let (_test, mut sim) = shell_of(2);
    sim.advance(Duration::from_secs(30));
    sim.partition(1, 2);
    assert!(!sim.linked(1, 2) && !sim.linked(2, 1));
    assert!(link_downs(&sim, 1).contains(&("m2".to_owned(), LinkEnd::Closed)));
    // Dials fail during the partition; the others stay linked.
    sim.advance(Duration::from_secs(60));
    assert!(!sim.linked(1, 2));
    assert!(sim.linked(0, 1) && sim.linked(0, 2));
    sim.heal(1, 2);
    // Within the backoff ceiling (10 s here) they try again.
    sim.advance(Duration::from_secs(11));
    assert!(sim.fully_linked());
}

#[test]
fn news_spreads_through_members_that_are_not_linked_to_each_other() {
    let (test, mut sim) = shell_of(2);
    // m1 and m2 can only reach the owner.
    sim.partition(1, 2);
    sim.advance(Duration::from_secs(30));
    assert!(sim.linked(0, 1) && sim.linked(0, 2) && !sim.linked(1, 2));
    // A member revoked by the owner while m1 and m2 hear of it only through the owner.
    let (late, chain) = test.member();
    let late_peer = late.peer_id();
    let k = sim.add(late, shell(&test, chain), config("late"));
    sim.advance(Duration::from_secs(30));
    assert!(entries(&sim, 1).contains("late") && entries(&sim, 2).contains("late"));
    let t = sim.now();
    sim.member_mut(0).member.revoke(late_peer, t).unwrap();
    sim.run();
    for i in [1, 2] {
        assert!(sim
            .member(i)
            .member
            .phonebook()
            .revocations()
            .is_revoked(&late_peer));
        assert!(!sim.linked(i, k));
    }
}

/// Takes the outputs of a member driven by hand: the blobs it relays, and its events.
fn relayed(member: &mut Member) -> (Vec<Vec<u8>>, Vec<Event>) {
    let (mut blobs, mut events) = (Vec::new(), Vec::new());
    while let Some(o) = member.poll_output() {
        match o {
            Output::Relay { blob, .. } => blobs.push(blob),
            Output::Event(e) => events.push(e),
            _ => {}
        }
    }
    (blobs, events)
}

#[test]
fn a_joiner_gets_its_chain_from_the_inviter_through_the_relay_then_links() {
    let (test, mut sim) = shell_of(1);
    sim.advance(Duration::from_secs(10));
    let t = sim.now();
    let code = sim
        .member_mut(0)
        .member
        .invite(InviteOptions::default(), t)
        .unwrap();
    let joiner = Identity::generate(&mut rand_core::OsRng);
    let mut join = Joiner::new(&joiner, code.clone(), t, Duration::from_secs(60)).unwrap();
    let blob = join.poll_transmit(t).unwrap();
    assert_eq!(join.poll_transmit(t), None, "one request per retry period");
    let owner = &mut sim.member_mut(0).member;
    relayed(owner);
    owner.handle_relay(t, joiner.peer_id(), &blob);
    let (replies, events) = relayed(owner);
    assert_eq!(replies.len(), 1);
    assert_eq!(
        events,
        vec![Event::Admitted {
            peer: joiner.peer_id()
        }]
    );
    // A reply from someone else is not the inviter's.
    let other = sim.member(1).member.peer_id();
    assert_eq!(join.handle_relay(other, &replies[0], t), Ok(None));
    let chain = join
        .handle_relay(code.invite().inviter().to_owned(), &replies[0], t)
        .unwrap()
        .expect("the chain");
    let j = sim.add(joiner, shell(&test, chain), config("joiner"));
    let inviter = *code.invite().inviter();
    sim.member_mut(j).member.reach(inviter, t);
    sim.advance(Duration::from_secs(30));
    assert!(sim.fully_linked());
    assert!(entries(&sim, 1).contains("joiner"));

    // The invite had one use: a second joiner is refused, and told why.
    let second = Identity::generate(&mut rand_core::OsRng);
    let t = sim.now();
    let mut join = Joiner::new(&second, code.clone(), t, Duration::from_secs(60)).unwrap();
    let owner = &mut sim.member_mut(0).member;
    owner.handle_relay(t, second.peer_id(), &join.poll_transmit(t).unwrap());
    let (replies, events) = relayed(owner);
    assert!(matches!(
        join.handle_relay(inviter, &replies[0], t),
        Err(Error::JoinDenied(_))
    ));
    assert!(matches!(
        events.as_slice(),
        [Event::JoinRefused { peer, .. }] if *peer == second.peer_id()
    ));
}

#[test]
fn a_join_waits_for_an_offline_inviter_then_gives_up_with_a_clear_error() {
    let test = TestShell::new("join");
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let t = now();
    let mut owner = Member::new(
        copy(&test.owner),
        shell(&test, TokenChain::owner()),
        config("owner"),
        t,
        ChaCha20Rng::seed_from_u64(2),
    )
    .unwrap();
    let code = owner.invite(InviteOptions::default(), t).unwrap();
    let joiner = Identity::generate(&mut rng);
    let mut join = Joiner::new(&joiner, code.clone(), t, Duration::from_secs(10)).unwrap();
    let inviter = *code.invite().inviter();
    assert!(join.handle_unreachable(inviter), "now waiting");
    assert!(!join.handle_unreachable(inviter), "said once");
    assert_eq!(
        join.handle_timeout(t.saturating_add(Duration::from_secs(9))),
        Ok(())
    );
    let e = join
        .handle_timeout(t.saturating_add(Duration::from_secs(10)))
        .unwrap_err();
    assert!(matches!(e, Error::JoinTimedOut { online: false, .. }));
    assert!(
        e.to_string().contains("did not come online within 10 s"),
        "{e}"
    );
    // An expired invite says to ask for a new one.
    let late = t.saturating_add(Duration::from_secs(3600));
    let e = Joiner::new(&joiner, code, late, Duration::from_secs(10)).unwrap_err();
    assert!(matches!(e, Error::InviteExpired { .. }));
    assert!(e.to_string().contains("ask for a new one"), "{e}");
}

/// The sharer (0) and a receiver (1), linked.
fn sharing() -> Sim {
    let test = TestShell::new("share");
    let mut sim = Sim::new(now());
    sim.add(
        copy(&test.owner),
        shell(&test, TokenChain::owner()),
        Config {
            share: true,
            ..config("sharer")
        },
    );
    let (id, chain) = test.member();
    sim.add(
        id,
        shell(&test, chain),
        Config {
            receive: true,
            ..config("receiver")
        },
    );
    sim.advance(Duration::from_secs(10));
    assert!(sim.fully_linked());
    sim
}

fn roles(sim: &Sim, i: usize) -> Vec<(TransferRole, u64)> {
    sim.member(i)
        .transfers
        .iter()
        .map(|t| (t.role, t.id))
        .collect()
}

#[test]
fn a_receiver_fetches_each_new_version_of_the_share_once() {
    let mut sim = sharing();
    // On the new link the receiver fetches the share as transfer 1.
    assert_eq!(roles(&sim, 0), vec![(TransferRole::Send, 1)]);
    assert_eq!(roles(&sim, 1), vec![(TransferRole::Receive, 1)]);
    let send = sim.member(0).transfers[0].clone();
    assert_eq!(send.peer, sim.member(1).member.peer_id());

    // The folder changes twice during the transfer: one more fetch, after it.
    let t = sim.now();
    sim.member_mut(0).member.share_changed(t);
    sim.member_mut(0).member.share_changed(t);
    sim.run();
    assert_eq!(roles(&sim, 1), vec![(TransferRole::Receive, 1)]);
    let conn = sim.member(1).transfers[0].conn;
    sim.transfer_done(1, conn, TransferRole::Receive);
    assert_eq!(roles(&sim, 1), vec![(TransferRole::Receive, 2)]);
    // The sharer still sends transfer 1 (its end has not finished): the fetch waits.
    assert_eq!(roles(&sim, 0), vec![(TransferRole::Send, 1)]);
    sim.transfer_done(0, send.conn, TransferRole::Send);
    assert_eq!(roles(&sim, 0), vec![(TransferRole::Send, 2)]);
    sim.transfer_done(0, send.conn, TransferRole::Send);
    sim.transfer_done(1, conn, TransferRole::Receive);
    // Nothing changed since: nothing more is fetched, however long they stay linked.
    sim.advance(Duration::from_secs(120));
    assert!(roles(&sim, 0).is_empty() && roles(&sim, 1).is_empty());
    // A receiver that does not receive, or a sharer told of no change, starts nothing: a
    // change of a member that shares nothing is nothing.
    let t = sim.now();
    sim.member_mut(1).member.share_changed(t);
    sim.run();
    assert!(roles(&sim, 0).is_empty() && roles(&sim, 1).is_empty());
}

#[test]
fn a_pause_stops_transfers_until_resumed_and_survives_a_restart() {
    let mut sim = sharing();
    let receiver = sim.member(1).member.peer_id();
    // The sharer pauses the receiver: the running send stops, and the receiver's end is
    // told (by the stream's abort, here by the test).
    let t = sim.now();
    sim.member_mut(0).member.pause(Some(receiver), t);
    sim.run();
    assert_eq!(sim.member(0).stopped, 1);
    assert!(roles(&sim, 0).is_empty());
    let conn = sim.member(1).transfers[0].conn;
    sim.transfer_done(1, conn, TransferRole::Receive);
    // The receiver fetches again (its fetch of a version it did not get): it waits.
    let t = sim.now();
    sim.member_mut(0).member.share_changed(t);
    sim.advance(Duration::from_secs(30));
    assert!(roles(&sim, 0).is_empty(), "nothing is sent while paused");
    assert_eq!(roles(&sim, 1), vec![(TransferRole::Receive, 2)]);
    // Kept across a restart of the sharer.
    assert!(sim.member(0).member.settings().is_paused(&receiver));
    sim.restart(0);
    sim.advance(Duration::from_secs(30));
    assert!(sim.member(0).member.settings().is_paused(&receiver));
    assert!(roles(&sim, 0).is_empty());
    // Resumed: the waiting fetch (on the new link) is served.
    let conn = sim.member(1).transfers[0].conn;
    sim.transfer_done(1, conn, TransferRole::Receive);
    sim.advance(Duration::from_secs(1));
    let t = sim.now();
    sim.member_mut(0).member.resume(None, t);
    sim.run();
    assert_eq!(roles(&sim, 0).len(), 1, "served after the resume");
    assert!(!sim.member(0).member.settings().is_paused(&receiver));

    // A receiver that pauses everything fetches nothing new.
    let t = sim.now();
    sim.member_mut(1).member.pause(None, t);
    sim.run();
    assert!(roles(&sim, 1).is_empty(), "its running receive stopped");
    let conn = sim.member(0).transfers[0].conn;
    sim.transfer_done(0, conn, TransferRole::Send);
    let t = sim.now();
    sim.member_mut(0).member.share_changed(t);
    sim.advance(Duration::from_secs(30));
    assert!(roles(&sim, 0).is_empty() && roles(&sim, 1).is_empty());
    let t = sim.now();
    sim.member_mut(1).member.resume(None, t);
    sim.run();
    assert_eq!(roles(&sim, 1).len(), 1, "fetched once resumed");
}

#[test]
fn a_newer_link_fetches_again_and_waits_for_the_running_send() {
    let mut sim = sharing();
    let old = sim.member(0).transfers[0].conn;
    // The link breaks and comes back while the first send still runs (the sharer's driver
    // has not seen it fail yet); the receiver's end failed with its link.
    sim.partition(0, 1);
    let conn = sim.member(1).transfers[0].conn;
    sim.transfer_done(1, conn, TransferRole::Receive);
    sim.heal(0, 1);
    sim.advance(Duration::from_secs(11));
    assert!(sim.linked(0, 1));
    assert_eq!(
        roles(&sim, 1),
        vec![(TransferRole::Receive, 1)],
        "fetched on the new link"
    );
    assert_eq!(sim.member(0).transfers.len(), 1, "the new fetch waits");
    sim.transfer_done(0, old, TransferRole::Send);
    assert_eq!(roles(&sim, 0), vec![(TransferRole::Send, 1)]);
    assert_ne!(sim.member(0).transfers[0].conn, old, "on the new link");
}

#[test]
fn up_to_max_receives_transfers_run_at_once_and_the_other_sharers_wait_their_turn() {
    let test = TestShell::new("many sharers");
    let mut sim = Sim::new(now());
    sim.add(
        copy(&test.owner),
        shell(&test, TokenChain::owner()),
        Config {
            receive: true,
            ..config("receiver")
        },
    );
    let sharers = MAX_RECEIVES + 2;
    for i in 0..sharers {
        let (id, chain) = test.member();
        sim.add(
            id,
            shell(&test, chain),
            Config {
                share: true,
                ..config(&format!("s{i}"))
            },
        );
    }
    sim.advance(Duration::from_secs(10));
    assert!(sim.fully_linked());
    let peers = |sim: &Sim| -> BTreeSet<PeerId> {
        sim.member(0).transfers.iter().map(|t| t.peer).collect()
    };
    // As many as allowed at once, each from another sharer; the others wait.
    let running = peers(&sim);
    assert_eq!(sim.member(0).transfers.len(), MAX_RECEIVES);
    assert_eq!(running.len(), MAX_RECEIVES, "one transfer per sharer");
    // Each that ends lets a waiting sharer in, until every sharer's folder came.
    let mut served = running.clone();
    while served.len() < sharers {
        let done = sim.member(0).transfers[0].clone();
        sim.transfer_done(0, done.conn, TransferRole::Receive);
        let now_running = peers(&sim);
        assert!(now_running.len() <= MAX_RECEIVES);
        assert!(
            !now_running.contains(&done.peer),
            "a finished sharer came back"
        );
        served.extend(now_running);
    }
    assert_eq!(served.len(), sharers);
}

#[test]
fn a_flood_of_incoming_connections_is_cut_to_the_accept_rate() {
    let test = TestShell::new("flood");
    let t = now();
    let mut owner = Member::new(
        copy(&test.owner),
        shell(&test, TokenChain::owner()),
        config("owner"),
        t,
        ChaCha20Rng::seed_from_u64(3),
    )
    .unwrap();
    let conns: Vec<ConnId> = (0..3 * ACCEPT_RATE)
        .map(|_| owner.handle_connected(t, None, &[1; 32]))
        .collect();
    let mut closed = BTreeSet::new();
    while let Some(o) = owner.poll_output() {
        if let Output::Close { conn } = o {
            closed.insert(conn);
        }
    }
    assert_eq!(closed.len(), 2 * ACCEPT_RATE as usize);
    // A second later as many again are taken.
    let later = t.saturating_add(Duration::from_secs(1));
    let taken = (0..2 * ACCEPT_RATE)
        .map(|_| owner.handle_connected(later, None, &[1; 32]))
        .count();
    let mut closed_later = 0;
    while let Some(o) = owner.poll_output() {
        closed_later += usize::from(matches!(o, Output::Close { .. }));
    }
    assert_eq!(taken - closed_later, ACCEPT_RATE as usize);
    // Garbage on a handshaking connection fails it without harm; on an unknown one it is
    // ignored.
    assert_eq!(
        owner.handle_message(later, conns[0], b"\xff\x00garbage"),
        None
    );
    assert_eq!(owner.handle_message(later, ConnId(9999), b"x"), None);
    let mut refused = false;
    while let Some(o) = owner.poll_output() {
        refused |= matches!(o, Output::Event(Event::Refused { .. }));
    }
    assert!(refused);
    assert_eq!(owner.role(later), Ok(Role::Owner));
}

#[test]
fn a_link_ends_when_the_members_chain_expires_and_no_new_link_is_made() {
    let test = TestShell::new("expiry");
    let mut sim = Sim::new(now());
    sim.add(
        copy(&test.owner),
        shell(&test, TokenChain::owner()),
        config("owner"),
    );
    let id = Identity::generate(&mut rand_core::OsRng);
    let expires = sim.now().saturating_add(Duration::from_secs(6));
    let chain = test.chain(id.peer_id(), Role::Member, Some(expires));
    sim.add(id, shell(&test, chain), config("brief"));
    sim.advance(Duration::from_secs(5));
    assert!(sim.linked(0, 1));
    sim.advance(Duration::from_secs(1));
    assert!(!sim.linked(0, 1), "the link ends at the expiry");
    assert_eq!(
        link_downs(&sim, 0),
        vec![("brief".to_owned(), LinkEnd::Expired)]
    );
    sim.advance(Duration::from_secs(60));
    assert!(!sim.linked(0, 1));
}

#[test]
fn news_heard_second_hand_travels_on_at_once_and_reaches_everyone_by_the_periodic_sync() {
    let (_test, mut sim) = shell_of(29);
    sim.advance(Duration::from_secs(60));
    assert!(sim.fully_linked());
    // Member 1 can reach member 2 only; its news travels on from there.
    for i in 3..sim.len() {
        sim.partition(1, i);
    }
    sim.partition(0, 1);
    let sent_before = sim.sent.0;
    let t = sim.now();
    sim.member_mut(1)
        .member
        .set_presence(syncshell_phonebook::Presence::Away, t)
        .unwrap();
    sim.run();
    let m1 = sim.member(1).member.peer_id();
    let away = |sim: &Sim| -> Vec<usize> {
        (0..sim.len())
            .filter(|&i| {
                sim.member(i)
                    .member
                    .phonebook()
                    .get(&m1, sim.now())
                    .map(|e| e.presence())
                    == Some(syncshell_phonebook::Presence::Away)
            })
            .collect()
    };
    // At once, without time passing: member 2 heard it first-hand and started a sync on
    // NEWS_FANOUT of its other links, and each member told so tells others in turn (at
    // random, so who exactly is not fixed).
    let heard = away(&sim);
    let second_hand = heard.iter().filter(|&&i| i != 1 && i != 2).count();
    assert!(
        second_hand >= NEWS_FANOUT,
        "only {second_hand} members heard it second-hand: {heard:?}"
    );
    // Each member that heard it told a few others, not all of its 28 links.
    let messages = sim.sent.0 - sent_before;
    assert!(
        messages < 30 * 28,
        "{messages} messages for one piece of news"
    );
    // Anyone the random draws missed hears it at the next periodic sync.
    sim.advance(Config::default().sync_interval);
    assert_eq!(away(&sim), (0..sim.len()).collect::<Vec<_>>());
}

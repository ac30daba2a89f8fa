//! Members on different hosts, behind NATs, through STUN and TURN: the network lab
//! (`syncshell_examples::netlab`) builds a public side with the relay (`wss://`) and coturn,
//! and homes behind routers of every NAT kind. For each pair of networks two
//! `syncshell-node` processes form a shell by invite through the relay, and the joiner
//! receives a 64 MiB shared folder byte for byte; the path each link took is checked where
//! the NAT kinds decide it.
//!
//! Needs root, iproute2, nftables and coturn; without them each test reports itself skipped,
//! unless `SYNCSHELL_REQUIRE_NETNS` is set (CI sets it), in which case it fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stdout
)]

use serde_json::Value;
use syncshell_examples::netlab::matrix::{self, Net, Programs, World, PACK};
use syncshell_examples::netlab::{Host, Lab, NatKind, Turn};

#[path = "support/node_proc.rs"]
mod node_proc;

use node_proc::NodeProc;

/// What the path between the two members must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Direct,
    Relayed,
    /// Either: the NAT kinds do not decide it.
    Any,
}

/// The lab with coturn and the relay running, or `None` where the lab cannot run (skipped).
fn world() -> Option<World> {
    let lab = Lab::for_test().unwrap()?;
    let programs = Programs {
        node: env!("CARGO_BIN_EXE_syncshell-node").into(),
        signal: env!("CARGO_BIN_EXE_syncshell-signal").into(),
    };
    Some(World::start(lab, programs).unwrap())
}

/// A node named `name` on `host` of `world`, for a test.
fn node(world: &World, name: &str, host: &Host, extra: &[&str]) -> NodeProc {
    world.node(name, host, extra).unwrap().into()
}

/// Two members on `a` and `b`: the first creates a shell and shares a 64 MiB folder, the
/// second joins by invite and receives it byte for byte; the link's path is `expect`.
fn share_across(a: Net, b: Net, expect: Expect) {
    let Some(mut world) = world() else {
        return;
    };
    let (shared, owner, joiner) =
        matrix::share_across(&mut world, a, b, &PACK).unwrap_or_else(|e| panic!("{e}"));
    println!(
        "{a} <-> {b}: joiner {}\nowner {}\nreceived {}",
        shared.joiner_link, shared.owner_link, shared.received
    );
    assert!(
        shared.identical,
        "{a} <-> {b}: the folder arrived different"
    );
    for link in [&shared.joiner_link, &shared.owner_link] {
        let relayed = link["relayed"]
            .as_bool()
            .unwrap_or_else(|| panic!("no path in {link}"));
        match expect {
            Expect::Direct => assert!(!relayed, "{a} <-> {b} went through TURN: {link}"),
            Expect::Relayed => assert!(relayed, "{a} <-> {b} did not use TURN: {link}"),
            Expect::Any => {}
        }
    }
    NodeProc::from(joiner).quit();
    NodeProc::from(owner).quit();
}

use NatKind::{EndpointIndependent as Eim, Symmetric as Sym, UdpBlocked as NoUdp};

#[test]
fn two_endpoint_independent_homes_punch_through_directly() {
    share_across(Net::Home(Eim), Net::Home(Eim), Expect::Direct);
}

#[test]
fn a_public_member_and_an_endpoint_independent_home_connect_directly() {
    share_across(Net::Public, Net::Home(Eim), Expect::Direct);
}

#[test]
fn a_public_member_and_a_symmetric_home_connect_directly() {
    share_across(Net::Public, Net::Home(Sym), Expect::Direct);
}

#[test]
fn an_endpoint_independent_and_a_symmetric_home_connect() {
    share_across(Net::Home(Eim), Net::Home(Sym), Expect::Any);
}

#[test]
fn two_symmetric_homes_connect_through_turn() {
    share_across(Net::Home(Sym), Net::Home(Sym), Expect::Relayed);
}

#[test]
fn a_udp_blocked_home_reaches_a_public_member_through_turn_over_tcp() {
    share_across(Net::Public, Net::Home(NoUdp), Expect::Relayed);
}

#[test]
fn a_udp_blocked_home_reaches_an_endpoint_independent_home_through_turn() {
    share_across(Net::Home(NoUdp), Net::Home(Eim), Expect::Relayed);
}

#[test]
fn a_udp_blocked_home_reaches_a_symmetric_home_through_turn() {
    share_across(Net::Home(Sym), Net::Home(NoUdp), Expect::Relayed);
}

#[test]
fn two_udp_blocked_homes_connect_through_turn_over_tcp() {
    share_across(Net::Home(NoUdp), Net::Home(NoUdp), Expect::Relayed);
}

/// Lines of coturn's log that record a TURN allocation made with `peer`'s credentials.
fn allocations_of(turn: &Turn, peer: &str) -> usize {
    turn.log()
        .unwrap()
        .lines()
        .filter(|l| l.contains(peer) && l.contains("ALLOCATE processed, success"))
        .count()
}

/// A member revoked by the owner loses its relay connection and its link, gets no TURN
/// credentials again (restarted, the relay refuses it before it could ask), and so makes no
/// TURN allocation any more: it reaches nobody, through coturn or otherwise.
#[test]
fn a_revoked_member_gets_no_turn_credentials_and_reaches_nobody() {
    let Some(mut world) = world() else {
        return;
    };
    let (ha, hb) = (
        world.host(Net::Home(Sym)).unwrap(),
        world.host(Net::Home(Sym)).unwrap(),
    );
    let mut owner = node(&world, "Ava", &ha, &["--create-shell", "Revocation"]);
    owner.event("ready");
    owner.cmd("invite");
    let invite = owner.event("invite")["text"].as_str().unwrap().to_owned();
    let mut member = node(&world, "Mira", &hb, &["--invite", &invite]);
    member.event("joined");
    let peer = member.event("ready")["peer"].as_str().unwrap().to_owned();
    // Two symmetric homes connect only through TURN: the member had credentials.
    let up = member.event("link-up");
    assert_eq!(up["relayed"], true, "{up}");
    owner.event("link-up");
    assert!(allocations_of(world.turn(), &peer) > 0);

    owner.cmd(&format!("revoke {peer}"));
    owner.event("revoked");
    // The link goes down as the revocation is applied, before the command answers.
    let is_down = |v: &Value| v["event"] == "link-down" && v["peer"] == peer.as_str();
    let down = match owner.seen.iter().find(|v| is_down(v)) {
        Some(v) => v.clone(),
        None => owner.wait("the member's link-down", is_down),
    };
    assert_eq!(down["why"], "revoked", "{down}");
    let lost = member.event("signal-lost");
    assert!(
        lost["error"].as_str().unwrap().contains("Revoked"),
        "{lost}"
    );
    let before = allocations_of(world.turn(), &peer);

    // Restarted, the member is refused by the relay: no credentials, no allocation, no link.
    drop(member);
    let mut again = node(&world, "Mira", &hb, &[]);
    let refused = again.event("error");
    assert!(
        refused["message"].as_str().unwrap().contains("Revoked"),
        "{refused}"
    );
    assert!(!again.seen.iter().any(|v| v["event"] == "link-up"));
    assert_eq!(allocations_of(world.turn(), &peer), before);
    let status = owner.status();
    assert!(status["links"].as_array().unwrap().is_empty(), "{status}");
}

/// With `--relay-only` on both ends, two members that could reach each other directly (both
/// public) connect only through coturn: each end of the path is a relay candidate.
#[test]
fn relay_only_members_connect_through_turn_even_when_direct_would_work() {
    let Some(mut world) = world() else {
        return;
    };
    let (ha, hb) = (
        world.host(Net::Public).unwrap(),
        world.host(Net::Public).unwrap(),
    );
    let mut owner = node(
        &world,
        "Ava",
        &ha,
        &["--create-shell", "Private", "--relay-only"],
    );
    owner.event("ready");
    owner.cmd("invite");
    let invite = owner.event("invite")["text"].as_str().unwrap().to_owned();
    let mut member = node(&world, "Mira", &hb, &["--invite", &invite, "--relay-only"]);
    member.event("joined");
    for link in [member.event("link-up"), owner.event("link-up")] {
        assert_eq!(link["local"], "relay", "{link}");
        assert_eq!(link["remote"], "relay", "{link}");
    }
    member.quit();
    owner.quit();
}

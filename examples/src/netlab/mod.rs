//! A small internet in Linux network namespaces, for tests that must show members connecting
//! across NATs: public hosts, homes behind NAT routers of several kinds, and a TURN relay
//! (coturn), all driven through `ip`, `nft` and `turnserver` by [`std::process::Command`].
//!
//! Needs root, iproute2 (`ip`, `ss`), procps (`sysctl`), nftables (`nft`) and coturn
//! (`turnserver`).
//! [`Lab::new`] says [`LabError::Unavailable`] when they are missing; [`Lab::for_test`] turns
//! that into a skip, unless `SYNCSHELL_REQUIRE_NETNS` is set (CI sets it), in which case the
//! test fails.
//!
//! # Topology
//!
//! ```text
//!                      ┌──────────── core ─────────────┐  routes between all links,
//!                      │ c0 .1    c1 .5     c2 .9   ...│  ip_forward on, no NAT
//!                      └──┬────────┬─────────┬─────────┘
//!        203.0.113.0/30   │        │         │   203.0.113.8/30
//!                    eth0 .2   wan .6     wan .10
//!                  public host  home 1      home 2        nftables: NAT + WAN filter
//!                 (relay, TURN) router      router
//!                              lan bridge   lan bridge
//!                              192.168.1.1  192.168.2.1
//!                               │    │        │
//!                          eth0 .10  .11     .10
//!                          home host ...    home host
//! ```
//!
//! Every namespace has `lo` up and IPv6 off, so the only addresses a program sees are the
//! ones below.
//!
//! # Address plan
//!
//! - Attachments to the core (public hosts and home routers, in the order they are added) get
//!   point-to-point links: the `k`-th (from 0) is `203.0.113.4k/30`, the core's end
//!   `203.0.113.4k+1` (interface `c<k>`), the far end `203.0.113.4k+2`, which is the public
//!   host's address or the router's public address. At most 64 attachments per lab.
//! - Home `n` (from 1, in the order homes are added) is `192.168.n.0/24` unless
//!   [`Lab::add_home_on_subnet`] picks the subnet (two homes may share one, as real homes
//!   do). The router is `.1` on a bridge `lan`; its hosts are `.10`, `.11`, ... each on its own
//!   veth (`eth0` in the host, `h<j>` on the bridge).
//! - Each lab has its own namespaces, so parallel labs use the same addresses without meeting.
//!   Nothing is routed to or from the machine's own namespace.
//!
//! # NAT kinds and the WAN filter
//!
//! See [`NatKind`]: plain `masquerade` (endpoint-independent), `masquerade random`
//! (symmetric), and a router that drops outgoing UDP. Every router drops unsolicited inbound
//! packets at `input` and `forward` as a home router does; without that an unsolicited packet
//! leaves a conntrack entry that later changes the mapping hole punching relies on. Linux NAT
//! does not hairpin: two hosts of one home reach each other on the LAN, not through the
//! router's public address.
//!
//! # Links
//!
//! Every host and router reaches the next hop over its own veth pair ([`Host::link`]), so a
//! home's WAN link can later be shaped on its two ends (rate with `tc`, loss with nftables).
//! The veths pass packets of at most 1500 bytes (`gso_max_size` and `gro_max_size` 1500), as
//! a real link carries them: otherwise TCP's 64 KiB offload batches, sent as one or merged on
//! arrival, cross the core as one packet, and a loss rule drops some 45 segments at once
//! (UDP datagrams are never merged, so the loss would hit TCP far less often). TCP without
//! those offloads moves about 100 MiB/s between two namespaces here.
//!
//! [`Lab::shape`] makes the core behave like a real path between any two attachments: random
//! loss, a rate limit with a tail-drop queue, and a delay (a TUN device and two threads of
//! this process, since the kernel here has no `netem`). [`links`] moves bytes across such a
//! path over TCP and over syncshell's WebRTC transport, both ends in this process on threads
//! inside the hosts' namespaces ([`spawn_in`]).
//!
//! # Cleaning up
//!
//! Namespaces are named `ssnl<pid>-<lab>-<role>`. Dropping the [`Lab`] kills every process
//! still running in its namespaces (processes outlive `ip netns del`), then deletes them and its
//! temporary folder; this also happens when a test panics. A new lab also removes what labs of
//! processes that no longer exist left behind (a killed test).

mod lab;
pub mod links;
pub mod matrix;
mod nat;
mod netns;
mod node;
mod process;
mod shape;
mod turn;

use std::fmt;

pub use lab::{Home, Host, Lab, Link, LinkEnd, Protocol};
pub use nat::NatKind;
pub use netns::{enter, join, spawn_in};
pub use node::NodeProcess;
pub use shape::Shape;
pub use turn::{Turn, TURN_PORT, TURN_REALM};

/// The environment variable that makes an unavailable lab a test failure instead of a skip.
pub const REQUIRE_VAR: &str = "SYNCSHELL_REQUIRE_NETNS";

/// What went wrong while building or running a lab.
#[derive(Debug)]
#[non_exhaustive]
pub enum LabError {
    /// The lab cannot run on this machine (not root, a tool missing, namespaces not allowed):
    /// tests skip, see [`Lab::for_test`].
    Unavailable(String),
    /// A command failed: which one, and its exit status with its stderr.
    Command {
        /// The command line.
        command: String,
        /// Why it failed: its exit status and stderr, or why it did not start.
        detail: String,
    },
    /// Something did not become ready in time (a port, a log line).
    Timeout(String),
    /// The lab cannot grow that way (more than 64 attachments, 200 hosts in a home).
    Limit(String),
    /// A file of the lab could not be written or read.
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        error: std::io::Error,
    },
}

impl fmt::Display for LabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabError::Unavailable(reason) => write!(f, "the network lab cannot run here: {reason}"),
            LabError::Command { command, detail } => write!(f, "`{command}` failed: {detail}"),
            LabError::Timeout(what) => write!(f, "timed out: {what}"),
            LabError::Limit(what) => write!(f, "lab limit: {what}"),
            LabError::Io { context, error } => write!(f, "{context}: {error}"),
        }
    }
}

impl std::error::Error for LabError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LabError::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// For a test that cannot run here because of `reason` (the lab is unavailable, or a tool the
/// test itself needs is missing): prints `SKIPPED: <reason>` and returns `Ok(())`, after which
/// the test returns; when `SYNCSHELL_REQUIRE_NETNS` is set, returns
/// [`LabError::Unavailable`] instead, for the test to fail with.
pub fn skip_unless_required(reason: &str) -> Result<(), LabError> {
    if std::env::var_os(REQUIRE_VAR).is_some() {
        return Err(LabError::Unavailable(format!(
            "{reason} ({REQUIRE_VAR} is set, so this is a failure)"
        )));
    }
    // Telling the person running the tests that a test did not run is this function's job.
    #[allow(clippy::print_stderr)]
    {
        eprintln!("SKIPPED: {reason}");
    }
    Ok(())
}

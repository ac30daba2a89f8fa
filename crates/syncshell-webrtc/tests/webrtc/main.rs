//! Integration tests of syncshell-webrtc over real WebRTC on 127.0.0.1 only (no STUN, no
//! mDNS): the shared transport suite, lifecycle and leaks, killed peers, and the dependency
//! rule.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "../../../syncshell-transport/tests/transport/suite.rs"]
mod suite;

mod lifecycle;
mod trickle;

use std::time::Duration;

use syncshell_transport::{Faults, MemNetwork, MemSignaling, Transport};
use syncshell_webrtc::{WebRtcConfig, WebRtcConnection, WebRtcTransport};

/// Settings for tests: loopback only, and short liveness so a killed peer is noticed soon.
pub(crate) fn test_config() -> WebRtcConfig {
    let mut c = WebRtcConfig::default();
    c.bind_addresses = vec!["127.0.0.1:0".to_owned()];
    c.liveness_timeout = Duration::from_secs(3);
    c
}

/// Two transports on a fresh in-memory signaling hub.
pub(crate) fn endpoints() -> (WebRtcTransport<MemSignaling>, WebRtcTransport<MemSignaling>) {
    let hub = MemNetwork::new(1, Faults::default());
    (
        WebRtcTransport::new(hub.signaling("a"), "a", test_config()),
        WebRtcTransport::new(hub.signaling("b"), "b", test_config()),
    )
}

/// A connected pair.
pub(crate) async fn pair(
    a: &WebRtcTransport<MemSignaling>,
    b: &WebRtcTransport<MemSignaling>,
) -> (WebRtcConnection, WebRtcConnection) {
    let (x, y) = tokio::join!(a.connect("b"), b.accept());
    (x.unwrap(), y.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_over_webrtc() {
    let start = std::time::Instant::now();
    suite::run_all(|| async {
        let (a, b) = endpoints();
        pair(&a, &b).await
    })
    .await;
    eprintln!("suite over WebRTC took {:?}", start.elapsed());
}

#[test]
fn depends_on_no_syncshell_crate_but_transport() {
    let manifest = include_str!("../../Cargo.toml");
    let deps: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.split(['.', ' ', '=']).next())
        .filter(|name| name.starts_with("syncshell-"))
        .collect();
    assert_eq!(deps, ["syncshell-transport"], "{manifest}");
}

/// Every step of the set-up is recorded on both ends, each no earlier than the one it needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_times_record_every_step_in_order() {
    let (a, b) = endpoints();
    let (x, y) = pair(&a, &b).await;
    for end in [&x, &y] {
        let t = end.setup_times();
        let steps = [
            t.created,
            t.described,
            t.ice_connected,
            t.dtls_connected,
            t.channels_open,
            t.ready,
        ];
        assert!(steps.iter().all(Option::is_some), "{t:?}");
        assert!(steps.windows(2).all(|w| w[0] <= w[1]), "{t:?}");
        // Without trickle the description goes out only once gathering completed.
        assert!(
            t.gathered.is_some() && t.gathered <= t.ice_connected,
            "{t:?}"
        );
    }
    use syncshell_transport::Connection;
    x.close().await;
    y.close().await;
}

/// On loopback ICE selects a pair of host candidates: both ends report a direct path
/// between 127.0.0.1 addresses, mirrored, and a round-trip time from the ICE checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_show_the_selected_path_and_rtt() {
    use syncshell_transport::{CandidateKind, Connection};
    let (a, b) = endpoints();
    let (x, y) = pair(&a, &b).await;
    let (px, py) = (x.stats().path.unwrap(), y.stats().path.unwrap());
    for p in [px, py] {
        assert!(!p.is_relayed());
        for c in [p.local, p.remote] {
            assert_eq!(c.kind, CandidateKind::Host, "{p}");
            assert_eq!(c.address.ip(), std::net::Ipv4Addr::LOCALHOST, "{p}");
        }
    }
    assert_eq!((px.local, px.remote), (py.remote, py.local));
    assert!(x.stats().rtt.is_some() || y.stats().rtt.is_some());
    x.close().await;
    y.close().await;
}

/// Relay-only offers no host candidate: with no TURN server there is nothing to connect
/// over, so connecting fails (by its timeout) even on loopback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_only_without_a_turn_server_never_connects_directly() {
    let hub = MemNetwork::new(1, Faults::default());
    let mut config = test_config();
    config.relay_only = true;
    config.connect_timeout = Duration::from_secs(2);
    let a = WebRtcTransport::new(hub.signaling("a"), "a", config.clone());
    let b = WebRtcTransport::new(hub.signaling("b"), "b", config);
    // The answerer may never even see an offer; either way nothing connects.
    let accepted = async {
        match tokio::time::timeout(Duration::from_secs(3), b.accept()).await {
            Ok(r) => r.is_ok(),
            Err(_) => false,
        }
    };
    let (x, y) = tokio::join!(a.connect("b"), accepted);
    assert!(x.is_err() && !y);
}

/// The ICE server list is checked when replaced: a bad one is refused with its reason and
/// the old list stays.
#[test]
fn replacing_ice_servers_checks_them_first() {
    use syncshell_webrtc::IceServer;
    let (a, _b) = endpoints();
    let good = vec![
        IceServer::stun("stun:10.0.0.1:3478"),
        IceServer::turn("turn:10.0.0.1:3478?transport=tcp", "1:me", "pw"),
    ];
    a.set_ice_servers(good.clone()).unwrap();
    assert_eq!(a.ice_servers(), good);
    for (bad, why) in [
        (IceServer::turn("turn:10.0.0.1", "", ""), "user name"),
        (IceServer::turn("turns:10.0.0.1", "u", "p"), "TLS"),
        (IceServer::stun("http://10.0.0.1"), "http://10.0.0.1"),
        (
            IceServer::turn("turn:10.0.0.1?transport=sctp", "u", "p"),
            "transport",
        ),
        (IceServer::default(), "no URL"),
    ] {
        let err = a.set_ice_servers(vec![bad]).unwrap_err().to_string();
        assert!(err.contains(why), "{err}");
    }
    assert_eq!(a.ice_servers(), good);
}

//! Shaped links (`Lab::shape`): the delay line adds the round trip it promises, the rate limit
//! and the loss rule act, and transfers over such paths arrive whole and intact, over TCP and
//! over syncshell's WebRTC transport. How fast is the report's business
//! (`syncshell-netlab links`), not these tests'.
//!
//! Needs root, iproute2 (`ip`, `tc`) and nftables; without them each test reports itself
//! skipped, unless `SYNCSHELL_REQUIRE_NETNS` is set (CI sets it), in which case it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use syncshell_examples::netlab::links::{self, Transfer};
use syncshell_examples::netlab::{Host, Lab, Shape};
use syncshell_webrtc::WebRtcConfig;

const MIB: u64 = 1024 * 1024;
/// Longer than any of these transfers takes even on a slow machine; a transfer that hits it
/// has stalled.
const LIMIT: Duration = Duration::from_secs(180);

/// Two public hosts whose path through the core is shaped by `shape`.
fn shaped(shape: Shape) -> Option<(Lab, Host, Host)> {
    let mut lab = Lab::for_test().unwrap()?;
    let a = lab.add_public_host().unwrap();
    let b = lab.add_public_host().unwrap();
    lab.shape(&shape).unwrap();
    Some((lab, a, b))
}

fn assert_whole(what: &str, t: &Transfer) {
    assert!(
        t.finished(),
        "{what}: {} of {} bytes arrived in {:?}, intact: {}",
        t.received,
        t.bytes,
        t.elapsed,
        t.intact
    );
}

#[test]
fn the_delay_line_adds_its_round_trip_and_the_rate_limit_holds() {
    let shape = Shape {
        one_way_delay: Duration::from_millis(10),
        rate_kbit: Some(20_000),
        queue: Duration::from_millis(50),
        ..Shape::default()
    };
    let Some((_lab, a, b)) = shaped(shape) else {
        return;
    };
    let (t, _) = links::tcp(&a, &b, 4 * MIB, None, LIMIT).unwrap();
    assert_whole("TCP through the delay line", &t);
    // A TCP connect is one round trip: SYN out, SYN-ACK back, each held 10 ms.
    assert!(
        t.connect >= shape.rtt(),
        "connected in {:?}, under the {:?} round trip",
        t.connect,
        shape.rtt()
    );
    // 20 Mbit/s is 2.38 MiB/s; the token bucket's burst allows a little more at the start.
    assert!(
        t.mib_per_s() < 2.7,
        "{:.2} MiB/s through a 20 Mbit/s limit",
        t.mib_per_s()
    );
}

#[test]
fn random_loss_drops_packets_and_tcp_still_delivers_everything() {
    let Some((lab, a, b)) = shaped(Shape {
        loss_basis_points: 100,
        ..Shape::default()
    }) else {
        return;
    };
    assert_eq!(lab.shape_dropped().unwrap(), 0);
    // Reno, which every kernel has: the baseline's congestion control is the caller's choice.
    let (t, congestion) = links::tcp(&a, &b, 16 * MIB, Some("reno"), LIMIT).unwrap();
    assert_eq!(congestion, "reno");
    assert_whole("TCP (reno) at 1 % loss", &t);
    // 16 MiB is over 11,000 full-size packets: 1 % of them is over 100.
    let dropped = lab.shape_dropped().unwrap();
    assert!(dropped > 20, "the loss rule dropped {dropped} packets");
}

#[test]
fn webrtc_delivers_every_byte_intact_over_a_lossy_delayed_rate_limited_link() {
    let Some((lab, a, b)) = shaped(Shape {
        loss_basis_points: 100,
        one_way_delay: Duration::from_millis(10),
        rate_kbit: Some(100_000),
        queue: Duration::from_millis(50),
    }) else {
        return;
    };
    let config = WebRtcConfig::default();
    let t = links::webrtc(&a, &b, 8 * MIB, config.clone(), config, LIMIT).unwrap();
    assert_whole("WebRTC at 1 % loss and 20 ms", &t);
    assert!(
        t.connect >= Duration::from_millis(20),
        "connected in {:?}: ICE and DTLS take round trips",
        t.connect
    );
    assert!(
        lab.shape_dropped().unwrap() > 0,
        "the loss rule dropped nothing"
    );
}

#[test]
fn webrtc_delivers_every_byte_into_a_small_receive_buffer() {
    let Some((_lab, a, b)) = shaped(Shape::default()) else {
        return;
    };
    // Chromium's UDP receive buffer: SCTP's bursts overflow it, and the datagrams dropped
    // there are repaired like any other loss.
    let mut receiver = WebRtcConfig::default();
    receiver.socket_buffer_size = 64 * 1024;
    let t = links::webrtc(&a, &b, 16 * MIB, WebRtcConfig::default(), receiver, LIMIT).unwrap();
    assert_whole("WebRTC into a 64 KiB receive buffer", &t);
}

#[test]
fn webrtc_connects_and_delivers_every_byte_at_five_percent_loss() {
    let Some((lab, a, b)) = shaped(Shape {
        loss_basis_points: 500,
        ..Shape::default()
    }) else {
        return;
    };
    // ICE, DTLS and SCTP set-up all cross the lossy path too: a lost DTLS flight has to be
    // resent (third_party/rtc-dtls/PATCHES.md), or the connection never comes up.
    let config = WebRtcConfig::default();
    let t = links::webrtc(&a, &b, 8 * MIB, config.clone(), config, LIMIT).unwrap();
    assert_whole("WebRTC at 5 % loss", &t);
    // 8 MiB is over 7,000 packets: 5 % of them is over 350.
    let dropped = lab.shape_dropped().unwrap();
    assert!(dropped > 100, "the loss rule dropped {dropped} packets");
}

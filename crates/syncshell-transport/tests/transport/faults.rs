//! The in-memory backend's faults (ADVERSARIAL.md items 24-26): latency, jitter, bandwidth,
//! loss and duplication, kill, partition and heal, and the open/close lifecycle.

use std::time::Duration;

use bytes::Bytes;
use syncshell_transport::{Connection, Error, Faults, MemNetwork, Signaling, Transport};
use tokio::time::Instant;

use crate::mem_pair;

#[tokio::test(start_paused = true)]
async fn latency_jitter_and_bandwidth_delay_delivery_in_order() {
    let faults = Faults {
        latency: Duration::from_millis(50),
        jitter: Duration::from_millis(20),
        bandwidth: Some(1 << 20),
        ..Faults::default()
    };
    let (_n, a, b) = mem_pair(2, faults).await;
    let start = Instant::now();
    let (_, got) = tokio::join!(a.send(Bytes::from_static(b"ping")), b.recv());
    let one_way = start.elapsed();
    assert_eq!(got.unwrap().unwrap(), Bytes::from_static(b"ping"));
    assert!(
        one_way >= Duration::from_millis(50) && one_way <= Duration::from_millis(71),
        "{one_way:?}"
    );
    // 2 MiB at 1 MiB/s takes about two seconds of (virtual) time, and arrives in order.
    let start = Instant::now();
    let sender = async {
        for i in 0u8..32 {
            a.send(Bytes::from(vec![i; 64 * 1024])).await.unwrap();
        }
    };
    let receiver = async {
        for i in 0u8..32 {
            assert_eq!(b.recv().await.unwrap().unwrap()[0], i);
        }
    };
    tokio::join!(sender, receiver);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(1900) && took <= Duration::from_millis(2300),
        "{took:?}"
    );
}

async fn datagrams(seed: u64, faults: Faults) -> Vec<u32> {
    let (_n, a, b) = mem_pair(seed, faults).await;
    for i in 0u32..200 {
        a.send_unreliable(Bytes::copy_from_slice(&i.to_be_bytes()))
            .unwrap();
    }
    a.close().await;
    let mut got = Vec::new();
    while let Some(d) = b.recv_unreliable().await.unwrap() {
        got.push(u32::from_be_bytes(d[..4].try_into().unwrap()));
    }
    got
}

#[tokio::test(start_paused = true)]
async fn unreliable_channel_loses_duplicates_and_reorders_deterministically() {
    let faults = Faults {
        latency: Duration::from_millis(10),
        jitter: Duration::from_millis(30),
        loss: 0.2,
        duplicate: 0.1,
        ..Faults::default()
    };
    let got = datagrams(3, faults).await;
    let distinct: std::collections::BTreeSet<u32> = got.iter().copied().collect();
    assert!(
        distinct.len() > 120 && distinct.len() < 190,
        "{} of 200 arrived",
        distinct.len()
    );
    assert!(got.len() > distinct.len(), "some duplicated");
    assert!(got.windows(2).any(|w| w[0] > w[1]), "some reordered");
    // The same seed gives the same outcome.
    assert_eq!(datagrams(3, faults).await, got);
    assert_ne!(datagrams(4, faults).await, got);
    // Without faults the channel is perfect.
    assert_eq!(
        datagrams(5, Faults::default()).await,
        (0..200).collect::<Vec<_>>()
    );
}

#[tokio::test(start_paused = true)]
async fn killed_connections_fail_on_both_sides_and_can_be_reopened() {
    let net = MemNetwork::new(
        6,
        Faults {
            latency: Duration::from_millis(5),
            ..Faults::default()
        },
    );
    let (ta, tb) = (net.endpoint("a"), net.endpoint("b"));
    let (a, b) = tokio::join!(ta.connect("b"), tb.accept());
    let (a, b) = (a.unwrap(), b.unwrap());
    a.send(Bytes::from(vec![1u8; 300_000])).await.unwrap();
    // Kill mid-transfer: the receiver has not read it yet.
    net.kill_all("a");
    assert_eq!(b.recv().await, Err(Error::ConnectionLost));
    assert_eq!(
        a.send(Bytes::from_static(b"x")).await,
        Err(Error::ConnectionLost)
    );
    // A new connection works.
    let (a2, b2) = tokio::join!(ta.connect("b"), tb.accept());
    let (a2, b2) = (a2.unwrap(), b2.unwrap());
    a2.send(Bytes::from_static(b"again")).await.unwrap();
    assert_eq!(
        b2.recv().await.unwrap().unwrap(),
        Bytes::from_static(b"again")
    );
}

#[tokio::test(start_paused = true)]
async fn partition_breaks_and_refuses_until_heal() {
    let net = MemNetwork::new(7, Faults::default());
    let (ta, tb, tc) = (net.endpoint("a"), net.endpoint("b"), net.endpoint("c"));
    let (ab, ba) = tokio::join!(ta.connect("b"), tb.accept());
    let (ab, ba) = (ab.unwrap(), ba.unwrap());
    let (ac, ca) = tokio::join!(ta.connect("c"), tc.accept());
    let (ac, ca) = (ac.unwrap(), ca.unwrap());
    net.partition("a", "b");
    assert_eq!(ba.recv().await, Err(Error::ConnectionLost));
    assert_eq!(
        ab.send(Bytes::from_static(b"x")).await,
        Err(Error::ConnectionLost)
    );
    assert!(matches!(ta.connect("b").await, Err(Error::Unreachable(_))));
    // a-c is untouched.
    ac.send(Bytes::from_static(b"still here")).await.unwrap();
    assert!(ca.recv().await.unwrap().is_some());
    net.heal("a", "b");
    let (ab, ba) = tokio::join!(ta.connect("b"), tb.accept());
    ab.unwrap()
        .send(Bytes::from_static(b"healed"))
        .await
        .unwrap();
    assert_eq!(
        ba.unwrap().recv().await.unwrap().unwrap(),
        Bytes::from_static(b"healed")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_open_close_cycles_leave_nothing_behind() {
    let net = MemNetwork::new(8, Faults::default());
    let (ta, tb) = (net.endpoint("a"), net.endpoint("b"));
    let metrics = tokio::runtime::Handle::current().metrics();
    let tasks_before = metrics.num_alive_tasks();
    for i in 0..1000u32 {
        let (a, b) = tokio::join!(ta.connect("b"), tb.accept());
        let (a, b) = (a.unwrap(), b.unwrap());
        a.send(Bytes::copy_from_slice(&i.to_be_bytes()))
            .await
            .unwrap();
        assert!(b.recv().await.unwrap().is_some());
        // close() returns promptly even with a message in flight the other way.
        b.try_send(Bytes::from_static(b"unread")).unwrap();
        tokio::time::timeout(Duration::from_secs(1), a.close())
            .await
            .unwrap();
        b.close().await;
    }
    assert_eq!(metrics.num_alive_tasks(), tasks_before);
    // The network forgets dropped links (weak references are pruned on the next kill).
    net.kill_all("nobody");
}

#[tokio::test]
async fn signaling_hub_carries_blobs_between_named_endpoints() {
    let net = MemNetwork::new(9, Faults::default());
    let (a, b) = (net.signaling("a"), net.signaling("b"));
    a.send("b", Bytes::from_static(b"offer")).await.unwrap();
    assert_eq!(
        b.recv().await.unwrap(),
        ("a".to_owned(), Bytes::from_static(b"offer"))
    );
    assert!(matches!(
        a.send("nobody", Bytes::new()).await,
        Err(Error::Unreachable(_))
    ));
}

/// A signaling endpoint that never reads holds at most 256 blobs (as the relay's queue does);
/// further blobs are dropped instead of growing the hub's memory without bound.
#[tokio::test]
async fn a_signaling_endpoint_that_never_reads_holds_a_bounded_queue() {
    let net = MemNetwork::new(9, Faults::default());
    let (a, b) = (net.signaling("a"), net.signaling("b"));
    for i in 0..1000u32 {
        a.send("b", Bytes::copy_from_slice(&i.to_be_bytes()))
            .await
            .unwrap();
    }
    for i in 0..256u32 {
        assert_eq!(
            b.recv().await.unwrap().1,
            Bytes::copy_from_slice(&i.to_be_bytes())
        );
    }
    let more = tokio::time::timeout(std::time::Duration::from_millis(50), b.recv()).await;
    assert!(
        more.is_err(),
        "blob beyond the queue bound was kept: {more:?}"
    );
}

//! Connect/close cycles without leaks, killed peers, reconnecting, and datagrams.

use std::time::{Duration, Instant};

use bytes::Bytes;
use syncshell_transport::{Connection, Error};

use crate::{endpoints, pair};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_peer_ends_recv_in_bounded_time_and_reconnecting_works() {
    let (a, b) = endpoints();
    let (x, y) = pair(&a, &b).await;
    x.send(Bytes::from_static(b"before")).await.unwrap();
    assert_eq!(
        y.recv().await.unwrap().unwrap(),
        Bytes::from_static(b"before")
    );
    // Kill: drop the connection without closing its channels (its peer connection is
    // torn down behind the channels' back).
    drop(x);
    let t = Instant::now();
    let got = tokio::time::timeout(Duration::from_secs(10), y.recv())
        .await
        .expect("recv did not notice the killed peer within 10 s");
    eprintln!("killed peer noticed after {:?}: {got:?}", t.elapsed());
    assert!(
        matches!(got, Ok(None) | Err(Error::ConnectionLost)),
        "{got:?}"
    );
    assert!(y.send(Bytes::from_static(b"x")).await.is_err());
    y.close().await;
    // Both transports still work.
    let (x, y) = pair(&a, &b).await;
    y.send(Bytes::from_static(b"again")).await.unwrap();
    assert_eq!(
        x.recv().await.unwrap().unwrap(),
        Bytes::from_static(b"again")
    );
    x.close().await;
    y.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datagrams_arrive_and_oversized_ones_are_refused() {
    let (a, b) = endpoints();
    let (x, y) = pair(&a, &b).await;
    // Loopback rarely loses: send a few, expect at least one.
    for i in 0u8..10 {
        x.send_unreliable(Bytes::from(vec![i; 100])).unwrap();
    }
    let d = tokio::time::timeout(Duration::from_secs(5), y.recv_unreliable())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(d.len(), 100);
    assert!(matches!(
        x.send_unreliable(Bytes::from(vec![0; 1 << 20])),
        Err(Error::TooLarge { .. })
    ));
    x.close().await;
    y.close().await;
    assert_eq!(
        x.send_unreliable(Bytes::from_static(b"x")),
        Err(Error::Closed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_to_nobody_times_out_and_leaks_nothing() {
    let (a, _b) = endpoints();
    let mut config = crate::test_config();
    config.connect_timeout = Duration::from_millis(500);
    let hub = syncshell_transport::MemNetwork::new(2, syncshell_transport::Faults::default());
    let lonely = syncshell_webrtc::WebRtcTransport::new(hub.signaling("l"), "l", config);
    let _silent = hub.signaling("silent");
    let t = Instant::now();
    let r = syncshell_transport::Transport::connect(&lonely, "silent").await;
    assert!(r.is_err());
    assert!(t.elapsed() < Duration::from_secs(3));
    drop(a);
}

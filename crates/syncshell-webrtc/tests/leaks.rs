//! Connect/close cycles leak neither sockets nor tasks. Its own test binary, because open
//! file descriptors and tokio tasks are counted per process and other tests would disturb
//! the count.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use syncshell_transport::{Connection, Faults, MemNetwork, MemSignaling, Transport};
use syncshell_webrtc::{WebRtcConfig, WebRtcConnection, WebRtcTransport};

fn endpoints() -> (WebRtcTransport<MemSignaling>, WebRtcTransport<MemSignaling>) {
    let hub = MemNetwork::new(1, Faults::default());
    let config = WebRtcConfig::default(); // binds 127.0.0.1:0 only
    (
        WebRtcTransport::new(hub.signaling("a"), "a", config.clone()),
        WebRtcTransport::new(hub.signaling("b"), "b", config),
    )
}

async fn pair(
    a: &WebRtcTransport<MemSignaling>,
    b: &WebRtcTransport<MemSignaling>,
) -> (WebRtcConnection, WebRtcConnection) {
    let (x, y) = tokio::join!(a.connect("b"), b.accept());
    (x.unwrap(), y.unwrap())
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap()
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Polls (bounded) until the fd and task counts are back at or below `start`; returns what it
/// saw.
async fn settle(start: (usize, usize)) -> (usize, usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = (open_fds(), alive_tasks());
        if (now.0 <= start.0 && now.1 <= start.1) || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_connect_close_cycles_leak_nothing() {
    let (a, b) = endpoints();
    // One warm-up cycle, so lazily created process-wide state does not count as a leak.
    let (x, y) = pair(&a, &b).await;
    x.close().await;
    y.close().await;
    let start = settle((open_fds(), alive_tasks())).await;
    let start = (open_fds().min(start.0), alive_tasks().min(start.1));
    let t = Instant::now();
    for i in 0..50u32 {
        let (x, y) = pair(&a, &b).await;
        x.send(Bytes::from(i.to_be_bytes().to_vec())).await.unwrap();
        assert_eq!(y.recv().await.unwrap().unwrap()[..], i.to_be_bytes());
        // Alternate which side closes first.
        if i % 2 == 0 {
            x.close().await;
            assert_eq!(y.recv().await.unwrap(), None);
            y.close().await;
        } else {
            y.close().await;
            assert_eq!(x.recv().await.unwrap(), None);
            x.close().await;
        }
    }
    let end = settle(start).await;
    eprintln!(
        "50 cycles in {:?}; (fds, tasks) before {start:?}, after {end:?}",
        t.elapsed()
    );
    // Back to the starting counts; fewer is fine (something of the warm-up finished late).
    assert!(
        end.0 <= start.0 && end.1 <= start.1,
        "(open fds, alive tasks) after 50 cycles: {end:?}, before: {start:?}"
    );
}

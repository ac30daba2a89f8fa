//! syncshell-transport backends: bulk throughput of one reliable connection against a TCP
//! socket pair on 127.0.0.1 moving the same bytes in the same message sizes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use syncshell_transport::{Connection, Faults, MemNetwork, Transport};
use syncshell_webrtc::{WebRtcConfig, WebRtcTransport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

use crate::Ratio;

/// Message size of the throughput lines: 64 KiB.
pub const MESSAGE: usize = 64 * 1024;
/// Bytes moved per measurement: 32 MiB.
pub const TOTAL: usize = 32 * 1024 * 1024;
/// Measured rounds per backend (after one warm-up round); the median is reported.
pub const ROUNDS: usize = 3;

/// The runtime the transport lines run on: multi-thread, 2 workers.
pub fn runtime() -> Runtime {
    let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    else {
        unreachable!("a tokio runtime")
    };
    rt
}

/// A connected pair of one backend, sender first.
#[derive(Debug)]
pub struct Pair<C> {
    /// The sending end.
    pub tx: Arc<C>,
    /// The receiving end.
    pub rx: Arc<C>,
}

/// A WebRTC connection on 127.0.0.1 through the in-memory signaling hub.
pub async fn webrtc_pair(config: WebRtcConfig) -> Pair<syncshell_webrtc::WebRtcConnection> {
    let hub = MemNetwork::new(1, Faults::default());
    let alice = WebRtcTransport::new(hub.signaling("alice"), "alice", config.clone());
    let bob = WebRtcTransport::new(hub.signaling("bob"), "bob", config);
    let (a, b) = tokio::join!(alice.connect("bob"), bob.accept());
    match (a, b) {
        (Ok(a), Ok(b)) => Pair {
            tx: Arc::new(a),
            rx: Arc::new(b),
        },
        (a, b) => unreachable!(
            "a WebRTC connection on 127.0.0.1: {:?} {:?}",
            a.err(),
            b.err()
        ),
    }
}

/// An in-memory connection with default (perfect) faults.
pub async fn mem_pair() -> Pair<syncshell_transport::MemConnection> {
    let net = MemNetwork::new(2, Faults::default());
    let (alice, bob) = (net.endpoint("alice"), net.endpoint("bob"));
    let (a, b) = tokio::join!(alice.connect("bob"), bob.accept());
    match (a, b) {
        (Ok(a), Ok(b)) => Pair {
            tx: Arc::new(a),
            rx: Arc::new(b),
        },
        (a, b) => unreachable!("an in-memory connection: {:?} {:?}", a.err(), b.err()),
    }
}

/// Sends `total` bytes as messages of `message` bytes from `pair.tx` to `pair.rx` and returns
/// the time until the receiver has them all.
pub async fn move_bytes<C: Connection>(pair: &Pair<C>, message: usize, total: usize) -> Duration {
    let payload = Bytes::from(vec![0x5a; message]);
    let count = total / message;
    let (tx, rx) = (pair.tx.clone(), pair.rx.clone());
    let start = Instant::now();
    let sender = tokio::spawn(async move {
        for _ in 0..count {
            if tx.send(payload.clone()).await.is_err() {
                return false;
            }
        }
        true
    });
    let receiver = tokio::spawn(async move {
        let mut got = 0;
        while got < count * message {
            match rx.recv().await {
                Ok(Some(m)) => got += m.len(),
                _ => break,
            }
        }
        got
    });
    let (sent, got) = tokio::join!(sender, receiver);
    let elapsed = start.elapsed();
    assert!(
        matches!((sent, got), (Ok(true), Ok(n)) if n == count * message),
        "a transfer failed"
    );
    elapsed
}

/// A TCP socket pair on 127.0.0.1 (`TCP_NODELAY`), sender first.
pub async fn tcp_pair() -> (TcpStream, TcpStream) {
    let Ok(listener) = TcpListener::bind("127.0.0.1:0").await else {
        unreachable!("a listener on 127.0.0.1")
    };
    let Ok(addr) = listener.local_addr() else {
        unreachable!("the listener's address")
    };
    let (a, b) = tokio::join!(TcpStream::connect(addr), listener.accept());
    let (Ok(a), Ok((b, _))) = (a, b) else {
        unreachable!("a TCP connection on 127.0.0.1")
    };
    let _ = a.set_nodelay(true);
    let _ = b.set_nodelay(true);
    (a, b)
}

/// The baseline: the same messages over TCP, each a 4-byte big-endian length and its bytes,
/// read back into a fresh buffer per message.
pub async fn move_bytes_tcp(
    pair: &mut (TcpStream, TcpStream),
    message: usize,
    total: usize,
) -> Duration {
    let payload = Bytes::from(vec![0x5a; message]);
    let count = total / message;
    let Ok(len) = u32::try_from(message) else {
        unreachable!("a message under 4 GiB")
    };
    let (a, b) = (&mut pair.0, &mut pair.1);
    let start = Instant::now();
    let send = async {
        for _ in 0..count {
            a.write_all(&len.to_be_bytes()).await?;
            a.write_all(&payload).await?;
        }
        a.flush().await
    };
    let recv = async {
        let mut got = 0;
        for _ in 0..count {
            let mut header = [0u8; 4];
            b.read_exact(&mut header).await?;
            let mut buf = vec![0u8; u32::from_be_bytes(header) as usize];
            b.read_exact(&mut buf).await?;
            got += Bytes::from(buf).len();
        }
        Ok::<_, std::io::Error>(got)
    };
    let (sent, got) = tokio::join!(send, recv);
    let elapsed = start.elapsed();
    assert!(
        matches!((sent, got), (Ok(()), Ok(n)) if n == count * message),
        "the TCP transfer failed"
    );
    elapsed
}

fn mbps(total: usize, d: Duration) -> f64 {
    total as f64 / d.as_secs_f64() / 1e6
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Median throughputs in MB/s of WebRTC (with `config`), the in-memory backend and TCP, each
/// moving `total` bytes in messages of `message` bytes, in alternating rounds (one warm-up
/// round, then [`ROUNDS`]) so all three see the same machine state.
pub fn throughput(config: WebRtcConfig, message: usize, total: usize) -> (f64, f64, f64) {
    let rt = runtime();
    rt.block_on(async {
        let webrtc = webrtc_pair(config).await;
        let mem = mem_pair().await;
        let mut tcp = tcp_pair().await;
        let (mut w, mut m, mut t) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..=ROUNDS {
            let dw = move_bytes(&webrtc, message, total).await;
            let dm = move_bytes(&mem, message, total).await;
            let dt = move_bytes_tcp(&mut tcp, message, total).await;
            if round > 0 {
                w.push(mbps(total, dw));
                m.push(mbps(total, dm));
                t.push(mbps(total, dt));
            }
        }
        for c in [&webrtc.tx, &webrtc.rx] {
            c.close().await;
        }
        for c in [&mem.tx, &mem.rx] {
            c.close().await;
        }
        (median(w), median(m), median(t))
    })
}

/// The transport lines of the ratio report.
pub fn ratios() -> Vec<Ratio> {
    let (webrtc, mem, tcp) = throughput(WebRtcConfig::default(), MESSAGE, TOTAL);
    vec![
        Ratio::new("webrtc_vs_tcp_loopback", webrtc, tcp, "MB/s"),
        Ratio::new("mem_vs_tcp_loopback", mem, tcp, "MB/s"),
    ]
}

//! One transfer between two hosts of a lab, over TCP or over syncshell's WebRTC transport, with
//! both ends in this process (each on a thread inside its host's namespace, see
//! [`super::spawn_in`]). The shaped-link report compares the two over the same path in the same
//! run; the tests check that the bytes arrive, intact.
//!
//! The bytes are 64 KiB messages of a fixed pseudo-random pattern, each starting with its own
//! number, so a lost, repeated or reordered message changes the BLAKE3 hash of the stream the
//! receiver computes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};
use syncshell_transport::{Connection, Faults, MemNetwork, Transport};
use syncshell_webrtc::{WebRtcConfig, WebRtcTransport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;

use super::netns::{join, spawn_in};
use super::{Host, LabError, Shape};

/// Size of every message (and TCP write).
pub const MESSAGE: usize = 64 * 1024;
/// The TCP port the receiving host listens on.
const TCP_PORT: u16 = 5201;

/// What one transfer did.
#[derive(Clone, Debug, PartialEq)]
pub struct Transfer {
    /// Bytes the sender was to move.
    pub bytes: u64,
    /// Bytes that arrived before the time limit.
    pub received: u64,
    /// Whether everything arrived and its hash is the one sent.
    pub intact: bool,
    /// From the start of connecting until the connection was up (WebRTC: offer to open data
    /// channel; TCP: the three-way handshake).
    pub connect: Duration,
    /// From the sender's first byte until the receiver had the last (or the time limit).
    pub elapsed: Duration,
}

impl Transfer {
    /// Whether every byte arrived, intact.
    pub fn finished(&self) -> bool {
        self.intact && self.received == self.bytes
    }

    /// Throughput in MiB/s, of what arrived.
    pub fn mib_per_s(&self) -> f64 {
        self.received as f64 / 1_048_576.0 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The message with number `index`: its number (8 bytes, big-endian), then a pattern that
/// differs per message.
pub(super) fn message(index: u64) -> Bytes {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&index.to_be_bytes());
    let mut out = vec![0u8; MESSAGE];
    hasher.finalize_xof().fill(&mut out);
    if let Some(head) = out.get_mut(..8) {
        head.copy_from_slice(&index.to_be_bytes());
    }
    Bytes::from(out)
}

/// How many messages make `bytes` (rounded up to whole messages).
pub(super) fn count(bytes: u64) -> u64 {
    bytes.div_ceil(MESSAGE as u64)
}

/// The hash of the whole stream of `bytes` bytes.
fn expected_hash(bytes: u64) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    for i in 0..count(bytes) {
        hasher.update(&message(i));
    }
    hasher.finalize()
}

/// What the receiving end saw.
pub(super) struct Received {
    hasher: blake3::Hasher,
    /// Bytes so far.
    pub(super) received: u64,
    last_byte: Instant,
}

impl Received {
    pub(super) fn new() -> Received {
        Received {
            hasher: blake3::Hasher::new(),
            received: 0,
            last_byte: Instant::now(),
        }
    }

    /// Takes the next bytes of the stream.
    pub(super) fn take(&mut self, data: &[u8]) {
        self.hasher.update(data);
        self.received += data.len() as u64;
        self.last_byte = Instant::now();
    }
}

/// An I/O error of `context` as a [`LabError`].
pub(super) fn io(context: &str) -> impl FnOnce(std::io::Error) -> LabError + '_ {
    move |error| LabError::Io {
        context: context.to_owned(),
        error,
    }
}

/// Moves `bytes` (rounded up to whole 64 KiB messages) from `a` to `b` over TCP and waits at
/// most `limit` for them. The sender uses the congestion control `congestion` (`cubic`,
/// `bbr`, `reno`: what the kernel offers), or the system's default; the one it used is
/// returned with the transfer. It decides how TCP answers random loss: `bbr` hardly slows
/// down, `cubic` and `reno` cut their window on every loss.
pub fn tcp(
    a: &Host,
    b: &Host,
    bytes: u64,
    congestion: Option<&str>,
    limit: Duration,
) -> Result<(Transfer, String), LabError> {
    let congestion = congestion.map(str::to_owned);
    let bytes = count(bytes) * MESSAGE as u64;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let to = (b.addr(), TCP_PORT);
    let receiver = spawn_in(b.namespace(), move || async move {
        let listener = TcpListener::bind(to)
            .await
            .map_err(io("binding the TCP receiver"))?;
        let _ = ready_tx.send(());
        let (mut stream, _) = listener
            .accept()
            .await
            .map_err(io("accepting the TCP sender"))?;
        let mut got = Received::new();
        let mut buf = vec![0u8; MESSAGE];
        let read_all = async {
            while got.received < bytes {
                let n = stream.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                got.take(buf.get(..n).unwrap_or_default());
            }
            Ok::<(), std::io::Error>(())
        };
        let _ = tokio::time::timeout(limit, read_all).await;
        Ok(got)
    });
    ready_rx.recv().map_err(|_| LabError::Command {
        command: "the TCP receiver".to_owned(),
        detail: "it stopped before listening".to_owned(),
    })?;
    let sender = spawn_in(a.namespace(), move || async move {
        let socket = TcpSocket::new_v4().map_err(io("making a TCP socket"))?;
        let sock = socket2::SockRef::from(&socket);
        if let Some(name) = &congestion {
            sock.set_tcp_congestion(name.as_bytes())
                .map_err(io("setting the TCP congestion control"))?;
        }
        let used = sock
            .tcp_congestion()
            .map(|name| {
                String::from_utf8_lossy(&name)
                    .trim_end_matches('\0')
                    .to_owned()
            })
            .map_err(io("reading the TCP congestion control"))?;
        let start = Instant::now();
        let mut stream = socket
            .connect(to.into())
            .await
            .map_err(io("connecting to the TCP receiver"))?;
        let connect = start.elapsed();
        let first_byte = Instant::now();
        let write_all = async {
            for i in 0..count(bytes) {
                stream.write_all(&message(i)).await?;
            }
            stream.shutdown().await
        };
        let _ = tokio::time::timeout(limit, write_all).await;
        Ok((connect, first_byte, used))
    });
    let (connect, first_byte, used) = join(sender)?;
    let got = join(receiver)?;
    Ok((outcome(bytes, connect, first_byte, &got), used))
}

pub(super) fn outcome(
    bytes: u64,
    connect: Duration,
    first_byte: Instant,
    got: &Received,
) -> Transfer {
    Transfer {
        bytes,
        received: got.received,
        intact: got.received == bytes && got.hasher.finalize() == expected_hash(bytes),
        connect,
        elapsed: got.last_byte.saturating_duration_since(first_byte),
    }
}

/// Moves `bytes` (rounded up to whole 64 KiB messages) from `a` to `b` over one reliable
/// syncshell WebRTC connection, `a` dialling with `sender` and `b` accepting with `receiver`
/// (their bind addresses are set to the hosts' own), and waits at most `limit` for them.
pub fn webrtc(
    a: &Host,
    b: &Host,
    bytes: u64,
    sender: WebRtcConfig,
    receiver: WebRtcConfig,
    limit: Duration,
) -> Result<Transfer, LabError> {
    let bytes = count(bytes) * MESSAGE as u64;
    let hub = MemNetwork::new(1, Faults::default());
    let (a_signal, b_signal) = (hub.signaling("a"), hub.signaling("b"));
    let (a_addr, b_addr) = (a.addr(), b.addr());
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let webrtc_error = |e: syncshell_transport::Error| LabError::Command {
        command: "a WebRTC connection".to_owned(),
        detail: e.to_string(),
    };
    let receiving = spawn_in(b.namespace(), move || async move {
        let mut config = receiver;
        config.bind_addresses = vec![format!("{b_addr}:0")];
        let transport = WebRtcTransport::new(b_signal, "b", config);
        let conn = transport.accept().await.map_err(webrtc_error)?;
        let mut got = Received::new();
        let read_all = async {
            while got.received < bytes {
                match conn.recv().await {
                    Ok(Some(m)) => got.take(&m),
                    _ => break,
                }
            }
        };
        let _ = tokio::time::timeout(limit, read_all).await;
        let _ = done_tx.send(());
        conn.close().await;
        Ok(got)
    });
    let sending = spawn_in(a.namespace(), move || async move {
        let mut config = sender;
        config.bind_addresses = vec![format!("{a_addr}:0")];
        let transport = WebRtcTransport::new(a_signal, "a", config);
        let start = Instant::now();
        let conn = Arc::new(transport.connect("b").await.map_err(webrtc_error)?);
        let connect = start.elapsed();
        let first_byte = Instant::now();
        let tx = conn.clone();
        let send_all = async move {
            for i in 0..count(bytes) {
                if tx.send(message(i)).await.is_err() {
                    break;
                }
            }
        };
        // Sending ends when everything is handed over; the receiver says when it has it all.
        let _ = tokio::time::timeout(limit, send_all).await;
        let _ = tokio::time::timeout(limit, done_rx).await;
        conn.close().await;
        Ok((connect, first_byte))
    });
    let sent = join(sending);
    let got = join(receiving)?;
    let (connect, first_byte) = sent?;
    Ok(outcome(bytes, connect, first_byte, &got))
}

/// The report's line for one shape: TCP's transfer, then each named one with its throughput,
/// whether it finished, its ratio to TCP and its connect time.
pub fn report_line(shape: &Shape, tcp: &Transfer, others: &[(&str, &Transfer)]) -> Value {
    let ms = |d: Duration| (d.as_secs_f64() * 1e4).round() / 10.0;
    let rate = |t: &Transfer| (t.mib_per_s() * 100.0).round() / 100.0;
    let mut line = serde_json::Map::new();
    let mut put = |key: String, value: Value| {
        line.insert(key, value);
    };
    put(
        "loss_pct".into(),
        json!(f64::from(shape.loss_basis_points) / 100.0),
    );
    put("rtt_ms".into(), json!(shape.rtt().as_millis() as u64));
    put(
        "rate_mbit".into(),
        json!(shape.rate_kbit.map(|k| f64::from(k) / 1000.0)),
    );
    put(
        "queue_ms".into(),
        json!(shape.rate_kbit.map(|_| shape.queue.as_millis() as u64)),
    );
    put("mib".into(), json!(tcp.bytes / 1_048_576));
    put("tcp_mib_s".into(), json!(rate(tcp)));
    put("tcp_finished".into(), json!(tcp.finished()));
    for (name, t) in others {
        put(format!("{name}_mib_s"), json!(rate(t)));
        put(format!("{name}_finished"), json!(t.finished()));
        put(
            format!("{name}_ratio"),
            json!(((t.mib_per_s() / tcp.mib_per_s().max(1e-9)) * 1000.0).round() / 1000.0),
        );
        put(format!("{name}_connect_ms"), json!(ms(t.connect)));
        if !t.finished() {
            put(
                format!("{name}_received_mib"),
                json!((t.received as f64 / 1_048_576.0 * 10.0).round() / 10.0),
            );
        }
    }
    Value::Object(line)
}

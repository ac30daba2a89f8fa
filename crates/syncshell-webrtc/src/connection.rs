//! [`WebRtcConnection`]: the transport's `Connection` over two data channels.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use syncshell_transport::{split, Connection, Counters, Error, Reassembler, Result, Stats};
use tokio::sync::{mpsc, Mutex as AsyncMutex, TryAcquireError};
use tokio::task::JoinHandle;
use webrtc::data_channel::DataChannel;

use crate::link::{lock, Inbound, Link, LinkState, SetupTimes, Shared, CREDIT, DATA};

/// What one frame costs against the flow-control window beyond its bytes, so that a flood of
/// tiny messages is bounded too.
pub(crate) const FRAME_OVERHEAD: usize = 64;
/// Datagrams queued for sending before new ones are dropped, as a congested network would.
const DATAGRAM_SEND_QUEUE: usize = 256;

pub(crate) fn frame_cost(payload: usize) -> usize {
    payload + 1 + FRAME_OVERHEAD
}

/// One end of a WebRTC connection: a reliable ordered data channel carrying fragmented
/// messages under credit-based flow control, and an unreliable unordered one for datagrams.
///
/// Dropping it without [`Connection::close`] still releases its socket and tasks, but the
/// peer then sees a lost connection rather than a clean end.
pub struct WebRtcConnection {
    shared: Arc<Shared>,
    reliable: Arc<dyn DataChannel>,
    binding: Bytes,
    fragment_len: usize,
    max_datagram: usize,
    max_message: usize,
    window: usize,
    close_timeout: Duration,
    send_order: AsyncMutex<()>,
    frames: Mutex<Option<mpsc::UnboundedSender<BytesMut>>>,
    datagrams_out: Mutex<Option<mpsc::Sender<BytesMut>>>,
    recv: AsyncMutex<RecvSide>,
    datagrams_in: AsyncMutex<mpsc::Receiver<Bytes>>,
    link: AsyncMutex<Link>,
    writer: AsyncMutex<Option<JoinHandle<()>>>,
    counters: Counters,
}

struct RecvSide {
    rx: mpsc::Receiver<Inbound>,
    reassembler: Reassembler,
    /// Window bytes taken since the last credit frame.
    consumed: usize,
}

impl std::fmt::Debug for WebRtcConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebRtcConnection")
            .field("state", &self.shared.current())
            .field("fragment_len", &self.fragment_len)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Negotiated {
    pub(crate) binding: Bytes,
    pub(crate) sctp_max_message: usize,
    pub(crate) window: usize,
    pub(crate) max_message: usize,
    pub(crate) close_timeout: Duration,
}

impl WebRtcConnection {
    pub(crate) fn new(mut link: Link, n: Negotiated) -> Result<Self> {
        let inbound = link
            .inbound
            .take()
            .ok_or(Error::Protocol("connection built twice"))?;
        let datagrams_in = link
            .datagrams
            .take()
            .ok_or(Error::Protocol("connection built twice"))?;
        // Fragments stay at most 64 KiB (what every WebRTC stack accepts) and leave room for
        // the frame kind byte.
        let fragment_len = n
            .sctp_max_message
            .clamp(2, 64 * 1024)
            .saturating_sub(1)
            .max(2);
        let (frames_tx, frames_rx) = mpsc::unbounded_channel();
        let (dg_tx, dg_rx) = mpsc::channel(DATAGRAM_SEND_QUEUE);
        let writer = tokio::spawn(write_frames(
            link.reliable.clone(),
            link.shared.clone(),
            frames_rx,
        ));
        link.tasks.push(tokio::spawn(write_datagrams(
            link.unreliable.clone(),
            dg_rx,
        )));
        Ok(WebRtcConnection {
            shared: link.shared.clone(),
            reliable: link.reliable.clone(),
            binding: n.binding,
            fragment_len,
            // A datagram is one data-channel message, unframed, of at most a fragment's size.
            max_datagram: fragment_len,
            max_message: n.max_message,
            window: n.window,
            close_timeout: n.close_timeout,
            send_order: AsyncMutex::new(()),
            frames: Mutex::new(Some(frames_tx)),
            datagrams_out: Mutex::new(Some(dg_tx)),
            recv: AsyncMutex::new(RecvSide {
                rx: inbound,
                reassembler: Reassembler::new(n.max_message),
                consumed: 0,
            }),
            datagrams_in: AsyncMutex::new(datagrams_in),
            link: AsyncMutex::new(link),
            writer: AsyncMutex::new(Some(writer)),
            counters: Counters::default(),
        })
    }

    fn state_error(&self) -> Error {
        match self.shared.current() {
            LinkState::Lost => Error::ConnectionLost,
            _ => Error::Closed,
        }
    }

    /// What `recv` reports on a lost connection: why we ended it, if the peer broke the
    /// rules, else [`Error::ConnectionLost`].
    fn lost_error(&self) -> Error {
        self.shared.violation().unwrap_or(Error::ConnectionLost)
    }

    fn check_open(&self) -> Result<()> {
        match self.shared.current() {
            LinkState::Open => Ok(()),
            _ => Err(self.state_error()),
        }
    }

    fn push_frame(&self, kind: u8, payload: &[u8]) -> Result<()> {
        let mut frame = BytesMut::with_capacity(payload.len() + 1);
        frame.put_u8(kind);
        frame.put_slice(payload);
        let guard = lock(&self.frames);
        let tx = guard.as_ref().ok_or(Error::Closed)?;
        tx.send(frame).map_err(|_| self.state_error())
    }

    fn count_sent(&self, len: usize) {
        self.counters.sent(len);
    }

    /// How long each step of this connection's set-up took.
    pub fn setup_times(&self) -> SetupTimes {
        *lock(&self.shared.setup)
    }

    async fn lost(&self) {
        let mut rx = self.shared.state.subscribe();
        let _ = rx.wait_for(|s| *s == LinkState::Lost).await;
    }

    /// Returns once this end closed the connection: its own receives end then.
    async fn closed_here(&self) {
        let mut rx = self.shared.state.subscribe();
        let _ = rx.wait_for(|s| *s == LinkState::Closed).await;
    }
}

impl Connection for WebRtcConnection {
    async fn send(&self, message: Bytes) -> Result<()> {
        let fragments = split(&message, self.fragment_len, self.max_message)?;
        let _order = self.send_order.lock().await;
        self.check_open()?;
        for f in fragments {
            let cost = u32::try_from(frame_cost(f.len())).map_err(|_| Error::TooLarge {
                len: f.len(),
                max: self.fragment_len,
            })?;
            // Waits until the peer's reader has taken enough of what we sent before.
            match self.shared.credits.acquire_many(cost).await {
                Ok(permit) => permit.forget(),
                Err(_) => return Err(self.state_error()),
            }
            self.push_frame(DATA, &f)?;
        }
        self.count_sent(message.len());
        Ok(())
    }

    fn try_send(&self, message: Bytes) -> Result<()> {
        let fragments = split(&message, self.fragment_len, self.max_message)?;
        let Ok(_order) = self.send_order.try_lock() else {
            return Err(Error::WouldBlock);
        };
        self.check_open()?;
        let total: usize = fragments.iter().map(|f| frame_cost(f.len())).sum();
        // A message bigger than the whole window never fits at once: send() streams it.
        let total = u32::try_from(total).map_err(|_| Error::WouldBlock)?;
        match self.shared.credits.try_acquire_many(total) {
            Ok(permit) => permit.forget(),
            Err(TryAcquireError::NoPermits) => return Err(Error::WouldBlock),
            Err(TryAcquireError::Closed) => return Err(self.state_error()),
        }
        for f in fragments {
            self.push_frame(DATA, &f)?;
        }
        self.count_sent(message.len());
        Ok(())
    }

    async fn recv(&self) -> Result<Option<Bytes>> {
        let mut guard = self.recv.lock().await;
        let side = &mut *guard;
        loop {
            let item = tokio::select! {
                biased;
                () = self.closed_here() => return Ok(None),
                item = side.rx.recv() => item,
                () = self.lost() => return Err(self.lost_error()),
            };
            let fragment = match item {
                None => {
                    return match self.shared.current() {
                        LinkState::Lost => Err(self.lost_error()),
                        _ => Ok(None),
                    }
                }
                Some(Inbound::Closed) => return Ok(None),
                Some(Inbound::Fragment(f)) => f,
            };
            // Hand the window back in quarters (rounded down), so the sender rarely stalls.
            side.consumed += frame_cost(fragment.len());
            if side.consumed >= self.window / 4 {
                let grant = u32::try_from(side.consumed).unwrap_or(u32::MAX);
                side.consumed = 0;
                if self.push_frame(CREDIT, &grant.to_be_bytes()).is_ok() {
                    self.shared.grant_peer(grant as usize);
                }
            }
            match side.reassembler.push(&fragment) {
                Ok(Some(message)) => {
                    self.counters.received(message.len());
                    return Ok(Some(message));
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "peer broke the fragment rules; disconnecting it");
                    self.shared.fail(e.clone());
                    return Err(e);
                }
            }
        }
    }

    fn send_unreliable(&self, message: Bytes) -> Result<()> {
        if message.len() > self.max_datagram {
            return Err(Error::TooLarge {
                len: message.len(),
                max: self.max_datagram,
            });
        }
        self.check_open()?;
        let guard = lock(&self.datagrams_out);
        let tx = guard.as_ref().ok_or(Error::Closed)?;
        match tx.try_send(BytesMut::from(&message[..])) {
            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(self.state_error()),
        }
    }

    async fn recv_unreliable(&self) -> Result<Option<Bytes>> {
        let mut rx = self.datagrams_in.lock().await;
        tokio::select! {
            biased;
            () = self.closed_here() => Ok(None),
            d = rx.recv() => match d {
                Some(d) => Ok(Some(d)),
                None if self.shared.current() == LinkState::Lost => Err(Error::ConnectionLost),
                None => Ok(None),
            },
            () = self.lost() => Err(Error::ConnectionLost),
        }
    }

    fn channel_binding(&self) -> Bytes {
        self.binding.clone()
    }

    async fn close(&self) {
        let mut link = self.link.lock().await;
        if link.closed {
            return;
        }
        self.shared.end(LinkState::Closed);
        lock(&self.frames).take();
        lock(&self.datagrams_out).take();
        let mut writer = self.writer.lock().await;
        let grace = self.close_timeout;
        // Let the peer receive what was sent: drain our queue into SCTP, wait until the
        // peer acknowledged every byte (resetting the stream earlier can overtake the last
        // messages), then close the reliable channel and wait for the close to complete,
        // all bounded by the close timeout.
        let graceful = tokio::time::timeout(grace, async {
            if let Some(w) = writer.as_mut() {
                let _ = w.await;
            }
            while let Ok(n) = self.reliable.outstanding_bytes().await {
                if n == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let _ = self.reliable.close().await;
            if let Some(reader) = link.tasks.first_mut() {
                let _ = reader.await;
            }
        })
        .await;
        if graceful.is_err() {
            tracing::debug!("close did not finish gracefully in time");
        }
        if let Some(w) = writer.take() {
            if !w.is_finished() {
                w.abort();
                let _ = w.await;
            }
        }
        link.shut(grace).await;
    }

    /// With the selected path and ICE's round-trip time, read at most a second ago.
    fn stats(&self) -> Stats {
        let (path, rtt) = match *lock(&self.shared.path) {
            Some((path, rtt)) => (Some(path), rtt),
            None => (None, None),
        };
        self.counters.snapshot(rtt, path)
    }

    fn max_message_len(&self) -> usize {
        self.max_message
    }
}

impl Drop for WebRtcConnection {
    fn drop(&mut self) {
        if let Ok(mut w) = self.writer.try_lock() {
            if let Some(w) = w.take() {
                w.abort();
            }
        }
    }
}

/// The only sender on the reliable channel; parks while webrtc's send buffer is full.
async fn write_frames(
    dc: Arc<dyn DataChannel>,
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<BytesMut>,
) {
    while let Some(frame) = rx.recv().await {
        if let Err(e) = dc.send(frame).await {
            tracing::debug!(error = %e, "reliable send failed");
            shared.end(LinkState::Lost);
            return;
        }
    }
}

/// The only sender on the unreliable channel.
async fn write_datagrams(dc: Arc<dyn DataChannel>, mut rx: mpsc::Receiver<BytesMut>) {
    while let Some(d) = rx.recv().await {
        if let Err(e) = dc.send(d).await {
            tracing::debug!(error = %e, "datagram send failed");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::transport::{Fingerprint, CHANNEL_BINDING_LABEL};
    use crate::{WebRtcConfig, WebRtcTransport};
    use sha2::{Digest, Sha256};
    use syncshell_transport::{Faults, MemNetwork, MemSignaling, Transport};

    fn endpoints() -> (WebRtcTransport<MemSignaling>, WebRtcTransport<MemSignaling>) {
        let hub = MemNetwork::new(1, Faults::default());
        let config = WebRtcConfig {
            liveness_timeout: Duration::from_secs(3),
            ..WebRtcConfig::default() // 127.0.0.1 only
        };
        (
            WebRtcTransport::new(hub.signaling("a"), "a", config.clone()),
            WebRtcTransport::new(hub.signaling("b"), "b", config),
        )
    }

    /// The offerer's and the answerer's end of one connection.
    async fn pair(
        a: &WebRtcTransport<MemSignaling>,
        b: &WebRtcTransport<MemSignaling>,
    ) -> (WebRtcConnection, WebRtcConnection) {
        let (x, y) = tokio::join!(a.connect("b"), b.accept());
        (x.unwrap(), y.unwrap())
    }

    /// The `a=fingerprint` of an SDP.
    fn sdp_fingerprint(sdp: &str) -> Fingerprint {
        let line = sdp
            .lines()
            .find_map(|l| l.strip_prefix("a=fingerprint:"))
            .expect("the SDP has a fingerprint");
        let (algorithm, value) = line.split_once(' ').expect("algorithm and value");
        Fingerprint::parse(algorithm, value.trim()).expect("a SHA-256 fingerprint")
    }

    /// Both ends' binding is the hash of section 6.3 over the fingerprints the two ends
    /// signaled (which DTLS then checked), computed here from the SDPs and the spec alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_binding_hashes_the_fingerprints_both_ends_signaled() {
        let (a, b) = endpoints();
        let (x, y) = pair(&a, &b).await;
        let (offerer, answerer) = {
            let link = x.link.lock().await;
            let local = link.pc.local_description().await.unwrap().sdp;
            let remote = link.pc.remote_description().await.unwrap().sdp;
            (sdp_fingerprint(&local), sdp_fingerprint(&remote))
        };
        assert_ne!(offerer, answerer);
        let mut input = CHANNEL_BINDING_LABEL.to_vec();
        for fp in [offerer, answerer] {
            input.extend_from_slice(&[0, 0, 0, 95]);
            input.extend_from_slice(fp.text().as_bytes());
        }
        assert_eq!(input.len(), 35 + 2 * (4 + 95));
        let expected = Sha256::digest(&input);
        assert_eq!(&x.channel_binding()[..], &expected[..]);
        assert_eq!(&y.channel_binding()[..], &expected[..]);
        x.close().await;
        y.close().await;
    }

    /// A datagram is one unframed data-channel message of at most `F` bytes (transport.md 2).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn datagrams_are_unframed_and_at_most_a_fragment_long() {
        let (a, b) = endpoints();
        let (x, y) = pair(&a, &b).await;
        let f = x.fragment_len;
        assert_eq!(x.max_datagram, f);
        assert_eq!(
            x.send_unreliable(Bytes::from(vec![1; f + 1])),
            Err(Error::TooLarge { len: f + 1, max: f })
        );
        // Sent raw on the unreliable channel, the bytes arrive as they are.
        let raw = Bytes::from_static(b"\x00\x01hi");
        for _ in 0..10 {
            x.send_unreliable(raw.clone()).unwrap();
        }
        let got = tokio::time::timeout(Duration::from_secs(5), y.recv_unreliable()).await;
        assert_eq!(got.unwrap().unwrap(), Some(raw));
        x.send_unreliable(Bytes::from(vec![2; f])).unwrap();
        x.close().await;
        y.close().await;
    }

    /// A peer that ignores the credit it was granted: it writes data frames straight onto the
    /// reliable channel, past its own flow control, while the receiving application reads
    /// nothing. The receiver must end the connection with a protocol error by itself, having
    /// buffered no more than the window it granted.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_peer_ignoring_credit_is_disconnected_not_buffered() {
        let (a, b) = endpoints();
        let (x, y) = pair(&a, &b).await;
        let window = y.window;

        // Full-size fragments flagged "more follow": no message ever completes, so nothing
        // but flow control stops the receiver from buffering them.
        let mut frame = BytesMut::with_capacity(x.fragment_len + 1);
        frame.put_u8(DATA);
        frame.put_u8(0x00);
        frame.put_bytes(0xab, x.fragment_len - 1);
        let cost = frame_cost(frame.len() - 1);
        let raw = x.reliable.clone();
        let flood = tokio::spawn(async move {
            let mut sent = 0;
            while sent < 4 * window {
                if raw.send(frame.clone()).await.is_err() {
                    break;
                }
                sent += cost;
            }
        });

        let mut state = y.shared.state.subscribe();
        // (`is_ok` at once: the watch's borrow must not outlive the statement.)
        let ended = tokio::time::timeout(
            Duration::from_secs(20),
            state.wait_for(|s| *s == LinkState::Lost),
        )
        .await
        .is_ok();
        assert!(
            ended,
            "the receiver kept the connection open while its peer sent 4 windows of uncredited data"
        );
        let queued = y.recv.lock().await.rx.len();
        assert!(
            queued * cost <= window,
            "{queued} frames of {cost} window bytes buffered, over the window of {window}"
        );
        // The application learns why, once it has taken what arrived within the credit.
        let got = y.recv().await;
        assert_eq!(got, Err(Error::Protocol("credit exceeded")));
        assert_eq!(
            y.send(Bytes::from_static(b"x")).await,
            Err(Error::ConnectionLost)
        );
        // The peer is disconnected too: its own end breaks, without anyone closing it.
        let theirs = tokio::time::timeout(Duration::from_secs(15), x.recv())
            .await
            .expect("the peer that ignored its credit was not disconnected");
        assert!(
            matches!(theirs, Err(Error::ConnectionLost) | Ok(None)),
            "{theirs:?}"
        );
        flood.abort();
        x.close().await;
        y.close().await;
    }
}

//! The in-memory backend: a test harness with seeded fault injection.
//!
//! Connections live in one process and use tokio's clock, so tests on a paused runtime run
//! instantly and deterministically. Faults: latency and jitter, a bandwidth cap, loss,
//! duplication and reordering on the unreliable channel, killing a connection, and
//! partitioning two endpoints (and healing them).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tokio::sync::{mpsc, watch, Mutex as AsyncMutex};
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::fragment::{split, Reassembler, DEFAULT_MAX_MESSAGE_LEN};
use crate::traits::{Connection, Counters, Signaling, Stats, Transport};

/// Faults applied to every connection of a [`MemNetwork`]. `Default` is a perfect network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    /// One-way delay of every message.
    pub latency: Duration,
    /// Extra one-way delay drawn uniformly from `[0, jitter]` (reliable messages keep their
    /// order; unreliable ones may be overtaken).
    pub jitter: Duration,
    /// Bytes per second each direction carries, if capped.
    pub bandwidth: Option<u64>,
    /// Probability that an unreliable datagram is lost.
    pub loss: f64,
    /// Probability that an unreliable datagram is delivered twice.
    pub duplicate: f64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            bandwidth: None,
            loss: 0.0,
            duplicate: 0.0,
        }
    }
}

/// Largest fragment the in-memory backend carries (as WebRTC data channels do in practice).
pub const MEM_FRAGMENT_LEN: usize = 16 * 1024;
/// Fragments a direction buffers before the sender waits: 64 (1 MiB).
pub const MEM_SEND_BUFFER: usize = 64;
const DATAGRAM_BUFFER: usize = 256;
/// Signaling blobs waiting for one endpoint before more are dropped (as the relay does,
/// docs/spec/signal.md).
const MEM_SIGNAL_QUEUE: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkState {
    Open,
    Lost,
}

struct Shared {
    state: watch::Sender<LinkState>,
    ends: (String, String),
}

type Timed = (Instant, Bytes);

struct Direction {
    rng: ChaCha20Rng,
    last_delivery: Instant,
}

/// The in-memory network: endpoints by name, seeded faults, kill/partition/heal.
#[derive(Clone)]
pub struct MemNetwork {
    inner: Arc<NetInner>,
}

struct NetInner {
    faults: Mutex<Faults>,
    rng: Mutex<ChaCha20Rng>,
    listeners: Mutex<HashMap<String, mpsc::Sender<MemConnection>>>,
    partitions: Mutex<HashSet<(String, String)>>,
    links: Mutex<Vec<Weak<Shared>>>,
    signals: Mutex<HashMap<String, mpsc::Sender<(String, Bytes)>>>,
}

impl std::fmt::Debug for MemNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemNetwork").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means another test thread panicked; the data is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn pair(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_owned(), b.to_owned())
    } else {
        (b.to_owned(), a.to_owned())
    }
}

impl MemNetwork {
    /// A network whose random choices (jitter, loss, channel bindings) follow `seed`.
    pub fn new(seed: u64, faults: Faults) -> Self {
        MemNetwork {
            inner: Arc::new(NetInner {
                faults: Mutex::new(faults),
                rng: Mutex::new(ChaCha20Rng::seed_from_u64(seed)),
                listeners: Mutex::new(HashMap::new()),
                partitions: Mutex::new(HashSet::new()),
                links: Mutex::new(Vec::new()),
                signals: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Changes the faults for connections made from now on.
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.inner.faults) = faults;
    }

    /// An endpoint that can connect and accept under `address`.
    pub fn endpoint(&self, address: &str) -> MemTransport {
        let (tx, rx) = mpsc::channel(64);
        lock(&self.inner.listeners).insert(address.to_owned(), tx);
        MemTransport {
            net: self.clone(),
            address: address.to_owned(),
            incoming: AsyncMutex::new(rx),
        }
    }

    /// A signaling endpoint under `address` on the in-memory signaling hub.
    pub fn signaling(&self, address: &str) -> MemSignaling {
        let (tx, rx) = mpsc::channel(MEM_SIGNAL_QUEUE);
        lock(&self.inner.signals).insert(address.to_owned(), tx);
        MemSignaling {
            net: self.clone(),
            address: address.to_owned(),
            rx: AsyncMutex::new(rx),
        }
    }

    /// Breaks every open connection between `a` and `b` (both sides see
    /// [`Error::ConnectionLost`]) and refuses new ones until [`MemNetwork::heal`].
    pub fn partition(&self, a: &str, b: &str) {
        let key = pair(a, b);
        lock(&self.inner.partitions).insert(key.clone());
        self.kill_where(|ends| *ends == key);
    }

    /// Lets `a` and `b` connect again.
    pub fn heal(&self, a: &str, b: &str) {
        lock(&self.inner.partitions).remove(&pair(a, b));
    }

    /// Breaks every open connection of `address`.
    pub fn kill_all(&self, address: &str) {
        self.kill_where(|ends| ends.0 == address || ends.1 == address);
    }

    fn kill_where(&self, f: impl Fn(&(String, String)) -> bool) {
        let mut links = lock(&self.inner.links);
        links.retain(|w| w.strong_count() > 0);
        for link in links.iter().filter_map(Weak::upgrade) {
            if f(&link.ends) {
                link.state.send_replace(LinkState::Lost);
            }
        }
    }

    fn seed(&self) -> u64 {
        lock(&self.inner.rng).next_u64()
    }

    fn connect_pair(&self, from: &str, to: &str) -> Result<(MemConnection, MemConnection)> {
        if lock(&self.inner.partitions).contains(&pair(from, to)) {
            return Err(Error::Unreachable(to.to_owned()));
        }
        let faults = *lock(&self.inner.faults);
        let mut binding = [0u8; 32];
        lock(&self.inner.rng).fill_bytes(&mut binding);
        let binding = Bytes::copy_from_slice(&binding);
        let (state, _) = watch::channel(LinkState::Open);
        let shared = Arc::new(Shared {
            state,
            ends: pair(from, to),
        });
        lock(&self.inner.links).push(Arc::downgrade(&shared));
        let (a_tx, b_rx) = mpsc::channel(MEM_SEND_BUFFER);
        let (b_tx, a_rx) = mpsc::channel(MEM_SEND_BUFFER);
        let (a_dtx, b_drx) = mpsc::channel(DATAGRAM_BUFFER);
        let (b_dtx, a_drx) = mpsc::channel(DATAGRAM_BUFFER);
        let make = |tx, rx, dtx, drx, seed| MemConnection {
            faults,
            shared: shared.clone(),
            binding: binding.clone(),
            send: AsyncMutex::new(SendSide {
                tx: Some(tx),
                dir: Direction {
                    rng: ChaCha20Rng::seed_from_u64(seed),
                    last_delivery: Instant::now(),
                },
            }),
            dgram_tx: Mutex::new(Some((dtx, ChaCha20Rng::seed_from_u64(seed ^ 0xd1)))),
            recv: AsyncMutex::new(RecvSide {
                rx,
                reassembler: Reassembler::new(DEFAULT_MAX_MESSAGE_LEN),
            }),
            dgram_rx: AsyncMutex::new(DatagramQueue {
                rx: drx,
                heap: BinaryHeap::new(),
                seq: 0,
                closed: false,
            }),
            closed: watch::Sender::new(false),
            counters: Counters::default(),
        };
        let a = make(a_tx, a_rx, a_dtx, a_drx, self.seed());
        let b = make(b_tx, b_rx, b_dtx, b_drx, self.seed());
        Ok((a, b))
    }
}

/// An endpoint of a [`MemNetwork`].
pub struct MemTransport {
    net: MemNetwork,
    address: String,
    incoming: AsyncMutex<mpsc::Receiver<MemConnection>>,
}

impl std::fmt::Debug for MemTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemTransport")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Transport for MemTransport {
    type Connection = MemConnection;

    async fn connect(&self, address: &str) -> Result<MemConnection> {
        let listener = lock(&self.net.inner.listeners).get(address).cloned();
        let listener = listener.ok_or_else(|| Error::Unreachable(address.to_owned()))?;
        let (ours, theirs) = self.net.connect_pair(&self.address, address)?;
        listener
            .send(theirs)
            .await
            .map_err(|_| Error::Unreachable(address.to_owned()))?;
        Ok(ours)
    }

    async fn accept(&self) -> Result<MemConnection> {
        self.incoming.lock().await.recv().await.ok_or(Error::Closed)
    }

    fn local_address(&self) -> &str {
        &self.address
    }
}

struct SendSide {
    tx: Option<mpsc::Sender<Timed>>,
    dir: Direction,
}

struct RecvSide {
    rx: mpsc::Receiver<Timed>,
    reassembler: Reassembler,
}

/// Received datagrams, delivered in order of their delivery time (so jitter reorders them).
struct DatagramQueue {
    rx: mpsc::Receiver<Timed>,
    heap: BinaryHeap<Reverse<(Instant, u64, Bytes)>>,
    seq: u64,
    closed: bool,
}

impl DatagramQueue {
    fn push(&mut self, at: Instant, d: Bytes) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, d)));
    }

    fn pop(&mut self) -> Option<Bytes> {
        self.heap.pop().map(|Reverse((_, _, d))| d)
    }
}

/// One end of an in-memory connection.
pub struct MemConnection {
    faults: Faults,
    shared: Arc<Shared>,
    binding: Bytes,
    send: AsyncMutex<SendSide>,
    dgram_tx: Mutex<Option<(mpsc::Sender<Timed>, ChaCha20Rng)>>,
    recv: AsyncMutex<RecvSide>,
    dgram_rx: AsyncMutex<DatagramQueue>,
    /// Whether this end closed the connection (its own receives end at once).
    closed: watch::Sender<bool>,
    counters: Counters,
}

impl std::fmt::Debug for MemConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemConnection")
            .field("ends", &self.shared.ends)
            .finish_non_exhaustive()
    }
}

fn jitter(rng: &mut ChaCha20Rng, max: Duration) -> Duration {
    let ms = u64::try_from(max.as_micros()).unwrap_or(u64::MAX);
    if ms == 0 {
        Duration::ZERO
    } else {
        Duration::from_micros(rng.next_u64() % (ms + 1))
    }
}

fn chance(rng: &mut ChaCha20Rng, p: f64) -> bool {
    p > 0.0 && (rng.next_u64() as f64 / u64::MAX as f64) < p
}

impl MemConnection {
    fn is_lost(&self) -> bool {
        *self.shared.state.borrow() == LinkState::Lost
    }

    fn delivery_time(faults: &Faults, dir: &mut Direction, len: usize) -> Instant {
        let now = Instant::now();
        let mut at = now + faults.latency + jitter(&mut dir.rng, faults.jitter);
        if let Some(bw) = faults.bandwidth.filter(|b| *b > 0) {
            let wire = Duration::from_secs_f64(len as f64 / bw as f64);
            at = at.max(dir.last_delivery + wire);
        }
        // Reliable messages never overtake each other.
        at = at.max(dir.last_delivery);
        dir.last_delivery = at;
        at
    }

    async fn wait_lost(&self) {
        let mut rx = self.shared.state.subscribe();
        // Only returns when the link is lost; a dropped sender cannot happen while we hold it.
        let _ = rx.wait_for(|s| *s == LinkState::Lost).await;
    }

    /// How a receive ends now, if it does: the link is lost, or this end closed it.
    fn end_now<T>(&self) -> Option<Result<Option<T>>> {
        if self.is_lost() {
            Some(Err(Error::ConnectionLost))
        } else if *self.closed.borrow() {
            Some(Ok(None))
        } else {
            None
        }
    }

    /// Returns how a waiting receive ends once the link is lost or this end closes it.
    async fn ended<T>(&self) -> Result<Option<T>> {
        let mut closed = self.closed.subscribe();
        tokio::select! {
            () = self.wait_lost() => Err(Error::ConnectionLost),
            _ = closed.wait_for(|c| *c) => Ok(None),
        }
    }
}

impl Connection for MemConnection {
    async fn send(&self, message: Bytes) -> Result<()> {
        let fragments = split(&message, MEM_FRAGMENT_LEN, DEFAULT_MAX_MESSAGE_LEN)?;
        let mut side = self.send.lock().await;
        for f in fragments {
            if self.is_lost() {
                return Err(Error::ConnectionLost);
            }
            let at = Self::delivery_time(&self.faults, &mut side.dir, f.len());
            let tx = side.tx.as_ref().ok_or(Error::Closed)?.clone();
            tokio::select! {
                sent = tx.send((at, f)) => sent.map_err(|_| Error::Closed)?,
                () = self.wait_lost() => return Err(Error::ConnectionLost),
            }
        }
        self.counters.sent(message.len());
        Ok(())
    }

    fn try_send(&self, message: Bytes) -> Result<()> {
        if self.is_lost() {
            return Err(Error::ConnectionLost);
        }
        let fragments = split(&message, MEM_FRAGMENT_LEN, DEFAULT_MAX_MESSAGE_LEN)?;
        let mut side = self.send.try_lock().map_err(|_| Error::WouldBlock)?;
        let tx = side.tx.clone().ok_or(Error::Closed)?;
        if tx.is_closed() {
            return Err(Error::Closed);
        }
        if tx.capacity() < fragments.len() {
            return Err(Error::WouldBlock);
        }
        for f in fragments {
            let at = Self::delivery_time(&self.faults, &mut side.dir, f.len());
            tx.try_send((at, f)).map_err(|_| Error::WouldBlock)?;
        }
        self.counters.sent(message.len());
        Ok(())
    }

    async fn recv(&self) -> Result<Option<Bytes>> {
        let mut side = self.recv.lock().await;
        loop {
            if let Some(end) = self.end_now() {
                return end;
            }
            let next = tokio::select! {
                next = side.rx.recv() => next,
                end = self.ended() => return end,
            };
            let Some((at, fragment)) = next else {
                return Ok(None);
            };
            tokio::select! {
                () = tokio::time::sleep_until(at) => {}
                end = self.ended() => return end,
            }
            match side.reassembler.push(&fragment) {
                Ok(Some(message)) => {
                    self.counters.received(message.len());
                    return Ok(Some(message));
                }
                Ok(None) => {}
                Err(e) => {
                    // The peer broke the fragment rules: the connection fails on both ends.
                    self.shared.state.send_replace(LinkState::Lost);
                    return Err(e);
                }
            }
        }
    }

    fn send_unreliable(&self, message: Bytes) -> Result<()> {
        if message.len() > MEM_FRAGMENT_LEN {
            return Err(Error::TooLarge {
                len: message.len(),
                max: MEM_FRAGMENT_LEN,
            });
        }
        if self.is_lost() {
            return Err(Error::ConnectionLost);
        }
        let mut guard = lock(&self.dgram_tx);
        let (tx, rng) = guard.as_mut().ok_or(Error::Closed)?;
        if chance(rng, self.faults.loss) {
            return Ok(());
        }
        let copies = if chance(rng, self.faults.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let at = Instant::now() + self.faults.latency + jitter(rng, self.faults.jitter);
            // A full datagram queue drops, as a congested network would.
            if let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send((at, message.clone())) {
                return Err(Error::Closed);
            }
        }
        Ok(())
    }

    async fn recv_unreliable(&self) -> Result<Option<Bytes>> {
        let mut guard = self.dgram_rx.lock().await;
        let queue = &mut *guard;
        loop {
            if let Some(end) = self.end_now() {
                return end;
            }
            while let Ok((at, d)) = queue.rx.try_recv() {
                queue.push(at, d);
            }
            match queue.heap.peek().map(|Reverse((at, _, _))| *at) {
                Some(at) if queue.closed => {
                    // Nothing more can arrive: wait for the earliest datagram only.
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => return Ok(queue.pop()),
                        end = self.ended() => return end,
                    }
                }
                Some(at) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => return Ok(queue.pop()),
                        more = queue.rx.recv() => match more {
                            Some((at, d)) => queue.push(at, d),
                            None => queue.closed = true,
                        },
                        end = self.ended() => return end,
                    }
                }
                None if queue.closed => return Ok(None),
                None => {
                    tokio::select! {
                        more = queue.rx.recv() => match more {
                            Some((at, d)) => queue.push(at, d),
                            None => queue.closed = true,
                        },
                        end = self.ended() => return end,
                    }
                }
            }
        }
    }

    fn channel_binding(&self) -> Bytes {
        self.binding.clone()
    }

    async fn close(&self) {
        // First, so a receive waiting (and holding its side) returns.
        self.closed.send_replace(true);
        self.send.lock().await.tx = None;
        *lock(&self.dgram_tx) = None;
        self.recv.lock().await.rx.close();
        self.dgram_rx.lock().await.rx.close();
    }

    fn stats(&self) -> Stats {
        self.counters.snapshot(Some(self.faults.latency * 2), None)
    }

    fn max_message_len(&self) -> usize {
        DEFAULT_MAX_MESSAGE_LEN
    }
}

/// A signaling endpoint on a [`MemNetwork`]'s hub.
pub struct MemSignaling {
    net: MemNetwork,
    address: String,
    rx: AsyncMutex<mpsc::Receiver<(String, Bytes)>>,
}

impl std::fmt::Debug for MemSignaling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemSignaling")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Signaling for MemSignaling {
    async fn send(&self, to: &str, blob: Bytes) -> Result<()> {
        let tx = lock(&self.net.inner.signals).get(to).cloned();
        let tx = tx.ok_or_else(|| Error::Unreachable(to.to_owned()))?;
        match tx.try_send((self.address.clone(), blob)) {
            Ok(()) => Ok(()),
            // A peer that does not read its blobs cannot make the hub buffer without bound.
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(to, "signaling queue full; dropping a blob");
                Ok(())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Error::Unreachable(to.to_owned())),
        }
    }

    async fn recv(&self) -> Result<(String, Bytes)> {
        self.rx.lock().await.recv().await.ok_or(Error::Closed)
    }
}

//! One peer connection: building it, its two data channels, the tasks that move their
//! events, and tearing it all down.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::ice::url::{ProtoType, SchemeType};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceCandidateInit, RTCIceConnectionState, RTCIceGatheringState, RTCIceServer,
    RTCIceTransportPolicy, RTCPeerConnectionIceEvent, RTCPeerConnectionState, SettingEngineBuilder,
};

use crate::config::{parse_url, IceServer, WebRtcConfig};
use crate::connection::frame_cost;
use crate::error::{stack, WebRtcError};
use crate::runtime::TunedRuntime;
use crate::turn_tcp::{udp_answers, TcpBridge};

/// Data channel ids, negotiated out of band so both ends create them before the offer.
const RELIABLE_ID: u16 = 0;
const UNRELIABLE_ID: u16 = 1;

/// Frame kinds on the reliable channel.
pub(crate) const DATA: u8 = 0x00;
pub(crate) const CREDIT: u8 = 0x01;
/// "My end of the reliable channel is open": see [`ready`].
pub(crate) const READY: u8 = 0x02;

/// Time between ICE connectivity checks: RFC 8445's pacing (Ta = 50 ms) rather than webrtc's
/// 200 ms. webrtc 0.21 sends the first DTLS flight only on the ICE agent's next tick after a
/// candidate pair is selected, so this interval is also how long a connection waits between
/// ICE and DTLS.
const CHECK_INTERVAL: Duration = Duration::from_millis(50);
/// Checks per candidate pair before it fails: the same 1.4 s budget as webrtc's default
/// (7 checks 200 ms apart), for peers far away.
const CHECK_ATTEMPTS: u16 = 28;

/// Received datagrams buffered before new ones are dropped.
const DATAGRAM_QUEUE: usize = 256;
/// The longest datagram any connection sends: the largest fragment (64 KiB less the frame
/// byte); see `WebRtcConnection`'s `fragment_len`.
pub(crate) const MAX_DATAGRAM: usize = 64 * 1024 - 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkState {
    Open,
    /// The peer closed its reliable channel cleanly.
    PeerClosed,
    /// We closed.
    Closed,
    /// The connection broke.
    Lost,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means another thread panicked; the data is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// State shared by the connection, its tasks and the peer connection's event handler.
pub(crate) struct Shared {
    pub(crate) state: watch::Sender<LinkState>,
    pub(crate) gathered: watch::Sender<bool>,
    pub(crate) reliable_open: watch::Sender<bool>,
    pub(crate) unreliable_open: watch::Sender<bool>,
    /// The peer's ready frame arrived.
    pub(crate) peer_ready: watch::Sender<bool>,
    /// Bytes we may still send before the peer grants more (flow control).
    pub(crate) credits: Semaphore,
    pub(crate) window: Mutex<usize>,
    /// Window bytes the peer may still send before we grant it more: what it was granted,
    /// less the cost of every data frame it sent. Zero until the window is known, so a data
    /// frame before our ready frame is over the credit too.
    pub(crate) peer_credit: AtomicUsize,
    /// Why we ended the connection, when the peer broke the rules; `recv` reports it.
    pub(crate) violation: Mutex<Option<syncshell_transport::Error>>,
    /// When each step of the set-up completed.
    pub(crate) setup: Mutex<SetupTimes>,
    /// The selected candidate pair and its round-trip time, as last read.
    pub(crate) path: Mutex<Option<(syncshell_transport::Path, Option<Duration>)>>,
    /// Bumped when ICE or DTLS connects: see [`nudge_driver`].
    nudge: watch::Sender<u32>,
    started: Instant,
}

/// How long each step of a connection's set-up took to complete, counted from the start of
/// `connect` (or, for `accept`, from the offer's arrival). A step that was not seen is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SetupTimes {
    /// The peer connection and its sockets exist.
    pub created: Option<Duration>,
    /// ICE gathering completed (the local description carries every candidate).
    pub gathered: Option<Duration>,
    /// The remote description is set: the offerer received the answer; the answerer set the
    /// offer.
    pub described: Option<Duration>,
    /// ICE found a working candidate pair.
    pub ice_connected: Option<Duration>,
    /// DTLS completed: the peer connection is connected.
    pub dtls_connected: Option<Duration>,
    /// Both data channels are open (SCTP association up).
    pub channels_open: Option<Duration>,
    /// Both ends' ready frames crossed: the connection is handed to the application.
    pub ready: Option<Duration>,
}

/// The steps of [`SetupTimes`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step {
    Created,
    Gathered,
    Described,
    IceConnected,
    DtlsConnected,
    ChannelsOpen,
    Ready,
}

impl Shared {
    /// An open link whose window is not open yet.
    pub(crate) fn new() -> Self {
        Shared {
            state: watch::channel(LinkState::Open).0,
            gathered: watch::channel(false).0,
            reliable_open: watch::channel(false).0,
            unreliable_open: watch::channel(false).0,
            peer_ready: watch::channel(false).0,
            credits: Semaphore::new(0),
            window: Mutex::new(0),
            peer_credit: AtomicUsize::new(0),
            violation: Mutex::new(None),
            setup: Mutex::new(SetupTimes::default()),
            path: Mutex::new(None),
            nudge: watch::channel(0).0,
            started: Instant::now(),
        }
    }

    /// Records that `step` completed now, unless it already did.
    pub(crate) fn reached(&self, step: Step) {
        let at = self.started.elapsed();
        let mut t = lock(&self.setup);
        let slot = match step {
            Step::Created => &mut t.created,
            Step::Gathered => &mut t.gathered,
            Step::Described => &mut t.described,
            Step::IceConnected => &mut t.ice_connected,
            Step::DtlsConnected => &mut t.dtls_connected,
            Step::ChannelsOpen => &mut t.channels_open,
            Step::Ready => &mut t.ready,
        };
        slot.get_or_insert(at);
    }

    /// Moves to `to` unless the connection already ended for another reason.
    pub(crate) fn end(&self, to: LinkState) {
        self.state.send_if_modified(|s| {
            let change = matches!(
                (*s, to),
                (LinkState::Open, _) | (LinkState::PeerClosed | LinkState::Lost, LinkState::Closed)
            );
            if change {
                *s = to;
            }
            change
        });
        // Wake senders waiting for credit: they now fail with the state's error.
        self.credits.close();
    }

    pub(crate) fn current(&self) -> LinkState {
        *self.state.borrow()
    }

    /// Opens the flow-control window `window` in both directions: we may send that many
    /// window bytes, and so may the peer. Called once, before our first ready frame.
    pub(crate) fn open_window(&self, window: usize) {
        *lock(&self.window) = window;
        self.credits.add_permits(window);
        self.peer_credit.store(window, Ordering::Release);
    }

    /// Charges a data frame of `cost` window bytes to the peer's credit; a peer that sends
    /// more than it was granted breaks the rules.
    pub(crate) fn charge_peer(&self, cost: usize) -> Result<(), &'static str> {
        self.peer_credit
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| c.checked_sub(cost))
            .map(|_| ())
            .map_err(|_| "credit exceeded")
    }

    /// Counts `amount` window bytes granted back to the peer (in a credit frame we send).
    pub(crate) fn grant_peer(&self, amount: usize) {
        let _ = self
            .peer_credit
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                Some(c.saturating_add(amount))
            });
    }

    /// Ends the connection because the peer broke the rules: `recv` reports `error`, every
    /// other operation `ConnectionLost`, and the reader task closes the peer connection so
    /// the peer is disconnected too. The first violation wins.
    pub(crate) fn fail(&self, error: syncshell_transport::Error) {
        lock(&self.violation).get_or_insert(error);
        self.end(LinkState::Lost);
    }

    /// The violation that ended the connection, if one did.
    pub(crate) fn violation(&self) -> Option<syncshell_transport::Error> {
        lock(&self.violation).clone()
    }
}

/// A local candidate to trickle to the peer, or `None` once gathering is complete.
pub(crate) type LocalCandidate = Option<RTCIceCandidateInit>;

struct Handler(Arc<Shared>, Option<mpsc::UnboundedSender<LocalCandidate>>);

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    // Runs on the connection's driver task: only records, never waits.
    async fn on_ice_gathering_state_change(&self, s: RTCIceGatheringState) {
        if s == RTCIceGatheringState::Complete {
            self.0.reached(Step::Gathered);
            self.0.gathered.send_replace(true);
            if let Some(tx) = &self.1 {
                let _ = tx.send(None);
            }
        }
    }

    async fn on_ice_candidate(&self, e: RTCPeerConnectionIceEvent) {
        if let Some(tx) = &self.1 {
            match e.candidate.to_json() {
                Ok(c) => {
                    let _ = tx.send(Some(c));
                }
                Err(err) => tracing::debug!(error = %err, "skipping a local candidate"),
            }
        }
    }

    async fn on_ice_connection_state_change(&self, s: RTCIceConnectionState) {
        tracing::debug!(state = %s, "ICE connection state");
        if s == RTCIceConnectionState::Connected {
            self.0.reached(Step::IceConnected);
            self.0.nudge.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    async fn on_connection_state_change(&self, s: RTCPeerConnectionState) {
        tracing::debug!(state = %s, "peer connection state");
        match s {
            RTCPeerConnectionState::Connected => {
                self.0.reached(Step::DtlsConnected);
                self.0.nudge.send_modify(|n| *n = n.wrapping_add(1));
            }
            RTCPeerConnectionState::Failed => self.0.end(LinkState::Lost),
            _ => {}
        }
    }
}

/// What the reliable channel's reader hands to `recv`.
pub(crate) enum Inbound {
    /// A data frame's payload: one fragment of a message.
    Fragment(Bytes),
    /// The peer closed the channel cleanly.
    Closed,
}

/// A peer connection with its channels and tasks. Dropping it tears everything down.
pub(crate) struct Link {
    pub(crate) pc: Arc<dyn PeerConnection>,
    pub(crate) reliable: Arc<dyn DataChannel>,
    pub(crate) unreliable: Arc<dyn DataChannel>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) inbound: Option<mpsc::Receiver<Inbound>>,
    pub(crate) datagrams: Option<mpsc::Receiver<Bytes>>,
    /// Local candidates to trickle, when [`WebRtcConfig::trickle`] is set.
    pub(crate) candidates: Option<mpsc::UnboundedReceiver<LocalCandidate>>,
    pub(crate) tasks: Vec<JoinHandle<()>>,
    /// TURN over TCP bridges this connection's TURN client uses; dropped with it.
    _bridges: Vec<TcpBridge>,
    pub(crate) closed: bool,
}

/// webrtc's ICE servers for `servers`: each TURN URL over TCP becomes a URL over UDP to a
/// bridge of ours (one per address family this connection binds), which carries it over TCP
/// — unless the server answers over UDP, in which case TURN over UDP serves instead.
/// A server whose host cannot be resolved is skipped, as webrtc skips it.
async fn ice_servers(
    config: &WebRtcConfig,
    servers: &[IceServer],
) -> syncshell_transport::Result<(Vec<RTCIceServer>, Vec<TcpBridge>)> {
    let families = bind_families(&config.bind_addresses);
    let mut out = Vec::with_capacity(servers.len());
    let mut bridges = Vec::new();
    for server in servers {
        server.check()?;
        let mut urls = Vec::with_capacity(server.urls.len());
        for raw in &server.urls {
            let url = parse_url(raw)?;
            if url.proto != ProtoType::Tcp || url.scheme != SchemeType::Turn {
                urls.push(raw.clone());
                continue;
            }
            let resolved = match tokio::net::lookup_host((url.host.as_str(), url.port)).await {
                Ok(addrs) => addrs.collect::<Vec<_>>(),
                Err(e) => {
                    tracing::warn!(url = %raw, error = %e, "cannot resolve a TURN server");
                    continue;
                }
            };
            for family in &families {
                let Some(addr) = resolved.iter().find(|a| a.is_ipv4() == family.is_ipv4()) else {
                    continue;
                };
                if udp_answers(*addr, *family).await {
                    tracing::debug!(url = %raw, "UDP reaches the TURN server; not using TCP");
                    continue;
                }
                let bridge = TcpBridge::start(*addr, *family)
                    .await
                    .map_err(|e| WebRtcError::IceServer(format!("{raw}: {e}")))?;
                let host = match bridge.addr() {
                    SocketAddr::V4(a) => a.ip().to_string(),
                    SocketAddr::V6(a) => format!("[{}]", a.ip()),
                };
                urls.push(format!(
                    "turn:{host}:{}?transport=udp",
                    bridge.addr().port()
                ));
                bridges.push(bridge);
            }
        }
        out.push(RTCIceServer {
            urls,
            username: server.username.clone(),
            credential: server.credential.clone(),
        });
    }
    Ok((out, bridges))
}

/// One address of each family among the bind addresses (IPv4 if none parses).
fn bind_families(binds: &[String]) -> Vec<IpAddr> {
    let mut families: Vec<IpAddr> = Vec::new();
    for b in binds {
        if let Ok(a) = b.parse::<SocketAddr>() {
            if !families.iter().any(|f| f.is_ipv4() == a.is_ipv4()) {
                families.push(a.ip());
            }
        }
    }
    if families.is_empty() {
        families.push(IpAddr::from([0, 0, 0, 0]));
    }
    families
}

impl Link {
    /// A peer connection with `config`'s settings and the ICE servers `servers`.
    pub(crate) async fn new(
        config: &WebRtcConfig,
        servers: &[IceServer],
    ) -> syncshell_transport::Result<Link> {
        let shared = Arc::new(Shared::new());
        let (cand_tx, cand_rx) = if config.trickle {
            let (tx, rx) = mpsc::unbounded_channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let (servers, bridges) = ice_servers(config, servers).await?;
        let live = config.liveness_timeout.max(Duration::from_millis(500));
        let mut settings = SettingEngineBuilder::new()
            // The default (QueryOnly) opens a multicast socket on :5353.
            .with_multicast_dns_mode(MulticastDnsMode::Disabled)
            // See `CHECK_INTERVAL`.
            .with_ice_connection_attempts(Some(CHECK_INTERVAL), Some(CHECK_ATTEMPTS))
            .with_ice_timeouts(
                Some(live / 2),
                Some(live),
                Some((live / 5).min(Duration::from_secs(2))),
            )
            // SCTP's receive window holds what the credit window lets the peer send, and the
            // data behind a lost packet until its retransmission arrives.
            .with_sctp_max_receive_buffer_size(u32::try_from(config.window()).unwrap_or(u32::MAX));
        let policy = if config.relay_only {
            // webrtc waits 2 s before it accepts a relay pair, to give better paths a chance;
            // with nothing but relays there is nothing to wait for.
            settings = settings.with_relay_acceptance_min_wait(None);
            RTCIceTransportPolicy::Relay
        } else {
            RTCIceTransportPolicy::All
        };
        let settings = settings.build();
        let pc = PeerConnectionBuilder::new()
            .with_configuration(
                RTCConfigurationBuilder::new()
                    .with_ice_servers(servers)
                    .with_ice_transport_policy(policy)
                    .build(),
            )
            .with_setting_engine(settings)
            .with_runtime(Arc::new(TunedRuntime::new(config.socket_buffer_size)))
            .with_handler(Arc::new(Handler(shared.clone(), cand_tx)))
            .with_udp_addrs(config.bind_addresses.clone())
            .with_data_channel_send_buffer_limit(config.window())
            .build()
            .await
            .map_err(stack)?;
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);
        shared.reached(Step::Created);
        let channels = async {
            let reliable = pc
                .create_data_channel(
                    "reliable",
                    Some(RTCDataChannelInit {
                        negotiated: Some(RELIABLE_ID),
                        ..Default::default()
                    }),
                )
                .await?;
            let unreliable = pc
                .create_data_channel(
                    "unreliable",
                    Some(RTCDataChannelInit {
                        ordered: false,
                        max_retransmits: Some(0),
                        negotiated: Some(UNRELIABLE_ID),
                        ..Default::default()
                    }),
                )
                .await?;
            Ok::<_, webrtc::error::Error>((reliable, unreliable))
        };
        let (reliable, unreliable) = match channels.await {
            Ok(c) => c,
            Err(e) => {
                let _ = pc.close().await;
                return Err(stack(e));
            }
        };
        // Every data frame costs at least `frame_cost(0)` and the peer's credit never exceeds
        // the negotiated window, which is at most ours: the queue never holds more frames
        // than this, plus the final `Closed`.
        let (in_tx, in_rx) = mpsc::channel(config.window() / frame_cost(0) + 2);
        let (dg_tx, dg_rx) = mpsc::channel(DATAGRAM_QUEUE);
        let tasks = vec![
            tokio::spawn(read_reliable(
                reliable.clone(),
                pc.clone(),
                shared.clone(),
                in_tx,
            )),
            tokio::spawn(read_unreliable(unreliable.clone(), shared.clone(), dg_tx)),
            tokio::spawn(nudge_driver(unreliable.clone(), shared.clone())),
        ];
        Ok(Link {
            pc,
            reliable,
            unreliable,
            shared,
            inbound: Some(in_rx),
            datagrams: Some(dg_rx),
            candidates: cand_rx,
            tasks,
            _bridges: bridges,
            closed: false,
        })
    }

    /// Closes the channels and the peer connection and ends every task.
    pub(crate) async fn shut(&mut self, grace: Duration) {
        if self.closed {
            return;
        }
        self.closed = true;
        let _ = tokio::time::timeout(grace, async {
            let _ = self.reliable.close().await;
            let _ = self.unreliable.close().await;
        })
        .await;
        if tokio::time::timeout(grace, self.pc.close()).await.is_err() {
            tracing::warn!("peer connection close timed out");
        }
        for t in self.tasks.drain(..) {
            // A finished task may already have been awaited; awaiting it again would panic.
            if !t.is_finished() {
                t.abort();
                let _ = t.await;
            }
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        if !self.closed {
            // Without close() the driver task and its socket would live on.
            let pc = self.pc.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _ = pc.close().await;
                });
            }
        }
    }
}

/// The only poller of the reliable channel: data frames to `recv` (within the credit the
/// peer holds), credits to the sender, ready frames to [`ready`]. A peer that breaks the rules
/// is disconnected: the connection fails and its peer connection is closed.
async fn read_reliable(
    dc: Arc<dyn DataChannel>,
    pc: Arc<dyn PeerConnection>,
    shared: Arc<Shared>,
    tx: mpsc::Sender<Inbound>,
) {
    let mut state = shared.state.subscribe();
    let why = loop {
        let ev = tokio::select! {
            ev = dc.poll() => ev,
            // Ended elsewhere (a violation found by `recv`, a failed send): stop reading.
            _ = state.wait_for(|s| *s == LinkState::Lost) => break None,
        };
        let Some(ev) = ev else {
            // The channel ended without a close: the connection is gone.
            break None;
        };
        match ev {
            DataChannelEvent::OnOpen => {
                shared.reliable_open.send_replace(true);
            }
            DataChannelEvent::OnMessage(m) => match on_frame(&shared, m.data.freeze()) {
                Ok(Some(fragment)) => {
                    // Cannot be full: the queue holds more frames than the credit allows.
                    if tx.try_send(Inbound::Fragment(fragment)).is_err() {
                        break Some("receive queue full");
                    }
                }
                Ok(None) => {}
                Err(why) => break Some(why),
            },
            DataChannelEvent::OnClose => {
                tracing::debug!("reliable channel closed by the peer");
                shared.end(LinkState::PeerClosed);
                let _ = tx.try_send(Inbound::Closed);
                return;
            }
            _ => {}
        }
    };
    if let Some(why) = why {
        tracing::warn!(why, "peer broke the framing rules; disconnecting it");
        shared.fail(syncshell_transport::Error::Protocol(why));
    }
    shared.end(LinkState::Lost);
    if shared.violation().is_some() {
        // Stop the peer's traffic at its source instead of leaving it to the liveness timeout.
        let _ = pc.close().await;
    }
}

/// Handles one frame from the reliable channel (docs/spec/transport.md 6.1); returns a data
/// frame's fragment.
pub(crate) fn on_frame(shared: &Shared, frame: Bytes) -> Result<Option<Bytes>, &'static str> {
    match frame.first() {
        Some(&DATA) => {
            // The receiver's memory is bounded by the credit it granted.
            shared.charge_peer(frame_cost(frame.len().saturating_sub(1)))?;
            Ok(Some(frame.slice(1..)))
        }
        Some(&READY) if frame.len() == 1 => {
            shared.peer_ready.send_replace(true);
            Ok(None)
        }
        Some(&CREDIT) => grant(shared, &frame).map(|()| None),
        _ => Err("unknown frame kind"),
    }
}

/// How often a side repeats its ready frame until it hears the peer's.
const READY_REPEAT: Duration = Duration::from_millis(50);

/// Waits until both ends of the reliable channel are known to deliver.
///
/// webrtc 0.21 binds an out-of-band negotiated channel to its SCTP stream only when it
/// processes the association's handshake-complete event; a data chunk that arrives in the
/// same batch as the packet completing the handshake is read first and dropped ("data
/// channel not existed"). So the first message a side sends right after its channel opened
/// can be lost. Each side therefore repeats a ready frame until it receives the peer's, then
/// sends one more: the peer sent its ready frame only once its own channel was open, so that
/// last one, and everything after it, arrives. Extra ready frames are ignored.
pub(crate) async fn ready(link: &Link) -> Result<(), webrtc::error::Error> {
    let mut peer = link.shared.peer_ready.subscribe();
    loop {
        link.reliable.send(BytesMut::from(&[READY][..])).await?;
        if tokio::time::timeout(READY_REPEAT, peer.wait_for(|r| *r))
            .await
            .is_ok()
        {
            break;
        }
    }
    link.reliable.send(BytesMut::from(&[READY][..])).await
}

fn grant(shared: &Shared, frame: &[u8]) -> Result<(), &'static str> {
    let [_, a, b, c, d] = frame else {
        return Err("bad credit frame");
    };
    let amount = u32::from_be_bytes([*a, *b, *c, *d]) as usize;
    let window = *lock(&shared.window);
    if shared.credits.available_permits().saturating_add(amount) > window {
        return Err("credit over the window");
    }
    shared.credits.add_permits(amount);
    Ok(())
}

/// Wakes the peer connection's driver each time ICE or DTLS connects.
///
/// webrtc 0.21 queues the first DTLS flight once ICE connects, and the SCTP INIT once DTLS
/// completes, but sends them only on the driver's next wake-up: its next timer, which is the
/// ICE check or keepalive interval (200 ms or more) away. That alone made a connection on
/// loopback take about 400 ms. Any call that pokes the driver flushes them at once; setting
/// the unreliable channel's buffered-amount threshold (which nothing here uses) is such a
/// call and has no other effect.
async fn nudge_driver(dc: Arc<dyn DataChannel>, shared: Arc<Shared>) {
    let mut nudges = shared.nudge.subscribe();
    while nudges.changed().await.is_ok() {
        if dc.set_buffered_amount_high_threshold(0).await.is_err() {
            return;
        }
    }
}

/// The only poller of the unreliable channel; drops datagrams nobody reads.
async fn read_unreliable(dc: Arc<dyn DataChannel>, shared: Arc<Shared>, tx: mpsc::Sender<Bytes>) {
    while let Some(ev) = dc.poll().await {
        match ev {
            DataChannelEvent::OnOpen => {
                shared.unreliable_open.send_replace(true);
            }
            // No sender of ours makes a datagram longer than a fragment (at most 65 535 bytes):
            // longer ones are dropped, so the queue holds at most 256 of that size.
            DataChannelEvent::OnMessage(m) if m.data.len() > MAX_DATAGRAM => {
                tracing::debug!(len = m.data.len(), "dropping an oversized datagram");
            }
            DataChannelEvent::OnMessage(m) => {
                if let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send(m.data.freeze()) {
                    return;
                }
            }
            DataChannelEvent::OnClose => return,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Frames come from the peer: arbitrary bytes never panic the reader, whatever the
        /// credit on either side, and a data frame is charged exactly its cost.
        #[test]
        fn arbitrary_frames_never_panic(
            frame in proptest::collection::vec(any::<u8>(), 0..80),
            window in 262_144usize..1 << 22,
            spent in 0usize..262_144,
            peer_spent in 0usize..262_144,
        ) {
            let shared = Shared::new();
            shared.open_window(window);
            if let Ok(p) = shared.credits.try_acquire_many(spent as u32) {
                p.forget();
            }
            prop_assert!(shared.charge_peer(peer_spent).is_ok());
            let before = shared.peer_credit.load(Ordering::Acquire);
            if let Ok(Some(fragment)) = on_frame(&shared, Bytes::from(frame)) {
                let after = shared.peer_credit.load(Ordering::Acquire);
                prop_assert_eq!(before - after, frame_cost(fragment.len()));
            }
            prop_assert!(shared.credits.available_permits() <= window);
        }
    }
}

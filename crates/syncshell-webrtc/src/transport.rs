//! [`WebRtcTransport`]: offers and answers through any [`Signaling`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use bytes::Bytes;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use syncshell_transport::{Candidate, CandidateKind, Error, Path, Result, Signaling, Transport};
use tokio::sync::{mpsc, watch};
use tokio::sync::{Mutex as AsyncMutex, MutexGuard as AsyncMutexGuard, Notify};
use webrtc::peer_connection::{
    PeerConnection, RTCIceCandidate, RTCIceCandidateInit, RTCIceCandidateType,
    RTCSessionDescription, RTCStatsReportEntry, StatsSelector,
};

use crate::config::{IceServer, WebRtcConfig};
use crate::connection::{Negotiated, WebRtcConnection};
use crate::error::{stack, WebRtcError};
use crate::link::{lock, Link, LinkState, LocalCandidate, Shared, Step};
use crate::signal::{Blob, Kind, Signal};

/// Domain separation of [`syncshell_transport::Connection::channel_binding`]: the first 35
/// bytes hashed, with no length or terminator (docs/spec/transport.md 6.3).
pub const CHANNEL_BINDING_LABEL: &[u8] = b"syncshell/v1/webrtc-channel-binding";
/// Offers from peers that nobody has accepted yet, kept before new ones are dropped.
const PENDING_OFFERS: usize = 32;
/// Trickled candidates kept per session until its remote description is set.
const PENDING_CANDIDATES: usize = 64;

/// The WebRTC backend: connects to and accepts peers by their signaling address.
///
/// [`Transport::connect`] makes a peer connection as the offerer with two data channels
/// (reliable ordered "reliable", unreliable unordered "unreliable", negotiated out of band),
/// waits until ICE gathering is complete and sends the whole offer as one signaling blob;
/// [`Transport::accept`] answers the next incoming offer the same way. No STUN/TURN server is
/// contacted unless [`WebRtcConfig`] names one. With [`WebRtcConfig::trickle`] the offer and
/// answer go out at once and each candidate follows in its own blob.
pub struct WebRtcTransport<S> {
    signaling: S,
    address: String,
    config: WebRtcConfig,
    /// The ICE servers the next connection uses.
    ice_servers: Mutex<Vec<IceServer>>,
    inbox: Inbox,
}

impl<S> std::fmt::Debug for WebRtcTransport<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebRtcTransport")
            .field("address", &self.address)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Blobs read from signaling but meant for another waiter.
#[derive(Default)]
struct Filed {
    offers: VecDeque<(String, Signal)>,
    awaiting: HashSet<(String, u64)>,
    answers: HashMap<(String, u64), Signal>,
    /// Sessions whose trickled candidates are kept (trickle only).
    routes: HashSet<(String, u64)>,
    candidates: HashMap<(String, u64), Remote>,
}

/// Candidates trickled by a peer, not yet added to its peer connection.
#[derive(Default)]
struct Remote {
    queue: Vec<RTCIceCandidateInit>,
    ended: bool,
}

impl Filed {
    fn forget(&mut self, key: &(String, u64)) {
        self.routes.remove(key);
        self.candidates.remove(key);
    }
}

struct Inbox {
    filed: Mutex<Filed>,
    /// Held by the one waiter that currently reads signaling.
    reader: AsyncMutex<()>,
    news: Notify,
}

/// The reading turn; giving it up wakes the other waiters so one of them reads next.
struct ReaderTurn<'a> {
    guard: Option<AsyncMutexGuard<'a, ()>>,
    news: &'a Notify,
}

impl Drop for ReaderTurn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        self.news.notify_waiters();
    }
}

enum Role {
    Offerer,
    Answerer,
}

impl<S: Signaling> WebRtcTransport<S> {
    /// A transport reachable at `address` on `signaling`.
    pub fn new(signaling: S, address: impl Into<String>, config: WebRtcConfig) -> Self {
        WebRtcTransport {
            signaling,
            address: address.into(),
            ice_servers: Mutex::new(config.ice_servers.clone()),
            config,
            inbox: Inbox {
                filed: Mutex::new(Filed::default()),
                reader: AsyncMutex::new(()),
                news: Notify::new(),
            },
        }
    }

    /// The transport's settings, with the ICE servers it started with.
    pub fn config(&self) -> &WebRtcConfig {
        &self.config
    }

    /// Replaces the STUN and TURN servers every later connection uses (connections already
    /// made keep theirs): for TURN credentials that expire, renewed without a restart.
    /// Refuses a list with a server [`IceServer::check`] refuses, keeping the old one.
    pub fn set_ice_servers(&self, servers: Vec<IceServer>) -> Result<(), WebRtcError> {
        for s in &servers {
            s.check()?;
        }
        *lock(&self.ice_servers) = servers;
        Ok(())
    }

    /// The STUN and TURN servers the next connection uses.
    pub fn ice_servers(&self) -> Vec<IceServer> {
        lock(&self.ice_servers).clone()
    }

    /// Waits until `take` finds what it wants among the filed blobs, reading signaling in
    /// turn with other waiters.
    async fn next<T>(&self, mut take: impl FnMut(&mut Filed) -> Option<T>) -> Result<T> {
        loop {
            let news = self.inbox.news.notified();
            tokio::pin!(news);
            news.as_mut().enable();
            if let Some(t) = take(&mut lock(&self.inbox.filed)) {
                return Ok(t);
            }
            let Ok(guard) = self.inbox.reader.try_lock() else {
                news.await;
                continue;
            };
            let _turn = ReaderTurn {
                guard: Some(guard),
                news: &self.inbox.news,
            };
            let (from, blob) = self.signaling.recv().await?;
            self.file(from, &blob);
        }
    }

    fn file(&self, from: String, blob: &[u8]) {
        let blob = match Blob::decode(blob) {
            Ok(b) => b,
            Err(e) => {
                tracing::debug!(%from, error = %e, "dropping signaling blob");
                return;
            }
        };
        let mut filed = lock(&self.inbox.filed);
        let signal = match blob {
            Blob::Sdp(signal) => signal,
            Blob::Candidate(..) | Blob::EndOfCandidates(_) => {
                let key = (from, blob.session());
                if !filed.routes.contains(&key) {
                    tracing::debug!(from = %key.0, "dropping a candidate nobody waits for");
                    return;
                }
                let remote = filed.candidates.entry(key).or_default();
                match blob {
                    Blob::Candidate(_, c) if remote.queue.len() < PENDING_CANDIDATES => {
                        remote.queue.push(c)
                    }
                    Blob::Candidate(..) => {
                        tracing::warn!("too many pending candidates; dropping one")
                    }
                    _ => remote.ended = true,
                }
                return;
            }
        };
        match signal.kind {
            Kind::Offer if filed.offers.len() < PENDING_OFFERS => {
                if self.config.trickle {
                    filed.routes.insert((from.clone(), signal.session));
                }
                filed.offers.push_back((from, signal))
            }
            Kind::Offer => tracing::warn!(%from, "too many pending offers; dropping one"),
            Kind::Answer => {
                let key = (from, signal.session);
                if filed.awaiting.contains(&key) {
                    filed.answers.insert(key, signal);
                } else {
                    tracing::debug!(from = %key.0, "dropping an answer nobody waits for");
                }
            }
        }
    }

    async fn offer(&self, address: &str, session: u64) -> Result<WebRtcConnection> {
        let mut link = Link::new(&self.config, &self.ice_servers()).await?;
        let offer = link.pc.create_offer(None).await.map_err(stack)?;
        // Trickle: the offer as created carries no candidate; they follow one by one.
        let early = offer.sdp.clone();
        link.pc.set_local_description(offer).await.map_err(stack)?;
        let sdp = match link.candidates {
            Some(_) => early,
            None => local_sdp(&link).await?,
        };
        let blob = Signal {
            kind: Kind::Offer,
            session,
            window: self.window(),
            sdp,
        }
        .encode()?;
        self.signaling.send(address, blob).await?;
        let pc = link.pc.clone();
        let local = link.candidates.take();
        let (remote_set, _) = watch::channel(false);
        let handshake = async {
            let key = (address.to_owned(), session);
            let answer = self.next(|f| f.answers.remove(&key)).await?;
            let desc = RTCSessionDescription::answer(answer.sdp).map_err(stack)?;
            link.pc.set_remote_description(desc).await.map_err(stack)?;
            link.shared.reached(Step::Described);
            remote_set.send_replace(true);
            self.finish(link, Role::Offerer, answer.window).await
        };
        self.trickling(address, session, local, &pc, &remote_set, handshake)
            .await
    }

    /// Runs `handshake` while (trickle) sending the local candidates to `peer` and adding the
    /// peer's to `pc` once `remote_set` says its description is set.
    async fn trickling(
        &self,
        peer: &str,
        session: u64,
        local: Option<mpsc::UnboundedReceiver<LocalCandidate>>,
        pc: &std::sync::Arc<dyn PeerConnection>,
        remote_set: &watch::Sender<bool>,
        handshake: impl std::future::Future<Output = Result<WebRtcConnection>>,
    ) -> Result<WebRtcConnection> {
        let Some(mut local) = local else {
            return handshake.await;
        };
        let send_local = async {
            while let Some(c) = local.recv().await {
                let (blob, end) = match c {
                    Some(c) => (Blob::Candidate(session, c), false),
                    None => (Blob::EndOfCandidates(session), true),
                };
                self.signaling.send(peer, blob.encode()?).await?;
                if end {
                    break;
                }
            }
            Ok::<_, Error>(())
        };
        let add_remote = async {
            let _ = remote_set.subscribe().wait_for(|s| *s).await;
            let key = (peer.to_owned(), session);
            loop {
                let (batch, ended) = self
                    .next(|f| {
                        let r = f.candidates.get_mut(&key)?;
                        (!r.queue.is_empty() || r.ended)
                            .then(|| (std::mem::take(&mut r.queue), r.ended))
                    })
                    .await?;
                for c in batch {
                    if let Err(e) = pc.add_ice_candidate(c).await {
                        tracing::debug!(error = %e, "skipping a remote candidate");
                    }
                }
                if ended {
                    return Ok::<_, Error>(());
                }
            }
        };
        let background = async {
            tokio::try_join!(send_local, add_remote)?;
            std::future::pending::<Result<WebRtcConnection>>().await
        };
        tokio::select! {
            r = handshake => r,
            r = background => r,
        }
    }

    async fn answer(&self, from: &str, offer: Signal) -> Result<WebRtcConnection> {
        let mut link = Link::new(&self.config, &self.ice_servers()).await?;
        let desc = RTCSessionDescription::offer(offer.sdp).map_err(stack)?;
        link.pc.set_remote_description(desc).await.map_err(stack)?;
        link.shared.reached(Step::Described);
        let answer = link.pc.create_answer(None).await.map_err(stack)?;
        let early = answer.sdp.clone();
        link.pc.set_local_description(answer).await.map_err(stack)?;
        let sdp = match link.candidates {
            Some(_) => early,
            None => local_sdp(&link).await?,
        };
        let blob = Signal {
            kind: Kind::Answer,
            session: offer.session,
            window: self.window(),
            sdp,
        }
        .encode()?;
        self.signaling.send(from, blob).await?;
        let pc = link.pc.clone();
        let local = link.candidates.take();
        let (remote_set, _) = watch::channel(true);
        let handshake = self.finish(link, Role::Answerer, offer.window);
        self.trickling(from, offer.session, local, &pc, &remote_set, handshake)
            .await
    }

    fn window(&self) -> u32 {
        u32::try_from(self.config.window()).unwrap_or(u32::MAX)
    }

    async fn finish(&self, link: Link, role: Role, peer_window: u32) -> Result<WebRtcConnection> {
        let shared = link.shared.clone();
        let mut state = shared.state.subscribe();
        let opened = async {
            let mut r = shared.reliable_open.subscribe();
            let mut u = shared.unreliable_open.subscribe();
            let _ = r.wait_for(|o| *o).await;
            let _ = u.wait_for(|o| *o).await;
        };
        tokio::select! {
            () = opened => shared.reached(Step::ChannelsOpen),
            _ = state.wait_for(|s| *s != LinkState::Open) => {
                return Err(WebRtcError::Failed("opening the data channels").into());
            }
        }
        let window = (peer_window as usize)
            .min(self.config.window())
            .max(crate::config::MIN_WINDOW);
        // Before our first ready frame: the peer sends data only after it, and every data
        // frame is charged to the credit this grants it.
        shared.open_window(window);
        tokio::select! {
            r = crate::link::ready(&link) => r.map_err(stack)?,
            _ = state.wait_for(|s| *s != LinkState::Open) => {
                return Err(WebRtcError::Failed("exchanging ready frames").into());
            }
        }
        shared.reached(Step::Ready);
        let sctp = link
            .pc
            .sctp()
            .await
            .ok_or(WebRtcError::Failed("finding the SCTP transport"))?;
        let sctp_max_message = sctp.max_message_size().await.map_err(stack)? as usize;
        let (local, remote) = fingerprints(&link).await?;
        *lock(&shared.path) = selected_path(&*link.pc).await;
        let mut link = link;
        link.tasks
            .push(tokio::spawn(watch_path(link.pc.clone(), shared.clone())));
        let (offerer, answerer) = match role {
            Role::Offerer => (local, remote),
            Role::Answerer => (remote, local),
        };
        WebRtcConnection::new(
            link,
            Negotiated {
                binding: channel_binding(&offerer, &answerer),
                sctp_max_message,
                window,
                max_message: self.config.max_message_len,
                close_timeout: self.config.close_timeout,
            },
        )
    }
}

impl<S: Signaling> Transport for WebRtcTransport<S> {
    type Connection = WebRtcConnection;

    async fn connect(&self, address: &str) -> Result<WebRtcConnection> {
        let session = OsRng.next_u64();
        let key = (address.to_owned(), session);
        {
            let mut filed = lock(&self.inbox.filed);
            filed.awaiting.insert(key.clone());
            if self.config.trickle {
                filed.routes.insert(key.clone());
            }
        }
        let result =
            tokio::time::timeout(self.config.connect_timeout, self.offer(address, session)).await;
        {
            let mut filed = lock(&self.inbox.filed);
            filed.awaiting.remove(&key);
            filed.answers.remove(&key);
            filed.forget(&key);
        }
        match result {
            Ok(r) => r,
            Err(_) => Err(WebRtcError::Timeout("connecting").into()),
        }
    }

    async fn accept(&self) -> Result<WebRtcConnection> {
        let (from, offer) = self.next(|f| f.offers.pop_front()).await?;
        tracing::debug!(%from, "answering an offer");
        let key = (from.clone(), offer.session);
        let result =
            tokio::time::timeout(self.config.connect_timeout, self.answer(&from, offer)).await;
        lock(&self.inbox.filed).forget(&key);
        result.map_err(|_| Error::from(WebRtcError::Timeout("answering")))?
    }

    fn local_address(&self) -> &str {
        &self.address
    }
}

/// How long a description waits for ICE gathering to complete. Gathering waits for every
/// STUN and TURN server to answer or time out (about 8 s for one behind a firewall that
/// drops UDP); the candidates found by then go out without the late ones.
const GATHER_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The local description once ICE gathering is complete (or [`GATHER_LIMIT`] passed), so it
/// carries every candidate found.
async fn local_sdp(link: &Link) -> Result<String> {
    let mut gathered = link.shared.gathered.subscribe();
    if tokio::time::timeout(GATHER_LIMIT, gathered.wait_for(|g| *g))
        .await
        .is_err()
    {
        tracing::debug!("ICE gathering incomplete; sending the candidates found so far");
    }

    Ok(link
        .pc
        .local_description()
        .await
        .ok_or(WebRtcError::Failed("reading the local description"))?
        .sdp)
}

/// The DTLS certificate fingerprints (local, remote) the connection actually uses: the remote
/// one is of the certificate the peer proved possession of in the DTLS handshake.
async fn fingerprints(link: &Link) -> Result<(Fingerprint, Fingerprint), WebRtcError> {
    let report = link.pc.get_stats(Instant::now(), StatsSelector::None).await;
    let (local_id, remote_id) = report
        .iter()
        .find_map(|e| match e {
            RTCStatsReportEntry::Transport(t)
                if !t.local_certificate_id.is_empty() && !t.remote_certificate_id.is_empty() =>
            {
                Some((
                    t.local_certificate_id.clone(),
                    t.remote_certificate_id.clone(),
                ))
            }
            _ => None,
        })
        .ok_or(WebRtcError::NoFingerprint)?;
    let find = |id: &str| {
        report.iter().find_map(|e| match e {
            RTCStatsReportEntry::Certificate(c) if c.stats.id == id => {
                Fingerprint::parse(&c.fingerprint_algorithm, &c.fingerprint)
            }
            _ => None,
        })
    };
    Ok((
        find(&local_id).ok_or(WebRtcError::NoFingerprint)?,
        find(&remote_id).ok_or(WebRtcError::NoFingerprint)?,
    ))
}

/// How often a connection's path and round-trip time are read again.
const PATH_REFRESH: std::time::Duration = std::time::Duration::from_secs(1);

/// Keeps the connection's path and round-trip time current (ICE may switch pairs).
async fn watch_path(pc: std::sync::Arc<dyn PeerConnection>, shared: std::sync::Arc<Shared>) {
    let mut tick = tokio::time::interval(PATH_REFRESH);
    tick.tick().await;
    loop {
        tick.tick().await;
        if shared.current() != LinkState::Open {
            return;
        }
        if let Some(now) = selected_path(&*pc).await {
            *lock(&shared.path) = Some(now);
        }
    }
}

/// The candidate pair ICE selected and its current round-trip time; `None` before a pair is
/// selected. (The pair comes from the ICE transport: webrtc 0.21's statistics name candidates
/// with ids their pairs do not use, and leave peer-reflexive ones out.)
pub(crate) async fn selected_path(
    pc: &dyn PeerConnection,
) -> Option<(Path, Option<std::time::Duration>)> {
    let ice = pc.sctp().await?.transport().ice_transport();
    let pair = ice.get_selected_candidate_pair().await.ok()??;
    let path = Path {
        local: to_candidate(pair.local())?,
        remote: to_candidate(pair.remote())?,
    };
    let report = pc.get_stats(Instant::now(), StatsSelector::None).await;
    let rtt = report.iter().find_map(|e| match e {
        RTCStatsReportEntry::Transport(t) if !t.selected_candidate_pair_id.is_empty() => {
            report.iter().find_map(|p| match p {
                RTCStatsReportEntry::IceCandidatePair(p)
                    if p.stats.id == t.selected_candidate_pair_id =>
                {
                    Some(p.current_round_trip_time)
                }
                _ => None,
            })
        }
        _ => None,
    });
    let rtt = rtt
        .filter(|r| r.is_finite() && *r > 0.0)
        .map(std::time::Duration::from_secs_f64);
    Some((path, rtt))
}

fn to_candidate(c: &RTCIceCandidate) -> Option<Candidate> {
    let kind = match c.typ {
        RTCIceCandidateType::Host => CandidateKind::Host,
        RTCIceCandidateType::Srflx => CandidateKind::ServerReflexive,
        RTCIceCandidateType::Prflx => CandidateKind::PeerReflexive,
        RTCIceCandidateType::Relay => CandidateKind::Relay,
        _ => return None,
    };
    let ip: std::net::IpAddr = c.address.parse().ok()?;
    Some(Candidate {
        kind,
        address: std::net::SocketAddr::new(ip, c.port),
    })
}

/// A DTLS certificate fingerprint: the SHA-256 digest of the certificate's DER encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fingerprint(pub(crate) [u8; 32]);

impl Fingerprint {
    /// Reads a fingerprint in the form of SDP's `a=fingerprint` (RFC 8122): algorithm
    /// `sha-256` (any case) and 32 two-digit hex numbers separated by `:` (either case).
    /// Anything else is `None`: the binding is defined for SHA-256 fingerprints only.
    pub(crate) fn parse(algorithm: &str, text: &str) -> Option<Fingerprint> {
        let pairs: Vec<&str> = text.split(':').collect();
        if !algorithm.eq_ignore_ascii_case("sha-256") || pairs.len() != 32 {
            return None;
        }
        let mut digest = [0u8; 32];
        for (byte, pair) in digest.iter_mut().zip(pairs) {
            // from_str_radix alone would take a sign ("+B").
            if pair.len() != 2 || !pair.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(Fingerprint(digest))
    }

    /// The fingerprint as it enters the binding: 32 two-digit upper-case hex numbers
    /// separated by `:`, 95 ASCII bytes.
    pub(crate) fn text(&self) -> String {
        let pairs: Vec<String> = self.0.iter().map(|b| format!("{b:02X}")).collect();
        pairs.join(":")
    }
}

/// The channel binding (docs/spec/transport.md 6.3): SHA-256 over the label and both
/// fingerprints' text, the offerer's first, each prefixed with its length as a u32 big-endian.
pub(crate) fn channel_binding(offerer: &Fingerprint, answerer: &Fingerprint) -> Bytes {
    let mut h = Sha256::new();
    h.update(CHANNEL_BINDING_LABEL);
    for fp in [offerer, answerer] {
        let text = fp.text();
        h.update((text.len() as u32).to_be_bytes());
        h.update(text.as_bytes());
    }
    Bytes::copy_from_slice(&h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_depends_on_order_and_both_fingerprints() {
        let (a, b) = (Fingerprint([0xaa; 32]), Fingerprint([0xbb; 32]));
        let ab = channel_binding(&a, &b);
        assert_eq!(ab.len(), 32);
        assert_ne!(ab, channel_binding(&b, &a));
        assert_ne!(ab, channel_binding(&a, &a));
    }

    #[test]
    fn fingerprints_parse_only_in_the_sdp_form_of_sha_256() {
        let text = Fingerprint([0xab; 32]).text();
        assert_eq!(text.len(), 95);
        assert_eq!(&text[..6], "AB:AB:");
        let lower = text.to_ascii_lowercase();
        assert_eq!(
            Fingerprint::parse("SHA-256", &lower),
            Some(Fingerprint([0xab; 32]))
        );
        assert_eq!(Fingerprint::parse("sha-1", &text), None);
        assert_eq!(Fingerprint::parse("sha-256", &text[..92]), None);
        assert_eq!(Fingerprint::parse("sha-256", &text.replace(':', "-")), None);
        assert_eq!(Fingerprint::parse("sha-256", &format!("{text}:")), None);
        assert_eq!(
            Fingerprint::parse("sha-256", &text.replacen("AB", "+B", 1)),
            None
        );
        assert_eq!(
            Fingerprint::parse("sha-256", &format!("{}ABC", &text[..92])),
            None
        );
    }
}

//! The signaling client: authenticates to a `syncshell-signal` server and carries blobs to
//! and from peers of the same shell. It implements [`Signaling`] for the WebRTC transport
//! (a peer's address is its peer id text) and carries application blobs beside it.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use syncshell_identity::{
    Identity, JoinRequest, PeerId, ShellGenesis, ShellId, Timestamp, TokenChain,
};
use syncshell_transport::Signaling;
use tokio::sync::{mpsc, watch, Mutex as AsyncMutex};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::Connector;

use crate::error::Error;
use crate::frame::{
    signed_bytes, Frame, NoticeCode, PresenceChange, RefuseCode, Standing, AUTH_CONTEXT,
};
use crate::ice::IceGrant;
use crate::tls;

/// What a client presents to the server.
// Built once per client; boxing a variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Credentials {
    /// A member: the shell's genesis and the member's token chain (empty for the owner).
    Member {
        /// The shell.
        genesis: ShellGenesis,
        /// The member's chain.
        chain: TokenChain,
    },
    /// A joiner: its join request, which names the shell and the inviter. A guest may
    /// relay only to its inviter, and only the inviter may relay to it.
    Guest {
        /// The join request.
        request: JoinRequest,
    },
}

impl Credentials {
    fn shell(&self) -> ShellId {
        match self {
            Credentials::Member { genesis, .. } => genesis.id(),
            Credentials::Guest { request } => request.invite().genesis().id(),
        }
    }
}

/// How the client behaves.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Interval of WebSocket pings that keep the connection from the server's idle timeout;
    /// `None` sends none.
    pub keepalive: Option<Duration>,
    /// Whether to reconnect (with doubling delays up to [`ClientOptions::max_retry_delay`])
    /// after the connection to the server was lost. A refusal is never retried.
    pub reconnect: bool,
    /// Longest delay between reconnection attempts.
    pub max_retry_delay: Duration,
    /// Time allowed for connecting and authenticating.
    pub connect_timeout: Duration,
    /// A PEM file of CA certificates trusted for `wss://` URLs besides the operating
    /// system's roots: for a relay whose certificate a private CA issued (or a self-signed
    /// one). `None` trusts the system's roots only. Giving one with a `ws://` URL is an error.
    pub ca_file: Option<PathBuf>,
    /// More relays of the same deployment (relays sharing one Redis, see
    /// [`Server::with_redis`](crate::Server::with_redis)), tried in order after the URL given
    /// to [`SignalClient::connect`] when a relay cannot be reached, and in turn when a
    /// connection is lost. A refusal is final whichever relay gave it.
    pub fallback_urls: Vec<String>,
    /// With [`ClientOptions::reconnect`]: when no relay can be reached at first,
    /// [`SignalClient::connect`] returns a client that is still connecting
    /// ([`Status::Connecting`]) and keeps trying, instead of failing. A refusal, a TLS
    /// failure or a bad setting still fails at once.
    pub start_unreachable: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            keepalive: Some(Duration::from_secs(15)),
            reconnect: true,
            max_retry_delay: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            ca_file: None,
            fallback_urls: Vec::new(),
            start_unreachable: false,
        }
    }
}

/// Where the client stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Connecting or reconnecting.
    Connecting,
    /// Admitted.
    Connected,
    /// Stopped for good.
    Failed(Error),
}

/// What the server said without closing the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// What happened.
    pub code: NoticeCode,
    /// The peer it is about.
    pub peer: Option<PeerId>,
}

/// The first byte of every relayed blob says which of the client's channels it belongs to
/// (a client convention; the server forwards blobs without looking at them).
const CHANNEL_TRANSPORT: u8 = 0;
const CHANNEL_APP: u8 = 1;
/// Blobs queued per channel before more are dropped.
const INBOX: usize = 256;
/// Soonest the client asks for ICE servers again after an answer (the relay closes a
/// connection that asks more often than once a second).
const ICE_RENEW_FLOOR: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct Inner {
    peer: PeerId,
    shell: ShellId,
    out: Mutex<Option<mpsc::Sender<Message>>>,
    transport_rx: AsyncMutex<mpsc::Receiver<(PeerId, Bytes)>>,
    app_rx: AsyncMutex<mpsc::Receiver<(PeerId, Bytes)>>,
    notices_rx: AsyncMutex<mpsc::Receiver<Notice>>,
    status: watch::Sender<Status>,
    ice: watch::Sender<IceGrant>,
    presence: watch::Sender<BTreeSet<PeerId>>,
    closed: AtomicBool,
}

/// A connection to a signaling server, re-established after network failures. Cheap to
/// clone; every clone shares the connection.
#[derive(Debug, Clone)]
pub struct SignalClient {
    inner: Arc<Inner>,
    _handle: Arc<Handle>,
}

/// Closes the connection when the last clone of a client is dropped.
#[derive(Debug)]
struct Handle(Arc<Inner>);

impl Drop for Handle {
    fn drop(&mut self) {
        close(&self.0);
    }
}

fn close(inner: &Inner) {
    inner.closed.store(true, Ordering::SeqCst);
    if let Some(out) = lock(&inner.out).take() {
        let _ = out.try_send(Message::Close(None));
    }
    inner.status.send_replace(Status::Failed(Error::Closed));
}

/// The [`Signaling`] view of a [`SignalClient`]: the transport's blobs only.
#[derive(Debug, Clone)]
pub struct TransportSignaling {
    client: SignalClient,
}

struct Queues {
    transport: mpsc::Sender<(PeerId, Bytes)>,
    app: mpsc::Sender<(PeerId, Bytes)>,
    notices: mpsc::Sender<Notice>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SignalClient {
    /// Connects to `url` (`ws://127.0.0.1:7447/`, or `wss://` for TLS), answers the
    /// challenge with `identity` and `credentials`, and returns once admitted. A refusal is
    /// returned as [`Error::Refused`], a certificate the client does not trust as
    /// [`Error::Tls`], an unusable [`ClientOptions::ca_file`] as
    /// [`Error::Config`].
    ///
    /// Once admitted, and again before they expire, the client asks the relay for its ICE
    /// servers: see [`SignalClient::ice_servers`].
    pub async fn connect(
        url: &str,
        identity: Identity,
        credentials: Credentials,
        options: ClientOptions,
    ) -> Result<SignalClient, Error> {
        let (transport_tx, transport_rx) = mpsc::channel(INBOX);
        let (app_tx, app_rx) = mpsc::channel(INBOX);
        let (notices_tx, notices_rx) = mpsc::channel(INBOX);
        let (status, mut watcher) = watch::channel(Status::Connecting);
        let inner = Arc::new(Inner {
            peer: identity.peer_id(),
            shell: credentials.shell(),
            out: Mutex::new(None),
            transport_rx: AsyncMutex::new(transport_rx),
            app_rx: AsyncMutex::new(app_rx),
            notices_rx: AsyncMutex::new(notices_rx),
            status,
            ice: watch::Sender::new(IceGrant::default()),
            presence: watch::Sender::new(BTreeSet::new()),
            closed: AtomicBool::new(false),
        });
        let queues = Queues {
            transport: transport_tx,
            app: app_tx,
            notices: notices_tx,
        };
        let relays = std::iter::once(url)
            .chain(options.fallback_urls.iter().map(String::as_str))
            .map(|url| {
                tls::connector(url, options.ca_file.as_deref()).map(|tls| Relay {
                    url: url.to_owned(),
                    tls,
                })
            })
            .collect::<Result<Vec<_>, Error>>();
        let dial = relays.map(|relays| Dial {
            relays,
            identity,
            credentials,
        });
        let first = match &dial {
            Ok(dial) => first_session(&inner, dial, &options, &queues).await,
            Err(e) => Err(e.clone()),
        };
        let (dial, (at, stream)) = match (dial, first) {
            (Ok(dial), Ok((at, ws))) => (dial, (at, Some(ws))),
            (Ok(dial), Err(Error::Connect(why)))
                if options.reconnect && options.start_unreachable =>
            {
                tracing::info!(%why, "signal: no relay reachable yet; trying again later");
                (dial, (0, None))
            }
            (Ok(_), Err(e)) | (Err(e), _) => {
                inner.status.send_replace(Status::Failed(e.clone()));
                return Err(e);
            }
        };
        let connected = stream.is_some();
        let client = SignalClient {
            inner: inner.clone(),
            _handle: Arc::new(Handle(inner.clone())),
        };
        tokio::spawn(async move {
            supervise(inner, dial, at, options, queues, stream).await;
        });
        // The supervisor has the connection; report only that it is up.
        if connected {
            let _ = watcher.wait_for(|s| *s != Status::Connecting).await;
        }
        Ok(client)
    }

    /// This client's peer id (its address for the transport).
    pub fn peer(&self) -> PeerId {
        self.inner.peer
    }

    /// The shell it is registered in.
    pub fn shell(&self) -> ShellId {
        self.inner.shell
    }

    /// Where the client stands now.
    pub fn status(&self) -> Status {
        self.inner.status.borrow().clone()
    }

    /// A receiver that sees every change of [`SignalClient::status`] (each reconnection
    /// shows as [`Status::Connected`] again).
    pub fn watch_status(&self) -> watch::Receiver<Status> {
        self.inner.status.subscribe()
    }

    /// The STUN and TURN servers the relay granted, with their credentials: empty until it
    /// answered (shortly after each admission) or when it has none. The client asks again
    /// at half the credentials' remaining lifetime (not sooner than 30 s) while connected,
    /// so a receiver sees each renewal; after the connection is lost the last grant stays,
    /// and [`IceGrant::expires_at`] says until when it works.
    pub fn ice_servers(&self) -> watch::Receiver<IceGrant> {
        self.inner.ice.subscribe()
    }

    /// The other members of the shell connected now, to this relay or to another one
    /// sharing its Redis, as the relay tells it: the whole list after each admission, then
    /// each change. Empty while not connected, and always for a guest (guests neither see
    /// nor are seen).
    pub fn presence(&self) -> watch::Receiver<BTreeSet<PeerId>> {
        self.inner.presence.subscribe()
    }

    /// Waits until the status is no longer [`Status::Connected`] or [`Status::Connecting`],
    /// and returns the error that ended the client.
    pub async fn failed(&self) -> Error {
        let mut w = self.inner.status.subscribe();
        match w
            .wait_for(|s| matches!(s, Status::Failed(_)))
            .await
            .map(|s| s.clone())
        {
            Ok(Status::Failed(e)) => e,
            _ => Error::Closed,
        }
    }

    fn send_frame(&self, frame: &Frame) -> Result<(), Error> {
        if let Status::Failed(e) = self.status() {
            return Err(e);
        }
        let out = lock(&self.inner.out).clone();
        let Some(out) = out else {
            return Err(Error::Connect("not connected to the signal server".into()));
        };
        out.try_send(Message::Binary(Bytes::from(frame.encode())))
            .map_err(|_| Error::Connect("the signal connection is busy or gone".into()))
    }

    fn relay(&self, to: &PeerId, channel: u8, blob: &[u8]) -> Result<(), Error> {
        let mut b = Vec::with_capacity(blob.len() + 1);
        b.push(channel);
        b.extend_from_slice(blob);
        self.send_frame(&Frame::Relay { to: *to, blob: b })
    }

    /// Sends an application blob to `to` (a peer of the same shell).
    pub fn send_app(&self, to: &PeerId, blob: &[u8]) -> Result<(), Error> {
        self.relay(to, CHANNEL_APP, blob)
    }

    /// The next application blob and its sender, as the server authenticated it. `None`
    /// once the client stopped for good.
    pub async fn recv_app(&self) -> Option<(PeerId, Bytes)> {
        self.inner.app_rx.lock().await.recv().await
    }

    /// Uploads an encoded tombstone; the server answers with a [`Notice`].
    pub fn upload_tombstone(&self, tombstone: &[u8]) -> Result<(), Error> {
        self.send_frame(&Frame::Tombstone {
            tombstone: tombstone.to_vec(),
        })
    }

    /// The next notice from the server.
    pub async fn next_notice(&self) -> Option<Notice> {
        self.inner.notices_rx.lock().await.recv().await
    }

    /// The [`Signaling`] view for a transport.
    pub fn transport(&self) -> TransportSignaling {
        TransportSignaling {
            client: self.clone(),
        }
    }

    /// Closes the connection and stops reconnecting.
    pub fn close(&self) {
        close(&self.inner);
    }
}

impl Signaling for TransportSignaling {
    async fn send(&self, to: &str, blob: Bytes) -> syncshell_transport::Result<()> {
        let peer: PeerId = to
            .parse()
            .map_err(|_| syncshell_transport::Error::Unreachable(to.to_owned()))?;
        self.client
            .relay(&peer, CHANNEL_TRANSPORT, &blob)
            .map_err(|e| syncshell_transport::Error::Backend(e.to_string()))
    }

    async fn recv(&self) -> syncshell_transport::Result<(String, Bytes)> {
        let got = self.client.inner.transport_rx.lock().await.recv().await;
        match got {
            Some((from, blob)) => Ok((from.to_string(), blob)),
            None => Err(syncshell_transport::Error::Closed),
        }
    }
}

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn protocol(e: impl std::fmt::Display) -> Error {
    Error::Protocol(e.to_string())
}

/// Where and as whom the client connects, each time.
/// One relay the client may use.
struct Relay {
    url: String,
    /// TLS settings for a `wss://` URL, built once.
    tls: Option<Connector>,
}

struct Dial {
    /// The URL given to `connect`, then the fallbacks; never empty.
    relays: Vec<Relay>,
    identity: Identity,
    credentials: Credentials,
}

/// Tries each relay in order until one admits the client or refuses it; returns which
/// relay, or the last relay's error.
async fn first_session(
    inner: &Inner,
    dial: &Dial,
    options: &ClientOptions,
    queues: &Queues,
) -> Result<(usize, Stream), Error> {
    let mut last = Error::Connect("no relay URL".into());
    for at in 0..dial.relays.len() {
        match session(inner, dial, at, options, queues).await {
            Ok(ws) => return Ok((at, ws)),
            Err(e @ Error::Refused { .. }) => return Err(e),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Connects to relay `at` and authenticates once.
async fn session(
    inner: &Inner,
    dial: &Dial,
    at: usize,
    options: &ClientOptions,
    queues: &Queues,
) -> Result<Stream, Error> {
    let Dial {
        relays,
        identity,
        credentials,
    } = dial;
    let Some(Relay { url, tls }) = relays.get(at) else {
        return Err(Error::Connect("no relay URL".into()));
    };
    let work = async {
        let (mut ws, _) =
            tokio_tungstenite::connect_async_tls_with_config(url, None, false, tls.clone())
                .await
                .map_err(tls::connect_error)?;
        let (nonce, session) = match next_frame(&mut ws).await? {
            Frame::Challenge { nonce, session } => (nonce, session),
            Frame::Refused { code, reason } => return Err(Error::Refused { code, reason }),
            other => return Err(protocol(format!("expected a challenge, got {other:?}"))),
        };
        let peer = identity.peer_id();
        let signature = identity.sign(
            AUTH_CONTEXT,
            &signed_bytes(&nonce, &session, &inner.shell, &peer),
        );
        let hello = match credentials {
            Credentials::Member { genesis, chain } => Frame::Hello {
                genesis: genesis.encode(),
                chain: chain.encode(),
                peer,
                signature,
            },
            Credentials::Guest { request } => Frame::Join {
                request: request.encode(),
                signature,
            },
        };
        ws.send(Message::Binary(Bytes::from(hello.encode())))
            .await
            .map_err(|e| Error::Connect(e.to_string()))?;
        loop {
            match next_frame(&mut ws).await? {
                Frame::Welcome {
                    shell,
                    peer: p,
                    standing,
                } => {
                    let want = match credentials {
                        Credentials::Member { .. } => Standing::Member,
                        Credentials::Guest { .. } => Standing::Guest,
                    };
                    if shell != inner.shell || p != peer || standing != want {
                        return Err(protocol("the welcome names another shell or peer"));
                    }
                    return Ok(ws);
                }
                Frame::Refused { code, reason } => return Err(Error::Refused { code, reason }),
                Frame::Notice { code, peer } => {
                    let _ = queues.notices.try_send(Notice { code, peer });
                }
                other => return Err(protocol(format!("expected a welcome, got {other:?}"))),
            }
        }
    };
    tokio::time::timeout(options.connect_timeout, work)
        .await
        .map_err(|_| Error::Connect("timed out connecting".into()))?
}

async fn next_frame(ws: &mut Stream) -> Result<Frame, Error> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => return Frame::decode(&b).map_err(protocol),
            Some(Ok(Message::Close(_))) | None => {
                return Err(Error::Connect("the server closed the connection".into()))
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(Error::Connect(e.to_string())),
        }
    }
}

/// Runs connections one after another until a refusal or [`SignalClient::close`].
async fn supervise(
    inner: Arc<Inner>,
    dial: Dial,
    mut at: usize,
    options: ClientOptions,
    queues: Queues,
    first: Option<Stream>,
) {
    let mut stream = first;
    let mut delay = Duration::from_millis(250);
    loop {
        let ws = match stream.take() {
            Some(ws) => ws,
            None => match session(&inner, &dial, at, &options, &queues).await {
                Ok(ws) => ws,
                Err(e @ Error::Refused { .. }) => {
                    inner.status.send_replace(Status::Failed(e));
                    break;
                }
                Err(e) => {
                    // The next relay in turn (the same one when there is only one).
                    at = (at + 1) % dial.relays.len();
                    tracing::debug!(error = %e, ?delay, "signal: reconnecting later");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(options.max_retry_delay);
                    if inner.closed.load(Ordering::SeqCst) {
                        break;
                    }
                    continue;
                }
            },
        };
        if inner.closed.load(Ordering::SeqCst) {
            break;
        }
        delay = Duration::from_millis(250);
        let (tx, rx) = mpsc::channel(INBOX);
        *lock(&inner.out) = Some(tx);
        if inner.closed.load(Ordering::SeqCst) {
            *lock(&inner.out) = None;
            break;
        }
        inner.status.send_replace(Status::Connected);
        let ended = pump(ws, rx, &queues, &inner, &options).await;
        *lock(&inner.out) = None;
        inner.presence.send_if_modified(|p| {
            let had = !p.is_empty();
            p.clear();
            had
        });
        if inner.closed.load(Ordering::SeqCst) {
            break;
        }
        match ended {
            Err(e @ Error::Refused { .. }) => {
                let retry = matches!(
                    e,
                    Error::Refused {
                        code: RefuseCode::ShuttingDown | RefuseCode::Idle,
                        ..
                    }
                );
                if !retry || !options.reconnect {
                    tracing::info!(error = %e, "signal: stopped");
                    inner.status.send_replace(Status::Failed(e));
                    break;
                }
            }
            Err(e) if !options.reconnect => {
                inner.status.send_replace(Status::Failed(e));
                break;
            }
            _ if !options.reconnect => {
                inner
                    .status
                    .send_replace(Status::Failed(Error::Connect("closed".into())));
                break;
            }
            _ => {}
        }
        // The connection was lost: try the next relay in turn first.
        at = (at + 1) % dial.relays.len();
        inner.status.send_replace(Status::Connecting);
        tokio::time::sleep(delay).await;
    }
}

/// When to ask for ICE servers again after a grant that expires at `expires` (unix seconds,
/// 0 for never): at half the remaining lifetime, not sooner than [`ICE_RENEW_FLOOR`].
fn renew_after(expires: u64, now: Timestamp) -> Option<Duration> {
    if expires == 0 {
        return None;
    }
    let left = expires.saturating_mul(1000).saturating_sub(now.as_millis());
    Some(Duration::from_millis(left / 2).max(ICE_RENEW_FLOOR))
}

/// Moves frames between the WebSocket and the queues until the connection ends; asks for
/// the ICE servers at once and again before they expire; keeps the presence list.
async fn pump(
    ws: Stream,
    mut out: mpsc::Receiver<Message>,
    queues: &Queues,
    inner: &Inner,
    options: &ClientOptions,
) -> Result<(), Error> {
    let (mut sink, mut source) = ws.split();
    let period = options.keepalive.unwrap_or(Duration::from_secs(3600));
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let ask = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(ask);
    let mut asking = true;
    loop {
        tokio::select! {
            _ = &mut ask, if asking => {
                asking = false;
                let request = Message::Binary(Bytes::from(Frame::IceRequest.encode()));
                if sink.send(request).await.is_err() {
                    return Ok(());
                }
            }
            m = out.recv() => {
                let Some(m) = m else { return Ok(()) };
                let close = matches!(m, Message::Close(_));
                if sink.send(m).await.is_err() || close {
                    return Ok(());
                }
            }
            _ = ping.tick(), if options.keepalive.is_some() => {
                if sink.send(Message::Ping(Bytes::new())).await.is_err() {
                    return Ok(());
                }
            }
            m = source.next() => {
                let bytes = match m {
                    Some(Ok(Message::Binary(b))) => b,
                    Some(Ok(Message::Close(_))) | None => return Ok(()),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(Error::Connect(e.to_string())),
                };
                match Frame::decode(&bytes).map_err(protocol)? {
                    Frame::Deliver { from, blob } => {
                        let (queue, body) = match blob.split_first() {
                            Some((&CHANNEL_TRANSPORT, rest)) => (&queues.transport, rest),
                            Some((&CHANNEL_APP, rest)) => (&queues.app, rest),
                            _ => continue,
                        };
                        if queue.try_send((from, Bytes::copy_from_slice(body))).is_err() {
                            tracing::warn!(from = %from.short(), "signal: inbox full; blob dropped");
                        }
                    }
                    Frame::Notice { code, peer } => {
                        let _ = queues.notices.try_send(Notice { code, peer });
                    }
                    Frame::IceServers { expires, servers } => {
                        let now = Timestamp::from_system_time(SystemTime::now());
                        if let Some(wait) = renew_after(expires, now) {
                            ask.as_mut().reset(tokio::time::Instant::now() + wait);
                            asking = true;
                        }
                        let expires_at = (expires != 0)
                            .then(|| Timestamp::from_millis(expires.saturating_mul(1000)));
                        inner.ice.send_replace(IceGrant { servers, expires_at });
                    }
                    Frame::Presence { change, peers } => {
                        inner.presence.send_modify(|present| match change {
                            PresenceChange::All => *present = peers.into_iter().collect(),
                            PresenceChange::Online => present.extend(peers),
                            PresenceChange::Offline => {
                                for p in &peers {
                                    present.remove(p);
                                }
                            }
                        });
                    }
                    Frame::Refused { code, reason } => {
                        return Err(Error::Refused { code, reason });
                    }
                    other => return Err(protocol(format!("unexpected {other:?}"))),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ice_servers_are_renewed_at_half_their_lifetime_and_never_too_often() {
        let now = Timestamp::from_millis(1_767_225_600_000);
        let secs = now.as_millis() / 1000;
        assert_eq!(renew_after(0, now), None);
        assert_eq!(
            renew_after(secs + 3600, now),
            Some(Duration::from_secs(1800))
        );
        assert_eq!(renew_after(secs + 10, now), Some(ICE_RENEW_FLOOR));
        // Already expired by this clock (a clock ahead of the relay's): the floor, not a loop.
        assert_eq!(renew_after(secs - 100, now), Some(ICE_RENEW_FLOOR));
    }
}

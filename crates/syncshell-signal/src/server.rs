//! The signaling relay: admits members of a shell by their token chain and a signature over
//! a fresh challenge, and forwards opaque blobs between admitted peers of the same shell.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::connect_info::Connected;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::{IncomingStream, Listener};
use axum::Router;
use bytes::Bytes;
use rand_core::{OsRng, RngCore};
use syncshell_identity::{
    Admission, JoinRequest, PeerId, ShellGenesis, ShellId, Timestamp, TokenChain,
};
use syncshell_revocation::{RevocationSet, Tombstone};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Notify};

use crate::cluster::{Cluster, Inbound, RedisConfig};
use crate::error::Error;
use crate::frame::{
    signed_bytes, Frame, NoticeCode, PresenceChange, RefuseCode, Standing, AUTH_CONTEXT,
    MAX_PRESENCE_PEERS, NONCE_LEN, SESSION_LEN,
};
use crate::ice::IceConfig;
use crate::listener::{ServerTls, TlsListener};

/// The server's limits; every one is a command-line flag of `syncshell-signal`.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest frame a client may send, in bytes.
    pub max_message: usize,
    /// Frames per second a connection may send (a token bucket holding one second's worth).
    pub messages_per_second: u32,
    /// Open WebSocket connections per client IP address.
    pub connections_per_ip: usize,
    /// A connection that sends nothing for this long is closed (clients ping to stay).
    pub idle_timeout: Duration,
    /// Time a new connection has to answer the challenge.
    pub hello_timeout: Duration,
    /// Shells the server keeps state for.
    pub max_shells: usize,
    /// Members registered in one shell.
    pub max_peers_per_shell: usize,
    /// Guests (joiners with an invite) registered in one shell at once; they do not count
    /// against [`Limits::max_peers_per_shell`], so a leaked invite cannot lock members out.
    pub max_guests_per_shell: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message: 64 * 1024,
            messages_per_second: 50,
            connections_per_ip: 16,
            idle_timeout: Duration::from_secs(60),
            hello_timeout: Duration::from_secs(10),
            max_shells: 1024,
            max_peers_per_shell: 1024,
            max_guests_per_shell: 16,
        }
    }
}

/// Bytes a connection reads from its socket at a time.
const READ_BUFFER: usize = 4 * 1024;
/// Frames queued for one connection before relayed blobs to it are dropped.
const OUTBOX: usize = 256;
/// How long shutdown waits for connections to close after telling them to.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// A connection may ask for ICE servers once per this interval (each answer costs an HMAC
/// and up to a few KiB); one that asks sooner is closed with *rate limited*.
const ICE_REQUEST_INTERVAL: Duration = Duration::from_secs(1);

/// Counters shown by `/stats`.
#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    admitted: AtomicU64,
    relayed: AtomicU64,
    /// Blobs handed to another relay through Redis.
    forwarded: AtomicU64,
    refused: AtomicU64,
    dropped: AtomicU64,
}

/// What the server tells a connection's task from elsewhere.
#[derive(Debug)]
enum Outgoing {
    Frame(Vec<u8>),
    Close(RefuseCode, String),
}

#[derive(Debug)]
struct Peer {
    conn: u64,
    tx: mpsc::Sender<Outgoing>,
    /// A member's own admission; for a guest, its inviter's (the guest stays only while
    /// its inviter is admitted).
    admission: Admission,
    /// A guest's inviter, the only peer it may reach; `None` for a member.
    inviter: Option<PeerId>,
}

#[derive(Debug)]
struct Shell {
    revocations: RevocationSet,
    peers: HashMap<PeerId, Peer>,
}

/// Whether the tombstones held now still admit a registered peer: the admission it rests on
/// (a guest's: its inviter's) and its own key.
fn still_admitted(revocations: &RevocationSet, id: &PeerId, admission: &Admission) -> bool {
    revocations.check(admission).is_ok() && !revocations.is_revoked(id)
}

impl Shell {
    /// Closes every registered peer the revocation set no longer admits.
    fn evict_revoked(&mut self) -> usize {
        let mut gone = Vec::new();
        for (id, p) in &self.peers {
            if !still_admitted(&self.revocations, id, &p.admission) {
                gone.push(*id);
            }
        }
        let mut members = Vec::new();
        for id in &gone {
            if let Some(p) = self.peers.remove(id) {
                let _ =
                    p.tx.try_send(Outgoing::Close(RefuseCode::Revoked, "revoked".into()));
                if p.inviter.is_none() {
                    members.push(*id);
                }
            }
        }
        self.tell(PresenceChange::Offline, &members);
        gone.len()
    }

    /// The members (not guests) registered here.
    fn members(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.peers
            .iter()
            .filter(|(_, p)| p.inviter.is_none())
            .map(|(id, _)| *id)
    }

    /// Tells every member registered here, other than `peers` themselves, that `peers` came
    /// online or went offline. A member whose queue is full misses it (as it would a blob).
    fn tell(&self, change: PresenceChange, peers: &[PeerId]) {
        if peers.is_empty() {
            return;
        }
        let frames = presence_frames(change, peers);
        for (id, p) in &self.peers {
            if p.inviter.is_none() && !peers.contains(id) {
                for f in &frames {
                    let _ = p.tx.try_send(Outgoing::Frame(f.clone()));
                }
            }
        }
    }
}

/// The encoded [`Frame::Presence`] frames saying `peers` changed: one, or more when the list
/// is longer than a frame holds (a long [`PresenceChange::All`] goes on as `Online`).
fn presence_frames(change: PresenceChange, peers: &[PeerId]) -> Vec<Vec<u8>> {
    if peers.is_empty() {
        return vec![Frame::Presence {
            change,
            peers: Vec::new(),
        }
        .encode()];
    }
    peers
        .chunks(MAX_PRESENCE_PEERS)
        .enumerate()
        .map(|(i, chunk)| {
            let change = match change {
                PresenceChange::All if i > 0 => PresenceChange::Online,
                c => c,
            };
            Frame::Presence {
                change,
                peers: chunk.to_vec(),
            }
            .encode()
        })
        .collect()
}

/// Shared state of the server.
#[derive(Debug)]
struct Hub {
    limits: Limits,
    ice: IceConfig,
    /// The Redis this relay shares its shells through, if any.
    cluster: Option<Cluster>,
    /// What other relays publish for this one, until [`Server::run`] takes it.
    inbound: Mutex<Option<mpsc::Receiver<redis::PushInfo>>>,
    shells: Mutex<HashMap<ShellId, Shell>>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    counters: Counters,
    next_conn: AtomicU64,
    shutdown: watch::Sender<bool>,
    open_tasks: AtomicU64,
    task_ended: Notify,
}

impl Hub {
    /// Shells with a registered peer, registered peers, and tombstones held.
    fn held(&self) -> (usize, usize, usize) {
        let shells = lock(&self.shells);
        (
            shells.values().filter(|s| !s.peers.is_empty()).count(),
            shells.values().map(|s| s.peers.len()).sum(),
            shells.values().map(|s| s.revocations.len()).sum(),
        )
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn now() -> Timestamp {
    Timestamp::from_system_time(SystemTime::now())
}

/// Releases a per-IP connection slot when dropped.
struct IpSlot {
    hub: Arc<Hub>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut m = lock(&self.hub.per_ip);
        if let Some(n) = m.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// Counts a connection task while it runs.
struct TaskSlot(Arc<Hub>);

impl Drop for TaskSlot {
    fn drop(&mut self) {
        self.0.open_tasks.fetch_sub(1, Ordering::SeqCst);
        self.0.counters.connections.fetch_sub(1, Ordering::Relaxed);
        self.0.task_ended.notify_waiters();
    }
}

/// The signaling server.
#[derive(Debug, Clone)]
pub struct Server {
    hub: Arc<Hub>,
}

/// The client address a connection came from, plain or TLS.
#[derive(Debug, Clone, Copy)]
struct ClientAddr(SocketAddr);

impl Connected<IncomingStream<'_, TcpListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

impl Server {
    /// A server with these limits, handing these ICE servers to admitted peers; it keeps
    /// everything in memory.
    pub fn new(limits: Limits, ice: IceConfig) -> Self {
        Self::build(limits, ice, None)
    }

    /// A server that shares its shells with every relay using the Redis of `redis`
    /// (Redis 6 or newer, [`RedisConfig`]): peers connected to different relays reach
    /// each other, and tombstones are stored in Redis, so any relay refuses a revoked peer,
    /// also right after it starts. The server starts while Redis is away, serves its own
    /// clients, and joins the others once Redis answers (`/health` says which).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the URL is not a Redis URL.
    pub fn with_redis(limits: Limits, ice: IceConfig, redis: &RedisConfig) -> Result<Self, Error> {
        let (cluster, inbound) = Cluster::new(redis)?;
        Ok(Self::build(limits, ice, Some((cluster, inbound))))
    }

    fn build(
        limits: Limits,
        ice: IceConfig,
        cluster: Option<(Cluster, mpsc::Receiver<redis::PushInfo>)>,
    ) -> Self {
        let (shutdown, _) = watch::channel(false);
        let (cluster, inbound) = match cluster {
            Some((c, rx)) => (Some(c), Some(rx)),
            None => (None, None),
        };
        Server {
            hub: Arc::new(Hub {
                limits,
                ice,
                cluster,
                inbound: Mutex::new(inbound),
                shells: Mutex::new(HashMap::new()),
                per_ip: Mutex::new(HashMap::new()),
                counters: Counters::default(),
                next_conn: AtomicU64::new(1),
                shutdown,
                open_tasks: AtomicU64::new(0),
                task_ended: Notify::new(),
            }),
        }
    }

    /// The `/stats` document.
    pub fn stats(&self) -> serde_json::Value {
        let c = &self.hub.counters;
        let (shells, peers, tombstones) = self.hub.held();
        serde_json::json!({
            "connections": c.connections.load(Ordering::Relaxed),
            "shells": shells,
            "peers": peers,
            "admitted": c.admitted.load(Ordering::Relaxed),
            "relayed": c.relayed.load(Ordering::Relaxed),
            "forwarded": c.forwarded.load(Ordering::Relaxed),
            "refused": c.refused.load(Ordering::Relaxed),
            "dropped": c.dropped.load(Ordering::Relaxed),
            "tombstones": tombstones,
            "redis": self.hub.cluster.as_ref().map(|c| serde_json::json!({
                "relay": c.relay(),
                "reachable": c.is_up(),
                "cluster": c.totals(),
            })),
        })
    }

    /// The `/health` answer: `ok`, or with Redis away, that this relay serves only its own
    /// clients.
    pub fn health(&self) -> &'static str {
        match &self.hub.cluster {
            Some(c) if !c.is_up() => "ok; redis unreachable: serving local clients only",
            _ => "ok",
        }
    }

    /// Serves on `listener`, over TLS (`wss://`, `https://`) when given `tls`, until
    /// `shutdown` completes: then stops accepting, tells every connection the server is
    /// shutting down, closes them and returns (waiting at most a few seconds for them).
    ///
    /// With TLS, each handshake must finish within the hello timeout, and handshakes under
    /// way are bounded (per address by [`Limits::connections_per_ip`]).
    pub async fn run(
        self,
        listener: TcpListener,
        tls: Option<ServerTls>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        match tls {
            None => self.serve(listener, shutdown).await,
            Some(tls) => {
                let limits = &self.hub.limits;
                let listener = TlsListener::spawn(
                    listener,
                    tls,
                    limits.hello_timeout,
                    limits.connections_per_ip,
                )?;
                self.serve(listener, shutdown).await
            }
        }
    }

    async fn serve<L>(
        self,
        listener: L,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()>
    where
        L: Listener<Addr = SocketAddr>,
        ClientAddr: for<'a> Connected<IncomingStream<'a, L>>,
    {
        let hub = self.hub.clone();
        let inbound = lock(&hub.inbound).take();
        if let Some(inbound) = inbound {
            tokio::spawn(cluster_task(hub.clone(), inbound));
        }
        let app = Router::new()
            .route("/", get(upgrade))
            .route(
                "/health",
                get(|State(hub): State<Arc<Hub>>| async move { Server { hub }.health() }),
            )
            .route(
                "/stats",
                get(
                    |State(hub): State<Arc<Hub>>| async move { axum::Json(Server { hub }.stats()) },
                ),
            )
            .with_state(self.hub.clone());
        let stop = hub.clone();
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<ClientAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections");
            stop.shutdown.send_replace(true);
        })
        .await?;
        // Upgraded connections are no longer hyper's: wait for their tasks to close them.
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        loop {
            let ended = hub.task_ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            let open = hub.open_tasks.load(Ordering::SeqCst);
            if open == 0 {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::warn!(
                    open,
                    "shutdown: connections still open after the grace period"
                );
                break;
            }
            let _ = tokio::time::timeout(left, ended).await;
        }
        tracing::info!(stats = %self.stats(), "stopped");
        Ok(())
    }
}

async fn upgrade(
    State(hub): State<Arc<Hub>>,
    ConnectInfo(ClientAddr(addr)): ConnectInfo<ClientAddr>,
    ws: WebSocketUpgrade,
) -> Response {
    if *hub.shutdown.borrow() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let ip = addr.ip();
    {
        let mut m = lock(&hub.per_ip);
        let n = m.entry(ip).or_insert(0);
        if *n >= hub.limits.connections_per_ip {
            hub.counters.refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%ip, limit = hub.limits.connections_per_ip, "too many connections from one address");
            return (StatusCode::TOO_MANY_REQUESTS, "too many connections").into_response();
        }
        *n += 1;
    }
    let slot = IpSlot {
        hub: hub.clone(),
        ip,
    };
    // Frames up to twice the limit reach the handler, which refuses them with a reason;
    // bigger ones end the connection in the WebSocket layer.
    let max = hub.limits.max_message.saturating_mul(2).max(1024);
    ws.max_message_size(max)
        .max_frame_size(max)
        // Signaling frames are small: a 4 KiB read buffer (grown for a bigger frame) instead
        // of tungstenite's 128 KiB, which it fills, so every connection held 128 KiB.
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            hub.open_tasks.fetch_add(1, Ordering::SeqCst);
            hub.counters.connections.fetch_add(1, Ordering::Relaxed);
            let _task = TaskSlot(hub.clone());
            let conn = hub.next_conn.fetch_add(1, Ordering::Relaxed);
            let span = tracing::info_span!("conn", id = conn, %addr);
            let _ = tracing::Instrument::instrument(serve(socket, hub, conn), span).await;
        })
}

/// A token bucket of frames.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: u32) -> Self {
        Bucket {
            rate: f64::from(rate.max(1)),
            tokens: f64::from(rate.max(1)),
            at: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        let add = now.duration_since(self.at).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + add).min(self.rate);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Who a connection is, once admitted.
#[derive(Debug, Clone)]
struct Registered {
    shell: ShellId,
    peer: PeerId,
    conn: u64,
    guest_of: Option<PeerId>,
    /// What the registration rests on (for a guest: its inviter's admission).
    admission: Admission,
    /// When the admission ends (for a guest: its inviter's, or the invite's expiry).
    expires_at: Option<Timestamp>,
}

async fn refuse(ws: &mut WebSocket, hub: &Hub, code: RefuseCode, reason: &str) {
    hub.counters.refused.fetch_add(1, Ordering::Relaxed);
    tracing::info!(?code, reason, "refused");
    let frame = Frame::Refused {
        code,
        reason: reason.to_owned(),
    };
    let _ = ws.send(Message::Binary(Bytes::from(frame.encode()))).await;
    let _ = ws.send(Message::Close(None)).await;
    // Finish the closing handshake: read and drop what the client still sends until its close
    // arrives. Closing a socket with unread data makes the kernel reset the connection, and
    // the reset can destroy the refusal before the client has read it.
    let _ = tokio::time::timeout(CLOSE_LINGER, async {
        while let Some(Ok(message)) = ws.recv().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// How long a refused connection is read for the client's close.
const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// Returns once the server is shutting down.
async fn stopping(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

async fn send(ws: &mut WebSocket, frame: &Frame) -> bool {
    ws.send(Message::Binary(Bytes::from(frame.encode())))
        .await
        .is_ok()
}

/// One connection, start to end.
async fn serve(mut ws: WebSocket, hub: Arc<Hub>, conn: u64) {
    let mut shutdown = hub.shutdown.subscribe();
    let mut nonce = [0u8; NONCE_LEN];
    let mut session = [0u8; SESSION_LEN];
    OsRng.fill_bytes(&mut nonce);
    OsRng.fill_bytes(&mut session);
    if !send(&mut ws, &Frame::Challenge { nonce, session }).await {
        return;
    }
    let hello = tokio::select! {
        m = tokio::time::timeout(hub.limits.hello_timeout, ws.recv()) => m,
        _ = stopping(&mut shutdown) => {
            refuse(&mut ws, &hub, RefuseCode::ShuttingDown, "the server is shutting down").await;
            return;
        }
    };
    let bytes = match hello {
        Err(_) => {
            refuse(&mut ws, &hub, RefuseCode::Idle, "no hello in time").await;
            return;
        }
        Ok(Some(Ok(Message::Binary(b)))) => b,
        Ok(Some(Ok(_))) => {
            refuse(
                &mut ws,
                &hub,
                RefuseCode::Malformed,
                "expected a binary hello",
            )
            .await;
            return;
        }
        Ok(_) => return,
    };
    if bytes.len() > hub.limits.max_message {
        refuse(
            &mut ws,
            &hub,
            RefuseCode::TooLarge,
            "hello over the size limit",
        )
        .await;
        return;
    }
    let (tx, mut rx) = mpsc::channel(OUTBOX);
    let admitted = match authenticate(&bytes, &nonce, &session) {
        Ok(claim) => {
            // Tombstones other relays stored count before the peer is admitted here.
            let stored = match &hub.cluster {
                Some(c) => c.tombstones(&claim.genesis.id()).await,
                None => Vec::new(),
            };
            admit(&hub, claim, &stored, conn, tx)
        }
        Err(refusal) => Err(refusal),
    };
    let me = match admitted {
        Ok(r) => r,
        Err((code, reason)) => {
            refuse(&mut ws, &hub, code, &reason).await;
            return;
        }
    };
    if let Some(c) = &hub.cluster {
        c.register(&me.shell, &me.peer, me.conn).await;
    }
    // A member learns which members are connected, here and at the other relays, and those
    // elsewhere learn it came.
    let mut presence = Vec::new();
    if me.guest_of.is_none() {
        let remote = match &hub.cluster {
            Some(c) => c
                .presence(&me.shell, Some(std::slice::from_ref(&me.peer)))
                .await
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let mut all: BTreeSet<PeerId> = remote.into_iter().collect();
        if let Some(shell) = lock(&hub.shells).get(&me.shell) {
            all.extend(shell.members());
        }
        all.remove(&me.peer);
        let all: Vec<PeerId> = all.into_iter().collect();
        presence = presence_frames(PresenceChange::All, &all);
    }
    hub.counters.admitted.fetch_add(1, Ordering::Relaxed);
    tracing::info!(shell = %me.shell, peer = %me.peer.short(), guest = me.guest_of.is_some(), "admitted");
    let welcome = Frame::Welcome {
        shell: me.shell,
        peer: me.peer,
        standing: if me.guest_of.is_some() {
            Standing::Guest
        } else {
            Standing::Member
        },
    };
    let mut greeted = send(&mut ws, &welcome).await;
    for f in presence {
        greeted = greeted && ws.send(Message::Binary(Bytes::from(f))).await.is_ok();
    }
    if greeted {
        let (code, reason) = relay_loop(&mut ws, &hub, &me, &mut rx, &mut shutdown).await;
        if let Some(code) = code {
            refuse(&mut ws, &hub, code, &reason).await;
        }
    }
    unregister(&hub, &me);
    if let Some(c) = &hub.cluster {
        c.unregister(&me.shell, &me.peer, me.conn, me.guest_of.is_none())
            .await;
    }
    tracing::info!(peer = %me.peer.short(), "closed");
}

/// Runs an admitted connection until it ends; returns why the server ends it, if it does.
async fn relay_loop(
    ws: &mut WebSocket,
    hub: &Hub,
    me: &Registered,
    rx: &mut mpsc::Receiver<Outgoing>,
    shutdown: &mut watch::Receiver<bool>,
) -> (Option<RefuseCode>, String) {
    let mut bucket = Bucket::new(hub.limits.messages_per_second);
    let mut last_ice: Option<Instant> = None;
    // The registration lasts as long as the admission it rests on.
    let expiry = me.expires_at.and_then(|at| {
        let left = at.as_millis().saturating_sub(now().as_millis());
        tokio::time::Instant::now().checked_add(Duration::from_millis(left))
    });
    let expired = async {
        match expiry {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(expired);
    loop {
        let incoming = tokio::select! {
            _ = stopping(shutdown) => {
                return (Some(RefuseCode::ShuttingDown), "the server is shutting down".into());
            }
            _ = &mut expired => {
                return (Some(RefuseCode::NotAdmitted), "the admission expired".into());
            }
            out = rx.recv() => match out {
                Some(Outgoing::Frame(f)) => {
                    if ws.send(Message::Binary(Bytes::from(f))).await.is_err() {
                        return (None, String::new());
                    }
                    continue;
                }
                Some(Outgoing::Close(code, reason)) => return (Some(code), reason),
                None => return (None, String::new()),
            },
            m = tokio::time::timeout(hub.limits.idle_timeout, ws.recv()) => m,
        };
        let message = match incoming {
            Err(_) => return (Some(RefuseCode::Idle), "idle timeout".into()),
            Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => {
                return (None, String::new())
            }
            Ok(Some(Ok(m))) => m,
        };
        if !bucket.take() {
            return (
                Some(RefuseCode::RateLimited),
                "over the message rate limit".into(),
            );
        }
        let bytes = match message {
            Message::Binary(b) => b,
            Message::Ping(_) | Message::Pong(_) => continue,
            _ => {
                return (
                    Some(RefuseCode::Malformed),
                    "text frames are not used".into(),
                )
            }
        };
        if bytes.len() > hub.limits.max_message {
            return (
                Some(RefuseCode::TooLarge),
                format!(
                    "frame of {} bytes over the limit of {}",
                    bytes.len(),
                    hub.limits.max_message
                ),
            );
        }
        let frame = match Frame::decode(&bytes) {
            Ok(f) => f,
            Err(e) => return (Some(RefuseCode::Malformed), e.to_string()),
        };
        match frame {
            Frame::Relay { to, blob } => {
                let delivered = match relay(hub, me, to, blob) {
                    Route::Delivered => true,
                    Route::Unreachable => false,
                    Route::Elsewhere(blob) => match &hub.cluster {
                        Some(c) => {
                            let sent = c
                                .forward(&me.shell, &me.peer, me.guest_of.as_ref(), &to, &blob)
                                .await;
                            // The receiving relay counts it as relayed when it delivers it.
                            let counter = if sent {
                                &hub.counters.forwarded
                            } else {
                                &hub.counters.dropped
                            };
                            counter.fetch_add(1, Ordering::Relaxed);
                            sent
                        }
                        None => false,
                    },
                };
                let unreachable = Frame::Notice {
                    code: NoticeCode::Unreachable,
                    peer: Some(to),
                };
                if !delivered && !send(ws, &unreachable).await {
                    return (None, String::new());
                }
            }
            Frame::Tombstone { tombstone } => {
                if me.guest_of.is_some() {
                    return (Some(RefuseCode::NotAllowed), "guests cannot revoke".into());
                }
                let code = take_tombstone(hub, me, &tombstone);
                if let Some(c) = &hub.cluster {
                    // Stored even when known here: Redis may have lost it (a restart
                    // without persistence); announced when it is new.
                    if code != NoticeCode::TombstoneRejected {
                        let announce = code == NoticeCode::TombstoneAccepted;
                        c.store_tombstones(&me.shell, &[tombstone], announce).await;
                    }
                }
                if !send(ws, &Frame::Notice { code, peer: None }).await {
                    return (None, String::new());
                }
            }
            Frame::IceRequest => {
                if last_ice.is_some_and(|at| at.elapsed() < ICE_REQUEST_INTERVAL) {
                    return (
                        Some(RefuseCode::RateLimited),
                        "ICE servers asked for more than once a second".into(),
                    );
                }
                last_ice = Some(Instant::now());
                match ice_servers(hub, me) {
                    Ok(answer) => {
                        if !send(ws, &answer).await {
                            return (None, String::new());
                        }
                    }
                    Err((code, reason)) => return (Some(code), reason),
                }
            }
            _ => return (Some(RefuseCode::Malformed), "unexpected frame".into()),
        }
    }
}

/// The relay's ICE servers for an admitted connection, granted only if the tombstones held
/// now still admit it and it is still the peer's registered connection.
fn ice_servers(hub: &Hub, me: &Registered) -> Result<Frame, Refusal> {
    let now = now();
    if me.expires_at.is_some_and(|at| at <= now) {
        return Err((RefuseCode::NotAdmitted, "the admission expired".into()));
    }
    let shells = lock(&hub.shells);
    let Some(shell) = shells.get(&me.shell) else {
        return Err((RefuseCode::NotAdmitted, "no longer registered".into()));
    };
    if !still_admitted(&shell.revocations, &me.peer, &me.admission) {
        return Err((RefuseCode::Revoked, "revoked".into()));
    }
    if shell.peers.get(&me.peer).is_none_or(|p| p.conn != me.conn) {
        return Err((RefuseCode::Replaced, "the same peer connected again".into()));
    }
    let (expires, servers) = hub.ice.grant(&me.peer, now, me.expires_at);
    Ok(Frame::IceServers { expires, servers })
}

/// Where a relayed blob went.
enum Route {
    /// Queued for a peer connected here.
    Delivered,
    /// No admitted peer may receive it: the sender gets a notice.
    Unreachable,
    /// Not connected here: with Redis, another relay may have it.
    Elsewhere(Vec<u8>),
}

fn count(hub: &Hub, delivered: bool) {
    let counter = if delivered {
        &hub.counters.relayed
    } else {
        &hub.counters.dropped
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Forwards a blob to a peer connected here.
fn relay(hub: &Hub, me: &Registered, to: PeerId, blob: Vec<u8>) -> Route {
    if me.guest_of.is_some_and(|inviter| inviter != to) {
        count(hub, false);
        return Route::Unreachable;
    }
    let shells = lock(&hub.shells);
    let Some(target) = shells.get(&me.shell).and_then(|s| s.peers.get(&to)) else {
        if hub.cluster.is_none() {
            count(hub, false);
            return Route::Unreachable;
        }
        return Route::Elsewhere(blob);
    };
    let delivered = deliver(target, me.peer, to, blob);
    count(hub, delivered);
    if delivered {
        Route::Delivered
    } else {
        Route::Unreachable
    }
}

/// Queues a blob from `from` for `target`, a registered peer; false when a guest target is
/// not the sender's to reach, or its queue is full.
fn deliver(target: &Peer, from: PeerId, to: PeerId, blob: Vec<u8>) -> bool {
    // Guests are reached only by their inviter.
    if target.inviter.is_some_and(|inviter| inviter != from) {
        return false;
    }
    let frame = Frame::Deliver { from, blob };
    if target.tx.try_send(Outgoing::Frame(frame.encode())).is_err() {
        tracing::debug!(to = %to.short(), "recipient's queue is full; blob dropped");
        return false;
    }
    true
}

fn take_tombstone(hub: &Hub, me: &Registered, bytes: &[u8]) -> NoticeCode {
    let mut shells = lock(&hub.shells);
    let Some(shell) = shells.get_mut(&me.shell) else {
        return NoticeCode::TombstoneRejected;
    };
    let tombstone = match Tombstone::decode(bytes, shell.revocations.genesis()) {
        Ok(t) => t,
        Err(e) => {
            tracing::info!(error = %e, "tombstone refused");
            return NoticeCode::TombstoneRejected;
        }
    };
    let revoked = tombstone.revoked().short();
    match shell.revocations.insert(tombstone) {
        Ok(true) => {
            let gone = shell.evict_revoked();
            tracing::info!(%revoked, disconnected = gone, "tombstone accepted");
            NoticeCode::TombstoneAccepted
        }
        Ok(false) => NoticeCode::TombstoneKnown,
        Err(e) => {
            tracing::info!(error = %e, "tombstone refused");
            NoticeCode::TombstoneRejected
        }
    }
}

type Refusal = (RefuseCode, String);

fn not_admitted(e: impl std::fmt::Display) -> Refusal {
    (RefuseCode::NotAdmitted, e.to_string())
}

/// Checks a hello or a join and registers the peer.
/// What a peer presents besides its signature.
enum Credentials {
    Member(TokenChain),
    Guest(Box<JoinRequest>),
}

/// A hello or join whose challenge signature verifies: who the peer says it is, not yet
/// checked against the shell's tombstones.
struct Claim {
    genesis: ShellGenesis,
    peer: PeerId,
    credentials: Credentials,
}

/// Decodes a hello or a join and checks its challenge signature.
fn authenticate(
    bytes: &[u8],
    nonce: &[u8; NONCE_LEN],
    session: &[u8; SESSION_LEN],
) -> Result<Claim, Refusal> {
    let frame = Frame::decode(bytes).map_err(|e| (RefuseCode::Malformed, e.to_string()))?;
    let (genesis, peer, signature, credentials) = match frame {
        Frame::Hello {
            genesis,
            chain,
            peer,
            signature,
        } => {
            let genesis = ShellGenesis::decode(&genesis).map_err(not_admitted)?;
            let chain = TokenChain::decode(&chain).map_err(not_admitted)?;
            (genesis, peer, signature, Credentials::Member(chain))
        }
        Frame::Join { request, signature } => {
            let request = JoinRequest::decode(&request).map_err(not_admitted)?;
            let genesis = request.invite().genesis().clone();
            let joiner = *request.joiner();
            (
                genesis,
                joiner,
                signature,
                Credentials::Guest(Box::new(request)),
            )
        }
        Frame::IceRequest => {
            return Err((
                RefuseCode::NotAdmitted,
                "ICE servers are for admitted peers only".into(),
            ))
        }
        _ => return Err((RefuseCode::Malformed, "expected a hello".into())),
    };
    let shell_id = genesis.id();
    peer.verify(
        AUTH_CONTEXT,
        &signed_bytes(nonce, session, &shell_id, &peer),
        &signature,
    )
    .map_err(|_| {
        (
            RefuseCode::BadSignature,
            "the challenge signature does not verify".into(),
        )
    })?;
    Ok(Claim {
        genesis,
        peer,
        credentials,
    })
}

/// Checks an authenticated peer against the shell's tombstones — those held here and
/// `stored`, the ones other relays stored in Redis, each verified against the genesis — and
/// registers it.
fn admit(
    hub: &Hub,
    claim: Claim,
    stored: &[Vec<u8>],
    conn: u64,
    tx: mpsc::Sender<Outgoing>,
) -> Result<Registered, Refusal> {
    let Claim {
        genesis,
        peer,
        credentials,
    } = claim;
    let shell_id = genesis.id();
    let now = now();
    let mut shells = lock(&hub.shells);
    // A shell the server does not know yet is judged with the stored tombstones only, and
    // made only once the peer is admitted.
    let mut fresh = None;
    match shells.get_mut(&shell_id) {
        Some(shell) => {
            if take_stored(&mut shell.revocations, stored) {
                shell.evict_revoked();
            }
        }
        None => {
            let mut set = RevocationSet::new(genesis.clone());
            take_stored(&mut set, stored);
            fresh = Some(set);
        }
    }
    let Some(revocations) = shells
        .get(&shell_id)
        .map(|s| &s.revocations)
        .or(fresh.as_ref())
    else {
        return Err((RefuseCode::NotAdmitted, "no revocation set".into()));
    };
    let refused = |e: syncshell_revocation::Error| match e {
        syncshell_revocation::Error::Revoked { .. }
        | syncshell_revocation::Error::Identity(syncshell_identity::Error::Revoked { .. }) => {
            (RefuseCode::Revoked, e.to_string())
        }
        other => not_admitted(other),
    };
    let (admission, inviter, expires_at) = match credentials {
        Credentials::Member(chain) => {
            let admission = revocations.admit(&peer, &chain, now).map_err(refused)?;
            let expires_at = admission.expires_at();
            (admission, None, expires_at)
        }
        Credentials::Guest(request) => {
            let invite = request.invite();
            // The inviter's whole chain, not only its key: a guest of an admin whose own
            // issuer is revoked is refused too.
            let inviter = invite
                .verify(revocations, now)
                .map_err(|e| refused(e.into()))?;
            if revocations.is_revoked(&peer) {
                return Err((RefuseCode::Revoked, "the joiner is revoked".into()));
            }
            let expires_at = Some(
                inviter
                    .expires_at()
                    .map_or(invite.expires_at(), |at| at.min(invite.expires_at())),
            );
            (inviter, Some(*invite.inviter()), expires_at)
        }
    };
    if !shells.contains_key(&shell_id) && shells.len() >= hub.limits.max_shells {
        // Forget a shell nobody is connected to and that holds no tombstone, if there is
        // one: forgetting tombstones would let revoked peers in until members show them
        // again, so an outsider's new shells never push out a real one that has them.
        let idle = shells
            .iter()
            .find(|(_, s)| s.peers.is_empty() && s.revocations.is_empty())
            .map(|(id, _)| *id);
        match idle {
            Some(id) => {
                shells.remove(&id);
            }
            None => return Err((RefuseCode::Full, "the server holds too many shells".into())),
        }
    }
    let shell = shells.entry(shell_id).or_insert_with(|| Shell {
        revocations: fresh.unwrap_or_else(|| RevocationSet::new(genesis)),
        peers: HashMap::new(),
    });
    let is_guest = inviter.is_some();
    let (count, max) = if is_guest {
        (
            shell.peers.values().filter(|p| p.inviter.is_some()).count(),
            hub.limits.max_guests_per_shell,
        )
    } else {
        (
            shell.peers.values().filter(|p| p.inviter.is_none()).count(),
            hub.limits.max_peers_per_shell,
        )
    };
    let returning = shell
        .peers
        .get(&peer)
        .is_some_and(|p| p.inviter.is_some() == is_guest);
    if !returning && count >= max {
        return Err((
            RefuseCode::Full,
            if is_guest {
                "the shell has too many guests connected".into()
            } else {
                "the shell has too many connected peers".into()
            },
        ));
    }
    let old = shell.peers.insert(
        peer,
        Peer {
            conn,
            tx,
            admission: admission.clone(),
            inviter,
        },
    );
    if let Some(old) = old {
        let _ = old.tx.try_send(Outgoing::Close(
            RefuseCode::Replaced,
            "the same peer connected again".into(),
        ));
    }
    if inviter.is_none() {
        shell.tell(PresenceChange::Online, &[peer]);
    }
    Ok(Registered {
        shell: shell_id,
        peer,
        conn,
        guest_of: inviter,
        admission,
        expires_at,
    })
}

/// Inserts the tombstones that verify against the set's genesis; true if one was new.
fn take_stored(revocations: &mut RevocationSet, stored: &[Vec<u8>]) -> bool {
    let mut new = false;
    for bytes in stored {
        match revocations.insert_encoded(bytes) {
            Ok(added) => new |= added,
            Err(e) => tracing::warn!(error = %e, "a tombstone stored in redis does not verify"),
        }
    }
    new
}

/// Applies what another relay published.
fn take_inbound(hub: &Hub, inbound: Inbound) {
    let mut shells = lock(&hub.shells);
    match inbound {
        Inbound::Deliver {
            shell,
            from,
            to,
            from_guest_of,
            blob,
        } => {
            // The same rules as for a sender connected here: one shell, a sender not
            // revoked, a guest reaching only its inviter and reached only by it.
            let target = shells.get(&shell).and_then(|s| {
                let allowed = !s.revocations.is_revoked(&from)
                    && from_guest_of.is_none_or(|inviter| inviter == to);
                s.peers.get(&to).filter(|_| allowed)
            });
            let delivered = target.is_some_and(|t| deliver(t, from, to, blob));
            count(hub, delivered);
        }
        Inbound::Replaced { shell, peer } => {
            if let Some(p) = shells.get_mut(&shell).and_then(|s| s.peers.remove(&peer)) {
                let _ = p.tx.try_send(Outgoing::Close(
                    RefuseCode::Replaced,
                    "the same peer connected to another relay".into(),
                ));
            }
        }
        Inbound::Tombstone { shell, tombstone } => {
            if let Some(s) = shells.get_mut(&shell) {
                if take_stored(&mut s.revocations, &[tombstone]) {
                    let gone = s.evict_revoked();
                    tracing::info!(disconnected = gone, "tombstone from another relay");
                }
            }
        }
        Inbound::Presence {
            shell,
            change,
            peers,
            ..
        } => {
            // A peer connected here is online whatever another relay says, and a peer the
            // tombstones held here revoke is never announced.
            if let Some(s) = shells.get(&shell) {
                let peers: Vec<PeerId> = peers
                    .into_iter()
                    .filter(|p| !s.peers.contains_key(p))
                    .filter(|p| change == PresenceChange::Offline || !s.revocations.is_revoked(p))
                    .collect();
                s.tell(change, &peers);
            }
        }
    }
}

/// Shares the shells through Redis while the server runs: keeps the subscription, applies
/// what other relays publish, and when Redis comes back (or first answers) stores where
/// every local peer is and every tombstone held here.
async fn cluster_task(hub: Arc<Hub>, mut inbound: mpsc::Receiver<redis::PushInfo>) {
    let Some(cluster) = hub.cluster.as_ref() else {
        return;
    };
    let mut shutdown = hub.shutdown.subscribe();
    let mut tick = tokio::time::interval(CLUSTER_TICK);
    loop {
        tokio::select! {
            _ = stopping(&mut shutdown) => return,
            _ = tick.tick() => {
                // Sharing the counts is also what finds Redis gone.
                cluster.check_overflow();
                if cluster.is_up() {
                    let c = &hub.counters;
                    let (_, peers, _) = hub.held();
                    cluster
                        .share_counts(
                            c.connections.load(Ordering::Relaxed),
                            peers as u64,
                            c.relayed.load(Ordering::Relaxed),
                        )
                        .await;
                    if cluster.lost_a_relay().await {
                        // Its members left without a word: members here learn who is left.
                        refresh_presence(&hub, cluster, false).await;
                    }
                } else if cluster.subscribe().await {
                    republish(&hub, cluster).await;
                    refresh_presence(&hub, cluster, true).await;
                    cluster.rejoined();
                }
            }
            push = inbound.recv() => match push {
                Some(push) => {
                    if let Some(m) = cluster.parse(push) {
                        take_inbound(&hub, m);
                    }
                }
                None => return,
            },
        }
    }
}

/// How often a relay checks on Redis.
const CLUSTER_TICK: Duration = Duration::from_secs(1);

/// Stores again where every local peer is and every tombstone held here, announcing the
/// tombstones (a relay that came back before this one has not seen them); then takes the
/// tombstones stored for each shell held here, which this relay may have missed while away.
async fn republish(hub: &Hub, cluster: &Cluster) {
    let (peers, tombstones) = {
        let shells = lock(&hub.shells);
        let peers: Vec<(ShellId, PeerId, u64)> = shells
            .iter()
            .flat_map(|(id, s)| s.peers.iter().map(|(p, peer)| (*id, *p, peer.conn)))
            .collect();
        let tombstones: Vec<(ShellId, Vec<Vec<u8>>)> = shells
            .iter()
            .filter(|(_, s)| !s.revocations.is_empty())
            .map(|(id, s)| (*id, s.revocations.iter().map(Tombstone::encode).collect()))
            .collect();
        (peers, tombstones)
    };
    for (shell, peer, conn) in peers {
        cluster.register(&shell, &peer, conn).await;
    }
    for (shell, list) in tombstones {
        cluster.store_tombstones(&shell, &list, true).await;
    }
    let held: Vec<ShellId> = lock(&hub.shells).keys().copied().collect();
    for shell in held {
        let stored = cluster.tombstones(&shell).await;
        if let Some(s) = lock(&hub.shells).get_mut(&shell) {
            if take_stored(&mut s.revocations, &stored) {
                let gone = s.evict_revoked();
                tracing::info!(
                    disconnected = gone,
                    "tombstones stored while this relay was away"
                );
            }
        }
    }
}

/// Sends every member here the whole list of members connected to any relay (Redis may
/// have missed changes, or a relay died); with `announce`, first tells the other relays
/// that the members here are online.
async fn refresh_presence(hub: &Hub, cluster: &Cluster, announce: bool) {
    let held: Vec<(ShellId, Vec<PeerId>)> = lock(&hub.shells)
        .iter()
        .map(|(id, s)| (*id, s.members().collect::<Vec<_>>()))
        .filter(|(_, members)| !members.is_empty())
        .collect();
    for (shell, members) in held {
        let Some(remote) = cluster
            .presence(&shell, announce.then_some(members.as_slice()))
            .await
        else {
            return;
        };
        let shells = lock(&hub.shells);
        let Some(s) = shells.get(&shell) else {
            continue;
        };
        let all: BTreeSet<PeerId> = s.members().chain(remote).collect();
        for (id, p) in s.peers.iter().filter(|(_, p)| p.inviter.is_none()) {
            let others: Vec<PeerId> = all.iter().filter(|x| *x != id).copied().collect();
            for f in presence_frames(PresenceChange::All, &others) {
                let _ = p.tx.try_send(Outgoing::Frame(f));
            }
        }
    }
}

fn unregister(hub: &Hub, me: &Registered) {
    let mut shells = lock(&hub.shells);
    if let Some(shell) = shells.get_mut(&me.shell) {
        if shell.peers.get(&me.peer).is_some_and(|p| p.conn == me.conn) {
            shell.peers.remove(&me.peer);
            if me.guest_of.is_none() {
                shell.tell(PresenceChange::Offline, &[me.peer]);
            }
        }
        if shell.peers.is_empty() && shell.revocations.is_empty() {
            shells.remove(&me.shell);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{turn_password, turn_username, IceServer, TurnSecret, DEFAULT_TURN_TTL};
    use syncshell_identity::{Identity, Role};
    use syncshell_revocation::Reason;

    /// A hub handing out one TURN server, with `bob` registered on connection 7 of a shell
    /// whose owner is returned.
    fn hub_with_member() -> (Arc<Hub>, Identity, ShellGenesis, Registered) {
        let secret = TurnSecret::new(b"shared".to_vec()).unwrap();
        let ice = IceConfig::new(
            vec!["turn:turn.example:3478".into()],
            Some(secret),
            DEFAULT_TURN_TTL,
        )
        .unwrap();
        let hub = Server::new(Limits::default(), ice).hub;
        let owner = Identity::generate(&mut OsRng);
        let genesis = ShellGenesis::create(&owner, "raid", now(), &mut OsRng).unwrap();
        let revocations = RevocationSet::new(genesis.clone());
        let bob = Identity::generate(&mut OsRng).peer_id();
        let chain = TokenChain::issue(
            &revocations,
            &owner,
            &TokenChain::owner(),
            bob,
            Role::Member,
            now(),
            None,
            &mut OsRng,
        )
        .unwrap();
        let admission = revocations.admit(&bob, &chain, now()).unwrap();
        let (tx, _rx) = mpsc::channel(1);
        let me = Registered {
            shell: genesis.id(),
            peer: bob,
            conn: 7,
            guest_of: None,
            admission: admission.clone(),
            expires_at: None,
        };
        let peers = HashMap::from([(
            bob,
            Peer {
                conn: 7,
                tx,
                admission,
                inviter: None,
            },
        )]);
        lock(&hub.shells).insert(genesis.id(), Shell { revocations, peers });
        (hub, owner, genesis, me)
    }

    #[test]
    fn ice_servers_are_granted_to_the_registered_connection() {
        let (hub, _, _, me) = hub_with_member();
        let Ok(Frame::IceServers { expires, servers }) = ice_servers(&hub, &me) else {
            panic!("no grant")
        };
        let lifetime = expires * 1000 - now().as_millis();
        assert!(lifetime <= DEFAULT_TURN_TTL.as_millis() as u64 && lifetime > 3_590_000);
        let username = turn_username(expires, &me.peer);
        let secret = TurnSecret::new(b"shared".to_vec()).unwrap();
        assert_eq!(
            servers,
            vec![IceServer {
                urls: vec!["turn:turn.example:3478".into()],
                credential: turn_password(&secret, &username),
                username,
            }]
        );
        // Another connection of the same peer (an older one, replaced) gets nothing.
        let old = Registered { conn: 6, ..me };
        assert_eq!(
            ice_servers(&hub, &old).map_err(|r| r.0),
            Err(RefuseCode::Replaced)
        );
    }

    #[test]
    fn a_tombstone_held_now_refuses_ice_servers_even_before_the_eviction() {
        let (hub, owner, genesis, me) = hub_with_member();
        let tombstone = Tombstone::issue(
            &RevocationSet::new(genesis.clone()),
            &owner,
            &TokenChain::owner(),
            me.peer,
            Reason::Removed,
            now(),
        )
        .unwrap();
        // In force, but the peer is still registered (its close not yet handled).
        let mut shells = lock(&hub.shells);
        let shell = shells.get_mut(&genesis.id()).unwrap();
        assert!(shell.revocations.insert(tombstone).unwrap());
        assert!(shell.peers.contains_key(&me.peer));
        drop(shells);
        assert_eq!(
            ice_servers(&hub, &me).map_err(|r| r.0),
            Err(RefuseCode::Revoked)
        );
    }

    #[test]
    fn credentials_never_outlive_the_admission() {
        let (hub, _, _, mut me) = hub_with_member();
        let end = Timestamp::from_millis(now().as_millis() + 120_000);
        me.expires_at = Some(end);
        let Ok(Frame::IceServers { expires, .. }) = ice_servers(&hub, &me) else {
            panic!("no grant")
        };
        assert_eq!(expires, end.as_millis() / 1000);
        me.expires_at = Some(Timestamp::from_millis(now().as_millis() - 1));
        assert_eq!(
            ice_servers(&hub, &me).map_err(|r| r.0),
            Err(RefuseCode::NotAdmitted)
        );
    }
}

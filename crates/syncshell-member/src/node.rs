//! The tokio driver of a [`Member`]: it carries out the member's outputs over a
//! [`Transport`] and the signal relay's client, feeds it what arrives and the time, runs the
//! transfers it asks for with the stream crate's folder adapter, and hands the embedder
//! the member's events.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use syncshell_identity::{PeerId, Timestamp};
use syncshell_signal::{NoticeCode, RefuseCode, SignalClient, Status};
use syncshell_stream::{
    discard_held, receive_folder, release_held, retire_removed, send_folder, AbortReason, FileHash,
    Frame, Manifest, MessageConnection, Progress, ReceiveOptions, SendOptions, TokenBucket,
};
use syncshell_transport::{Connection, Transport};
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::task::JoinHandle;

use crate::link::LinkMessage;
use crate::member::{
    ConnId, Event, LinkEnd, Member, Output, Stored, Transfer, TransferFrame, TransferRole,
};

/// Stream frames queued from a link towards a receiving transfer. The link's reader waits
/// while it is full (the transport then holds the sender back), so memory stays bounded
/// whatever the sender does.
const RECEIVE_QUEUE: usize = 64;
/// Frames queued from a link towards a sending transfer. A receiver sends a handful per
/// transfer (a request, a completion, an abort): a peer that overfills it is disconnected.
const SEND_QUEUE: usize = 16;
/// Messages queued for a link's writer (sync replies, chat, infos). A peer that does not
/// read what it asked for is disconnected when it is full, not buffered for.
const WRITE_QUEUE: usize = 256;
/// Events waiting for the embedder; beyond this they are dropped (with a warning).
const EVENT_QUEUE: usize = 4096;
/// Connections answered at once, so one slow peer does not hold up the others.
const ACCEPTORS: usize = 3;
/// Most often transfer progress is reported.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);
/// The shared budget's bucket holds at least this much (a chunk and its frame).
const BUDGET_MIN_BURST: u64 = 1024 * 1024 + 1024;
/// How long a dial's transport connect may take (the member times the whole dial too).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// A change of the shared folder is announced once it has been quiet this long (a copy of
/// many files is one change)...
const SHARE_QUIET: Duration = Duration::from_millis(300);
/// ...or at the latest this long after the first event of a busy stretch.
const SHARE_SETTLE_MAX: Duration = Duration::from_secs(5);

/// The wall clock, as the member takes it.
pub fn wall_clock() -> Timestamp {
    Timestamp::from_system_time(SystemTime::now())
}

/// Where the member's state goes when it changes (its phonebook, its ledger), and the
/// node's own records (what each member last sent).
pub trait Storage: Send + Sync + 'static {
    /// Stores `what` of `member`.
    fn save(&self, what: Stored, member: &Member) -> Result<(), String>;
    /// The record stored under `name` by [`Storage::put`], if any.
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, String>;
    /// Stores a record under `name` (a file name: letters, digits and `-`).
    fn put(&self, name: &str, bytes: &[u8]) -> Result<(), String>;
}

/// The folders a node shares and receives, and how fast it sends.
#[derive(Debug, Clone, Default)]
pub struct Folders {
    /// The folder shared with members that receive.
    pub share: Option<PathBuf>,
    /// The folder members' shared folders are received into, each into a folder of its
    /// own named by the sharer's peer id ([`sharer_folder`]), so two sharers' files never
    /// land on each other.
    pub receive: Option<PathBuf>,
    /// Cap on bytes per second per outgoing transfer.
    pub send_rate: Option<u64>,
    /// Where files a sharer removed are moved from the receive folder (under a folder named
    /// by the time, in unix milliseconds, then the sharer's peer id, then their paths);
    /// `None`: removals are not applied.
    pub versions: Option<PathBuf>,
    /// Where received files wait for approval while the approval step is on
    /// ([`crate::Settings::approval`]), in the same layout as the receive folder; without
    /// it the step cannot be on.
    pub hold: Option<PathBuf>,
}

/// A received file waiting for the host's approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// The member that sent it.
    pub from: PeerId,
    /// Its path relative to the receive folder: the sharer's folder, then the file's path
    /// in the sharer's share.
    pub path: String,
    /// Its content's BLAKE3 hash.
    pub hash: [u8; 32],
    /// Its size in bytes.
    pub size: u64,
}

/// The folder under a receive (or hold) folder that `sharer`'s files are placed in: its
/// peer id in full (the short form could be ground to collide with another member's).
pub fn sharer_folder(root: &Path, sharer: &PeerId) -> PathBuf {
    root.join(sharer.to_string())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the driver holds for one connection.
struct Held<C> {
    conn: Arc<C>,
    writer: mpsc::Sender<Vec<u8>>,
    /// Frames for the transfers running on it.
    lanes: HashMap<(u64, TransferRole), mpsc::Sender<Vec<u8>>>,
}

struct Inner<T: Transport> {
    member: Mutex<Member>,
    transport: T,
    signal: SignalClient,
    folders: Folders,
    storage: Box<dyn Storage>,
    held: Mutex<HashMap<ConnId, Held<T::Connection>>>,
    dials: Mutex<HashMap<PeerId, JoinHandle<()>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// The running transfers' tasks.
    transfers: Mutex<HashMap<(ConnId, u64, TransferRole), JoinHandle<()>>>,
    /// The bandwidth all outgoing transfers share ([`crate::Settings::budget`]).
    budget: Arc<Mutex<Option<TokenBucket>>>,
    events: mpsc::Sender<Event>,
    wake: Notify,
    /// Received files waiting for approval, by path.
    waiting: Mutex<std::collections::BTreeMap<String, Waiting>>,
    /// The watcher of the shared folder (dropped at shutdown, which ends its thread).
    watcher: Mutex<Option<Watching>>,
}

/// A running member: [`Member`] driven over a transport and a relay on tokio. Cloning
/// gives another handle on the same node.
pub struct Node<T: Transport + 'static> {
    inner: Arc<Inner<T>>,
}

impl<T: Transport + 'static> Clone for Node<T> {
    fn clone(&self) -> Self {
        Node {
            inner: self.inner.clone(),
        }
    }
}

impl<T: Transport + 'static> std::fmt::Debug for Node<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("member", &*lock(&self.inner.member))
            .finish_non_exhaustive()
    }
}

impl<T: Transport + 'static> Node<T> {
    /// Starts driving `member` over `transport` (whose addresses are peer ids as text) and
    /// `signal` (the member's relay client); returns the node and its events. Must be called
    /// within a tokio runtime.
    pub fn start(
        member: Member,
        transport: T,
        signal: SignalClient,
        folders: Folders,
        storage: impl Storage,
    ) -> (Node<T>, mpsc::Receiver<Event>) {
        let (events, receiver) = mpsc::channel(EVENT_QUEUE);
        let node = Node {
            inner: Arc::new(Inner {
                member: Mutex::new(member),
                transport,
                signal,
                folders,
                storage: Box::new(storage),
                held: Mutex::new(HashMap::new()),
                dials: Mutex::new(HashMap::new()),
                tasks: Mutex::new(Vec::new()),
                transfers: Mutex::new(HashMap::new()),
                budget: Arc::new(Mutex::new(None)),
                events,
                wake: Notify::new(),
                watcher: Mutex::new(None),
                waiting: Mutex::new(std::collections::BTreeMap::new()),
            }),
        };
        node.update_budget();
        let up = node.inner.signal.status() == Status::Connected;
        node.with_member(|m, now| m.handle_relay_status(now, up));
        let mut tasks = vec![
            tokio::spawn(node.clone().timers()),
            tokio::spawn(node.clone().relay_blobs()),
            tokio::spawn(node.clone().relay_notices()),
            tokio::spawn(node.clone().relay_status()),
            tokio::spawn(node.clone().relay_presence()),
        ];
        for _ in 0..ACCEPTORS {
            tasks.push(tokio::spawn(node.clone().accept()));
        }
        if let Some(share) = node.inner.folders.share.clone() {
            let changed = Arc::new(Notify::new());
            match watch(&share, changed.clone()) {
                Ok(w) => {
                    *lock(&node.inner.watcher) = Some(w);
                    tasks.push(tokio::spawn(node.clone().share_changes(changed)));
                }
                Err(e) => node.emit(Event::Error {
                    message: format!(
                        "{}: changes are not watched (a restart sends them): {e}",
                        share.display()
                    ),
                }),
            }
        }
        lock(&node.inner.tasks).extend(tasks);
        (node, receiver)
    }

    /// Runs `f` on the member at the current time (a command: invite, revoke, chat, ...)
    /// and carries out what it asked for.
    pub fn with_member<R>(&self, f: impl FnOnce(&mut Member, Timestamp) -> R) -> R {
        let r = self.step(f);
        // Any input may bring a timeout forward.
        self.inner.wake.notify_one();
        r
    }

    /// Runs `f` on the member and carries out its outputs.
    fn step<R>(&self, f: impl FnOnce(&mut Member, Timestamp) -> R) -> R {
        let (r, outputs) = {
            let mut m = lock(&self.inner.member);
            let r = f(&mut m, wall_clock());
            (r, drain(&mut m))
        };
        self.carry_out(outputs);
        r
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.inner.transport
    }

    /// The relay client.
    pub fn signal(&self) -> &SignalClient {
        &self.inner.signal
    }

    /// The connection the member knows as `conn`, while it is open.
    pub fn connection(&self, conn: ConnId) -> Option<Arc<T::Connection>> {
        lock(&self.inner.held).get(&conn).map(|h| h.conn.clone())
    }

    /// The received files waiting for approval.
    pub fn waiting(&self) -> Vec<Waiting> {
        lock(&self.inner.waiting).values().cloned().collect()
    }

    /// Approves the waiting file at `path`: it moves into the receive folder. `Ok(false)`
    /// when no file waits there (any more).
    pub async fn approve(&self, path: &str) -> Result<bool, String> {
        let (Some(hold), Some(dest)) = (&self.inner.folders.hold, &self.inner.folders.receive)
        else {
            return Ok(false);
        };
        let Some(w) = lock(&self.inner.waiting).remove(path) else {
            return Ok(false);
        };
        release_held(hold, dest, &w.path, &FileHash::from_bytes(w.hash))
            .await
            .map_err(|e| format!("approving {path}: {e}"))
    }

    /// Refuses the waiting file at `path`: it is deleted, and its content is denied for
    /// good (never fetched or placed again, across restarts). `Ok(false)` when no file
    /// waits there (any more).
    pub async fn deny(&self, path: &str) -> Result<bool, String> {
        let Some(hold) = &self.inner.folders.hold else {
            return Ok(false);
        };
        let Some(w) = lock(&self.inner.waiting).remove(path) else {
            return Ok(false);
        };
        if !self.with_member(|m, _| m.deny(w.hash)) {
            return Err("the deny list is full".to_owned());
        }
        discard_held(hold, &w.path, &FileHash::from_bytes(w.hash))
            .await
            .map_err(|e| format!("denying {path}: {e}"))
    }

    /// Stops the node: ends its tasks, closes every connection and the relay client.
    pub async fn shutdown(&self) {
        let watcher = lock(&self.inner.watcher).take();
        if let Some(w) = watcher {
            stop_watcher(w).await;
        }
        for task in lock(&self.inner.tasks).drain(..) {
            task.abort();
        }
        for (_, dial) in lock(&self.inner.dials).drain() {
            dial.abort();
        }
        for (_, transfer) in lock(&self.inner.transfers).drain() {
            transfer.abort();
        }
        let conns: Vec<Arc<T::Connection>> = lock(&self.inner.held)
            .drain()
            .map(|(_, h)| h.conn)
            .collect();
        for c in conns {
            c.close().await;
        }
        self.inner.signal.close();
    }

    /// Waits until the relay drops this member for good (a refusal, or every relay failing
    /// for good) and returns its error, with why the member has nothing left to do when it
    /// is no longer admitted (revoked, or its token expired). A member refused for another
    /// reason (the relay full) keeps its links.
    pub async fn relay_lost(&self) -> (syncshell_signal::Error, Option<String>) {
        let e = self.inner.signal.failed().await;
        let end = match &e {
            syncshell_signal::Error::Refused {
                code: RefuseCode::Revoked,
                reason,
            } => Some(format!(
                "this member was revoked from the shell (the relay says: {reason})"
            )),
            syncshell_signal::Error::Refused {
                code: RefuseCode::NotAdmitted,
                reason,
            } => Some(format!(
                "this member is no longer admitted to the shell (the relay says: {reason})"
            )),
            _ => None,
        };
        (e, end)
    }

    /// Runs `task` until it ends or the node shuts down.
    pub(crate) fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(task);
        let mut tasks = lock(&self.inner.tasks);
        tasks.retain(|t| !t.is_finished());
        tasks.push(handle);
    }

    fn emit(&self, event: Event) {
        if self.inner.events.try_send(event).is_err() {
            tracing::warn!("the embedder does not read the node's events; one dropped");
        }
    }

    /// Does what the member asked for, in order.
    fn carry_out(&self, outputs: Vec<Output>) {
        let mut overloaded = Vec::new();
        for o in outputs {
            match o {
                Output::Transmit { conn, message } => {
                    let full = lock(&self.inner.held).get(&conn).is_some_and(|h| {
                        matches!(
                            h.writer.try_send(message),
                            Err(mpsc::error::TrySendError::Full(_))
                        )
                    });
                    if full {
                        overloaded.push(conn);
                    }
                }
                Output::Close { conn } => {
                    if let Some(h) = lock(&self.inner.held).remove(&conn) {
                        tokio::spawn(async move { h.conn.close().await });
                    }
                }
                Output::Dial { peer } => self.dial(peer),
                Output::CancelDial { peer } => {
                    if let Some(d) = lock(&self.inner.dials).remove(&peer) {
                        d.abort();
                    }
                }
                Output::Relay { to, blob } => {
                    if let Err(e) = self.inner.signal.send_app(&to, &blob) {
                        tracing::debug!(to = %to.short(), error = %e, "relay blob not sent");
                    }
                }
                Output::Tombstone(t) => {
                    let _ = self.inner.signal.upload_tombstone(&t);
                }
                Output::Save(what) => {
                    let saved = {
                        let m = lock(&self.inner.member);
                        self.inner.storage.save(what, &m)
                    };
                    if let Err(message) = saved {
                        self.emit(Event::Error { message });
                    }
                    if what == Stored::Settings {
                        self.update_budget();
                    }
                }
                Output::StartTransfer(t) => self.start_transfer(t),
                Output::StopTransfer(t) => self.stop_transfer(t),
                Output::Event(e) => self.emit(e),
            }
        }
        for conn in overloaded {
            tracing::warn!(%conn, "the link's queue is full; disconnecting");
            self.step(|m, now| m.end_link(conn, LinkEnd::Overloaded, now));
        }
    }

    /// Registers a new connection with the member and starts its reader and writer.
    fn connected(&self, conn: T::Connection, dialed: Option<PeerId>) {
        let conn = Arc::new(conn);
        let binding = conn.channel_binding();
        let (writer, outbox) = mpsc::channel(WRITE_QUEUE);
        let (id, outputs) = {
            let mut m = lock(&self.inner.member);
            let id = m.handle_connected(wall_clock(), dialed, &binding);
            lock(&self.inner.held).insert(
                id,
                Held {
                    conn: conn.clone(),
                    writer,
                    lanes: HashMap::new(),
                },
            );
            (id, drain(&mut m))
        };
        self.spawn(write_loop(conn.clone(), outbox));
        self.spawn(self.clone().read_loop(id, conn));
        self.carry_out(outputs);
        self.inner.wake.notify_one();
    }

    fn dial(&self, peer: PeerId) {
        let node = self.clone();
        let task = tokio::spawn(async move {
            let address = peer.to_string();
            let r =
                tokio::time::timeout(CONNECT_TIMEOUT, node.inner.transport.connect(&address)).await;
            lock(&node.inner.dials).remove(&peer);
            match r {
                Ok(Ok(conn)) => node.connected(conn, Some(peer)),
                Ok(Err(e)) => {
                    let e = e.to_string();
                    node.with_member(|m, now| m.handle_dial_failed(now, peer, &e));
                }
                Err(_) => node.with_member(|m, now| m.handle_dial_failed(now, peer, "timed out")),
            }
        });
        if let Some(old) = lock(&self.inner.dials).insert(peer, task) {
            old.abort();
        }
    }

    async fn accept(self) {
        loop {
            match self.inner.transport.accept().await {
                Ok(conn) => self.connected(conn, None),
                Err(e) => {
                    tracing::debug!(error = %e, "accept failed");
                    if matches!(self.inner.signal.status(), Status::Failed(_)) {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Feeds a connection's messages to the member until it ends.
    async fn read_loop(self, id: ConnId, conn: Arc<T::Connection>) {
        while let Ok(Some(message)) = conn.recv().await {
            let (frame, outputs) = {
                let mut m = lock(&self.inner.member);
                let frame = m.handle_message(wall_clock(), id, &message);
                (frame, drain(&mut m))
            };
            self.carry_out(outputs);
            if let Some(frame) = frame {
                if !self.to_transfer(id, frame).await {
                    self.with_member(|m, now| m.end_link(id, LinkEnd::Overloaded, now));
                    break;
                }
            }
        }
        lock(&self.inner.held).remove(&id);
        self.with_member(|m, now| m.handle_closed(now, id));
    }

    /// Hands a frame to its transfer. Bulk data towards a receiver waits for room (which
    /// holds the sender back); a flood towards a sender is refused (`false`).
    async fn to_transfer(&self, id: ConnId, frame: TransferFrame) -> bool {
        let lane = lock(&self.inner.held)
            .get(&id)
            .and_then(|h| h.lanes.get(&(frame.id, frame.role)).cloned());
        let Some(lane) = lane else {
            return true;
        };
        match frame.role {
            TransferRole::Receive => {
                let _ = lane.send(frame.frame).await;
                true
            }
            TransferRole::Send => !matches!(
                lane.try_send(frame.frame),
                Err(mpsc::error::TrySendError::Full(_))
            ),
        }
    }

    /// Makes the shared budget what the member's settings say (a new rate starts a full
    /// bucket).
    fn update_budget(&self) {
        let rate = lock(&self.inner.member).settings().budget;
        let mut budget = lock(&self.inner.budget);
        if budget.as_ref().map(TokenBucket::rate) != rate {
            *budget = rate
                .map(|r| TokenBucket::new(r, r.max(BUDGET_MIN_BURST), std::time::Instant::now()));
        }
    }

    /// Stops a running transfer: its task ends, the peer is sent the stream's abort, and the
    /// member is told it is done.
    fn stop_transfer(&self, t: Transfer) {
        if let Some(task) = lock(&self.inner.transfers).remove(&(t.conn, t.id, t.role)) {
            task.abort();
        }
        let conn = lock(&self.inner.held).get_mut(&t.conn).map(|h| {
            h.lanes.remove(&(t.id, t.role));
            h.conn.clone()
        });
        if let Some(conn) = conn {
            let abort = Frame::Abort {
                reason: AbortReason::Cancelled,
                message: "paused".to_owned(),
            };
            let m = LinkMessage::Transfer {
                id: t.id,
                direction: t.role.outgoing(),
                frame: abort.encode(),
            };
            tokio::spawn(async move {
                let _ = conn.send(Bytes::from(m.encode())).await;
            });
        }
        let error = "stopped: paused".to_owned();
        self.emit(match t.role {
            TransferRole::Send => Event::SendFailed { to: t.peer, error },
            TransferRole::Receive => Event::ReceiveFailed {
                from: t.peer,
                error,
            },
        });
        self.step(|m, now| m.handle_transfer_done(now, t.peer, t.conn, t.role));
    }

    fn start_transfer(&self, t: Transfer) {
        let (tx, rx) = mpsc::channel(match t.role {
            TransferRole::Receive => RECEIVE_QUEUE,
            TransferRole::Send => SEND_QUEUE,
        });
        let conn = {
            let mut held = lock(&self.inner.held);
            let Some(h) = held.get_mut(&t.conn) else {
                drop(held);
                self.with_member(|m, now| m.handle_transfer_done(now, t.peer, t.conn, t.role));
                return;
            };
            h.lanes.insert((t.id, t.role), tx);
            h.conn.clone()
        };
        let lane = Lane {
            conn,
            id: t.id,
            role: t.role,
            inbox: rx,
            budget: (t.role == TransferRole::Send).then(|| self.inner.budget.clone()),
        };
        let node = self.clone();
        let key = (t.conn, t.id, t.role);
        // Registered before it can finish, so its end always finds (and removes) it.
        let mut transfers = lock(&self.inner.transfers);
        let task = tokio::spawn(async move {
            match t.role {
                TransferRole::Send => node.send(&t, lane).await,
                TransferRole::Receive => node.receive(&t, lane).await,
            }
            lock(&node.inner.transfers).remove(&key);
            if let Some(h) = lock(&node.inner.held).get_mut(&t.conn) {
                h.lanes.remove(&(t.id, t.role));
            }
            node.with_member(|m, now| m.handle_transfer_done(now, t.peer, t.conn, t.role));
        });
        transfers.insert(key, task);
    }

    async fn send(&self, t: &Transfer, mut lane: Lane<T::Connection>) {
        let Some(folder) = self.inner.folders.share.clone() else {
            return;
        };
        let options = SendOptions {
            rate_limit: self.inner.folders.send_rate,
            ..SendOptions::default()
        };
        self.emit(Event::Sending { to: t.peer });
        self.emit(
            match send_folder(&mut lane, &t.key, &folder, &options).await {
                Ok(r) => Event::Sent {
                    to: t.peer,
                    files: r.files_sent,
                    bytes: r.bytes_sent,
                },
                Err(e) => Event::SendFailed {
                    to: t.peer,
                    error: e.to_string(),
                },
            },
        );
    }

    async fn receive(&self, t: &Transfer, mut lane: Lane<T::Connection>) {
        let Some(dest) = self.inner.folders.receive.as_deref() else {
            return;
        };
        let dest = sharer_folder(dest, &t.peer);
        let (tx, rx) = watch::channel(Progress::default());
        let reporter = tokio::spawn(report_progress(self.clone(), t.peer, rx));
        let (approval, denied) = {
            let m = lock(&self.inner.member);
            (m.settings().approval, m.settings().denied.clone())
        };
        let hold = self
            .inner
            .folders
            .hold
            .as_deref()
            .filter(|_| approval)
            .map(|h| sharer_folder(h, &t.peer));
        let options = ReceiveOptions {
            progress: Some(tx),
            // Partial files are resumed only for the member that sent them.
            sender: Some(*t.peer.as_bytes()),
            hold: hold.clone(),
            refuse: denied.iter().map(|h| FileHash::from_bytes(*h)).collect(),
            ..ReceiveOptions::default()
        };
        let r = receive_folder(&mut lane, &t.key, &dest, &options).await;
        drop(options);
        let _ = reporter.await;
        match r {
            Ok(r) => {
                self.emit(Event::Received {
                    from: t.peer,
                    files_received: r.files_received,
                    files_present: r.files_present,
                    bytes_received: r.bytes_received,
                    total: r.manifest.total_size(),
                });
                self.apply_removals(t.peer, &dest, &r.manifest).await;
                if let Some(hold) = &hold {
                    self.announce_waiting(t.peer, hold, &r.manifest, &denied)
                        .await;
                }
            }
            Err(e) => self.emit(Event::ReceiveFailed {
                from: t.peer,
                error: e.to_string(),
            }),
        }
    }

    /// Tells the host of each file of `manifest` that waits in `hold` for its approval.
    async fn announce_waiting(
        &self,
        peer: PeerId,
        hold: &std::path::Path,
        manifest: &Manifest,
        denied: &std::collections::BTreeSet<[u8; 32]>,
    ) {
        for f in manifest.files() {
            if denied.contains(f.hash().as_bytes()) {
                continue;
            }
            let held = f.path().under(hold);
            let here = tokio::fs::symlink_metadata(&held)
                .await
                .is_ok_and(|m| m.file_type().is_file() && m.len() == f.size());
            if !here {
                continue;
            }
            let w = Waiting {
                from: peer,
                path: format!("{peer}/{}", f.path()),
                hash: *f.hash().as_bytes(),
                size: f.size(),
            };
            lock(&self.inner.waiting).insert(w.path.clone(), w.clone());
            self.emit(Event::Waiting {
                from: w.from,
                path: w.path,
                hash: w.hash,
                size: w.size,
            });
        }
    }

    /// Moves out of `dest` what `peer`'s previous complete transfer placed and `manifest`
    /// no longer has (into [`Folders::versions`]), and records `manifest` for next time.
    async fn apply_removals(&self, peer: PeerId, dest: &std::path::Path, manifest: &Manifest) {
        let Some(versions) = self.inner.folders.versions.clone() else {
            return;
        };
        let name = format!("received-{peer}");
        let before = match self.inner.storage.get(&name) {
            Ok(b) => b.and_then(|b| Manifest::decode(&b).ok()),
            Err(message) => {
                self.emit(Event::Error { message });
                return;
            }
        };
        if let Some(before) = before {
            let folder = sharer_folder(&versions.join(wall_clock().as_millis().to_string()), &peer);
            match retire_removed(dest, &before, manifest, &folder).await {
                Ok(paths) if paths.is_empty() => {}
                Ok(paths) => self.emit(Event::Removed {
                    from: peer,
                    paths: paths.iter().map(ToString::to_string).collect(),
                    folder,
                }),
                Err(e) => self.emit(Event::Error {
                    message: format!("moving files {} removed: {e}", peer.short()),
                }),
            }
        }
        if let Err(message) = self.inner.storage.put(&name, manifest.encoded()) {
            self.emit(Event::Error { message });
        }
    }

    /// Runs the member's timers.
    async fn timers(self) {
        loop {
            let next = lock(&self.inner.member).poll_timeout();
            let wait = next.map_or(Duration::from_secs(5), |at| {
                Duration::from_millis(at.as_millis().saturating_sub(wall_clock().as_millis()))
            });
            if !wait.is_zero() {
                let _ = tokio::time::timeout(wait, self.inner.wake.notified()).await;
            }
            self.step(|m, now| {
                if m.poll_timeout().is_some_and(|at| at <= now) {
                    m.handle_timeout(now);
                }
            });
        }
    }

    /// Tells the member when the shared folder changed, once a burst of changes settles.
    async fn share_changes(self, changed: Arc<Notify>) {
        loop {
            changed.notified().await;
            let started = tokio::time::Instant::now();
            while started.elapsed() < SHARE_SETTLE_MAX
                && tokio::time::timeout(SHARE_QUIET, changed.notified())
                    .await
                    .is_ok()
            {}
            self.with_member(|m, now| m.share_changed(now));
        }
    }

    async fn relay_blobs(self) {
        while let Some((from, blob)) = self.inner.signal.recv_app().await {
            self.with_member(|m, now| m.handle_relay(now, from, &blob));
        }
    }

    async fn relay_notices(self) {
        while let Some(n) = self.inner.signal.next_notice().await {
            if let (NoticeCode::Unreachable, Some(peer)) = (n.code, n.peer) {
                self.with_member(|m, now| m.handle_unreachable(now, peer));
            }
        }
    }

    async fn relay_status(self) {
        let mut status = self.inner.signal.watch_status();
        loop {
            let up = matches!(*status.borrow_and_update(), Status::Connected);
            let changed = self.with_member(|m, now| {
                let was = m.relay_connected();
                m.handle_relay_status(now, up);
                up && !was
            });
            if changed {
                self.emit(Event::RelayUp);
            }
            if status.changed().await.is_err() {
                return;
            }
        }
    }

    async fn relay_presence(self) {
        let mut present = self.inner.signal.presence();
        while present.changed().await.is_ok() {
            if self.inner.signal.status() != Status::Connected {
                continue;
            }
            let listed = present.borrow_and_update().clone();
            self.with_member(|m, now| m.handle_presence(now, &listed));
        }
    }
}

/// Watches `folder` and everything in it; `changed` is told of every change.
/// Reports the end of the watcher's thread: the watcher's event handler owns it, and the
/// handler is dropped on that thread as its last act.
struct WatcherEnd(Option<oneshot::Sender<Option<i32>>>);

impl Drop for WatcherEnd {
    fn drop(&mut self) {
        if let Some(end) = self.0.take() {
            let _ = end.send(thread_id());
        }
    }
}

/// The calling thread's id, where the system lists threads by it (Linux: /proc/self/task).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn thread_id() -> Option<i32> {
    Some(nix::unistd::gettid().as_raw())
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn thread_id() -> Option<i32> {
    None
}

/// Drops the watcher and waits (a bounded time) until its thread has ended, so a stopped
/// node leaves no thread behind.
async fn stop_watcher(watcher: Watching) {
    let (watcher, end) = watcher;
    drop(watcher);
    let Ok(Ok(thread)) = tokio::time::timeout(Duration::from_secs(2), end).await else {
        return;
    };
    // The handler was dropped; the thread is leaving. Where threads are listed, wait until
    // it is gone.
    if let Some(tid) = thread {
        let listed = std::path::PathBuf::from(format!("/proc/self/task/{tid}"));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        while listed.exists() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// A watcher of the shared folder and the report of its thread's end.
type Watching = (notify::RecommendedWatcher, oneshot::Receiver<Option<i32>>);

fn watch(folder: &std::path::Path, changed: Arc<Notify>) -> Result<Watching, notify::Error> {
    use notify::Watcher;
    let (tx, end) = oneshot::channel();
    let guard = WatcherEnd(Some(tx));
    let mut watcher = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
        let _owned = &guard;
        match e {
            Ok(e) if !e.kind.is_access() => changed.notify_one(),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "watching the shared folder"),
        }
    })?;
    watcher.watch(folder, notify::RecursiveMode::Recursive)?;
    Ok((watcher, end))
}

fn drain(m: &mut Member) -> Vec<Output> {
    std::iter::from_fn(|| m.poll_output()).collect()
}

/// Sends a link's messages in order, so its reader never waits on the network.
async fn write_loop<C: Connection>(conn: Arc<C>, mut outbox: mpsc::Receiver<Vec<u8>>) {
    while let Some(m) = outbox.recv().await {
        if conn.send(Bytes::from(m)).await.is_err() {
            return;
        }
    }
}

async fn report_progress<T: Transport + 'static>(
    node: Node<T>,
    peer: PeerId,
    mut rx: watch::Receiver<Progress>,
) {
    let mut last: Option<tokio::time::Instant> = None;
    while rx.changed().await.is_ok() {
        let p = *rx.borrow_and_update();
        let due = last.is_none_or(|l| l.elapsed() >= PROGRESS_EVERY);
        if due || p.bytes_done == p.bytes_total {
            last = Some(tokio::time::Instant::now());
            node.emit(Event::Progress {
                from: peer,
                done: p.bytes_done,
                total: p.bytes_total,
            });
        }
    }
}

/// One transfer's messages on a link shared with other traffic: outgoing stream frames go
/// out as transfer messages, incoming ones come from the link's reader through a bounded
/// queue.
struct Lane<C> {
    conn: Arc<C>,
    id: u64,
    role: TransferRole,
    inbox: mpsc::Receiver<Vec<u8>>,
    /// The budget outgoing frames take from (a sender's lane).
    budget: Option<Arc<Mutex<Option<TokenBucket>>>>,
}

impl<C: Connection> MessageConnection for Lane<C> {
    async fn send(&mut self, frame: Vec<u8>) -> std::io::Result<()> {
        let m = LinkMessage::Transfer {
            id: self.id,
            direction: self.role.outgoing(),
            frame,
        };
        let bytes = m.encode();
        let wait = self.budget.as_ref().and_then(|b| {
            lock(b)
                .as_mut()
                .map(|b| b.reserve(std::time::Instant::now(), bytes.len() as u64))
        });
        if let Some(wait) = wait.filter(|w| !w.is_zero()) {
            tokio::time::sleep(wait).await;
        }
        self.conn
            .send(Bytes::from(bytes))
            .await
            .map_err(std::io::Error::other)
    }

    async fn recv(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        Ok(self.inbox.recv().await)
    }
}

//! Transports (WebRTC, in-memory) and their connections. The host relays WebRTC signaling
//! blobs itself and polls for events; messages are received with a timeout.

use std::ffi::c_char;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use ::syncshell_transport::{
    CandidateKind, Connection, MemConnection, MemTransport, Signaling, Stats, Transport,
};
use ::syncshell_webrtc::{WebRtcConnection, WebRtcTransport};
use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::args::{self, Out};
use crate::buffer::{new_bytes, syncshell_bytes, Buffer};
use crate::handle::{self, lock, object};
use crate::identity::{put, put_bytes};
use crate::runtime::{
    config_snapshot, runtime, syncshell_mem_network, syncshell_runtime, syncshell_webrtc_config,
    Network, Runtime,
};
use crate::status::{boundary, syncshell_status, syncshell_status as S, Failure, Outcome};

/// A handle to a transport: this endpoint's way to connect to peers and accept them.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(non_camel_case_types)]
pub struct syncshell_transport {
    /// The handle's value; 0 names no object.
    pub h: u64,
}
/// A handle to a connection to one peer.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(non_camel_case_types)]
pub struct syncshell_connection {
    /// The handle's value; 0 names no object.
    pub h: u64,
}
handle::raw_handles!(syncshell_transport, syncshell_connection);

/// Event: send the signaling blob in `data` to the peer whose address is in `peer`, by any
/// means (a relay, a chat, a file); the peer hands it to `syncshell_transport_signal`.
pub const SYNCSHELL_EVENT_SIGNAL: u32 = 1;
/// Event: `syncshell_transport_connect` to `peer` succeeded; `connection` is new.
pub const SYNCSHELL_EVENT_CONNECTED: u32 = 2;
/// Event: a peer connected to this endpoint; `connection` is new (`peer` is 0).
pub const SYNCSHELL_EVENT_ACCEPTED: u32 = 3;
/// Event: `syncshell_transport_connect` to `peer` failed; `data` holds the reason (text).
pub const SYNCSHELL_EVENT_CONNECT_FAILED: u32 = 4;

/// Events and blobs queued for the host before the library waits for it to catch up.
const QUEUE: usize = 256;
/// Received messages a connection holds for the host before the peer is slowed down.
const INBOX: usize = 8;
/// The longest a blocking call waits for a connection to close.
const CLOSE_WAIT_MS: u32 = 10_000;

enum Event {
    Signal { to: String, blob: Bytes },
    Connected { address: String, conn: Conn },
    Accepted { conn: Conn },
    ConnectFailed { address: String, message: String },
}

/// Signaling through the host: blobs to send become events, blobs received come from
/// `syncshell_transport_signal`.
struct HostSignaling {
    outgoing: mpsc::Sender<Event>,
    incoming: tokio::sync::Mutex<mpsc::Receiver<(String, Bytes)>>,
}

impl Signaling for HostSignaling {
    async fn send(&self, to: &str, blob: Bytes) -> ::syncshell_transport::Result<()> {
        let event = Event::Signal {
            to: to.to_owned(),
            blob,
        };
        self.outgoing
            .send(event)
            .await
            .map_err(|_| ::syncshell_transport::Error::Closed)
    }

    async fn recv(&self) -> ::syncshell_transport::Result<(String, Bytes)> {
        self.incoming
            .lock()
            .await
            .recv()
            .await
            .ok_or(::syncshell_transport::Error::Closed)
    }
}

/// A connection of either backend.
#[derive(Clone)]
pub(crate) enum Conn {
    WebRtc(Arc<WebRtcConnection>),
    Mem(Arc<MemConnection>),
}

impl Conn {
    pub(crate) async fn send(&self, message: Bytes) -> ::syncshell_transport::Result<()> {
        match self {
            Conn::WebRtc(c) => c.send(message).await,
            Conn::Mem(c) => c.send(message).await,
        }
    }

    fn try_send(&self, message: Bytes) -> ::syncshell_transport::Result<()> {
        match self {
            Conn::WebRtc(c) => c.try_send(message),
            Conn::Mem(c) => c.try_send(message),
        }
    }

    async fn recv(&self) -> ::syncshell_transport::Result<Option<Bytes>> {
        match self {
            Conn::WebRtc(c) => c.recv().await,
            Conn::Mem(c) => c.recv().await,
        }
    }

    fn channel_binding(&self) -> Bytes {
        match self {
            Conn::WebRtc(c) => c.channel_binding(),
            Conn::Mem(c) => c.channel_binding(),
        }
    }

    async fn close(&self) {
        match self {
            Conn::WebRtc(c) => c.close().await,
            Conn::Mem(c) => c.close().await,
        }
    }

    fn stats(&self) -> Stats {
        match self {
            Conn::WebRtc(c) => c.stats(),
            Conn::Mem(c) => c.stats(),
        }
    }
}

#[derive(Clone)]
enum Backend {
    WebRtc(Arc<WebRtcTransport<HostSignaling>>),
    Mem(Arc<MemTransport>),
}

impl Backend {
    async fn connect(&self, address: &str) -> ::syncshell_transport::Result<Conn> {
        Ok(match self {
            Backend::WebRtc(t) => Conn::WebRtc(Arc::new(t.connect(address).await?)),
            Backend::Mem(t) => Conn::Mem(Arc::new(t.connect(address).await?)),
        })
    }

    async fn accept(&self) -> ::syncshell_transport::Result<Conn> {
        Ok(match self {
            Backend::WebRtc(t) => Conn::WebRtc(Arc::new(t.accept().await?)),
            Backend::Mem(t) => Conn::Mem(Arc::new(t.accept().await?)),
        })
    }
}

pub(crate) struct TransportObject {
    runtime: Arc<Runtime>,
    backend: Backend,
    signal_in: Option<mpsc::Sender<(String, Bytes)>>,
    events_tx: mpsc::Sender<Event>,
    events: tokio::sync::Mutex<mpsc::Receiver<Event>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}
object!(TransportObject, Transport);

impl Drop for TransportObject {
    fn drop(&mut self) {
        let tasks = self.tasks.get_mut().map(std::mem::take).unwrap_or_default();
        for task in tasks {
            task.abort();
        }
    }
}

/// What the host holds for a connection: the connection, the task that reads it into an
/// inbox (so a receive that times out never loses part of a message), and a flag set while
/// a transfer uses it.
pub(crate) struct ConnectionObject {
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) conn: Conn,
    pub(crate) inbox: Arc<tokio::sync::Mutex<mpsc::Receiver<Inbound>>>,
    pub(crate) busy: Arc<AtomicBool>,
    reader: JoinHandle<()>,
}
object!(ConnectionObject, Connection);

/// What the reader task passes on: a message, the peer's clean close, or a failure.
pub(crate) type Inbound = ::syncshell_transport::Result<Option<Bytes>>;

impl ConnectionObject {
    fn new(runtime: Arc<Runtime>, conn: Conn) -> Outcome<Self> {
        let (tx, rx) = mpsc::channel::<Inbound>(INBOX);
        let reading = conn.clone();
        let reader = runtime.handle()?.spawn(async move {
            loop {
                let item = reading.recv().await;
                let last = !matches!(item, Ok(Some(_)));
                if tx.send(item).await.is_err() || last {
                    break;
                }
            }
        });
        Ok(ConnectionObject {
            runtime,
            conn,
            inbox: Arc::new(tokio::sync::Mutex::new(rx)),
            busy: Arc::new(AtomicBool::new(false)),
            reader,
        })
    }

    fn idle(&self) -> Outcome {
        if self.busy.load(Ordering::Acquire) {
            return Err(Failure::new(
                S::SYNCSHELL_ERR_STATE,
                "a transfer is using this connection; wait for it to end",
            ));
        }
        Ok(())
    }
}

impl Drop for ConnectionObject {
    fn drop(&mut self) {
        self.reader.abort();
        if let Ok(handle) = self.runtime.handle() {
            let conn = self.conn.clone();
            handle.spawn(async move { conn.close().await });
        }
    }
}

/// The connection behind a handle.
pub(crate) fn connection(handle: syncshell_connection) -> Outcome<Arc<ConnectionObject>> {
    handle::get::<ConnectionObject>(handle)
}

fn start(
    runtime: Arc<Runtime>,
    backend: Backend,
    signal_in: Option<mpsc::Sender<(String, Bytes)>>,
    events_tx: mpsc::Sender<Event>,
    events_rx: mpsc::Receiver<Event>,
) -> Outcome<TransportObject> {
    let accepting = backend.clone();
    let accepted = events_tx.clone();
    let accept_loop = runtime.handle()?.spawn(async move {
        loop {
            match accepting.accept().await {
                Ok(conn) => {
                    if accepted.send(Event::Accepted { conn }).await.is_err() {
                        break;
                    }
                }
                // The signaling or the transport is gone: nothing more will arrive.
                Err(::syncshell_transport::Error::Closed) => break,
                // One peer's failed attempt does not stop the others.
                Err(_) => {}
            }
        }
    });
    Ok(TransportObject {
        runtime,
        backend,
        signal_in,
        events_tx,
        events: tokio::sync::Mutex::new(events_rx),
        tasks: Mutex::new(vec![accept_loop]),
    })
}

/// A WebRTC transport on `runtime` reachable at `address` (the name peers use for this
/// endpoint in signaling), with `config` (0: the defaults). It starts accepting at once;
/// signaling goes through the host (`SYNCSHELL_EVENT_SIGNAL`, `syncshell_transport_signal`).
///
/// # Safety
/// `address` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn syncshell_transport_new_webrtc(
    runtime: syncshell_runtime,
    config: syncshell_webrtc_config,
    address: *const c_char,
    out_transport: *mut syncshell_transport,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_transport, "out_transport")?;
        // SAFETY: the caller's promise.
        let address = unsafe { args::text(address, "address") }?;
        let runtime = self::runtime(runtime)?;
        let config = config_snapshot(config)?;
        let (events_tx, events_rx) = mpsc::channel(QUEUE);
        let (signal_tx, signal_rx) = mpsc::channel(QUEUE);
        let signaling = HostSignaling {
            outgoing: events_tx.clone(),
            incoming: tokio::sync::Mutex::new(signal_rx),
        };
        let backend = Backend::WebRtc(Arc::new(WebRtcTransport::new(signaling, address, config)));
        put(
            out,
            start(runtime, backend, Some(signal_tx), events_tx, events_rx)?,
        )
    })
}

/// An in-memory transport at `address` on `network`, for tests and demos.
///
/// # Safety
/// `address` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn syncshell_transport_new_mem(
    network: syncshell_mem_network,
    address: *const c_char,
    out_transport: *mut syncshell_transport,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_transport, "out_transport")?;
        // SAFETY: the caller's promise.
        let address = unsafe { args::text(address, "address") }?;
        let network = handle::get::<Network>(network)?;
        let runtime = Arc::clone(&network.runtime);
        let endpoint = {
            let _guard = runtime.handle()?.enter();
            network.net.endpoint(address)
        };
        let (events_tx, events_rx) = mpsc::channel(QUEUE);
        let backend = Backend::Mem(Arc::new(endpoint));
        put(out, start(runtime, backend, None, events_tx, events_rx)?)
    })
}

fn transport(handle: syncshell_transport) -> Outcome<Arc<TransportObject>> {
    handle::get::<TransportObject>(handle)
}

/// Hands the transport a signaling blob that the peer at `from` sent. `SYNCSHELL_ERR_WOULD_BLOCK`
/// if 256 blobs wait already (poll events, then retry); `SYNCSHELL_ERR_STATE` for an
/// in-memory transport, which needs no signaling.
///
/// # Safety
/// `from` must be a NUL-terminated string; `blob` must point to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn syncshell_transport_signal(
    transport: syncshell_transport,
    from: *const c_char,
    blob: *const u8,
    len: usize,
) -> syncshell_status {
    boundary(|| {
        // SAFETY: the caller's promise.
        let (from, blob) = unsafe { (args::text(from, "from")?, args::bytes(blob, len, "blob")?) };
        let transport = self::transport(transport)?;
        let Some(tx) = &transport.signal_in else {
            return Err(Failure::new(
                S::SYNCSHELL_ERR_STATE,
                "this transport takes no signaling",
            ));
        };
        tx.try_send((from.to_owned(), Bytes::copy_from_slice(blob)))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => Failure::new(
                    S::SYNCSHELL_ERR_WOULD_BLOCK,
                    "256 signaling blobs wait already: poll events, then retry",
                ),
                mpsc::error::TrySendError::Closed(_) => {
                    Failure::new(S::SYNCSHELL_ERR_CLOSED, "the transport is closed")
                }
            })
    })
}

/// Starts connecting to the peer at `address`; the outcome comes as a
/// `SYNCSHELL_EVENT_CONNECTED` or `SYNCSHELL_EVENT_CONNECT_FAILED` event.
///
/// # Safety
/// `address` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn syncshell_transport_connect(
    transport: syncshell_transport,
    address: *const c_char,
) -> syncshell_status {
    boundary(|| {
        // SAFETY: the caller's promise.
        let address = unsafe { args::text(address, "address") }?.to_owned();
        let transport = self::transport(transport)?;
        let backend = transport.backend.clone();
        let events = transport.events_tx.clone();
        let task = transport.runtime.handle()?.spawn(async move {
            let event = match backend.connect(&address).await {
                Ok(conn) => Event::Connected { address, conn },
                Err(e) => Event::ConnectFailed {
                    address,
                    message: e.to_string(),
                },
            };
            let _ = events.send(event).await;
        });
        let mut tasks = lock(&transport.tasks)?;
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
        Ok(())
    })
}

/// Waits up to `timeout_ms` (0: just look) for the transport's next event and writes it:
/// its kind (`SYNCSHELL_EVENT_*`), the peer's address as new bytes (or 0), data as new
/// bytes (or 0) and a new connection (or 0). `SYNCSHELL_ERR_TIMEOUT` if none came.
#[no_mangle]
pub extern "C" fn syncshell_transport_poll(
    transport: syncshell_transport,
    timeout_ms: u32,
    out_kind: *mut u32,
    out_peer: *mut syncshell_bytes,
    out_data: *mut syncshell_bytes,
    out_connection: *mut syncshell_connection,
) -> syncshell_status {
    boundary(|| {
        let kind_out = Out::new(out_kind, "out_kind")?;
        let peer_out = Out::new(out_peer, "out_peer")?;
        let data_out = Out::new(out_data, "out_data")?;
        let conn_out = Out::new(out_connection, "out_connection")?;
        let transport = self::transport(transport)?;
        let event = transport
            .runtime
            .block_on(timeout_ms, async {
                transport.events.lock().await.recv().await
            })?
            .ok_or_else(|| Failure::new(S::SYNCSHELL_ERR_CLOSED, "the transport is closed"))?;
        let runtime = &transport.runtime;
        let (kind, peer, data, conn) = match event {
            Event::Signal { to, blob } => {
                (SYNCSHELL_EVENT_SIGNAL, Some(to), Some(blob.to_vec()), None)
            }
            Event::Connected { address, conn } => {
                (SYNCSHELL_EVENT_CONNECTED, Some(address), None, Some(conn))
            }
            Event::Accepted { conn } => (SYNCSHELL_EVENT_ACCEPTED, None, None, Some(conn)),
            Event::ConnectFailed { address, message } => (
                SYNCSHELL_EVENT_CONNECT_FAILED,
                Some(address),
                Some(message.into_bytes()),
                None,
            ),
        };
        // Register everything before writing anything; on failure, undo what was registered.
        let mut made = Vec::new();
        let registered = (|| -> Outcome<_> {
            let peer = peer.map(new_bytes).transpose()?.unwrap_or_default();
            made.push(peer);
            let data = data.map(new_bytes).transpose()?.unwrap_or_default();
            made.push(data);
            let conn = match conn {
                Some(c) => handle::insert(ConnectionObject::new(Arc::clone(runtime), c)?)?,
                None => syncshell_connection::default(),
            };
            Ok((peer, data, conn))
        })();
        let (peer, data, conn) = registered.inspect_err(|_| {
            for bytes in made {
                let _ = handle::remove::<Buffer>(bytes);
            }
        })?;
        kind_out.write(kind);
        peer_out.write(peer);
        data_out.write(data);
        conn_out.write(conn);
        Ok(())
    })
}

/// Frees a transport handle: it stops accepting and connecting. Connections already made
/// stay open until freed or closed.
#[no_mangle]
pub extern "C" fn syncshell_transport_free(transport: syncshell_transport) -> syncshell_status {
    boundary(|| handle::remove::<TransportObject>(transport))
}

/// Sends one message (up to 16 MiB) reliably and in order, waiting while the peer is slow.
/// For a thread that must not wait, use `syncshell_connection_try_send`.
///
/// # Safety
/// `data` must point to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn syncshell_connection_send(
    connection: syncshell_connection,
    data: *const u8,
    len: usize,
) -> syncshell_status {
    boundary(|| {
        // SAFETY: the caller's promise.
        let data = unsafe { args::bytes(data, len, "data") }?;
        let c = self::connection(connection)?;
        c.idle()?;
        let message = Bytes::copy_from_slice(data);
        let handle = c.runtime.handle()?;
        handle.block_on(c.conn.send(message))?;
        Ok(())
    })
}

/// Sends one message if the send buffer has room for all of it now; else
/// `SYNCSHELL_ERR_WOULD_BLOCK` and nothing is sent.
///
/// # Safety
/// `data` must point to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn syncshell_connection_try_send(
    connection: syncshell_connection,
    data: *const u8,
    len: usize,
) -> syncshell_status {
    boundary(|| {
        // SAFETY: the caller's promise.
        let data = unsafe { args::bytes(data, len, "data") }?;
        let c = self::connection(connection)?;
        c.idle()?;
        let _guard = c.runtime.handle()?.enter();
        c.conn.try_send(Bytes::copy_from_slice(data))?;
        Ok(())
    })
}

/// Waits up to `timeout_ms` (0: just look) for the next message and writes it as new bytes.
/// `SYNCSHELL_ERR_TIMEOUT` if none came (nothing is lost); `SYNCSHELL_ERR_CLOSED` once the
/// peer closed and everything it sent was received.
#[no_mangle]
pub extern "C" fn syncshell_connection_recv(
    connection: syncshell_connection,
    timeout_ms: u32,
    out_message: *mut syncshell_bytes,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_message, "out_message")?;
        let c = self::connection(connection)?;
        c.idle()?;
        let item = c
            .runtime
            .block_on(timeout_ms, async { c.inbox.lock().await.recv().await })?;
        match item {
            Some(Ok(Some(message))) => put_bytes(out, message.to_vec()),
            Some(Ok(None)) | None => Err(Failure::new(
                S::SYNCSHELL_ERR_CLOSED,
                "the connection is closed",
            )),
            Some(Err(e)) => Err(e.into()),
        }
    })
}

/// Writes the connection's channel binding (what the handshake signs) as new bytes.
#[no_mangle]
pub extern "C" fn syncshell_connection_channel_binding(
    connection: syncshell_connection,
    out_binding: *mut syncshell_bytes,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_binding, "out_binding")?;
        put_bytes(
            out,
            self::connection(connection)?
                .conn
                .channel_binding()
                .to_vec(),
        )
    })
}

/// Writes the message bytes sent and received so far.
#[no_mangle]
pub extern "C" fn syncshell_connection_stats(
    connection: syncshell_connection,
    out_bytes_sent: *mut u64,
    out_bytes_received: *mut u64,
) -> syncshell_status {
    boundary(|| {
        let sent = Out::new(out_bytes_sent, "out_bytes_sent")?;
        let received = Out::new(out_bytes_received, "out_bytes_received")?;
        let stats = self::connection(connection)?.conn.stats();
        sent.write(stats.bytes_sent);
        received.write(stats.bytes_received);
        Ok(())
    })
}

/// How an end of a connection's network path was found: `out_local_kind` and
/// `out_remote_kind` of `syncshell_connection_path`.
pub const SYNCSHELL_CANDIDATE_UNKNOWN: u8 = 0;
/// An address of one of the host's interfaces.
pub const SYNCSHELL_CANDIDATE_HOST: u8 = 1;
/// The address a NAT maps the host to, learned from a STUN server.
pub const SYNCSHELL_CANDIDATE_SERVER_REFLEXIVE: u8 = 2;
/// The address a NAT maps the host to, learned from the peer's checks.
pub const SYNCSHELL_CANDIDATE_PEER_REFLEXIVE: u8 = 3;
/// An address on a TURN server that relays the traffic.
pub const SYNCSHELL_CANDIDATE_RELAY: u8 = 4;

/// Writes how the connection's traffic flows: the kind of its local and remote end
/// (`SYNCSHELL_CANDIDATE_*`; `SYNCSHELL_CANDIDATE_UNKNOWN` for both where the backend has no
/// path, as the in-memory one) and the round-trip time in microseconds (0 when unknown). The
/// path is relayed when either end is `SYNCSHELL_CANDIDATE_RELAY`, direct otherwise.
#[no_mangle]
pub extern "C" fn syncshell_connection_path(
    connection: syncshell_connection,
    out_local_kind: *mut u8,
    out_remote_kind: *mut u8,
    out_rtt_us: *mut u64,
) -> syncshell_status {
    boundary(|| {
        let local = Out::new(out_local_kind, "out_local_kind")?;
        let remote = Out::new(out_remote_kind, "out_remote_kind")?;
        let rtt = Out::new(out_rtt_us, "out_rtt_us")?;
        let stats = self::connection(connection)?.conn.stats();
        let kind = |k: CandidateKind| match k {
            CandidateKind::Host => SYNCSHELL_CANDIDATE_HOST,
            CandidateKind::ServerReflexive => SYNCSHELL_CANDIDATE_SERVER_REFLEXIVE,
            CandidateKind::PeerReflexive => SYNCSHELL_CANDIDATE_PEER_REFLEXIVE,
            CandidateKind::Relay => SYNCSHELL_CANDIDATE_RELAY,
        };
        let (l, r) = match stats.path {
            Some(p) => (kind(p.local.kind), kind(p.remote.kind)),
            None => (SYNCSHELL_CANDIDATE_UNKNOWN, SYNCSHELL_CANDIDATE_UNKNOWN),
        };
        local.write(l);
        remote.write(r);
        rtt.write(
            stats
                .rtt
                .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
        );
        Ok(())
    })
}

/// Closes the connection: the peer receives what was sent, then sees the close. Waits at
/// most 10 s.
#[no_mangle]
pub extern "C" fn syncshell_connection_close(connection: syncshell_connection) -> syncshell_status {
    boundary(|| {
        let c = self::connection(connection)?;
        c.runtime.block_on(CLOSE_WAIT_MS, c.conn.close())
    })
}

/// Frees a connection handle, closing the connection in the background if it is open.
#[no_mangle]
pub extern "C" fn syncshell_connection_free(connection: syncshell_connection) -> syncshell_status {
    boundary(|| handle::remove::<ConnectionObject>(connection))
}

//! Glue between a transport connection and the sans-IO protocols: the clock, the message
//! adapter the handshake and the stream run over, the handshake (both ends in one process,
//! or one end), and phonebook sync over a whole connection.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use rand_core::OsRng;
use syncshell_identity::Timestamp;
use syncshell_phonebook::Phonebook;
use syncshell_reconnect::{Handshake, Local, ReplayGuard, Session};
use syncshell_transport::Connection;

/// The wall clock (the libraries take time as an input).
pub fn now() -> Timestamp {
    Timestamp::from_system_time(SystemTime::now())
}

/// Runs once, after a connection has received a given number of bytes: the demo's way of
/// killing a connection at a chosen point of a transfer. From then on the wire also stops
/// delivering, as a dead connection would: whatever was still in flight is lost, so the
/// kill lands at the same point of the transfer however fast the backend is.
pub struct Tripwire {
    /// Bytes received after which the action runs.
    pub after_bytes: u64,
    /// What kills the connection.
    pub action: Box<dyn FnOnce() + Send>,
}

impl std::fmt::Debug for Tripwire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tripwire")
            .field("after_bytes", &self.after_bytes)
            .finish_non_exhaustive()
    }
}

/// Messages over one end of a transport connection, for the handshake and the stream.
#[derive(Debug)]
pub struct Wire<C> {
    conn: Arc<C>,
    received: u64,
    trip: Option<Tripwire>,
    killed: bool,
}

impl<C: Connection> Wire<C> {
    /// Messages over `conn`.
    pub fn new(conn: Arc<C>) -> Self {
        Wire {
            conn,
            received: 0,
            trip: None,
            killed: false,
        }
    }

    /// Messages over `conn`, killed by `trip` once enough bytes arrived.
    pub fn with_tripwire(conn: Arc<C>, trip: Tripwire) -> Self {
        Wire {
            conn,
            received: 0,
            trip: Some(trip),
            killed: false,
        }
    }

    fn check_alive(&self) -> std::io::Result<()> {
        if self.killed {
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "the connection was killed",
            ));
        }
        Ok(())
    }

    async fn send_message(&mut self, message: Vec<u8>) -> std::io::Result<()> {
        self.check_alive()?;
        self.conn
            .send(Bytes::from(message))
            .await
            .map_err(std::io::Error::other)
    }

    async fn recv_message(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        self.check_alive()?;
        let message = self.conn.recv().await.map_err(std::io::Error::other)?;
        if let Some(m) = &message {
            self.received += m.len() as u64;
            if self
                .trip
                .as_ref()
                .is_some_and(|t| self.received >= t.after_bytes)
            {
                if let Some(t) = self.trip.take() {
                    (t.action)();
                    self.killed = true;
                    self.check_alive()?;
                }
            }
        }
        Ok(message.map(|m| m.to_vec()))
    }
}

impl<C: Connection> syncshell_reconnect::MessageConnection for Wire<C> {
    async fn send(&mut self, message: Vec<u8>) -> std::io::Result<()> {
        self.send_message(message).await
    }

    async fn recv(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        self.recv_message().await
    }
}

impl<C: Connection> syncshell_stream::MessageConnection for Wire<C> {
    async fn send(&mut self, message: Vec<u8>) -> std::io::Result<()> {
        self.send_message(message).await
    }

    async fn recv(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        self.recv_message().await
    }
}

/// What a handshake gave each side.
pub type Outcome = Result<Session, syncshell_reconnect::Error>;

/// Runs the handshake between the two ends of a connection, `x` initiating; returns both
/// outcomes. The channel binding comes from the transport.
pub async fn handshake<C: Connection>(
    x: &Arc<C>,
    x_local: &Local<'_>,
    y: &Arc<C>,
    y_local: &Local<'_>,
) -> (Outcome, Outcome) {
    let (mut rx, mut ry) = (OsRng, OsRng);
    let initiator = match Handshake::initiate(x_local, &x.channel_binding(), now(), &mut rx) {
        Ok(h) => h,
        Err(e) => return (Err(e.clone()), Err(e)),
    };
    let responder = match Handshake::respond(&y.channel_binding(), now()) {
        Ok(h) => h,
        Err(e) => return (Err(e.clone()), Err(e)),
    };
    let (mut gx, mut gy) = (ReplayGuard::new(), ReplayGuard::new());
    let (mut wx, mut wy) = (Wire::new(x.clone()), Wire::new(y.clone()));
    // A side that fails closes its end, so the other side learns at once instead of waiting
    // for its deadline.
    let initiator_side = async {
        let r = syncshell_reconnect::run(initiator, &mut wx, x_local, &mut gx, now, &mut rx).await;
        if r.is_err() {
            x.close().await;
        }
        r
    };
    let responder_side = async {
        let r = syncshell_reconnect::run(responder, &mut wy, y_local, &mut gy, now, &mut ry).await;
        if r.is_err() {
            y.close().await;
        }
        r
    };
    tokio::join!(initiator_side, responder_side)
}

/// Runs one side of the handshake on `conn` (the initiator sends the hello), with the
/// transport's channel binding and a replay guard of its own: a connection carries one
/// handshake, so one hello, and a hello recorded on another connection fails on this one's
/// channel binding. A side that fails closes the connection so the peer learns at once.
pub async fn run_handshake<C: Connection>(
    conn: &Arc<C>,
    local: &Local<'_>,
    initiator: bool,
) -> Result<Session, syncshell_reconnect::Error> {
    let mut rng = OsRng;
    let binding = conn.channel_binding();
    let machine = if initiator {
        Handshake::initiate(local, &binding, now(), &mut rng)
    } else {
        Handshake::respond(&binding, now())
    };
    let machine = match machine {
        Ok(m) => m,
        Err(e) => {
            conn.close().await;
            return Err(e);
        }
    };
    let mut guard = ReplayGuard::new();
    let mut wire = Wire::new(conn.clone());
    let r = syncshell_reconnect::run(machine, &mut wire, local, &mut guard, now, &mut rng).await;
    if r.is_err() {
        conn.close().await;
    }
    r
}

/// What a phonebook sync did.
#[derive(Debug, Default, Clone, Copy)]
pub struct SyncTally {
    /// Bytes of sync messages sent.
    pub bytes: usize,
    /// Entries added or updated.
    pub entries: usize,
    /// Tombstones added.
    pub tombstones: usize,
}

/// Syncs two phonebooks over a connection, `a` initiating.
pub async fn sync_books<C: Connection>(
    a: &mut Phonebook,
    a_end: &C,
    b: &mut Phonebook,
    b_end: &C,
) -> Result<SyncTally, String> {
    let (x, y) = tokio::join!(sync_side(a, a_end, true), sync_side(b, b_end, false));
    let (x, y) = (x?, y?);
    Ok(SyncTally {
        bytes: x.bytes + y.bytes,
        entries: x.entries + y.entries,
        tombstones: x.tombstones + y.tombstones,
    })
}

/// Most batches one side sends; the protocol needs at most three.
const MAX_ROUNDS: usize = 8;

/// One side of a sync. The sides take turns sending a batch of sync messages closed by an
/// empty message; a side that receives an empty batch is done, and so is a side that has
/// nothing to answer (it sends the empty batch that ends its peer's turn).
async fn sync_side<C: Connection>(
    book: &mut Phonebook,
    conn: &C,
    start: bool,
) -> Result<SyncTally, String> {
    let mut tally = SyncTally::default();
    let fail = |e: syncshell_transport::Error| format!("phonebook sync: {e}");
    if start {
        let m = book.sync_start();
        tally.bytes += m.len();
        conn.send(Bytes::from(m)).await.map_err(fail)?;
        conn.send(Bytes::new()).await.map_err(fail)?;
    }
    for _ in 0..MAX_ROUNDS {
        let mut replies = Vec::new();
        let mut received = 0;
        loop {
            let m = conn
                .recv()
                .await
                .map_err(fail)?
                .ok_or("phonebook sync: the peer closed the connection")?;
            if m.is_empty() {
                break;
            }
            received += 1;
            let outcome = book
                .handle_sync(&m)
                .map_err(|e| format!("phonebook sync: {e}"))?;
            if let Some(e) = outcome.report.rejected.first() {
                return Err(format!("phonebook sync refused an entry: {e}"));
            }
            tally.entries += outcome.report.added + outcome.report.updated;
            tally.tombstones += outcome.report.tombstones_added;
            replies.extend(outcome.replies);
        }
        if received == 0 {
            return Ok(tally);
        }
        let done = replies.is_empty();
        for r in replies {
            tally.bytes += r.len();
            conn.send(Bytes::from(r)).await.map_err(fail)?;
        }
        conn.send(Bytes::new()).await.map_err(fail)?;
        if done {
            return Ok(tally);
        }
    }
    Err("phonebook sync did not finish".to_owned())
}

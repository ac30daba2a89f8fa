//! The traits every backend implements.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;

use crate::error::Result;

/// Counters of one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Message bytes sent (before fragmentation).
    pub bytes_sent: u64,
    /// Message bytes received.
    pub bytes_received: u64,
    /// Messages sent.
    pub messages_sent: u64,
    /// Messages received.
    pub messages_received: u64,
    /// Round-trip time, where the backend knows it.
    pub rtt: Option<Duration>,
    /// The network path the connection uses, where the backend has one.
    pub path: Option<Path>,
}

/// The network path of a connection: the pair of candidates ICE selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Path {
    /// Our end.
    pub local: Candidate,
    /// The peer's end.
    pub remote: Candidate,
}

impl Path {
    /// Whether the traffic goes through a relay (a TURN server) on either end, rather than
    /// directly between the two peers.
    pub fn is_relayed(&self) -> bool {
        self.local.kind == CandidateKind::Relay || self.remote.kind == CandidateKind::Relay
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = if self.is_relayed() {
            "relayed"
        } else {
            "direct"
        };
        write!(f, "{how} {} -> {}", self.local, self.remote)
    }
}

/// One end of a [`Path`]: an address and how it was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// How the address was found.
    pub kind: CandidateKind,
    /// The address packets go from (ours) or to (the peer's).
    pub address: SocketAddr,
}

impl std::fmt::Display for Candidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.address)
    }
}

/// How an ICE candidate's address was found (RFC 8445 section 5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CandidateKind {
    /// An address of one of the host's interfaces.
    Host,
    /// The address a NAT maps the host to, learned from a STUN server.
    ServerReflexive,
    /// The address a NAT maps the host to, learned from the peer's connectivity checks.
    PeerReflexive,
    /// An address on a TURN server that relays the traffic.
    Relay,
}

impl CandidateKind {
    /// The name ICE gives the kind: `host`, `srflx`, `prflx` or `relay`.
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateKind::Host => "host",
            CandidateKind::ServerReflexive => "srflx",
            CandidateKind::PeerReflexive => "prflx",
            CandidateKind::Relay => "relay",
        }
    }
}

impl std::fmt::Display for CandidateKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The live counters behind [`Stats`], shared by the backends.
#[derive(Debug, Default)]
pub struct Counters {
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    messages_sent: AtomicU64,
    messages_received: AtomicU64,
}

impl Counters {
    /// Counts one message of `len` bytes sent.
    pub fn sent(&self, len: usize) {
        self.messages_sent.fetch_add(1, Ordering::Relaxed);
        self.bytes_sent.fetch_add(len as u64, Ordering::Relaxed);
    }

    /// Counts one message of `len` bytes received.
    pub fn received(&self, len: usize) {
        self.messages_received.fetch_add(1, Ordering::Relaxed);
        self.bytes_received.fetch_add(len as u64, Ordering::Relaxed);
    }

    /// The counters now, with the round-trip time and path the backend knows.
    pub fn snapshot(&self, rtt: Option<Duration>, path: Option<Path>) -> Stats {
        Stats {
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            bytes_received: self.bytes_received.load(Ordering::Relaxed),
            messages_sent: self.messages_sent.load(Ordering::Relaxed),
            messages_received: self.messages_received.load(Ordering::Relaxed),
            rtt,
            path,
        }
    }
}

/// A connection to one peer: reliable ordered messages, an unreliable channel where the
/// backend has one, a channel binding, and back-pressure.
///
/// Messages up to [`Connection::max_message_len`] are split and joined by the crate; bigger
/// ones are refused with [`crate::Error::TooLarge`]. Sending after close is
/// [`crate::Error::Closed`], never silent loss.
pub trait Connection: Send + Sync + 'static {
    /// Sends one message reliably and in order, waiting while the peer is slow (memory stays
    /// bounded by the backend's send buffer).
    fn send(&self, message: Bytes) -> impl Future<Output = Result<()>> + Send;

    /// Sends one message if the send buffer has room for all of it now, else
    /// [`crate::Error::WouldBlock`] and nothing is sent.
    fn try_send(&self, message: Bytes) -> Result<()>;

    /// The next reliable message; `Ok(None)` once the peer closed cleanly and everything it
    /// sent was received.
    fn recv(&self) -> impl Future<Output = Result<Option<Bytes>>> + Send;

    /// Sends one datagram on the unreliable channel: it may be lost, duplicated or reordered.
    /// [`crate::Error::Unsupported`] where the backend has none.
    fn send_unreliable(&self, message: Bytes) -> Result<()>;

    /// The next datagram from the unreliable channel.
    fn recv_unreliable(&self) -> impl Future<Output = Result<Option<Bytes>>> + Send;

    /// Bytes both ends agree on and a party in the middle cannot make equal on its two
    /// connections; the handshake signs them.
    fn channel_binding(&self) -> Bytes;

    /// Closes both directions. The peer receives what was already sent, then `None`; this
    /// end's receives (one already waiting too) return `Ok(None)` at once, whatever the peer
    /// sent that was not read yet. Returns promptly, also mid-handshake.
    fn close(&self) -> impl Future<Output = ()> + Send;

    /// The connection's counters.
    fn stats(&self) -> Stats;

    /// The largest message [`Connection::send`] accepts.
    fn max_message_len(&self) -> usize;
}

/// A way to reach peers by address and to accept their connections.
pub trait Transport: Send + Sync {
    /// The backend's connection type.
    type Connection: Connection;

    /// Connects to the peer at `address`.
    fn connect(&self, address: &str) -> impl Future<Output = Result<Self::Connection>> + Send;

    /// Waits for the next incoming connection.
    fn accept(&self) -> impl Future<Output = Result<Self::Connection>> + Send;

    /// This endpoint's own address.
    fn local_address(&self) -> &str;
}

/// Signaling: opaque blobs to and from peers, for backends that need them to connect
/// (WebRTC offers, answers and ICE candidates). Blobs are end-to-end authenticated by the
/// layers above; a relay only forwards them.
pub trait Signaling: Send + Sync {
    /// Sends `blob` to the peer at `to`.
    fn send(&self, to: &str, blob: Bytes) -> impl Future<Output = Result<()>> + Send;

    /// The next blob for this endpoint and who sent it.
    fn recv(&self) -> impl Future<Output = Result<(String, Bytes)>> + Send;
}

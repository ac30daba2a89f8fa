//! Settings of a [`crate::WebRtcTransport`].

use std::time::Duration;

use syncshell_transport::DEFAULT_MAX_MESSAGE_LEN;

/// A STUN or TURN server. None is used unless configured.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct IceServer {
    /// `stun:<host>:<port>`, `turn:<host>:<port>?transport=udp` and the like.
    pub urls: Vec<String>,
    /// TURN user name (empty for STUN).
    pub username: String,
    /// TURN credential (empty for STUN). Never printed by `Debug`.
    pub credential: String,
}

impl std::fmt::Debug for IceServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IceServer")
            .field("urls", &self.urls)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Settings of a [`crate::WebRtcTransport`]. `Default` contacts no server and binds only
/// `127.0.0.1:0`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebRtcConfig {
    /// STUN/TURN servers. Default: none, so no third-party server is ever contacted and only
    /// host candidates are offered.
    pub ice_servers: Vec<String>,
    /// TURN servers with credentials, in addition to [`WebRtcConfig::ice_servers`].
    pub turn_servers: Vec<IceServer>,
    /// UDP addresses each peer connection binds (one socket per address; its host candidate
    /// is that address). Default: `["127.0.0.1:0"]`, reachable from this host only. Use
    /// `0.0.0.0:0` (or a LAN address) to reach peers on other hosts.
    pub bind_addresses: Vec<String>,
    /// Flow-control window in bytes, per direction: a sender's `send` waits (and `try_send`
    /// says `WouldBlock`) once this many bytes are sent but not yet taken by the peer's
    /// `recv`. Both ends announce theirs and use the smaller. Default 1 MiB; at least
    /// [`MIN_WINDOW`].
    pub send_buffer_limit: usize,
    /// The largest message `send` accepts (and `recv` reassembles). Default 16 MiB.
    pub max_message_len: usize,
    /// How long `connect` and `accept` (from the offer on) may take. Default 15 s.
    pub connect_timeout: Duration,
    /// How long a peer may be silent before its connection counts as lost. Default 10 s.
    pub liveness_timeout: Duration,
    /// How long `close` may wait for the peer to receive what was sent. Default 2 s.
    pub close_timeout: Duration,
    /// Trickle ICE: send the offer or answer at once, without waiting for ICE gathering, and
    /// each local candidate after it as its own signaling blob, then an end-of-candidates
    /// blob. Both ends should set it. Default `false`: one blob carrying every candidate,
    /// compact enough for an invite.
    pub trickle: bool,
    /// Receive and send buffer size asked for each UDP socket. The systems' defaults (208 KiB
    /// on Linux, 64 KiB on Windows) overflow during bulk transfers, and every datagram lost
    /// there stalls the connection for SCTP's retransmission timeout (at least 1 s). The
    /// system may grant less (Linux caps it at `net.core.rmem_max`). Default 4 MiB; 0 keeps
    /// the system's default.
    pub socket_buffer_size: usize,
}

/// The smallest flow-control window: two full-size fragments.
pub const MIN_WINDOW: usize = 256 * 1024;

impl Default for WebRtcConfig {
    fn default() -> Self {
        WebRtcConfig {
            ice_servers: Vec::new(),
            turn_servers: Vec::new(),
            bind_addresses: vec!["127.0.0.1:0".to_owned()],
            send_buffer_limit: 1024 * 1024,
            max_message_len: DEFAULT_MAX_MESSAGE_LEN,
            connect_timeout: Duration::from_secs(15),
            liveness_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(2),
            trickle: false,
            socket_buffer_size: 4 * 1024 * 1024,
        }
    }
}

impl WebRtcConfig {
    pub(crate) fn window(&self) -> usize {
        self.send_buffer_limit.clamp(MIN_WINDOW, u32::MAX as usize)
    }
}

//! Settings of a [`crate::WebRtcTransport`].

use std::time::Duration;

use rtc::ice::url::{ProtoType, SchemeType, Url};
use syncshell_transport::DEFAULT_MAX_MESSAGE_LEN;

use crate::error::WebRtcError;

/// A STUN or TURN server. None is used unless configured.
///
/// URLs follow RFC 7064 and RFC 7065: `stun:HOST[:PORT]`, `turn:HOST[:PORT][?transport=udp|tcp]`
/// (port 3478 by default). TURN over TCP is carried by a bridge of this crate, since webrtc
/// 0.21 speaks TURN over UDP only; `stuns:` and `turns:` (TLS) are refused by
/// [`IceServer::check`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct IceServer {
    /// `stun:<host>:<port>`, `turn:<host>:<port>?transport=udp` and the like.
    pub urls: Vec<String>,
    /// TURN user name (empty for STUN).
    pub username: String,
    /// TURN credential (empty for STUN). Never printed by `Debug`.
    pub credential: String,
}

impl IceServer {
    /// A server at one URL, without credentials (a STUN server).
    pub fn stun(url: impl Into<String>) -> Self {
        IceServer {
            urls: vec![url.into()],
            ..IceServer::default()
        }
    }

    /// A TURN server at one URL with its credentials.
    pub fn turn(
        url: impl Into<String>,
        username: impl Into<String>,
        credential: impl Into<String>,
    ) -> Self {
        IceServer {
            urls: vec![url.into()],
            username: username.into(),
            credential: credential.into(),
        }
    }

    /// Checks that every URL is a STUN or TURN URL this crate can use, and that a TURN
    /// server has credentials.
    pub fn check(&self) -> Result<(), WebRtcError> {
        if self.urls.is_empty() {
            return Err(WebRtcError::IceServer("no URL".to_owned()));
        }
        for raw in &self.urls {
            let url = parse_url(raw)?;
            if url.is_secure() {
                return Err(WebRtcError::IceServer(format!(
                    "{raw}: TLS (stuns:, turns:) is not supported; use turn:...?transport=tcp"
                )));
            }
            let turn = url.scheme == SchemeType::Turn;
            if turn && (self.username.is_empty() || self.credential.is_empty()) {
                return Err(WebRtcError::IceServer(format!(
                    "{raw}: a TURN server needs a user name and a credential"
                )));
            }
            if turn && url.proto == ProtoType::Unknown {
                return Err(WebRtcError::IceServer(format!(
                    "{raw}: the transport must be udp or tcp"
                )));
            }
        }
        Ok(())
    }
}

/// Parses a STUN or TURN URL, with a clear error.
pub(crate) fn parse_url(raw: &str) -> Result<Url, WebRtcError> {
    Url::parse_url(raw).map_err(|e| WebRtcError::IceServer(format!("{raw}: {e}")))
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
    /// STUN and TURN servers: STUN ones give server-reflexive candidates (the address a NAT
    /// maps us to), TURN ones relay candidates. Default: none, so no third-party server is
    /// ever contacted and only host candidates are offered. The list a transport uses can be
    /// replaced later ([`crate::WebRtcTransport::set_ice_servers`]), for credentials that
    /// expire.
    pub ice_servers: Vec<IceServer>,
    /// Offer and accept only relay candidates: every connection goes through a TURN server,
    /// and the peer never learns our addresses. Needs a TURN server in
    /// [`WebRtcConfig::ice_servers`]. Default `false`.
    pub relay_only: bool,
    /// UDP addresses each peer connection binds (one socket per address; its host candidate
    /// is that address). Default: `["127.0.0.1:0"]`, reachable from this host only.
    /// `0.0.0.0:0` (or `[::]:0`) binds every interface of that family except loopback and
    /// link-local ones, as they are when the connection is made.
    pub bind_addresses: Vec<String>,
    /// Flow-control window in bytes, per direction: a sender's `send` waits (and `try_send`
    /// says `WouldBlock`) once this many bytes are sent but not yet taken by the peer's
    /// `recv`. Both ends announce theirs and use the smaller. It also sizes SCTP's receive
    /// window. Default 4 MiB: after a loss on an 80 ms, 100 Mbit/s path, a round trip of
    /// data (1 MB) waits behind the retransmission, and 1 MiB held such a path to half its
    /// rate at 1 % loss (docs/performance.md, "Shaped links"). At least [`MIN_WINDOW`].
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
            relay_only: false,
            bind_addresses: vec!["127.0.0.1:0".to_owned()],
            send_buffer_limit: 4 * 1024 * 1024,
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

//! The crate's error type.

/// What can go wrong in the WebRTC backend. Reaches callers of the transport traits as
/// [`syncshell_transport::Error::Backend`] (or a more specific transport error where one fits).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebRtcError {
    /// The webrtc stack refused an operation.
    #[error("webrtc: {0}")]
    Stack(#[from] webrtc::error::Error),
    /// A signaling blob could not be read (wrong version, truncated, not UTF-8, too long).
    #[error("bad signaling blob: {0}")]
    BadSignal(&'static str),
    /// Connecting took longer than the configured timeout.
    #[error("timed out while {0}")]
    Timeout(&'static str),
    /// The peer connection failed before it was usable.
    #[error("the peer connection failed while {0}")]
    Failed(&'static str),
    /// The connection has no DTLS certificate fingerprint to bind to: none is reported, or one
    /// is not a SHA-256 fingerprint of the form the binding is defined for
    /// (docs/spec/transport.md 6.3).
    #[error("no DTLS fingerprint available")]
    NoFingerprint,
    /// A STUN or TURN server is not usable as configured.
    #[error("bad ICE server: {0}")]
    IceServer(String),
}

impl From<WebRtcError> for syncshell_transport::Error {
    fn from(e: WebRtcError) -> Self {
        match e {
            WebRtcError::Timeout(what) => {
                syncshell_transport::Error::Backend(format!("timed out while {what}"))
            }
            other => syncshell_transport::Error::Backend(other.to_string()),
        }
    }
}

pub(crate) fn stack(e: webrtc::error::Error) -> syncshell_transport::Error {
    WebRtcError::Stack(e).into()
}

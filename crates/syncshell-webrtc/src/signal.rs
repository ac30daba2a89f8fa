//! The signaling blobs: a non-trickle offer or answer with its session and window.
//!
//! Layout (version 1), all integers big-endian:
//!
//! ```text
//! 0       u8   version (1)
//! 1       u8   kind: 1 offer, 2 answer
//! 2..10   u64  session id, chosen by the offerer; the answer repeats it
//! 10..14  u32  the sender's flow-control window in bytes
//! 14..    SDP, UTF-8, at most 64 KiB
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::WebRtcError;

const VERSION: u8 = 1;
const HEADER: usize = 14;
const MAX_SDP: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Offer = 1,
    Answer = 2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signal {
    pub(crate) kind: Kind,
    pub(crate) session: u64,
    pub(crate) window: u32,
    pub(crate) sdp: String,
}

impl Signal {
    pub(crate) fn encode(&self) -> Result<Bytes, WebRtcError> {
        if self.sdp.len() > MAX_SDP {
            return Err(WebRtcError::BadSignal("SDP over 64 KiB"));
        }
        let mut b = BytesMut::with_capacity(HEADER + self.sdp.len());
        b.put_u8(VERSION);
        b.put_u8(self.kind as u8);
        b.put_u64(self.session);
        b.put_u32(self.window);
        b.put_slice(self.sdp.as_bytes());
        Ok(b.freeze())
    }

    pub(crate) fn decode(blob: &[u8]) -> Result<Signal, WebRtcError> {
        let (header, sdp) = blob
            .split_at_checked(HEADER)
            .ok_or(WebRtcError::BadSignal("truncated header"))?;
        let [version, kind, s0, s1, s2, s3, s4, s5, s6, s7, w0, w1, w2, w3] = header else {
            return Err(WebRtcError::BadSignal("truncated header"));
        };
        if *version != VERSION {
            return Err(WebRtcError::BadSignal("unknown version"));
        }
        let kind = match kind {
            1 => Kind::Offer,
            2 => Kind::Answer,
            _ => return Err(WebRtcError::BadSignal("unknown kind")),
        };
        if sdp.len() > MAX_SDP {
            return Err(WebRtcError::BadSignal("SDP over 64 KiB"));
        }
        let sdp = std::str::from_utf8(sdp)
            .map_err(|_| WebRtcError::BadSignal("SDP is not UTF-8"))?
            .to_owned();
        Ok(Signal {
            kind,
            session: u64::from_be_bytes([*s0, *s1, *s2, *s3, *s4, *s5, *s6, *s7]),
            window: u32::from_be_bytes([*w0, *w1, *w2, *w3]),
            sdp,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let s = Signal {
            kind: Kind::Answer,
            session: 0x0102_0304_0506_0708,
            window: 1 << 20,
            sdp: "v=0\r\n".to_owned(),
        };
        let blob = s.encode().unwrap();
        assert_eq!(Signal::decode(&blob).unwrap(), s);
        for cut in 0..HEADER {
            assert!(Signal::decode(&blob[..cut]).is_err());
        }
        let mut bad = blob.to_vec();
        bad[0] = 2;
        assert!(Signal::decode(&bad).is_err());
        let mut bad = blob.to_vec();
        bad[1] = 9;
        assert!(Signal::decode(&bad).is_err());
        let mut bad = blob.to_vec();
        bad.push(0xff);
        assert!(Signal::decode(&bad).is_err());
    }
}

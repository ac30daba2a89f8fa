//! The signaling blobs: an offer or answer with its session and window, and (trickle ICE)
//! one local candidate or the end of a side's candidates.
//!
//! Layout (version 1), all integers big-endian:
//!
//! ```text
//! 0       u8   version (1)
//! 1       u8   kind: 1 offer, 2 answer, 3 candidate, 4 end of candidates
//! 2..10   u64  session id, chosen by the offerer; every other blob repeats it
//! offer and answer:
//! 10..14  u32  the sender's flow-control window in bytes
//! 14..    SDP, UTF-8, at most 64 KiB
//! candidate:
//! 10..    candidate (str), sdp_mid (opt str), sdp_mline_index (opt u16),
//!         username_fragment (opt str), then nothing
//!         str = u16 length || UTF-8 bytes; opt x = 0x00 | 0x01 || x
//! end of candidates: nothing after the session id
//! ```

use bytes::{BufMut, Bytes, BytesMut};
use webrtc::peer_connection::RTCIceCandidateInit;

use crate::error::WebRtcError;

const VERSION: u8 = 1;
const HEADER: usize = 14;
const MAX_SDP: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Offer = 1,
    Answer = 2,
}

const CANDIDATE: u8 = 3;
const END_OF_CANDIDATES: u8 = 4;
/// Session header of candidate and end-of-candidates blobs.
const SESSION_HEADER: usize = 10;

/// Any signaling blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Blob {
    Sdp(Signal),
    Candidate(u64, RTCIceCandidateInit),
    EndOfCandidates(u64),
}

impl Blob {
    pub(crate) fn session(&self) -> u64 {
        match self {
            Blob::Sdp(s) => s.session,
            Blob::Candidate(session, _) | Blob::EndOfCandidates(session) => *session,
        }
    }

    pub(crate) fn encode(&self) -> Result<Bytes, WebRtcError> {
        match self {
            Blob::Sdp(s) => s.encode(),
            Blob::Candidate(session, c) => {
                let mut b = BytesMut::with_capacity(SESSION_HEADER + 64 + c.candidate.len());
                b.put_u8(VERSION);
                b.put_u8(CANDIDATE);
                b.put_u64(*session);
                put_str(&mut b, &c.candidate)?;
                put_opt(&mut b, c.sdp_mid.as_deref(), put_str)?;
                put_opt(&mut b, c.sdp_mline_index, |b, i| {
                    b.put_u16(i);
                    Ok(())
                })?;
                put_opt(&mut b, c.username_fragment.as_deref(), put_str)?;
                Ok(b.freeze())
            }
            Blob::EndOfCandidates(session) => {
                let mut b = BytesMut::with_capacity(SESSION_HEADER);
                b.put_u8(VERSION);
                b.put_u8(END_OF_CANDIDATES);
                b.put_u64(*session);
                Ok(b.freeze())
            }
        }
    }

    pub(crate) fn decode(blob: &[u8]) -> Result<Blob, WebRtcError> {
        let truncated = || WebRtcError::BadSignal("truncated header");
        let (&version, rest) = blob.split_first().ok_or_else(truncated)?;
        if version != VERSION {
            return Err(WebRtcError::BadSignal("unknown version"));
        }
        let kind = *rest.first().ok_or_else(truncated)?;
        if kind == Kind::Offer as u8 || kind == Kind::Answer as u8 {
            return Signal::decode(blob).map(Blob::Sdp);
        }
        if kind != CANDIDATE && kind != END_OF_CANDIDATES {
            return Err(WebRtcError::BadSignal("unknown kind"));
        }
        let (header, mut body) = blob
            .split_at_checked(SESSION_HEADER)
            .ok_or_else(truncated)?;
        let session = u64::from_be_bytes(
            header
                .get(2..SESSION_HEADER)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(truncated)?,
        );
        if kind == END_OF_CANDIDATES {
            return if body.is_empty() {
                Ok(Blob::EndOfCandidates(session))
            } else {
                Err(WebRtcError::BadSignal("bytes after end of candidates"))
            };
        }
        let candidate = get_str(&mut body)?;
        let sdp_mid = get_opt(&mut body, get_str)?;
        let sdp_mline_index = get_opt(&mut body, get_u16)?;
        let username_fragment = get_opt(&mut body, get_str)?;
        if !body.is_empty() {
            return Err(WebRtcError::BadSignal("bytes after the candidate"));
        }
        Ok(Blob::Candidate(
            session,
            RTCIceCandidateInit {
                candidate,
                sdp_mid,
                sdp_mline_index,
                username_fragment,
                url: None,
            },
        ))
    }
}

fn put_str(b: &mut BytesMut, s: &str) -> Result<(), WebRtcError> {
    let len = u16::try_from(s.len())
        .map_err(|_| WebRtcError::BadSignal("candidate field over 64 KiB"))?;
    b.put_u16(len);
    b.put_slice(s.as_bytes());
    Ok(())
}

fn put_opt<T>(
    b: &mut BytesMut,
    v: Option<T>,
    put: impl FnOnce(&mut BytesMut, T) -> Result<(), WebRtcError>,
) -> Result<(), WebRtcError> {
    match v {
        None => b.put_u8(0),
        Some(v) => {
            b.put_u8(1);
            put(b, v)?;
        }
    }
    Ok(())
}

fn get_u16(body: &mut &[u8]) -> Result<u16, WebRtcError> {
    let (n, rest) = body
        .split_first_chunk::<2>()
        .ok_or(WebRtcError::BadSignal("truncated candidate"))?;
    *body = rest;
    Ok(u16::from_be_bytes(*n))
}

fn get_str(body: &mut &[u8]) -> Result<String, WebRtcError> {
    let len = get_u16(body)? as usize;
    let (s, rest) = body
        .split_at_checked(len)
        .ok_or(WebRtcError::BadSignal("truncated candidate"))?;
    *body = rest;
    Ok(std::str::from_utf8(s)
        .map_err(|_| WebRtcError::BadSignal("candidate is not UTF-8"))?
        .to_owned())
}

fn get_opt<T>(
    body: &mut &[u8],
    get: impl FnOnce(&mut &[u8]) -> Result<T, WebRtcError>,
) -> Result<Option<T>, WebRtcError> {
    let (&flag, rest) = body
        .split_first()
        .ok_or(WebRtcError::BadSignal("truncated candidate"))?;
    *body = rest;
    match flag {
        0 => Ok(None),
        1 => get(body).map(Some),
        _ => Err(WebRtcError::BadSignal("bad optional field flag")),
    }
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
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Signaling blobs come from the network: arbitrary bytes never panic a decoder, and
        /// whatever decodes encodes back to the same bytes.
        #[test]
        fn decoders_never_panic_and_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(blob) = Blob::decode(&bytes) {
                prop_assert_eq!(blob.encode().unwrap().to_vec(), bytes.clone());
            }
            if let Ok(signal) = Signal::decode(&bytes) {
                let again = Signal::decode(&signal.encode().unwrap()).unwrap();
                prop_assert_eq!(again.encode().unwrap(), signal.encode().unwrap());
            }
        }
    }

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
        assert_eq!(Blob::decode(&blob).unwrap(), Blob::Sdp(s));
    }

    #[test]
    fn candidate_blobs_round_trip_and_refusals() {
        let c = RTCIceCandidateInit {
            candidate: "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host".to_owned(),
            sdp_mid: Some("0".to_owned()),
            sdp_mline_index: Some(0),
            username_fragment: None,
            url: None,
        };
        let blob = Blob::Candidate(7, c.clone()).encode().unwrap();
        assert_eq!(&blob[..2], &[1, 3]);
        assert_eq!(Blob::decode(&blob).unwrap(), Blob::Candidate(7, c));
        for cut in 0..blob.len() {
            assert!(Blob::decode(&blob[..cut]).is_err());
        }
        let mut bad = blob.to_vec();
        bad.push(0);
        assert!(Blob::decode(&bad).is_err());
        let end = Blob::EndOfCandidates(7).encode().unwrap();
        assert_eq!(&end[..], &[1, 4, 0, 0, 0, 0, 0, 0, 0, 7]);
        assert_eq!(Blob::decode(&end).unwrap(), Blob::EndOfCandidates(7));
        let mut bad = end.to_vec();
        bad.push(0);
        assert!(Blob::decode(&bad).is_err());
    }
}

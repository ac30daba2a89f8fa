//! Frames: the messages of the stream protocol.

use bytes::Bytes;
use prost::Message;

use crate::error::{Error, Result};
use crate::key::{AUTH_TAG_LEN, KEY_LEN, SALT_LEN, TAG_LEN};
use crate::manifest::{ManifestHash, MAX_CHUNK_SIZE, MAX_FILES, MAX_MANIFEST_LEN};
use crate::{proto, wire};

/// Version every frame carries. Version 2 added the offer's salt (and with it a new key
/// derivation); version 1 frames are refused.
pub const FRAME_VERSION: u32 = 2;
/// Largest frame this crate decodes: a maximal manifest plus room for the offer around it.
pub const MAX_FRAME_LEN: usize = MAX_MANIFEST_LEN + 1024;
/// Longest abort message, in bytes.
pub const MAX_ABORT_MESSAGE_LEN: usize = 256;

const WHAT: &str = "frame";

/// Why a transfer was aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AbortReason {
    /// No reason given.
    Unspecified,
    /// The user stopped the transfer.
    Cancelled,
    /// The receiver does not accept the offer (too large, unsafe, not wanted).
    Refused,
    /// The peer sent something invalid.
    Protocol,
    /// A received file did not match its manifest hash.
    HashMismatch,
    /// A local read or write failed.
    Io,
}

impl AbortReason {
    fn to_wire(self) -> i32 {
        use proto::AbortReason as P;
        (match self {
            AbortReason::Unspecified => P::Unspecified,
            AbortReason::Cancelled => P::Cancelled,
            AbortReason::Refused => P::Refused,
            AbortReason::Protocol => P::Protocol,
            AbortReason::HashMismatch => P::HashMismatch,
            AbortReason::Io => P::Io,
        }) as i32
    }

    fn from_wire(v: i32) -> Option<Self> {
        use proto::AbortReason as P;
        Some(match P::try_from(v).ok()? {
            P::Unspecified => AbortReason::Unspecified,
            P::Cancelled => AbortReason::Cancelled,
            P::Refused => AbortReason::Refused,
            P::Protocol => AbortReason::Protocol,
            P::HashMismatch => AbortReason::HashMismatch,
            P::Io => AbortReason::Io,
        })
    }
}

/// A file the receiver still needs: chunks `from_chunk` to the file's last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Want {
    /// Index into the manifest's files.
    pub file: u32,
    /// First chunk needed.
    pub from_chunk: u32,
}

/// One decoded frame. [`crate::Sender`] and [`crate::Receiver`] make and take these as
/// bytes; the type is public for tools, tests and other implementations.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    /// Sender to receiver: the exact manifest bytes, the key confirmation value and the
    /// offer's salt.
    Offer {
        /// The encoded manifest (parsed by the receiver, not by the frame decoder).
        manifest: Bytes,
        /// 32 bytes: [`crate::StreamKey::confirmation`].
        confirm: [u8; KEY_LEN],
        /// 32 random bytes drawn for this offer, an input of [`crate::StreamKey::derive`].
        salt: [u8; SALT_LEN],
    },
    /// Receiver to sender: what it still needs (nothing, if `wants` is empty).
    Request {
        /// The offer this answers.
        manifest_hash: ManifestHash,
        /// Strictly increasing file indexes.
        wants: Vec<Want>,
        /// [`crate::StreamKey::request_tag`] of `wants`.
        tag: [u8; AUTH_TAG_LEN],
    },
    /// Sender to receiver: a sealed chunk.
    Chunk {
        /// File index.
        file: u32,
        /// Chunk index within the file.
        index: u32,
        /// Ciphertext followed by the 16-byte tag.
        sealed: Bytes,
    },
    /// Receiver to sender: everything arrived and matched.
    Complete {
        /// The offer this answers.
        manifest_hash: ManifestHash,
        /// [`crate::StreamKey::completion_tag`].
        tag: [u8; AUTH_TAG_LEN],
    },
    /// Either side: the transfer is over.
    Abort {
        /// Why.
        reason: AbortReason,
        /// For logs, at most [`MAX_ABORT_MESSAGE_LEN`] bytes.
        message: String,
    },
}

impl Frame {
    /// The frame kind, for errors and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Frame::Offer { .. } => "offer",
            Frame::Request { .. } => "request",
            Frame::Chunk { .. } => "chunk",
            Frame::Complete { .. } => "complete",
            Frame::Abort { .. } => "abort",
        }
    }

    /// Decodes a frame: size checked first, counts checked before allocation, version 1
    /// only, and no bytes beyond the canonical encoding of its fields (so unknown fields,
    /// repeated fields and padding are refused).
    pub fn decode(bytes: impl Into<Bytes>) -> Result<Self> {
        let bytes: Bytes = bytes.into();
        if bytes.len() > MAX_FRAME_LEN {
            return Err(Error::TooLarge {
                what: WHAT,
                len: bytes.len() as u64,
                max: MAX_FRAME_LEN as u64,
            });
        }
        if let Some(request) = wire::last(&bytes, 3).map_err(malformed)? {
            let n = wire::count(request, 2).map_err(malformed)?;
            if n > MAX_FILES {
                return Err(Error::TooLarge {
                    what: "request want count",
                    len: n as u64,
                    max: MAX_FILES as u64,
                });
            }
        }
        let len = bytes.len();
        let msg =
            proto::Frame::decode(bytes).map_err(|_| malformed("not a valid protobuf message"))?;
        if msg.encoded_len() != len {
            return Err(malformed("not in canonical form"));
        }
        if msg.version != FRAME_VERSION {
            return Err(Error::UnsupportedVersion {
                what: WHAT,
                version: msg.version,
            });
        }
        use proto::frame::Body;
        Ok(match msg.body.ok_or(malformed("no body"))? {
            Body::Offer(o) => Frame::Offer {
                manifest: o.manifest,
                confirm: fixed(&o.confirm, "a key confirmation is 32 bytes")?,
                salt: fixed(&o.salt, "an offer salt is 32 bytes")?,
            },
            Body::Request(r) => Frame::Request {
                manifest_hash: ManifestHash::from_bytes(fixed(
                    &r.manifest_hash,
                    "a manifest hash is 32 bytes",
                )?),
                wants: r
                    .wants
                    .into_iter()
                    .map(|w| Want {
                        file: w.file,
                        from_chunk: w.from_chunk,
                    })
                    .collect(),
                tag: fixed(&r.tag, "a request tag is 32 bytes")?,
            },
            Body::Chunk(c) => {
                if c.sealed.len() < TAG_LEN || c.sealed.len() > MAX_CHUNK_SIZE as usize + TAG_LEN {
                    return Err(malformed("a sealed chunk is 16 bytes to 1 MiB + 16 bytes"));
                }
                Frame::Chunk {
                    file: c.file,
                    index: c.index,
                    sealed: c.sealed,
                }
            }
            Body::Complete(c) => Frame::Complete {
                manifest_hash: ManifestHash::from_bytes(fixed(
                    &c.manifest_hash,
                    "a manifest hash is 32 bytes",
                )?),
                tag: fixed(&c.tag, "a completion tag is 32 bytes")?,
            },
            Body::Abort(a) => {
                if a.message.len() > MAX_ABORT_MESSAGE_LEN {
                    return Err(malformed("abort message longer than 256 bytes"));
                }
                Frame::Abort {
                    reason: AbortReason::from_wire(a.reason)
                        .ok_or(malformed("unknown abort reason"))?,
                    message: a.message,
                }
            }
        })
    }

    /// The wire encoding (canonical).
    pub fn encode(&self) -> Vec<u8> {
        use proto::frame::Body;
        let body = match self {
            Frame::Offer {
                manifest,
                confirm,
                salt,
            } => Body::Offer(proto::Offer {
                manifest: manifest.clone(),
                confirm: Bytes::copy_from_slice(confirm),
                salt: Bytes::copy_from_slice(salt),
            }),
            Frame::Request {
                manifest_hash,
                wants,
                tag,
            } => Body::Request(proto::Request {
                manifest_hash: Bytes::copy_from_slice(manifest_hash.as_bytes()),
                wants: wants
                    .iter()
                    .map(|w| proto::Want {
                        file: w.file,
                        from_chunk: w.from_chunk,
                    })
                    .collect(),
                tag: Bytes::copy_from_slice(tag),
            }),
            Frame::Chunk {
                file,
                index,
                sealed,
            } => Body::Chunk(proto::Chunk {
                file: *file,
                index: *index,
                sealed: sealed.clone(),
            }),
            Frame::Complete { manifest_hash, tag } => Body::Complete(proto::Complete {
                manifest_hash: Bytes::copy_from_slice(manifest_hash.as_bytes()),
                tag: Bytes::copy_from_slice(tag),
            }),
            Frame::Abort { reason, message } => Body::Abort(proto::Abort {
                reason: reason.to_wire(),
                message: cut(message, MAX_ABORT_MESSAGE_LEN).to_owned(),
            }),
        };
        proto::Frame {
            version: FRAME_VERSION,
            body: Some(body),
        }
        .encode_to_vec()
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

fn fixed<const N: usize>(b: &[u8], reason: &'static str) -> Result<[u8; N]> {
    b.try_into().map_err(|_| malformed(reason))
}

fn malformed(reason: &'static str) -> Error {
    Error::Malformed { what: WHAT, reason }
}

/// The encoding of `Frame::Chunk { file, index, sealed }` up to the sealed bytes, for a
/// sealed length of `sealed_len`: what prost would write, built by hand so the sender can
/// read plaintext straight into the frame buffer and seal it in place.
pub(crate) fn chunk_header(file: u32, index: u32, sealed_len: usize, capacity: usize) -> Vec<u8> {
    let field = |v: u32| {
        if v == 0 {
            0
        } else {
            1 + wire::varint_len(u64::from(v))
        }
    };
    let body_len =
        field(file) + field(index) + 1 + wire::varint_len(sealed_len as u64) + sealed_len;
    let mut out = Vec::with_capacity(capacity.max(16));
    out.extend_from_slice(&[0x08, FRAME_VERSION as u8, 0x22]);
    wire::put_varint(&mut out, body_len as u64);
    if file != 0 {
        out.push(0x08);
        wire::put_varint(&mut out, u64::from(file));
    }
    if index != 0 {
        out.push(0x10);
        wire::put_varint(&mut out, u64::from(index));
    }
    out.push(0x1a);
    wire::put_varint(&mut out, sealed_len as u64);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_encoded_chunk_header_matches_prost() {
        for (file, index, len) in [
            (0u32, 0u32, 16usize),
            (1, 0, 17),
            (0, 1, 127),
            (300, 70_000, 65_552),
            (u32::MAX, u32::MAX, 1_048_592),
        ] {
            let sealed = Bytes::from(vec![0xa5; len]);
            let want = Frame::Chunk {
                file,
                index,
                sealed: sealed.clone(),
            }
            .encode();
            let mut got = chunk_header(file, index, len, 0);
            got.extend_from_slice(&sealed);
            assert_eq!(got, want, "file {file} index {index} len {len}");
            assert_eq!(
                Frame::decode(got).unwrap(),
                Frame::Chunk {
                    file,
                    index,
                    sealed
                }
            );
        }
    }

    #[test]
    fn trailing_bytes_and_unknown_fields_are_refused() {
        let f = Frame::Complete {
            manifest_hash: ManifestHash::from_bytes([1; 32]),
            tag: [2; 32],
        }
        .encode();
        let mut extra = f.clone();
        extra.extend_from_slice(&[0x78, 0x01]); // field 15, varint 1
        assert!(matches!(Frame::decode(extra), Err(Error::Malformed { .. })));
        let mut doubled = f.clone();
        doubled.extend_from_slice(&[0x08, 0x01]); // version again
        assert!(matches!(
            Frame::decode(doubled),
            Err(Error::Malformed { .. })
        ));
        assert!(Frame::decode(f).is_ok());
    }

    #[test]
    fn abort_messages_are_cut_on_a_character_boundary() {
        let f = Frame::Abort {
            reason: AbortReason::Io,
            message: "é".repeat(200),
        };
        match Frame::decode(f.encode()).unwrap() {
            Frame::Abort { message, .. } => assert_eq!(message.len(), 256),
            other => panic!("{other:?}"),
        }
    }
}

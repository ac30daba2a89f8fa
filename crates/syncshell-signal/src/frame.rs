//! The signaling protocol's frames: one binary WebSocket message each, specified in
//! `docs/spec/signal.md`.

use crate::error::Error;
use syncshell_identity::{Context, PeerId, ShellId};

/// The protocol version every frame starts with.
pub const VERSION: u8 = 1;

/// Domain separation of the signature a client makes over the server's challenge.
pub const AUTH_CONTEXT: Context = Context::new("syncshell/v1/signal-auth");

/// Bytes of the random nonce in a challenge.
pub const NONCE_LEN: usize = 32;
/// Bytes of the server-chosen session id in a challenge.
pub const SESSION_LEN: usize = 16;
/// Largest genesis, chain or join request a hello may carry (the identity crate's bound).
pub const MAX_CREDENTIAL_LEN: usize = syncshell_identity::MAX_WIRE_LEN;
/// Largest reason text in a refusal, in bytes of UTF-8.
pub const MAX_REASON_LEN: usize = 256;
/// Most ICE servers one [`Frame::IceServers`] carries.
pub const MAX_ICE_SERVERS: usize = 8;
/// Most URLs one [`IceServer`] carries.
pub const MAX_ICE_URLS: usize = 8;
/// Largest URL, user name or credential of an [`IceServer`], in bytes of UTF-8.
pub const MAX_ICE_TEXT_LEN: usize = 256;
/// Most peers one [`Frame::Presence`] carries.
pub const MAX_PRESENCE_PEERS: usize = 1024;

/// Why the server closes a connection (sent in [`Frame::Refused`] just before it closes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefuseCode {
    /// The frame could not be decoded, or came out of order.
    Malformed,
    /// The signature over the challenge does not verify.
    BadSignature,
    /// The token chain, genesis or invite does not admit the peer.
    NotAdmitted,
    /// A tombstone the server holds revokes the peer (or a key its admission rests on).
    Revoked,
    /// A frame was larger than the server's limit.
    TooLarge,
    /// The connection sent frames faster than its rate limit.
    RateLimited,
    /// Nothing arrived for the idle timeout, or no hello arrived in time.
    Idle,
    /// The server is shutting down.
    ShuttingDown,
    /// The same peer connected again; the older connection is closed.
    Replaced,
    /// A guest tried something only members may do.
    NotAllowed,
    /// The server holds as many shells or peers as it may.
    Full,
}

impl RefuseCode {
    /// The wire value.
    pub fn to_wire(self) -> u8 {
        match self {
            RefuseCode::Malformed => 1,
            RefuseCode::BadSignature => 2,
            RefuseCode::NotAdmitted => 3,
            RefuseCode::Revoked => 4,
            RefuseCode::TooLarge => 5,
            RefuseCode::RateLimited => 6,
            RefuseCode::Idle => 7,
            RefuseCode::ShuttingDown => 8,
            RefuseCode::Replaced => 9,
            RefuseCode::NotAllowed => 10,
            RefuseCode::Full => 11,
        }
    }

    /// The code for a wire value.
    pub fn from_wire(v: u8) -> Option<Self> {
        Some(match v {
            1 => RefuseCode::Malformed,
            2 => RefuseCode::BadSignature,
            3 => RefuseCode::NotAdmitted,
            4 => RefuseCode::Revoked,
            5 => RefuseCode::TooLarge,
            6 => RefuseCode::RateLimited,
            7 => RefuseCode::Idle,
            8 => RefuseCode::ShuttingDown,
            9 => RefuseCode::Replaced,
            10 => RefuseCode::NotAllowed,
            11 => RefuseCode::Full,
            _ => return None,
        })
    }
}

/// Something the server tells a client without closing the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoticeCode {
    /// An uploaded tombstone was new and is now in force.
    TombstoneAccepted,
    /// An uploaded tombstone was already known.
    TombstoneKnown,
    /// An uploaded tombstone did not verify against the shell's genesis.
    TombstoneRejected,
    /// A relayed blob found no admitted peer of the same shell with that id.
    Unreachable,
}

impl NoticeCode {
    /// The wire value.
    pub fn to_wire(self) -> u8 {
        match self {
            NoticeCode::TombstoneAccepted => 1,
            NoticeCode::TombstoneKnown => 2,
            NoticeCode::TombstoneRejected => 3,
            NoticeCode::Unreachable => 4,
        }
    }

    /// The code for a wire value.
    pub fn from_wire(v: u8) -> Option<Self> {
        Some(match v {
            1 => NoticeCode::TombstoneAccepted,
            2 => NoticeCode::TombstoneKnown,
            3 => NoticeCode::TombstoneRejected,
            4 => NoticeCode::Unreachable,
            _ => return None,
        })
    }
}

/// The role a welcome confirms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// A joiner holding a join request: may relay to its inviter only.
    Guest,
    /// An admitted member (any role).
    Member,
}

/// A STUN or TURN server the relay hands to admitted peers, with the credentials for it
/// (empty for STUN). `Debug` does not show the credential.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct IceServer {
    /// `stun:`, `turn:` or `turns:` URLs (RFC 7064, RFC 7065) sharing the credentials.
    pub urls: Vec<String>,
    /// The TURN user name, `<expiry>:<peer id>` (empty for STUN).
    pub username: String,
    /// The TURN password (empty for STUN).
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

/// What a [`Frame::Presence`] says of its peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceChange {
    /// They left (their connection to the relays ended).
    Offline,
    /// They are connected now.
    Online,
    /// They are every other member connected now: the list replaces what the receiver knew.
    All,
}

impl PresenceChange {
    /// The wire value.
    pub fn to_wire(self) -> u8 {
        match self {
            PresenceChange::Offline => 0,
            PresenceChange::Online => 1,
            PresenceChange::All => 2,
        }
    }

    /// The change for a wire value.
    pub fn from_wire(v: u8) -> Option<Self> {
        Some(match v {
            0 => PresenceChange::Offline,
            1 => PresenceChange::Online,
            2 => PresenceChange::All,
            _ => return None,
        })
    }
}

/// One frame of the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Server → client, first frame: what the client signs.
    Challenge {
        /// Fresh random bytes.
        nonce: [u8; NONCE_LEN],
        /// A random id the server chose for this connection.
        session: [u8; SESSION_LEN],
    },
    /// Client → server: a member's credentials and its signature over the challenge.
    Hello {
        /// The shell's genesis bytes.
        genesis: Vec<u8>,
        /// The member's token chain bytes (empty for the owner).
        chain: Vec<u8>,
        /// The member's key.
        peer: PeerId,
        /// `sign(AUTH_CONTEXT, signed_bytes(..))`.
        signature: [u8; 64],
    },
    /// Client → server: a joiner's join request and its signature over the challenge.
    Join {
        /// The encoded join request (it carries the invite and the genesis).
        request: Vec<u8>,
        /// `sign(AUTH_CONTEXT, signed_bytes(..))` by the joiner's key.
        signature: [u8; 64],
    },
    /// Server → client: admitted.
    Welcome {
        /// The shell the client is now registered in.
        shell: ShellId,
        /// The client's peer id, as the server registered it.
        peer: PeerId,
        /// Member or guest.
        standing: Standing,
    },
    /// Client → server: forward `blob` to `to` in the same shell.
    Relay {
        /// The recipient.
        to: PeerId,
        /// Opaque bytes.
        blob: Vec<u8>,
    },
    /// Server → client: a blob another peer of the shell relayed.
    Deliver {
        /// The sender, as the server authenticated it.
        from: PeerId,
        /// Opaque bytes.
        blob: Vec<u8>,
    },
    /// Client → server: an encoded tombstone for the client's shell.
    Tombstone {
        /// The tombstone bytes.
        tombstone: Vec<u8>,
    },
    /// Server → client: something happened; the connection stays open.
    Notice {
        /// What happened.
        code: NoticeCode,
        /// The unreachable recipient: present with [`NoticeCode::Unreachable`] (whose frame
        /// without it does not decode), absent with every other code (not encoded, and
        /// dropped when decoded).
        peer: Option<PeerId>,
    },
    /// Server → client: the connection is being closed, and why.
    Refused {
        /// Why.
        code: RefuseCode,
        /// A short human-readable reason.
        reason: String,
    },
    /// Client → server: an admitted peer asks for the relay's STUN and TURN servers.
    IceRequest,
    /// Server → client: the answer to [`Frame::IceRequest`].
    IceServers {
        /// When the credentials stop working, in unix seconds; 0 when no server carries
        /// credentials. The encoder writes at most [`MAX_ICE_SERVERS`] servers of at most
        /// [`MAX_ICE_URLS`] URLs each (the first ones).
        expires: u64,
        /// The servers; empty when the relay has none.
        servers: Vec<IceServer>,
    },
    /// Server → member: which members of its shell are connected (to this relay or to
    /// another one sharing its Redis). Guests get none and are in none.
    Presence {
        /// Whether they came, left, or are the whole list.
        change: PresenceChange,
        /// The members; at least one unless the change is [`PresenceChange::All`]. The
        /// encoder writes at most [`MAX_PRESENCE_PEERS`] (the first ones).
        peers: Vec<PeerId>,
    },
}

const T_CHALLENGE: u8 = 0x01;
const T_HELLO: u8 = 0x02;
const T_JOIN: u8 = 0x03;
const T_WELCOME: u8 = 0x04;
const T_RELAY: u8 = 0x05;
const T_DELIVER: u8 = 0x06;
const T_TOMBSTONE: u8 = 0x07;
const T_NOTICE: u8 = 0x08;
const T_REFUSED: u8 = 0x09;
const T_ICE_REQUEST: u8 = 0x0a;
const T_ICE_SERVERS: u8 = 0x0b;
const T_PRESENCE: u8 = 0x0c;

/// The bytes a client signs: `nonce || session || shell id || peer id`. The shell and the
/// peer are bound so the signature cannot be presented for another shell or key.
pub fn signed_bytes(
    nonce: &[u8; NONCE_LEN],
    session: &[u8; SESSION_LEN],
    shell: &ShellId,
    peer: &PeerId,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(NONCE_LEN + SESSION_LEN + 64);
    out.extend_from_slice(nonce);
    out.extend_from_slice(session);
    out.extend_from_slice(shell.as_bytes());
    out.extend_from_slice(peer.as_bytes());
    out
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&u32::try_from(b.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(b);
}

impl Frame {
    /// The wire encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![VERSION];
        match self {
            Frame::Challenge { nonce, session } => {
                out.push(T_CHALLENGE);
                out.extend_from_slice(nonce);
                out.extend_from_slice(session);
            }
            Frame::Hello {
                genesis,
                chain,
                peer,
                signature,
            } => {
                out.push(T_HELLO);
                put_bytes(&mut out, genesis);
                put_bytes(&mut out, chain);
                out.extend_from_slice(peer.as_bytes());
                out.extend_from_slice(signature);
            }
            Frame::Join { request, signature } => {
                out.push(T_JOIN);
                put_bytes(&mut out, request);
                out.extend_from_slice(signature);
            }
            Frame::Welcome {
                shell,
                peer,
                standing,
            } => {
                out.push(T_WELCOME);
                out.extend_from_slice(shell.as_bytes());
                out.extend_from_slice(peer.as_bytes());
                out.push(match standing {
                    Standing::Guest => 0,
                    Standing::Member => 1,
                });
            }
            Frame::Relay { to, blob } => {
                out.push(T_RELAY);
                out.extend_from_slice(to.as_bytes());
                out.extend_from_slice(blob);
            }
            Frame::Deliver { from, blob } => {
                out.push(T_DELIVER);
                out.extend_from_slice(from.as_bytes());
                out.extend_from_slice(blob);
            }
            Frame::Tombstone { tombstone } => {
                out.push(T_TOMBSTONE);
                out.extend_from_slice(tombstone);
            }
            Frame::Notice { code, peer } => {
                out.push(T_NOTICE);
                out.push(code.to_wire());
                // Only an unreachable notice carries a peer (docs/spec/signal.md).
                if let (NoticeCode::Unreachable, Some(p)) = (code, peer) {
                    out.extend_from_slice(p.as_bytes());
                }
            }
            Frame::Refused { code, reason } => {
                out.push(T_REFUSED);
                out.push(code.to_wire());
                let mut end = reason.len().min(MAX_REASON_LEN);
                while !reason.is_char_boundary(end) {
                    end -= 1;
                }
                out.extend_from_slice(reason.as_bytes().get(..end).unwrap_or_default());
            }
            Frame::IceRequest => out.push(T_ICE_REQUEST),
            Frame::IceServers { expires, servers } => {
                out.push(T_ICE_SERVERS);
                out.extend_from_slice(&expires.to_be_bytes());
                let servers = servers.get(..MAX_ICE_SERVERS).unwrap_or(servers);
                out.push(servers.len() as u8);
                for server in servers {
                    let urls = server.urls.get(..MAX_ICE_URLS).unwrap_or(&server.urls);
                    out.push(urls.len() as u8);
                    for url in urls {
                        put_bytes(&mut out, url.as_bytes());
                    }
                    put_bytes(&mut out, server.username.as_bytes());
                    put_bytes(&mut out, server.credential.as_bytes());
                }
            }
            Frame::Presence { change, peers } => {
                out.push(T_PRESENCE);
                out.push(change.to_wire());
                for peer in peers.get(..MAX_PRESENCE_PEERS).unwrap_or(peers) {
                    out.extend_from_slice(peer.as_bytes());
                }
            }
        }
        out
    }

    /// Decodes one frame. Never panics and never allocates more than the frame's own size.
    ///
    /// Checks in the spec's order: the version, the type, then each field as it is read (a
    /// length over its bound is [`Error::TooLarge`] before the bytes it announces), then
    /// that nothing follows the last field. `docs/vectors/signal.json` has a frame of each kind
    /// and a frame for each refusal.
    pub fn decode(bytes: &[u8]) -> Result<Frame, Error> {
        let mut r = Reader(bytes);
        let version = r.u8()?;
        if version != VERSION {
            return Err(Error::UnsupportedVersion(version));
        }
        let kind = r.u8()?;
        let frame = match kind {
            T_CHALLENGE => Frame::Challenge {
                nonce: r.array()?,
                session: r.array()?,
            },
            T_HELLO => Frame::Hello {
                genesis: r.bytes(MAX_CREDENTIAL_LEN)?.to_vec(),
                chain: r.bytes(MAX_CREDENTIAL_LEN)?.to_vec(),
                peer: r.peer()?,
                signature: r.array()?,
            },
            T_JOIN => Frame::Join {
                request: r.bytes(MAX_CREDENTIAL_LEN)?.to_vec(),
                signature: r.array()?,
            },
            T_WELCOME => Frame::Welcome {
                shell: ShellId::from_bytes(r.array()?),
                peer: r.peer()?,
                standing: match r.u8()? {
                    0 => Standing::Guest,
                    1 => Standing::Member,
                    _ => return Err(Error::Malformed("unknown standing")),
                },
            },
            T_RELAY => Frame::Relay {
                to: r.peer()?,
                blob: r.rest().to_vec(),
            },
            T_DELIVER => Frame::Deliver {
                from: r.peer()?,
                blob: r.rest().to_vec(),
            },
            T_TOMBSTONE => Frame::Tombstone {
                tombstone: r.rest().to_vec(),
            },
            T_NOTICE => {
                let code = NoticeCode::from_wire(r.u8()?)
                    .ok_or(Error::Malformed("unknown notice code"))?;
                // A peer is read whenever bytes follow the code; code 4 needs one, codes 1-3
                // ignore one.
                let peer = if r.0.is_empty() && code != NoticeCode::Unreachable {
                    None
                } else {
                    Some(r.peer()?)
                };
                Frame::Notice {
                    code,
                    peer: peer.filter(|_| code == NoticeCode::Unreachable),
                }
            }
            T_REFUSED => {
                let code = RefuseCode::from_wire(r.u8()?)
                    .ok_or(Error::Malformed("unknown refusal code"))?;
                let rest = r.rest();
                if rest.len() > MAX_REASON_LEN {
                    return Err(Error::TooLarge {
                        len: rest.len(),
                        max: MAX_REASON_LEN,
                    });
                }
                let reason = std::str::from_utf8(rest)
                    .map_err(|_| Error::Malformed("reason is not UTF-8"))?;
                Frame::Refused {
                    code,
                    reason: reason.to_owned(),
                }
            }
            T_ICE_REQUEST => Frame::IceRequest,
            T_ICE_SERVERS => {
                let expires = u64::from_be_bytes(r.array()?);
                let count = usize::from(r.u8()?);
                if count > MAX_ICE_SERVERS {
                    return Err(Error::Malformed("too many ICE servers"));
                }
                let mut servers = Vec::with_capacity(count);
                for _ in 0..count {
                    let n = usize::from(r.u8()?);
                    if n == 0 || n > MAX_ICE_URLS {
                        return Err(Error::Malformed("an ICE server needs 1 to 8 URLs"));
                    }
                    let mut urls = Vec::with_capacity(n);
                    for _ in 0..n {
                        urls.push(r.text()?);
                    }
                    servers.push(IceServer {
                        urls,
                        username: r.text()?,
                        credential: r.text()?,
                    });
                }
                Frame::IceServers { expires, servers }
            }
            T_PRESENCE => {
                let change = PresenceChange::from_wire(r.u8()?)
                    .ok_or(Error::Malformed("unknown presence change"))?;
                let rest = r.rest();
                if rest.len() % 32 != 0 {
                    return Err(Error::Malformed("presence peers are not whole keys"));
                }
                let count = rest.len() / 32;
                if count > MAX_PRESENCE_PEERS {
                    return Err(Error::TooLarge {
                        len: count,
                        max: MAX_PRESENCE_PEERS,
                    });
                }
                if count == 0 && change != PresenceChange::All {
                    return Err(Error::Malformed("a presence change without a peer"));
                }
                let mut peers = Vec::with_capacity(count);
                let mut keys = Reader(rest);
                for _ in 0..count {
                    peers.push(keys.peer()?);
                }
                Frame::Presence { change, peers }
            }
            other => return Err(Error::UnknownType(other)),
        };
        if !r.0.is_empty() {
            return Err(Error::Malformed("trailing bytes"));
        }
        Ok(frame)
    }
}

/// A cursor over a frame's bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.0.len() < n {
            return Err(Error::Truncated);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?.first().copied().unwrap_or_default())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        self.take(N)?.try_into().map_err(|_| Error::Truncated)
    }

    fn peer(&mut self) -> Result<PeerId, Error> {
        PeerId::from_bytes(&self.array()?).map_err(|_| Error::Malformed("invalid peer key"))
    }

    fn bytes(&mut self, max: usize) -> Result<&'a [u8], Error> {
        let len = u32::from_be_bytes(self.array()?) as usize;
        if len > max {
            return Err(Error::TooLarge { len, max });
        }
        self.take(len)
    }

    /// A `bytes` field of at most [`MAX_ICE_TEXT_LEN`] bytes holding UTF-8.
    fn text(&mut self) -> Result<String, Error> {
        let b = self.bytes(MAX_ICE_TEXT_LEN)?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| Error::Malformed("ICE server text is not UTF-8"))
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;
    use syncshell_identity::Identity;

    #[test]
    fn frames_round_trip_and_cut_frames_fail() {
        let peer = Identity::generate(&mut OsRng).peer_id();
        let frames = [
            Frame::Challenge {
                nonce: [1; 32],
                session: [2; 16],
            },
            Frame::Hello {
                genesis: vec![3; 40],
                chain: vec![],
                peer,
                signature: [4; 64],
            },
            Frame::Join {
                request: vec![5; 9],
                signature: [6; 64],
            },
            Frame::Welcome {
                shell: ShellId::from_bytes([7; 32]),
                peer,
                standing: Standing::Guest,
            },
            Frame::Relay {
                to: peer,
                blob: vec![8; 100],
            },
            Frame::Deliver {
                from: peer,
                blob: vec![],
            },
            Frame::Tombstone {
                tombstone: vec![9; 3],
            },
            Frame::Notice {
                code: NoticeCode::Unreachable,
                peer: Some(peer),
            },
            Frame::Notice {
                code: NoticeCode::TombstoneKnown,
                peer: None,
            },
            Frame::Refused {
                code: RefuseCode::RateLimited,
                reason: "slow down".into(),
            },
            Frame::IceRequest,
            Frame::IceServers {
                expires: 0,
                servers: vec![],
            },
            Frame::IceServers {
                expires: 1_767_229_200,
                servers: vec![
                    IceServer {
                        urls: vec!["stun:relay.example:3478".into()],
                        ..IceServer::default()
                    },
                    IceServer {
                        urls: vec!["turn:relay.example".into(), "turns:relay.example".into()],
                        username: "1767229200:peer-x".into(),
                        credential: "c2VjcmV0".into(),
                    },
                ],
            },
            Frame::Presence {
                change: PresenceChange::All,
                peers: vec![],
            },
            Frame::Presence {
                change: PresenceChange::Offline,
                peers: vec![peer, peer],
            },
        ];
        for f in frames {
            let bytes = f.encode();
            assert_eq!(Frame::decode(&bytes), Ok(f.clone()));
            for cut in 0..bytes.len().min(80) {
                let _ = Frame::decode(&bytes[..cut]);
            }
        }
        assert_eq!(Frame::decode(&[2, 1]), Err(Error::UnsupportedVersion(2)));
        let huge = [1, T_HELLO, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(Frame::decode(&huge), Err(Error::TooLarge { .. })));
    }

    #[test]
    fn random_bytes_never_panic_the_decoder() {
        use rand_core::{RngCore, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..20_000 {
            let len = (rng.next_u32() % 200) as usize;
            let mut b = vec![0u8; len];
            rng.fill_bytes(&mut b);
            // Mostly well-formed heads, so the body decoders are reached.
            if let Some(v) = b.get_mut(0) {
                *v = VERSION;
            }
            if let Some(t) = b.get_mut(1) {
                *t %= 14;
            }
            let _ = Frame::decode(&b);
        }
    }
}

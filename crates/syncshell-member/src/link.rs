//! The link protocol's messages (docs/spec/link.md): [`LinkMessage`] on a link after the
//! handshake, [`RelayMessage`] through the signaling relay.

use prost::Message;

use crate::error::Error;
use crate::proto;
use crate::proto::{link_message, relay_message};

/// The version every message carries.
pub const VERSION: u32 = 1;
/// Longest display name in an [`Info`], in bytes of UTF-8 (the phonebook's bound).
pub const MAX_NAME_LEN: usize = syncshell_phonebook::MAX_DISPLAY_NAME_LEN;
/// Longest chat text, in bytes of UTF-8.
pub const MAX_CHAT_TEXT_LEN: usize = 4096;
/// Longest reason in a [`RelayMessage::Denied`], in bytes of UTF-8.
pub const MAX_DENIED_LEN: usize = 256;
/// Longest [`LinkMessage`]: the longest phonebook sync message or stream frame, and room for
/// the fields around it.
pub const MAX_LINK_MESSAGE_LEN: usize = max(
    syncshell_phonebook::MAX_SYNC_MESSAGE_LEN,
    syncshell_stream::MAX_FRAME_LEN,
) + 64;
/// Longest [`RelayMessage`]: a join request or token chain of the identity crate's largest
/// size, and room around it (the relay's own frame limit is 64 KiB).
pub const MAX_RELAY_MESSAGE_LEN: usize = 32 * 1024;

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// What a member offers on a link; each side sends one when the link is up, and again when
/// it changes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Info {
    /// The sender's run: random at each start, so a peer tells a link to an earlier run.
    pub boot: u64,
    /// The sender's display name (at most [`MAX_NAME_LEN`] bytes).
    pub name: String,
    /// The sender shares a folder.
    pub share: bool,
    /// The sender receives shared folders.
    pub receive: bool,
    /// The version of the sender's shared folder, raised at each change (0: none); a
    /// receiver that has not fetched this version fetches it.
    pub share_version: u64,
}

/// Which way a transfer's frame goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the transfer's sender to its receiver.
    ToReceiver,
    /// From the transfer's receiver back to its sender.
    ToSender,
}

/// What a chat message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatKind {
    /// A line of text.
    Text,
    /// The sender is typing (the text is empty).
    Typing,
    /// The sender's presence changed: the text is `online` or `away`.
    Presence,
}

/// One message on a link, after the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkMessage {
    /// What the sender offers.
    Info(Info),
    /// One phonebook sync message (`Phonebook::handle_sync` reads it).
    Sync(Vec<u8>),
    /// One stream frame of a transfer.
    Transfer {
        /// The transfer, numbered by its sender on this link: with the direction it names one
        /// transfer, so several can run at once on one link.
        id: u64,
        /// Which way the frame goes.
        direction: Direction,
        /// The stream frame (docs/spec/stream.md).
        frame: Vec<u8>,
    },
    /// A chat message.
    Chat {
        /// What it is.
        kind: ChatKind,
        /// Its text (at most [`MAX_CHAT_TEXT_LEN`] bytes).
        text: String,
    },
    /// Asks the peer to answer with [`LinkMessage::Pong`] and the same number at once.
    Ping(u64),
    /// Answers a [`LinkMessage::Ping`].
    Pong(u64),
    /// From a receiver to a sharer: send the shared folder now, as the transfer with this
    /// number (larger than every number fetched before on the link).
    Fetch(u64),
}

/// Whether a length is within `max`; checked before anything is decoded.
fn bounded(bytes: &[u8], max: usize) -> Result<(), Error> {
    if bytes.len() > max {
        return Err(Error::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    Ok(())
}

fn text_within(text: &str, max: usize, what: &'static str) -> Result<(), Error> {
    if text.len() > max {
        return Err(Error::Invalid(what));
    }
    Ok(())
}

impl LinkMessage {
    /// The wire encoding. A caller keeps within the bounds [`LinkMessage::decode`] checks;
    /// a message beyond them is refused by the peer.
    pub fn encode(&self) -> Vec<u8> {
        let body = match self {
            LinkMessage::Info(info) => link_message::Body::Info(proto::Info {
                boot: info.boot,
                name: info.name.clone(),
                share: info.share,
                receive: info.receive,
                share_version: info.share_version,
            }),
            LinkMessage::Sync(bytes) => link_message::Body::Sync(bytes.clone()),
            LinkMessage::Transfer {
                id,
                direction,
                frame,
            } => link_message::Body::Transfer(proto::TransferFrame {
                id: *id,
                direction: match direction {
                    Direction::ToReceiver => proto::Direction::ToReceiver,
                    Direction::ToSender => proto::Direction::ToSender,
                } as i32,
                frame: frame.clone(),
            }),
            LinkMessage::Chat { kind, text } => link_message::Body::Chat(proto::Chat {
                kind: match kind {
                    ChatKind::Text => proto::ChatKind::Text,
                    ChatKind::Typing => proto::ChatKind::Typing,
                    ChatKind::Presence => proto::ChatKind::Presence,
                } as i32,
                text: text.clone(),
            }),
            LinkMessage::Ping(n) => link_message::Body::Ping(*n),
            LinkMessage::Pong(n) => link_message::Body::Pong(*n),
            LinkMessage::Fetch(id) => link_message::Body::Fetch(*id),
        };
        proto::LinkMessage {
            version: VERSION,
            body: Some(body),
        }
        .encode_to_vec()
    }

    /// Decodes one message: `Ok(None)` for a version-1 message of a kind this version does
    /// not know (to be ignored). Checks, in order: the length (at most
    /// [`MAX_LINK_MESSAGE_LEN`]), the protobuf, the version, then each field's rule.
    pub fn decode(bytes: &[u8]) -> Result<Option<LinkMessage>, Error> {
        bounded(bytes, MAX_LINK_MESSAGE_LEN)?;
        let m = proto::LinkMessage::decode(bytes).map_err(|e| Error::Malformed(e.to_string()))?;
        if m.version != VERSION {
            return Err(Error::UnsupportedVersion(m.version));
        }
        let Some(body) = m.body else {
            return Ok(None);
        };
        Ok(Some(match body {
            link_message::Body::Info(info) => {
                text_within(&info.name, MAX_NAME_LEN, "a name over 64 bytes")?;
                LinkMessage::Info(Info {
                    boot: info.boot,
                    name: info.name,
                    share: info.share,
                    receive: info.receive,
                    share_version: info.share_version,
                })
            }
            link_message::Body::Sync(bytes) => LinkMessage::Sync(bytes),
            link_message::Body::Transfer(t) => LinkMessage::Transfer {
                id: t.id,
                direction: match proto::Direction::try_from(t.direction) {
                    Ok(proto::Direction::ToReceiver) => Direction::ToReceiver,
                    Ok(proto::Direction::ToSender) => Direction::ToSender,
                    _ => return Err(Error::Invalid("an unknown transfer direction")),
                },
                frame: t.frame,
            },
            link_message::Body::Chat(c) => {
                let kind = match proto::ChatKind::try_from(c.kind) {
                    Ok(proto::ChatKind::Text) => ChatKind::Text,
                    Ok(proto::ChatKind::Typing) => ChatKind::Typing,
                    Ok(proto::ChatKind::Presence) => ChatKind::Presence,
                    _ => return Err(Error::Invalid("an unknown chat kind")),
                };
                text_within(&c.text, MAX_CHAT_TEXT_LEN, "a chat text over 4096 bytes")?;
                LinkMessage::Chat { kind, text: c.text }
            }
            link_message::Body::Ping(n) => LinkMessage::Ping(n),
            link_message::Body::Pong(n) => LinkMessage::Pong(n),
            link_message::Body::Fetch(id) => LinkMessage::Fetch(id),
        }))
    }
}

/// One application blob members send each other through the signaling relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayMessage {
    /// Joiner to inviter: an encoded join request (`JoinRequest::encode`).
    JoinRequest(Vec<u8>),
    /// Inviter to joiner: the granted token chain (`TokenChain::encode`).
    Chain(Vec<u8>),
    /// Inviter to joiner: why the join was refused (at most [`MAX_DENIED_LEN`] bytes).
    Denied(String),
    /// "Dial me": the sender (whose peer id is the larger) asks the receiver to dial it; the
    /// number is the sender's boot.
    Ring(u64),
}

impl RelayMessage {
    /// The wire encoding; a [`RelayMessage::Denied`] reason over [`MAX_DENIED_LEN`] bytes is
    /// cut on a character boundary.
    pub fn encode(&self) -> Vec<u8> {
        let body = match self {
            RelayMessage::JoinRequest(b) => relay_message::Body::JoinRequest(b.clone()),
            RelayMessage::Chain(b) => relay_message::Body::Chain(b.clone()),
            RelayMessage::Denied(why) => {
                let mut end = why.len().min(MAX_DENIED_LEN);
                while !why.is_char_boundary(end) {
                    end -= 1;
                }
                relay_message::Body::Denied(why.get(..end).unwrap_or_default().to_owned())
            }
            RelayMessage::Ring(boot) => relay_message::Body::Ring(*boot),
        };
        proto::RelayMessage {
            version: VERSION,
            body: Some(body),
        }
        .encode_to_vec()
    }

    /// Decodes one blob: `Ok(None)` for a version-1 message of a kind this version does not
    /// know. Checks the length (at most [`MAX_RELAY_MESSAGE_LEN`]), the protobuf, the
    /// version, then the reason's length.
    pub fn decode(bytes: &[u8]) -> Result<Option<RelayMessage>, Error> {
        bounded(bytes, MAX_RELAY_MESSAGE_LEN)?;
        let m = proto::RelayMessage::decode(bytes).map_err(|e| Error::Malformed(e.to_string()))?;
        if m.version != VERSION {
            return Err(Error::UnsupportedVersion(m.version));
        }
        let Some(body) = m.body else {
            return Ok(None);
        };
        Ok(Some(match body {
            relay_message::Body::JoinRequest(b) => RelayMessage::JoinRequest(b),
            relay_message::Body::Chain(b) => RelayMessage::Chain(b),
            relay_message::Body::Denied(why) => {
                text_within(&why, MAX_DENIED_LEN, "a reason over 256 bytes")?;
                RelayMessage::Denied(why)
            }
            relay_message::Body::Ring(boot) => RelayMessage::Ring(boot),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_unknown_kinds_are_none() {
        let all = [
            LinkMessage::Info(Info::default()),
            LinkMessage::Info(Info {
                boot: u64::MAX,
                name: "é".repeat(32),
                share: true,
                receive: true,
                share_version: u64::MAX,
            }),
            LinkMessage::Sync(vec![1, 2, 3]),
            LinkMessage::Fetch(u64::MAX),
            LinkMessage::Transfer {
                id: 3,
                direction: Direction::ToSender,
                frame: vec![9; 100],
            },
            LinkMessage::Chat {
                kind: ChatKind::Typing,
                text: String::new(),
            },
            LinkMessage::Ping(0),
            LinkMessage::Pong(42),
        ];
        for m in all {
            assert_eq!(LinkMessage::decode(&m.encode()), Ok(Some(m.clone())));
        }
        // Version 1 and a field number this version does not know (99, varint 1).
        assert_eq!(
            LinkMessage::decode(&[0x08, 0x01, 0x98, 0x06, 0x01]),
            Ok(None)
        );
        assert_eq!(RelayMessage::decode(&[0x08, 0x01]), Ok(None));
        assert_eq!(
            LinkMessage::decode(&[0x08, 0x02]),
            Err(Error::UnsupportedVersion(2))
        );
        for m in [
            RelayMessage::JoinRequest(vec![1]),
            RelayMessage::Chain(vec![]),
            RelayMessage::Denied("no".into()),
            RelayMessage::Ring(7),
        ] {
            assert_eq!(RelayMessage::decode(&m.encode()), Ok(Some(m.clone())));
        }
        let long = RelayMessage::Denied("é".repeat(200)).encode();
        let Ok(Some(RelayMessage::Denied(cut))) = RelayMessage::decode(&long) else {
            panic!("a cut reason decodes");
        };
        assert_eq!(cut, "é".repeat(128));
    }
}

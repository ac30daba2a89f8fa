//! Splitting messages into fragments that fit a backend's per-message limit, and joining them.
//!
//! Each fragment is one flag byte (`0x00`: more follow, `0x01`: last) and up to
//! `max_fragment - 1` bytes of the message. Reliable ordered channels deliver fragments in
//! order, so joining needs no sequence numbers.

use bytes::{Bytes, BytesMut};

use crate::error::{Error, Result};

const MORE: u8 = 0x00;
const LAST: u8 = 0x01;

/// Default largest message a connection accepts: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_LEN: usize = 16 * 1024 * 1024;

/// Splits `message` into fragments of at most `max_fragment` bytes (at least 2).
pub fn split(message: &[u8], max_fragment: usize, max_message: usize) -> Result<Vec<Bytes>> {
    if message.len() > max_message {
        return Err(Error::TooLarge {
            len: message.len(),
            max: max_message,
        });
    }
    let payload = max_fragment.saturating_sub(1).max(1);
    let mut out = Vec::with_capacity(message.len() / payload + 1);
    let mut chunks = message.chunks(payload).peekable();
    if chunks.peek().is_none() {
        return Ok(vec![Bytes::from_static(&[LAST])]);
    }
    while let Some(chunk) = chunks.next() {
        let mut f = BytesMut::with_capacity(chunk.len() + 1);
        f.extend_from_slice(&[if chunks.peek().is_some() { MORE } else { LAST }]);
        f.extend_from_slice(chunk);
        out.push(f.freeze());
    }
    Ok(out)
}

/// Joins fragments back into messages, refusing messages over the limit before buffering them.
///
/// The first refused fragment fails the reassembler for good: every later fragment gets the
/// same error, so the tail of a refused message is never delivered as a message of its own.
/// The connection it belongs to must end.
#[derive(Debug)]
pub struct Reassembler {
    buffer: BytesMut,
    max_message: usize,
    failed: Option<Error>,
}

impl Reassembler {
    /// A reassembler for messages of at most `max_message` bytes.
    pub fn new(max_message: usize) -> Self {
        Reassembler {
            buffer: BytesMut::new(),
            max_message,
            failed: None,
        }
    }

    /// Takes the next fragment; returns a message when it was the last one.
    ///
    /// Fails with [`Error::Protocol`] on an empty fragment or an unknown flag, and with
    /// [`Error::TooLarge`] (`len`: the bytes buffered plus this fragment's, `max`: the limit)
    /// when the message would grow past the limit; nothing of the fragment is buffered then.
    pub fn push(&mut self, fragment: &[u8]) -> Result<Option<Bytes>> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let checked = Self::check(fragment, self.buffer.len(), self.max_message);
        let (last, body) = match checked {
            Ok(parts) => parts,
            Err(e) => {
                self.buffer = BytesMut::new();
                self.failed = Some(e.clone());
                return Err(e);
            }
        };
        self.buffer.extend_from_slice(body);
        Ok(last.then(|| self.buffer.split().freeze()))
    }

    fn check(fragment: &[u8], buffered: usize, max: usize) -> Result<(bool, &[u8])> {
        let Some((&flag, body)) = fragment.split_first() else {
            return Err(Error::Protocol("empty fragment"));
        };
        let last = match flag {
            LAST => true,
            MORE => false,
            _ => return Err(Error::Protocol("unknown fragment flag")),
        };
        let len = buffered.saturating_add(body.len());
        if len > max {
            return Err(Error::TooLarge { len, max });
        }
        Ok((last, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn split_then_join_is_identity(msg in proptest::collection::vec(any::<u8>(), 0..5000), max in 2usize..600) {
            let frags = split(&msg, max, 1 << 20).unwrap();
            prop_assert!(frags.iter().all(|f| f.len() <= max));
            let mut r = Reassembler::new(1 << 20);
            let mut out = None;
            for (i, f) in frags.iter().enumerate() {
                let got = r.push(f).unwrap();
                prop_assert_eq!(got.is_some(), i + 1 == frags.len());
                out = got.or(out);
            }
            prop_assert_eq!(out.unwrap().to_vec(), msg);
        }

        #[test]
        fn arbitrary_fragments_never_panic(frags in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..20)) {
            let mut r = Reassembler::new(100);
            for f in frags {
                let _ = r.push(&f);
            }
        }
    }

    #[test]
    fn oversized_messages_are_refused_on_both_ends() {
        assert!(matches!(
            split(&[0; 11], 4, 10),
            Err(Error::TooLarge { len: 11, max: 10 })
        ));
        let mut r = Reassembler::new(10);
        assert_eq!(r.push(&[MORE, 1, 2, 3, 4, 5, 6]), Ok(None));
        assert_eq!(
            r.push(&[MORE, 1, 2, 3, 4, 5]),
            Err(Error::TooLarge { len: 11, max: 10 })
        );
        assert!(r.push(&[]).is_err());
    }

    /// Before, a refused fragment only cleared the buffer: the rest of the refused message
    /// (here the last fragment, `[LAST, 9]`) came out as a message of its own, and a fragment
    /// with an unknown flag left its bytes in front of the next message.
    #[test]
    fn a_refused_fragment_fails_the_reassembler_for_good() {
        let mut r = Reassembler::new(10);
        assert_eq!(r.push(&[MORE, 1, 2, 3, 4, 5, 6]), Ok(None));
        let too_large = Err(Error::TooLarge { len: 11, max: 10 });
        assert_eq!(r.push(&[MORE, 1, 2, 3, 4, 5]), too_large);
        assert_eq!(r.push(&[LAST, 9]), too_large);

        let mut r = Reassembler::new(10);
        let unknown = Err(Error::Protocol("unknown fragment flag"));
        assert_eq!(r.push(&[7, 1, 2]), unknown);
        assert_eq!(r.push(&[LAST, 9]), unknown);

        let mut r = Reassembler::new(10);
        assert_eq!(r.push(&[]), Err(Error::Protocol("empty fragment")));
        assert_eq!(r.push(&[LAST]), Err(Error::Protocol("empty fragment")));
    }
}

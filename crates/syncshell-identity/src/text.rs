//! The copy-paste text form shared by peer ids, shell ids and invites.
//!
//! `prefix || base32(payload || checksum)`, where base32 is Crockford's alphabet in lower case
//! and the checksum is the first 4 bytes of `SHA-256(prefix || 0x00 || payload)`. Parsing
//! ignores whitespace (chat apps wrap long lines) and `-` after the prefix, ignores case, and
//! reads `o` as `0` and `i`/`l` as `1`, as Crockford's decoding rules say.

use sha2::{Digest, Sha256};

use crate::error::{Error, Kind, Result};

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const CHECKSUM_LEN: usize = 4;

/// Upper bound on the length in bytes of any text given to a parser, checked before any work.
pub(crate) const MAX_TEXT_LEN: usize = 32 * 1024;

fn checksum(prefix: &str, payload: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut h = Sha256::new();
    h.update(prefix.as_bytes());
    h.update([0u8]);
    h.update(payload);
    let digest = h.finalize();
    let mut out = [0u8; CHECKSUM_LEN];
    out.iter_mut().zip(digest).for_each(|(o, d)| *o = d);
    out
}

/// Encodes `payload` under `prefix` (which ends in `-`).
pub(crate) fn encode(prefix: &str, payload: &[u8]) -> String {
    let mut bytes = Vec::with_capacity(payload.len() + CHECKSUM_LEN);
    bytes.extend_from_slice(payload);
    bytes.extend_from_slice(&checksum(prefix, payload));
    let mut out = String::with_capacity(prefix.len() + bytes.len() * 8 / 5 + 1);
    out.push_str(prefix);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &b in &bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(symbol(acc >> bits));
        }
    }
    if bits > 0 {
        out.push(symbol(acc << (5 - bits)));
    }
    out
}

/// The character for the low 5 bits of `v`.
#[allow(clippy::indexing_slicing)] // `v & 31` is always a valid index into 32 symbols.
fn symbol(v: u32) -> char {
    char::from(ALPHABET[(v & 31) as usize])
}

fn digit(c: char) -> Option<u32> {
    let c = c.to_ascii_lowercase();
    let c = match c {
        'o' => '0',
        'i' | 'l' => '1',
        other => other,
    };
    ALPHABET
        .iter()
        .position(|&a| char::from(a) == c)
        .map(|p| p as u32)
}

/// Decodes a text form, checking prefix, alphabet, padding and checksum. Returns the payload.
pub(crate) fn decode(kind: Kind, prefix: &'static str, text: &str) -> Result<Vec<u8>> {
    if text.len() > MAX_TEXT_LEN {
        return Err(Error::TooLarge {
            kind,
            len: text.len(),
            max: MAX_TEXT_LEN,
        });
    }
    let start = text.len() - text.trim_start().len();
    let trimmed = text.trim_start();
    let head = trimmed.get(..prefix.len());
    if !head.is_some_and(|h| h.eq_ignore_ascii_case(prefix)) {
        return Err(Error::WrongPrefix {
            kind,
            expected: prefix,
        });
    }
    let body = trimmed.get(prefix.len()..).unwrap_or("");
    let char_offset = text[..start].chars().count() + prefix.chars().count();

    let mut out = Vec::with_capacity(body.len() * 5 / 8 + 1);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for (i, c) in body.chars().enumerate() {
        if c.is_whitespace() || c == '-' {
            continue;
        }
        let d = digit(c).ok_or(Error::BadCharacter {
            kind,
            ch: c,
            position: char_offset + i,
        })?;
        acc = ((acc << 5) | d) & 0xffff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    // Leftover bits must be fewer than 5 (else a whole character is extra) and zero.
    if bits >= 5 || acc & ((1 << bits) - 1) != 0 {
        return Err(Error::BadChecksum { kind });
    }
    if out.len() < CHECKSUM_LEN {
        return Err(Error::BadChecksum { kind });
    }
    let split = out.len() - CHECKSUM_LEN;
    let (payload, sum) = out.split_at(split);
    if checksum(prefix, payload) != sum {
        return Err(Error::BadChecksum { kind });
    }
    out.truncate(split);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encoding() {
        // 0xff -> 11111111 -> "zw" (11111 111(00)), then checksum characters follow.
        let t = encode("x-", &[0xff]);
        assert!(t.starts_with("x-zz"), "{t}");
        assert_eq!(decode(Kind::PeerId, "x-", &t).unwrap(), vec![0xff]);
    }

    #[test]
    fn tolerant_of_case_whitespace_and_confusables() {
        let t = encode("peer-", b"hello world, this is a payload");
        let mut mangled = String::new();
        for (i, c) in t.chars().enumerate() {
            mangled.push(c.to_ascii_uppercase());
            if i % 7 == 6 {
                mangled.push_str("\r\n  ");
            }
        }
        let mangled = mangled.replace('0', "O").replace('1', "l");
        assert_eq!(
            decode(Kind::PeerId, "peer-", &mangled).unwrap(),
            b"hello world, this is a payload"
        );
    }

    #[test]
    fn rejects_wrong_prefix_bad_char_and_truncation() {
        let t = encode("peer-", &[1, 2, 3, 4, 5]);
        assert!(matches!(
            decode(Kind::PeerId, "shell-", &t),
            Err(Error::WrongPrefix { .. })
        ));
        let bad = format!("{}u", &t[..t.len() - 1]);
        assert!(matches!(
            decode(Kind::PeerId, "peer-", &bad),
            Err(Error::BadCharacter { ch: 'u', .. })
        ));
        assert!(matches!(
            decode(Kind::PeerId, "peer-", &t[..t.len() - 1]),
            Err(Error::BadChecksum { .. })
        ));
        assert!(matches!(
            decode(Kind::PeerId, "peer-", "peer-"),
            Err(Error::BadChecksum { .. })
        ));
    }

    proptest! {
        #[test]
        fn round_trip(payload in proptest::collection::vec(any::<u8>(), 0..300)) {
            let t = encode("syncshell-invite-", &payload);
            prop_assert_eq!(decode(Kind::Invite, "syncshell-invite-", &t).unwrap(), payload);
        }

        #[test]
        fn any_single_character_change_is_detected(
            payload in proptest::collection::vec(any::<u8>(), 1..100),
            pos in any::<proptest::sample::Index>(),
            replacement in 0usize..32,
        ) {
            let t = encode("peer-", &payload);
            let body_start = "peer-".len();
            let i = body_start + pos.index(t.len() - body_start);
            let new = char::from(ALPHABET[replacement]);
            prop_assume!(t.as_bytes()[i] != new as u8);
            let mut changed = t.clone().into_bytes();
            changed[i] = new as u8;
            let changed = String::from_utf8(changed).unwrap();
            prop_assert!(decode(Kind::PeerId, "peer-", &changed).is_err());
        }

        #[test]
        fn never_panics_on_arbitrary_text(s in "\\PC{0,200}") {
            let _ = decode(Kind::Invite, "syncshell-invite-", &s);
        }
    }
}

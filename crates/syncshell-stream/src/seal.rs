//! The STREAM construction over one file: a sealer and an opener that number chunks and
//! mark the last one in the nonce, so dropped, reordered, duplicated or truncated chunks fail
//! to authenticate.

use std::fmt;

use crate::error::{Error, Result};
use crate::key::{chunk_nonce, Aead, StreamKey, TAG_LEN};

/// Seals the chunks of one file in order. `seal_last` consumes the sealer, so nothing can be
/// sealed after the final chunk; the counter never wraps ([`Error::CounterExhausted`]).
///
/// Chunks are sealed in place with no associated data; the tag is returned detached.
pub struct ChunkSealer {
    aead: Aead,
    file: u32,
    position: u32,
}

impl ChunkSealer {
    /// A sealer for file `file` of the transfer, starting at chunk 0.
    pub fn new(key: &StreamKey, file: u32) -> Self {
        Self::starting_at(key, file, 0)
    }

    /// A sealer that continues at chunk `position` (a resumed transfer). The same key and
    /// position always need the same plaintext: the key is bound to the manifest, which
    /// holds the file's hash.
    pub fn starting_at(key: &StreamKey, file: u32, position: u32) -> Self {
        ChunkSealer {
            aead: key.aead().clone(),
            file,
            position,
        }
    }

    /// The position the next chunk gets.
    pub fn position(&self) -> u32 {
        self.position
    }

    /// Seals a chunk that is not the file's last one.
    ///
    /// Fails with [`Error::CounterExhausted`] at position 2^32 − 1, which only a final chunk
    /// may use.
    pub fn seal_next(&mut self, chunk: &mut [u8]) -> Result<[u8; TAG_LEN]> {
        let next = self
            .position
            .checked_add(1)
            .ok_or(Error::CounterExhausted)?;
        let tag = self
            .aead
            .seal(&chunk_nonce(self.file, self.position, false), &[], chunk)?;
        self.position = next;
        Ok(tag)
    }

    /// Seals the file's final chunk (which is empty only for an empty file).
    pub fn seal_last(self, chunk: &mut [u8]) -> Result<[u8; TAG_LEN]> {
        self.aead
            .seal(&chunk_nonce(self.file, self.position, true), &[], chunk)
    }
}

impl fmt::Debug for ChunkSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkSealer")
            .field("file", &self.file)
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

/// Opens the chunks of one file in order.
///
/// A chunk that fails to open leaves the opener exactly as it was (the next call expects the
/// same position again) and its buffer zeroed; after `open_last` succeeds every further call
/// fails with [`Error::Finished`].
pub struct ChunkOpener {
    aead: Aead,
    file: u32,
    position: u32,
    finished: bool,
}

impl ChunkOpener {
    /// An opener for file `file`, starting at chunk 0.
    pub fn new(key: &StreamKey, file: u32) -> Self {
        Self::starting_at(key, file, 0)
    }

    /// An opener that continues at chunk `position` (a resumed transfer).
    pub fn starting_at(key: &StreamKey, file: u32, position: u32) -> Self {
        ChunkOpener {
            aead: key.aead().clone(),
            file,
            position,
            finished: false,
        }
    }

    /// The position of the chunk expected next.
    pub fn position(&self) -> u32 {
        self.position
    }

    /// Whether the final chunk has been opened.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Opens a chunk that is not the file's last one.
    pub fn open_next(&mut self, chunk: &mut [u8], tag: &[u8; TAG_LEN]) -> Result<()> {
        if self.finished {
            return Err(Error::Finished);
        }
        let next = self
            .position
            .checked_add(1)
            .ok_or(Error::CounterExhausted)?;
        self.aead.open(
            &chunk_nonce(self.file, self.position, false),
            &[],
            chunk,
            tag,
        )?;
        self.position = next;
        Ok(())
    }

    /// Opens the file's final chunk.
    pub fn open_last(&mut self, chunk: &mut [u8], tag: &[u8; TAG_LEN]) -> Result<()> {
        if self.finished {
            return Err(Error::Finished);
        }
        self.aead.open(
            &chunk_nonce(self.file, self.position, true),
            &[],
            chunk,
            tag,
        )?;
        self.finished = true;
        Ok(())
    }
}

impl fmt::Debug for ChunkOpener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkOpener")
            .field("file", &self.file)
            .field("position", &self.position)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{Cipher, SessionKey};
    use crate::manifest::ManifestHash;

    fn key(cipher: Cipher) -> StreamKey {
        StreamKey::derive(
            &SessionKey::from_bytes([7; 32]),
            &ManifestHash::from_bytes([9; 32]),
            &[8; 32],
            cipher,
        )
    }

    #[test]
    fn counter_never_wraps() {
        for cipher in [Cipher::ChaCha20Poly1305, Cipher::Aes256Gcm] {
            let k = key(cipher);
            let mut s = ChunkSealer::starting_at(&k, 0, u32::MAX - 1);
            let mut buf = [1u8; 4];
            s.seal_next(&mut buf).unwrap();
            assert_eq!(s.position(), u32::MAX);
            assert!(matches!(
                s.seal_next(&mut buf),
                Err(Error::CounterExhausted)
            ));
            assert_eq!(s.position(), u32::MAX, "a refused seal does not move");
            // The very last position is still usable for the final chunk.
            let mut last = *b"end!";
            let tag = s.seal_last(&mut last).unwrap();

            let mut o = ChunkOpener::starting_at(&k, 0, u32::MAX);
            let mut other = [0u8; 4];
            assert!(matches!(
                o.open_next(&mut other, &[0; 16]),
                Err(Error::CounterExhausted)
            ));
            o.open_last(&mut last, &tag).unwrap();
            assert_eq!(&last, b"end!");
        }
    }

    #[test]
    fn failed_open_does_not_advance() {
        let k = key(Cipher::ChaCha20Poly1305);
        let mut s = ChunkSealer::new(&k, 3);
        let mut a = *b"first chunk";
        let ta = s.seal_next(&mut a).unwrap();
        let mut o = ChunkOpener::new(&k, 3);
        let mut bad = a;
        bad[0] ^= 1;
        assert!(matches!(
            o.open_next(&mut bad, &ta),
            Err(Error::Authentication)
        ));
        assert_eq!(bad, [0u8; 11], "unauthenticated plaintext is wiped");
        assert_eq!(o.position(), 0);
        o.open_next(&mut a, &ta).unwrap();
        assert_eq!(&a, b"first chunk");
    }
}

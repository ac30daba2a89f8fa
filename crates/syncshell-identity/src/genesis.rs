//! Shell genesis: the signed birth certificate of a syncshell.

use std::fmt;
use std::str::FromStr;

use prost::Message;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};

use crate::envelope::{
    check_version, decode_bounded, fixed, signer_named, SignedEnvelope, MAX_WIRE_LEN,
};
use crate::error::{Error, Kind, Result};
use crate::keys::{Context, Identity, PeerId};
use crate::{proto, text, Timestamp};

/// Signature context of a genesis body.
pub const GENESIS_CONTEXT: Context = Context::new("syncshell/v1/shell-genesis");
/// Longest shell name, in bytes of UTF-8.
pub const MAX_SHELL_NAME_LEN: usize = 64;

const SHELL_ID_LABEL: &[u8] = b"syncshell/v1/shell-id";
const SHELL_PREFIX: &str = "shell-";

/// A shell's identifier: `SHA-256("syncshell/v1/shell-id" || 0x00 || genesis body bytes)`.
///
/// Anyone holding the genesis can recompute it, so the id also pins the owner's key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShellId([u8; 32]);

impl ShellId {
    /// The id from its 32 bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        ShellId(bytes)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn of_body(body: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(SHELL_ID_LABEL);
        h.update([0u8]);
        h.update(body);
        ShellId(h.finalize().into())
    }
}

impl fmt::Display for ShellId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&text::encode(SHELL_PREFIX, &self.0))
    }
}

impl fmt::Debug for ShellId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.to_string();
        write!(f, "ShellId({})", &s[..SHELL_PREFIX.len() + 8])
    }
}

impl FromStr for ShellId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bytes = text::decode(Kind::ShellId, SHELL_PREFIX, s)?;
        Ok(ShellId(fixed(
            Kind::ShellId,
            &bytes,
            "a shell id is 32 bytes",
        )?))
    }
}

#[cfg(feature = "serde")]
mod serde_impls {
    use super::ShellId;
    use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

    impl Serialize for ShellId {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_str(self)
        }
    }

    impl<'de> Deserialize<'de> for ShellId {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let s = String::deserialize(d)?;
            s.parse().map_err(de::Error::custom)
        }
    }
}

/// A verified shell genesis: name, owner, creation time and nonce, signed by the owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellGenesis {
    envelope: SignedEnvelope,
    id: ShellId,
    name: String,
    owner: PeerId,
    created_at: Timestamp,
    nonce: [u8; 16],
}

impl ShellGenesis {
    /// Creates a new shell owned by `owner`. `name` must be 1 to [`MAX_SHELL_NAME_LEN`] bytes.
    pub fn create<R: CryptoRng + RngCore + ?Sized>(
        owner: &Identity,
        name: &str,
        now: Timestamp,
        rng: &mut R,
    ) -> Result<Self> {
        check_name(name).map_err(Error::InvalidArgument)?;
        let mut nonce = [0u8; 16];
        rng.fill_bytes(&mut nonce);
        let body = proto::ShellGenesisBody {
            version: 1,
            name: name.to_owned(),
            owner: owner.peer_id().as_bytes().to_vec(),
            created_at_ms: now.as_millis(),
            nonce: nonce.to_vec(),
        };
        let envelope = SignedEnvelope::seal(owner, GENESIS_CONTEXT, body.encode_to_vec());
        Self::from_envelope(envelope)
    }

    /// Verifies a genesis envelope: the body parses and is signed by the owner it names.
    pub fn from_envelope(envelope: SignedEnvelope) -> Result<Self> {
        let kind = Kind::Genesis;
        let body: proto::ShellGenesisBody = decode_bounded(kind, envelope.body(), MAX_WIRE_LEN)?;
        check_version(kind, body.version)?;
        check_name(&body.name).map_err(|reason| Error::Malformed { kind, reason })?;
        let owner = signer_named(&envelope, kind, &body.owner, "not signed by its owner")?;
        let nonce = fixed(kind, &body.nonce, "the nonce is 16 bytes")?;
        envelope.verify(GENESIS_CONTEXT)?;
        Ok(ShellGenesis {
            id: ShellId::of_body(envelope.body()),
            envelope,
            name: body.name,
            owner,
            created_at: Timestamp::from_millis(body.created_at_ms),
            nonce,
        })
    }

    pub(crate) fn from_proto(msg: proto::SignedEnvelope) -> Result<Self> {
        Self::from_envelope(SignedEnvelope::from_proto(msg)?)
    }

    pub(crate) fn to_proto(&self) -> proto::SignedEnvelope {
        self.envelope.to_proto()
    }

    /// Parses and verifies the wire encoding of [`ShellGenesis::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        Self::from_envelope(SignedEnvelope::decode(bytes)?)
    }

    /// The wire encoding (a signed envelope).
    pub fn encode(&self) -> Vec<u8> {
        self.envelope.encode()
    }

    /// The shell's id.
    pub fn id(&self) -> ShellId {
        self.id
    }

    /// The shell's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The owner's key: the root of every token chain.
    pub fn owner(&self) -> &PeerId {
        &self.owner
    }

    /// When the owner says the shell was created.
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }

    /// The random nonce that makes two shells of the same owner and name distinct.
    pub fn nonce(&self) -> &[u8; 16] {
        &self.nonce
    }

    /// The signed envelope.
    pub fn envelope(&self) -> &SignedEnvelope {
        &self.envelope
    }
}

fn check_name(name: &str) -> std::result::Result<(), &'static str> {
    if name.is_empty() {
        Err("shell name is empty")
    } else if name.len() > MAX_SHELL_NAME_LEN {
        Err("shell name is longer than 64 bytes")
    } else if name.chars().any(char::is_control) {
        Err("shell name contains control characters")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn create_decode_and_id() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let owner = Identity::generate(&mut rng);
        let g = ShellGenesis::create(&owner, "Raid night", Timestamp::from_millis(5), &mut rng)
            .unwrap();
        let back = ShellGenesis::decode(&g.encode()).unwrap();
        assert_eq!(back, g);
        assert_eq!(back.owner(), &owner.peer_id());
        assert_eq!(g.id().to_string().parse::<ShellId>().unwrap(), g.id());
        let other = ShellGenesis::create(&owner, "Raid night", Timestamp::from_millis(5), &mut rng)
            .unwrap();
        assert_ne!(other.id(), g.id(), "the nonce keeps shells apart");
    }

    #[test]
    fn names_are_checked() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let owner = Identity::generate(&mut rng);
        for bad in ["", "a\nb", &"x".repeat(65)] {
            assert!(matches!(
                ShellGenesis::create(&owner, bad, Timestamp::EPOCH, &mut rng),
                Err(Error::InvalidArgument(_))
            ));
        }
    }

    #[test]
    fn genesis_signed_by_someone_else_is_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let owner = Identity::generate(&mut rng);
        let mallory = Identity::generate(&mut rng);
        let g = ShellGenesis::create(&owner, "s", Timestamp::EPOCH, &mut rng).unwrap();
        let forged = SignedEnvelope::seal(&mallory, GENESIS_CONTEXT, g.envelope().body().to_vec());
        assert!(ShellGenesis::from_envelope(forged).is_err());
    }
}

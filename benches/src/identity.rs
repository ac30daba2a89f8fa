//! syncshell-identity: fixtures and ratio lines.

use std::hint::black_box;

use ed25519_dalek::{Signature, VerifyingKey};
use syncshell_identity::{Identity, Role, ShellGenesis, TokenChain, TOKEN_CONTEXT};
use syncshell_testkit::{copy, SeededShell};

use crate::{compare, Ratio};

/// The time every fixture is built and checked at.
pub use syncshell_testkit::T0 as NOW;

/// A shell and a valid chain `depth` tokens deep (owner -> admins -> member), encoded.
#[derive(Debug)]
pub struct ChainFixture {
    /// The shell.
    pub genesis: ShellGenesis,
    /// The shell's owner.
    pub owner: Identity,
    /// The chain's wire encoding.
    pub encoded: Vec<u8>,
    /// The member the chain admits.
    pub member: Identity,
}

/// Builds a [`ChainFixture`]; `depth` must be 1 to `MAX_CHAIN_DEPTH`.
pub fn chain_fixture(depth: usize, seed: u64) -> ChainFixture {
    let mut shell = SeededShell::new("bench", seed, NOW);
    let mut chain = TokenChain::owner();
    let mut issuer = copy(&shell.owner);
    for i in 0..depth {
        let role = if i + 1 == depth {
            Role::Member
        } else {
            Role::Admin
        };
        (issuer, chain) = shell.issue(&issuer, &chain, role, None);
    }
    ChainFixture {
        genesis: shell.genesis,
        owner: shell.owner,
        encoded: chain.encode(),
        member: issuer,
    }
}

/// The identity lines of the ratio report.
pub fn ratios() -> Vec<Ratio> {
    vec![
        token_verify_vs_verify_strict(),
        signature_rule_vs_verify_strict(),
    ]
}

/// A depth-1 token chain decode + verify against a bare `verify_strict` of the same signed
/// bytes (key and signature parsing included). The key is one the crate has seen before, as
/// in steady use (the owner signs every depth-1 token), so the signature rule's torsion check
/// is remembered; `signature_rule_vs_verify_strict` gives its cost for a new key. Throughput;
/// higher is better.
fn token_verify_vs_verify_strict() -> Ratio {
    let f = chain_fixture(1, 1);
    let chain = TokenChain::decode(&f.encoded).unwrap_or_default();
    let token = chain.tokens().first().cloned();
    let Some(token) = token else {
        unreachable!("the fixture chain has a token")
    };
    let mut signed = TOKEN_CONTEXT.label().as_bytes().to_vec();
    signed.push(0);
    signed.extend_from_slice(token.envelope().body());
    let key = *token.envelope().signer().as_bytes();
    let sig = *token.envelope().signature();
    let (ours, base) = compare(
        15,
        400,
        || {
            let chain = TokenChain::decode(black_box(&f.encoded));
            let ok = chain.and_then(|c| c.verify(&f.genesis, NOW)).is_ok();
            assert!(ok);
        },
        || {
            let vk = VerifyingKey::from_bytes(black_box(&key));
            let ok = vk
                .map(|vk| vk.verify_strict(black_box(&signed), &Signature::from_bytes(&sig)))
                .is_ok_and(|r| r.is_ok());
            assert!(ok);
        },
    );
    let ours_ops = 1.0 / ours.as_secs_f64();
    let base_ops = 1.0 / base.as_secs_f64();
    Ratio::new(
        "token_verify_vs_verify_strict",
        ours_ops.round(),
        base_ops.round(),
        "verifications/s",
    )
}

/// What the signature rule costs for a key seen for the first time: parsing it and verifying
/// one signature by the rule (`PeerId::from_bytes`, which checks the key torsion-free, then
/// `PeerId::verify`) against plain ed25519-dalek (`VerifyingKey::from_bytes`,
/// `verify_strict`). The keys cycle through a pool much larger than the crate's cache of
/// accepted keys, so almost every call pays the torsion check. Throughput; a record, not an
/// aim.
fn signature_rule_vs_verify_strict() -> Ratio {
    const KEYS: usize = 8192;
    let message = b"a phonebook entry's body, or a token's, of a typical few hundred bytes";
    let mut signed = TOKEN_CONTEXT.label().as_bytes().to_vec();
    signed.push(0);
    signed.extend_from_slice(message);
    let pool: Vec<([u8; 32], [u8; 64])> = (0..KEYS)
        .map(|i| {
            let mut seed = [5u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let id = Identity::from_secret_bytes(&seed);
            (*id.peer_id().as_bytes(), id.sign(TOKEN_CONTEXT, message))
        })
        .collect();
    let (mut a, mut b) = (0usize, 0usize);
    let (ours, base) = compare(
        15,
        400,
        || {
            a = (a + 1) % KEYS;
            let Some((key, sig)) = pool.get(a) else {
                return;
            };
            let ok = syncshell_identity::PeerId::from_bytes(black_box(key))
                .and_then(|p| p.verify(TOKEN_CONTEXT, black_box(message), sig));
            assert!(ok.is_ok());
        },
        || {
            b = (b + 1) % KEYS;
            let Some((key, sig)) = pool.get(b) else {
                return;
            };
            let ok = VerifyingKey::from_bytes(black_box(key))
                .map(|vk| vk.verify_strict(black_box(&signed), &Signature::from_bytes(sig)));
            assert!(ok.is_ok_and(|r| r.is_ok()));
        },
    );
    Ratio::new(
        "signature_rule_vs_verify_strict",
        (1.0 / ours.as_secs_f64()).round(),
        (1.0 / base.as_secs_f64()).round(),
        "verifications/s",
    )
}

//! Fixtures and timing helpers shared by the criterion benches and the `ratios` report.

use std::time::{Duration, Instant};

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use syncshell_identity::{
    Identity, MemberToken, Role, ShellGenesis, Timestamp, TokenChain, TokenFields,
};

/// The time every fixture is built and checked at.
pub const NOW: Timestamp = Timestamp::from_millis(1_767_225_600_000);

/// A deterministic RNG for fixtures.
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

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
    let mut r = rng(seed);
    let owner = Identity::generate(&mut r);
    let genesis = match ShellGenesis::create(&owner, "bench", NOW, &mut r) {
        Ok(g) => g,
        Err(e) => unreachable!("fixture genesis: {e}"),
    };
    let keys: Vec<Identity> = (0..depth).map(|_| Identity::generate(&mut r)).collect();
    let mut chain = TokenChain::owner();
    let mut issuer = &owner;
    for (i, key) in keys.iter().enumerate() {
        let role = if i + 1 == depth {
            Role::Member
        } else {
            Role::Admin
        };
        chain = match TokenChain::issue(
            &genesis,
            issuer,
            &chain,
            key.peer_id(),
            role,
            NOW,
            None,
            &mut r,
        ) {
            Ok(c) => c,
            Err(e) => unreachable!("fixture chain: {e}"),
        };
        issuer = key;
    }
    let encoded = chain.encode();
    let member = Identity::from_secret_bytes(&issuer.to_secret_bytes());
    ChainFixture {
        genesis,
        owner,
        encoded,
        member,
    }
}

/// `n` member tokens from `n` different issuers, encoded, for batch verification.
pub fn token_batch(n: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut r = rng(seed);
    let owner = Identity::generate(&mut r);
    let genesis = match ShellGenesis::create(&owner, "bench", NOW, &mut r) {
        Ok(g) => g,
        Err(e) => unreachable!("fixture genesis: {e}"),
    };
    (0..n)
        .map(|_| {
            let issuer = Identity::generate(&mut r);
            let fields = TokenFields {
                shell_id: genesis.id(),
                subject: Identity::generate(&mut r).peer_id(),
                role: Role::Member,
                issued_at: NOW,
                expires_at: None,
            };
            match MemberToken::sign(&issuer, fields, &mut r) {
                Ok(t) => t.encode(),
                Err(e) => unreachable!("fixture token: {e}"),
            }
        })
        .collect()
}

/// Times `ours` and `baseline` in alternating rounds and returns the median time per call of
/// each, so both see the same machine state.
pub fn compare(
    rounds: usize,
    calls_per_round: usize,
    mut ours: impl FnMut(),
    mut baseline: impl FnMut(),
) -> (Duration, Duration) {
    let mut a = Vec::with_capacity(rounds);
    let mut b = Vec::with_capacity(rounds);
    let per = |d: Duration| d / u32::try_from(calls_per_round).unwrap_or(u32::MAX);
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..calls_per_round {
            ours();
        }
        a.push(per(t.elapsed()));
        let t = Instant::now();
        for _ in 0..calls_per_round {
            baseline();
        }
        b.push(per(t.elapsed()));
    }
    a.sort();
    b.sort();
    let mid = rounds / 2;
    (
        a.get(mid).copied().unwrap_or_default(),
        b.get(mid).copied().unwrap_or_default(),
    )
}

//! Integration tests of syncshell-reconnect.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod adapter;
mod adversarial;
mod backoff;
mod fuzz_corpus;
mod properties;

use std::time::Duration;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use syncshell_identity::{Identity, Role, ShellGenesis, Timestamp, TokenChain};
use syncshell_reconnect::{Handshake, Local, ReplayGuard};
use syncshell_revocation::RevocationSet;
use syncshell_testkit::{copy, SeededShell};

pub(crate) use syncshell_testkit::T0;
pub(crate) const DAY: Duration = Duration::from_secs(24 * 3600);

pub(crate) fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub(crate) struct Member {
    pub(crate) id: Identity,
    pub(crate) chain: TokenChain,
}

/// An owner, an admin, and two members issued by the admin (7-day tokens).
pub(crate) struct Shell {
    pub(crate) owner: Member,
    pub(crate) genesis: ShellGenesis,
    pub(crate) admin: Member,
    pub(crate) alice: Member,
    pub(crate) bob: Member,
    pub(crate) revocations: RevocationSet,
}

pub(crate) fn shell(seed: u64) -> Shell {
    let mut s = SeededShell::new("reconnect", seed, T0);
    let owner = copy(&s.owner);
    let (admin, admin_chain) = s.issue(
        &owner,
        &TokenChain::owner(),
        Role::Admin,
        Some(T0.saturating_add(DAY * 30)),
    );
    let mut member = || {
        let (id, chain) = s.issue(
            &admin,
            &admin_chain,
            Role::Member,
            Some(T0.saturating_add(DAY * 7)),
        );
        Member { id, chain }
    };
    let alice = member();
    let bob = member();
    Shell {
        owner: Member {
            id: owner,
            chain: TokenChain::owner(),
        },
        revocations: RevocationSet::new(s.genesis.clone()),
        genesis: s.genesis,
        admin: Member {
            id: admin,
            chain: admin_chain,
        },
        alice,
        bob,
    }
}

impl Shell {
    pub(crate) fn local<'a>(&'a self, m: &'a Member) -> Local<'a> {
        Local {
            identity: &m.id,
            chain: &m.chain,
            revocations: &self.revocations,
        }
    }
}

/// Runs a handshake message by message, returning every message sent (hello, challenge,
/// proof) and both machines.
pub(crate) fn run(
    a: &Local<'_>,
    b: &Local<'_>,
    cb: &[u8],
    now: Timestamp,
    seed: u64,
) -> (Vec<Vec<u8>>, Handshake, Handshake) {
    let mut r = rng(seed);
    let (mut ga, mut gb) = (ReplayGuard::new(), ReplayGuard::new());
    let mut x = Handshake::initiate(a, cb, now, &mut r).unwrap();
    let mut y = Handshake::respond(cb, now).unwrap();
    let mut log = Vec::new();
    for _ in 0..3 {
        while let Some(m) = x.poll_transmit() {
            log.push(m.clone());
            let _ = y.handle(b, &mut gb, &m, now, &mut r);
        }
        while let Some(m) = y.poll_transmit() {
            log.push(m.clone());
            let _ = x.handle(a, &mut ga, &m, now, &mut r);
        }
    }
    (log, x, y)
}

//! Integration tests of syncshell-identity: one binary, one module per concern.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod fuzz_corpus;
mod invites;
mod key_files;
mod round_trips;
mod strictness;
mod tokens;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use syncshell_identity::{
    Identity, PeerId, Revocations, Role, ShellGenesis, Timestamp, TokenChain,
};

/// 2026-01-01T00:00:00Z.
pub(crate) const T0: Timestamp = Timestamp::from_millis(1_767_225_600_000);
pub(crate) const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

pub(crate) fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// A shell's revoked keys, as `syncshell-revocation`'s set would report them (that crate
/// depends on this one, so its tests cannot use it here).
pub(crate) struct Revoked {
    pub(crate) genesis: ShellGenesis,
    pub(crate) keys: Vec<PeerId>,
}

impl Revocations for Revoked {
    fn genesis(&self) -> &ShellGenesis {
        &self.genesis
    }
    fn is_revoked(&self, key: &PeerId) -> bool {
        self.keys.contains(key)
    }
}

/// The revocations of a shell that has revoked nobody.
pub(crate) fn none(genesis: &ShellGenesis) -> Revoked {
    Revoked {
        genesis: genesis.clone(),
        keys: Vec::new(),
    }
}

/// An owner, an admin (30-day token), a member issued by the admin (7-day token).
pub(crate) struct Shell {
    pub(crate) owner: Identity,
    pub(crate) genesis: ShellGenesis,
    pub(crate) admin: Identity,
    pub(crate) admin_chain: TokenChain,
    pub(crate) member: Identity,
    pub(crate) member_chain: TokenChain,
}

pub(crate) fn shell(seed: u64) -> Shell {
    let mut rng = rng(seed);
    let owner = Identity::generate(&mut rng);
    let genesis = ShellGenesis::create(&owner, "test shell", T0, &mut rng).unwrap();
    let admin = Identity::generate(&mut rng);
    let admin_chain = TokenChain::issue(
        &none(&genesis),
        &owner,
        &TokenChain::owner(),
        admin.peer_id(),
        Role::Admin,
        T0,
        Some(T0.saturating_add(HOUR * 24 * 30)),
        &mut rng,
    )
    .unwrap();
    let member = Identity::generate(&mut rng);
    let member_chain = TokenChain::issue(
        &none(&genesis),
        &admin,
        &admin_chain,
        member.peer_id(),
        Role::Member,
        T0,
        Some(T0.saturating_add(HOUR * 24 * 7)),
        &mut rng,
    )
    .unwrap();
    Shell {
        owner,
        genesis,
        admin,
        admin_chain,
        member,
        member_chain,
    }
}

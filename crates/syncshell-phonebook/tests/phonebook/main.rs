//! Integration tests of syncshell-phonebook (and of revocation as the phonebook applies it).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod adversarial;
mod fuzz_corpus;
mod laws;
mod sync;

use std::time::Duration;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use syncshell_identity::{Identity, Role, ShellGenesis, Timestamp, TokenChain};
use syncshell_phonebook::{Entry, Profile, Stamp};

/// 2026-01-01T00:00:00Z.
pub(crate) const T0: Timestamp = Timestamp::from_millis(1_767_225_600_000);
pub(crate) const HOUR: Duration = Duration::from_secs(3600);

pub(crate) fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// A member of the test shell: key and chain.
pub(crate) struct Member {
    pub(crate) id: Identity,
    pub(crate) chain: TokenChain,
}

/// The owner, two admins (from the owner), and `n` members alternately issued by the admins.
pub(crate) struct Shell {
    pub(crate) owner: Identity,
    pub(crate) genesis: ShellGenesis,
    pub(crate) admins: Vec<Member>,
    pub(crate) members: Vec<Member>,
}

pub(crate) fn shell(seed: u64, n: usize) -> Shell {
    let mut r = rng(seed);
    let owner = Identity::generate(&mut r);
    let genesis = ShellGenesis::create(&owner, "book", T0, &mut r).unwrap();
    let admins: Vec<Member> = (0..2)
        .map(|_| {
            let id = Identity::generate(&mut r);
            let chain = TokenChain::issue(
                &syncshell_revocation::RevocationSet::new(genesis.clone()),
                &owner,
                &TokenChain::owner(),
                id.peer_id(),
                Role::Admin,
                T0,
                Some(T0.saturating_add(HOUR * 24 * 90)),
                &mut r,
            )
            .unwrap();
            Member { id, chain }
        })
        .collect();
    let members = (0..n)
        .map(|i| {
            let admin = &admins[i % 2];
            let id = Identity::generate(&mut r);
            let chain = TokenChain::issue(
                &syncshell_revocation::RevocationSet::new(genesis.clone()),
                &admin.id,
                &admin.chain,
                id.peer_id(),
                Role::Member,
                T0,
                Some(T0.saturating_add(HOUR * 24 * 60)),
                &mut r,
            )
            .unwrap();
            Member { id, chain }
        })
        .collect();
    Shell {
        owner,
        genesis,
        admins,
        members,
    }
}

/// `m`'s entry at `T0 + minutes`, named `name`.
pub(crate) fn entry(s: &Shell, m: &Member, minutes: u64, name: &str) -> Entry {
    let at = T0.saturating_add(Duration::from_secs(minutes * 60));
    let profile = Profile {
        display_name: name.to_owned(),
        ..Profile::default()
    };
    Entry::publish(
        &s.genesis,
        &m.id,
        &m.chain,
        &profile,
        Stamp::from_raw(at.as_millis() << 16),
    )
    .unwrap()
}

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
use syncshell_identity::{Identity, Role, ShellGenesis, TokenChain};
use syncshell_phonebook::{Entry, Profile, Stamp};
use syncshell_testkit::{copy, SeededShell};

pub(crate) use syncshell_testkit::T0;
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
    let mut s = SeededShell::new("book", seed, T0);
    let owner = copy(&s.owner);
    let admins: Vec<Member> = (0..2)
        .map(|_| {
            let (id, chain) = s.issue(
                &owner,
                &TokenChain::owner(),
                Role::Admin,
                Some(T0.saturating_add(HOUR * 24 * 90)),
            );
            Member { id, chain }
        })
        .collect();
    let members = (0..n)
        .map(|i| {
            let admin = &admins[i % 2];
            let (id, chain) = s.issue(
                &admin.id,
                &admin.chain,
                Role::Member,
                Some(T0.saturating_add(HOUR * 24 * 60)),
            );
            Member { id, chain }
        })
        .collect();
    Shell {
        owner,
        genesis: s.genesis,
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

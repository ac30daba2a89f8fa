//! Test fixtures of the syncshell workspace, for tests, benches and the programs' tests: a
//! shell with its owner, members' token chains, tombstones, the clock, a shell made from a
//! seed at a fixed time, and (feature `sim`) `Sim`, a simulated network of members on a
//! simulated clock. Dev-only: nothing published depends on it (the dependency rule checks
//! that libraries take it as a dev-dependency only).

#[cfg(feature = "sim")]
mod sim;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rand_core::OsRng;
use syncshell_identity::{Identity, PeerId, Role, ShellGenesis, Timestamp, TokenChain};
use syncshell_revocation::{Reason, RevocationSet, Tombstone};

#[cfg(feature = "sim")]
pub use sim::{Sim, SimMember};

/// 2026-01-01T00:00:00Z: the fixed time of seeded fixtures.
pub const T0: Timestamp = Timestamp::from_millis(1_767_225_600_000);

/// The wall clock, as the libraries take it.
pub fn now() -> Timestamp {
    Timestamp::from_system_time(std::time::SystemTime::now())
}

/// Another handle on the same key (an `Identity` is not `Clone`).
pub fn copy(id: &Identity) -> Identity {
    Identity::from_secret_bytes(&id.to_secret_bytes())
}

/// A shell made for a test: its owner and genesis.
#[derive(Debug)]
pub struct TestShell {
    /// The owner's key.
    pub owner: Identity,
    /// The shell.
    pub genesis: ShellGenesis,
}

impl TestShell {
    /// A new shell named `name`, created now by a new owner.
    ///
    /// # Panics
    ///
    /// Never with a valid name (1 to 64 bytes).
    #[allow(clippy::expect_used)]
    pub fn new(name: &str) -> TestShell {
        let owner = Identity::generate(&mut OsRng);
        let genesis =
            ShellGenesis::create(&owner, name, now(), &mut OsRng).expect("a valid shell name");
        TestShell { owner, genesis }
    }

    /// A revocation set of the shell with no tombstone.
    pub fn revocations(&self) -> RevocationSet {
        RevocationSet::new(self.genesis.clone())
    }

    /// A chain the owner issues now to `member`, with `role`, ending at `expires_at`.
    ///
    /// # Panics
    ///
    /// If the identity crate refuses it (an expiry in the past).
    #[allow(clippy::expect_used)]
    pub fn chain(&self, member: PeerId, role: Role, expires_at: Option<Timestamp>) -> TokenChain {
        TokenChain::issue(
            &self.revocations(),
            &self.owner,
            &TokenChain::owner(),
            member,
            role,
            now(),
            expires_at,
            &mut OsRng,
        )
        .expect("the owner issues a token")
    }

    /// A new member: its key and a member chain that never expires.
    pub fn member(&self) -> (Identity, TokenChain) {
        let id = Identity::generate(&mut OsRng);
        let chain = self.chain(id.peer_id(), Role::Member, None);
        (id, chain)
    }

    /// The owner's tombstone revoking `revoked` now.
    ///
    /// # Panics
    ///
    /// If the identity crate refuses it (revoking the owner).
    #[allow(clippy::expect_used)]
    pub fn tombstone(&self, revoked: PeerId) -> Tombstone {
        Tombstone::issue(
            &self.revocations(),
            &self.owner,
            &TokenChain::owner(),
            revoked,
            Reason::Removed,
            now(),
        )
        .expect("the owner revokes a member")
    }
}

/// A shell made from a seed at a fixed time: the same seed gives the same owner, shell and
/// members, for benches whose inputs must not change between runs.
#[derive(Debug)]
pub struct SeededShell {
    /// The owner's key.
    pub owner: Identity,
    /// The shell.
    pub genesis: ShellGenesis,
    /// When everything was made.
    pub at: Timestamp,
    rng: ChaCha20Rng,
}

impl SeededShell {
    /// The shell `name` from `seed`, created at `at`.
    ///
    /// # Panics
    ///
    /// Never with a valid name (1 to 64 bytes).
    #[allow(clippy::expect_used)]
    pub fn new(name: &str, seed: u64, at: Timestamp) -> SeededShell {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let owner = Identity::generate(&mut rng);
        let genesis = ShellGenesis::create(&owner, name, at, &mut rng).expect("a valid shell name");
        SeededShell {
            owner,
            genesis,
            at,
            rng,
        }
    }

    /// The next member from the seed: its key and a member chain from the owner, issued at
    /// the shell's time, that never expires.
    pub fn member(&mut self) -> (Identity, TokenChain) {
        let owner = copy(&self.owner);
        self.issue(&owner, &TokenChain::owner(), Role::Member, None)
    }

    /// The next key from the seed, and its chain issued at the shell's time by `issuer`
    /// (whose own chain is `issuer_chain`) with `role`, valid until `expires_at`.
    ///
    /// # Panics
    ///
    /// If the issuer may not issue that token (a member issuing, or a token outliving the
    /// issuer's): the test's mistake.
    #[allow(clippy::expect_used)]
    pub fn issue(
        &mut self,
        issuer: &Identity,
        issuer_chain: &TokenChain,
        role: Role,
        expires_at: Option<Timestamp>,
    ) -> (Identity, TokenChain) {
        let id = Identity::generate(&mut self.rng);
        let chain = TokenChain::issue(
            &RevocationSet::new(self.genesis.clone()),
            issuer,
            issuer_chain,
            id.peer_id(),
            role,
            self.at,
            expires_at,
            &mut self.rng,
        )
        .expect("the issuer may issue the token");
        (id, chain)
    }
}

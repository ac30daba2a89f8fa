//! What each revocation and phonebook fuzz target checks. Compiled by the fuzz crate and by
//! syncshell-phonebook's corpus replay test (see fuzz/src/identity.rs).
//!
//! Decoders run against a fixed shell ([`fixture`]) so valid seeds reach the deep checks.

use std::sync::OnceLock;

use syncshell_identity::{Identity, ShellGenesis, TokenChain};
use syncshell_phonebook::{Clock, Entry, Phonebook, Profile};
use syncshell_revocation::{RevocationSet, Tombstone};
use syncshell_testkit::SeededShell;

/// A fuzz target's check.
pub type Check = fn(&[u8]);

/// Every target: its name (the corpus folder) and its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("revocation_tombstone", tombstone),
    ("revocation_snapshot", revocation_snapshot),
    ("phonebook_entry", entry),
    ("phonebook_snapshot", snapshot),
    ("phonebook_sync", sync),
];

/// The fixed shell the targets decode against.
pub struct Fixture {
    /// The owner.
    pub owner: Identity,
    /// The shell.
    pub genesis: ShellGenesis,
    /// Three members issued by the owner.
    pub members: Vec<(Identity, TokenChain)>,
    /// A book holding the first member's entry.
    pub book: Phonebook,
}

/// The fixture's time.
pub use syncshell_testkit::T0 as NOW;

/// Builds (once) the fixed shell.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut shell = SeededShell::new("fuzz", 7, NOW);
        let members: Vec<_> = (0..3).map(|_| shell.member()).collect();
        let SeededShell { owner, genesis, .. } = shell;
        let mut book = Phonebook::new(genesis.clone());
        let (id, chain) = &members[0];
        let e = Entry::publish(
            &genesis,
            id,
            chain,
            &Profile::default(),
            Clock::new().tick(NOW),
        )
        .expect("entry");
        book.insert(e).expect("insert");
        Fixture {
            owner,
            genesis,
            members,
            book,
        }
    })
}

/// `Tombstone::decode`.
pub fn tombstone(data: &[u8]) {
    let f = fixture();
    if let Ok(t) = Tombstone::decode(data, &f.genesis) {
        let again = Tombstone::decode(&t.encode(), &f.genesis).expect("re-encoding decodes");
        assert!(again == t);
    }
}

/// `RevocationSet::decode`.
pub fn revocation_snapshot(data: &[u8]) {
    let f = fixture();
    if let Ok(set) = RevocationSet::decode(data, f.genesis.clone()) {
        let again = RevocationSet::decode(&set.encode(), f.genesis.clone()).expect("reloads");
        assert!(again == set);
    }
}

/// `Entry::decode`.
pub fn entry(data: &[u8]) {
    let f = fixture();
    if let Ok(e) = Entry::decode(data, &f.genesis) {
        let again = Entry::decode(&e.encode(), &f.genesis).expect("re-encoding decodes");
        assert!(again == e);
    }
}

/// `Phonebook::decode`.
pub fn snapshot(data: &[u8]) {
    let f = fixture();
    if let Ok(book) = Phonebook::decode(data, f.genesis.clone()) {
        let again = Phonebook::decode(&book.encode(), f.genesis.clone()).expect("reloads");
        assert!(again == book);
    }
}

/// `Phonebook::handle_sync` on a small book: never panics, and the book stays a valid book.
pub fn sync(data: &[u8]) {
    let f = fixture();
    let mut book = f.book.clone();
    if book.handle_sync(data).is_err() {
        assert!(book == f.book, "a refused message changed the book");
    }
    let again = Phonebook::decode(&book.encode(), f.genesis.clone()).expect("still valid");
    assert!(again == book);
}

//! syncshell-phonebook: fixtures, ratio lines and the merge-time table.

use std::time::{Duration, Instant};

use syncshell_identity::ShellGenesis;
use syncshell_phonebook::{sync_in_memory, Entry, Phonebook, Profile, Stamp};
use syncshell_testkit::SeededShell;

use crate::Ratio;

/// The time every fixture is built at.
pub use syncshell_testkit::T0 as NOW;

/// A shell with `n` members (tokens from the owner), each with two versions of its entry.
#[derive(Debug)]
pub struct BookFixture {
    /// The shell.
    pub genesis: ShellGenesis,
    /// Every member's first entry, encoded.
    pub first: Vec<Vec<u8>>,
    /// Every member's second (newer) entry, encoded.
    pub second: Vec<Vec<u8>>,
}

/// Builds a [`BookFixture`] of `n` members.
pub fn book_fixture(n: usize, seed: u64) -> BookFixture {
    let mut shell = SeededShell::new("bench", seed, NOW);
    let genesis = shell.genesis.clone();
    let mut first = Vec::with_capacity(n);
    let mut second = Vec::with_capacity(n);
    for i in 0..n {
        let (id, chain) = shell.member();
        for (version, out) in [(0u64, &mut first), (1, &mut second)] {
            let profile = Profile {
                display_name: format!("member {i} v{version}"),
                hints: b"signal=ws://127.0.0.1:7447".to_vec(),
                ..Profile::default()
            };
            let stamp = Stamp::from_raw(((NOW.as_millis() + version * 60_000) << 16) | 1);
            match Entry::publish(&genesis, &id, &chain, &profile, stamp) {
                Ok(e) => out.push(e.encode()),
                Err(e) => unreachable!("fixture entry: {e}"),
            }
        }
    }
    BookFixture {
        genesis,
        first,
        second,
    }
}

/// A book holding `entries`, merged one by one (decode, verify, insert).
pub fn cold_merge(genesis: &ShellGenesis, entries: &[Vec<u8>]) -> Phonebook {
    let mut book = Phonebook::new(genesis.clone());
    for e in entries {
        if let Err(err) = book.insert_encoded(e) {
            unreachable!("fixture entry refused: {err}");
        }
    }
    book
}

/// The first versions, except every `1/fraction`-th member has its second version.
pub fn changed(f: &BookFixture, every: usize) -> Vec<Vec<u8>> {
    f.first
        .iter()
        .zip(&f.second)
        .enumerate()
        .map(|(i, (a, b))| if i % every == 0 { b.clone() } else { a.clone() })
        .collect()
}

/// The phonebook lines of the ratio report.
pub fn ratios() -> Vec<Ratio> {
    const N: usize = 10_000;
    const EVERY: usize = 100; // 1% of entries differ
    let f = book_fixture(N, 3);
    let a = cold_merge(&f.genesis, &f.first);
    let changed = changed(&f, EVERY);
    let b = cold_merge(&f.genesis, &changed);

    // Bytes: a delta sync between the two books against sending b's full snapshot.
    let (mut a1, mut b1) = (a.clone(), b.clone());
    let bytes = match sync_in_memory(&mut a1, &mut b1) {
        Ok(bytes) => bytes,
        Err(e) => unreachable!("sync failed: {e}"),
    };
    assert!(a1 == b1, "books converge");
    let full = b.encode().len();
    let delta = Ratio::new(
        "phonebook_delta_bytes_vs_full",
        bytes.total() as f64,
        full as f64,
        "bytes",
    );

    // Time: merging the 1% difference into the verified book against a cold merge of all.
    let new: Vec<&Vec<u8>> = changed.iter().step_by(EVERY).collect();
    let mut warm = Vec::new();
    let mut cold = Vec::new();
    for _ in 0..3 {
        let mut book = a.clone();
        let t = Instant::now();
        for e in &new {
            if book.insert_encoded(e).is_err() {
                unreachable!("fixture entry refused");
            }
        }
        warm.push(t.elapsed());
        let t = Instant::now();
        let rebuilt = cold_merge(&f.genesis, &changed);
        cold.push(t.elapsed());
        assert!(rebuilt == book, "warm and cold merges agree");
    }
    warm.sort();
    cold.sort();
    let (w, c) = (
        warm.get(1).copied().unwrap_or_default(),
        cold.get(1).copied().unwrap_or_default(),
    );
    let merge = Ratio::new(
        "phonebook_warm_merge_vs_cold",
        w.as_secs_f64() * 1000.0,
        c.as_secs_f64() * 1000.0,
        "ms",
    );
    vec![delta, merge]
}

/// Cold merge time (decode, verify, insert) of a book of `n` entries, and its snapshot size.
pub fn cold_merge_time(n: usize) -> (Duration, usize) {
    let f = book_fixture(n, 4);
    let t = Instant::now();
    let book = cold_merge(&f.genesis, &f.first);
    (t.elapsed(), book.encode().len())
}

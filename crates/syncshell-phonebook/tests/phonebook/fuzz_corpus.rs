//! Replays the fuzz corpora (fuzz/corpus/phonebook_*, revocation_*) through the fuzz
//! targets' own checks. Seeds made from valid objects are written with
//! `SYNCSHELL_WRITE_CORPUS=1 cargo test -p syncshell-phonebook --test phonebook fuzz_corpus`.

#[allow(dead_code, unreachable_pub, clippy::expect_used)]
#[path = "../../../../fuzz/src/phonebook.rs"]
mod checks;

#[allow(dead_code, unreachable_pub, clippy::expect_used, clippy::panic)]
#[path = "../../../../fuzz/src/replay.rs"]
mod replay;

use syncshell_identity::TokenChain;
use syncshell_phonebook::{Entry, Profile, Stamp};
use syncshell_revocation::{Reason, Tombstone};

fn write_seeds() {
    let f = checks::fixture();
    let (m0, c0) = &f.members[0];
    let (m1, _) = &f.members[1];
    let newer = Profile {
        display_name: "newer".into(),
        ..Profile::default()
    };
    let e = Entry::publish(
        &f.genesis,
        m0,
        c0,
        &newer,
        Stamp::from_raw((checks::NOW.as_millis() + 5) << 16),
    )
    .unwrap();
    let t = Tombstone::issue(
        &syncshell_revocation::RevocationSet::new(f.genesis.clone()),
        &f.owner,
        &TokenChain::owner(),
        m1.peer_id(),
        Reason::Removed,
        checks::NOW,
    )
    .unwrap();
    let mut b = f.book.clone();
    b.revoke(t.clone()).unwrap();
    b.insert(e.clone()).unwrap();
    let mut a = f.book.clone();
    let summary = b.sync_start();
    let items = a.handle_sync(&summary).unwrap().replies;
    let entries = b.handle_sync(&items[0]).unwrap().replies;
    let seeds: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("revocation_tombstone", vec![t.encode()]),
        ("revocation_snapshot", vec![b.revocations().encode()]),
        ("phonebook_entry", vec![e.encode()]),
        ("phonebook_snapshot", vec![b.encode()]),
        (
            "phonebook_sync",
            vec![summary, items[0].clone(), entries[0].clone()],
        ),
    ];
    replay::write_seeds(seeds);
}

#[test]
fn fuzz_corpora_replay() {
    if std::env::var_os("SYNCSHELL_WRITE_CORPUS").is_some() {
        write_seeds();
    }
    replay::replay_all(checks::TARGETS);
}

//! Known-answer vectors: docs/vectors/phonebook.json (tombstones, revocation snapshots,
//! entries, friendly names, a sync summary).
//!
//! ```text
//! SYNCSHELL_WRITE_VECTORS=1 cargo test -p syncshell-phonebook --test vectors
//! ```
//!
//! Without the variable the test regenerates the vectors, fails if the committed file differs,
//! and decodes every committed object with the public API to check its fields.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};
use syncshell_identity::{Identity, Role, ShellGenesis, Timestamp, TokenChain};
use syncshell_phonebook::{friendly_name, Entry, Phonebook, Presence, Profile, Stamp};
use syncshell_revocation::{Reason, RevocationSet, Tombstone};

#[allow(dead_code, unreachable_pub, clippy::expect_used, clippy::panic)]
#[path = "../../../docs/vectors/known_answers.rs"]
mod known_answers;

const NOW: Timestamp = Timestamp::from_millis(1_767_225_600_000);

fn generate() -> Value {
    let mut rng = ChaCha20Rng::seed_from_u64(0x9b00c);
    let owner = Identity::from_secret_bytes(&[1; 32]);
    let admin = Identity::from_secret_bytes(&[2; 32]);
    let member = Identity::from_secret_bytes(&[3; 32]);
    let genesis = ShellGenesis::create(&owner, "Weekend raid", NOW, &mut rng).unwrap();
    let admin_chain = TokenChain::issue(
        &syncshell_revocation::RevocationSet::new(genesis.clone()),
        &owner,
        &TokenChain::owner(),
        admin.peer_id(),
        Role::Admin,
        NOW,
        Some(NOW.saturating_add(Duration::from_secs(30 * 86400))),
        &mut rng,
    )
    .unwrap();
    let member_chain = TokenChain::issue(
        &syncshell_revocation::RevocationSet::new(genesis.clone()),
        &admin,
        &admin_chain,
        member.peer_id(),
        Role::Member,
        NOW,
        Some(NOW.saturating_add(Duration::from_secs(7 * 86400))),
        &mut rng,
    )
    .unwrap();

    let tombstone = Tombstone::issue(
        &syncshell_revocation::RevocationSet::new(genesis.clone()),
        &admin,
        &admin_chain,
        member.peer_id(),
        Reason::Removed,
        NOW.saturating_add(Duration::from_secs(3600)),
    )
    .unwrap();
    let mut set = RevocationSet::new(genesis.clone());
    set.insert(tombstone.clone()).unwrap();

    let profile = Profile {
        display_name: "Alys".into(),
        presence: Presence::Away,
        last_seen: NOW,
        hints: b"signal=ws://127.0.0.1:7447".to_vec(),
        ttl: Duration::from_secs(86400),
    };
    let stamp = Stamp::from_raw((NOW.as_millis() << 16) | 3);
    let entry = Entry::publish(&genesis, &member, &member_chain, &profile, stamp).unwrap();
    let mut book = Phonebook::new(genesis.clone());
    book.insert(entry.clone()).unwrap();

    let names: Vec<Value> = [&owner, &admin, &member]
        .iter()
        .map(|i| json!({"peer": hex::encode(i.peer_id().as_bytes()), "name": friendly_name(&i.peer_id())}))
        .collect();
    json!({
        "description": "syncshell-revocation and syncshell-phonebook known-answer vectors; see docs/spec/revocation.md and docs/spec/phonebook.md",
        "generated_by": "SYNCSHELL_WRITE_VECTORS=1 cargo test -p syncshell-phonebook --test vectors",
        "genesis": hex::encode(genesis.encode()),
        "admin_secret": hex::encode(*admin.to_secret_bytes()),
        "member_secret": hex::encode(*member.to_secret_bytes()),
        "admin_chain": hex::encode(admin_chain.encode()),
        "member_chain": hex::encode(member_chain.encode()),
        "tombstone": {
            "revoked": hex::encode(member.peer_id().as_bytes()),
            "reason": "removed",
            "revoked_at_ms": tombstone.revoked_at().as_millis(),
            "body": hex::encode(tombstone.envelope().body()),
            "envelope": hex::encode(tombstone.encode()),
            "id": hex::encode(tombstone.id().as_bytes()),
        },
        "revocation_set": {
            "digest": hex::encode(set.digest()),
            "snapshot": hex::encode(set.encode()),
        },
        "entry": {
            "display_name": entry.display_name(),
            "presence": "away",
            "last_seen_ms": entry.last_seen().as_millis(),
            "hints": hex::encode(entry.hints()),
            "stamp": stamp.raw(),
            "expires_at_ms": entry.expires_at().as_millis(),
            "body": hex::encode(entry.envelope().body()),
            "envelope": hex::encode(entry.encode()),
            "id": hex::encode(entry.id().as_bytes()),
        },
        "friendly_names": names,
        "sync_summary_of_one_entry_book": hex::encode(book.sync_start()),
        "phonebook_snapshot": hex::encode(book.encode()),
    })
}

fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn check(v: &Value) {
    let genesis = ShellGenesis::decode(&h(&v["genesis"])).unwrap();
    let t = Tombstone::decode(&h(&v["tombstone"]["envelope"]), &genesis).unwrap();
    assert_eq!(t.id().as_bytes().to_vec(), h(&v["tombstone"]["id"]));
    assert_eq!(
        t.revoked().as_bytes().to_vec(),
        h(&v["tombstone"]["revoked"])
    );
    let set = RevocationSet::decode(&h(&v["revocation_set"]["snapshot"]), genesis.clone()).unwrap();
    assert_eq!(set.digest().to_vec(), h(&v["revocation_set"]["digest"]));
    let e = Entry::decode(&h(&v["entry"]["envelope"]), &genesis).unwrap();
    assert_eq!(e.id().as_bytes().to_vec(), h(&v["entry"]["id"]));
    assert_eq!(e.display_name(), v["entry"]["display_name"]);
    assert_eq!(e.stamp().raw(), v["entry"]["stamp"].as_u64().unwrap());
    let book = Phonebook::decode(&h(&v["phonebook_snapshot"]), genesis).unwrap();
    assert_eq!(book.len(), 1);
    assert_eq!(book.sync_start(), h(&v["sync_summary_of_one_entry_book"]));
    for f in v["friendly_names"].as_array().unwrap() {
        let peer = syncshell_identity::PeerId::from_slice(&h(&f["peer"])).unwrap();
        assert_eq!(friendly_name(&peer), f["name"].as_str().unwrap());
    }
}

#[test]
fn vectors_match_the_committed_file() {
    known_answers::compare("phonebook", &generate(), check);
}

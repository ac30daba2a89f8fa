//! Known-answer vectors: docs/vectors/phonebook.json (tombstones, revocation snapshots,
//! entries, friendly names, a sync summary, every message of a two-book sync exchange, and
//! refused sync messages with their errors).
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

use known_answers::{bytes_field, put_varint};

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

    // The owner revokes a key; then a sync between a book holding the member's entry and one
    // holding the admin's entry, another member's and the owner's tombstone (and seven entries
    // both hold): every message of it.
    let stranger = Identity::from_secret_bytes(&[4; 32]);
    let owner_tombstone = Tombstone::issue(
        &syncshell_revocation::RevocationSet::new(genesis.clone()),
        &owner,
        &TokenChain::owner(),
        stranger.peer_id(),
        Reason::Compromised,
        NOW.saturating_add(Duration::from_secs(60)),
    )
    .unwrap();
    let admin_entry = Entry::publish(
        &genesis,
        &admin,
        &admin_chain,
        &Profile {
            display_name: "Brisk".into(),
            ..profile.clone()
        },
        Stamp::from_raw((NOW.as_millis() << 16) | 1),
    )
    .unwrap();
    // Seven entries both books hold: the owner's own and six members the owner admitted.
    // A (8 stored) summarises at k = 0; B (9 stored) answers at its own k' = 1.
    let publish = |who: &Identity, chain: &TokenChain, name: &str, n: u64| {
        let p = Profile {
            display_name: name.into(),
            ..profile.clone()
        };
        Entry::publish(
            &genesis,
            who,
            chain,
            &p,
            Stamp::from_raw((NOW.as_millis() << 16) | n),
        )
        .unwrap()
    };
    let owner_member = |seed: u8| {
        let who = Identity::from_secret_bytes(&[seed; 32]);
        let chain = TokenChain::issue(
            &syncshell_revocation::RevocationSet::new(genesis.clone()),
            &owner,
            &TokenChain::owner(),
            who.peer_id(),
            Role::Member,
            NOW,
            None,
            &mut ChaCha20Rng::seed_from_u64(u64::from(seed)),
        )
        .unwrap();
        (who, chain)
    };
    let mut shared = vec![publish(&owner, &TokenChain::owner(), "Owner", 2)];
    for seed in 10..16u8 {
        let (who, chain) = owner_member(seed);
        shared.push(publish(&who, &chain, &format!("Shared {seed}"), 4));
    }
    let (extra, extra_chain) = owner_member(16);
    let extra_entry = publish(&extra, &extra_chain, "Extra", 5);
    let mut a = book.clone();
    let mut b = Phonebook::new(genesis.clone());
    for e in &shared {
        a.insert(e.clone()).unwrap();
        b.insert(e.clone()).unwrap();
    }
    b.insert(admin_entry.clone()).unwrap();
    b.insert(extra_entry.clone()).unwrap();
    b.revoke(owner_tombstone.clone()).unwrap();
    assert_eq!((a.len(), b.len()), (8, 9));
    let summary = a.sync_start();
    let items = one(b.handle_sync(&summary).unwrap().replies);
    let entries_a = one(a.handle_sync(&items).unwrap().replies);
    let entries_b = one(b.handle_sync(&entries_a).unwrap().replies);
    assert!(a.handle_sync(&entries_b).unwrap().replies.is_empty());
    assert_eq!(a, b);

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
        "owner_tombstone": {
            "revoked": hex::encode(stranger.peer_id().as_bytes()),
            "reason": "compromised",
            "envelope": hex::encode(owner_tombstone.encode()),
            "id": hex::encode(owner_tombstone.id().as_bytes()),
        },
        "sync_exchange": {
            "note": "book A holds shared_entries and the entry above; book B holds shared_entries, only_b_entries and owner_tombstone; A initiates",
            "shared_entries": shared.iter().map(|e| hex::encode(e.encode())).collect::<Vec<_>>(),
            "only_b_entries": [hex::encode(admin_entry.encode()), hex::encode(extra_entry.encode())],
            "summary_a": hex::encode(&summary),
            "items_b": hex::encode(&items),
            "entries_a": hex::encode(&entries_a),
            "entries_b": hex::encode(&entries_b),
        },
        "invalid_sync_messages": invalid_sync_messages(&admin),
        "phonebook_snapshot": hex::encode(book.encode()),
    })
}

/// The only message of a reply.
fn one(mut replies: Vec<Vec<u8>>) -> Vec<u8> {
    assert_eq!(replies.len(), 1);
    replies.remove(0)
}

fn sync_message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0x08, 0x01];
    m.extend(bytes_field(kind, body));
    m
}

fn uint_field(field: u8, v: u64) -> Vec<u8> {
    let mut out = vec![field << 3];
    put_varint(&mut out, v);
    out
}

/// Sync messages `handle_sync` refuses, each with its error (phonebook.md § 7.4).
fn invalid_sync_messages(admin: &Identity) -> Value {
    let peer = admin.peer_id();
    let item = |p: &[u8; 32]| {
        let mut i = p.to_vec();
        i.extend_from_slice(&[0; 8]);
        i.extend_from_slice(&[7; 16]);
        i
    };
    let packed = |buckets: &[u8]| bytes_field(2, buckets);
    let top = peer.as_bytes()[0] >> 7;
    let mut cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "a summary with 8 bytes of fingerprint per bucket",
            sync_message(2, &bytes_field(2, &[0; 8])),
            "Malformed",
        ),
        (
            "a summary of 2^17 buckets",
            sync_message(2, &[uint_field(1, 17), bytes_field(2, &[0; 16])].concat()),
            "Malformed",
        ),
        (
            "an items reply of 2^17 buckets",
            sync_message(3, &uint_field(1, 17)),
            "Malformed",
        ),
        (
            "an items reply at 2^16 buckets listing bucket 2^16",
            sync_message(
                3,
                &[uint_field(1, 16), packed(&[0x80, 0x80, 0x04])].concat(),
            ),
            "Malformed",
        ),
        (
            "version 2",
            {
                let mut m = sync_message(2, &bytes_field(2, &[0; 16]));
                m[1] = 2;
                m
            },
            "UnsupportedVersion",
        ),
        ("no kind", vec![0x08, 0x01], "Malformed"),
        ("not protobuf", vec![0xff, 0xff, 0xff], "Malformed"),
        (
            "items not a multiple of 56 bytes",
            sync_message(3, &bytes_field(3, &[1; 55])),
            "Malformed",
        ),
        (
            "the same item twice",
            sync_message(
                3,
                &[
                    uint_field(1, 0),
                    packed(&[0]),
                    bytes_field(3, &[item(peer.as_bytes()), item(peer.as_bytes())].concat()),
                ]
                .concat(),
            ),
            "Malformed",
        ),
        (
            "an item outside the listed buckets",
            sync_message(
                3,
                &[
                    uint_field(1, 1),
                    packed(&[1 - top]),
                    bytes_field(3, &item(peer.as_bytes())),
                ]
                .concat(),
            ),
            "Malformed",
        ),
        (
            "a bucket listed twice",
            sync_message(3, &[uint_field(1, 1), packed(&[0, 0])].concat()),
            "Malformed",
        ),
        (
            "a bucket out of range",
            sync_message(3, &[uint_field(1, 1), packed(&[2])].concat()),
            "Malformed",
        ),
        (
            "more buckets than 2^buckets_log2",
            sync_message(3, &[uint_field(1, 0), packed(&[0, 1])].concat()),
            "Malformed",
        ),
    ];
    cases.sort_by_key(|c| c.0);
    Value::Array(
        cases
            .into_iter()
            .map(|(what, bytes, error)| json!({"what": what, "message": hex::encode(bytes), "error": error}))
            .collect(),
    )
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
    let book = Phonebook::decode(&h(&v["phonebook_snapshot"]), genesis.clone()).unwrap();
    assert_eq!(book.len(), 1);
    assert_eq!(book.sync_start(), h(&v["sync_summary_of_one_entry_book"]));
    let t = Tombstone::decode(&h(&v["owner_tombstone"]["envelope"]), &genesis).unwrap();
    assert_eq!(t.issuer(), genesis.owner());
    assert_eq!(t.id().as_bytes().to_vec(), h(&v["owner_tombstone"]["id"]));
    // The exchange replays: B answers A's summary with the committed items, and so on.
    let x = &v["sync_exchange"];
    let mut a = book.clone();
    let mut b = Phonebook::new(genesis.clone());
    for e in x["shared_entries"].as_array().unwrap() {
        let e = Entry::decode(&h(e), &genesis).unwrap();
        a.insert(e.clone()).unwrap();
        b.insert(e).unwrap();
    }
    for e in x["only_b_entries"].as_array().unwrap() {
        b.insert(Entry::decode(&h(e), &genesis).unwrap()).unwrap();
    }
    b.revoke(t).unwrap();
    assert_eq!(a.sync_start(), h(&x["summary_a"]));
    assert_eq!(
        one(b.handle_sync(&h(&x["summary_a"])).unwrap().replies),
        h(&x["items_b"])
    );
    assert_eq!(
        one(a.handle_sync(&h(&x["items_b"])).unwrap().replies),
        h(&x["entries_a"])
    );
    assert_eq!(
        one(b.handle_sync(&h(&x["entries_a"])).unwrap().replies),
        h(&x["entries_b"])
    );
    assert!(a
        .handle_sync(&h(&x["entries_b"]))
        .unwrap()
        .replies
        .is_empty());
    assert_eq!(a, b);
    for case in v["invalid_sync_messages"].as_array().unwrap() {
        let before = b.clone();
        let err = b.handle_sync(&h(&case["message"])).unwrap_err();
        let name = format!("{err:?}");
        assert!(
            name.starts_with(case["error"].as_str().unwrap()),
            "{}: {name}",
            case["what"]
        );
        assert_eq!(b, before, "a refused message changed the book");
    }
    for f in v["friendly_names"].as_array().unwrap() {
        let peer = syncshell_identity::PeerId::from_slice(&h(&f["peer"])).unwrap();
        assert_eq!(friendly_name(&peer), f["name"].as_str().unwrap());
    }
}

#[test]
fn vectors_match_the_committed_file() {
    known_answers::compare("phonebook", &generate(), check);
}

//! Replays the fuzz corpora (fuzz/corpus/identity_*) through the fuzz targets' own checks.
//!
//! Seeds made from valid objects are written with
//! `SYNCSHELL_WRITE_CORPUS=1 cargo test -p syncshell-identity --test identity fuzz_corpus`.

#[allow(dead_code, unreachable_pub, clippy::expect_used)]
#[path = "../../../../fuzz/src/identity.rs"]
mod checks;

use std::path::PathBuf;

use syncshell_identity::{InviteLedger, KdfParams, KeyFile};

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

fn write_seeds() {
    let s = crate::shell(90);
    let code = syncshell_identity::InviteCode::create(
        &s.genesis,
        &s.admin,
        &s.admin_chain,
        &syncshell_identity::InviteOptions::default(),
        crate::T0,
        &mut crate::rng(91),
    )
    .unwrap();
    let request = code.join_request(&s.member, crate::T0).unwrap();
    let mut ledger = InviteLedger::new();
    ledger
        .accept(
            &s.genesis,
            &s.admin,
            &s.admin_chain,
            &request,
            crate::T0,
            &mut crate::rng(92),
        )
        .unwrap();
    let key_file = KeyFile::seal(
        &s.member,
        b"pw",
        KdfParams::new(32, 1, 1).unwrap(),
        &mut crate::rng(93),
    )
    .unwrap();
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("identity_envelope", s.genesis.envelope().encode()),
        ("identity_genesis", s.genesis.encode()),
        ("identity_token", s.member_chain.tokens()[0].encode()),
        ("identity_token_chain", s.member_chain.encode()),
        ("identity_invite_code", code.encode().to_vec()),
        ("identity_invite_text", code.to_text().as_bytes().to_vec()),
        ("identity_join_request", request.encode()),
        ("identity_key_file", key_file.encode()),
        ("identity_ledger", ledger.encode()),
        (
            "identity_peer_id_text",
            s.member.peer_id().to_string().into_bytes(),
        ),
    ];
    for (target, bytes) in seeds {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("seed-valid"), bytes).unwrap();
    }
}

#[test]
fn fuzz_corpora_replay() {
    if std::env::var_os("SYNCSHELL_WRITE_CORPUS").is_some() {
        write_seeds();
    }
    let mut replayed = 0;
    for (target, check) in checks::TARGETS {
        let dir = corpus_dir(target);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e} (every target has a corpus)", dir.display()));
        let mut n = 0;
        for entry in entries {
            let path = entry.unwrap().path();
            check(&std::fs::read(&path).unwrap());
            n += 1;
        }
        assert!(n > 0, "{target} has an empty corpus");
        replayed += n;
    }
    assert!(replayed >= checks::TARGETS.len());
}

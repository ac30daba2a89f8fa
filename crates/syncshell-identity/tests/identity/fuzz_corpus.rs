//! Replays the fuzz corpora (fuzz/corpus/identity_*) through the fuzz targets' own checks.
//!
//! Seeds made from valid objects are written with
//! `SYNCSHELL_WRITE_CORPUS=1 cargo test -p syncshell-identity --test identity fuzz_corpus`.

#[allow(dead_code, unreachable_pub, clippy::expect_used)]
#[path = "../../../../fuzz/src/identity.rs"]
mod checks;

#[allow(dead_code, unreachable_pub, clippy::expect_used, clippy::panic)]
#[path = "../../../../fuzz/src/replay.rs"]
mod replay;

use crate::none;
use syncshell_identity::{InviteLedger, KdfParams, KeyFile};

fn write_seeds() {
    let s = crate::shell(90);
    let code = syncshell_identity::InviteCode::create(
        &none(&s.genesis),
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
            &none(&s.genesis),
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
    let seeds: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("identity_envelope", vec![s.genesis.envelope().encode()]),
        ("identity_genesis", vec![s.genesis.encode()]),
        ("identity_token", vec![s.member_chain.tokens()[0].encode()]),
        ("identity_token_chain", vec![s.member_chain.encode()]),
        ("identity_invite_code", vec![code.encode().to_vec()]),
        (
            "identity_invite_text",
            vec![code.to_text().as_bytes().to_vec()],
        ),
        ("identity_join_request", vec![request.encode()]),
        ("identity_key_file", vec![key_file.encode()]),
        ("identity_ledger", vec![ledger.encode()]),
        (
            "identity_peer_id_text",
            vec![s.member.peer_id().to_string().into_bytes()],
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

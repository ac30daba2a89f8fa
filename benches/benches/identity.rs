//! Criterion benches of syncshell-identity: sign, verify, chain verify at depths 1-4, invite
//! text parsing.

#![allow(missing_docs)] // criterion_group! generates an undocumented function.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use syncshell_benches::identity::{chain_fixture, NOW};
use syncshell_benches::rng;
use syncshell_identity::{Context, Identity, InviteCode, InviteOptions, TokenChain};

const CTX: Context = Context::new("syncshell/v1/bench");

fn sign_and_verify(c: &mut Criterion) {
    let id = Identity::generate(&mut rng(1));
    let msg = [7u8; 200];
    let sig = id.sign(CTX, &msg);
    let peer = id.peer_id();
    c.bench_function("sign_200B", |b| b.iter(|| id.sign(CTX, black_box(&msg))));
    c.bench_function("verify_200B", |b| {
        b.iter(|| peer.verify(CTX, black_box(&msg), &sig))
    });
}

fn chain_verify(c: &mut Criterion) {
    let mut g = c.benchmark_group("chain_decode_and_verify");
    for depth in 1..=4 {
        let f = chain_fixture(depth, depth as u64);
        g.bench_with_input(BenchmarkId::from_parameter(depth), &f, |b, f| {
            b.iter(|| {
                TokenChain::decode(black_box(&f.encoded)).and_then(|c| c.verify(&f.genesis, NOW))
            })
        });
    }
    g.finish();
}

fn invite_text(c: &mut Criterion) {
    let f = chain_fixture(1, 9);
    let options = InviteOptions::default();
    let owner_chain = TokenChain::owner();
    let code = InviteCode::create(
        &syncshell_revocation::RevocationSet::new(f.genesis.clone()),
        &f.owner,
        &owner_chain,
        &options,
        NOW,
        &mut rng(4),
    );
    let Ok(code) = code else {
        unreachable!("the owner can always invite")
    };
    let text = code.to_text();
    c.bench_function("invite_text_parse", |b| {
        b.iter(|| black_box(text.as_str()).parse::<InviteCode>())
    });
}

criterion_group!(benches, sign_and_verify, chain_verify, invite_text);
criterion_main!(benches);

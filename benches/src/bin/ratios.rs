//! The ratio report: one JSON object per line, `{"name", "ours", "baseline", "ratio", "unit"}`,
//! ours and the baseline measured side by side in the same run.
//!
//! `cargo run --release -p syncshell-benches --bin ratios`

use std::hint::black_box;
use std::io::Write;

use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::json;
use syncshell_benches::{chain_fixture, compare, token_batch, NOW};
use syncshell_identity::{verify_batch, MemberToken, TokenChain, TOKEN_CONTEXT};

fn emit(name: &str, ours: f64, baseline: f64, ratio: f64, unit: &str) {
    let line =
        json!({"name": name, "ours": ours, "baseline": baseline, "ratio": ratio, "unit": unit});
    let mut out = std::io::stdout().lock();
    // A closed stdout (piped into `head`) is not worth a panic.
    let _ = writeln!(out, "{line}");
}

/// A depth-1 token chain decode + verify against a bare `verify_strict` of the same signed
/// bytes (key and signature parsing included). Throughput; higher is better.
fn token_verify_vs_verify_strict() {
    let f = chain_fixture(1, 1);
    let chain = TokenChain::decode(&f.encoded).unwrap_or_default();
    let token = chain.tokens().first().cloned();
    let Some(token) = token else { return };
    let mut signed = TOKEN_CONTEXT.label().as_bytes().to_vec();
    signed.push(0);
    signed.extend_from_slice(token.envelope().body());
    let key = *token.envelope().signer().as_bytes();
    let sig = *token.envelope().signature();
    let (ours, base) = compare(
        15,
        400,
        || {
            let chain = TokenChain::decode(black_box(&f.encoded));
            let ok = chain.and_then(|c| c.verify(&f.genesis, NOW)).is_ok();
            assert!(ok);
        },
        || {
            let vk = VerifyingKey::from_bytes(black_box(&key));
            let ok = vk
                .map(|vk| vk.verify_strict(black_box(&signed), &Signature::from_bytes(&sig)))
                .is_ok_and(|r| r.is_ok());
            assert!(ok);
        },
    );
    let ours_ops = 1.0 / ours.as_secs_f64();
    let base_ops = 1.0 / base.as_secs_f64();
    emit(
        "token_verify_vs_verify_strict",
        ours_ops.round(),
        base_ops.round(),
        ours_ops / base_ops,
        "verifications/s",
    );
}

/// Per-signature time of a 64-token batch verification against verifying the same tokens'
/// signatures one by one. Lower is better.
fn batch_verify_per_sig_vs_single() {
    const N: usize = 64;
    let encoded = token_batch(N, 2);
    let refs: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
    let tokens = MemberToken::decode_batch(&refs).unwrap_or_default();
    let items: Vec<_> = tokens
        .iter()
        .map(|t| t.envelope().signature_item(TOKEN_CONTEXT))
        .collect();
    let (ours, base) = compare(
        11,
        8,
        || assert!(verify_batch(black_box(&items)).is_ok()),
        || {
            for i in &items {
                assert!(i.signer.verify(i.context, i.message, i.signature).is_ok());
            }
        },
    );
    let ours_ns = ours.as_nanos() as f64 / N as f64;
    let base_ns = base.as_nanos() as f64 / N as f64;
    emit(
        "batch_verify_per_sig_vs_single",
        ours_ns.round(),
        base_ns.round(),
        ours_ns / base_ns,
        "ns/signature",
    );
}

fn main() {
    token_verify_vs_verify_strict();
    batch_verify_per_sig_vs_single();
}

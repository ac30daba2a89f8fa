//! What each handshake fuzz target checks. Compiled by the fuzz crate and by
//! syncshell-reconnect's corpus replay test (see fuzz/src/identity.rs).

use std::sync::OnceLock;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use syncshell_identity::{Identity, TokenChain};
use syncshell_reconnect::{Handshake, Local, ReplayGuard};
use syncshell_revocation::RevocationSet;
use syncshell_testkit::SeededShell;

/// A fuzz target's check.
pub type Check = fn(&[u8]);

/// Every target: its name (the corpus folder) and its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("reconnect_responder", responder),
    ("reconnect_initiator", initiator),
];

use syncshell_testkit::T0 as NOW;

struct Fixture {
    a: Identity,
    b: Identity,
    a_chain: TokenChain,
    b_chain: TokenChain,
    revocations: RevocationSet,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut shell = SeededShell::new("fuzz", 9, NOW);
        let (a, a_chain) = shell.member();
        let (b, b_chain) = shell.member();
        Fixture {
            a,
            b,
            a_chain,
            b_chain,
            revocations: RevocationSet::new(shell.genesis),
        }
    })
}

fn locals(f: &Fixture) -> (Local<'_>, Local<'_>) {
    (
        Local {
            identity: &f.a,
            chain: &f.a_chain,
            revocations: &f.revocations,
        },
        Local {
            identity: &f.b,
            chain: &f.b_chain,
            revocations: &f.revocations,
        },
    )
}

fn assert_clean(h: &Handshake) {
    assert!(h.is_finished() == (h.error().is_some() || h.session().is_some()));
}

/// A responder fed `data` as the hello, then (if it answered) as the proof.
pub fn responder(data: &[u8]) {
    let f = fixture();
    let (_, b) = locals(f);
    let mut r = ChaCha20Rng::seed_from_u64(1);
    let mut h = Handshake::respond(b"cb", NOW).expect("responder");
    let mut guard = ReplayGuard::new();
    let _ = h.handle(&b, &mut guard, data, NOW, &mut r);
    let _ = h.handle(&b, &mut guard, data, NOW, &mut r);
    assert!(h.session().is_none(), "arbitrary bytes authenticated");
    assert_clean(&h);
}

/// An initiator fed `data` as the challenge.
pub fn initiator(data: &[u8]) {
    let f = fixture();
    let (a, _) = locals(f);
    let mut r = ChaCha20Rng::seed_from_u64(2);
    let mut h = Handshake::initiate(&a, b"cb", NOW, &mut r).expect("initiator");
    let _ = h.poll_transmit();
    let _ = h.handle(&a, &mut ReplayGuard::new(), data, NOW, &mut r);
    // A challenge recorded from another run cannot match this run's fresh hello.
    assert!(h.session().is_none(), "arbitrary bytes authenticated");
    assert_clean(&h);
}

/// Seed inputs: the messages of a genuine run.
pub fn seeds() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let f = fixture();
    let (a, b) = locals(f);
    let mut r = ChaCha20Rng::seed_from_u64(3);
    let mut x = Handshake::initiate(&a, b"cb", NOW, &mut r).expect("initiator");
    let mut y = Handshake::respond(b"cb", NOW).expect("responder");
    let hello = x.poll_transmit().expect("hello");
    let _ = y.handle(&b, &mut ReplayGuard::new(), &hello, NOW, &mut r);
    let challenge = y.poll_transmit().expect("challenge");
    let _ = x.handle(&a, &mut ReplayGuard::new(), &challenge, NOW, &mut r);
    let proof = x.poll_transmit().expect("proof");
    vec![
        ("reconnect_responder", vec![hello, proof]),
        ("reconnect_initiator", vec![challenge]),
    ]
}

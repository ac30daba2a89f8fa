//! Known-answer vectors: docs/vectors/reconnect.json, one complete handshake from seeded
//! randomness, with the random bytes each side drew so another implementation can redo it.
//!
//! ```text
//! SYNCSHELL_WRITE_VECTORS=1 cargo test -p syncshell-reconnect --test vectors
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use rand_chacha::rand_core::{CryptoRng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};
use syncshell_identity::{Identity, Role, ShellGenesis, Timestamp, TokenChain};
use syncshell_reconnect::{Handshake, Local, ReplayGuard};
use syncshell_revocation::RevocationSet;

#[allow(dead_code, unreachable_pub, clippy::expect_used, clippy::panic)]
#[path = "../../../docs/vectors/known_answers.rs"]
mod known_answers;

const NOW: Timestamp = Timestamp::from_millis(1_767_225_600_000);

/// An RNG that remembers what it handed out.
struct Recording {
    inner: ChaCha20Rng,
    drawn: Vec<Vec<u8>>,
}

impl RngCore for Recording {
    fn next_u32(&mut self) -> u32 {
        self.inner.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.inner.fill_bytes(dest);
        self.drawn.push(dest.to_vec());
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_chacha::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for Recording {}

fn generate() -> Value {
    let mut setup = ChaCha20Rng::seed_from_u64(0x4a4d);
    let owner = Identity::from_secret_bytes(&[1; 32]);
    let alice = Identity::from_secret_bytes(&[5; 32]);
    let genesis = ShellGenesis::create(&owner, "Weekend raid", NOW, &mut setup).unwrap();
    let alice_chain = TokenChain::issue(
        &syncshell_revocation::RevocationSet::new(genesis.clone()),
        &owner,
        &TokenChain::owner(),
        alice.peer_id(),
        Role::Member,
        NOW,
        Some(NOW.saturating_add(Duration::from_secs(7 * 86400))),
        &mut setup,
    )
    .unwrap();
    let revocations = RevocationSet::new(genesis.clone());
    let owner_chain = TokenChain::owner();
    let a = Local {
        identity: &alice,
        chain: &alice_chain,
        revocations: &revocations,
    };
    let b = Local {
        identity: &owner,
        chain: &owner_chain,
        revocations: &revocations,
    };
    let cb = b"sha-256 AA:BB fingerprints of both DTLS certificates";

    let mut ra = Recording {
        inner: ChaCha20Rng::seed_from_u64(1),
        drawn: Vec::new(),
    };
    let mut rb = Recording {
        inner: ChaCha20Rng::seed_from_u64(2),
        drawn: Vec::new(),
    };
    let mut x = Handshake::initiate(&a, cb, NOW, &mut ra).unwrap();
    let mut y = Handshake::respond(cb, NOW).unwrap();
    let hello = x.poll_transmit().unwrap();
    y.handle(&b, &mut ReplayGuard::new(), &hello, NOW, &mut rb)
        .unwrap();
    let challenge = y.poll_transmit().unwrap();
    x.handle(&a, &mut ReplayGuard::new(), &challenge, NOW, &mut ra)
        .unwrap();
    let proof = x.poll_transmit().unwrap();
    y.handle(&b, &mut ReplayGuard::new(), &proof, NOW, &mut rb)
        .unwrap();
    let (sx, sy) = (x.into_session().unwrap(), y.into_session().unwrap());
    assert_eq!(sx.key(), sy.key());
    json!({
        "description": "one syncshell handshake; see docs/spec/reconnect.md",
        "generated_by": "SYNCSHELL_WRITE_VECTORS=1 cargo test -p syncshell-reconnect --test vectors",
        "now_ms": NOW.as_millis(),
        "genesis": hex::encode(genesis.encode()),
        "initiator_secret": hex::encode(*alice.to_secret_bytes()),
        "initiator_chain": hex::encode(alice_chain.encode()),
        "responder_secret": hex::encode(*owner.to_secret_bytes()),
        "channel_binding": hex::encode(cb),
        "initiator_nonce": hex::encode(&ra.drawn[0]),
        "initiator_ephemeral_secret": hex::encode(&ra.drawn[1]),
        "responder_nonce": hex::encode(&rb.drawn[0]),
        "responder_ephemeral_secret": hex::encode(&rb.drawn[1]),
        "hello": hex::encode(&hello),
        "challenge": hex::encode(&challenge),
        "proof": hex::encode(&proof),
        "session_key": hex::encode(sx.key()),
        "session_id": hex::encode(sx.id()),
    })
}

#[test]
fn vectors_match_the_committed_file() {
    known_answers::compare("reconnect", &generate(), |_| {});
}

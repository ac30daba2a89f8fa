//! Integration tests of syncshell-transport: one trait suite (`suite`), run against every
//! backend this crate has, and the in-memory backend's fault injection (`faults`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod faults;
mod fuzz_corpus;
mod suite;

use syncshell_transport::{Faults, MemConnection, MemNetwork, Transport};

/// A connected pair over a fresh in-memory network.
pub(crate) async fn mem_pair(
    seed: u64,
    faults: Faults,
) -> (MemNetwork, MemConnection, MemConnection) {
    let net = MemNetwork::new(seed, faults);
    let (a, b) = (net.endpoint("a"), net.endpoint("b"));
    let (x, y) = tokio::join!(a.connect("b"), b.accept());
    (net, x.unwrap(), y.unwrap())
}

#[tokio::test]
async fn suite_over_mem() {
    suite::run_all(|| async {
        let (_n, a, b) = mem_pair(1, Faults::default()).await;
        (a, b)
    })
    .await;
}

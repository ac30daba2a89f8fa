//! Trickle ICE: the offer and answer go out without candidates, each candidate follows in
//! its own signaling blob.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use syncshell_transport::{Connection, Faults, MemNetwork, Result, Signaling, Transport};
use syncshell_webrtc::WebRtcTransport;

use crate::test_config;

/// A signaling that keeps a copy of every blob it sends.
struct Recording<S> {
    inner: S,
    sent: Arc<Mutex<Vec<Bytes>>>,
}

impl<S: Signaling> Signaling for Recording<S> {
    async fn send(&self, to: &str, blob: Bytes) -> Result<()> {
        self.sent.lock().unwrap().push(blob.clone());
        self.inner.send(to, blob).await
    }

    async fn recv(&self) -> Result<(String, Bytes)> {
        self.inner.recv().await
    }
}

/// The kinds (second byte) of the blobs sent so far.
fn kinds(sent: &Mutex<Vec<Bytes>>) -> Vec<u8> {
    sent.lock()
        .unwrap()
        .iter()
        .map(|b| {
            assert_eq!(b[0], 1, "version");
            b[1]
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickle_connects_and_sends_candidates_separately() {
    let hub = MemNetwork::new(1, Faults::default());
    let mut config = test_config();
    config.trickle = true;
    let (a_sent, b_sent) = (Arc::default(), Arc::default());
    let a = WebRtcTransport::new(
        Recording {
            inner: hub.signaling("a"),
            sent: Arc::clone(&a_sent),
        },
        "a",
        config.clone(),
    );
    let b = WebRtcTransport::new(
        Recording {
            inner: hub.signaling("b"),
            sent: Arc::clone(&b_sent),
        },
        "b",
        config,
    );
    let (x, y) = tokio::join!(a.connect("b"), b.accept());
    let (x, y) = (x.unwrap(), y.unwrap());

    x.send(Bytes::from_static(b"to b")).await.unwrap();
    y.send(Bytes::from_static(b"to a")).await.unwrap();
    assert_eq!(y.recv().await.unwrap().as_deref(), Some(&b"to b"[..]));
    assert_eq!(x.recv().await.unwrap().as_deref(), Some(&b"to a"[..]));
    x.send(Bytes::from(vec![9u8; 200_000])).await.unwrap();
    assert_eq!(y.recv().await.unwrap().map(|m| m.len()), Some(200_000));
    assert_eq!(x.channel_binding(), y.channel_binding());
    assert_eq!(x.channel_binding().len(), 32);

    // Offer (1) and answer (2) come first and carry no candidate; candidates (3) travel
    // separately, and at most one end-of-candidates (4) closes them.
    for (sent, first) in [(&a_sent, 1u8), (&b_sent, 2u8)] {
        let kinds = kinds(sent);
        assert_eq!(kinds.first(), Some(&first), "{kinds:?}");
        assert!(
            kinds.iter().skip(1).all(|k| *k == 3 || *k == 4),
            "{kinds:?}"
        );
        assert!(kinds.contains(&3), "no candidate blob: {kinds:?}");
        assert!(kinds.iter().filter(|k| **k == 4).count() <= 1, "{kinds:?}");
        let description = sent.lock().unwrap()[0].clone();
        let sdp = std::str::from_utf8(&description[14..]).unwrap();
        assert!(sdp.starts_with("v=0"), "{sdp}");
        assert!(!sdp.contains("a=candidate"), "{sdp}");
    }

    x.close().await;
    assert_eq!(y.recv().await.unwrap(), None);
    y.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_sends_one_blob_with_every_candidate() {
    let hub = MemNetwork::new(1, Faults::default());
    let sent = Arc::default();
    let a = WebRtcTransport::new(
        Recording {
            inner: hub.signaling("a"),
            sent: Arc::clone(&sent),
        },
        "a",
        test_config(),
    );
    let b = WebRtcTransport::new(hub.signaling("b"), "b", test_config());
    let (x, y) = tokio::join!(a.connect("b"), b.accept());
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(kinds(&sent), [1]);
    let offer = sent.lock().unwrap()[0].clone();
    assert!(std::str::from_utf8(&offer[14..])
        .unwrap()
        .contains("a=candidate"));
    x.close().await;
    y.close().await;
}

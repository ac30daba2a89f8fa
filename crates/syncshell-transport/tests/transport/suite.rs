//! The behaviour every backend must have, written once against the `Connection` trait.

use std::future::Future;

use bytes::Bytes;
use syncshell_transport::{Connection, Error};

/// Runs every check on fresh pairs from `pair`.
pub(crate) async fn run_all<C, F, Fut>(pair: F)
where
    C: Connection,
    F: Fn() -> Fut,
    Fut: Future<Output = (C, C)>,
{
    let (a, b) = pair().await;
    messages_of_every_size_arrive_intact(&a, &b).await;
    order_is_kept(&a, &b).await;
    channel_bindings_agree(&a, &b);
    let (a, b) = pair().await;
    close_is_clean_and_final(a, b).await;
    let (a, b) = pair().await;
    close_ends_our_own_receives(a, b).await;
    let (a, b) = pair().await;
    close_drops_what_was_not_read(a, b).await;
    let (a, b) = pair().await;
    oversized_messages_are_refused(&a).await;
    let (a, b2) = pair().await;
    slow_reader_gets_back_pressure(&a, &b2).await;
    drop(b);
}

async fn messages_of_every_size_arrive_intact<C: Connection>(a: &C, b: &C) {
    let sizes = [
        0usize,
        1,
        2,
        100,
        16 * 1024 - 1,
        16 * 1024,
        16 * 1024 + 1,
        100_000,
        1 << 20,
    ];
    for (i, n) in sizes.iter().enumerate() {
        let msg: Bytes = (0..*n)
            .map(|j| (j * 31 + i) as u8)
            .collect::<Vec<u8>>()
            .into();
        let (sent, got) = tokio::join!(a.send(msg.clone()), b.recv());
        sent.unwrap();
        assert_eq!(got.unwrap().unwrap(), msg, "size {n}");
    }
    let s = a.stats();
    assert_eq!(s.messages_sent, sizes.len() as u64);
    assert_eq!(b.stats().bytes_received, sizes.iter().sum::<usize>() as u64);
}

async fn order_is_kept<C: Connection>(a: &C, b: &C) {
    let sender = async {
        for i in 0u32..200 {
            a.send(Bytes::from(
                i.to_be_bytes().repeat(1 + (i as usize % 7) * 3000),
            ))
            .await
            .unwrap();
        }
    };
    let receiver = async {
        for i in 0u32..200 {
            let m = b.recv().await.unwrap().unwrap();
            assert_eq!(&m[..4], &i.to_be_bytes());
        }
    };
    tokio::join!(sender, receiver);
}

fn channel_bindings_agree<C: Connection>(a: &C, b: &C) {
    assert_eq!(a.channel_binding(), b.channel_binding());
    assert!(a.channel_binding().len() >= 16);
}

async fn close_is_clean_and_final<C: Connection>(a: C, b: C) {
    a.send(Bytes::from_static(b"last words")).await.unwrap();
    a.close().await;
    // The peer still gets what was sent, then the end.
    assert_eq!(
        b.recv().await.unwrap().unwrap(),
        Bytes::from_static(b"last words")
    );
    assert_eq!(b.recv().await.unwrap(), None);
    // Sending after close is an error on both sides, never silent loss.
    assert_eq!(a.send(Bytes::from_static(b"x")).await, Err(Error::Closed));
    assert_eq!(a.try_send(Bytes::from_static(b"x")), Err(Error::Closed));
    assert_eq!(b.send(Bytes::from_static(b"x")).await, Err(Error::Closed));
    // Closing twice is harmless.
    a.close().await;
    b.close().await;
}

async fn close_ends_our_own_receives<C: Connection>(a: C, b: C) {
    let limit = std::time::Duration::from_secs(5);
    // Receives already waiting on both channels end when this end closes (the peer's
    // receives end too, after what was sent).
    let (reliable, unreliable, ()) = tokio::time::timeout(limit, async {
        tokio::join!(a.recv(), a.recv_unreliable(), async {
            tokio::task::yield_now().await;
            a.close().await;
        })
    })
    .await
    .expect("the waiting receives end");
    assert_eq!(reliable.unwrap(), None);
    assert_eq!(unreliable.unwrap(), None);
    b.close().await;
}

async fn close_drops_what_was_not_read<C: Connection>(a: C, b: C) {
    b.send(Bytes::from_static(b"never read")).await.unwrap();
    a.close().await;
    let after = tokio::time::timeout(std::time::Duration::from_secs(5), a.recv()).await;
    assert_eq!(after.expect("the receive ends").unwrap(), None);
    b.close().await;
}

async fn oversized_messages_are_refused<C: Connection>(a: &C) {
    let max = a.max_message_len();
    let too_big = Bytes::from(vec![0u8; max + 1]);
    assert_eq!(
        a.send(too_big.clone()).await,
        Err(Error::TooLarge { len: max + 1, max })
    );
    assert!(matches!(a.try_send(too_big), Err(Error::TooLarge { .. })));
}

async fn slow_reader_gets_back_pressure<C: Connection>(a: &C, b: &C) {
    // Nobody reads: try_send must soon say WouldBlock, bounding what is buffered.
    let chunk = Bytes::from(vec![7u8; 8 * 1024]);
    let mut accepted = 0usize;
    loop {
        match a.try_send(chunk.clone()) {
            Ok(()) => accepted += 1,
            Err(Error::WouldBlock) => break,
            Err(e) => panic!("{e}"),
        }
        assert!(accepted < 100_000, "the send buffer never filled");
    }
    let buffered = accepted * chunk.len();
    assert!(
        buffered <= 4 << 20,
        "{buffered} bytes buffered for a reader that never reads"
    );
    // Once the reader catches up, sending works again and nothing was lost. Over a network
    // the reader's credit needs a round trip to reach the sender, so wait for it (bounded).
    for _ in 0..accepted {
        assert_eq!(b.recv().await.unwrap().unwrap().len(), chunk.len());
    }
    let resumed = tokio::time::timeout(std::time::Duration::from_secs(5), a.send(chunk)).await;
    resumed
        .expect("sending resumes once the reader caught up")
        .unwrap();
    assert!(b.recv().await.unwrap().is_some());
}

//! The async adapter over an in-process message connection.

use syncshell_reconnect::{run, Error, Handshake, MessageConnection, ReplayGuard};
use tokio::sync::mpsc;

use crate::{rng, shell, T0};

struct Pipe {
    tx: mpsc::Sender<Vec<u8>>,
    rx: mpsc::Receiver<Vec<u8>>,
}

impl MessageConnection for Pipe {
    async fn send(&mut self, message: Vec<u8>) -> std::io::Result<()> {
        self.tx
            .send(message)
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
    }
    async fn recv(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        Ok(self.rx.recv().await)
    }
}

fn pipes() -> (Pipe, Pipe) {
    let (a_tx, b_rx) = mpsc::channel(4);
    let (b_tx, a_rx) = mpsc::channel(4);
    (Pipe { tx: a_tx, rx: a_rx }, Pipe { tx: b_tx, rx: b_rx })
}

#[tokio::test]
async fn handshake_over_an_async_connection() {
    let s = shell(40);
    let (alice, bob) = (s.local(&s.alice), s.local(&s.bob));
    let (mut pa, mut pb) = pipes();
    let mut ra = rng(41);
    let mut rb = rng(42);
    let a = Handshake::initiate(&alice, b"cb", T0, &mut ra).unwrap();
    let b = Handshake::respond(b"cb", T0).unwrap();
    let (mut ga, mut gb) = (ReplayGuard::new(), ReplayGuard::new());
    let (x, y) = tokio::join!(
        run(a, &mut pa, &alice, &mut ga, || T0, &mut ra),
        run(b, &mut pb, &bob, &mut gb, || T0, &mut rb),
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.key(), y.key());
}

#[tokio::test]
async fn a_closed_connection_fails_the_handshake() {
    let s = shell(43);
    let alice = s.local(&s.alice);
    let (mut pa, pb) = pipes();
    drop(pb);
    let mut r = rng(44);
    let a = Handshake::initiate(&alice, b"cb", T0, &mut r).unwrap();
    let result = run(a, &mut pa, &alice, &mut ReplayGuard::new(), || T0, &mut r).await;
    assert!(matches!(result, Err(Error::Unexpected(_))));
}

#[tokio::test(start_paused = true)]
async fn a_silent_peer_times_out_at_the_deadline() {
    let s = shell(45);
    let alice = s.local(&s.alice);
    let (mut pa, _pb) = pipes();
    let mut r = rng(46);
    let a = Handshake::initiate(&alice, b"cb", T0, &mut r).unwrap();
    // The clock is the paused tokio clock, so the deadline passes without real waiting.
    let start = tokio::time::Instant::now();
    let clock = move || T0.saturating_add(start.elapsed());
    let result = run(a, &mut pa, &alice, &mut ReplayGuard::new(), clock, &mut r).await;
    assert!(matches!(result, Err(Error::Timeout { .. })), "{result:?}");
}

//! The `syncshell-signal` server, run as a process on 127.0.0.1 with port 0, and its client:
//! admission and relaying, limits, TLS (`wss://`) and the ICE servers it hands out.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stdout
)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use rand_core::OsRng;
use syncshell_identity::{
    Identity, InviteCode, InviteOptions, PeerId, Role, Timestamp, TokenChain,
};
use syncshell_revocation::{Reason, Tombstone};
use syncshell_signal::{
    signed_bytes, ClientOptions, Credentials, Error, Frame, IceGrant, IceServer, NoticeCode,
    PresenceChange, RefuseCode, SignalClient, Status, AUTH_CONTEXT,
};
use syncshell_testkit::{copy, now, TestShell as Shell};
use syncshell_transport::{Connection, Transport};
use syncshell_webrtc::{WebRtcConfig, WebRtcTransport};
use tokio_tungstenite::tungstenite::Message;

#[path = "../../crates/syncshell-signal/tests/support/pki.rs"]
mod pki;
#[path = "support/signal_server.rs"]
mod signal_server;

use signal_server::ServerProcess;

const WAIT: Duration = Duration::from_secs(10);

/// What these tests do with a shell on the relay.
trait OnTheRelay {
    /// A joiner holding an owner's invite, connected as a guest.
    async fn guest(&self, url: &str) -> (Identity, SignalClient);
    /// A member's credentials.
    fn creds(&self, chain: &TokenChain) -> Credentials;
}

impl OnTheRelay for Shell {
    async fn guest(&self, url: &str) -> (Identity, SignalClient) {
        let code = InviteCode::create(
            &self.revocations(),
            &self.owner,
            &TokenChain::owner(),
            &InviteOptions::default(),
            now(),
            &mut OsRng,
        )
        .unwrap();
        let joiner = Identity::generate(&mut OsRng);
        let request = code.join_request(&joiner, now()).unwrap();
        let guest = join(url, &joiner, Credentials::Guest { request })
            .await
            .unwrap();
        (joiner, guest)
    }

    fn creds(&self, chain: &TokenChain) -> Credentials {
        Credentials::Member {
            genesis: self.genesis.clone(),
            chain: chain.clone(),
        }
    }
}

fn options() -> ClientOptions {
    ClientOptions {
        reconnect: false,
        ..ClientOptions::default()
    }
}

async fn join(url: &str, id: &Identity, creds: Credentials) -> Result<SignalClient, Error> {
    SignalClient::connect(url, copy(id), creds, options()).await
}

async fn recv_app(c: &SignalClient) -> (syncshell_identity::PeerId, Bytes) {
    tokio::time::timeout(WAIT, c.recv_app())
        .await
        .expect("a blob arrives in time")
        .expect("the client is open")
}

async fn notice(c: &SignalClient) -> syncshell_signal::Notice {
    tokio::time::timeout(WAIT, c.next_notice())
        .await
        .expect("a notice arrives in time")
        .expect("the client is open")
}

/// Waits until `c`'s presence list is exactly `want`.
async fn present(c: &SignalClient, want: &[&Identity]) {
    let want: BTreeSet<PeerId> = want.iter().map(|m| m.peer_id()).collect();
    let mut list = c.presence();
    let seen = tokio::time::timeout(WAIT, list.wait_for(|p| *p == want)).await;
    assert!(
        seen.is_ok(),
        "presence {:?}, expected {want:?}",
        *c.presence().borrow()
    );
}

#[track_caller]
fn refused(r: Result<SignalClient, Error>) -> RefuseCode {
    match r {
        Err(Error::Refused { code, .. }) => code,
        Err(e) => panic!("expected a refusal, got {e}"),
        Ok(_) => panic!("expected a refusal, got admitted"),
    }
}

type Raw =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Waits for `c`'s connection to end and returns the code the server refused it with.
async fn closed_with(c: &SignalClient) -> RefuseCode {
    match tokio::time::timeout(WAIT, c.failed()).await.unwrap() {
        Error::Refused { code, .. } => code,
        other => panic!("not a refusal: {other}"),
    }
}

async fn raw_frame(ws: &mut Raw) -> Option<Frame> {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("in time")
        {
            Some(Ok(Message::Binary(b))) => return Some(Frame::decode(&b).unwrap()),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

/// Connects raw and returns the socket with the challenge.
async fn raw(url: &str) -> (Raw, [u8; 32], [u8; 16]) {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    match raw_frame(&mut ws).await {
        Some(Frame::Challenge { nonce, session }) => (ws, nonce, session),
        other => panic!("expected a challenge, got {other:?}"),
    }
}

async fn raw_send(ws: &mut Raw, f: &Frame) {
    ws.send(Message::Binary(Bytes::from(f.encode())))
        .await
        .unwrap();
}

/// Reads until a refusal and returns its code.
async fn raw_refusal(ws: &mut Raw) -> RefuseCode {
    loop {
        match raw_frame(ws).await {
            Some(Frame::Refused { code, .. }) => return code,
            Some(_) => {}
            None => panic!("closed without a refusal"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_of_one_shell_relay_and_other_shells_cannot_reach_them() {
    let server = ServerProcess::start(&[]);
    let url = server.url();
    let shell = Shell::new("raid");
    let (bob, bob_chain) = shell.member();
    let alice = join(&url, &shell.owner, shell.creds(&TokenChain::owner()))
        .await
        .unwrap();
    let bob_c = join(&url, &bob, shell.creds(&bob_chain)).await.unwrap();

    alice.send_app(&bob.peer_id(), b"offer from alice").unwrap();
    assert_eq!(
        recv_app(&bob_c).await,
        (
            shell.owner.peer_id(),
            Bytes::from_static(b"offer from alice")
        )
    );
    bob_c.send_app(&shell.owner.peer_id(), b"answer").unwrap();
    assert_eq!(recv_app(&alice).await.1, Bytes::from_static(b"answer"));

    // Another shell's member knows alice's peer id but cannot reach her.
    let other = Shell::new("other");
    let mallory = join(&url, &other.owner, other.creds(&TokenChain::owner()))
        .await
        .unwrap();
    mallory
        .send_app(&shell.owner.peer_id(), b"from another shell")
        .unwrap();
    let n = notice(&mallory).await;
    assert_eq!(n.code, NoticeCode::Unreachable);
    assert_eq!(n.peer, Some(shell.owner.peer_id()));
    // The server handled mallory's blob before its notice; bob's marker is what alice gets.
    bob_c.send_app(&shell.owner.peer_id(), b"marker").unwrap();
    assert_eq!(
        recv_app(&alice).await,
        (bob.peer_id(), Bytes::from_static(b"marker"))
    );

    let stats = server.stats();
    assert_eq!(stats["shells"], 2, "{stats}");
    assert_eq!(stats["peers"], 3, "{stats}");
    assert_eq!(stats["connections"], 3, "{stats}");
    assert_eq!(stats["relayed"], 3, "{stats}");
    assert_eq!(stats["dropped"], 1, "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_foreign_chains_and_revoked_peers_are_refused() {
    let server = ServerProcess::start(&[]);
    let url = server.url();
    let shell = Shell::new("raid");
    let (bob, bob_chain) = shell.member();

    // A signature over another challenge.
    let (mut ws, nonce, session) = raw(&url).await;
    let wrong = shell.owner.sign(
        AUTH_CONTEXT,
        &signed_bytes(
            &[0; 32],
            &session,
            &shell.genesis.id(),
            &shell.owner.peer_id(),
        ),
    );
    let _ = nonce;
    raw_send(
        &mut ws,
        &Frame::Hello {
            genesis: shell.genesis.encode(),
            chain: vec![],
            peer: shell.owner.peer_id(),
            signature: wrong,
        },
    )
    .await;
    assert_eq!(raw_refusal(&mut ws).await, RefuseCode::BadSignature);

    // A right signature by a key that is not the one the hello names.
    let (mut ws, nonce, session) = raw(&url).await;
    let by_bob = bob.sign(
        AUTH_CONTEXT,
        &signed_bytes(
            &nonce,
            &session,
            &shell.genesis.id(),
            &shell.owner.peer_id(),
        ),
    );
    raw_send(
        &mut ws,
        &Frame::Hello {
            genesis: shell.genesis.encode(),
            chain: vec![],
            peer: shell.owner.peer_id(),
            signature: by_bob,
        },
    )
    .await;
    assert_eq!(raw_refusal(&mut ws).await, RefuseCode::BadSignature);

    // Carol presents bob's chain with her own key.
    let carol = Identity::generate(&mut OsRng);
    assert_eq!(
        refused(join(&url, &carol, shell.creds(&bob_chain)).await),
        RefuseCode::NotAdmitted
    );
    // Bob's chain does not admit him into another shell.
    let other = Shell::new("other");
    assert_eq!(
        refused(join(&url, &bob, other.creds(&bob_chain)).await),
        RefuseCode::NotAdmitted
    );

    // Bob is connected; the owner uploads a tombstone; the server drops bob and refuses him.
    let alice = join(&url, &shell.owner, shell.creds(&TokenChain::owner()))
        .await
        .unwrap();
    let bob_c = join(&url, &bob, shell.creds(&bob_chain)).await.unwrap();
    let tombstone = Tombstone::issue(
        &syncshell_revocation::RevocationSet::new(shell.genesis.clone()),
        &shell.owner,
        &TokenChain::owner(),
        bob.peer_id(),
        Reason::Removed,
        now(),
    )
    .unwrap();
    // A member cannot forge the owner's tombstone; garbage is rejected, the connection stays.
    alice.upload_tombstone(b"not a tombstone").unwrap();
    assert_eq!(notice(&alice).await.code, NoticeCode::TombstoneRejected);
    alice.upload_tombstone(&tombstone.encode()).unwrap();
    assert_eq!(notice(&alice).await.code, NoticeCode::TombstoneAccepted);
    assert_eq!(closed_with(&bob_c).await, RefuseCode::Revoked);
    assert_eq!(
        refused(join(&url, &bob, shell.creds(&bob_chain)).await),
        RefuseCode::Revoked
    );
    alice.upload_tombstone(&tombstone.encode()).unwrap();
    assert_eq!(notice(&alice).await.code, NoticeCode::TombstoneKnown);
    assert_eq!(server.stats()["tombstones"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joiner_reaches_only_its_inviter() {
    let server = ServerProcess::start(&[]);
    let url = server.url();
    let shell = Shell::new("raid");
    let (bob, bob_chain) = shell.member();
    let alice = join(&url, &shell.owner, shell.creds(&TokenChain::owner()))
        .await
        .unwrap();
    let bob_c = join(&url, &bob, shell.creds(&bob_chain)).await.unwrap();
    let (joiner, guest) = shell.guest(&url).await;
    guest.send_app(&bob.peer_id(), b"hi bob").unwrap();
    assert_eq!(notice(&guest).await.code, NoticeCode::Unreachable);
    bob_c.send_app(&joiner.peer_id(), b"hi guest").unwrap();
    assert_eq!(notice(&bob_c).await.code, NoticeCode::Unreachable);
    guest.send_app(&shell.owner.peer_id(), b"join me").unwrap();
    assert_eq!(
        recv_app(&alice).await,
        (joiner.peer_id(), Bytes::from_static(b"join me"))
    );
    alice.send_app(&joiner.peer_id(), b"welcome").unwrap();
    assert_eq!(recv_app(&guest).await.1, Bytes::from_static(b"welcome"));
    // Guests cannot revoke.
    guest.upload_tombstone(b"x").unwrap();
    assert_eq!(closed_with(&guest).await, RefuseCode::NotAllowed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_see_who_is_online_and_guests_neither_see_nor_are_seen() {
    let server = ServerProcess::start(&[]);
    let url = server.url();
    let shell = Shell::new("raid");
    let (bob, bob_chain) = shell.member();
    let (cid, cid_chain) = shell.member();
    let alice = join(&url, &shell.owner, shell.creds(&TokenChain::owner()))
        .await
        .unwrap();
    let bob_c = join(&url, &bob, shell.creds(&bob_chain)).await.unwrap();
    // Bob's first list names alice; alice hears that bob came.
    present(&bob_c, &[&shell.owner]).await;
    present(&alice, &[&bob]).await;
    // A guest is announced to nobody: cid, admitted after it, is all alice hears of.
    let (_joiner, guest) = shell.guest(&url).await;
    let cid_c = join(&url, &cid, shell.creds(&cid_chain)).await.unwrap();
    present(&alice, &[&bob, &cid]).await;
    present(&cid_c, &[&shell.owner, &bob]).await;
    assert!(guest.presence().borrow().is_empty());
    // A member of another shell is in no list of this one.
    let other = Shell::new("other");
    let _stranger = join(&url, &other.owner, other.creds(&TokenChain::owner()))
        .await
        .unwrap();
    // Leaving, and being revoked, are both going offline.
    bob_c.close();
    present(&alice, &[&cid]).await;
    let tombstone = Tombstone::issue(
        &syncshell_revocation::RevocationSet::new(shell.genesis.clone()),
        &shell.owner,
        &TokenChain::owner(),
        cid.peer_id(),
        Reason::Removed,
        now(),
    )
    .unwrap();
    alice.upload_tombstone(&tombstone.encode()).unwrap();
    assert_eq!(closed_with(&cid_c).await, RefuseCode::Revoked);
    present(&alice, &[]).await;
    // Connecting anew replaces the old connection without an `offline`.
    let bob_again = join(&url, &bob, shell.creds(&bob_chain)).await.unwrap();
    present(&alice, &[&bob]).await;
    present(&bob_again, &[&shell.owner]).await;
    let bob_third = join(&url, &bob, shell.creds(&bob_chain)).await.unwrap();
    assert_eq!(closed_with(&bob_again).await, RefuseCode::Replaced);
    present(&bob_third, &[&shell.owner]).await;
    assert_eq!(
        *alice.presence().borrow(),
        BTreeSet::from([bob.peer_id()]),
        "a replaced connection is no departure"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_rate_per_ip_and_idle_limits_trigger() {
    let server = ServerProcess::start(&[
        "--max-message",
        "4096",
        "--rate",
        "20",
        "--per-ip",
        "3",
        "--hello-timeout",
        "0.5",
        "--idle-timeout",
        "1",
    ]);
    let url = server.url();
    let shell = Shell::new("raid");
    let (bob, bob_chain) = shell.member();
    let quiet = ClientOptions {
        keepalive: None,
        reconnect: false,
        ..ClientOptions::default()
    };

    // Size: a blob just over the limit closes the connection with TooLarge.
    let a = SignalClient::connect(
        &url,
        copy(&shell.owner),
        shell.creds(&TokenChain::owner()),
        options(),
    )
    .await
    .unwrap();
    a.send_app(&bob.peer_id(), &vec![0u8; 4096]).unwrap();
    assert_eq!(closed_with(&a).await, RefuseCode::TooLarge);

    // Rate: 100 frames at once against 20 per second.
    let b = SignalClient::connect(&url, copy(&bob), shell.creds(&bob_chain), options())
        .await
        .unwrap();
    let mut sent = 0;
    for _ in 0..100 {
        if b.send_app(&shell.owner.peer_id(), b"flood").is_ok() {
            sent += 1;
        }
    }
    assert!(sent > 20, "only {sent} frames were queued");
    assert_eq!(closed_with(&b).await, RefuseCode::RateLimited);

    // Idle: no hello within 0.5 s; an admitted client that sends nothing for 1 s.
    let (mut ws, _, _) = raw(&url).await;
    assert_eq!(raw_refusal(&mut ws).await, RefuseCode::Idle);
    drop(ws);
    let c = SignalClient::connect(&url, copy(&bob), shell.creds(&bob_chain), quiet.clone())
        .await
        .unwrap();
    assert_eq!(closed_with(&c).await, RefuseCode::Idle);
    // A client that pings stays past the idle timeout: its blob still goes through.
    let pinging = ClientOptions {
        keepalive: Some(Duration::from_millis(200)),
        reconnect: false,
        ..ClientOptions::default()
    };
    let d = SignalClient::connect(&url, copy(&bob), shell.creds(&bob_chain), pinging)
        .await
        .unwrap();
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        assert_eq!(d.status(), Status::Connected);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    d.close();

    // Per IP: three sockets are held open; the fourth upgrade is refused with 429.
    let mut held = Vec::new();
    let deadline = std::time::Instant::now() + WAIT;
    while held.len() < 3 {
        // Earlier connections may still be closing on the server; retry until 3 are in.
        match tokio_tungstenite::connect_async(&url).await {
            Ok((ws, _)) => held.push(ws),
            Err(_) => {
                assert!(std::time::Instant::now() < deadline, "slots never freed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    match tokio_tungstenite::connect_async(&url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 429),
        other => panic!("expected 429, got {:?}", other.map(|_| ())),
    }
    assert!(server.stats()["refused"].as_u64().unwrap() >= 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_stats_and_sigterm() {
    let mut server = ServerProcess::start(&[]);
    assert_eq!(server.get("/health"), (200, "ok".to_owned()));
    let stats = server.stats();
    for key in ["connections", "shells", "relayed", "refused"] {
        assert_eq!(stats[key], 0, "{key} in {stats}");
    }
    let shell = Shell::new("raid");
    let alice = join(
        &server.url(),
        &shell.owner,
        shell.creds(&TokenChain::owner()),
    )
    .await
    .unwrap();
    assert_eq!(server.stats()["connections"], 1);
    let status = tokio::task::spawn_blocking(move || {
        let s = server.terminate();
        (s, server)
    });
    assert_eq!(closed_with(&alice).await, RefuseCode::ShuttingDown);
    let (status, _server) = status.await.unwrap();
    assert!(status.success(), "exit status {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_webrtc_transports_connect_through_the_server() {
    let server = ServerProcess::start(&[]);
    let url = server.url();
    let shell = Shell::new("raid");
    let (bob, bob_chain) = shell.member();
    let a = join(&url, &shell.owner, shell.creds(&TokenChain::owner()))
        .await
        .unwrap();
    let b = join(&url, &bob, shell.creds(&bob_chain)).await.unwrap();
    let ta = WebRtcTransport::new(a.transport(), a.peer().to_string(), WebRtcConfig::default());
    let tb = WebRtcTransport::new(b.transport(), b.peer().to_string(), WebRtcConfig::default());
    let started = std::time::Instant::now();
    let (x, y) = tokio::time::timeout(Duration::from_secs(20), async {
        tokio::join!(ta.connect(tb.local_address()), tb.accept())
    })
    .await
    .expect("connected in time");
    let (x, y) = (x.unwrap(), y.unwrap());
    println!("WebRTC through the signal server: {:?}", started.elapsed());
    x.send(Bytes::from_static(b"hello over webrtc"))
        .await
        .unwrap();
    assert_eq!(
        y.recv().await.unwrap(),
        Some(Bytes::from_static(b"hello over webrtc"))
    );
    assert_eq!(x.channel_binding(), y.channel_binding());
    assert!(server.stats()["relayed"].as_u64().unwrap() >= 2);
    tokio::join!(x.close(), y.close());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_reconnect_after_the_server_restarts() {
    let mut server = ServerProcess::start(&[]);
    let (url, addr) = (server.url(), server.addr.clone());
    let shell = Shell::new("raid");
    let (bob, bob_chain) = shell.member();
    let reconnecting = ClientOptions::default();
    let alice = SignalClient::connect(
        &url,
        copy(&shell.owner),
        shell.creds(&TokenChain::owner()),
        reconnecting.clone(),
    )
    .await
    .unwrap();
    let bob_c = SignalClient::connect(&url, copy(&bob), shell.creds(&bob_chain), reconnecting)
        .await
        .unwrap();
    let mut a_status = alice.watch_status();
    let status = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(status.success());
    tokio::time::timeout(WAIT, a_status.wait_for(|s| *s != Status::Connected))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        alice.send_app(&bob.peer_id(), b"while down"),
        Err(Error::Connect("not connected to the signal server".into()))
    );
    // The same address again: both clients come back on their own.
    let _server = ServerProcess::start_at(&addr, &[]);
    for c in [&alice, &bob_c] {
        let mut st = c.watch_status();
        tokio::time::timeout(WAIT, st.wait_for(|s| *s == Status::Connected))
            .await
            .expect("reconnected in time")
            .unwrap();
    }
    alice.send_app(&bob.peer_id(), b"after restart").unwrap();
    assert_eq!(
        recv_app(&bob_c).await,
        (shell.owner.peer_id(), Bytes::from_static(b"after restart"))
    );
}

/// Waits until the server has `n` registered peers (closed clients unregister on their own
/// time).
async fn until_peers(server: &ServerProcess, n: u64) {
    let deadline = std::time::Instant::now() + WAIT;
    while server.stats()["peers"] != n {
        assert!(
            std::time::Instant::now() < deadline,
            "peers never unregistered: {}",
            server.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaked_invite_cannot_fill_a_shell() {
    let server =
        ServerProcess::start(&["--max-guests", "2", "--max-shells", "3", "--per-ip", "64"]);
    let url = server.url();
    let shell = Shell::new("raid");
    let empty = syncshell_revocation::RevocationSet::new(shell.genesis.clone());
    // The owner makes an admin, who makes another admin.
    let admin = Identity::generate(&mut OsRng);
    let admin_chain = TokenChain::issue(
        &empty,
        &shell.owner,
        &TokenChain::owner(),
        admin.peer_id(),
        Role::Admin,
        now(),
        None,
        &mut OsRng,
    )
    .unwrap();
    let sub = Identity::generate(&mut OsRng);
    let sub_chain = TokenChain::issue(
        &empty,
        &admin,
        &admin_chain,
        sub.peer_id(),
        Role::Admin,
        now(),
        None,
        &mut OsRng,
    )
    .unwrap();
    let many = InviteOptions {
        max_uses: 100,
        ..InviteOptions::default()
    };
    let leaked = InviteCode::create(
        &empty,
        &shell.owner,
        &TokenChain::owner(),
        &many,
        now(),
        &mut OsRng,
    )
    .unwrap();
    let subs_invite =
        InviteCode::create(&empty, &sub, &sub_chain, &many, now(), &mut OsRng).unwrap();
    let guest = |code: &InviteCode| {
        let joiner = Identity::generate(&mut OsRng);
        let request = code.join_request(&joiner, now()).unwrap();
        (joiner, Credentials::Guest { request })
    };

    // Guests of the leaked invite fill their own cap and no more; members still get in.
    let alice = join(&url, &shell.owner, shell.creds(&TokenChain::owner()))
        .await
        .unwrap();
    let mut guests = Vec::new();
    for _ in 0..2 {
        let (joiner, creds) = guest(&leaked);
        guests.push(join(&url, &joiner, creds).await.unwrap());
    }
    for _ in 0..3 {
        let (joiner, creds) = guest(&leaked);
        assert_eq!(refused(join(&url, &joiner, creds).await), RefuseCode::Full);
    }
    let mut members = Vec::new();
    for _ in 0..4 {
        let (id, chain) = shell.member();
        members.push(join(&url, &id, shell.creds(&chain)).await.unwrap());
    }
    let sub_c = join(&url, &sub, shell.creds(&sub_chain)).await.unwrap();
    assert_eq!(server.stats()["peers"], 8);

    // The owner revokes the first admin: the admin it made is disconnected, and a guest of
    // that admin is refused although there is room for guests.
    let tombstone = Tombstone::issue(
        &empty,
        &shell.owner,
        &TokenChain::owner(),
        admin.peer_id(),
        Reason::Removed,
        now(),
    )
    .unwrap();
    alice.upload_tombstone(&tombstone.encode()).unwrap();
    assert_eq!(notice(&alice).await.code, NoticeCode::TombstoneAccepted);
    assert_eq!(closed_with(&sub_c).await, RefuseCode::Revoked);
    guests.pop().unwrap().close();
    until_peers(&server, 6).await;
    let (joiner, creds) = guest(&subs_invite);
    assert_eq!(
        refused(join(&url, &joiner, creds).await),
        RefuseCode::Revoked
    );
    // The room is real: a guest of the owner takes it.
    let (joiner, creds) = guest(&leaked);
    guests.push(join(&url, &joiner, creds).await.unwrap());

    // Everyone leaves; the shell is idle but holds a tombstone.
    alice.close();
    for c in guests.into_iter().chain(members) {
        c.close();
    }
    until_peers(&server, 0).await;
    assert_eq!(server.stats()["tombstones"], 1);

    // Outsiders' shells fill the server; making more never pushes out the idle shell.
    let mut outsiders = Vec::new();
    for _ in 0..2 {
        let other = Shell::new("outsider");
        outsiders.push(
            join(&url, &other.owner, other.creds(&TokenChain::owner()))
                .await
                .unwrap(),
        );
    }
    for _ in 0..5 {
        let other = Shell::new("outsider");
        assert_eq!(
            refused(join(&url, &other.owner, other.creds(&TokenChain::owner())).await),
            RefuseCode::Full
        );
    }
    assert_eq!(server.stats()["tombstones"], 1);
    assert_eq!(
        refused(join(&url, &admin, shell.creds(&admin_chain)).await),
        RefuseCode::Revoked
    );
    assert_eq!(
        refused(join(&url, &sub, shell.creds(&sub_chain)).await),
        RefuseCode::Revoked
    );
    let (joiner, creds) = guest(&subs_invite);
    assert_eq!(
        refused(join(&url, &joiner, creds).await),
        RefuseCode::Revoked
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_is_dropped_when_its_token_expires() {
    let server = ServerProcess::start(&[]);
    let url = server.url();
    let shell = Shell::new("raid");
    let bob = Identity::generate(&mut OsRng);
    let expires_at = Timestamp::from_millis(now().as_millis() + 1_500);
    let chain = TokenChain::issue(
        &syncshell_revocation::RevocationSet::new(shell.genesis.clone()),
        &shell.owner,
        &TokenChain::owner(),
        bob.peer_id(),
        Role::Member,
        now(),
        Some(expires_at),
        &mut OsRng,
    )
    .unwrap();
    let bob_c = join(&url, &bob, shell.creds(&chain)).await.unwrap();
    let gone = tokio::time::timeout(WAIT, bob_c.failed()).await.unwrap();
    assert!(now() >= expires_at, "dropped before the expiry");
    assert!(
        matches!(
            gone,
            Error::Refused {
                code: RefuseCode::NotAdmitted,
                ..
            }
        ),
        "{gone}"
    );
    assert_eq!(
        refused(join(&url, &bob, shell.creds(&chain)).await),
        RefuseCode::NotAdmitted
    );
}

/// A certificate authority and a server certificate it issued for 127.0.0.1, as PEM files
/// (`ca.pem`, `server.pem`, `server.key`, and `stray.key`, a key of no certificate).
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        pki::write_pki(dir.path());
        let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
        write(
            "stray.key",
            rcgen::KeyPair::generate().unwrap().serialize_pem(),
        );
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn arg(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_owned()
    }

    /// The relay's flags for this certificate.
    fn server_flags(&self) -> [String; 4] {
        [
            "--tls-cert".into(),
            self.arg("server.pem"),
            "--tls-key".into(),
            self.arg("server.key"),
        ]
    }
}

fn flags(f: &[String]) -> Vec<&str> {
    f.iter().map(String::as_str).collect()
}

#[track_caller]
fn tls_error(r: Result<SignalClient, Error>) -> String {
    match r {
        Err(Error::Tls(e)) => e,
        Err(e) => panic!("expected a TLS error, got {e}"),
        Ok(_) => panic!("expected a TLS error, got admitted"),
    }
}

#[track_caller]
fn config_error(r: Result<SignalClient, Error>) -> String {
    match r {
        Err(Error::Config(e)) => e,
        Err(e) => panic!("expected a settings error, got {e}"),
        Ok(_) => panic!("expected a settings error, got admitted"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_clients_trusting_the_ca_relay_and_others_are_refused() {
    let pki = Pki::new();
    let server = ServerProcess::start(&flags(&pki.server_flags()));
    let url = server.wss_url();
    let shell = Shell::new("raid");
    let (bob, bob_chain) = shell.member();
    let trusting = ClientOptions {
        ca_file: Some(pki.path("ca.pem")),
        ..options()
    };
    // A connection that never starts its handshake holds up nobody.
    let stalled = std::net::TcpStream::connect(&server.addr).unwrap();
    let alice = SignalClient::connect(
        &url,
        copy(&shell.owner),
        shell.creds(&TokenChain::owner()),
        trusting.clone(),
    )
    .await
    .unwrap();
    let bob_c = SignalClient::connect(&url, copy(&bob), shell.creds(&bob_chain), trusting)
        .await
        .unwrap();
    alice.send_app(&bob.peer_id(), b"offer over wss").unwrap();
    assert_eq!(
        recv_app(&bob_c).await,
        (shell.owner.peer_id(), Bytes::from_static(b"offer over wss"))
    );
    drop(stalled);

    // The system's roots alone do not vouch for a private CA: a TLS error, in time.
    let carol = shell.member();
    let alone = tokio::time::timeout(WAIT, join(&url, &carol.0, shell.creds(&carol.1)))
        .await
        .expect("refused in time, not hung");
    let why = tls_error(alone);
    assert!(why.contains("UnknownIssuer"), "{why}");
    // Nor does another CA (of the same name: its signature does not verify).
    let other = Pki::new();
    let wrong_ca = ClientOptions {
        ca_file: Some(other.path("ca.pem")),
        ..options()
    };
    let why = tls_error(
        SignalClient::connect(&url, copy(&carol.0), shell.creds(&carol.1), wrong_ca).await,
    );
    assert!(why.contains("invalid peer certificate"), "{why}");
    // ws:// to the TLS port is no WebSocket either.
    let plain = tokio::time::timeout(WAIT, join(&server.url(), &carol.0, shell.creds(&carol.1)))
        .await
        .expect("failed in time, not hung");
    assert!(matches!(plain, Err(Error::Connect(_))), "{plain:?}");

    // Unusable CA files are settings errors, before any connection.
    let with_ca = |path: PathBuf| ClientOptions {
        ca_file: Some(path),
        ..options()
    };
    for (path, expected) in [
        (pki.path("missing.pem"), "No such file"),
        (pki.path("server.key"), "no certificate in the PEM file"),
    ] {
        let why = config_error(
            SignalClient::connect(&url, copy(&carol.0), shell.creds(&carol.1), with_ca(path)).await,
        );
        assert!(why.contains(expected), "{why}");
    }
    let why = config_error(
        SignalClient::connect(
            &server.url(),
            copy(&carol.0),
            shell.creds(&carol.1),
            with_ca(pki.path("ca.pem")),
        )
        .await,
    );
    assert!(why.contains("a CA file is for wss:// URLs"), "{why}");
}

#[test]
fn bad_tls_and_ice_flags_stop_the_relay_with_a_clear_error() {
    let pki = Pki::new();
    let garbage = pki.path("garbage.pem");
    std::fs::write(&garbage, "not a PEM file\n").unwrap();
    let empty_secret = pki.path("empty-secret");
    std::fs::write(&empty_secret, "\n").unwrap();
    let secret = pki.path("secret");
    std::fs::write(&secret, "north-wind-42\n").unwrap();
    let (cert, key, stray) = (
        pki.arg("server.pem"),
        pki.arg("server.key"),
        pki.arg("stray.key"),
    );
    let (garbage, missing) = (garbage.to_str().unwrap().to_owned(), pki.arg("missing.pem"));
    let (empty_secret, secret) = (
        empty_secret.to_str().unwrap().to_owned(),
        secret.to_str().unwrap().to_owned(),
    );
    let cases: [(Vec<&str>, &str); 11] = [
        (vec!["--tls-cert", &cert], "--tls-key"),
        (vec!["--tls-key", &key], "--tls-cert"),
        (
            vec!["--tls-cert", &missing, "--tls-key", &key],
            "missing.pem: I/O error: No such file",
        ),
        (
            vec!["--tls-cert", &garbage, "--tls-key", &key],
            "garbage.pem: no certificate in the PEM file",
        ),
        (
            vec!["--tls-cert", &cert, "--tls-key", &garbage],
            "garbage.pem: no private key in the PEM file",
        ),
        (
            vec!["--tls-cert", &cert, "--tls-key", &stray],
            "the private key is not the certificate's",
        ),
        (
            vec!["--ice-server", "http://turn.example"],
            "the scheme is not stun:, turn: or turns:",
        ),
        (
            vec!["--ice-server", "stun:turn.example:99999"],
            "is not a number from 1 to 65535",
        ),
        (
            vec!["--ice-server", "turn:turn.example"],
            "turn: and turns: URLs need the TURN secret",
        ),
        (
            vec![
                "--ice-server",
                "turn:turn.example",
                "--turn-secret-file",
                &empty_secret,
            ],
            "the TURN secret is empty",
        ),
        (
            vec![
                "--ice-server",
                "turn:turn.example",
                "--turn-secret-file",
                &secret,
                "--turn-ttl",
                "10",
            ],
            "TURN credential lifetime",
        ),
    ];
    for (args, expected) in cases {
        let err = ServerProcess::fails_to_start(&args);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

/// coturn's check of a `use-auth-secret` password, written here from its documentation:
/// base64(HMAC-SHA1(secret, user name)).
fn coturn_password(secret: &[u8], username: &str) -> String {
    use base64::Engine as _;
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(secret).unwrap();
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The client's first grant with servers in it.
async fn grant(c: &SignalClient) -> IceGrant {
    let mut rx = c.ice_servers();
    let g = tokio::time::timeout(WAIT, rx.wait_for(|g| !g.servers.is_empty()))
        .await
        .expect("ICE servers arrive in time")
        .unwrap()
        .clone();
    g
}

/// Checks a TURN server of `g` against the coturn formula for `peer`, with a lifetime of
/// `ttl` seconds from a moment between `from` and now; returns its user name.
#[track_caller]
fn check_turn(
    g: &IceGrant,
    peer: &syncshell_identity::PeerId,
    secret: &[u8],
    from: u64,
    ttl: u64,
) -> String {
    let turn = &g.servers[1];
    assert_eq!(
        turn.urls,
        [
            "turn:turn.example:3478?transport=udp",
            "turns:turn.example:5349"
        ]
    );
    let (expiry, who) = turn.username.split_once(':').unwrap();
    assert_eq!(who, peer.to_string());
    assert!(who.starts_with("peer-"));
    let expiry: u64 = expiry.parse().unwrap();
    let to = now().as_millis() / 1000;
    assert!(
        (from + ttl..=to + ttl).contains(&expiry),
        "{expiry} not {ttl} s after {from}..={to}"
    );
    assert_eq!(g.expires_at, Some(Timestamp::from_millis(expiry * 1000)));
    assert_eq!(turn.credential, coturn_password(secret, &turn.username));
    turn.username.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_and_guests_get_ice_servers_with_coturn_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("turn-secret");
    std::fs::write(&secret_file, "north-wind-42\n").unwrap();
    let server = ServerProcess::start(&[
        "--ice-server",
        "stun:stun.example:3478",
        "--ice-server",
        "turn:turn.example:3478?transport=udp",
        "--ice-server",
        "turns:turn.example:5349",
        "--turn-secret-file",
        secret_file.to_str().unwrap(),
        "--turn-ttl",
        "600",
    ]);
    let url = server.url();
    let shell = Shell::new("raid");
    let from = now().as_millis() / 1000;
    let alice = join(&url, &shell.owner, shell.creds(&TokenChain::owner()))
        .await
        .unwrap();
    let g = grant(&alice).await;
    assert_eq!(g.servers.len(), 2, "{g:?}");
    assert_eq!(
        g.servers[0],
        IceServer {
            urls: vec!["stun:stun.example:3478".into()],
            ..IceServer::default()
        }
    );
    // The secret is the file less its newline.
    let username = check_turn(&g, &shell.owner.peer_id(), b"north-wind-42", from, 600);
    assert_ne!(
        g.servers[1].credential,
        coturn_password(b"north-wind-42\n", &username)
    );
    // The credential never shows in logs.
    assert!(!format!("{g:?}").contains(&g.servers[1].credential));

    // A guest needs them to reach its inviter, and gets its own.
    let (joiner, guest) = shell.guest(&url).await;
    check_turn(
        &grant(&guest).await,
        &joiner.peer_id(),
        b"north-wind-42",
        from,
        600,
    );
}

/// Connects raw and authenticates as a member; returns the socket after the welcome and the
/// list of members online that follows it.
async fn raw_member(url: &str, id: &Identity, shell: &Shell, chain: &TokenChain) -> Raw {
    let (mut ws, nonce, session) = raw(url).await;
    let signature = id.sign(
        AUTH_CONTEXT,
        &signed_bytes(&nonce, &session, &shell.genesis.id(), &id.peer_id()),
    );
    raw_send(
        &mut ws,
        &Frame::Hello {
            genesis: shell.genesis.encode(),
            chain: chain.encode(),
            peer: id.peer_id(),
            signature,
        },
    )
    .await;
    match raw_frame(&mut ws).await {
        Some(Frame::Welcome { .. }) => {}
        other => panic!("expected a welcome, got {other:?}"),
    }
    match raw_frame(&mut ws).await {
        Some(Frame::Presence {
            change: PresenceChange::All,
            ..
        }) => ws,
        other => panic!("expected the list of members online, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_revoked_after_connecting_gets_no_more_ice_servers() {
    let server = ServerProcess::start(&["--ice-server", "stun:stun.example"]);
    let url = server.url();
    let shell = Shell::new("raid");
    let (bob, bob_chain) = shell.member();
    let alice = join(&url, &shell.owner, shell.creds(&TokenChain::owner()))
        .await
        .unwrap();
    let mut bob_ws = raw_member(&url, &bob, &shell, &bob_chain).await;
    raw_send(&mut bob_ws, &Frame::IceRequest).await;
    assert_eq!(
        raw_frame(&mut bob_ws).await,
        Some(Frame::IceServers {
            expires: 0,
            servers: vec![IceServer {
                urls: vec!["stun:stun.example".into()],
                ..IceServer::default()
            }],
        })
    );
    let tombstone = Tombstone::issue(
        &syncshell_revocation::RevocationSet::new(shell.genesis.clone()),
        &shell.owner,
        &TokenChain::owner(),
        bob.peer_id(),
        Reason::Removed,
        now(),
    )
    .unwrap();
    alice.upload_tombstone(&tombstone.encode()).unwrap();
    assert_eq!(notice(&alice).await.code, NoticeCode::TombstoneAccepted);
    // Past the request interval, bob asks again: no servers, a refusal for revocation.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let _ = bob_ws
        .send(Message::Binary(Bytes::from(Frame::IceRequest.encode())))
        .await;
    match raw_frame(&mut bob_ws).await {
        Some(Frame::Refused { code, .. }) => assert_eq!(code, RefuseCode::Revoked),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(raw_frame(&mut bob_ws).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ice_servers_only_for_admitted_peers_and_at_most_once_a_second() {
    // A relay without ICE servers.
    let server = ServerProcess::start(&[]);
    let url = server.url();
    let shell = Shell::new("raid");
    let (bob, bob_chain) = shell.member();

    // Asked before any hello: refused, nothing granted.
    let (mut ws, _, _) = raw(&url).await;
    raw_send(&mut ws, &Frame::IceRequest).await;
    match raw_frame(&mut ws).await {
        Some(Frame::Refused { code, .. }) => assert_eq!(code, RefuseCode::NotAdmitted),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // A peer the relay does not admit never gets a client, nor anything else.
    let carol = Identity::generate(&mut OsRng);
    assert_eq!(
        refused(join(&url, &carol, shell.creds(&bob_chain)).await),
        RefuseCode::NotAdmitted
    );

    // An admitted member hears that there are none; asking again at once closes it.
    let mut bob_ws = raw_member(&url, &bob, &shell, &bob_chain).await;
    raw_send(&mut bob_ws, &Frame::IceRequest).await;
    assert_eq!(
        raw_frame(&mut bob_ws).await,
        Some(Frame::IceServers {
            expires: 0,
            servers: vec![],
        })
    );
    raw_send(&mut bob_ws, &Frame::IceRequest).await;
    match raw_frame(&mut bob_ws).await {
        Some(Frame::Refused { code, .. }) => assert_eq!(code, RefuseCode::RateLimited),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // The client asks once on its own, so it stays, with an empty grant.
    let alice = join(&url, &shell.owner, shell.creds(&TokenChain::owner()))
        .await
        .unwrap();
    let mut rx = alice.ice_servers();
    tokio::time::timeout(WAIT, rx.changed())
        .await
        .expect("an answer in time")
        .unwrap();
    assert_eq!(*rx.borrow(), IceGrant::default());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(alice.status(), Status::Connected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_relay_certificate_is_trusted_through_the_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let (cert, key) = (dir.path().join("relay.pem"), dir.path().join("relay.key"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let server = ServerProcess::start(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let shell = Shell::new("raid");
    let trusting = ClientOptions {
        ca_file: Some(cert),
        ..options()
    };
    let alice = SignalClient::connect(
        &server.wss_url(),
        copy(&shell.owner),
        shell.creds(&TokenChain::owner()),
        trusting,
    )
    .await
    .unwrap();
    assert_eq!(alice.status(), Status::Connected);
}

//! The `syncshell-signal` server, run as a process on 127.0.0.1 with port 0, and its client.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stdout
)]

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use rand_core::OsRng;
use syncshell_examples::signal::{
    signed_bytes, ClientOptions, Credentials, Frame, NoticeCode, RefuseCode, SignalClient,
    SignalError, Status, AUTH_CONTEXT,
};
use syncshell_identity::{
    Identity, InviteCode, InviteOptions, Role, ShellGenesis, Timestamp, TokenChain,
};
use syncshell_revocation::{Reason, Tombstone};
use syncshell_transport::{Connection, Transport};
use syncshell_webrtc::{WebRtcConfig, WebRtcTransport};
use tokio_tungstenite::tungstenite::Message;

#[path = "support/signal_server.rs"]
mod signal_server;

use signal_server::ServerProcess;

const WAIT: Duration = Duration::from_secs(10);

fn now() -> Timestamp {
    Timestamp::from_system_time(SystemTime::now())
}

fn copy(id: &Identity) -> Identity {
    Identity::from_secret_bytes(&id.to_secret_bytes())
}

/// A shell: its owner and genesis.
struct Shell {
    owner: Identity,
    genesis: ShellGenesis,
}

impl Shell {
    fn new(name: &str) -> Self {
        let owner = Identity::generate(&mut OsRng);
        let genesis = ShellGenesis::create(&owner, name, now(), &mut OsRng).unwrap();
        Shell { owner, genesis }
    }

    fn member(&self) -> (Identity, TokenChain) {
        let id = Identity::generate(&mut OsRng);
        let chain = TokenChain::issue(
            &syncshell_revocation::RevocationSet::new(self.genesis.clone()),
            &self.owner,
            &TokenChain::owner(),
            id.peer_id(),
            Role::Member,
            now(),
            None,
            &mut OsRng,
        )
        .unwrap();
        (id, chain)
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

async fn join(url: &str, id: &Identity, creds: Credentials) -> Result<SignalClient, SignalError> {
    SignalClient::connect(url, copy(id), creds, options()).await
}

async fn recv_app(c: &SignalClient) -> (syncshell_identity::PeerId, Bytes) {
    tokio::time::timeout(WAIT, c.recv_app())
        .await
        .expect("a blob arrives in time")
        .expect("the client is open")
}

async fn notice(c: &SignalClient) -> syncshell_examples::signal::Notice {
    tokio::time::timeout(WAIT, c.next_notice())
        .await
        .expect("a notice arrives in time")
        .expect("the client is open")
}

#[track_caller]
fn refused(r: Result<SignalClient, SignalError>) -> RefuseCode {
    match r {
        Err(SignalError::Refused { code, .. }) => code,
        Err(e) => panic!("expected a refusal, got {e}"),
        Ok(_) => panic!("expected a refusal, got admitted"),
    }
}

type Raw =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Waits for `c`'s connection to end and returns the code the server refused it with.
async fn closed_with(c: &SignalClient) -> RefuseCode {
    match tokio::time::timeout(WAIT, c.failed()).await.unwrap() {
        SignalError::Refused { code, .. } => code,
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
    let code = InviteCode::create(
        &syncshell_revocation::RevocationSet::new(shell.genesis.clone()),
        &shell.owner,
        &TokenChain::owner(),
        &InviteOptions::default(),
        now(),
        &mut OsRng,
    )
    .unwrap();
    let joiner = Identity::generate(&mut OsRng);
    let request = code.join_request(&joiner, now()).unwrap();
    let guest = join(&url, &joiner, Credentials::Guest { request })
        .await
        .unwrap();
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
        Err(SignalError::Connect(
            "not connected to the signal server".into()
        ))
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
            SignalError::Refused {
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

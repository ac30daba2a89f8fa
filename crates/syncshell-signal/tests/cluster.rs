//! Relays sharing one Redis (`Server::with_redis`): a real `redis-server` from the system,
//! started by each test on 127.0.0.1 with a free port and no persistence, and relays on
//! 127.0.0.1 in the test's process. Peers on different relays reach each other, a tombstone
//! given to one relay is enforced by the others, also by a relay started afterwards, and
//! relays carry on through a Redis restart. Members see who is online on every relay, and
//! the members of a relay that dies without a word leave the lists.
//!
//! Needs `redis-server` (Debian's `redis-server`, Redis 6 or newer); without it each test
//! says it is skipped, unless `SYNCSHELL_REQUIRE_REDIS` is set (CI sets it), in which case
//! it fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use syncshell_identity::{Identity, PeerId, TokenChain};
use syncshell_signal::{
    ClientOptions, Credentials, Error, IceConfig, Limits, NoticeCode, RedisConfig, RefuseCode,
    Server, SignalClient, Status,
};
use syncshell_testkit::{copy, TestShell};
use tokio::sync::oneshot;

#[path = "support/redis.rs"]
mod redis_server;

use redis_server::Redis;

const WAIT: Duration = Duration::from_secs(10);

/// A relay on 127.0.0.1 sharing `redis`, stopped when dropped.
struct Relay {
    server: Server,
    url: String,
    stop: Option<oneshot::Sender<()>>,
    /// The relay's own runtime, for one that can be killed.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Relay {
    async fn start(redis: &Redis) -> Relay {
        let relay = Relay::start_with(&redis.config()).await;
        relay.wait_health("ok").await;
        relay
    }

    /// A relay using `config`, maybe not reaching Redis.
    async fn start_with(config: &RedisConfig) -> Relay {
        let server = Server::with_redis(Limits::default(), IceConfig::default(), config)
            .expect("a redis URL");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let run = server.clone().run(listener, None, async move {
            let _ = stopped.await;
        });
        tokio::spawn(run);
        Relay {
            server,
            url,
            stop: Some(stop),
            runtime: None,
        }
    }

    /// A relay on a runtime of its own, which [`Relay::kill`] stops as a killed process
    /// stops: every task where it is, nothing said to Redis or to the clients.
    async fn start_killable(redis: &Redis) -> Relay {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("ws://{}/", listener.local_addr().unwrap());
        let server = {
            let _inside = runtime.enter();
            Server::with_redis(Limits::default(), IceConfig::default(), &redis.config())
                .expect("a redis URL")
        };
        let run = server.clone();
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            run.run(listener, None, std::future::pending()).await
        });
        let relay = Relay {
            server,
            url,
            stop: None,
            runtime: Some(runtime),
        };
        relay.wait_health("ok").await;
        relay
    }

    /// Stops a relay of [`Relay::start_killable`] dead.
    fn kill(mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }

    /// Waits until `/health` says `want`.
    async fn wait_health(&self, want: &str) {
        let deadline = Instant::now() + WAIT;
        while self.server.health() != want {
            assert!(
                Instant::now() < deadline,
                "health stayed {:?}, expected {want:?}",
                self.server.health()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A shell and its members' credentials for the relays.
struct Shell(TestShell);

impl Shell {
    fn new() -> Shell {
        Shell(TestShell::new("raid"))
    }

    fn creds(&self, chain: TokenChain) -> Credentials {
        Credentials::Member {
            genesis: self.0.genesis.clone(),
            chain,
        }
    }

    fn member(&self) -> (Identity, Credentials) {
        let (id, chain) = self.0.member();
        (id, self.creds(chain))
    }

    fn owner(&self) -> (Identity, Credentials) {
        (copy(&self.0.owner), self.creds(TokenChain::owner()))
    }

    fn tombstone(&self, revoked: PeerId) -> Vec<u8> {
        self.0.tombstone(revoked).encode()
    }
}

async fn connect(relay: &Relay, who: &(Identity, Credentials)) -> Result<SignalClient, Error> {
    let options = ClientOptions {
        reconnect: false,
        ..ClientOptions::default()
    };
    SignalClient::connect(&relay.url, copy(&who.0), who.1.clone(), options).await
}

async fn receive(c: &SignalClient) -> (PeerId, Vec<u8>) {
    let (from, blob) = tokio::time::timeout(WAIT, c.recv_app())
        .await
        .expect("a blob arrives in time")
        .expect("the client is open");
    (from, blob.to_vec())
}

async fn notice(c: &SignalClient) -> NoticeCode {
    tokio::time::timeout(WAIT, c.next_notice())
        .await
        .expect("a notice arrives in time")
        .expect("the client is open")
        .code
}

async fn closed_with(c: &SignalClient) -> RefuseCode {
    match tokio::time::timeout(WAIT, c.failed()).await.unwrap() {
        Error::Refused { code, .. } => code,
        e => panic!("expected a refusal, got {e}"),
    }
}

/// Waits until `c`'s presence list is exactly `want`.
async fn present(c: &SignalClient, want: &[&(Identity, Credentials)], within: Duration) {
    let want: BTreeSet<PeerId> = want.iter().map(|m| m.0.peer_id()).collect();
    let mut list = c.presence();
    let seen = tokio::time::timeout(within, list.wait_for(|p| *p == want)).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_on_two_relays_reach_each_other_and_only_each_other() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = (Relay::start(&redis).await, Relay::start(&redis).await);
    let shell = Shell::new();
    let (ava, bob) = (shell.member(), shell.member());
    let ava_c = connect(&a, &ava).await.unwrap();
    let bob_c = connect(&b, &bob).await.unwrap();

    ava_c.send_app(&bob.0.peer_id(), b"offer").unwrap();
    assert_eq!(receive(&bob_c).await, (ava.0.peer_id(), b"offer".to_vec()));
    bob_c.send_app(&ava.0.peer_id(), b"answer").unwrap();
    assert_eq!(receive(&ava_c).await, (bob.0.peer_id(), b"answer".to_vec()));

    // A member of another shell on relay B is not reachable from this shell.
    let other = Shell::new();
    let stranger = other.member();
    let _stranger_c = connect(&b, &stranger).await.unwrap();
    ava_c.send_app(&stranger.0.peer_id(), b"hello?").unwrap();
    assert_eq!(notice(&ava_c).await, NoticeCode::Unreachable);
    assert_eq!(a.server.stats()["redis"]["reachable"], true);

    // Each relay's /stats counts the whole cluster too (summed once a second): two relays,
    // three peers, two blobs delivered (each counted by the relay that delivered it).
    let deadline = Instant::now() + WAIT;
    loop {
        let cluster = a.server.stats()["redis"]["cluster"].clone();
        if cluster["relays"] == 2 && cluster["peers"] == 3 && cluster["relayed"] == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "cluster counts: {cluster}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tombstone_given_to_one_relay_is_enforced_by_every_relay() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = (Relay::start(&redis).await, Relay::start(&redis).await);
    let shell = Shell::new();
    let owner = shell.owner();
    let bob = shell.member();
    let owner_c = connect(&a, &owner).await.unwrap();
    let bob_c = connect(&b, &bob).await.unwrap();

    owner_c
        .upload_tombstone(&shell.tombstone(bob.0.peer_id()))
        .unwrap();
    assert_eq!(notice(&owner_c).await, NoticeCode::TombstoneAccepted);
    // Relay B hears of it and ends bob's connection, and refuses him from then on.
    assert_eq!(closed_with(&bob_c).await, RefuseCode::Revoked);
    assert_eq!(refused(connect(&b, &bob).await), RefuseCode::Revoked);
    // So does a relay started afterwards, which never saw the tombstone itself.
    let c = Relay::start(&redis).await;
    assert_eq!(refused(connect(&c, &bob).await), RefuseCode::Revoked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_serve_their_own_clients_while_redis_is_away_and_share_again_after() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let (a, b) = (Relay::start(&redis).await, Relay::start(&redis).await);
    let shell = Shell::new();
    let owner = shell.owner();
    let (ava, bob, cid) = (shell.member(), shell.member(), shell.member());
    let owner_c = connect(&a, &owner).await.unwrap();
    let ava_c = connect(&a, &ava).await.unwrap();
    let bob_c = connect(&b, &bob).await.unwrap();
    owner_c
        .upload_tombstone(&shell.tombstone(cid.0.peer_id()))
        .unwrap();
    assert_eq!(notice(&owner_c).await, NoticeCode::TombstoneAccepted);

    redis.stop();
    a.wait_health("ok; redis unreachable: serving local clients only")
        .await;
    // Peers on the same relay still reach each other; the other relay is out of reach.
    owner_c.send_app(&ava.0.peer_id(), b"local").unwrap();
    assert_eq!(
        receive(&ava_c).await,
        (owner.0.peer_id(), b"local".to_vec())
    );
    ava_c.send_app(&bob.0.peer_id(), b"far").unwrap();
    assert_eq!(notice(&ava_c).await, NoticeCode::Unreachable);
    // A member arriving at relay B meanwhile sees only who is there.
    let dan = shell.member();
    let dan_c = connect(&b, &dan).await.unwrap();
    present(&dan_c, &[&bob], WAIT).await;
    // The owner revokes eve, on relay B, meanwhile: relay A holds the tombstone, relay B
    // cannot hear of it.
    let eve = shell.member();
    let eve_c = connect(&b, &eve).await.unwrap();
    owner_c
        .upload_tombstone(&shell.tombstone(eve.0.peer_id()))
        .unwrap();
    assert_eq!(notice(&owner_c).await, NoticeCode::TombstoneAccepted);

    // A new, empty Redis: the relays store again where their peers are and the tombstones
    // they hold, so peers reach each other across relays, relay B closes eve, and a new relay
    // refuses cid.
    redis.restart();
    a.wait_health("ok").await;
    b.wait_health("ok").await;
    assert_eq!(closed_with(&eve_c).await, RefuseCode::Revoked);
    ava_c.send_app(&bob.0.peer_id(), b"again").unwrap();
    assert_eq!(receive(&bob_c).await, (ava.0.peer_id(), b"again".to_vec()));
    // And everyone's list is whole again, dan included.
    present(&ava_c, &[&owner, &bob, &dan], WAIT).await;
    present(&dan_c, &[&owner, &ava, &bob], WAIT).await;
    let c = Relay::start(&redis).await;
    assert_eq!(refused(connect(&c, &cid).await), RefuseCode::Revoked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_fails_over_to_the_next_relay_when_its_relay_goes_away() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = (Relay::start(&redis).await, Relay::start(&redis).await);
    let shell = Shell::new();
    let (ava, bob) = (shell.member(), shell.member());
    let options = ClientOptions {
        fallback_urls: vec![b.url.clone()],
        ..ClientOptions::default()
    };
    let ava_c = SignalClient::connect(&a.url, copy(&ava.0), ava.1.clone(), options)
        .await
        .unwrap();
    let bob_c = connect(&b, &bob).await.unwrap();
    ava_c.send_app(&bob.0.peer_id(), b"via a").unwrap();
    assert_eq!(receive(&bob_c).await, (ava.0.peer_id(), b"via a".to_vec()));

    let mut status = ava_c.watch_status();
    status.borrow_and_update();
    drop(a);
    // Every status change goes through `Connecting`: `Connected` after a change is the
    // client back, at relay B.
    loop {
        tokio::time::timeout(WAIT, status.changed())
            .await
            .expect("the client reconnects in time")
            .unwrap();
        if *status.borrow_and_update() == Status::Connected {
            break;
        }
    }
    bob_c.send_app(&ava.0.peer_id(), b"via b").unwrap();
    assert_eq!(receive(&ava_c).await, (bob.0.peer_id(), b"via b".to_vec()));
    assert_eq!(b.server.stats()["peers"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_see_who_is_online_on_every_relay_and_a_dead_relays_members_leave_the_lists() {
    let Some(redis) = Redis::start() else { return };
    let a = Relay::start(&redis).await;
    let b = Relay::start_killable(&redis).await;
    let shell = Shell::new();
    let (ava, bob, cid, dan) = (
        shell.member(),
        shell.member(),
        shell.member(),
        shell.member(),
    );
    let ava_c = connect(&a, &ava).await.unwrap();
    let bob_c = connect(&b, &bob).await.unwrap();
    // Bob's first list names ava, on the other relay; relay A tells ava that bob came.
    present(&bob_c, &[&ava], WAIT).await;
    present(&ava_c, &[&bob], WAIT).await;
    let cid_c = connect(&b, &cid).await.unwrap();
    present(&cid_c, &[&ava, &bob], WAIT).await;
    present(&ava_c, &[&bob, &cid], WAIT).await;
    cid_c.close();
    present(&ava_c, &[&bob], WAIT).await;
    present(&bob_c, &[&ava], WAIT).await;

    // Relay B dies without a word: relay A finds it no longer listening on its channel
    // (checked every second) and sends ava a new list without bob, deleting bob's stale
    // location from Redis on the way.
    b.kill();
    present(&ava_c, &[], WAIT).await;
    let mut redis_c = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let key = format!(
        "syncshell:v1:peers:{}",
        hex::encode(shell.0.genesis.id().as_bytes())
    );
    let located: Vec<Vec<u8>> = redis::cmd("HKEYS")
        .arg(&key)
        .query_async(&mut redis_c)
        .await
        .unwrap();
    assert_eq!(located, vec![ava.0.peer_id().as_bytes().to_vec()]);
    // A member arriving now sees only those that are there.
    let dan_c = connect(&a, &dan).await.unwrap();
    present(&dan_c, &[&ava], WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_use_a_redis_with_a_password_over_tls_and_a_relay_without_them_is_kept_out() {
    let Some(redis) = Redis::start_secured() else {
        return;
    };
    // Password from a file, TLS checked against the Redis's own CA.
    let (a, b) = (Relay::start(&redis).await, Relay::start(&redis).await);
    let shell = Shell::new();
    let (ava, bob, cid) = (shell.member(), shell.member(), shell.member());
    let ava_c = connect(&a, &ava).await.unwrap();
    let bob_c = connect(&b, &bob).await.unwrap();
    ava_c.send_app(&bob.0.peer_id(), b"over tls").unwrap();
    assert_eq!(
        receive(&bob_c).await,
        (ava.0.peer_id(), b"over tls".to_vec())
    );

    // A wrong password, no password, a CA that did not issue the certificate, or no TLS:
    // Redis refuses the relay, which serves its own clients only; a blob to a member on
    // another relay is unreachable.
    let wrong = tempfile::tempdir().unwrap();
    std::fs::write(wrong.path().join("password"), "hunter2\n").unwrap();
    std::fs::write(
        wrong.path().join("ca.pem"),
        std::fs::read_to_string(redis.path("server.pem")).unwrap(),
    )
    .unwrap();
    let ca = redis.path("ca.pem");
    let configs = [
        RedisConfig::new(redis.url())
            .with_password_file(&wrong.path().join("password"))
            .unwrap()
            .with_ca_file(&ca)
            .unwrap(),
        RedisConfig::new(redis.url()).with_ca_file(&ca).unwrap(),
        RedisConfig::new(redis.url())
            .with_password_file(&redis.path("password"))
            .unwrap()
            .with_ca_file(&wrong.path().join("ca.pem"))
            .unwrap(),
        RedisConfig::new(redis.url().replacen("rediss", "redis", 1))
            .with_password_file(&redis.path("password"))
            .unwrap(),
    ];
    for (i, config) in configs.iter().enumerate() {
        let outsider = Relay::start_with(config).await;
        let cid_c = connect(&outsider, &cid).await.unwrap();
        cid_c.send_app(&ava.0.peer_id(), b"let me in").unwrap();
        assert_eq!(notice(&cid_c).await, NoticeCode::Unreachable, "config {i}");
        assert_eq!(
            outsider.server.health(),
            "ok; redis unreachable: serving local clients only",
            "config {i}"
        );
        assert!(!format!("{config:?}").contains("horse"));
    }

    // A password file that is empty, or a CA file for a URL without TLS, is refused.
    std::fs::write(wrong.path().join("empty"), "\n").unwrap();
    assert!(RedisConfig::new(redis.url())
        .with_password_file(&wrong.path().join("empty"))
        .is_err());
    assert!(RedisConfig::new("redis://127.0.0.1:6379/")
        .with_ca_file(&ca)
        .is_err());
}

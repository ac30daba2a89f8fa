//! A signal server and three `syncshell-node` processes on 127.0.0.1: they form a shell,
//! share a folder, one is killed and restarted mid-transfer and resumes, one is revoked, and
//! everything ends consistent.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stdout
)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "support/node_proc.rs"]
mod node_proc;
#[path = "support/signal_server.rs"]
mod signal_server;

use node_proc::{make_pack, NodeProc, WAIT};
use signal_server::ServerProcess;

fn node(name: &'static str, data: &Path, url: &str, extra: &[&str]) -> NodeProc {
    NodeProc::spawn(
        name,
        Command::new(env!("CARGO_BIN_EXE_syncshell-node")),
        data,
        url,
        extra,
    )
}

fn members(s: &Value) -> Vec<String> {
    s["members"].as_object().unwrap().keys().cloned().collect()
}

fn list(s: &Value, key: &str) -> Vec<String> {
    s[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn changes_to_the_share_reach_a_linked_member_file_by_file() {
    let work = tempfile::tempdir().unwrap();
    let pack_dir = work.path().join("pack");
    make_pack(
        &pack_dir,
        &[("mods/a.pak", 300_000), ("mods/b.pak", 200_000)],
    );
    let server = ServerProcess::start(&[]);
    let url = server.url();
    let mut a = node(
        "Ava",
        &work.path().join("ava"),
        &url,
        &[
            "--create-shell",
            "Sync",
            "--share",
            pack_dir.to_str().unwrap(),
        ],
    );
    let a_peer = a.event("ready")["peer"].as_str().unwrap().to_owned();
    a.cmd("invite");
    let invite = a.event("invite")["text"].as_str().unwrap().to_owned();
    let received = work.path().join("got");
    // Each sharer's folder arrives in a folder of its own, named by its peer id.
    let got = received.join(&a_peer);
    let mut b = node(
        "Mira",
        &work.path().join("mira"),
        &url,
        &["--invite", &invite, "--receive", received.to_str().unwrap()],
    );
    let first = b.event("received");
    assert_eq!(first["files_received"], 2, "{first}");

    // A file added while the two are linked: announced, fetched, and only it is sent.
    let added = vec![7u8; 100_000];
    std::fs::write(pack_dir.join("mods/new.pak"), &added).unwrap();
    a.event("share-changed");
    let second = b.event("received");
    assert_eq!(second["files_received"], 1, "{second}");
    assert_eq!(second["files_present"], 2, "{second}");
    assert_eq!(second["bytes_received"], 100_000, "{second}");
    assert_eq!(std::fs::read(got.join("mods/new.pak")).unwrap(), added);

    // A file removed on the sharer leaves the receive folder for the versions folder; a
    // file the receiver changed itself is left alone.
    let b_before = std::fs::read(got.join("mods/b.pak")).unwrap();
    std::fs::write(got.join("mods/a.pak"), b"changed here").unwrap();
    std::fs::remove_file(pack_dir.join("mods/b.pak")).unwrap();
    std::fs::remove_file(pack_dir.join("mods/a.pak")).unwrap();
    a.event("share-changed");
    b.event("received");
    let removed = b.event("removed");
    assert_eq!(
        removed["paths"],
        serde_json::json!(["mods/b.pak"]),
        "{removed}"
    );
    assert!(!got.join("mods/b.pak").exists());
    let kept = Path::new(removed["folder"].as_str().unwrap()).join("mods/b.pak");
    assert!(
        kept.starts_with(work.path().join("mira").join("versions")),
        "{kept:?}"
    );
    assert_eq!(std::fs::read(kept).unwrap(), b_before);
    assert_eq!(
        std::fs::read(got.join("mods/a.pak")).unwrap(),
        b"changed here"
    );
    a.quit();
    b.quit();
}

#[test]
fn a_paused_member_receives_nothing_until_resumed_even_after_a_restart() {
    let work = tempfile::tempdir().unwrap();
    let pack_dir = work.path().join("pack");
    make_pack(&pack_dir, &[("mods/big.pak", 3_000_000)]);
    let server = ServerProcess::start(&[]);
    let url = server.url();
    let mut a = node(
        "Ava",
        &work.path().join("ava"),
        &url,
        &[
            "--create-shell",
            "Paced",
            "--share",
            pack_dir.to_str().unwrap(),
        ],
    );
    let a_peer = a.event("ready")["peer"].as_str().unwrap().to_owned();
    // One budget for all of Ava's uploads: 300 kB/s, so the pack takes about ten seconds.
    a.cmd("budget 300000");
    assert_eq!(a.event("budget")["bytes_per_second"], 300_000);
    a.cmd("budget fast");
    assert!(a.event("error")["message"]
        .as_str()
        .unwrap()
        .contains("positive number"));
    a.cmd("invite");
    let invite = a.event("invite")["text"].as_str().unwrap().to_owned();
    let received = work.path().join("got");
    let got = received.join(&a_peer);
    let mira_data = work.path().join("mira");
    let got_s = received.to_str().unwrap().to_owned();
    let mut b = node(
        "Mira",
        &mira_data,
        &url,
        &["--invite", &invite, "--receive", &got_s],
    );
    b.wait("some progress", |v| {
        v["event"] == "progress" && v["done"].as_u64().unwrap() > 0
    });
    b.cmd("pause");
    // The command's answer and the stopped transfer's event come in either order.
    b.event("paused");
    let stopped = match b.seen.iter().find(|v| v["event"] == "receive-failed") {
        Some(v) => v.clone(),
        None => b.event("receive-failed"),
    };
    assert!(
        stopped["error"].as_str().unwrap().contains("paused"),
        "{stopped}"
    );
    a.event("send-failed");
    b.quit();

    // Still paused after a restart: linked, but nothing is fetched.
    let mut b = node("Mira", &mira_data, &url, &["--receive", &got_s]);
    b.event("link-up");
    assert_eq!(b.status()["paused"], true);
    // Ava's events up to now: no transfer started on the new link.
    a.status();
    let sending = a.seen.iter().filter(|v| v["event"] == "sending").count();
    assert_eq!(sending, 1, "only the first, paused transfer");
    a.cmd("budget off");
    assert_eq!(a.event("budget")["bytes_per_second"], Value::Null);
    b.cmd("resume");
    b.event("resumed");
    let done = b.event("received");
    assert!(
        done["bytes_received"].as_u64().unwrap() < 3_000_000,
        "the transfer resumed from its partial file: {done}"
    );
    a.status();
    assert_eq!(a.seen.iter().filter(|v| v["event"] == "sending").count(), 2);
    assert_eq!(
        std::fs::read(got.join("mods/big.pak")).unwrap(),
        std::fs::read(pack_dir.join("mods/big.pak")).unwrap()
    );
    assert_eq!(a.status()["budget"], Value::Null);
    a.quit();
    b.quit();
}

#[test]
fn received_files_wait_for_approval_and_denied_content_never_comes_back() {
    let work = tempfile::tempdir().unwrap();
    let pack_dir = work.path().join("pack");
    let pack = make_pack(
        &pack_dir,
        &[("mods/a.pak", 100_000), ("mods/b.pak", 50_000)],
    );
    let server = ServerProcess::start(&[]);
    let url = server.url();
    let mut a = node(
        "Ava",
        &work.path().join("ava"),
        &url,
        &[
            "--create-shell",
            "Careful",
            "--share",
            pack_dir.to_str().unwrap(),
        ],
    );
    let a_peer = a.event("ready")["peer"].as_str().unwrap().to_owned();
    a.cmd("invite");
    let invite = a.event("invite")["text"].as_str().unwrap().to_owned();
    let received = work.path().join("got");
    let got = received.join(&a_peer);
    let got_s = received.to_str().unwrap().to_owned();
    let mira = work.path().join("mira");
    // A waiting file is named by its sharer's folder and its path there.
    let waiting_path = |rel: &str| format!("{a_peer}/{rel}");
    let mut b = node(
        "Mira",
        &mira,
        &url,
        &["--invite", &invite, "--receive", &got_s, "--approval"],
    );
    b.event("received");
    let mut waiting: Vec<String> = (0..2)
        .map(|_| b.event("waiting")["path"].as_str().unwrap().to_owned())
        .collect();
    waiting.sort();
    assert_eq!(
        waiting,
        [waiting_path("mods/a.pak"), waiting_path("mods/b.pak")]
    );
    assert!(
        !got.join("mods/a.pak").exists(),
        "nothing is placed before approval"
    );

    // A file is named as `waiting` lists it, or by its path in the share alone.
    b.cmd("approve mods/a.pak");
    assert_eq!(b.event("approved")["path"], waiting_path("mods/a.pak"));
    assert_eq!(std::fs::read(got.join("mods/a.pak")).unwrap(), pack[0].1);
    b.cmd(&format!("deny {}", waiting_path("mods/b.pak")));
    b.event("denied");
    b.cmd(&format!("approve {}", waiting_path("mods/b.pak")));
    assert!(b.event("error")["message"]
        .as_str()
        .unwrap()
        .contains("no received file waits"));
    assert!(!got.join("mods/b.pak").exists());
    assert!(!mira
        .join("incoming")
        .join(waiting_path("mods/b.pak"))
        .exists());

    // A new file comes: only it travels (the denied one is not fetched again) and waits.
    std::fs::write(pack_dir.join("mods/c.pak"), vec![3u8; 20_000]).unwrap();
    let second = b.event("received");
    assert_eq!(second["bytes_received"], 20_000, "{second}");
    assert_eq!(b.event("waiting")["path"], waiting_path("mods/c.pak"));
    b.quit();

    // After a restart the step is still on and the content still refused.
    let mut b = node("Mira", &mira, &url, &["--receive", &got_s]);
    let third = b.event("received");
    assert_eq!(third["bytes_received"], 0, "{third}");
    assert_eq!(b.event("waiting")["path"], waiting_path("mods/c.pak"));
    assert_eq!(b.status()["approval"], true);
    b.cmd(&format!("approve {}", waiting_path("mods/c.pak")));
    b.event("approved");
    assert_eq!(
        std::fs::read(got.join("mods/c.pak")).unwrap(),
        vec![3u8; 20_000]
    );
    assert!(!got.join("mods/b.pak").exists());
    a.quit();
    b.quit();
}

#[test]
fn three_nodes_share_resume_after_a_kill_and_revoke_a_member() {
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap();
    let pack_dir = work.path().join("pack");
    let pack = make_pack(
        &pack_dir,
        &[
            ("mods/textures/armour.tex", 2_500_000),
            ("mods/models/sword.mdl", 1_500_000),
            ("mods/readme.txt", 20_000),
        ],
    );
    let total: u64 = pack.iter().map(|(_, d)| d.len() as u64).sum();
    let server = ServerProcess::start(&[]);
    let url = server.url();
    let (a_data, b_data, c_data) = (
        work.path().join("ava"),
        work.path().join("mira"),
        work.path().join("jun"),
    );
    let (b_recv, c_recv) = (work.path().join("mira-got"), work.path().join("jun-got"));

    // The owner creates the shell and shares the pack, at 1 MB/s per member.
    let mut a = node(
        "Ava",
        &a_data,
        &url,
        &[
            "--create-shell",
            "Weekend raid",
            "--share",
            pack_dir.to_str().unwrap(),
            "--send-rate",
            "1000000",
        ],
    );
    let a_peer = a.event("ready")["peer"].as_str().unwrap().to_owned();
    a.cmd("invite");
    let invite_b = a.event("invite")["text"].as_str().unwrap().to_owned();
    a.cmd("invite");
    let invite_c = a.event("invite")["text"].as_str().unwrap().to_owned();

    let b_recv_s = b_recv.to_str().unwrap().to_owned();
    let mut b = node(
        "Mira",
        &b_data,
        &url,
        &["--invite", &invite_b, "--receive", &b_recv_s],
    );
    b.event("joined");
    let b_peer = b.event("ready")["peer"].as_str().unwrap().to_owned();
    let mut c = node(
        "Jun",
        &c_data,
        &url,
        &["--invite", &invite_c, "--receive", c_recv.to_str().unwrap()],
    );
    c.event("joined");
    let c_peer = c.event("ready")["peer"].as_str().unwrap().to_owned();

    // Mira is killed once a fifth of the pack has arrived, and restarted from her data.
    println!("joined after {:?}", started.elapsed());
    let p = b.wait("progress past 20%", |v| {
        v["event"] == "progress" && v["done"].as_u64().unwrap() * 5 > total
    });
    let at_kill = p["done"].as_u64().unwrap();
    assert!(at_kill < total, "the transfer finished before the kill");
    b.child.kill().unwrap();
    b.child.wait().unwrap();
    drop(b);
    let killed_at = Instant::now();
    let mut b = node("Mira", &b_data, &url, &["--receive", &b_recv_s]);
    assert_eq!(b.event("ready")["peer"], b_peer.as_str());
    let done = b.wait("a completed transfer", |v| v["event"] == "received");
    let resumed = done["bytes_received"].as_u64().unwrap();
    println!(
        "Mira killed at {at_kill} of {total} bytes; after restart received {resumed} bytes in {:?}",
        killed_at.elapsed()
    );
    assert_eq!(done["total"].as_u64().unwrap(), total);
    assert!(
        resumed + at_kill / 2 <= total,
        "the restart re-received {resumed} of {total} bytes: no resume"
    );
    c.wait("a completed transfer", |v| v["event"] == "received");
    for dest in [&b_recv, &c_recv] {
        for (rel, data) in &pack {
            let copy = dest.join(&a_peer).join(rel);
            assert_eq!(&std::fs::read(copy).unwrap(), data, "{rel:?}");
        }
    }
    println!("pack delivered after {:?}", started.elapsed());

    // Everyone links to everyone and the phonebooks agree.
    let mut all = vec![a_peer.clone(), b_peer.clone(), c_peer.clone()];
    all.sort();
    for n in [&mut a, &mut b, &mut c] {
        let me = n.status()["peer"].as_str().unwrap().to_owned();
        let others: Vec<String> = all.iter().filter(|p| **p != me).cloned().collect();
        let s = n.status_until("linked to both others with three members", |s| {
            list(s, "links") == others && members(s) == all
        });
        assert_eq!(s["signal"], "connected");
    }
    println!("fully linked after {:?}", started.elapsed());
    let sa = a.status();
    assert_eq!(sa["role"], "owner");
    assert_eq!(sa["members"][&b_peer], "Mira");
    assert_eq!(b.status()["members"], sa["members"]);

    // The owner revokes Jun: the server drops him, Mira learns through sync and unlinks.
    a.cmd(&format!("revoke {c_peer}"));
    a.event("revoked");
    let lost = c.event("signal-lost");
    assert!(
        lost["error"].as_str().unwrap().contains("Revoked"),
        "{lost}"
    );
    // Jun's node has nothing left to do: it says why and stops, its links with it.
    let why = c.event("error");
    assert!(
        why["message"]
            .as_str()
            .unwrap()
            .starts_with("this member was revoked from the shell"),
        "{why}"
    );
    let status = signal_server::exit_within(&mut c.child, "the revoked node");
    assert!(!status.success());
    let remaining = {
        let mut v = vec![a_peer.clone(), b_peer.clone()];
        v.sort();
        v
    };
    let sa = a.status_until("without Jun", |s| {
        list(s, "links") == [b_peer.clone()]
            && list(s, "revoked") == [c_peer.clone()]
            && members(s) == remaining
    });
    let sb = b.status_until("without Jun", |s| {
        list(s, "links") == [a_peer.clone()]
            && list(s, "revoked") == [c_peer.clone()]
            && members(s) == remaining
    });
    assert_eq!(sa["revocations_digest"], sb["revocations_digest"]);
    assert_eq!(sa["members"], sb["members"]);
    println!("revocation done after {:?}", started.elapsed());

    // The signal server goes away and comes back at the same address: the members
    // reconnect and show it their tombstones again.
    let addr = server.addr.clone();
    drop(server);
    let server = ServerProcess::start_at(&addr, &[]);
    a.event("signal-up");
    b.event("signal-up");
    let deadline = Instant::now() + WAIT;
    while server.stats()["tombstones"] != 1 {
        assert!(
            Instant::now() < deadline,
            "the tombstone never reached the new server"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("signal server back after {:?}", started.elapsed());

    // What was persisted: the restarted owner still refuses Jun and knows Mira.
    a.quit();
    let mut a = node("Ava", &a_data, &url, &[]);
    a.event("ready");
    let sa = a.status_until("linked to Mira again", |s| {
        list(s, "links") == [b_peer.clone()]
    });
    assert_eq!(list(&sa, "revoked"), vec![c_peer.clone()]);
    assert_eq!(members(&sa), remaining);
    for n in [a, b] {
        n.quit();
    }
    println!("whole run {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------------------
// A member played by the test itself, to say on a link what a well-behaved node never says.

use std::sync::Arc;

use rand_core::OsRng;
use syncshell_examples::wire::run_handshake;
use syncshell_identity::{Identity, KdfParams, KeyFile, Role, ShellGenesis, TokenChain};
use syncshell_member::{Direction, Info, LinkMessage};
use syncshell_reconnect::Local;
use syncshell_revocation::RevocationSet;
use syncshell_signal::{ClientOptions, Credentials, SignalClient, TransportSignaling};
use syncshell_stream::{receive_folder, Progress, ReceiveOptions, SessionKey};
use syncshell_testkit::{copy, now, TestShell};
use syncshell_transport::{Connection, Transport};
use syncshell_webrtc::{WebRtcConfig, WebRtcConnection, WebRtcTransport};

/// The number a test link fetches the node's share as (docs/spec/link.md § 2.3).
const TRANSFER_ID: u64 = 1;

/// A node's data folder holding the owner's key of `shell` (sealed under `name`'s
/// passphrase, with light KDF settings), the genesis and the owner's chain.
fn owner_data(shell: &TestShell, data: &Path, name: &str) {
    std::fs::create_dir_all(data).unwrap();
    let passphrase = format!("{name} passphrase");
    let params = KdfParams::new(64, 1, 1).unwrap();
    let key = KeyFile::seal(&shell.owner, passphrase.as_bytes(), params, &mut OsRng).unwrap();
    std::fs::write(data.join("key"), key.encode()).unwrap();
    std::fs::write(data.join("genesis"), shell.genesis.encode()).unwrap();
    std::fs::write(data.join("chain"), TokenChain::owner().encode()).unwrap();
}

/// The test's own member: its signal connection, its WebRTC transport, and a link to a node.
struct TestPeer {
    identity: Identity,
    genesis: ShellGenesis,
    chain: TokenChain,
    _signal: SignalClient,
    net: WebRtcTransport<TransportSignaling>,
}

/// An authenticated link from the test's member to a node.
struct TestLink {
    conn: Arc<WebRtcConnection>,
    key: SessionKey,
}

impl TestPeer {
    /// Connects to the signal server with `relay_chain`, and will link with `chain`.
    async fn join(
        url: &str,
        shell: &TestShell,
        identity: Identity,
        relay_chain: &TokenChain,
        chain: TokenChain,
    ) -> Self {
        let signal = SignalClient::connect(
            url,
            copy(&identity),
            Credentials::Member {
                genesis: shell.genesis.clone(),
                chain: relay_chain.clone(),
            },
            ClientOptions {
                reconnect: false,
                ..ClientOptions::default()
            },
        )
        .await
        .unwrap();
        let net = WebRtcTransport::new(
            signal.transport(),
            identity.peer_id().to_string(),
            WebRtcConfig::default(),
        );
        TestPeer {
            identity,
            genesis: shell.genesis.clone(),
            chain,
            _signal: signal,
            net,
        }
    }

    /// Dials `node` and runs the handshake as the initiator.
    async fn link(&self, node: &str) -> Result<TestLink, String> {
        let conn = tokio::time::timeout(WAIT, self.net.connect(node))
            .await
            .map_err(|_| "connect timed out".to_owned())?
            .map_err(|e| format!("connect: {e}"))?;
        let conn = Arc::new(conn);
        let revocations = RevocationSet::new(self.genesis.clone());
        let local = Local {
            identity: &self.identity,
            chain: &self.chain,
            revocations: &revocations,
        };
        let session = run_handshake(&conn, &local, true)
            .await
            .map_err(|e| e.to_string())?;
        Ok(TestLink {
            conn,
            key: SessionKey::from_bytes(*session.key()),
        })
    }
}

impl TestLink {
    async fn say(&self, m: LinkMessage) {
        self.conn
            .send(bytes::Bytes::from(m.encode()))
            .await
            .unwrap();
    }

    /// "I receive: send me your share as transfer 1", as a node says it on a new link: its
    /// info, then a fetch.
    async fn ask_for_the_share(&self) {
        self.say(LinkMessage::Info(Info {
            boot: 1,
            name: "test".into(),
            share: false,
            receive: true,
            share_version: 0,
        }))
        .await;
        self.say(LinkMessage::Fetch(TRANSFER_ID)).await;
    }

    /// Receives the node's share into `dest` through the stream crate, as a node does.
    async fn receive(
        &self,
        dest: &Path,
        progress: Option<tokio::sync::watch::Sender<Progress>>,
    ) -> Result<syncshell_stream::ReceiveReport, String> {
        let mut lane = TestLane {
            conn: self.conn.clone(),
        };
        let options = ReceiveOptions {
            progress,
            ..ReceiveOptions::default()
        };
        receive_folder(&mut lane, &self.key, dest, &options)
            .await
            .map_err(|e| e.to_string())
    }
}

/// The receiving side of a transfer on a test link: frames from the node's sender in, frames
/// to it out; every other message on the link is skipped.
struct TestLane {
    conn: Arc<WebRtcConnection>,
}

impl syncshell_stream::MessageConnection for TestLane {
    async fn send(&mut self, frame: Vec<u8>) -> std::io::Result<()> {
        let m = LinkMessage::Transfer {
            id: TRANSFER_ID,
            direction: Direction::ToSender,
            frame,
        };
        self.conn
            .send(bytes::Bytes::from(m.encode()))
            .await
            .map_err(std::io::Error::other)
    }

    async fn recv(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        loop {
            match self.conn.recv().await {
                Ok(Some(m)) => {
                    if let Ok(Some(LinkMessage::Transfer {
                        id: TRANSFER_ID,
                        direction: Direction::ToReceiver,
                        frame,
                    })) = LinkMessage::decode(&m)
                    {
                        return Ok(Some(frame));
                    }
                }
                Ok(None) => return Ok(None),
                Err(e) => return Err(std::io::Error::other(e)),
            }
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A relay and the owner, Ava, sharing a generated pack (`extra`: more node flags), for a
/// test member to link to.
struct Sharing {
    work: tempfile::TempDir,
    _server: ServerProcess,
    url: String,
    shell: TestShell,
    a: NodeProc,
    a_peer: String,
    rt: tokio::runtime::Runtime,
}

impl Sharing {
    fn start(files: &[(&str, usize)], extra: &[&str]) -> Self {
        let work = tempfile::tempdir().unwrap();
        let pack_dir = work.path().join("pack");
        make_pack(&pack_dir, files);
        let server = ServerProcess::start(&[]);
        let url = server.url();
        let shell = TestShell::new("Weekend raid");
        let a_data = work.path().join("ava");
        owner_data(&shell, &a_data, "Ava");
        let mut args = vec!["--share", pack_dir.to_str().unwrap()];
        args.extend_from_slice(extra);
        let mut a = node("Ava", &a_data, &url, &args);
        let a_peer = a.event("ready")["peer"].as_str().unwrap().to_owned();
        Sharing {
            work,
            _server: server,
            url,
            shell,
            a,
            a_peer,
            rt: runtime(),
        }
    }

    /// A new member joins through the relay (registered with `relay_chain`) and links to Ava
    /// with `chain`; returns its peer id text, the member and the link, once Ava reports it
    /// up.
    fn link_member(
        &mut self,
        relay_chain: &TokenChain,
        chain: TokenChain,
        member: Identity,
    ) -> (String, TestPeer, TestLink) {
        let me = member.peer_id().to_string();
        let peer = self.rt.block_on(TestPeer::join(
            &self.url,
            &self.shell,
            member,
            relay_chain,
            chain,
        ));
        let link = self.rt.block_on(peer.link(&self.a_peer)).unwrap();
        self.a.wait("the test member's link", |v| {
            v["event"] == "link-up" && v["peer"] == me.as_str()
        });
        (me, peer, link)
    }
}

#[test]
fn a_node_link_queue_is_bounded() {
    // A slow sender: while it sends chunks it reads nothing from the member.
    let mut t = Sharing::start(&[("mods/big.pak", 2_000_000)], &["--send-rate", "100000"]);
    let member = Identity::generate(&mut OsRng);
    let chain = t.shell.chain(member.peer_id(), Role::Member, None);
    let (me, _peer, link) = t.link_member(&chain.clone(), chain, member);
    let Sharing {
        work, mut a, rt, ..
    } = t;
    rt.block_on(link.ask_for_the_share());
    let (tx, mut progress) = tokio::sync::watch::channel(Progress::default());
    let receiving = {
        let conn = link.conn.clone();
        let key = link.key.clone();
        let dest = work.path().join("got");
        rt.spawn(async move { TestLink { conn, key }.receive(&dest, Some(tx)).await })
    };
    rt.block_on(async {
        tokio::time::timeout(WAIT, progress.wait_for(|p| p.bytes_done > 0)).await
    })
    .expect("the transfer starts in time")
    .unwrap();

    // Frames for the node's sender, far more than a receiver ever sends, while it is busy.
    rt.block_on(async {
        for _ in 0..1000 {
            if link
                .conn
                .send(bytes::Bytes::from(
                    LinkMessage::Transfer {
                        id: TRANSFER_ID,
                        direction: Direction::ToSender,
                        frame: vec![3; 1024],
                    }
                    .encode(),
                ))
                .await
                .is_err()
            {
                break;
            }
        }
    });
    let down = a.wait("the flooding member's link to end", |v| {
        v["event"] == "link-down" && v["peer"] == me.as_str()
    });
    assert_eq!(down["why"], "overloaded", "{down}");
    assert!(rt.block_on(receiving).unwrap().is_err());
    a.quit();
}

/// Runs `syncshell-node` on `data` until it exits (within a time limit); returns whether it
/// succeeded and what it printed on stderr.
fn run_to_exit(data: &Path, passphrase: &str, url: &str, args: &[&str]) -> (bool, String) {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_syncshell-node"))
        .arg("--data")
        .arg(data)
        .args(["--signal", url])
        .args(args)
        .env("SYNCSHELL_PASSPHRASE", passphrase)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = signal_server::exit_within(&mut child, &format!("syncshell-node {args:?}"));
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.success(), err)
}

#[test]
fn one_node_per_data_folder_and_bad_starts_are_refused_without_leftovers() {
    use std::os::unix::fs::PermissionsExt;
    let work = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&[]);
    let url = server.url();
    let data = work.path().join("ava");

    // A folder to share must exist.
    let (ok, err) = run_to_exit(
        &data,
        "Ava passphrase",
        &url,
        &["--create-shell", "Raid", "--share", "/nonexistent/mods"],
    );
    assert!(
        !ok && err.contains("--share /nonexistent/mods: not a folder"),
        "{err}"
    );

    let mut ava = node("Ava", &data, &url, &["--create-shell", "Raid"]);
    ava.event("ready");
    // Everything under the data folder is its owner's alone, the key file first.
    for entry in std::fs::read_dir(&data).unwrap() {
        let entry = entry.unwrap();
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{:?}", entry.file_name());
    }
    // A second node on the same folder is refused while the first runs.
    let (ok, err) = run_to_exit(&data, "Ava passphrase", &url, &[]);
    assert!(
        !ok && err.contains("another syncshell member is using this data folder"),
        "{err}"
    );
    ava.quit();

    // A wrong passphrase names the key file.
    let (ok, err) = run_to_exit(&data, "not Ava's", &url, &[]);
    let key = data.join("key");
    assert!(
        !ok && err.contains(&format!("cannot open the key file {}", key.display()))
            && err.contains("wrong passphrase"),
        "{err}"
    );

    // The folder holds a shell: creating or joining another there is refused.
    let (ok, err) = run_to_exit(&data, "Ava passphrase", &url, &["--create-shell", "Other"]);
    assert!(
        !ok && err.contains("--create-shell") && err.contains("already holds the shell \"Raid\""),
        "{err}"
    );

    // No passphrase and no terminal to ask on: a message, not a prompt nobody sees.
    let out = Command::new(env!("CARGO_BIN_EXE_syncshell-node"))
        .arg("--data")
        .arg(work.path().join("kim"))
        .args(["--signal", &url, "--create-shell", "Kim's"])
        .env_remove("SYNCSHELL_PASSPHRASE")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("no passphrase: set SYNCSHELL_PASSPHRASE, or run on a terminal"),
        "{err}"
    );
    assert!(!work.path().join("kim/key").exists());

    // A first start that fails (an invite that does not parse) leaves no key file behind,
    // so a retry with another passphrase gets past the key.
    let fresh = work.path().join("jun");
    let (ok, err) = run_to_exit(&fresh, "first try", &url, &["--invite", "not an invite"]);
    assert!(!ok && err.contains("the invite"), "{err}");
    assert!(!fresh.join("key").exists(), "a key file was left behind");
    let (ok, err) = run_to_exit(&fresh, "second try", &url, &["--invite", "not an invite"]);
    assert!(!ok && err.contains("the invite"), "{err}");
}

#[test]
fn a_node_starts_while_its_relay_is_down_and_connects_once_it_is_up() {
    let work = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("ws://127.0.0.1:{port}/");
    let mut ava = node(
        "Ava",
        &work.path().join("ava"),
        &url,
        &["--create-shell", "Raid"],
    );
    assert_eq!(ava.event("signal-waiting")["url"], url.as_str());
    ava.event("ready");
    let _server = ServerProcess::start_at(&format!("127.0.0.1:{port}"), &[]);
    ava.event("signal-up");
    ava.cmd("invite");
    ava.event("invite");
}

#[test]
fn stdin_commands_take_their_arguments_and_name_members_as_people_do() {
    let work = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&[]);
    let url = server.url();
    let mut ava = node(
        "Ava",
        &work.path().join("ava"),
        &url,
        &["--create-shell", "Raid"],
    );
    ava.event("ready");
    ava.cmd("help");
    let help = ava.event("help");
    assert!(
        help["commands"]
            .to_string()
            .contains("invite [member|admin]"),
        "{help}"
    );

    // Arguments are taken, or refused: never silently ignored.
    ava.cmd("invite admin --uses 3 --valid-for 2h");
    let event = ava.event("invite");
    assert_eq!(
        (event["uses"].as_u64(), event["role"].as_str()),
        (Some(3), Some("admin"))
    );
    let code: syncshell_identity::InviteCode = event["text"].as_str().unwrap().parse().unwrap();
    assert_eq!(code.invite().role(), Role::Admin);
    assert_eq!(code.invite().max_uses(), 3);
    let left = code.invite().expires_at().as_millis() - now().as_millis();
    assert!((7_000_000..=7_200_000).contains(&left), "{left} ms");
    for (bad, why) in [
        ("invite --uses 0", "a number from 1 to"),
        ("invite guest", "unknown argument \"guest\""),
        ("invite --valid-for never", "this must end"),
    ] {
        ava.cmd(bad);
        let e = ava.event("error");
        assert!(e["message"].as_str().unwrap().contains(why), "{bad}: {e}");
    }

    // `revoke` takes a display name (any case) or the start of an id.
    ava.cmd("invite");
    let invite = ava.event("invite")["text"].as_str().unwrap().to_owned();
    let mut mira = node(
        "Mira",
        &work.path().join("mira"),
        &url,
        &["--invite", &invite],
    );
    mira.event("joined");
    let mira_peer = mira.event("ready")["peer"].as_str().unwrap().to_owned();
    ava.status_until("knows Mira by name", |s| {
        s["members"][mira_peer.as_str()] == "Mira"
    });
    ava.cmd("revoke nobody");
    assert!(ava.event("error")["message"]
        .as_str()
        .unwrap()
        .contains("no member"));
    ava.cmd("revoke mira");
    assert_eq!(ava.event("revoked")["peer"], mira_peer.as_str());
}

#[test]
fn a_joiner_finds_the_relay_in_the_invite_and_says_while_it_waits_for_its_inviter() {
    let work = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&[]);
    let url = server.url();
    let (ava_data, jun_data) = (work.path().join("ava"), work.path().join("jun"));
    let mut ava = node("Ava", &ava_data, &url, &["--create-shell", "Raid"]);
    let ava_peer = ava.event("ready")["peer"].as_str().unwrap().to_owned();
    ava.cmd("invite");
    let invite = ava.event("invite")["text"].as_str().unwrap().to_owned();
    ava.quit();

    // No --signal: the invite names Ava's relay. Ava is offline, and Jun says he waits.
    let mut jun = node("Jun", &jun_data, "", &["--invite", &invite]);
    let waiting = jun.event("join-waiting");
    assert_eq!(waiting["inviter"], ava_peer.as_str());
    // Ava comes back (her relay remembered too) and answers.
    let mut ava = node("Ava", &ava_data, "", &[]);
    ava.event("ready");
    assert_eq!(jun.event("joined")["inviter"], ava_peer.as_str());
    let jun_peer = jun.event("ready")["peer"].as_str().unwrap().to_owned();
    // Each names the other as the other calls itself, before any phonebook sync.
    let up = ava.wait("Jun's link up", |e| {
        e["event"] == "link-up" && e["peer"] == jun_peer.as_str()
    });
    assert_eq!(up["name"], "Jun", "{up}");
    let up = jun.wait("Ava's link up", |e| e["event"] == "link-up");
    assert_eq!(up["name"], "Ava", "{up}");
    ava.status_until("linked to Jun", |s| list(s, "links") == [jun_peer.clone()]);
    // Jun remembers the relay as well: a restart without --signal links again.
    jun.quit();
    let mut jun = node("Jun", &jun_data, "", &[]);
    jun.event("ready");
    jun.status_until("linked to Ava", |s| list(s, "links") == [ava_peer.clone()]);
    jun.quit();

    // An inviter that never comes: a clear error when the wait is over.
    ava.cmd("invite");
    let invite = ava.event("invite")["text"].as_str().unwrap().to_owned();
    ava.quit();
    let (ok, err) = run_to_exit(
        &work.path().join("kim"),
        "Kim passphrase",
        &url,
        &["--invite", &invite, "--join-timeout", "3"],
    );
    assert!(
        !ok && err.contains(&format!(
            "the inviter {} did not come online within 3 s",
            &ava_peer[..13]
        )),
        "{err}"
    );
}

#[test]
fn a_member_whose_process_dies_is_noticed_within_seconds() {
    let work = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&[]);
    let url = server.url();
    let mut ava = node(
        "Ava",
        &work.path().join("ava"),
        &url,
        &["--create-shell", "Raid"],
    );
    ava.event("ready");
    ava.cmd("invite");
    let invite = ava.event("invite")["text"].as_str().unwrap().to_owned();
    let mut jun = node(
        "Jun",
        &work.path().join("jun"),
        &url,
        &["--invite", &invite],
    );
    let jun_peer = jun.event("ready")["peer"].as_str().unwrap().to_owned();
    ava.status_until("linked to Jun", |s| list(s, "links") == [jun_peer.clone()]);

    // Jun's process dies without a word. The relay sees his connection close and tells Ava,
    // who pings him over the link and ends it when no answer comes.
    let killed = Instant::now();
    jun.child.kill().unwrap();
    let down = ava.wait("Jun's link down", |e| {
        e["event"] == "link-down" && e["peer"] == jun_peer.as_str()
    });
    assert_eq!(down["why"], "no answer", "{down}");
    println!("a dead member noticed after {:?}", killed.elapsed());
    ava.quit();
}

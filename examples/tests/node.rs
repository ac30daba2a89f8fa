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

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "support/signal_server.rs"]
mod signal_server;

use signal_server::ServerProcess;

const WAIT: Duration = Duration::from_secs(30);

/// One node process, its stdin and its stdout events.
struct NodeProc {
    name: &'static str,
    child: Child,
    stdin: ChildStdin,
    events: mpsc::Receiver<Value>,
    seen: Vec<Value>,
}

fn node(name: &'static str, data: &Path, url: &str, extra: &[&str]) -> NodeProc {
    let mut child = Command::new(env!("CARGO_BIN_EXE_syncshell-node"))
        .arg("--data")
        .arg(data)
        .args(["--signal", url, "--name", name])
        .args([
            "--backoff-base-ms",
            "200",
            "--backoff-max-ms",
            "2000",
            "--sync-interval",
            "1",
        ])
        .args(extra)
        .env("SYNCSHELL_PASSPHRASE", format!("{name} passphrase"))
        .env(
            "RUST_LOG",
            std::env::var("NODE_TEST_LOG").unwrap_or_else(|_| "error".into()),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, events) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            match serde_json::from_str::<Value>(&line) {
                Ok(v) => {
                    if tx.send(v).is_err() {
                        return;
                    }
                }
                Err(_) => println!("not JSON: {line}"),
            }
        }
    });
    NodeProc {
        name,
        child,
        stdin,
        events,
        seen: Vec::new(),
    }
}

impl NodeProc {
    fn cmd(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// The next event that satisfies `want` (earlier ones are kept in `seen`).
    fn wait(&mut self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(v) => {
                    if std::env::var_os("NODE_TEST_TRACE").is_some() {
                        println!("{:>8.3} {}: {v}", trace_clock(), self.name);
                    }
                    self.seen.push(v.clone());
                    if v["event"] == "error" {
                        println!("{}: {v}", self.name);
                    }
                    if want(&v) {
                        return v;
                    }
                }
                Err(_) => panic!(
                    "{}: no {what} in time; events: {:#?}",
                    self.name,
                    self.seen.iter().rev().take(30).collect::<Vec<_>>()
                ),
            }
        }
    }

    fn event(&mut self, name: &str) -> Value {
        self.wait(name, |v| v["event"] == name)
    }

    fn status(&mut self) -> Value {
        self.cmd("status");
        self.event("status")
    }

    /// Polls `status` until `ok` holds.
    fn status_until(&mut self, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let s = self.status();
            if ok(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{}: never {what}; last status {s:#}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn quit(mut self) {
        self.cmd("quit");
        self.event("bye");
        // Handshakes fail only for a reason (a revoked peer), never by running out of time:
        // that happened when a message between the WebRTC peers was lost.
        let timeouts: Vec<&Value> = self
            .seen
            .iter()
            .filter(|v| {
                v["event"] == "refused"
                    && v["error"]
                        .as_str()
                        .is_some_and(|e| e.contains("took too long") || e.contains("timed out"))
            })
            .collect();
        assert!(
            timeouts.is_empty(),
            "{}: handshakes timed out: {timeouts:#?}",
            self.name
        );
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "{} exited with {status}", self.name);
                return;
            }
            assert!(Instant::now() < deadline, "{} did not exit", self.name);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A folder of a few files with pseudo-random bytes; returns its files.
fn make_pack(root: &Path, files: &[(&str, usize)]) -> Vec<(PathBuf, Vec<u8>)> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::new();
    for (rel, size) in files {
        let mut data = Vec::with_capacity(*size);
        while data.len() < *size {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.extend_from_slice(&x.to_le_bytes());
        }
        data.truncate(*size);
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &data).unwrap();
        out.push((PathBuf::from(rel), data));
    }
    out
}

/// Seconds since the first call, for tracing events.
fn trace_clock() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
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
            assert_eq!(&std::fs::read(dest.join(rel)).unwrap(), data, "{rel:?}");
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
    c.status_until("with no links", |s| list(s, "links").is_empty());
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
    for n in [a, b, c] {
        n.quit();
    }
    println!("whole run {:?}", started.elapsed());
}

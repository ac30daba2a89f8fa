//! What a member costs, one JSON line a figure:
//!
//! - `member_events_per_s`: link messages a `Member` takes in per second — chat lines from a
//!   linked member, each one `handle_message` giving one event — in a `Sim` of two members
//!   (the simulation's own carrying of messages is counted in the time);
//! - `member_memory_per_link`: resident memory per link end when `N` members of a `Sim` are
//!   all linked to each other (for each `N` of `--members`, each in a fresh process), with
//!   the resident memory per member and the time the `N` members took to link from knowing
//!   only the owner;
//! - `change_bytes_vs_folder`: bytes on the connection when a receiver fetches a folder of
//!   `--files` files of which one changed, against fetching the whole folder into an empty
//!   receive folder (the stream crate's folder adapter over an in-process connection);
//! - `change_to_linked_members_ms`: time from writing one file into a sharer's folder until
//!   each of `--receivers` linked members has received it, with real `Node`s in this process
//!   (WebRTC on 127.0.0.1, a relay on 127.0.0.1, the folder watcher), as the median and the
//!   slowest of `--rounds` changes.
//!
//! `cargo run --release -p syncshell-benches --bin member_report`
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use rand_core::OsRng;
use serde_json::json;
use syncshell_identity::{InviteLedger, TokenChain};
use syncshell_member::{
    wall_clock, ChatKind, Config, Event, Folders, Member, Node, Settings, Shell, Storage, Stored,
};
use syncshell_phonebook::Phonebook;
use syncshell_signal::{ClientOptions, Credentials, IceConfig, Limits, Server, SignalClient};
use syncshell_stream::{
    receive_folder, send_folder, ChannelConnection, MessageConnection, ReceiveOptions, SendOptions,
    SessionKey,
};
use syncshell_testkit::{copy, now, Sim, TestShell};
use syncshell_webrtc::{WebRtcConfig, WebRtcTransport};

#[derive(Debug, Parser)]
struct Args {
    /// Sizes of the fully linked simulations to measure memory with.
    #[arg(long, value_delimiter = ',', default_value = "10,100,500")]
    members: Vec<usize>,
    /// Chat lines for the event rate.
    #[arg(long, default_value_t = 200_000)]
    lines: usize,
    /// Files in the shared folder of the change measurement.
    #[arg(long, default_value_t = 1000)]
    files: usize,
    /// Bytes of each of those files.
    #[arg(long, default_value_t = 64 * 1024)]
    file_size: usize,
    /// Members that receive the sharer's changes.
    #[arg(long, default_value_t = 10)]
    receivers: usize,
    /// Changes to time.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Measure the memory of this many members only (in a fresh process: this program runs
    /// itself so, once for each size).
    #[arg(long, hide = true)]
    only_memory: Option<usize>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(n) = args.only_memory {
        memory(n);
        return ExitCode::SUCCESS;
    }
    event_rate(args.lines);
    for &n in &args.members {
        let run = std::env::current_exe().and_then(|exe| {
            std::process::Command::new(exe)
                .args(["--only-memory", &n.to_string()])
                .status()
        });
        if !run.is_ok_and(|s| s.success()) {
            eprintln!("member_report: the memory run of {n} members failed");
            return ExitCode::FAILURE;
        }
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("member_report: {e}");
            return ExitCode::FAILURE;
        }
    };
    let latency = runtime.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(300),
            change_latency(args.receivers, args.rounds),
        )
        .await
        .map_err(|_| "the change latency run took over 300 s".to_owned())?
    });
    match latency.and_then(|()| change_ratio(args.files, args.file_size)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("member_report: {e}");
            ExitCode::FAILURE
        }
    }
}

fn shell(test: &TestShell, chain: TokenChain) -> Shell {
    Shell {
        genesis: test.genesis.clone(),
        chain,
        phonebook: Phonebook::new(test.genesis.clone()),
        ledger: InviteLedger::new(),
        settings: Settings::default(),
    }
}

/// The owner and `n - 1` members who know only the owner.
fn simulation(n: usize) -> Sim {
    let test = TestShell::new("report");
    let mut sim = Sim::new(now());
    let config = |name: String| Config {
        name,
        // As the node sets it: a member reaches many members at once.
        policy: syncshell_reconnect::BackoffPolicy {
            max_attempts_per_minute: 600,
            ..syncshell_reconnect::BackoffPolicy::default()
        },
        ..Config::default()
    };
    sim.add(
        copy(&test.owner),
        shell(&test, TokenChain::owner()),
        config("owner".into()),
    );
    for i in 1..n {
        let (id, chain) = test.member();
        sim.add(id, shell(&test, chain), config(format!("m{i}")));
    }
    sim
}

fn event_rate(lines: usize) {
    let mut sim = simulation(2);
    sim.advance(Duration::from_secs(30));
    let started = Instant::now();
    let batch = 1000;
    let mut sent = 0;
    while sent < lines {
        for _ in 0..batch {
            let _ = sim
                .member_mut(0)
                .member
                .chat(ChatKind::Text, "a line of about forty bytes, for the rate");
        }
        sim.run();
        sent += batch;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let got = sim
        .member(1)
        .events
        .iter()
        .filter(|e| matches!(e, syncshell_member::Event::Chat { .. }))
        .count();
    println!(
        "{}",
        json!({
            "name": "member_events_per_s",
            "events": got,
            "seconds": elapsed,
            "ours": (got as f64 / elapsed).round(),
            "unit": "link messages/s",
        })
    );
}

/// Resident memory of this process, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn memory(n: usize) {
    let before = rss();
    let started = Instant::now();
    let mut sim = simulation(n);
    let mut waited = Duration::ZERO;
    while !sim.fully_linked() && waited < Duration::from_secs(3600) {
        sim.advance(Duration::from_secs(10));
        waited += Duration::from_secs(10);
    }
    let linked = sim.fully_linked();
    let took = started.elapsed().as_secs_f64();
    // What the simulation keeps besides the members (their events) is cleared first.
    for i in 0..sim.len() {
        sim.member_mut(i).events = Vec::new();
    }
    let grown = rss().saturating_sub(before);
    let ends = n * (n - 1);
    println!(
        "{}",
        json!({
            "name": "member_memory_per_link",
            "members": n,
            "fully_linked": linked,
            "simulated_seconds_to_link": waited.as_secs(),
            "wall_seconds": took,
            "rss_bytes": grown,
            "per_member_bytes": grown / n as u64,
            "ours": grown / ends.max(1) as u64,
            "unit": "bytes per link end",
        })
    );
}

/// A connection that counts the bytes it sends.
struct Counting {
    inner: ChannelConnection,
    sent: u64,
}

impl MessageConnection for Counting {
    async fn send(&mut self, message: Vec<u8>) -> std::io::Result<()> {
        self.sent += message.len() as u64;
        self.inner.send(message).await
    }

    async fn recv(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        self.inner.recv().await
    }
}

/// Bytes both ends put on the connection to bring `dest` up to `share`.
async fn fetch(share: &std::path::Path, dest: &std::path::Path) -> Result<u64, String> {
    let (a, b) = ChannelConnection::pair(64);
    let key = SessionKey::from_bytes([7; 32]);
    let mut tx = Counting { inner: a, sent: 0 };
    let mut rx = Counting { inner: b, sent: 0 };
    let (send, receive) = (SendOptions::default(), ReceiveOptions::default());
    let (s, r) = tokio::join!(
        send_folder(&mut tx, &key, share, &send),
        receive_folder(&mut rx, &key, dest, &receive),
    );
    s.map_err(|e| e.to_string())?;
    r.map_err(|e| e.to_string())?;
    Ok(tx.sent + rx.sent)
}

fn change_ratio(files: usize, size: usize) -> Result<(), String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let share = work.path().join("share");
    let dest = work.path().join("dest");
    for i in 0..files {
        let path = share.join(format!("mods/{:03}/file-{i}.pak", i % 100));
        std::fs::create_dir_all(path.parent().unwrap_or(&share)).map_err(|e| e.to_string())?;
        let data: Vec<u8> = (0..size).map(|j| (i * 31 + j * 7) as u8).collect();
        std::fs::write(&path, data).map_err(|e| e.to_string())?;
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let full = runtime.block_on(fetch(&share, &dest))?;
    std::fs::write(share.join("mods/000/file-0.pak"), vec![0xee; size])
        .map_err(|e| e.to_string())?;
    let change = runtime.block_on(fetch(&share, &dest))?;
    println!(
        "{}",
        json!({
            "name": "change_bytes_vs_folder",
            "files": files,
            "file_size": size,
            "ours": change,
            "baseline": full,
            "ratio": change as f64 / full as f64,
            "unit": "bytes",
        })
    );
    Ok(())
}

/// The node's records in memory.
#[derive(Default)]
struct MemStorage(std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>);

impl Storage for MemStorage {
    fn save(&self, _: Stored, _: &Member) -> Result<(), String> {
        Ok(())
    }

    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        Ok(self.0.lock().map_err(|e| e.to_string())?.get(name).cloned())
    }

    fn put(&self, name: &str, bytes: &[u8]) -> Result<(), String> {
        self.0
            .lock()
            .map_err(|e| e.to_string())?
            .insert(name.to_owned(), bytes.to_vec());
        Ok(())
    }
}

/// Waits for a `Received` event with `files_received` at least `files` on `events`.
async fn received(
    events: &mut tokio::sync::mpsc::Receiver<Event>,
    files: usize,
) -> Result<(), String> {
    while let Some(e) = events.recv().await {
        if let Event::Received { files_received, .. } = e {
            if files_received >= files {
                return Ok(());
            }
        }
    }
    Err("a node stopped".to_owned())
}

async fn change_latency(receivers: usize, rounds: usize) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let url = format!(
        "ws://{}/",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = Server::new(Limits::default(), IceConfig::default());
    tokio::spawn(server.run(listener, None, async move {
        let _ = stopped.await;
    }));
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let share = work.path().join("share");
    std::fs::create_dir_all(&share).map_err(|e| e.to_string())?;
    std::fs::write(share.join("first.pak"), vec![1u8; 100_000]).map_err(|e| e.to_string())?;
    let test = TestShell::new("latency");
    let mut nodes = Vec::new();
    let mut events = Vec::new();
    for i in 0..=receivers {
        let (identity, chain) = if i == 0 {
            (copy(&test.owner), TokenChain::owner())
        } else {
            test.member()
        };
        let signal = SignalClient::connect(
            &url,
            copy(&identity),
            Credentials::Member {
                genesis: test.genesis.clone(),
                chain: chain.clone(),
            },
            ClientOptions::default(),
        )
        .await
        .map_err(|e| e.to_string())?;
        let net = WebRtcTransport::new(
            signal.transport(),
            identity.peer_id().to_string(),
            WebRtcConfig::default(),
        );
        let config = Config {
            name: format!("n{i}"),
            share: i == 0,
            receive: i > 0,
            policy: syncshell_reconnect::BackoffPolicy {
                base: Duration::from_millis(500),
                max: Duration::from_secs(5),
                max_attempts_per_minute: 600,
                ..syncshell_reconnect::BackoffPolicy::default()
            },
            ..Config::default()
        };
        let member = Member::new(identity, shell(&test, chain), config, wall_clock(), OsRng)
            .map_err(|e| e.to_string())?;
        let folders = Folders {
            share: (i == 0).then(|| share.clone()),
            receive: (i > 0).then(|| work.path().join(format!("got-{i}"))),
            ..Folders::default()
        };
        let (node, ev) = Node::start(member, net, signal, folders, MemStorage::default());
        nodes.push(node);
        events.push(ev);
    }
    // Everyone has the first file.
    for ev in events.iter_mut().skip(1) {
        received(ev, 1).await?;
    }
    let mut times = Vec::new();
    for round in 0..rounds {
        let started = Instant::now();
        std::fs::write(
            share.join(format!("change-{round}.pak")),
            vec![round as u8; 100_000],
        )
        .map_err(|e| e.to_string())?;
        for ev in events.iter_mut().skip(1) {
            received(ev, 1).await?;
        }
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    for n in &nodes {
        n.shutdown().await;
    }
    let _ = stop.send(());
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "{}",
        json!({
            "name": "change_to_linked_members_ms",
            "receivers": receivers,
            "rounds": times,
            "ours": sorted.get(sorted.len() / 2),
            "slowest": sorted.last(),
            "unit": "ms from writing one file (100 kB) until every receiver has it",
        })
    );
    Ok(())
}

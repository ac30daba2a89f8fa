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
//!   receive folder (the stream crate's folder adapter over an in-process connection).
//!
//! `cargo run --release -p syncshell-benches --bin member_report`
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;
use syncshell_identity::{InviteLedger, TokenChain};
use syncshell_member::{ChatKind, Config, Settings, Shell};
use syncshell_phonebook::Phonebook;
use syncshell_stream::{
    receive_folder, send_folder, ChannelConnection, MessageConnection, ReceiveOptions, SendOptions,
    SessionKey,
};
use syncshell_testkit::{copy, now, Sim, TestShell};

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
    match change_ratio(args.files, args.file_size) {
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

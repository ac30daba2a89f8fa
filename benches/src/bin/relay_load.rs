//! Load on the signaling relay: `--members` simulated members in each of `--shells` shells,
//! connected round-robin to `--relays` relay processes on 127.0.0.1 (more than one share a
//! `redis-server` this program starts), then pairs of members bounce blobs through the
//! relays for `--seconds`. Prints one JSON line: connect time, the relays' resident memory
//! per connected member, relayed blobs per second, per relay CPU-second and per Redis
//! CPU-second, and the p50 and p99 one-way latency of a blob (sender to receiver, both in
//! this process).
//!
//! `cargo run --release -p syncshell-benches --bin relay_load -- --relays 1 --shells 100 --members 100`
//!
//! Bounded: every phase has a deadline, the load lasts `--seconds`, and the relays and Redis
//! are child processes that end with this one (a relay stops when its stdin closes).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use syncshell_identity::Identity;
use syncshell_signal::{
    ClientOptions, Credentials, IceConfig, Limits, RedisConfig, Server, SignalClient,
};
use syncshell_testkit::TestShell;

#[derive(Debug, Parser)]
struct Args {
    /// Relay processes (more than one share a Redis).
    #[arg(long, default_value_t = 1)]
    relays: usize,
    /// Shells.
    #[arg(long, default_value_t = 10)]
    shells: usize,
    /// Members per shell (an even number: members bounce blobs in pairs).
    #[arg(long, default_value_t = 10)]
    members: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Bytes per blob.
    #[arg(long, default_value_t = 256)]
    blob: usize,
    /// Run one relay (used by this program for its children): bind 127.0.0.1:0, print
    /// `listening ADDR`, serve until stdin closes.
    #[arg(long, hide = true)]
    serve: bool,
    /// The Redis of `--serve`.
    #[arg(long, hide = true)]
    redis: Option<String>,
}

/// A phase that takes longer than this has failed.
const DEADLINE: Duration = Duration::from_secs(300);

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("relay_load: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = if args.serve {
        runtime.block_on(serve(args.redis))
    } else {
        runtime.block_on(load(args))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("relay_load: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One relay with limits raised for the load: every member comes from 127.0.0.1.
async fn serve(redis: Option<String>) -> Result<(), String> {
    let limits = Limits {
        connections_per_ip: 1_000_000,
        messages_per_second: 10_000,
        max_shells: 1_000_000,
        max_peers_per_shell: 1_000_000,
        ..Limits::default()
    };
    let server = match redis {
        Some(url) => Server::with_redis(limits, IceConfig::default(), &RedisConfig::new(url))
            .map_err(|e| e.to_string())?,
        None => Server::new(limits, IceConfig::default()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "listening {}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        let _ = tx.send(());
    });
    server
        .run(listener, None, async move {
            let _ = rx.await;
        })
        .await
        .map_err(|e| e.to_string())
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    /// Resident memory (`VmRSS`) in KiB.
    fn rss_kib(&self) -> u64 {
        proc_field(self.0.id(), "status", |text| {
            text.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
    }

    /// CPU time used (user + system) in clock ticks.
    fn cpu_ticks(&self) -> u64 {
        proc_field(self.0.id(), "stat", |text| {
            // Fields after the command name in parentheses; utime and stime are 14 and 15.
            let rest = text.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some(utime + stime)
        })
    }
}

fn proc_field(pid: u32, file: &str, parse: impl Fn(&str) -> Option<u64>) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .ok()
        .and_then(|t| parse(&t))
        .unwrap_or(0)
}

/// A `redis-server` on a free port of 127.0.0.1, without persistence.
fn start_redis() -> Result<(Proc, String), String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("redis-server: {e} (install Debian's redis-server)"))?;
    let proc = Proc(child);
    let until = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > until {
            return Err("redis-server did not listen".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((proc, format!("redis://127.0.0.1:{port}/")))
}

/// Starts a relay child process; returns it and its URL.
fn start_relay(redis: Option<&str>) -> Result<(Proc, String), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    cmd.arg("--serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .env("RUST_LOG", "warn");
    if let Some(url) = redis {
        cmd.args(["--redis", url]);
    }
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let proc = Proc(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let addr = line
        .trim()
        .strip_prefix("listening ")
        .ok_or_else(|| format!("relay said {line:?}"))?;
    Ok((proc, format!("ws://{addr}/")))
}

/// Waits until the relay at `url` (`ws://ADDR/`) answers `/health` with `ok`.
fn wait_healthy(url: &str) -> Result<(), String> {
    use std::io::Write;
    let addr = url
        .trim_start_matches("ws://")
        .trim_end_matches('/')
        .to_owned();
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let mut body = String::new();
        if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
            let _ = write!(
                s,
                "GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
            );
            let _ = s.read_to_string(&mut body);
        }
        if body.ends_with("\r\n\r\nok") {
            return Ok(());
        }
        if Instant::now() > until {
            return Err(format!("relay {url} not healthy: {body:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The members of one shell: identity and credentials.
fn shell_members(n: usize) -> Vec<(Identity, Credentials)> {
    let shell = TestShell::new("load");
    (0..n)
        .map(|_| {
            let (id, chain) = shell.member();
            let creds = Credentials::Member {
                genesis: shell.genesis.clone(),
                chain,
            };
            (id, creds)
        })
        .collect()
}

async fn load(args: Args) -> Result<(), String> {
    if args.relays == 0 || args.shells == 0 || args.members < 2 || args.members % 2 != 0 {
        return Err("--relays and --shells at least 1, --members even and at least 2".into());
    }
    let redis = if args.relays > 1 {
        Some(start_redis()?)
    } else {
        None
    };
    let url = redis.as_ref().map(|(_, url)| url.as_str());
    let relays: Vec<(Proc, String)> = (0..args.relays)
        .map(|_| start_relay(url))
        .collect::<Result<_, _>>()?;
    // Shared relays are ready once Redis answered them (`/health` says `ok`).
    for (_, url) in &relays {
        wait_healthy(url)?;
    }
    let rss_before: u64 = relays.iter().map(|(p, _)| p.rss_kib()).sum();

    // Members connect round-robin over the relays, 64 at a time; partners (2k, 2k+1) land on
    // different relays whenever there are several.
    let mut members = Vec::new();
    for _ in 0..args.shells {
        members.extend(shell_members(args.members));
    }
    let total = members.len();
    let options = ClientOptions {
        keepalive: None,
        reconnect: false,
        ..ClientOptions::default()
    };
    let started = Instant::now();
    let urls: Vec<String> = relays.iter().map(|(_, u)| u.clone()).collect();
    let mut clients: Vec<Option<SignalClient>> = Vec::with_capacity(total);
    for (chunk_at, chunk) in members.chunks(64).enumerate() {
        let mut joins = Vec::new();
        for (i, (id, creds)) in chunk.iter().enumerate() {
            let n = chunk_at * 64 + i;
            let url = urls.get(n % urls.len()).cloned().unwrap_or_default();
            let id = Identity::from_secret_bytes(&id.to_secret_bytes());
            let creds = creds.clone();
            let options = options.clone();
            joins.push(tokio::spawn(async move {
                SignalClient::connect(&url, id, creds, options).await
            }));
        }
        for j in joins {
            let client = j
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            clients.push(Some(client));
        }
        if started.elapsed() > DEADLINE {
            return Err("connecting took too long".into());
        }
    }
    let connect = started.elapsed();
    let rss_after: u64 = relays.iter().map(|(p, _)| p.rss_kib()).sum();

    // Load: even members send, odd ones echo; each pair keeps one blob in flight.
    let epoch = Instant::now();
    let stop_at = epoch + Duration::from_secs(args.seconds);
    let delivered = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::<u64>::new()));
    let cpu_before: u64 = relays.iter().map(|(p, _)| p.cpu_ticks()).sum();
    let redis_ticks = || redis.as_ref().map(|(p, _)| p.cpu_ticks());
    let redis_before = redis_ticks();
    let mut tasks = Vec::new();
    for pair in 0..total / 2 {
        let (Some(a), Some(b)) = (
            clients.get_mut(2 * pair).and_then(Option::take),
            clients.get_mut(2 * pair + 1).and_then(Option::take),
        ) else {
            continue;
        };
        let delivered = delivered.clone();
        let latencies = latencies.clone();
        let blob = args.blob.max(8);
        tasks.push(tokio::spawn(async move {
            let (pa, pb) = (a.peer(), b.peer());
            let mut mine = Vec::new();
            let stamp = |epoch: Instant| {
                let nanos = epoch.elapsed().as_nanos() as u64;
                let mut v = nanos.to_le_bytes().to_vec();
                v.resize(blob, 0);
                v
            };
            let took = |epoch: Instant, b: &[u8]| {
                let sent = b.get(..8).and_then(|s| <[u8; 8]>::try_from(s).ok());
                sent.map(|s| {
                    (epoch.elapsed().as_nanos() as u64).saturating_sub(u64::from_le_bytes(s))
                })
            };
            while Instant::now() < stop_at {
                if a.send_app(&pb, &stamp(epoch)).is_err() {
                    break;
                }
                let Ok(Some((_, got))) =
                    tokio::time::timeout(Duration::from_secs(5), b.recv_app()).await
                else {
                    break;
                };
                mine.extend(took(epoch, &got));
                if b.send_app(&pa, &stamp(epoch)).is_err() {
                    break;
                }
                let Ok(Some((_, back))) =
                    tokio::time::timeout(Duration::from_secs(5), a.recv_app()).await
                else {
                    break;
                };
                mine.extend(took(epoch, &back));
                delivered.fetch_add(2, Ordering::Relaxed);
            }
            if let Ok(mut all) = latencies.lock() {
                all.extend(mine);
            }
            (a, b)
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = epoch.elapsed().as_secs_f64();
    let cpu_after: u64 = relays.iter().map(|(p, _)| p.cpu_ticks()).sum();
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let relay_cpu = (cpu_after.saturating_sub(cpu_before)) as f64 / ticks_per_second;
    let redis_cpu = redis_ticks()
        .zip(redis_before)
        .map(|(after, before)| after.saturating_sub(before) as f64 / ticks_per_second);
    let n = delivered.load(Ordering::Relaxed) as f64;
    let mut lat = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p).round() as usize)
            .map_or(0.0, |ns| *ns as f64 / 1e6)
    };
    let report = serde_json::json!({
        "relays": args.relays,
        "shells": args.shells,
        "members": total,
        "blob_bytes": args.blob,
        "connect_s": connect.as_secs_f64(),
        "relay_rss_mib": rss_after as f64 / 1024.0,
        "relay_kib_per_member": (rss_after.saturating_sub(rss_before)) as f64 / total as f64,
        "seconds": elapsed,
        "blobs_per_s": n / elapsed,
        "relay_cpu_s": relay_cpu,
        "blobs_per_relay_cpu_s": if relay_cpu > 0.0 { n / relay_cpu } else { 0.0 },
        "redis_cpu_s": redis_cpu,
        "blobs_per_redis_cpu_s": redis_cpu.filter(|c| *c > 0.0).map(|c| n / c),
        "latency_p50_ms": pct(0.50),
        "latency_p99_ms": pct(0.99),
    });
    println!("{report}");
    drop(relays);
    drop(redis);
    Ok(())
}

//! `syncshell-netlab`: network figures from a small internet in network namespaces.
//!
//! `syncshell-netlab matrix` (the default): for every pair of networks (every pair of home NAT
//! kinds, and a public member with each) it builds the internet with the relay and coturn on
//! its public side, lets two `syncshell-node` processes form a shell by invite and share a
//! 64 MiB folder, and prints one JSON line per pair: connected, path, candidate kinds, set-up
//! and handshake times, RTT, transfer time. It starts the `syncshell-node` and
//! `syncshell-signal` binaries beside its own.
//!
//! `syncshell-netlab links`: for loss 0 / 0.1 / 1 / 5 % and round trips 0 / 20 / 80 ms between
//! two public hosts, one JSON line each with the throughput of one syncshell WebRTC connection
//! and of TCP moving the same bytes over the same path in the same run, the ratio, and the
//! WebRTC connect time; then two lines for a receiver whose UDP receive buffer is 64 KiB
//! (what Chromium asks for) and 4 MiB.
//!
//! `syncshell-netlab share`: one WebRTC and one TCP transfer started together over the same
//! rate-limited path (round trips 20 and 80 ms, loss 0 and 1 %), to see how they share it.
//!
//! Run as root after building the examples:
//!
//! ```sh
//! cargo build --release -p syncshell-examples
//! sudo target/release/syncshell-netlab links
//! ```
//!
//! Needs iproute2, nftables and coturn. The tests (`examples/tests/internet.rs`,
//! `examples/tests/links.rs`) check the behaviour; this binary only reports.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde_json::json;
use syncshell_examples::netlab::links;
use syncshell_examples::netlab::matrix::{self, Programs, World, PACK, PAIRS};
use syncshell_examples::netlab::{Host, Lab, LabError, Shape};
use syncshell_webrtc::WebRtcConfig;

#[derive(Parser)]
#[command(
    version,
    about = "Network figures from a small internet in network namespaces"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Members across every pair of NAT kinds: path, set-up times, a 64 MiB share.
    Matrix,
    /// One WebRTC connection against TCP over shaped paths (loss x round trip).
    Links(LinkArgs),
    /// One WebRTC and one TCP connection at the same time over the same shaped path: how
    /// they share its rate limit (default round trips 20 and 80 ms, loss 0 and 1 %).
    Share(LinkArgs),
}

#[derive(clap::Args)]
struct LinkArgs {
    /// MiB moved per transfer.
    #[arg(long, default_value_t = 32)]
    mib: u64,
    /// Rate limit of paths with a delay, in Mbit/s (paths without one run at veth speed).
    #[arg(long, default_value_t = 100)]
    rate_mbit: u32,
    /// Queue of that rate limiter, in ms.
    #[arg(long, default_value_t = 50)]
    queue_ms: u64,
    /// Seconds a transfer may take before it counts as not finished.
    #[arg(long, default_value_t = 120)]
    limit_secs: u64,
    /// Only these loss rates, in percent (repeatable; default 0, 0.1, 1, 5).
    #[arg(long)]
    loss: Vec<f64>,
    /// Only these round trips, in ms (repeatable; default 0, 20, 80).
    #[arg(long)]
    rtt: Vec<u64>,
    /// Runs per path: the line shows the median TCP and the median WebRTC transfer.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=9))]
    runs: u32,
    /// The TCP sender's congestion control (`cubic`, `bbr`, `reno`: what the kernel offers);
    /// default: the system's.
    #[arg(long)]
    tcp_cc: Option<String>,
}

impl LinkArgs {
    /// How long a transfer may take before it counts as not finished.
    fn limit(&self) -> Duration {
        Duration::from_secs(self.limit_secs)
    }
}

fn main() -> ExitCode {
    let failed = match Cli::parse().command.unwrap_or(Command::Matrix) {
        Command::Matrix => return run_matrix(),
        Command::Links(args) => run_links(&args),
        Command::Share(args) => run_share(&args),
    };
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The shapes `args` asks for: every round trip (default `rtts`) with every loss rate
/// (default `losses`), rate-limited where `limit_all` or the round trip is not 0.
fn shapes(args: &LinkArgs, losses: &[f64], rtts: &[u64], limit_all: bool) -> Vec<Shape> {
    let losses = if args.loss.is_empty() {
        losses
    } else {
        &args.loss
    };
    let rtts = if args.rtt.is_empty() { rtts } else { &args.rtt };
    let mut shapes = vec![];
    for &rtt in rtts {
        for &loss in losses {
            let limited = (limit_all || rtt > 0) && args.rate_mbit > 0;
            shapes.push(Shape {
                loss_basis_points: (loss * 100.0).round() as u32,
                rate_kbit: limited.then_some(args.rate_mbit * 1000),
                queue: Duration::from_millis(args.queue_ms),
                one_way_delay: Duration::from_millis(rtt / 2),
            });
        }
    }
    shapes
}

/// A lab of two public hosts whose path through the core is shaped by `shape`.
fn shaped_pair(shape: &Shape) -> Result<(Lab, Host, Host), LabError> {
    let mut lab = Lab::new()?;
    let a = lab.add_public_host()?;
    let b = lab.add_public_host()?;
    lab.shape(shape)?;
    Ok((lab, a, b))
}

/// Every shape of `args`, then the receive-buffer pair; true if a line was an error.
fn run_links(args: &LinkArgs) -> bool {
    let mut failed = false;
    let mut run = |shape: Shape, mib: u64, receive_buffer: usize| {
        let line = compare(&shape, mib, receive_buffer, args);
        failed |= print_line(line, &shape);
    };
    for shape in shapes(args, &[0.0, 0.1, 1.0, 5.0], &[0, 20, 80], false) {
        run(shape, args.mib, DEFAULT_BUFFER);
    }
    // A receiver with a small UDP receive buffer (Chromium's), then the default one.
    for buffer in [64 * 1024, DEFAULT_BUFFER] {
        run(Shape::default(), 2 * args.mib, buffer);
    }
    failed
}

/// For every shape of `args` (round trips 20 and 80 ms and loss 0 and 1 % by default), a
/// WebRTC and a TCP transfer of `args.mib` each, started together over one path; true if a
/// line was an error.
fn run_share(args: &LinkArgs) -> bool {
    let mut failed = false;
    for shape in shapes(args, &[0.0, 1.0], &[20, 80], true) {
        failed |= print_line(share(&shape, args), &shape);
    }
    failed
}

/// A TCP transfer (on its own thread) and a WebRTC transfer of `args.mib` each, started
/// together from one public host to another over a core shaped by `shape`. Each rate is over its own transfer:
/// the one that finishes first had the path to itself for none of its time.
fn share(shape: &Shape, args: &LinkArgs) -> Result<serde_json::Value, LabError> {
    let (_lab, a, b) = shaped_pair(shape)?;
    let (bytes, limit) = (args.mib * 1024 * 1024, args.limit());
    let (tcp, webrtc) = std::thread::scope(|scope| {
        let tcp = scope.spawn(|| links::tcp(&a, &b, bytes, args.tcp_cc.as_deref(), limit));
        let config = WebRtcConfig::default();
        let webrtc = links::webrtc(&a, &b, bytes, config.clone(), config, limit);
        (tcp.join(), webrtc)
    });
    let (tcp, cc) = tcp.unwrap_or_else(|_| {
        Err(LabError::Command {
            command: "the TCP transfer's thread".to_owned(),
            detail: "it panicked".to_owned(),
        })
    })?;
    let webrtc = webrtc?;
    let mut line = links::report_line(shape, &tcp, &[("webrtc", &webrtc)]);
    if let Some(fields) = line.as_object_mut() {
        fields.insert("tcp_cc".into(), json!(cc));
        fields.insert("together".into(), json!(true));
        fields.insert(
            "tcp_elapsed_s".into(),
            json!((tcp.elapsed.as_secs_f64() * 100.0).round() / 100.0),
        );
        fields.insert(
            "webrtc_elapsed_s".into(),
            json!((webrtc.elapsed.as_secs_f64() * 100.0).round() / 100.0),
        );
    }
    Ok(line)
}

/// The WebRTC backend's UDP buffer size.
const DEFAULT_BUFFER: usize = 4 * 1024 * 1024;

/// TCP (with the congestion control `args.tcp_cc`, or the system's) and the WebRTC backend,
/// from one public host to another over a core shaped by `shape`, the receiver's UDP buffer
/// being `receive_buffer`, `args.runs` times each in turn in one lab.
fn compare(
    shape: &Shape,
    mib: u64,
    receive_buffer: usize,
    args: &LinkArgs,
) -> Result<serde_json::Value, LabError> {
    let (_lab, a, b) = shaped_pair(shape)?;
    let (bytes, limit) = (mib * 1024 * 1024, args.limit());
    let run = || -> Result<_, LabError> {
        let (tcp, cc) = links::tcp(&a, &b, bytes, args.tcp_cc.as_deref(), limit)?;
        let mut receiver = WebRtcConfig::default();
        receiver.socket_buffer_size = receive_buffer;
        let webrtc = links::webrtc(&a, &b, bytes, WebRtcConfig::default(), receiver, limit)?;
        Ok((tcp, cc, webrtc))
    };
    let (tcp, cc, webrtc) = run()?;
    let (mut tcps, mut webrtcs) = (vec![tcp], vec![webrtc]);
    for _ in 1..args.runs {
        let (tcp, _, webrtc) = run()?;
        tcps.push(tcp);
        webrtcs.push(webrtc);
    }
    let (tcp, webrtc) = (median(tcps), median(webrtcs));
    let mut line = links::report_line(shape, &tcp, &[("webrtc", &webrtc)]);
    if let Some(fields) = line.as_object_mut() {
        fields.insert("receive_buffer_kib".into(), json!(receive_buffer / 1024));
        fields.insert("tcp_cc".into(), json!(cc));
        fields.insert("runs".into(), json!(args.runs));
    }
    Ok(line)
}

/// The transfer of median throughput of `runs` (not empty).
fn median(mut runs: Vec<links::Transfer>) -> links::Transfer {
    runs.sort_by(|x, y| x.mib_per_s().total_cmp(&y.mib_per_s()));
    let middle = runs.len() / 2;
    runs.swap_remove(middle)
}

/// Prints the line, or the error as a line; true if it was an error.
fn print_line(line: Result<serde_json::Value, LabError>, shape: &Shape) -> bool {
    match line {
        Ok(line) => {
            println!("{line}");
            false
        }
        Err(e) => {
            println!(
                "{}",
                json!({ "shape": shape.to_string(), "error": e.to_string() })
            );
            true
        }
    }
}

fn run_matrix() -> ExitCode {
    let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.to_owned()))
    else {
        eprintln!("syncshell-netlab: cannot find the folder of its own binary");
        return ExitCode::FAILURE;
    };
    let programs = Programs {
        node: dir.join("syncshell-node"),
        signal: dir.join("syncshell-signal"),
    };
    for p in [&programs.node, &programs.signal] {
        if !p.exists() {
            eprintln!(
                "syncshell-netlab: {} is missing: build the examples first",
                p.display()
            );
            return ExitCode::FAILURE;
        }
    }
    let bytes: u64 = PACK.iter().map(|(_, n)| *n as u64).sum();
    let mut failed = false;
    for (a, b) in PAIRS {
        let outcome = Lab::new()
            .and_then(|lab| World::start(lab, programs.clone()))
            .and_then(|mut world| {
                matrix::share_across(&mut world, a, b, &PACK).map(|(shared, ..)| shared)
            });
        let line = match outcome {
            Ok(shared) => shared.report(a, b, bytes),
            Err(e) => {
                failed = true;
                json!({ "a": a.to_string(), "b": b.to_string(), "error": e.to_string() })
            }
        };
        println!("{line}");
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

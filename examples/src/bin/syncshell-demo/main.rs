//! The syncshell demo: one command, no arguments, nothing beyond 127.0.0.1.
//!
//! Four members in one process, each a `syncshell_member::Node` — the composition a plugin
//! or `syncshell-node` runs — over real WebRTC data channels on 127.0.0.1 (or the in-memory
//! backend with injected faults), finding each other through a relay on 127.0.0.1. The story
//! is commands to members and what their events say: the owner creates a shell and invites a
//! member as an admin; invites are pasted through a simulated chat and joined through the
//! relay; every member links to every other with the mutual handshake; the phonebooks
//! converge; the admin shares a generated mod pack (many files, 64 MiB by default) with
//! progress bars, under a bandwidth budget until one receiver's link is killed part way; that
//! receiver links again and fetches only what it lacks; every hash is checked; the owner
//! revokes a member, every link to it ends and the relay refuses it, and a pack update reaches
//! only the others. It ends with a summary table and exits non-zero if any check failed.
#![allow(clippy::print_stdout)]

mod pack;
mod report;
mod story;

use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, ValueEnum};
use syncshell_signal::{IceConfig, Limits, Server};
use syncshell_transport::{Faults, MemNetwork, Transport};

use crate::pack::WorkDir;
use crate::story::{launch_webrtc, launch_with, Settings, Story, NAMES};

/// Which backend the nodes talk over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    /// WebRTC data channels on 127.0.0.1 (DTLS, SCTP), signaling in-process.
    Webrtc,
    /// The in-memory backend, with the fault options below.
    Mem,
}

/// Runs a whole syncshell story in one process: members join, link, sync phonebooks, share a
/// mod pack through a killed link, and throw one member out.
#[derive(Debug, Parser)]
#[command(name = "syncshell-demo", version)]
struct Args {
    /// The backend the nodes talk over.
    #[arg(long, value_enum, default_value_t = Backend::Webrtc)]
    transport: Backend,
    /// Members in the shell: the owner, the admin who shares, and the others; the last one
    /// is revoked.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(3..=12))]
    nodes: u8,
    /// Size of the generated mod pack, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    size: u64,
    /// Seed of the mod pack's contents and of the in-memory network's faults.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Kill one receiver's link after this share of its transfer, in percent (at the next
    /// file in flight).
    #[arg(long, value_name = "PERCENT", default_value_t = 40, value_parser = clap::value_parser!(u64).range(1..=95))]
    kill_at: u64,
    /// In-memory backend: one-way latency of every message, in milliseconds.
    #[arg(long, value_name = "MS")]
    latency_ms: Option<u64>,
    /// In-memory backend: extra random one-way delay, up to this many milliseconds.
    #[arg(long, value_name = "MS")]
    jitter_ms: Option<u64>,
    /// In-memory backend: bandwidth cap of each direction of each connection, in MiB/s.
    #[arg(long, value_name = "MIB_PER_SEC")]
    bandwidth: Option<f64>,
}

impl Args {
    /// The in-memory faults asked for, or an error when they were given for WebRTC.
    fn faults(&self) -> Result<Faults, String> {
        let given =
            self.latency_ms.is_some() || self.jitter_ms.is_some() || self.bandwidth.is_some();
        if given && self.transport != Backend::Mem {
            return Err(
                "--latency-ms, --jitter-ms and --bandwidth need --transport mem".to_owned(),
            );
        }
        let bandwidth = match self.bandwidth {
            None => None,
            Some(b) if b.is_finite() && b > 0.0 => Some((b * 1024.0 * 1024.0) as u64),
            Some(b) => {
                return Err(format!(
                    "--bandwidth must be a positive number of MiB/s, not {b}"
                ))
            }
        };
        Ok(Faults {
            latency: Duration::from_millis(self.latency_ms.unwrap_or(0)),
            jitter: Duration::from_millis(self.jitter_ms.unwrap_or(0)),
            bandwidth,
            ..Faults::default()
        })
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let faults = match args.faults() {
        Ok(f) => f,
        Err(e) => Args::command()
            .error(clap::error::ErrorKind::ArgumentConflict, e)
            .exit(),
    };
    let runtime = match syncshell_examples::setup::runtime() {
        Ok(r) => r,
        Err(e) => {
            println!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let work = match WorkDir::create() {
        Ok(w) => w,
        Err(e) => {
            println!(
                "cannot create a folder under {}: {e}",
                std::env::temp_dir().display()
            );
            return ExitCode::FAILURE;
        }
    };
    let settings = Settings {
        size: args.size * 1024 * 1024,
        seed: args.seed,
        kill_at: args.kill_at,
        udp: args.transport == Backend::Webrtc,
    };
    let names = NAMES.get(..usize::from(args.nodes)).unwrap_or(&NAMES);
    let passed = runtime.block_on(async {
        // The relay members find each other through (joins, rings), on 127.0.0.1.
        let relay = match relay().await {
            Ok(r) => r,
            Err(e) => {
                println!("cannot start the relay on 127.0.0.1: {e}");
                return false;
            }
        };
        match args.transport {
            Backend::Webrtc => {
                println!(
                    "syncshell demo: {} members over WebRTC data channels on 127.0.0.1 (signaling through a relay on {}), {} MiB mod pack",
                    names.len(),
                    relay,
                    args.size
                );
                // The relay only carries signaling blobs; the data flows over DTLS/SCTP on
                // 127.0.0.1 (the default configuration binds nothing else and asks no STUN
                // server).
                tell(Story::new(launch_webrtc(), relay, names, settings, work)).await
            }
            Backend::Mem => {
                println!(
                    "syncshell demo: {} members over the in-memory backend (latency {} ms, jitter {} ms, bandwidth {}), relay on {}, {} MiB mod pack",
                    names.len(),
                    faults.latency.as_millis(),
                    faults.jitter.as_millis(),
                    args.bandwidth.map_or("unlimited".to_owned(), |b| format!("{b} MiB/s")),
                    relay,
                    args.size
                );
                let net = MemNetwork::new(args.seed, faults);
                let launch = launch_with(move |peer| net.endpoint(&peer.to_string()));
                tell(Story::new(launch, relay, names, settings, work)).await
            }
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(2));
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Starts a relay on 127.0.0.1 for the rest of the run; its URL.
async fn relay() -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("ws://{}/", listener.local_addr()?);
    let server = Server::new(Limits::default(), IceConfig::default());
    tokio::spawn(server.run(listener, None, std::future::pending()));
    Ok(url)
}

/// Runs the story and prints the summary; whether every check passed.
async fn tell<T: Transport + 'static>(mut story: Story<T>) -> bool {
    let finished = story.run().await.is_some();
    story.report.print();
    finished && story.report.all_ok()
}

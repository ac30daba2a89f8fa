//! `syncshell-signal`: a WebSocket signaling relay for syncshell members.
//!
//! Clients prove their key by signing a fresh challenge and show their token chain and the
//! shell's genesis; the server verifies them itself (it has no secret and writes nothing to
//! disk) and relays opaque blobs between admitted peers of the same shell. Uploaded
//! tombstones are kept in memory and refuse or disconnect revoked peers. The protocol is in
//! `docs/spec/signal.md`.
//!
//! Plain `ws://` unless given `--tls-cert` and `--tls-key` (then `wss://`). With
//! `--ice-server` (and `--turn-secret-file` for TURN) it hands admitted peers its STUN and
//! TURN servers, with TURN credentials of coturn's shared-secret scheme.
//!
//! Prints `listening <address>` on stdout once bound; logs go to stderr (`RUST_LOG`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use syncshell_signal::{IceConfig, Limits, RedisConfig, Server, ServerTls, TurnSecret};

/// A WebSocket signaling relay for syncshell members.
#[derive(Debug, Parser)]
#[command(name = "syncshell-signal", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:7447")]
    bind: SocketAddr,
    /// PEM certificate chain (the server's certificate first): serve wss:// instead of ws://.
    /// Needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// A STUN or TURN server handed to admitted peers: `stun:HOST[:PORT]`,
    /// `turn:HOST[:PORT][?transport=udp|tcp]` or `turns:HOST[:PORT]`. Repeatable, up to 8.
    /// TURN URLs need --turn-secret-file.
    #[arg(long = "ice-server", value_name = "URL")]
    ice_servers: Vec<String>,
    /// File holding the TURN server's shared secret (coturn's static-auth-secret, with
    /// use-auth-secret); one trailing newline is ignored, an empty secret is refused.
    #[arg(long, value_name = "PATH")]
    turn_secret_file: Option<PathBuf>,
    /// Lifetime of the TURN credentials handed out, in seconds (60 to 86400). A revoked
    /// member keeps its last credentials until they expire.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    turn_ttl: u64,
    /// Largest frame a client may send, in bytes.
    #[arg(long, default_value_t = 64 * 1024)]
    max_message: usize,
    /// Frames per second per connection (token bucket of one second's worth).
    #[arg(long, default_value_t = 50)]
    rate: u32,
    /// Open connections per client IP address.
    #[arg(long, default_value_t = 16)]
    per_ip: usize,
    /// Seconds without a frame before a connection is closed.
    #[arg(long, default_value_t = 60.0)]
    idle_timeout: f64,
    /// Seconds a new connection has to answer the challenge.
    #[arg(long, default_value_t = 10.0)]
    hello_timeout: f64,
    /// Shells the server keeps state for.
    #[arg(long, default_value_t = 1024)]
    max_shells: usize,
    /// Members registered in one shell at once.
    #[arg(long, default_value_t = 1024)]
    max_peers: usize,
    /// Guests (joiners holding an invite) registered in one shell at once; they do not count
    /// against `--max-peers`.
    #[arg(long, default_value_t = 16)]
    max_guests: usize,
    /// Share shells with every relay using this Redis (`redis://HOST:PORT/`, or
    /// `rediss://HOST:PORT/` over TLS; Redis 6 or newer): peers on different relays reach
    /// each other and tombstones are kept in Redis. Without it everything is kept in this
    /// process's memory.
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// A file holding the password Redis asks for (`requirepass`, or the URL's user's),
    /// less one trailing newline.
    #[arg(long, value_name = "FILE", requires = "redis")]
    redis_password_file: Option<PathBuf>,
    /// A PEM file of the CA certificates trusted for a `rediss://` Redis, instead of the
    /// system's roots.
    #[arg(long, value_name = "FILE", requires = "redis")]
    redis_ca: Option<PathBuf>,
}

fn seconds(s: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(s).map_err(|e| format!("{s} seconds: {e}"))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

async fn run(args: Args) -> Result<(), String> {
    let limits = Limits {
        max_message: args.max_message,
        messages_per_second: args.rate,
        connections_per_ip: args.per_ip,
        idle_timeout: seconds(args.idle_timeout)?,
        hello_timeout: seconds(args.hello_timeout)?,
        max_shells: args.max_shells,
        max_peers_per_shell: args.max_peers,
        max_guests_per_shell: args.max_guests,
    };
    if args.max_message < 1024 || args.rate == 0 || args.per_ip == 0 {
        return Err("--max-message must be at least 1024, --rate and --per-ip at least 1".into());
    }
    let secret = match &args.turn_secret_file {
        Some(path) => Some(TurnSecret::read(path).map_err(|e| format!("--turn-secret-file {e}"))?),
        None => None,
    };
    let ice = IceConfig::new(
        args.ice_servers.clone(),
        secret,
        Duration::from_secs(args.turn_ttl),
    )
    .map_err(|e| e.to_string())?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            Some(ServerTls::from_pem_files(cert, key).map_err(|e| e.to_string())?)
        }
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .map_err(|e| format!("bind {}: {e}", args.bind))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    tracing::info!(%local, scheme, ?limits, ?ice, "listening");
    println!("listening {local}");
    let server = match &args.redis {
        Some(url) => {
            let mut redis = RedisConfig::new(url);
            if let Some(path) = &args.redis_password_file {
                redis = redis
                    .with_password_file(path)
                    .map_err(|e| format!("--redis-password-file {e}"))?;
            }
            if let Some(path) = &args.redis_ca {
                redis = redis
                    .with_ca_file(path)
                    .map_err(|e| format!("--redis-ca {e}"))?;
            }
            Server::with_redis(limits, ice, &redis).map_err(|e| format!("--redis {e}"))?
        }
        None => Server::new(limits, ice),
    };
    server
        .run(listener, tls, shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let args = Args::parse();
    syncshell_examples::setup::logs("info");
    let runtime = match syncshell_examples::setup::runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("syncshell-signal: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("syncshell-signal: {e}");
            ExitCode::FAILURE
        }
    }
}

//! What the example binaries set up before they run: logs and the async runtime.

use tracing_subscriber::EnvFilter;

/// Sends `tracing` logs to stderr, filtered by `RUST_LOG` or else by `default_filter`, in
/// colour only when stderr is a terminal.
pub fn logs(default_filter: &str) {
    use std::io::IsTerminal;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// The runtime every example runs on: two workers (the machines they are tested on have two
/// cores), timers and I/O enabled.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

//! A `syncshell-node` process driven by a test: commands on its stdin, JSON events from its
//! stdout.
// Each test binary uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a test waits for an event.
pub(crate) const WAIT: Duration = Duration::from_secs(30);

/// One node process, its stdin and its stdout events.
pub(crate) struct NodeProc {
    pub(crate) name: &'static str,
    pub(crate) child: Child,
    stdin: ChildStdin,
    events: mpsc::Receiver<Value>,
    pub(crate) seen: Vec<Value>,
}

impl NodeProc {
    /// Starts `program` (the `syncshell-node` binary, perhaps behind `ip netns exec`) with
    /// its data folder, signal server, name, short backoffs and `extra` flags.
    pub(crate) fn spawn(
        name: &'static str,
        mut program: Command,
        data: &Path,
        url: &str,
        extra: &[&str],
    ) -> NodeProc {
        let mut child = program
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

    pub(crate) fn cmd(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// The next event that satisfies `want` (earlier ones are kept in `seen`).
    pub(crate) fn wait(&mut self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
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

    pub(crate) fn event(&mut self, name: &str) -> Value {
        self.wait(name, |v| v["event"] == name)
    }

    pub(crate) fn status(&mut self) -> Value {
        self.cmd("status");
        self.event("status")
    }

    /// Polls `status` until `ok` holds.
    pub(crate) fn status_until(&mut self, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
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

    pub(crate) fn quit(mut self) {
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
pub(crate) fn make_pack(root: &Path, files: &[(&str, usize)]) -> Vec<(PathBuf, Vec<u8>)> {
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
pub(crate) fn trace_clock() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

//! A `syncshell-node` process driven from outside: commands on its stdin, one JSON event per
//! line from its stdout.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::LabError;

/// A running node with the events it printed.
#[derive(Debug)]
pub struct NodeProcess {
    /// Its `--name`.
    pub name: String,
    /// The process.
    pub child: Child,
    stdin: ChildStdin,
    events: mpsc::Receiver<Value>,
    /// Every event read so far, in order.
    pub seen: Vec<Value>,
}

impl NodeProcess {
    /// Starts `program` (the `syncshell-node` binary, perhaps behind `ip netns exec`) with its
    /// data folder, signal server (none when `url` is empty: the node finds one itself), name
    /// (its passphrase is derived from it), short backoffs,
    /// one-second phonebook syncs and `extra` flags. `NODE_TEST_LOG`, if set, is its
    /// `RUST_LOG`.
    pub fn spawn(
        name: &str,
        mut program: Command,
        data: &Path,
        url: &str,
        extra: &[&str],
    ) -> Result<NodeProcess, LabError> {
        let io = |context: &str| {
            let context = format!("{name}: {context}");
            move |error| LabError::Io { context, error }
        };
        if !url.is_empty() {
            program.args(["--signal", url]);
        }
        let mut child = program
            .arg("--data")
            .arg(data)
            .args(["--name", name])
            .args(["--backoff-base-ms", "200", "--backoff-max-ms", "2000"])
            .args(["--sync-interval", "1"])
            .args(extra)
            .env("SYNCSHELL_PASSPHRASE", format!("{name} passphrase"))
            .env(
                "RUST_LOG",
                std::env::var("NODE_TEST_LOG").unwrap_or_else(|_| "error".into()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(io("starting the node"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            return Err(LabError::Io {
                context: format!("{name}: the node's pipes"),
                error: std::io::ErrorKind::BrokenPipe.into(),
            });
        };
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                // A line that is not JSON (a panic message) is kept as text.
                let v = serde_json::from_str::<Value>(&line).unwrap_or(Value::String(line));
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        Ok(NodeProcess {
            name: name.to_owned(),
            child,
            stdin,
            events,
            seen: Vec::new(),
        })
    }

    /// Sends one command line.
    pub fn cmd(&mut self, line: &str) -> Result<(), LabError> {
        writeln!(self.stdin, "{line}")
            .and_then(|()| self.stdin.flush())
            .map_err(|error| LabError::Io {
                context: format!("{}: sending {line:?}", self.name),
                error,
            })
    }

    /// The next event that satisfies `want` within `timeout` (the ones before it are kept in
    /// [`NodeProcess::seen`]); on timeout the error lists the last events.
    pub fn wait(
        &mut self,
        what: &str,
        timeout: Duration,
        want: impl Fn(&Value) -> bool,
    ) -> Result<Value, LabError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if want(&v) {
                        return Ok(v);
                    }
                }
                Err(_) => {
                    let last: Vec<String> = self
                        .seen
                        .iter()
                        .rev()
                        .take(30)
                        .map(|v| v.to_string())
                        .collect();
                    return Err(LabError::Timeout(format!(
                        "{}: no {what}; last events, newest first: {last:#?}",
                        self.name
                    )));
                }
            }
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

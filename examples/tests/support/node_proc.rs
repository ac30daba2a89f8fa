//! The network lab's `NodeProcess` for tests: every failure is a panic with the node's last
//! events, and `NODE_TEST_TRACE` prints each event as it is read.
// Each test binary uses a part of it.
#![allow(dead_code)]

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use syncshell_examples::netlab::NodeProcess;

/// How long a test waits for an event.
pub(crate) const WAIT: Duration = Duration::from_secs(30);

/// One node process, its stdin and its stdout events.
pub(crate) struct NodeProc(NodeProcess);

impl Deref for NodeProc {
    type Target = NodeProcess;
    fn deref(&self) -> &NodeProcess {
        &self.0
    }
}

impl DerefMut for NodeProc {
    fn deref_mut(&mut self) -> &mut NodeProcess {
        &mut self.0
    }
}

impl From<NodeProcess> for NodeProc {
    fn from(p: NodeProcess) -> Self {
        NodeProc(p)
    }
}

impl NodeProc {
    /// Starts `program` (the `syncshell-node` binary, perhaps behind `ip netns exec`): see
    /// [`NodeProcess::spawn`].
    pub(crate) fn spawn(
        name: &str,
        program: Command,
        data: &Path,
        url: &str,
        extra: &[&str],
    ) -> NodeProc {
        NodeProc(NodeProcess::spawn(name, program, data, url, extra).unwrap())
    }

    pub(crate) fn cmd(&mut self, line: &str) {
        self.0.cmd(line).unwrap();
    }

    /// The next event that satisfies `want` (earlier ones are kept in `seen`).
    pub(crate) fn wait(&mut self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        let from = self.0.seen.len();
        let got = self.0.wait(what, WAIT, want);
        for v in &self.0.seen[from..] {
            if std::env::var_os("NODE_TEST_TRACE").is_some() {
                println!("{:>8.3} {}: {v}", trace_clock(), self.0.name);
            }
            if v["event"] == "error" || v.is_string() {
                println!("{}: {v}", self.0.name);
            }
        }
        got.unwrap_or_else(|e| panic!("{e}"))
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
                self.0.name
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
            .0
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
            self.0.name
        );
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.0.child.try_wait().unwrap() {
                assert!(status.success(), "{} exited with {status}", self.0.name);
                return;
            }
            assert!(Instant::now() < deadline, "{} did not exit", self.0.name);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A folder of a few files with pseudo-random bytes; returns its files.
pub(crate) fn make_pack(root: &Path, files: &[(&str, usize)]) -> Vec<(PathBuf, Vec<u8>)> {
    syncshell_examples::netlab::matrix::make_pack(root, files).unwrap()
}

/// Seconds since the first call, for tracing events.
pub(crate) fn trace_clock() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

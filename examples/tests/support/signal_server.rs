//! The `syncshell-signal` binary run as a test's child process on 127.0.0.1.
// Each test binary uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long an HTTP request to the server or its exit may take.
const WAIT: Duration = Duration::from_secs(10);

/// Waits at most [`WAIT`] for `child` (described by `what`) to exit; kills it and fails the
/// test if it does not.
pub(crate) fn exit_within(child: &mut Child, what: &str) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} kept running");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A server process; killed when dropped.
pub(crate) struct ServerProcess {
    pub(crate) child: Child,
    pub(crate) addr: String,
}

impl ServerProcess {
    pub(crate) fn start(extra: &[&str]) -> Self {
        Self::start_at("127.0.0.1:0", extra)
    }

    pub(crate) fn start_at(bind: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_syncshell-signal"))
            .args(["--bind", bind])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        assert!(addr.starts_with("127.0.0.1:"), "{addr}");
        println!("signal server at {addr}");
        ServerProcess { child, addr }
    }

    pub(crate) fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// The URL of a server started with `--tls-cert` and `--tls-key`.
    pub(crate) fn wss_url(&self) -> String {
        format!("wss://{}/", self.addr)
    }

    /// Runs the server with `extra` flags, expects it to exit with an error before it listens,
    /// and returns what it printed on stderr.
    pub(crate) fn fails_to_start(extra: &[&str]) -> String {
        let mut child = Command::new(env!("CARGO_BIN_EXE_syncshell-signal"))
            .args(["--bind", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server starts");
        let status = exit_within(&mut child, &format!("the server with {extra:?}"));
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(!status.success(), "{extra:?} started: {out}");
        assert!(!out.contains("listening"), "{extra:?} listened: {out}");
        err
    }

    /// A plain HTTP GET; returns the status code and the body.
    pub(crate) fn get(&self, path: &str) -> (u16, String) {
        let mut s = std::net::TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap();
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
        (status, body)
    }

    pub(crate) fn stats(&self) -> serde_json::Value {
        let (status, body) = self.get("/stats");
        assert_eq!(status, 200);
        serde_json::from_str(&body).unwrap()
    }

    pub(crate) fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

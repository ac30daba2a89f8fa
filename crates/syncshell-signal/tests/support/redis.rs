//! A `redis-server` from the system, started by a test on 127.0.0.1 with a free port and no
//! persistence. Used by syncshell-signal's `cluster` test and the examples' `relays` test.
// Each test binary uses a part of it.
#![allow(dead_code, clippy::print_stderr)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long Redis may take to listen.
const START: Duration = Duration::from_secs(10);

/// A `redis-server` on 127.0.0.1, stopped when dropped.
pub(crate) struct Redis {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Redis {
    /// Starts one, or returns `None` (the test is skipped) when the machine has none.
    pub(crate) fn start() -> Option<Redis> {
        if Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            assert!(
                std::env::var_os("SYNCSHELL_REQUIRE_REDIS").is_none(),
                "SYNCSHELL_REQUIRE_REDIS is set but redis-server is missing"
            );
            eprintln!("skipped: redis-server is not installed");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let child = Self::spawn(port, &dir);
        let redis = Redis { child, port, dir };
        redis.wait_ready();
        Some(redis)
    }

    fn spawn(port: u16, dir: &tempfile::TempDir) -> Child {
        Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server starts")
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + START;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops it and starts a new, empty one on the same port.
    pub(crate) fn restart(&mut self) {
        self.stop();
        self.child = Self::spawn(self.port, &self.dir);
        self.wait_ready();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

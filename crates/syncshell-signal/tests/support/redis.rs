//! A `redis-server` from the system, started by a test on 127.0.0.1 with a free port and no
//! persistence; plain, or asking for a password and speaking only TLS with a certificate of
//! a CA made for it. Used by syncshell-signal's `cluster` test and the examples' `relays` test.
// Each test binary uses a part of it.
#![allow(dead_code, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use syncshell_signal::RedisConfig;

#[path = "pki.rs"]
mod pki;

/// How long Redis may take to listen.
const START: Duration = Duration::from_secs(10);

/// The password of a secured Redis.
const PASSWORD: &str = "correct horse battery staple";

/// A `redis-server` on 127.0.0.1, stopped when dropped.
pub(crate) struct Redis {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    /// `redis-server`'s arguments besides the common ones.
    args: Vec<String>,
    secured: bool,
}

impl Redis {
    /// Starts one, or returns `None` (the test is skipped) when the machine has none.
    pub(crate) fn start() -> Option<Redis> {
        Self::start_with(false)
    }

    /// Starts one that asks for a password and accepts only TLS, with a server certificate
    /// for 127.0.0.1 issued by a CA of its own ([`Redis::config`] has both).
    pub(crate) fn start_secured() -> Option<Redis> {
        Self::start_with(true)
    }

    fn start_with(secured: bool) -> Option<Redis> {
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
        let args = if secured {
            pki::write_pki(dir.path());
            std::fs::write(dir.path().join("password"), format!("{PASSWORD}\n")).unwrap();
            let file = |name: &str| dir.path().join(name).display().to_string();
            vec![
                "--port".into(),
                "0".into(),
                "--tls-port".into(),
                port.to_string(),
                "--tls-cert-file".into(),
                file("server.pem"),
                "--tls-key-file".into(),
                file("server.key"),
                "--tls-ca-cert-file".into(),
                file("ca.pem"),
                "--tls-auth-clients".into(),
                "no".into(),
                "--requirepass".into(),
                PASSWORD.into(),
            ]
        } else {
            vec!["--port".into(), port.to_string()]
        };
        let child = Self::spawn(&args, &dir);
        let redis = Redis {
            child,
            port,
            dir,
            args,
            secured,
        };
        redis.wait_ready();
        Some(redis)
    }

    fn spawn(args: &[String], dir: &tempfile::TempDir) -> Child {
        Command::new("redis-server")
            .args(["--bind", "127.0.0.1"])
            .args(args)
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

    /// The URL: `redis://`, or `rediss://` for a secured one.
    pub(crate) fn url(&self) -> String {
        let scheme = if self.secured { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}/", self.port)
    }

    /// A file of its folder (a secured one has `password`, `ca.pem`, `server.pem`).
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// What a relay needs to use it: the URL and, for a secured one, the password and CA.
    pub(crate) fn config(&self) -> RedisConfig {
        let config = RedisConfig::new(self.url());
        if !self.secured {
            return config;
        }
        config
            .with_password_file(&self.path("password"))
            .unwrap()
            .with_ca_file(&self.path("ca.pem"))
            .unwrap()
    }

    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops it and starts a new, empty one on the same port.
    pub(crate) fn restart(&mut self) {
        self.stop();
        self.child = Self::spawn(&self.args, &self.dir);
        self.wait_ready();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

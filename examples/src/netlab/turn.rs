//! coturn in a lab: a STUN and TURN server with shared-secret (TURN REST API) credentials.

use std::fs::File;
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::lab::POLL;
use super::process::describe;
use super::{Host, Lab, LabError, Protocol};

/// The STUN/TURN port, over UDP and TCP.
pub const TURN_PORT: u16 = 3478;
/// The realm coturn announces.
pub const TURN_REALM: &str = "syncshell.lab";
/// Relay ports coturn allocates from.
const RELAY_PORTS: (u16, u16) = (49152, 50151);
/// How long coturn may take to listen.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// A running coturn in a lab (see [`Lab::start_turn`]). It runs until the lab is dropped.
#[derive(Clone, Debug)]
pub struct Turn {
    host: Host,
    secret: String,
    log: PathBuf,
}

impl Lab {
    /// Starts Debian's `turnserver` (coturn) on `host`'s address, port 3478 over UDP and TCP,
    /// with shared-secret credentials: the user name is `<unix expiry>:<name>` and the password
    /// base64(HMAC-SHA1(`secret`, user name)). Returns once it listens on both (polled, at most
    /// 10 s).
    ///
    /// Meant for a public host; one per host. Peers in the lab's ranges (`192.168.0.0/16`,
    /// `203.0.113.0/24`) are explicitly allowed (coturn refuses loopback peers by default). No
    /// TLS, no DTLS, no CLI. Its log, verbose, is [`Turn::log`].
    pub fn start_turn(&mut self, host: &Host, secret: &str) -> Result<Turn, LabError> {
        let addr = host.addr();
        let file = |ext: &str| self.dir().join(format!("turn-{addr}.{ext}"));
        let (log, pid, db, out) = (file("log"), file("pid"), file("db"), file("out"));
        let io = |context: String| move |error| LabError::Io { context, error };
        let stdout = File::create(&out).map_err(io(format!("creating {}", out.display())))?;
        let stderr = stdout
            .try_clone()
            .map_err(io(format!("opening {}", out.display())))?;
        let mut cmd = host.command("turnserver");
        cmd.arg("-n")
            .arg("--use-auth-secret")
            .arg(format!("--static-auth-secret={secret}"))
            .arg(format!("--realm={TURN_REALM}"))
            .arg(format!("--listening-ip={addr}"))
            .arg(format!("--relay-ip={addr}"))
            .arg(format!("--listening-port={TURN_PORT}"))
            .arg(format!("--min-port={}", RELAY_PORTS.0))
            .arg(format!("--max-port={}", RELAY_PORTS.1))
            .arg("--allowed-peer-ip=192.168.0.0-192.168.255.255")
            .arg("--allowed-peer-ip=203.0.113.0-203.0.113.255")
            .arg("--pidfile")
            .arg(&pid)
            .arg("--log-file")
            .arg(&log)
            // One file, named as given (no pid or date appended).
            .arg("--simple-log")
            .arg("--userdb")
            .arg(&db)
            .args(["--no-cli", "--no-tls", "--no-dtls", "--verbose"])
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        // The secret is on the command line; do not repeat it in errors.
        let mut command = describe(&cmd);
        if !secret.is_empty() {
            command = command.replace(secret, "<secret>");
        }
        let child = cmd.spawn().map_err(|e| LabError::Command {
            command: command.clone(),
            detail: format!("could not start: {e}"),
        })?;
        self.children.push(child);
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            let exited = match self.children.last_mut() {
                Some(child) => child.try_wait().ok().flatten(),
                None => None,
            };
            if let Some(status) = exited {
                let output = std::fs::read_to_string(&out).unwrap_or_default();
                return Err(LabError::Command {
                    command,
                    detail: format!("{status} before listening: {}", output.trim()),
                });
            }
            if host.is_listening(Protocol::Udp, TURN_PORT)?
                && host.is_listening(Protocol::Tcp, TURN_PORT)?
            {
                break;
            }
            if Instant::now() >= deadline {
                return Err(LabError::Timeout(format!(
                    "turnserver in {} not listening on {addr}:{TURN_PORT} after {READY_WITHIN:?}",
                    host.namespace()
                )));
            }
            std::thread::sleep(POLL);
        }
        Ok(Turn {
            host: host.clone(),
            secret: secret.to_owned(),
            log,
        })
    }
}

impl Turn {
    /// The host it runs on.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Where it listens, over UDP and TCP.
    pub fn addr(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.host.addr(), TURN_PORT)
    }

    /// The shared secret its credentials are derived from.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// `stun:IP:3478`.
    pub fn stun_url(&self) -> String {
        format!("stun:{}", self.addr())
    }

    /// `turn:IP:3478?transport=udp`.
    pub fn turn_udp_url(&self) -> String {
        format!("turn:{}?transport=udp", self.addr())
    }

    /// `turn:IP:3478?transport=tcp`.
    pub fn turn_tcp_url(&self) -> String {
        format!("turn:{}?transport=tcp", self.addr())
    }

    /// The STUN URL, then TURN over UDP, then TURN over TCP.
    pub fn urls(&self) -> Vec<String> {
        vec![self.stun_url(), self.turn_udp_url(), self.turn_tcp_url()]
    }

    /// Where coturn writes its log.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// coturn's log so far. Verbose: an allocation shows as `user <NAME>: incoming packet
    /// ALLOCATE processed, success`, a refused credential as `Cannot find credentials of user
    /// <NAME>` (a wrong password and an expired user name alike).
    pub fn log(&self) -> Result<String, LabError> {
        std::fs::read(&self.log)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .map_err(|error| LabError::Io {
                context: format!("reading {}", self.log.display()),
                error,
            })
    }

    /// Waits until the log contains `needle`, polling until `timeout` has passed.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> Result<(), LabError> {
        let deadline = Instant::now() + timeout;
        while !self.log()?.contains(needle) {
            if Instant::now() >= deadline {
                return Err(LabError::Timeout(format!(
                    "{needle:?} not in {} after {timeout:?}",
                    self.log.display()
                )));
            }
            std::thread::sleep(POLL);
        }
        Ok(())
    }
}

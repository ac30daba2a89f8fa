#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stderr
)]
//! The C# bindings work end to end under Mono, against the built library:
//! - `tests/csharp/Plugin.cs` is what a plugin does with `SyncshellMember`, in two mono
//!   processes beside a relay on 127.0.0.1: one creates a shell and shares a folder, the other
//!   joins by invite and receives through the approval step; a file added later arrives, a
//!   denied one is never placed; the owner revokes the other, which loses its link, stops and
//!   gets nothing more; after `Dispose` and `Library.Shutdown()` no library thread is left.
//! - `tests/csharp/Flow.cs` calls the lower-level wrappers (identities, invites, revocation,
//!   phonebooks, WebRTC on 127.0.0.1, handshake, transfers, error cases).
//!
//! Skipped when `mcs` or `mono` is missing, unless `SYNCSHELL_REQUIRE_MONO` is set.

#[path = "support/library.rs"]
mod library;
#[path = "support/relay.rs"]
mod relay;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Whether mono can run here; without it the test skips, unless CI requires it.
fn have_mono() -> bool {
    let have_mcs = library::available("mcs", "--version");
    let have_mono = library::available("mono", "--version");
    if !(have_mcs && have_mono) {
        let missing = if have_mcs { "mono" } else { "mcs" };
        assert!(
            std::env::var_os("SYNCSHELL_REQUIRE_MONO").is_none(),
            "SYNCSHELL_REQUIRE_MONO is set but `{missing}` does not run; install mono-mcs and \
             mono-runtime (Debian: apt-get install mono-mcs mono-runtime)"
        );
        eprintln!("mono not found: skipping the C# test");
        return false;
    }
    true
}

/// Compiles the bindings with `program` (under tests/csharp) into `dir`.
fn compile(program: &str, dir: &Path) -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bindings = crate_dir.join("../../bindings/csharp/Syncshell.cs");
    let source = crate_dir.join("tests/csharp").join(program);
    let exe = dir.join(program.replace(".cs", ".exe"));
    let compiled = Command::new("mcs")
        .arg("-unsafe")
        .arg("-nologo")
        .arg(format!("-out:{}", exe.display()))
        .arg(&bindings)
        .arg(&source)
        .output()
        .expect("mcs runs");
    assert!(
        compiled.status.success(),
        "mcs failed ({}):\n{}{}",
        compiled.status,
        String::from_utf8_lossy(&compiled.stdout),
        String::from_utf8_lossy(&compiled.stderr)
    );
    exe
}

/// A plugin process: its stdin, and its stdout lines as they come.
struct PluginProcess {
    name: &'static str,
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl PluginProcess {
    fn start(name: &'static str, exe: &Path, args: &[&str]) -> PluginProcess {
        let mut child = Command::new("mono")
            .arg(exe)
            .args(args)
            .env("LD_LIBRARY_PATH", library::dir())
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("mono runs");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        PluginProcess {
            name,
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    fn send(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Waits for a line starting with `prefix` and returns the rest.
    #[track_caller]
    fn expect(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.trim().to_owned();
                    }
                    assert!(
                        !line.starts_with("failed") && !line.starts_with("timeout"),
                        "{}: {line}\n{}",
                        self.name,
                        self.seen.join("\n")
                    );
                }
                Err(_) => panic!(
                    "{}: no line starting with {prefix:?}; it said:\n{}",
                    self.name,
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits for the process to end with success.
    #[track_caller]
    fn finish(mut self) {
        let status = self.child.wait().unwrap();
        self.seen.extend(self.lines.try_iter());
        assert!(
            status.success(),
            "{} exited with {status}:\n{}",
            self.name,
            self.seen.join("\n")
        );
        eprintln!("--- {}\n{}", self.name, self.seen.join("\n"));
    }
}

/// `threads-left N [names]` says no thread started with the member is left.
#[track_caller]
fn no_threads_left(p: &mut PluginProcess) {
    let running = p.expect("threads-while-running ");
    let left = p.expect("threads-left ");
    assert!(
        !running.starts_with("0 "),
        "{}: the member ran no threads of its own? {running}",
        p.name
    );
    assert!(left.starts_with("0 "), "{}: threads left: {left}", p.name);
}

#[test]
fn two_plugins_share_approve_and_revoke_in_two_mono_processes() {
    if !have_mono() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let exe = compile("Plugin.cs", work.path());
    let relay = relay::Relay::start();
    let share = work.path().join("share");
    let receive = work.path().join("receive");
    std::fs::create_dir_all(&share).unwrap();
    std::fs::write(share.join("first.pak"), "the first mod").unwrap();
    let path = |p: &Path| p.to_str().unwrap().to_owned();

    let mut owner = PluginProcess::start(
        "owner",
        &exe,
        &[
            "owner",
            &relay.url,
            &path(&work.path().join("owner")),
            &path(&share),
        ],
    );
    let invite = owner.expect("invite ");
    let mut guest = PluginProcess::start(
        "guest",
        &exe,
        &[
            "guest",
            &relay.url,
            &path(&work.path().join("guest")),
            &path(&receive),
            &invite,
        ],
    );
    let joined = guest.expect("event Joined");
    let owner_id = joined
        .split_whitespace()
        .find_map(|w| w.strip_prefix("peer="))
        .unwrap()
        .to_owned();
    // The owner's files arrive in a folder of their own, named by its peer id; a waiting
    // file is named by that folder and its path there.
    let from_owner = receive.join(&owner_id);
    // The shared file waits for approval, and the plugin approves it.
    guest.expect(&format!("approved {owner_id}/first.pak"));
    assert_eq!(
        std::fs::read_to_string(from_owner.join("first.pak")).unwrap(),
        "the first mod"
    );
    // A file added on the owner's side arrives; a denied one is never placed.
    owner.send("add second.pak the second mod");
    guest.expect(&format!("approved {owner_id}/second.pak"));
    assert_eq!(
        std::fs::read_to_string(from_owner.join("second.pak")).unwrap(),
        "the second mod"
    );
    owner.send("add deny-me.pak a mod that crashes the game");
    guest.expect(&format!("denied {owner_id}/deny-me.pak"));
    assert!(!from_owner.join("deny-me.pak").exists());

    // The owner revokes the guest: the link ends on both sides and the guest stops.
    owner.send("revoke Bo");
    owner.expect("revoked Bo");
    let down = owner.expect("event LinkDown");
    assert!(down.contains("text=revoked"), "{down}");
    let stopped = guest.expect("stopped ");
    assert!(stopped.contains("revoked"), "{stopped}");
    no_threads_left(&mut guest);
    guest.finish();
    // Nothing more reaches it.
    owner.send("add later.pak after the revocation");
    owner.expect("event ShareChanged");
    owner.send("links");
    assert_eq!(owner.expect("links "), "0");
    assert!(!from_owner.join("later.pak").exists());

    owner.send("quit");
    no_threads_left(&mut owner);
    owner.finish();
}

#[test]
fn csharp_flow_under_mono() {
    if !have_mono() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = compile("Flow.cs", dir.path());

    let ran = Command::new("mono")
        .arg(&exe)
        .env("LD_LIBRARY_PATH", library::dir())
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("mono runs");
    let stdout = String::from_utf8_lossy(&ran.stdout);
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert!(
        ran.status.success(),
        "the C# flow failed ({}):\n--- stdout\n{stdout}--- stderr\n{stderr}",
        ran.status
    );
    assert!(
        stdout.contains("C# flow: all checks passed"),
        "the C# flow did not finish:\n{stdout}"
    );
    eprintln!("{stdout}");
}

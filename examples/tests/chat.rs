//! The node's chat mode: two members on 127.0.0.1 exchange messages, typing indicators and
//! presence under their phonebook names; one of them runs the terminal chat (`--chat`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stdout
)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

struct Proc {
    name: &'static str,
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(name: &'static str, program: &str, args: &[&str]) -> Proc {
    let mut child = Command::new(program)
        .args(args)
        .env("SYNCSHELL_PASSPHRASE", format!("{name} passphrase"))
        .env("RUST_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    Proc {
        name,
        child,
        stdin,
        lines,
        seen: Vec::new(),
    }
}

impl Proc {
    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    fn line(&mut self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if want(&l) {
                        return l;
                    }
                }
                Err(_) => panic!(
                    "{}: no {what} in time; last lines: {:#?}",
                    self.name,
                    self.seen.iter().rev().take(20).collect::<Vec<_>>()
                ),
            }
        }
    }

    fn event(&mut self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        let l = self.line(what, |l| {
            serde_json::from_str::<Value>(l).is_ok_and(|v| want(&v))
        });
        serde_json::from_str(&l).unwrap()
    }

    /// Asks `/who` (chat mode) and returns the members it lists.
    fn who(&mut self) -> String {
        self.send("/who");
        let l = self.line("the members", |l| l.starts_with("* members: "));
        l.trim_start_matches("* members: ").to_owned()
    }

    /// Waits for the chat's goodbye and a clean exit; the chat showed no JSON and no log
    /// line on the way.
    fn exits_cleanly_after_bye(mut self) {
        self.line("bye", |l| l == "* bye");
        let raw: Vec<&String> = self
            .seen
            .iter()
            .filter(|l| l.starts_with('{') || l.starts_with('#'))
            .collect();
        assert!(raw.is_empty(), "JSON in the chat: {raw:#?}");
        self.exits_cleanly();
    }

    fn exits_cleanly(mut self) {
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

fn node_args<'a>(data: &'a Path, url: &'a str, name: &'a str) -> Vec<&'a str> {
    vec![
        "--data",
        data.to_str().unwrap(),
        "--signal",
        url,
        "--name",
        name,
        "--backoff-base-ms",
        "200",
        "--backoff-max-ms",
        "2000",
        "--sync-interval",
        "1",
    ]
}

/// A relay; `owner` (process label `label`, display name `name`) creates a shell and invites
/// Mira, who joins in chat mode and sees the owner come online. Returns the relay's process
/// (kept alive by the caller), the owner's and Mira's.
fn shell_with_mira_chatting(work: &Path, label: &'static str, name: &str) -> (Proc, Proc, Proc) {
    let mut server = spawn(
        "signal",
        env!("CARGO_BIN_EXE_syncshell-signal"),
        &["--bind", "127.0.0.1:0"],
    );
    let addr = server.line("the bound address", |l| l.starts_with("listening "));
    let url = format!("ws://{}/", addr.trim_start_matches("listening "));
    let node = env!("CARGO_BIN_EXE_syncshell-node");
    let (o_data, m_data) = (work.join(label.to_lowercase()), work.join("mira"));
    let mut args = node_args(&o_data, &url, name);
    args.extend(["--create-shell", "Weekend raid"]);
    let mut owner = spawn(label, node, &args);
    owner.event("ready", |v| v["event"] == "ready");
    owner.send("invite");
    let invite = owner.event("invite", |v| v["event"] == "invite")["text"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut args = node_args(&m_data, &url, "Mira");
    args.extend(["--invite", &invite, "--chat"]);
    let mut mira = spawn("Mira", node, &args);
    mira.line("the owner online", |l| {
        l.starts_with("* ") && l.ends_with(" is online")
    });
    (server, owner, mira)
}

#[test]
fn members_chat_with_typing_and_presence_under_phonebook_names() {
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap();
    // Mira joins Ava's shell and runs the terminal chat.
    let (mut server, mut ava, mut mira) = shell_with_mira_chatting(work.path(), "Ava", "Ava");
    // Names come from the phonebook: wait until each side has the other's entry.
    let deadline = Instant::now() + WAIT;
    loop {
        let who = mira.who();
        ava.send("status");
        let a = ava.event("a status", |v| v["event"] == "status");
        if who == "Ava (online), Mira (you)" && a["members"].as_object().unwrap().len() == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "phonebooks never synced: {who}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The commands, for a person.
    mira.send("/help");
    mira.line("the help", |l| {
        l.starts_with("* a line is a message to everyone online")
    });
    mira.line("/who in the help", |l| l.starts_with("  /who: "));

    // Messages both ways, under phonebook names.
    ava.send("say hello Mira");
    mira.line("Ava's message", |l| l == "Ava: hello Mira");
    mira.send("hi Ava, ready for the raid?");
    let got = ava.event("Mira's message", |v| {
        v["event"] == "chat" && v["kind"] == "text"
    });
    assert_eq!(got["name"], "Mira");
    assert_eq!(got["text"], "hi Ava, ready for the raid?");

    // Typing indicators.
    mira.send("/typing");
    let t = ava.event("Mira typing", |v| {
        v["event"] == "chat" && v["kind"] == "typing"
    });
    assert_eq!(t["name"], "Mira");
    ava.send("typing");
    mira.line("Ava typing", |l| l == "* Ava is typing...");

    // Presence: shown at once, and kept in the phonebook entry.
    ava.send("away");
    mira.line("Ava away", |l| l == "* Ava is away");
    let deadline = Instant::now() + WAIT;
    while mira.who() != "Ava (away), Mira (you)" {
        assert!(Instant::now() < deadline, "Ava's entry never showed away");
        std::thread::sleep(Duration::from_millis(100));
    }
    ava.send("back");
    mira.line("Ava back", |l| l == "* Ava is online");

    // Ava leaves; Mira sees her go by name, and a message with nobody online is not lost
    // silently.
    ava.send("quit");
    ava.event("bye", |v| v["event"] == "bye");
    ava.exits_cleanly();
    mira.line("Ava leaving", |l| l == "* Ava went offline");
    mira.send("anyone there?");
    mira.line("that nobody read it", |l| {
        l == "* nobody is online to read it: the message was not sent"
    });
    mira.send("/quit");
    mira.exits_cleanly_after_bye();
    let _ = server.child.kill();
    println!("chat run {:?}", started.elapsed());
}

#[test]
fn chat_strips_terminal_control_characters() {
    let work = tempfile::tempdir().unwrap();
    // Eve's name and text carry escape sequences: clear the screen, set the window title,
    // move the cursor, recolour, ring, and the 8-bit C1 forms of the same.
    let name = "Eve\u{1b}]0;owned\u{7}\u{1b}[31m\u{9b}2J\u{7f}\u{85}";
    let (mut server, mut eve, mut mira) = shell_with_mira_chatting(work.path(), "Eve", name);
    // Wait until Mira has Eve's phonebook entry, so lines show the name Eve chose (with what a
    // terminal would act on removed).
    let deadline = Instant::now() + WAIT;
    while !mira.who().starts_with("Eve (online)") {
        assert!(Instant::now() < deadline, "Mira never got Eve's entry");
        std::thread::sleep(Duration::from_millis(100));
    }

    eve.send("say hi \u{1b}[2J\u{1b}[1;1Hred\u{9b}1A\u{7}\u{8} done\u{1b}]0;title\u{7}");
    mira.line("Eve's message", |l| l.contains(": hi "));
    eve.send("typing");
    mira.line("Eve typing", |l| l.ends_with("is typing..."));
    eve.send("quit");
    eve.event("bye", |v| v["event"] == "bye");
    mira.line("Eve leaving", |l| l.ends_with("went offline"));

    for l in &mira.seen {
        assert!(
            !l.chars().any(char::is_control),
            "a control character reached the terminal: {l:?}"
        );
    }
    assert!(
        mira.seen.iter().any(|l| l == "Eve: hi red done"),
        "{:#?}",
        mira.seen
    );
    assert!(mira.seen.iter().any(|l| l == "* Eve is typing..."));
    assert!(mira.seen.iter().any(|l| l == "* Eve went offline"));
    // The JSON events of the other side are escaped, never raw.
    let raw: Vec<&String> = eve
        .seen
        .iter()
        .filter(|l| l.chars().any(char::is_control))
        .collect();
    assert!(raw.is_empty(), "{raw:?}");

    mira.send("/quit");
    mira.exits_cleanly_after_bye();
    eve.exits_cleanly();
    let _ = server.child.kill();
}

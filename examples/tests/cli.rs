//! Runs the `syncshell` command-line tool: the whole story from a new identity to a revoked
//! member, packs sealed and opened, JSON output, and failures that are messages, not panics.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const PASSPHRASE: &str = "correct horse battery staple";
/// Small Argon2id costs so the test runs fast (hidden options of `identity new`).
const FAST_KDF: [&str; 4] = ["--kdf-memory-kib", "64", "--kdf-passes", "1"];

/// A scratch folder and the binary, run with a passphrase in the environment.
struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    fn new() -> Self {
        Cli {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run_with(&self, args: &[&str], passphrase: Option<&str>) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_syncshell"));
        cmd.args(args).current_dir(self.dir.path());
        match passphrase {
            Some(p) => cmd.env("SYNCSHELL_PASSPHRASE", p),
            None => cmd.env_remove("SYNCSHELL_PASSPHRASE"),
        };
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
            "syncshell {args:?} panicked: {stderr}"
        );
        out
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, Some(PASSPHRASE))
    }

    /// Runs a command that must succeed; returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "syncshell {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a command with `--json` that must succeed; returns its object.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let text = self.ok(&all);
        assert_eq!(text.trim().lines().count(), 1, "one JSON line: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Runs a command that must fail with exit status 1; returns its error message.
    fn fails(&self, args: &[&str]) -> String {
        self.fails_with(args, Some(PASSPHRASE))
    }

    fn fails_with(&self, args: &[&str], passphrase: Option<&str>) -> String {
        let out = self.run_with(args, passphrase);
        assert_eq!(
            out.status.code(),
            Some(1),
            "syncshell {args:?} should fail: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let stderr = String::from_utf8(out.stderr).unwrap();
        let message = stderr
            .lines()
            .find_map(|l| l.strip_prefix("error: "))
            .unwrap_or_else(|| panic!("no `error:` line in {stderr:?}"))
            .to_owned();
        message
    }

    fn new_identity(&self, name: &str) -> String {
        let mut args = vec!["identity", "new", "--out", name];
        args.extend_from_slice(&FAST_KDF);
        self.json(&args)["peer_id"].as_str().unwrap().to_owned()
    }
}

fn tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn is_empty_or_missing(dir: &Path) -> bool {
    !dir.exists() || fs::read_dir(dir).unwrap().next().is_none()
}

#[test]
fn the_whole_story_from_identity_to_revocation() {
    let cli = Cli::new();
    let owner = cli.new_identity("owner.key");
    let shown = cli.json(&["identity", "show", "--key", "owner.key"]);
    assert_eq!(shown["peer_id"], owner.as_str());
    assert!(owner.starts_with(shown["short"].as_str().unwrap()));

    let shell = cli.json(&[
        "shell",
        "create",
        "--key",
        "owner.key",
        "--name",
        "Weekend raid",
        "--out",
        "shell.genesis",
    ]);
    assert_eq!(shell["name"], "Weekend raid");
    assert_eq!(shell["owner"], owner.as_str());
    let shell_id = shell["shell_id"].as_str().unwrap().to_owned();
    assert!(shell_id.starts_with("shell-"));

    // The invite text alone goes to stdout in human mode, ready for a pipe.
    let invite = cli.ok(&[
        "invite",
        "create",
        "--key",
        "owner.key",
        "--shell",
        "shell.genesis",
        "--uses",
        "1",
        "--valid-for",
        "2h",
        "--hints",
        "ws://127.0.0.1:9000",
    ]);
    let invite = invite.trim().to_owned();
    assert!(invite.starts_with("syncshell-invite-"), "{invite}");
    assert_eq!(invite.lines().count(), 1);

    let inspected = cli.json(&["invite", "inspect", &invite]);
    assert_eq!(inspected["shell_id"], shell_id.as_str());
    assert_eq!(inspected["shell_name"], "Weekend raid");
    assert_eq!(inspected["inviter"], owner.as_str());
    assert_eq!(inspected["role"], "member");
    assert_eq!(inspected["max_uses"], 1);
    assert_eq!(inspected["hints"], "ws://127.0.0.1:9000");
    assert_eq!(inspected["usable"], true);
    let span =
        inspected["expires_at_ms"].as_u64().unwrap() - inspected["issued_at_ms"].as_u64().unwrap();
    assert_eq!(span, 2 * 3600 * 1000);
    let human = cli.ok(&["invite", "inspect", &invite]);
    assert!(
        human.contains("Weekend raid") && human.contains("usable"),
        "{human}"
    );

    // The joiner answers from a file holding the invite, and keeps the genesis.
    let joiner = cli.new_identity("alice.key");
    fs::write(cli.path("invite.txt"), format!("{invite}\n")).unwrap();
    let joined = cli.json(&[
        "join",
        "--key",
        "alice.key",
        "--invite-file",
        "invite.txt",
        "--out",
        "request.bin",
        "--genesis-out",
        "joined.genesis",
    ]);
    assert_eq!(joined["joiner"], joiner.as_str());
    assert_eq!(joined["shell_id"], shell_id.as_str());
    assert_eq!(
        fs::read(cli.path("joined.genesis")).unwrap(),
        fs::read(cli.path("shell.genesis")).unwrap()
    );

    let issued = cli.json(&[
        "token",
        "issue",
        "--key",
        "owner.key",
        "--shell",
        "shell.genesis",
        "--request",
        "request.bin",
        "--ledger",
        "ledger.bin",
        "--out",
        "alice.chain",
    ]);
    assert_eq!(issued["subject"], joiner.as_str());
    assert_eq!(issued["role"], "member");
    assert_eq!(issued["issuer"], owner.as_str());
    assert_eq!(issued["invite_uses"], 1);
    assert!(cli.path("ledger.bin").exists());

    // The one-use invite is used up: a second joiner is refused through the ledger.
    cli.new_identity("bob.key");
    cli.ok(&[
        "join",
        "--key",
        "bob.key",
        &invite,
        "--out",
        "bob-request.bin",
    ]);
    let used_up = cli.fails(&[
        "token",
        "issue",
        "--key",
        "owner.key",
        "--shell",
        "shell.genesis",
        "--request",
        "bob-request.bin",
        "--ledger",
        "ledger.bin",
        "--out",
        "bob.chain",
    ]);
    assert!(used_up.contains("use limit"), "{used_up}");
    assert!(!cli.path("bob.chain").exists());

    let inspected = cli.json(&["token", "inspect", "alice.chain"]);
    let tokens = inspected["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0]["subject"], joiner.as_str());
    assert_eq!(tokens[0]["issuer"], owner.as_str());
    assert!(tokens[0]["expires_at"].as_str().unwrap().ends_with('Z'));

    let human = cli.ok(&[
        "token",
        "verify",
        "--shell",
        "shell.genesis",
        "--chain",
        "alice.chain",
    ]);
    assert!(
        human.contains("valid:") && human.contains("member"),
        "{human}"
    );
    let verified = cli.json(&[
        "token",
        "verify",
        "--shell",
        "joined.genesis",
        "--chain",
        "alice.chain",
        "--peer",
        &joiner,
    ]);
    assert_eq!(verified["valid"], true);
    assert_eq!(verified["role"], "member");
    // The owner holds no chain.
    let verified = cli.json(&[
        "token",
        "verify",
        "--shell",
        "shell.genesis",
        "--peer",
        &owner,
    ]);
    assert_eq!(verified["role"], "owner");
    // A chain does not admit someone else.
    let other = cli.fails(&[
        "token",
        "verify",
        "--shell",
        "shell.genesis",
        "--chain",
        "alice.chain",
        "--peer",
        &owner,
    ]);
    assert!(other.contains("not admitted"), "{other}");

    // An admin token issued directly, then used to invite.
    let carol = cli.new_identity("carol.key");
    cli.ok(&[
        "token",
        "issue",
        "--key",
        "owner.key",
        "--shell",
        "shell.genesis",
        "--subject",
        &carol,
        "--role",
        "admin",
        "--valid-for",
        "30d",
        "--out",
        "carol.chain",
    ]);
    let by_admin = cli.ok(&[
        "invite",
        "create",
        "--key",
        "carol.key",
        "--shell",
        "shell.genesis",
        "--chain",
        "carol.chain",
    ]);
    assert!(by_admin.trim().starts_with("syncshell-invite-"));
    // A member cannot invite.
    let member = cli.fails(&[
        "invite",
        "create",
        "--key",
        "alice.key",
        "--shell",
        "shell.genesis",
        "--chain",
        "alice.chain",
    ]);
    assert!(member.contains("only an admin"), "{member}");

    let revoked = cli.json(&[
        "revoke",
        "--key",
        "owner.key",
        "--shell",
        "shell.genesis",
        "--peer",
        &joiner,
        "--reason",
        "removed",
        "--out",
        "alice.tombstone",
        "--revocations",
        "revoked.set",
    ]);
    assert_eq!(revoked["revoked"], joiner.as_str());
    assert_eq!(revoked["reason"], "removed");
    assert_eq!(revoked["revocations_count"], 1);

    for extra in [
        ["--revocations", "revoked.set"],
        ["--tombstone", "alice.tombstone"],
    ] {
        let mut args = vec![
            "token",
            "verify",
            "--shell",
            "shell.genesis",
            "--chain",
            "alice.chain",
        ];
        args.extend_from_slice(&extra);
        let message = cli.fails(&args);
        assert!(message.contains("revoked"), "{message}");
    }
    // In JSON mode the refusal is an error object on stdout, with exit status 1.
    let out = cli.run(&[
        "--json",
        "token",
        "verify",
        "--shell",
        "shell.genesis",
        "--chain",
        "alice.chain",
        "--revocations",
        "revoked.set",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let error: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(error["error"].as_str().unwrap().contains("revoked"));
    // Others are still admitted.
    cli.ok(&[
        "token",
        "verify",
        "--shell",
        "shell.genesis",
        "--chain",
        "carol.chain",
        "--revocations",
        "revoked.set",
    ]);
}

fn make_folder(root: &Path) {
    fs::create_dir_all(root.join("mods/textures")).unwrap();
    let big: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(root.join("mods/textures/armour.tex"), &big).unwrap();
    fs::write(root.join("readme.txt"), b"hello\n").unwrap();
    fs::write(root.join("mods/readme-copy.txt"), b"hello\n").unwrap();
    fs::write(root.join("mods/empty.cfg"), b"").unwrap();
}

#[test]
fn packs_round_trip_and_refuse_a_wrong_key_or_a_damaged_pack() {
    let cli = Cli::new();
    make_folder(&cli.path("src"));
    let key = cli.ok(&["pack", "key"]).trim().to_owned();
    assert_eq!(key.len(), 64);

    let sealed = cli.json(&[
        "pack",
        "seal",
        "--key-hex",
        &key,
        "--folder",
        "src",
        "--out",
        "mods.ssp",
        "--chunk-size",
        "4096",
    ]);
    assert_eq!(sealed["files"], 4);
    assert_eq!(sealed["bytes"], 300_000 + 6 + 6);
    let pack = fs::read(cli.path("mods.ssp")).unwrap();
    assert_eq!(&pack[..8], b"\x89SSPACK\n");
    assert_eq!(&pack[8..12], &[0, 0, 0, 1]);

    let opened = cli.json(&[
        "pack",
        "open",
        "--key-hex",
        &key,
        "--in",
        "mods.ssp",
        "--dest",
        "out",
    ]);
    assert_eq!(opened["files"], 4);
    assert_eq!(tree(&cli.path("out")), tree(&cli.path("src")));

    // The same key from a file of 32 raw bytes, into an existing empty folder.
    fs::write(cli.path("pack.key"), hex_decode(&key)).unwrap();
    fs::create_dir(cli.path("out-file-key")).unwrap();
    cli.ok(&[
        "pack",
        "open",
        "--key-file",
        "pack.key",
        "--in",
        "mods.ssp",
        "--dest",
        "out-file-key",
    ]);
    assert_eq!(tree(&cli.path("out-file-key")), tree(&cli.path("src")));

    // A non-empty destination is refused.
    let busy = cli.fails(&[
        "pack",
        "open",
        "--key-hex",
        &key,
        "--in",
        "mods.ssp",
        "--dest",
        "out",
    ]);
    assert!(busy.contains("not empty"), "{busy}");

    // A wrong key: nothing placed, not even the destination folder.
    let wrong = "11".repeat(32);
    let message = cli.fails(&[
        "pack",
        "open",
        "--key-hex",
        &wrong,
        "--in",
        "mods.ssp",
        "--dest",
        "wrong",
    ]);
    assert!(message.contains("wrong key"), "{message}");
    assert!(!cli.path("wrong").exists());

    // A flipped byte anywhere (offer, chunk header, middle of a chunk, last tag): refused,
    // and the destination stays empty.
    for (i, at) in [20, 2_000, pack.len() / 2, pack.len() - 1]
        .into_iter()
        .enumerate()
    {
        let mut bad = pack.clone();
        bad[at] ^= 0x01;
        let name = format!("bad{i}.ssp");
        fs::write(cli.path(&name), &bad).unwrap();
        let dest = format!("damaged{i}");
        fs::create_dir(cli.path(&dest)).unwrap();
        let message = cli.fails(&[
            "pack",
            "open",
            "--key-hex",
            &key,
            "--in",
            &name,
            "--dest",
            &dest,
        ]);
        assert!(
            message.contains("damaged") || message.contains("altered"),
            "byte {at}: {message}"
        );
        assert!(
            is_empty_or_missing(&cli.path(&dest)),
            "byte {at} left files behind"
        );
    }

    // Sealed with stream frames of version 1 (before offers had a salt): the offer's version
    // field (the first frame's first two bytes) says so, and the message says what to do.
    assert_eq!(&pack[16..18], &[0x08, 0x02]);
    let mut old = pack.clone();
    old[17] = 0x01;
    fs::write(cli.path("old.ssp"), &old).unwrap();
    let message = cli.fails(&[
        "pack",
        "open",
        "--key-hex",
        &key,
        "--in",
        "old.ssp",
        "--dest",
        "old",
    ]);
    assert!(message.contains("frame has version 1"), "{message}");
    assert!(message.contains("seal the folder again"), "{message}");
    assert!(is_empty_or_missing(&cli.path("old")));

    // Truncated, or with bytes after its end.
    fs::write(cli.path("short.ssp"), &pack[..pack.len() - 100]).unwrap();
    let message = cli.fails(&[
        "pack",
        "open",
        "--key-hex",
        &key,
        "--in",
        "short.ssp",
        "--dest",
        "short",
    ]);
    assert!(message.contains("truncated"), "{message}");
    assert!(is_empty_or_missing(&cli.path("short")));
    let mut long = pack.clone();
    long.extend_from_slice(b"more");
    fs::write(cli.path("long.ssp"), &long).unwrap();
    let message = cli.fails(&[
        "pack",
        "open",
        "--key-hex",
        &key,
        "--in",
        "long.ssp",
        "--dest",
        "long",
    ]);
    assert!(message.contains("after its end"), "{message}");
    assert!(is_empty_or_missing(&cli.path("long")));

    // Not a pack at all.
    let message = cli.fails(&[
        "pack",
        "open",
        "--key-hex",
        &key,
        "--in",
        "pack.key",
        "--dest",
        "x",
    ]);
    assert!(message.contains("not a syncshell pack"), "{message}");

    // Bad keys are clear errors.
    let message = cli.fails(&[
        "pack",
        "seal",
        "--key-hex",
        "abc",
        "--folder",
        "src",
        "--out",
        "p2.ssp",
    ]);
    assert!(message.contains("64 hexadecimal digits"), "{message}");
    let message = cli.fails(&[
        "pack",
        "seal",
        "--key-file",
        "mods.ssp",
        "--folder",
        "src",
        "--out",
        "p2.ssp",
    ]);
    assert!(message.contains("32 raw bytes"), "{message}");
    assert!(!cli.path("p2.ssp").exists());
    // An existing output is not overwritten.
    let message = cli.fails(&[
        "pack",
        "seal",
        "--key-hex",
        &key,
        "--folder",
        "src",
        "--out",
        "mods.ssp",
    ]);
    assert!(message.contains("already exists"), "{message}");
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn errors_are_messages_with_a_nonzero_exit() {
    let cli = Cli::new();
    cli.new_identity("me.key");

    let missing = cli.fails(&["identity", "show", "--key", "nope.key"]);
    assert!(missing.contains("nope.key"), "{missing}");

    let wrong = cli.fails_with(
        &[
            "shell",
            "create",
            "--key",
            "me.key",
            "--name",
            "x",
            "--out",
            "s.genesis",
        ],
        Some("not the passphrase"),
    );
    assert!(wrong.contains("wrong passphrase"), "{wrong}");
    assert!(!cli.path("s.genesis").exists());

    // No passphrase in the environment and no terminal to ask on.
    let no_tty = cli.fails_with(
        &[
            "shell",
            "create",
            "--key",
            "me.key",
            "--name",
            "x",
            "--out",
            "s.genesis",
        ],
        None,
    );
    assert!(no_tty.contains("SYNCSHELL_PASSPHRASE"), "{no_tty}");

    let garbage = cli.fails(&["invite", "inspect", "syncshell-invite-notreallyaninvite"]);
    assert!(garbage.contains("not a valid invite"), "{garbage}");
    let garbage = cli.fails(&["invite", "inspect", "hello"]);
    assert!(garbage.contains("not a valid invite"), "{garbage}");

    let not_a_key = cli.fails(&["identity", "show", "--key", "."]);
    assert!(!not_a_key.is_empty());
    fs::write(cli.path("junk.key"), b"junk").unwrap();
    let junk = cli.fails(&["identity", "show", "--key", "junk.key"]);
    assert!(junk.contains("not a usable key file"), "{junk}");

    cli.ok(&[
        "shell",
        "create",
        "--key",
        "me.key",
        "--name",
        "x",
        "--out",
        "s.genesis",
    ]);
    let bad_peer = cli.fails(&[
        "token",
        "issue",
        "--key",
        "me.key",
        "--shell",
        "s.genesis",
        "--subject",
        "peer-oops",
        "--out",
        "c.chain",
    ]);
    assert!(bad_peer.contains("not a valid peer id"), "{bad_peer}");
    let bad_peer = cli.fails(&[
        "revoke",
        "--key",
        "me.key",
        "--shell",
        "s.genesis",
        "--peer",
        "alice",
        "--out",
        "t.bin",
    ]);
    assert!(bad_peer.contains("not a valid peer id"), "{bad_peer}");

    // The owner cannot be revoked.
    let me = cli.json(&["identity", "show", "--key", "me.key"])["peer_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let owner = cli.fails(&[
        "revoke",
        "--key",
        "me.key",
        "--shell",
        "s.genesis",
        "--peer",
        &me,
        "--out",
        "t.bin",
    ]);
    assert!(owner.contains("owner cannot be revoked"), "{owner}");

    // A genesis that is not one.
    let not_genesis = cli.fails(&["shell", "show", "--shell", "me.key"]);
    assert!(
        not_genesis.contains("not a valid shell genesis"),
        "{not_genesis}"
    );

    // A key file is never overwritten.
    let mut args = vec!["identity", "new", "--out", "me.key"];
    args.extend_from_slice(&FAST_KDF);
    let exists = cli.fails(&args);
    assert!(exists.contains("already exists"), "{exists}");

    // JSON mode: the error is an object on stdout.
    let out = cli.run(&["--json", "identity", "show", "--key", "nope.key"]);
    assert_eq!(out.status.code(), Some(1));
    let error: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(error["error"].as_str().unwrap().contains("nope.key"));

    // Usage errors are clap's, with its exit status 2.
    let out = cli.run(&["token", "issue", "--key", "me.key"]);
    assert_eq!(out.status.code(), Some(2));
    let out = cli.run(&[
        "pack",
        "open",
        "--key-hex",
        "00",
        "--key-file",
        "k",
        "--in",
        "p",
        "--dest",
        "d",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn usage_errors_durations_and_short_ids_are_explained() {
    let cli = Cli::new();
    let owner = cli.new_identity("owner.key");
    let carol = cli.new_identity("carol.key");
    let dave = cli.new_identity("dave.key");
    cli.ok(&[
        "shell",
        "create",
        "--key",
        "owner.key",
        "--name",
        "x",
        "--out",
        "s.genesis",
    ]);

    // With --json a usage error is a JSON object too, with clap's exit status 2.
    let out = cli.run(&["--json", "token", "issue", "--key", "owner.key"]);
    assert_eq!(out.status.code(), Some(2));
    let error: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        error["error"].as_str().unwrap().contains("--shell"),
        "{error}"
    );

    // An invite must end: its durations do not offer `never`.
    let out = cli.run(&[
        "invite",
        "create",
        "--key",
        "owner.key",
        "--shell",
        "s.genesis",
        "--valid-for",
        "6",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("is not a duration like 90s, 30m, 6h, 7d") && !text.contains("never"),
        "{text}"
    );

    // A token never outlives its issuer's: asking for more is cut, with a warning.
    cli.ok(&[
        "token",
        "issue",
        "--key",
        "owner.key",
        "--shell",
        "s.genesis",
        "--subject",
        &carol,
        "--role",
        "admin",
        "--valid-for",
        "30d",
        "--out",
        "carol.chain",
    ]);
    let out = cli.run(&[
        "token",
        "issue",
        "--key",
        "carol.key",
        "--shell",
        "s.genesis",
        "--chain",
        "carol.chain",
        "--subject",
        &dave,
        "--valid-for",
        "60d",
        "--out",
        "dave.chain",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cut to expire with the issuer's own"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expiry = |file: &str| -> Vec<u64> {
        cli.json(&["token", "inspect", file])["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["expires_at_ms"].as_u64().unwrap())
            .collect()
    };
    let (carol_expiry, dave_chain) = (expiry("carol.chain"), expiry("dave.chain"));
    assert_eq!(dave_chain.len(), 2);
    assert!(
        dave_chain.iter().all(|at| *at == carol_expiry[0]),
        "{dave_chain:?}"
    );

    // An expired invite says when it expired, in words, and what to do.
    let invite = cli.ok(&[
        "invite",
        "create",
        "--key",
        "owner.key",
        "--shell",
        "s.genesis",
        "--valid-for",
        "1s",
    ]);
    let invite = invite.trim().to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while cli.json(&["invite", "inspect", &invite])["usable"] == true {
        assert!(
            std::time::Instant::now() < deadline,
            "the invite never expired"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let expired = cli.fails(&["join", "--key", "dave.key", &invite, "--out", "late.bin"]);
    assert!(
        expired.contains("invite expired at 20")
            && expired.ends_with("Z); ask the inviter for a new one"),
        "{expired}"
    );

    // The short id printed next to a name is not taken for a whole one, and says so.
    let short = &owner[..13];
    let message = cli.fails(&[
        "token",
        "issue",
        "--key",
        "owner.key",
        "--shell",
        "s.genesis",
        "--subject",
        short,
        "--out",
        "x.chain",
    ]);
    assert!(
        message.contains("a short id") && message.contains("give the whole id"),
        "{message}"
    );
}

//! `syncshell-node`: a long-running syncshell member.
//!
//! It locks its data folder `--data` (one node per folder), loads (or makes) its key file
//! there (passphrase from `SYNCSHELL_PASSPHRASE`, or asked for on a terminal; files 0600), creates a shell
//! (`--create-shell NAME`), joins one with an invite (`--invite TEXT`), or carries on with the
//! shell and token it saved (the two flags are refused once the folder holds a shell); finds
//! the other members through the signal server (`--signal ws://127.0.0.1:PORT/`, repeatable
//! for relays sharing a Redis; without it, the relays the folder used last or those the
//! invite names), links to them over WebRTC with the mutual
//! handshake, keeps the phonebook in sync, shares `--share DIR` with members that receive
//! and receives into `--receive DIR` (each sharer's folder into `DIR/<its peer id>/`),
//! resuming partial transfers, and reconnects with the
//! backoff policy when a member or the network goes away.
//!
//! Control: one command per line on stdin — `status`, `who`, `invite`, `revoke PEER`,
//! `say TEXT`, `typing`, `away`, `back`, `pause [PEER]`, `resume [PEER]`,
//! `budget BYTES_PER_SECOND|off`, `approval on|off`, `waiting`, `approve PATH`, `deny PATH`,
//! `help`, `quit` — and one JSON event per line on stdout
//! (`ready`, `invite`, `joined`, `admitted`, `link-up`, `link-down`, `progress`, `received`,
//! `sending`, `sent`, `share-changed`, `removed`, `waiting`, `refused`, `chat`, `status`,
//! `who`, `error`, ...). With `--chat` it is a terminal chat
//! over the shell instead: a typed line is a message to every linked member, `/help`, `/who`,
//! `/typing`, `/away`, `/back` and the other commands start with '/', and the output shows
//! messages, typing indicators, presence, members coming and going under their phonebook
//! names, and the other events as sentences (never JSON, and library logs only at `error`
//! unless `RUST_LOG` asks). On a terminal a line editor keeps the line being typed below what
//! arrives meanwhile; a message nobody is linked to read is reported as not sent.
//! Names and text come from other members, so the chat lines are printed without control
//! characters or terminal escape sequences, and JSON events escape every control character.
//!
//! The member itself is `syncshell_member::Member` driven by `syncshell_member::Node` over
//! WebRTC: the link protocol (docs/spec/link.md — the handshake on each connection, then
//! infos, phonebook sync, transfers, chat and pings), who dials whom (the smaller id; the
//! other rings through the relay), links that last as long as the peer's admission (ended
//! with `why` `revoked` or `expired` at the moment it ends), at most one sender per member
//! and at most 3 transfers received at once (one per sharer), bounded queues (a peer that does not read is
//! disconnected: `why` `overloaded`), and the join through the relay (`join-waiting` while
//! the inviter is not connected, until `--join-timeout`). This program adds the flags, the
//! data folder, the WebRTC transport with the relay's STUN and TURN servers, and the output.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod node;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use serde_json::json;
use syncshell_examples::args::{duration, passphrase};
use syncshell_identity::{InviteCode, InviteOptions, Role, MAX_INVITE_USES};
use syncshell_member::{
    ChatKind, Config, DataFolder, FirstStart, Folders, Key, Opening, StartError, StartOptions,
    Started, Startup, Waiting, MAX_CHAT_TEXT_LEN,
};
use syncshell_phonebook::Presence;
use syncshell_reconnect::BackoffPolicy;
use syncshell_signal::ClientOptions;
use syncshell_webrtc::{IceServer, WebRtcConfig};
use tokio::io::AsyncBufReadExt;

use crate::node::emit;

/// A long-running syncshell member.
#[derive(Debug, Parser)]
#[command(name = "syncshell-node", version)]
struct Args {
    /// Folder for the key file, genesis, token chain, phonebook, revocations and ledger.
    #[arg(long)]
    data: PathBuf,
    /// The signal server. Repeatable: relays of one deployment (sharing a Redis), tried in
    /// order, and in turn when the connection to one is lost. Without it: the relays this
    /// data folder used last, else those the invite names, else ws://127.0.0.1:7447/.
    #[arg(long)]
    signal: Vec<String>,
    /// Display name in the phonebook.
    #[arg(long, default_value = "")]
    name: String,
    /// Create a new shell with this name (first start only).
    #[arg(long, conflicts_with = "invite")]
    create_shell: Option<String>,
    /// Join with this invite text (first start only).
    #[arg(long)]
    invite: Option<String>,
    /// Seconds a join waits for the inviter to come online and answer.
    #[arg(long, default_value_t = 120.0)]
    join_timeout: f64,
    /// Share this folder with members that receive.
    #[arg(long)]
    share: Option<PathBuf>,
    /// Receive shared folders into this folder, each sharer's into a folder there named by
    /// its peer id.
    #[arg(long)]
    receive: Option<PathBuf>,
    /// Cap on bytes per second per outgoing transfer.
    #[arg(long)]
    send_rate: Option<u64>,
    /// Received files wait in the data folder's `incoming/` until `approve PATH` (or `deny
    /// PATH`) instead of going straight into the receive folder (kept across restarts;
    /// `approval off` ends it).
    #[arg(long)]
    approval: bool,
    /// First reconnection delay ceiling, in milliseconds (doubles per failure).
    #[arg(long, default_value_t = 30_000)]
    backoff_base_ms: u64,
    /// Largest reconnection delay ceiling, in milliseconds.
    #[arg(long, default_value_t = 3_600_000)]
    backoff_max_ms: u64,
    /// Chat mode: typed lines are messages (commands start with '/': /help lists them), and
    /// the output shows messages, typing, presence and members coming and going as lines for a
    /// person; on a terminal the line being typed stays put while messages arrive.
    #[arg(long)]
    chat: bool,
    /// Seconds between phonebook syncs on every link.
    #[arg(long, default_value_t = 30.0)]
    sync_interval: f64,
    /// An address to bind WebRTC's UDP sockets to (repeatable). `0.0.0.0` or `::` binds every
    /// interface of that family; the default reaches this host only.
    #[arg(long = "bind", value_name = "IP", default_value = "127.0.0.1")]
    binds: Vec<std::net::IpAddr>,
    /// A STUN or TURN server (repeatable): `stun:HOST[:PORT]`,
    /// `turn:HOST[:PORT][?transport=udp|tcp]`. Servers the signal server hands out are used
    /// as well.
    #[arg(long = "ice-server", value_name = "URL")]
    ice_servers: Vec<String>,
    /// User name for the `turn:` servers of `--ice-server`.
    #[arg(long)]
    turn_username: Option<String>,
    /// Credential for the `turn:` servers of `--ice-server` (better: the
    /// SYNCSHELL_TURN_CREDENTIAL environment variable, which other users cannot read).
    #[arg(long)]
    turn_credential: Option<String>,
    /// Connect to members only through TURN relays: they never learn this host's addresses.
    #[arg(long)]
    relay_only: bool,
    /// PEM file of CA certificates to trust for a `wss://` signal server, besides the
    /// system's (for a private deployment with its own CA).
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
}

/// The WebRTC settings the flags ask for.
fn webrtc_config(args: &Args) -> Result<WebRtcConfig, String> {
    let mut config = WebRtcConfig::default();
    config.bind_addresses = args
        .binds
        .iter()
        .map(|ip| std::net::SocketAddr::new(*ip, 0).to_string())
        .collect();
    let credential = match &args.turn_credential {
        Some(c) => Some(c.clone()),
        None => std::env::var("SYNCSHELL_TURN_CREDENTIAL").ok(),
    };
    for url in &args.ice_servers {
        let server = if url.starts_with("turn") {
            let (Some(user), Some(credential)) = (&args.turn_username, &credential) else {
                return Err(format!(
                    "{url}: a TURN server needs --turn-username and --turn-credential \
                     (or SYNCSHELL_TURN_CREDENTIAL)"
                ));
            };
            IceServer::turn(url, user, credential)
        } else {
            IceServer::stun(url)
        };
        server.check().map_err(|e| format!("--ice-server {e}"))?;
        config.ice_servers.push(server);
    }
    config.relay_only = args.relay_only;
    Ok(config)
}

async fn run(args: Args) -> Result<(), String> {
    let webrtc = webrtc_config(&args)?;
    if let Some(share) = &args.share {
        if !share.is_dir() {
            return Err(format!("--share {}: not a folder", share.display()));
        }
    }
    let first = match (&args.create_shell, &args.invite) {
        (Some(name), _) => FirstStart::Create(name.clone()),
        (None, Some(text)) => FirstStart::Join(
            Box::new(
                text.parse::<InviteCode>()
                    .map_err(|e| format!("the invite: {e}"))?,
            ),
            Duration::try_from_secs_f64(args.join_timeout)
                .map_err(|e| format!("--join-timeout: {e}"))?,
        ),
        (None, None) => FirstStart::Resume,
    };
    let sync_interval = Duration::try_from_secs_f64(args.sync_interval)
        .map_err(|e| format!("--sync-interval: {e}"))?
        .max(Duration::from_millis(100));
    let folder = DataFolder::open(&args.data)?;
    // The folder is checked for another node before a passphrase is asked for.
    drop(folder.lock()?);
    let new_key = !folder.has_key();
    let key_file = folder.path("key");
    let prompt = if new_key {
        format!("New passphrase for {}: ", key_file.display())
    } else {
        format!("Passphrase for {}: ", key_file.display())
    };
    let passphrase = passphrase(&prompt, new_key)?;
    let options = StartOptions {
        data: args.data.clone(),
        key: Key::Passphrase(zeroize::Zeroizing::new(passphrase.as_bytes().to_vec())),
        first,
        relays: args.signal.clone(),
        client: ClientOptions {
            ca_file: args.ca_file.clone(),
            ..ClientOptions::default()
        },
        webrtc,
        config: Config {
            name: args.name.clone(),
            policy: BackoffPolicy {
                base: Duration::from_millis(args.backoff_base_ms.max(1)),
                max: Duration::from_millis(args.backoff_max_ms.max(args.backoff_base_ms.max(1))),
                max_attempts_per_minute: 600,
                ..BackoffPolicy::default()
            },
            sync_interval,
            ..Config::default()
        },
        folders: Folders {
            share: args.share.clone(),
            receive: args.receive.clone(),
            send_rate: args.send_rate,
            ..Folders::default()
        },
        approval: args.approval,
    };
    let opening = Opening::open(options).map_err(|e| match e {
        StartError::Key(text, _) => format!("{text} (SYNCSHELL_PASSPHRASE)"),
        StartError::Refused(text) if args.create_shell.is_some() || args.invite.is_some() => {
            let flag = if args.create_shell.is_some() {
                "--create-shell"
            } else {
                "--invite"
            };
            format!("{flag}: {text}")
        }
        StartError::Refused(text) if text.contains("holds no shell") => {
            format!("{text} (--create-shell NAME or --invite TEXT)")
        }
        e => e.to_string(),
    })?;
    let me = opening.peer_id();
    let join_timeout = args.join_timeout;
    let started = opening
        .start(|note| match note {
            Startup::JoinWaiting { inviter, .. } => emit(
                "join-waiting",
                json!({ "inviter": inviter.to_string(), "timeout_s": join_timeout }),
            ),
            Startup::Joined { inviter, shell } => emit(
                "joined",
                json!({ "inviter": inviter.to_string(), "shell": shell.to_string() }),
            ),
            Startup::RelayWaiting { url } => emit("signal-waiting", json!({ "url": url })),
            _ => {}
        })
        .await
        .map_err(|e| match e {
            StartError::Join(syncshell_member::Error::JoinTimedOut { .. }) => {
                format!("{e} (--join-timeout waits longer)")
            }
            StartError::NotAdmitted(
                e @ syncshell_member::Error::Revocation(syncshell_revocation::Error::Revoked {
                    ..
                }),
            ) => format!("this member was revoked from the shell ({e})"),
            e => e.to_string(),
        })?;
    let shell = started.node.with_member(|m, _| m.genesis().id());
    emit(
        "ready",
        json!({ "peer": me.to_string(), "shell": shell.to_string() }),
    );
    commands(started, args.chat).await
}

/// Waits until the relay drops this member for good, and reports it (`signal-lost`);
/// returns only when the member is no longer admitted (revoked, or its token expired): then
/// the node has nothing left to do. A member refused for another reason (the relay full) keeps
/// its links.
async fn refused_for_good(node: &node::Node) -> String {
    let (e, end) = node.relay_lost().await;
    emit("signal-lost", json!({ "error": e.to_string() }));
    match end {
        Some(why) => why,
        None => std::future::pending().await,
    }
}

/// SIGTERM or Ctrl-C.
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// The lines typed: in chat mode on a terminal from a line editor (rustyline) that keeps the
/// line being typed below whatever is printed meanwhile; otherwise stdin's lines as they come.
/// Ends (`None`) at the end of the input; Ctrl-C or Ctrl-D in the editor is `/quit`.
fn input(chat: bool) -> tokio::sync::mpsc::Receiver<String> {
    use std::io::IsTerminal;
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if chat && terminal {
        if let Ok(mut editor) = rustyline::DefaultEditor::new() {
            if let Ok(printer) = editor.create_external_printer() {
                node::print_through(Box::new(printer));
            }
            std::thread::spawn(move || loop {
                let line = match editor.readline("> ") {
                    Ok(line) => {
                        let _ = editor.add_history_entry(line.as_str());
                        line
                    }
                    Err(_) => "/quit".to_owned(),
                };
                let last = line == "/quit";
                if tx.blocking_send(line).is_err() || last {
                    return;
                }
            });
            return rx;
        }
    }
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if tx.send(line).await.is_err() {
                return;
            }
        }
    });
    rx
}

/// Runs commands from stdin until `quit`, SIGTERM or Ctrl-C. A node without a terminal
/// (stdin at its end) keeps running until it is told to stop.
/// The commands on stdin (in chat mode after a `/`), as `help` lists them.
const COMMANDS: &[&str] = &[
    "help: this list",
    "status: the shell, members, links and transfers",
    "who: the members, who is online and who is linked",
    "invite [member|admin] [--uses N] [--valid-for 30m|6h|7d]: an invite to paste to someone \
     (default: member, 1 use, 30 minutes)",
    "revoke NAME|ID: throw a member out for good (a display name, or the id or its start as \
     status shows it)",
    "say TEXT: a chat line to linked members",
    "typing, away, back: presence",
    "pause [NAME|ID], resume [NAME|ID]: stop and restart transfers, of every member or of \
     one (kept across restarts)",
    "budget BYTES_PER_SECOND|off: one cap on all outgoing transfers (kept across restarts)",
    "approval on|off: received files wait for approve/deny (kept across restarts)",
    "waiting: the received files waiting for approval",
    "approve PATH, deny PATH: place a waiting file, or delete it and refuse its content for good (PATH as `waiting` lists it, or its path in the share when one member's file alone waits there)",
    "quit: stop",
];

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        _ => "member",
    }
}

/// The options of `invite [member|admin] [--uses N] [--valid-for DURATION]`; anything else
/// is an error.
fn invite_options(args: &str) -> Result<InviteOptions, String> {
    let mut options = InviteOptions::default();
    let mut words = args.split_whitespace();
    while let Some(word) = words.next() {
        match word {
            "member" => options.role = Role::Member,
            "admin" => options.role = Role::Admin,
            "--uses" => {
                let n = words.next().ok_or("--uses needs a number")?;
                options.max_uses = n
                    .parse()
                    .ok()
                    .filter(|&n| (1..=MAX_INVITE_USES).contains(&n))
                    .ok_or(format!("--uses {n}: a number from 1 to {MAX_INVITE_USES}"))?;
            }
            "--valid-for" => {
                let d = words
                    .next()
                    .ok_or("--valid-for needs a duration like 30m")?;
                options.validity = duration(d)?;
            }
            other => {
                return Err(format!(
                    "invite: unknown argument {other:?} (invite [member|admin] [--uses N] \
                     [--valid-for DURATION])"
                ))
            }
        }
    }
    Ok(options)
}

async fn commands(started: Started, chat: bool) -> Result<(), String> {
    let Started {
        node, events, lock, ..
    } = started;
    let _lock = lock;
    node::print_events(node.clone(), events);
    let mut lines = input(chat);
    let stop = terminated();
    tokio::pin!(stop);
    let refused = refused_for_good(&node);
    tokio::pin!(refused);
    loop {
        let line = tokio::select! {
            _ = &mut stop => break,
            why = &mut refused => {
                node.shutdown().await;
                return Err(why);
            }
            line = lines.recv() => match line {
                Some(line) => line,
                None => {
                    (&mut stop).await;
                    break;
                }
            },
        };
        let line = line.trim();
        // In chat mode a line is a message, and commands start with '/'.
        let line = if chat {
            match line.strip_prefix('/') {
                Some(command) => command.to_owned(),
                None if line.is_empty() => String::new(),
                None => format!("say {line}"),
            }
        } else {
            line.to_owned()
        };
        let (cmd, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        match cmd {
            "" => {}
            "status" => emit("status", node::status(&node)),
            "who" => emit("who", node::who(&node)),
            "help" => emit("help", json!({ "commands": COMMANDS })),
            "invite" => match invite_options(rest).and_then(|o| {
                let (uses, role) = (o.max_uses, o.role);
                node::invite(&node, o).map(|text| (text, uses, role))
            }) {
                Ok((text, uses, role)) => emit(
                    "invite",
                    json!({ "text": text, "uses": uses, "role": role_name(role) }),
                ),
                Err(e) => emit("error", json!({ "message": e })),
            },
            "revoke" => match node
                .with_member(|m, t| {
                    let peer = m.find_member(rest.trim(), t)?;
                    m.revoke(peer, t).map(|()| peer)
                })
                .map_err(|e| e.to_string())
            {
                Ok(peer) => emit("revoked", json!({ "peer": peer.to_string() })),
                Err(e) => emit("error", json!({ "message": e })),
            },
            "say" => {
                if rest.len() > MAX_CHAT_TEXT_LEN {
                    emit(
                        "error",
                        json!({ "message": format!("a message of at most {MAX_CHAT_TEXT_LEN} bytes") }),
                    );
                } else {
                    match node::chat(&node, ChatKind::Text, rest) {
                        Ok(n) => emit("said", json!({ "text": rest, "to": n })),
                        Err(e) => emit("error", json!({ "message": e })),
                    }
                }
            }
            "typing" => {
                let _ = node::chat(&node, ChatKind::Typing, "");
            }
            "away" | "back" => {
                let presence = if cmd == "away" {
                    Presence::Away
                } else {
                    Presence::Online
                };
                if let Err(e) = node::set_presence(&node, presence) {
                    emit("error", json!({ "message": e }));
                }
            }
            "pause" | "resume" => {
                let who = rest.trim();
                let done = node
                    .with_member(|m, t| {
                        let member = if who.is_empty() {
                            None
                        } else {
                            Some(m.find_member(who, t)?)
                        };
                        if cmd == "pause" {
                            m.pause(member, t);
                        } else {
                            m.resume(member, t);
                        }
                        Ok::<_, syncshell_member::Error>(member)
                    })
                    .map_err(|e| e.to_string());
                match done {
                    Ok(member) => emit(
                        if cmd == "pause" { "paused" } else { "resumed" },
                        json!({ "peer": member.map(|p| p.to_string()) }),
                    ),
                    Err(e) => emit("error", json!({ "message": e })),
                }
            }
            "budget" => {
                let arg = rest.trim();
                let budget = match arg {
                    "off" => Ok(None),
                    n => n
                        .parse::<u64>()
                        .ok()
                        .filter(|&n| n > 0)
                        .map(Some)
                        .ok_or(format!(
                            "budget {n:?}: bytes per second (a positive number) or off"
                        )),
                };
                match budget {
                    Ok(b) => {
                        node.with_member(|m, _| m.set_budget(b));
                        emit("budget", json!({ "bytes_per_second": b }));
                    }
                    Err(e) => emit("error", json!({ "message": e })),
                }
            }
            "approval" => match rest.trim() {
                "on" | "off" => {
                    let on = rest.trim() == "on";
                    node.with_member(|m, _| m.set_approval(on));
                    emit("approval", json!({ "on": on }));
                }
                other => emit(
                    "error",
                    json!({ "message": format!("approval {other:?}: on or off") }),
                ),
            },
            "waiting" => {
                let files: Vec<serde_json::Value> = node
                    .waiting()
                    .iter()
                    .map(|w| json!({ "from": w.from.to_string(), "path": w.path, "size": w.size }))
                    .collect();
                emit("waiting-list", json!({ "files": files }));
            }
            "approve" | "deny" => {
                let path = match waiting_path(&node.waiting(), rest.trim()) {
                    Ok(p) => p,
                    Err(message) => {
                        emit("error", json!({ "message": format!("{cmd}: {message}") }));
                        continue;
                    }
                };
                let path = path.as_str();
                let done = if cmd == "approve" {
                    node.approve(path).await
                } else {
                    node.deny(path).await
                };
                match done {
                    Ok(true) => emit(
                        if cmd == "approve" {
                            "approved"
                        } else {
                            "denied"
                        },
                        json!({ "path": path }),
                    ),
                    Ok(false) => emit(
                        "error",
                        json!({ "message": format!("{cmd} {path:?}: no received file waits there (`waiting` lists them)") }),
                    ),
                    Err(e) => emit("error", json!({ "message": e })),
                }
            }
            "quit" => break,
            other => emit(
                "error",
                json!({ "message": format!("unknown command {other:?}; `help` lists them") }),
            ),
        }
    }
    node.shutdown().await;
    emit("bye", json!({}));
    Ok(())
}

/// The waiting file `typed` names: its path as `waiting` lists it (the sharer's peer id,
/// `/`, its path in the share), or its path in the share when one sharer's file alone waits
/// there. A path nothing waits at is passed on (the node says nothing waits there).
fn waiting_path(waiting: &[Waiting], typed: &str) -> Result<String, String> {
    if waiting.iter().any(|w| w.path == typed) {
        return Ok(typed.to_owned());
    }
    let matches: Vec<&str> = waiting
        .iter()
        .filter(|w| w.path.split_once('/').is_some_and(|(_, p)| p == typed))
        .map(|w| w.path.as_str())
        .collect();
    match matches.as_slice() {
        [one] => Ok((*one).to_owned()),
        [] => Ok(typed.to_owned()),
        several => Err(format!(
            "{typed:?} waits from several members; name one: {}",
            several.join(", ")
        )),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    node::HUMAN.store(args.chat, std::sync::atomic::Ordering::Relaxed);
    // A person chatting sees the chat, not the library's warnings (RUST_LOG still shows them).
    syncshell_examples::setup::logs(if args.chat { "error" } else { "warn" });
    let runtime = match syncshell_examples::setup::runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("syncshell-node: {e}");
            return ExitCode::FAILURE;
        }
    };
    let r = runtime.block_on(run(args));
    runtime.shutdown_timeout(Duration::from_secs(2));
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            emit("error", json!({ "message": e }));
            eprintln!("syncshell-node: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(path: &str) -> Waiting {
        Waiting {
            from: syncshell_identity::Identity::generate(&mut rand_core::OsRng).peer_id(),
            path: path.to_owned(),
            hash: [0; 32],
            size: 1,
        }
    }

    #[test]
    fn a_waiting_file_is_named_in_full_or_by_its_path_in_the_share_when_that_is_unique() {
        let files = [
            waiting("peer-a/mods/a.pak"),
            waiting("peer-a/both.pak"),
            waiting("peer-b/both.pak"),
        ];
        assert_eq!(
            waiting_path(&files, "peer-b/both.pak").unwrap(),
            "peer-b/both.pak"
        );
        assert_eq!(
            waiting_path(&files, "mods/a.pak").unwrap(),
            "peer-a/mods/a.pak"
        );
        let several = waiting_path(&files, "both.pak").unwrap_err();
        assert!(
            several.contains("peer-a/both.pak") && several.contains("peer-b/both.pak"),
            "{several}"
        );
        assert_eq!(waiting_path(&files, "nothing.pak").unwrap(), "nothing.pak");
    }
}

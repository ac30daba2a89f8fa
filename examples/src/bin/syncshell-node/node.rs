//! The node's side of a running member: the `Node` of syncshell-member over WebRTC and the
//! relay, the events it prints (JSON lines, or chat lines for a person) and its status.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde_json::{json, Value};
use syncshell_examples::wire::now;
use syncshell_identity::{InviteOptions, PeerId};
use syncshell_member::{ChatKind, ConnId, Event, Node as Driver, WebRtcNet};
use syncshell_phonebook::Presence;
use syncshell_signal::Status;
use tokio::sync::mpsc;

/// The running node.
pub(crate) type Node = Driver<WebRtcNet>;

/// Milliseconds, with a fraction, for events.
fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

/// A link's network path and round-trip time, as fields of an event: `path` (how the two
/// ends reach each other, e.g. `direct host 10.0.0.2:5000 -> srflx 203.0.113.9:6000`),
/// `relayed`, `local` and `remote` (candidate kinds), `rtt_ms`.
fn path_fields(stats: &syncshell_transport::Stats) -> Value {
    match stats.path {
        Some(p) => json!({
            "path": p.to_string(),
            "relayed": p.is_relayed(),
            "local": p.local.kind.as_str(),
            "remote": p.remote.kind.as_str(),
            "rtt_ms": stats.rtt.map(millis),
        }),
        None => json!({ "path": null, "rtt_ms": stats.rtt.map(millis) }),
    }
}

/// Whether events are shown as chat lines for a person instead of JSON (`--chat`).
pub(crate) static HUMAN: AtomicBool = AtomicBool::new(false);

/// Writes one event per line on stdout: a JSON object, or in chat mode a line for a person.
///
/// Names and chat text come from other members, so nothing a terminal acts on is printed:
/// chat lines go through [`printable`], and JSON lines escape every control character.
pub(crate) fn emit(event: &str, mut fields: Value) {
    if HUMAN.load(Ordering::Relaxed) {
        if let Some(lines) = human(event, &fields) {
            // Lines of our own; a line feed inside member text was made a space by now.
            for line in lines.split('\n') {
                print_line(&printable(line));
            }
        }
        return;
    }
    if let Value::Object(m) = &mut fields {
        m.insert("event".into(), Value::String(event.into()));
        m.insert("ms".into(), Value::from(now().as_millis()));
    }
    print_line(&escape_controls(&fields.to_string()));
}

/// `text` without what a terminal would act on: escape sequences (ESC or C1 CSI followed
/// by their parameters, OSC/DCS/APC/PM/SOS strings up to their terminator, or to the end of
/// the text when unterminated) are removed whole, other C0 and C1 controls and DEL are
/// removed (a tab, line feed or carriage return becomes a space, so a message cannot fake
/// a line of its own), and so are the bidirectional overrides that reorder what is shown.
pub(crate) fn printable(text: &str) -> String {
    const ESC: char = '\u{1b}';
    const CSI: char = '\u{9b}';
    const ST: char = '\u{9c}';
    const BEL: char = '\u{7}';
    /// Skips a control string up to and including its terminator (BEL, ST or ESC backslash).
    fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
        while let Some(c) = chars.next() {
            match c {
                BEL | ST => return,
                ESC => {
                    if chars.peek() == Some(&'\\') {
                        chars.next();
                    }
                    return;
                }
                _ => {}
            }
        }
    }
    /// Skips a CSI sequence's parameter and intermediate bytes and its final byte.
    fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
        while chars
            .next_if(|c| ('\u{20}'..='\u{3f}').contains(c))
            .is_some()
        {}
        chars.next_if(|c| ('\u{40}'..='\u{7e}').contains(c));
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ESC => match chars.peek().copied() {
                Some('[') => {
                    chars.next();
                    skip_csi(&mut chars);
                }
                Some(']' | 'P' | 'X' | '^' | '_') => {
                    chars.next();
                    skip_string(&mut chars);
                }
                // Other escapes: intermediate bytes, then one final byte.
                Some('\u{20}'..='\u{7e}') => {
                    while chars
                        .next_if(|c| ('\u{20}'..='\u{2f}').contains(c))
                        .is_some()
                    {}
                    chars.next_if(|c| ('\u{30}'..='\u{7e}').contains(c));
                }
                _ => {}
            },
            CSI => skip_csi(&mut chars),
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\t' | '\n' | '\r' => out.push(' '),
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A JSON text with DEL and the C1 controls escaped too (serde_json escapes only C0): the
/// same JSON value, safe to show on a terminal. They can only occur inside strings, where
/// `\uXXXX` means the same character.
fn escape_controls(json: &str) -> String {
    if !json.chars().any(char::is_control) {
        return json.to_owned();
    }
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_control() {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// Where lines go instead of stdout while a line editor owns the terminal: it prints them
/// above the line being typed.
static PRINTER: Mutex<Option<Box<dyn rustyline::ExternalPrinter + Send>>> = Mutex::new(None);

/// Prints every line from now on through the line editor's `printer`.
pub(crate) fn print_through(printer: Box<dyn rustyline::ExternalPrinter + Send>) {
    *PRINTER.lock().unwrap_or_else(PoisonError::into_inner) = Some(printer);
}

/// One line on stdout; a closed stdout is not an error worth dying for.
fn print_line(line: &str) {
    use std::io::Write;
    if let Some(printer) = PRINTER
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_mut()
    {
        let _ = printer.print(format!("{line}\n"));
        return;
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The chat-mode line for an event; `None` for events a person does not need to see.
/// Chat mode shows no JSON: every event a person acts on has a line of its own.
fn human(event: &str, f: &Value) -> Option<String> {
    let text = |k: &str| {
        f.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let number = |k: &str| f.get(k).and_then(Value::as_u64).unwrap_or_default();
    let name = text("name");
    Some(match event {
        "chat" => match text("kind").as_str() {
            "text" => format!("{name}: {}", text("text")),
            "typing" => format!("* {name} is typing..."),
            "presence" => format!("* {name} is {}", text("text")),
            _ => return None,
        },
        "ready" => "* connected; type a message, or /help for the commands".to_owned(),
        "joined" => "* you joined the shell".to_owned(),
        "join-waiting" => format!(
            "* waiting for the inviter {} to come online (up to {} s)",
            text("inviter"),
            f.get("timeout_s")
                .and_then(Value::as_f64)
                .unwrap_or_default()
        ),
        "signal-waiting" => format!("* the relay {} does not answer; still trying", text("url")),
        "signal-lost" => format!("* lost the relay: {}", text("error")),
        "link-up" => format!("* {name} is online"),
        "link-down" => format!("* {name} went offline"),
        "admitted" => "* a new member joined with your invite".to_owned(),
        "invite" => format!(
            "* an invite ({}, {} use(s)); give it to one person:\n{}",
            text("role"),
            number("uses"),
            text("text")
        ),
        "revoked" => format!("* revoked {}", text("peer")),
        "said" if number("to") == 0 => {
            "* nobody is online to read it: the message was not sent".to_owned()
        }
        "received" => format!(
            "* received {} file(s) from {name}",
            number("files_received")
        ),
        "waiting" => format!(
            "* {} from {name} waits for you: /approve {} or /deny {}",
            text("path"),
            text("path"),
            text("path")
        ),
        "approved" | "denied" => format!("* {event} {}", text("path")),
        "paused" | "resumed" => format!("* transfers {event}"),
        "error" => format!("! {}", text("message")),
        "help" => {
            let commands: Vec<String> = f
                .get("commands")
                .and_then(Value::as_array)
                .map(|c| {
                    c.iter()
                        .filter_map(Value::as_str)
                        .map(|c| format!("  /{c}"))
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "* a line is a message to everyone online; commands:\n{}",
                commands.join("\n")
            )
        }
        "who" => {
            let members: Vec<String> = f
                .get("members")
                .and_then(Value::as_array)
                .map(|m| {
                    m.iter()
                        .map(|m| {
                            let name = m["name"].as_str().unwrap_or_default();
                            if m["you"].as_bool().unwrap_or_default() {
                                format!("{name} (you)")
                            } else if m["linked"].as_bool().unwrap_or_default() {
                                format!("{name} ({})", m["presence"].as_str().unwrap_or_default())
                            } else {
                                format!("{name} (offline)")
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            format!("* members: {}", members.join(", "))
        }
        "bye" => "* bye".to_owned(),
        _ => return None,
    })
}

/// Prints the member's events as they come.
pub(crate) fn print_events(node: Node, mut events: mpsc::Receiver<Event>) {
    tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            let (name, fields) = event_fields(&node, e);
            emit(name, fields);
        }
    });
}

/// An event's name and fields as the node prints them.
fn event_fields(node: &Node, event: Event) -> (&'static str, Value) {
    match event {
        Event::LinkUp {
            conn,
            peer,
            name,
            initiator,
            role,
            handshake,
        } => (
            "link-up",
            link_up(node, conn, peer, &name, initiator, role, handshake),
        ),
        Event::LinkDown { peer, name, why } => (
            "link-down",
            json!({ "peer": peer.to_string(), "name": name, "why": why.as_str() }),
        ),
        Event::Refused { initiator, error } => {
            ("refused", json!({ "initiator": initiator, "error": error }))
        }
        Event::Chat {
            from,
            name,
            kind,
            text,
        } => (
            "chat",
            json!({
                "from": from.to_string(),
                "name": name,
                "kind": chat_kind_name(kind),
                "text": text,
            }),
        ),
        Event::Admitted { peer } => ("admitted", json!({ "peer": peer.to_string() })),
        Event::JoinRefused { peer, error } => (
            "join-refused",
            json!({ "peer": peer.to_string(), "error": error }),
        ),
        Event::NeedsInvite { peer, failures } => (
            "needs-invite",
            json!({ "peer": peer.to_string(), "failures": failures }),
        ),
        Event::RelayUp => ("signal-up", json!({})),
        Event::ShareChanged { version } => ("share-changed", json!({ "version": version })),
        Event::Sending { to } => ("sending", json!({ "to": to.to_string() })),
        Event::Sent { to, files, bytes } => (
            "sent",
            json!({ "to": to.to_string(), "files": files, "bytes": bytes }),
        ),
        Event::SendFailed { to, error } => (
            "send-failed",
            json!({ "to": to.to_string(), "error": error }),
        ),
        Event::Progress { from, done, total } => (
            "progress",
            json!({ "from": from.to_string(), "done": done, "total": total }),
        ),
        Event::Received {
            from,
            files_received,
            files_present,
            bytes_received,
            total,
        } => (
            "received",
            json!({
                "from": from.to_string(),
                "name": node.with_member(|m, t| m.name_of(&from, t)),
                "files_received": files_received,
                "files_present": files_present,
                "bytes_received": bytes_received,
                "total": total,
            }),
        ),
        Event::Removed {
            from,
            paths,
            folder,
        } => (
            "removed",
            json!({
                "from": from.to_string(),
                "paths": paths,
                "folder": folder.display().to_string(),
            }),
        ),
        Event::Waiting {
            from,
            path,
            hash,
            size,
        } => (
            "waiting",
            json!({
                "from": from.to_string(),
                "name": node.with_member(|m, t| m.name_of(&from, t)),
                "path": path,
                "hash": hex(&hash),
                "size": size,
            }),
        ),
        Event::ReceiveFailed { from, error } => (
            "receive-failed",
            json!({ "from": from.to_string(), "error": error }),
        ),
        Event::Error { message } => ("error", json!({ "message": message })),
        other => ("other", json!({ "debug": format!("{other:?}") })),
    }
}

/// The `link-up` fields: who, how the connection was set up (times of each step), its path.
fn link_up(
    node: &Node,
    conn: ConnId,
    peer: PeerId,
    name: &str,
    initiator: bool,
    role: syncshell_identity::Role,
    handshake: Duration,
) -> Value {
    let mut fields = json!({
        "peer": peer.to_string(),
        "name": name,
        "initiator": initiator,
        "role": format!("{role:?}").to_lowercase(),
        "handshake_ms": millis(handshake),
    });
    if let (Some(c), Value::Object(m)) = (node.connection(conn), &mut fields) {
        let setup = c.setup_times();
        m.insert("connect_ms".into(), json!(setup.ready.map(millis)));
        m.insert(
            "setup_ms".into(),
            json!({
                "created": setup.created.map(millis),
                "gathered": setup.gathered.map(millis),
                "described": setup.described.map(millis),
                "ice": setup.ice_connected.map(millis),
                "dtls": setup.dtls_connected.map(millis),
                "channels": setup.channels_open.map(millis),
                "ready": setup.ready.map(millis),
            }),
        );
        if let Value::Object(p) = path_fields(&syncshell_transport::Connection::stats(&*c)) {
            m.extend(p);
        }
    }
    fields
}

/// The `who` event: every member of the phonebook (by name) with its presence, whether it
/// is linked now, and which is this member.
pub(crate) fn who(node: &Node) -> Value {
    node.with_member(|m, t| {
        let me = m.peer_id();
        let linked: std::collections::BTreeSet<PeerId> = m.links().map(|(p, _)| p).collect();
        let mut entries: Vec<_> = m.phonebook().entries(t).collect();
        entries.sort_by_key(|e| (e.shown_name(), *e.peer()));
        let members: Vec<Value> = entries
            .into_iter()
            .map(|e| {
                json!({
                    "peer": e.peer().to_string(),
                    "name": e.shown_name(),
                    "presence": e.presence().as_str(),
                    "linked": linked.contains(e.peer()),
                    "you": *e.peer() == me,
                })
            })
            .collect();
        json!({ "members": members })
    })
}

/// The `status` event: what the tests compare between nodes.
pub(crate) fn status(node: &Node) -> Value {
    let signal = match node.signal().status() {
        Status::Connected => "connected".to_owned(),
        Status::Connecting => "connecting".to_owned(),
        Status::Failed(e) => format!("failed: {e}"),
    };
    let (mut fields, links) = node.with_member(|m, t| {
        let book = m.phonebook();
        let members: BTreeMap<String, String> = book
            .entries(t)
            .map(|e| (e.peer().to_string(), e.shown_name()))
            .collect();
        let presence: BTreeMap<String, &str> = book
            .entries(t)
            .map(|e| (e.peer().to_string(), e.presence().as_str()))
            .collect();
        let links: BTreeMap<String, ConnId> =
            m.links().map(|(p, v)| (p.to_string(), v.conn)).collect();
        let mut revoked: Vec<String> = book
            .revocations()
            .iter()
            .map(|t| t.revoked().to_string())
            .collect();
        revoked.sort();
        revoked.dedup();
        let role = match m.role(t) {
            Ok(r) => format!("{r:?}").to_lowercase(),
            Err(e) => format!("not admitted: {e}"),
        };
        let fields = json!({
            "peer": m.peer_id().to_string(),
            "name": m.config().name,
            "shell": m.genesis().id().to_string(),
            "role": role,
            "signal": signal,
            "links": links.keys().collect::<Vec<_>>(),
            "members": members,
            "presence": presence,
            "revoked": revoked,
            "revocations_digest": hex(&book.revocations().digest()),
            "paused": m.settings().paused,
            "paused_members": m.settings().paused_members.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "budget": m.settings().budget,
            "approval": m.settings().approval,
        });
        (fields, links)
    });
    let paths: serde_json::Map<String, Value> = links
        .into_iter()
        .filter_map(|(peer, conn)| {
            let c = node.connection(conn)?;
            Some((
                peer,
                path_fields(&syncshell_transport::Connection::stats(&*c)),
            ))
        })
        .collect();
    if let Value::Object(m) = &mut fields {
        m.insert("paths".into(), Value::Object(paths));
    }
    fields
}

/// An invite of this member (who must be an admin) with `options`.
pub(crate) fn invite(node: &Node, options: InviteOptions) -> Result<String, String> {
    node.with_member(|m, t| m.invite(options, t))
        .map(|code| code.to_text().as_str().to_owned())
        .map_err(|e| e.to_string())
}

/// Sends a chat line to every linked member; returns how many.
pub(crate) fn chat(node: &Node, kind: ChatKind, text: &str) -> Result<usize, String> {
    node.with_member(|m, _| m.chat(kind, text))
        .map_err(|e| e.to_string())
}

/// Publishes this member's presence and tells the linked members.
pub(crate) fn set_presence(node: &Node, presence: Presence) -> Result<(), String> {
    node.with_member(|m, t| m.set_presence(presence, t))
        .map_err(|e| e.to_string())
}

/// The name of a chat kind in events.
fn chat_kind_name(kind: ChatKind) -> &'static str {
    match kind {
        ChatKind::Text => "text",
        ChatKind::Typing => "typing",
        ChatKind::Presence => "presence",
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::{escape_controls, printable};

    #[test]
    fn escape_sequences_are_removed_whole() {
        let cases = [
            ("plain text, é and 日本", "plain text, é and 日本"),
            ("\u{1b}[2J\u{1b}[1;31mred\u{1b}[0m", "red"),
            ("a\u{1b}]0;title\u{7}b", "ab"),
            (
                "a\u{1b}]8;;http://x\u{1b}\\link\u{1b}]8;;\u{1b}\\b",
                "alinkb",
            ),
            ("a\u{9b}2Jb\u{9d}0;t\u{9c}c", "abc"),
            ("a\u{1b}(Bb\u{1b}7c", "abc"),
            ("unterminated \u{1b}]0;everything after", "unterminated "),
            (
                "bell\u{7} bs\u{8} del\u{7f} nel\u{85} nul\u{0}",
                "bell bs del nel nul",
            ),
            ("one\nAva: forged\rline\tend", "one Ava: forged line end"),
            ("\u{202e}desrever\u{2066}x\u{2069}", "desreverx"),
            ("trailing escape \u{1b}", "trailing escape "),
        ];
        for (input, want) in cases {
            assert_eq!(printable(input), want, "{input:?}");
        }
    }

    #[test]
    fn json_lines_escape_del_and_c1_too() {
        let value = serde_json::json!({ "name": "a\u{1b}b\u{7f}c\u{9b}d" });
        let line = escape_controls(&value.to_string());
        assert!(!line.chars().any(char::is_control), "{line:?}");
        let back: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        assert_eq!(back, value);
    }
}

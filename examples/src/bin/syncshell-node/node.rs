//! A long-running member: its links to other members over WebRTC, what runs on each link
//! (handshake, phonebook sync, folder transfers, chat), and the commands and events of its
//! control surface.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand_core::{OsRng, RngCore};
use serde_json::{json, Value};
use syncshell_examples::wire::{now, run_handshake};
use syncshell_identity::{
    Admission, Identity, InviteCode, InviteLedger, InviteOptions, JoinRequest, PeerId,
    ShellGenesis, TokenChain,
};
use syncshell_member::{ChatKind, Direction, Info, LinkMessage, RelayMessage};
use syncshell_phonebook::{Clock, Entry, Phonebook, Presence, Profile};
use syncshell_reconnect::{BackoffPolicy, Local, Reconnector};
use syncshell_revocation::{Reason, RevocationSet, Tombstone};
use syncshell_signal::{relay_hints_text, NoticeCode, SignalClient, Status, TransportSignaling};
use syncshell_stream::{
    receive_folder, send_folder, Progress, ReceiveOptions, SendOptions, SessionKey,
};
use syncshell_transport::{Connection, Transport};
use syncshell_webrtc::{WebRtcConnection, WebRtcTransport};
use tokio::sync::{mpsc, watch, Notify};

use crate::store::{Store, CHAIN, GENESIS, LEDGER};

/// The number of the one transfer each way a link carries (docs/spec/link.md: a sender
/// numbers its transfers on a link from 1).
const TRANSFER_ID: u64 = 1;

/// How long `link-up` waits for the peer's info (and its name).
const INFO_WAIT: Duration = Duration::from_secs(2);

/// How long a pinged member has to answer before its link is ended.
const PING_TIMEOUT: Duration = Duration::from_secs(3);

/// How often a joiner asks its inviter again.
const JOIN_RETRY: Duration = Duration::from_secs(2);

/// Stream frames queued from the link towards a receiving transfer. The link's reader
/// waits while it is full (the transport then holds the sender back), so memory stays
/// bounded whatever the sender does.
const RECEIVE_QUEUE: usize = 64;
/// Frames queued from the link towards a sending transfer. A receiver sends a handful per
/// transfer (a request, a completion, an abort): a peer that overfills it is disconnected.
const SEND_QUEUE: usize = 16;
/// Messages queued for the link's writer (sync replies, chat, infos). A peer that does not
/// read what it asked for is disconnected when it is full, not buffered for.
const CONTROL_QUEUE: usize = 256;
/// How often links are re-checked against the revocation set and their expiry when no
/// admission ends sooner (each expiry is also checked at its own time).
const ADMISSION_RECHECK: Duration = Duration::from_secs(5);
/// How long the node waits for the signal server's STUN and TURN servers before it dials.
const FIRST_ICE_GRANT: Duration = Duration::from_secs(3);
/// How long a dial (WebRTC connect and handshake) may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the WebRTC transport may take to connect or answer: across networks a relayed
/// connection spends 2 s per side gathering (a TURN server that never answers), 2 s before
/// ICE settles for a relay, and several round trips of a relay reached over TCP.
const WEBRTC_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Offers answered at once, so one slow peer does not hold up the others.
const ACCEPTORS: usize = 3;
/// How long a ringing member waits for the dial it asked for before counting a failure.
/// Longer than a dial may take: a ring that times out is followed by another, and a ring
/// restarts the member's dial, so a shorter one would cut every slow (relayed) dial short.
const RING_TIMEOUT: Duration = Duration::from_secs(22);
/// Longest a handshake may take here (the handshake's own deadline is longer); a stuck one
/// is retried on a new connection.
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(3);
/// A ring about a link younger than this, whose peer's run is not known yet, was sent before
/// the link was up: ignore it.
const RING_GRACE: Duration = Duration::from_secs(2);
/// Incoming handshakes accepted per second (burst of the same size): each costs signature
/// checks, so a peer cannot make the node spend without bound.
const ACCEPT_RATE: f64 = 10.0;
/// Most often progress is reported.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

pub(crate) type Conn = WebRtcConnection;
pub(crate) type Net = WebRtcTransport<TransportSignaling>;

/// Settings from the command line.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) name: String,
    /// The relays this node uses, in order (its invites name them).
    pub(crate) relays: Vec<String>,
    pub(crate) share: Option<PathBuf>,
    pub(crate) receive: Option<PathBuf>,
    pub(crate) send_rate: Option<u64>,
    pub(crate) policy: BackoffPolicy,
    pub(crate) sync_interval: Duration,
    /// Bind addresses, ICE servers given on the command line, relay-only.
    pub(crate) webrtc: syncshell_webrtc::WebRtcConfig,
}

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
        if let Some(line) = human(event, &fields) {
            print_line(&printable(&line));
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

/// One line on stdout; a closed stdout is not an error worth dying for.
fn print_line(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The chat-mode line for an event; `None` for events a person does not need to see.
fn human(event: &str, f: &Value) -> Option<String> {
    let text = |k: &str| {
        f.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let name = text("name");
    Some(match event {
        "chat" => match text("kind").as_str() {
            "text" => format!("{name}: {}", text("text")),
            "typing" => format!("* {name} is typing..."),
            "presence" => format!("* {name} is {}", text("text")),
            _ => return None,
        },
        "link-up" => format!("* {name} is online"),
        "join-waiting" => format!(
            "* waiting for the inviter {} to come online (up to {} s)",
            text("inviter"),
            f.get("timeout_s")
                .and_then(Value::as_f64)
                .unwrap_or_default()
        ),
        "link-down" => format!("* {name} went offline"),
        "said" | "progress" => return None,
        _ => {
            let mut rest = f.clone();
            if let Value::Object(m) = &mut rest {
                m.remove("ms");
            }
            format!("# {event} {rest}")
        }
    })
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An authenticated link to a member.
#[derive(Debug)]
struct Link {
    id: u64,
    since: Instant,
    /// The peer's run (from its info message), to tell a link to an earlier run.
    peer_boot: Option<u64>,
    conn: Arc<Conn>,
    admission: Admission,
    control: mpsc::Sender<Vec<u8>>,
    /// The number of a ping sent on this link that has not been answered yet.
    ping: Option<u64>,
}

/// A folder to send to a member on one of its links.
#[derive(Debug)]
struct SendJob {
    link: u64,
    lane: Lane,
    key: SessionKey,
    folder: PathBuf,
}

/// A dial in progress.
#[derive(Debug)]
struct Dial {
    cancel: Arc<Notify>,
}

/// What the node knows, behind one lock that is never held across an await.
#[derive(Debug)]
struct State {
    chain: TokenChain,
    book: Phonebook,
    clock: Clock,
    ledger: InviteLedger,
    links: HashMap<PeerId, Link>,
    /// Dials in progress, each with what cancels it.
    dialing: HashMap<PeerId, Dial>,
    reconnector: Reconnector,
    /// Members we asked to dial us, with the number of the request.
    ringing: HashMap<PeerId, u64>,
    accept_tokens: f64,
    accept_at: Instant,
    /// Members a folder is being sent to (at most one transfer each), with the request of a
    /// newer link that waits for it to end.
    sending: HashMap<PeerId, Option<SendJob>>,
    /// The names linked members gave in their infos: what events call a member the
    /// phonebook does not hold yet (a new member, before the first sync).
    names: HashMap<PeerId, String>,
}

/// The running node.
#[derive(Debug)]
pub(crate) struct Node {
    identity: Arc<Identity>,
    me: PeerId,
    genesis: ShellGenesis,
    store: Store,
    settings: Settings,
    signal: SignalClient,
    net: Net,
    state: Mutex<State>,
    next_link: AtomicU64,
    /// A random number for this run of the node, sent in rings and infos.
    boot: u64,
    wake: Notify,
    receiving: tokio::sync::Mutex<()>,
    /// Told when a link is added, so the admission check looks at its expiry.
    links_changed: Notify,
}

fn copy(identity: &Identity) -> Identity {
    Identity::from_secret_bytes(&identity.to_secret_bytes())
}

impl Node {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        identity: Identity,
        genesis: ShellGenesis,
        chain: TokenChain,
        book: Phonebook,
        ledger: InviteLedger,
        store: Store,
        settings: Settings,
        signal: SignalClient,
    ) -> Arc<Self> {
        let me = identity.peer_id();
        let mut config = settings.webrtc.clone();
        config.connect_timeout = WEBRTC_CONNECT_TIMEOUT;
        let net = WebRtcTransport::new(signal.transport(), me.to_string(), config);
        let reconnector = Reconnector::new(settings.policy);
        Arc::new(Node {
            identity: Arc::new(identity),
            me,
            genesis,
            store,
            signal,
            net,
            state: Mutex::new(State {
                chain,
                book,
                clock: Clock::new(),
                ledger,
                links: HashMap::new(),
                dialing: HashMap::new(),
                reconnector,
                ringing: HashMap::new(),
                accept_tokens: ACCEPT_RATE,
                accept_at: Instant::now(),
                sending: HashMap::new(),
                names: HashMap::new(),
            }),
            settings,
            next_link: AtomicU64::new(1),
            boot: OsRng.next_u64(),
            wake: Notify::new(),
            receiving: tokio::sync::Mutex::new(()),
            links_changed: Notify::new(),
        })
    }

    /// Uses the STUN and TURN servers the signal server hands out (besides those of the
    /// command line) for every later connection, renewed as the server renews them. Waits a
    /// little for the first answer, so the first dials can already use a relay.
    pub(crate) async fn use_relay_ice_servers(self: &Arc<Self>) {
        let mut grants = self.signal.ice_servers();
        let _ = tokio::time::timeout(FIRST_ICE_GRANT, grants.changed()).await;
        self.apply_ice_grant(&grants.borrow_and_update());
        let node = self.clone();
        tokio::spawn(async move {
            while grants.changed().await.is_ok() {
                let grant = grants.borrow_and_update().clone();
                node.apply_ice_grant(&grant);
            }
        });
    }

    fn apply_ice_grant(&self, grant: &syncshell_signal::IceGrant) {
        let mut servers = self.settings.webrtc.ice_servers.clone();
        for s in &grant.servers {
            for url in &s.urls {
                let server = syncshell_webrtc::IceServer {
                    urls: vec![url.clone()],
                    username: s.username.clone(),
                    credential: s.credential.clone(),
                };
                // TLS URLs (turns:) are not supported by the WebRTC backend.
                match server.check() {
                    Ok(()) => servers.push(server),
                    Err(e) => tracing::debug!(error = %e, "skipping an ICE server of the relay"),
                }
            }
        }
        if let Err(e) = self.net.set_ice_servers(servers) {
            tracing::warn!(error = %e, "cannot use the relay's ICE servers");
        }
    }

    /// Publishes this member's entry, schedules every known member and starts the loops.
    pub(crate) fn start(self: &Arc<Self>) -> Result<(), String> {
        {
            let mut s = lock(&self.state);
            let profile = Profile {
                display_name: self.settings.name.clone(),
                ..Profile::default()
            };
            // An entry saved by an earlier run may carry a later stamp than this clock
            // would give: the new entry must supersede it.
            let saved = s
                .book
                .stored()
                .find(|e| e.peer() == &self.me)
                .map(Entry::stamp);
            if let Some(stamp) = saved {
                s.clock.observe(stamp);
            }
            let stamp = s.clock.tick(now());
            let entry = Entry::publish(&self.genesis, &self.identity, &s.chain, &profile, stamp)
                .map_err(|e| format!("publishing our entry: {e}"))?;
            s.book.insert(entry).map_err(|e| e.to_string())?;
            self.store.save_book(&s.book)?;
            let peers: Vec<PeerId> = s.book.entries(now()).map(|e| *e.peer()).collect();
            for p in peers {
                self.schedule(&mut s, p);
            }
            // The owner is always worth reaching.
            let owner = *self.genesis.owner();
            self.schedule(&mut s, owner);
            // Upload what we know of revocations, so the server refuses revoked members.
            for t in s.book.revocations().iter() {
                let _ = self.signal.upload_tombstone(&t.encode());
            }
        }
        tokio::spawn(self.clone().dial_loop());
        for _ in 0..ACCEPTORS {
            tokio::spawn(self.clone().accept_loop());
        }
        tokio::spawn(self.clone().app_loop());
        tokio::spawn(self.clone().sync_loop());
        tokio::spawn(self.clone().notice_loop());
        tokio::spawn(self.clone().signal_loop());
        tokio::spawn(self.clone().admission_loop());
        tokio::spawn(self.clone().liveness_loop());
        Ok(())
    }

    /// Adds a member to the dial schedule, unless it is us, revoked or already linked.
    fn schedule(&self, s: &mut State, peer: PeerId) {
        if peer == self.me || s.book.revocations().is_revoked(&peer) || s.links.contains_key(&peer)
        {
            return;
        }
        s.reconnector.add_peer(peer, now());
        self.wake.notify_one();
    }

    fn role(&self, s: &State) -> String {
        match s.book.revocations().admit(&self.me, &s.chain, now()) {
            Ok(a) => format!("{:?}", a.role()).to_lowercase(),
            Err(e) => format!("not admitted: {e}"),
        }
    }

    /// The `status` event: what the test compares between nodes.
    pub(crate) fn status(&self) -> Value {
        let s = lock(&self.state);
        let t = now();
        let members: BTreeMap<String, String> = s
            .book
            .entries(t)
            .map(|e| (e.peer().to_string(), e.shown_name()))
            .collect();
        let presence: BTreeMap<String, &str> = s
            .book
            .entries(t)
            .map(|e| (e.peer().to_string(), presence_text(e.presence())))
            .collect();
        let mut links: Vec<String> = s.links.keys().map(|p| p.to_string()).collect();
        links.sort();
        let paths: BTreeMap<String, Value> = s
            .links
            .iter()
            .map(|(p, l)| (p.to_string(), path_fields(&l.conn.stats())))
            .collect();
        let mut revoked: Vec<String> = s
            .book
            .revocations()
            .iter()
            .map(|t| t.revoked().to_string())
            .collect();
        revoked.sort();
        revoked.dedup();
        let signal = match self.signal.status() {
            Status::Connected => "connected".to_owned(),
            Status::Connecting => "connecting".to_owned(),
            Status::Failed(e) => format!("failed: {e}"),
        };
        json!({
            "peer": self.me.to_string(),
            "name": self.settings.name,
            "shell": self.genesis.id().to_string(),
            "role": self.role(&s),
            "signal": signal,
            "links": links,
            "paths": paths,
            "members": members,
            "presence": presence,
            "revoked": revoked,
            "revocations_digest": hex(&s.book.revocations().digest()),
        })
    }

    /// An invite of this member (who must be an admin), for one joiner.
    /// An invite with `options` (its hints are set here: this node's relay).
    pub(crate) fn invite(&self, options: InviteOptions) -> Result<String, String> {
        let s = lock(&self.state);
        let options = InviteOptions {
            hints: relay_hints_text(&self.settings.relays),
            ..options
        };
        let code = InviteCode::create(
            s.book.revocations(),
            &self.identity,
            &s.chain,
            &options,
            now(),
            &mut OsRng,
        )
        .map_err(|e| e.to_string())?;
        Ok(code.to_text().as_str().to_owned())
    }

    /// The member `who` names: a full peer id, or the start of one (as `status` and the
    /// events show it, `peer-` and at least 8 characters), or a display name; it must name
    /// one member of the phonebook.
    pub(crate) fn member(&self, who: &str) -> Result<PeerId, String> {
        if let Ok(peer) = who.parse::<PeerId>() {
            return Ok(peer);
        }
        let s = lock(&self.state);
        let by_id = who.starts_with("peer-") && who.len() >= 13;
        let found: Vec<(PeerId, String)> = s
            .book
            .entries(now())
            .map(|e| (*e.peer(), e.shown_name()))
            .filter(|(peer, name)| {
                (by_id && peer.to_string().starts_with(who)) || name.eq_ignore_ascii_case(who)
            })
            .collect();
        match found.as_slice() {
            [(peer, _)] => Ok(*peer),
            [] => Err(format!(
                "no member is named {who:?} or has an id starting so"
            )),
            several => Err(format!(
                "{who:?} names {} members ({}): give more of the id",
                several.len(),
                several
                    .iter()
                    .map(|(p, n)| format!("{n} {}", p.short()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// Revokes a member: the tombstone goes into the phonebook, to the signal server and to
    /// every linked member; links to the revoked member close.
    pub(crate) fn revoke(self: &Arc<Self>, peer: PeerId) -> Result<(), String> {
        let tombstone = {
            let s = lock(&self.state);
            Tombstone::issue(
                s.book.revocations(),
                &self.identity,
                &s.chain,
                peer,
                Reason::Removed,
                now(),
            )
            .map_err(|e| e.to_string())?
        };
        let _ = self.signal.upload_tombstone(&tombstone.encode());
        {
            let mut s = lock(&self.state);
            s.book.revoke(tombstone).map_err(|e| e.to_string())?;
            self.store.save_book(&s.book)?;
        }
        self.after_revocations();
        self.sync_all();
        Ok(())
    }

    /// Adds a member to the dial schedule (the inviter, right after joining).
    pub(crate) fn reach(&self, peer: PeerId) {
        let mut s = lock(&self.state);
        self.schedule(&mut s, peer);
    }

    /// A member's name as its phonebook entry shows it (a generated one until it arrives).
    fn name_of(&self, peer: &PeerId) -> String {
        let s = lock(&self.state);
        if let Some(e) = s.book.get(peer, now()) {
            return e.shown_name();
        }
        s.names
            .get(peer)
            .filter(|n| !n.is_empty())
            .cloned()
            .unwrap_or_else(|| syncshell_phonebook::friendly_name(peer))
    }

    /// Publishes a new phonebook entry with this presence, spreads it, and tells the linked
    /// members at once.
    pub(crate) fn set_presence(&self, presence: Presence) -> Result<(), String> {
        {
            let mut s = lock(&self.state);
            let profile = Profile {
                display_name: self.settings.name.clone(),
                presence,
                last_seen: now(),
                ..Profile::default()
            };
            let stamp = s.clock.tick(now());
            let entry = Entry::publish(&self.genesis, &self.identity, &s.chain, &profile, stamp)
                .map_err(|e| e.to_string())?;
            s.book.insert(entry).map_err(|e| e.to_string())?;
            self.store.save_book(&s.book)?;
        }
        self.sync_all();
        self.chat(ChatKind::Presence, presence_text(presence));
        Ok(())
    }

    /// Sends a chat line to every linked member.
    pub(crate) fn chat(&self, kind: ChatKind, text: &str) -> usize {
        let m = LinkMessage::Chat {
            kind,
            text: text.to_owned(),
        }
        .encode();
        let mut n = 0;
        let mut full = Vec::new();
        for (peer, link) in &lock(&self.state).links {
            match link.control.try_send(m.clone()) {
                Ok(()) => n += 1,
                Err(mpsc::error::TrySendError::Full(_)) => full.push((*peer, link.id)),
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        self.end_overloaded(full);
        n
    }

    /// Pings every linked member the relay no longer lists as connected (its process may have
    /// died, and a dead peer's link takes a long time to time out), and ends a link whose
    /// ping is not answered within [`PING_TIMEOUT`]. A member whose relay went away while its
    /// link is fine answers, and keeps its link.
    async fn liveness_loop(self: Arc<Self>) {
        let mut present = self.signal.presence();
        while present.changed().await.is_ok() {
            // The list is empty while this node is not connected: nothing to learn then.
            if self.signal.status() != Status::Connected {
                continue;
            }
            let listed = present.borrow_and_update().clone();
            let mut pings = Vec::new();
            {
                let mut s = lock(&self.state);
                for (peer, link) in s.links.iter_mut() {
                    if listed.contains(peer) || link.ping.is_some() {
                        continue;
                    }
                    let n = OsRng.next_u64();
                    if link.control.try_send(LinkMessage::Ping(n).encode()).is_ok() {
                        link.ping = Some(n);
                        pings.push((*peer, link.id, n));
                    }
                }
            }
            for (peer, id, n) in pings {
                let node = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(PING_TIMEOUT).await;
                    let unanswered = lock(&node.state)
                        .links
                        .get(&peer)
                        .is_some_and(|l| l.id == id && l.ping == Some(n));
                    if unanswered {
                        node.end_link(peer, id, "no answer");
                    }
                });
            }
        }
    }

    /// A pong on link `id`: the peer is alive.
    fn on_pong(&self, peer: PeerId, id: u64, n: u64) {
        if let Some(l) = lock(&self.state).links.get_mut(&peer) {
            if l.id == id && l.ping == Some(n) {
                l.ping = None;
            }
        }
    }

    /// Ends the link `id` to `peer` if it is still the current one, for `why`.
    fn end_link(&self, peer: PeerId, id: u64, why: &str) {
        let conn = {
            let mut s = lock(&self.state);
            match s.links.get(&peer) {
                Some(l) if l.id == id => s.links.remove(&peer).map(|l| l.conn),
                _ => None,
            }
        };
        if let Some(conn) = conn {
            emit(
                "link-down",
                json!({ "peer": peer.to_string(), "name": self.name_of(&peer), "why": why }),
            );
            tokio::spawn(async move { conn.close().await });
        }
    }

    /// Disconnects the links whose writer's queue was full: their peers do not read.
    fn end_overloaded(&self, full: Vec<(PeerId, u64)>) {
        for (peer, id) in full {
            tracing::warn!(peer = %peer.short(), "the link's queue is full; disconnecting");
            self.end_link(peer, id, "overloaded");
        }
    }

    /// Closes every link (at exit).
    pub(crate) async fn shutdown(&self) {
        let conns: Vec<Arc<Conn>> = lock(&self.state)
            .links
            .drain()
            .map(|(_, l)| l.conn)
            .collect();
        for c in conns {
            c.close().await;
        }
        self.signal.close();
    }

    /// Closes links to members that are revoked now, and reports each newly revoked one.
    fn after_revocations(&self) {
        self.check_links();
    }

    /// Ends every link whose admission has ended: a key it rests on is revoked, or its
    /// chain has expired. Returns when the next admission ends, if one ever does.
    fn check_links(&self) -> Option<syncshell_identity::Timestamp> {
        let t = now();
        let gone: Vec<(PeerId, &str, Arc<Conn>)>;
        let mut next: Option<syncshell_identity::Timestamp> = None;
        {
            let mut s = lock(&self.state);
            let mut ended = Vec::new();
            for (p, l) in &s.links {
                if s.book.revocations().check(&l.admission).is_err() {
                    ended.push((*p, "revoked"));
                    continue;
                }
                match l.admission.expires_at() {
                    Some(at) if t >= at => ended.push((*p, "expired")),
                    Some(at) => next = Some(next.map_or(at, |n| n.min(at))),
                    None => {}
                }
            }
            gone = ended
                .into_iter()
                .filter_map(|(p, why)| {
                    s.reconnector.remove_peer(&p);
                    s.links.remove(&p).map(|l| (p, why, l.conn))
                })
                .collect();
            let all: Vec<PeerId> = s.book.revocations().iter().map(|t| *t.revoked()).collect();
            for p in all {
                s.reconnector.remove_peer(&p);
            }
        }
        for (p, why, conn) in gone {
            emit(
                "link-down",
                json!({ "peer": p.to_string(), "name": self.name_of(&p), "why": why }),
            );
            tokio::spawn(async move { conn.close().await });
        }
        next
    }

    /// Ends links when their admission does: at each link's expiry, and every
    /// [`ADMISSION_RECHECK`] besides (revocations are also checked as they arrive).
    async fn admission_loop(self: Arc<Self>) {
        loop {
            let wait = match self.check_links() {
                Some(at) => Duration::from_millis(at.as_millis().saturating_sub(now().as_millis()))
                    .clamp(Duration::from_millis(1), ADMISSION_RECHECK),
                None => ADMISSION_RECHECK,
            };
            let _ = tokio::time::timeout(wait, self.links_changed.notified()).await;
        }
    }

    /// Starts a phonebook sync on every link.
    fn sync_all(&self) {
        let mut full = Vec::new();
        {
            let s = lock(&self.state);
            let start = LinkMessage::Sync(s.book.sync_start()).encode();
            for (peer, link) in &s.links {
                let m = start.clone();
                if let Err(mpsc::error::TrySendError::Full(_)) = link.control.try_send(m) {
                    full.push((*peer, link.id));
                }
            }
        }
        self.end_overloaded(full);
    }

    /// Dials members when the backoff policy says so; asks members with a smaller id to
    /// dial instead (only the smaller id of a pair dials, so two members never cross).
    async fn dial_loop(self: Arc<Self>) {
        loop {
            let (due, wait) = {
                let mut s = lock(&self.state);
                let t = now();
                let mut due = Vec::new();
                while let Some(p) = s.reconnector.poll_attempt(t) {
                    due.push(p);
                }
                let wait = s
                    .reconnector
                    .poll_timeout(t)
                    .map(|at| Duration::from_millis(at.as_millis().saturating_sub(t.as_millis())));
                (due, wait)
            };
            for peer in due {
                self.clone().attempt(peer);
            }
            let wait = wait
                .unwrap_or(Duration::from_secs(5))
                .max(Duration::from_millis(10));
            let _ = tokio::time::timeout(wait, self.wake.notified()).await;
        }
    }

    fn attempt(self: Arc<Self>, peer: PeerId) {
        if matches!(self.signal.status(), Status::Failed(_)) {
            // Without the signal server no member can be reached; nothing to retry.
            return;
        }
        let cancel = Arc::new(Notify::new());
        {
            let mut s = lock(&self.state);
            if s.links.contains_key(&peer)
                || s.dialing.contains_key(&peer)
                || s.ringing.contains_key(&peer)
            {
                return;
            }
            if self.me > peer {
                // Ask the smaller id to dial; count a failure if no link comes of it.
                let ring = RelayMessage::Ring(self.boot).encode();
                if self.signal.send_app(&peer, &ring).is_err() {
                    self.failed(&mut s, peer);
                    return;
                }
                let ring = self.next_link.fetch_add(1, Ordering::Relaxed);
                s.ringing.insert(peer, ring);
                drop(s);
                let node = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(RING_TIMEOUT).await;
                    let mut s = lock(&node.state);
                    if s.ringing.get(&peer) == Some(&ring) {
                        s.ringing.remove(&peer);
                        node.failed(&mut s, peer);
                    }
                });
                return;
            }
            s.dialing.insert(
                peer,
                Dial {
                    cancel: cancel.clone(),
                },
            );
        }
        tokio::spawn(async move {
            let address = peer.to_string();
            let outcome = tokio::select! {
                r = tokio::time::timeout(DIAL_TIMEOUT, self.net.connect(&address)) => {
                    match r {
                        Ok(Ok(conn)) => self.clone().authenticate(Arc::new(conn), true).await,
                        Ok(Err(e)) => Err(format!("connect: {e}")),
                        Err(_) => Err("connect: timed out".to_owned()),
                    }
                }
                _ = cancel.notified() => Err("cancelled: the member is not on the signal server, or rang".to_owned()),
            };
            let mut s = lock(&self.state);
            if s.dialing
                .get(&peer)
                .is_some_and(|d| Arc::ptr_eq(&d.cancel, &cancel))
            {
                s.dialing.remove(&peer);
            }
            if let Err(e) = outcome {
                tracing::debug!(peer = %peer.short(), error = %e, "dial failed");
                self.failed(&mut s, peer);
            }
        });
    }

    /// Counts a failed attempt to reach `peer` and schedules the next one.
    fn failed(&self, s: &mut State, peer: PeerId) {
        if let Some(retry) = s.reconnector.on_failure(&peer, now(), &mut OsRng) {
            if retry.needs_invite && retry.failures == self.settings.policy.invite_after_failures {
                emit(
                    "needs-invite",
                    json!({ "peer": peer.to_string(), "failures": retry.failures }),
                );
            }
        }
        self.wake.notify_one();
    }

    /// The signal server says a member is not there: stop waiting for it.
    async fn notice_loop(self: Arc<Self>) {
        while let Some(n) = self.signal.next_notice().await {
            let (NoticeCode::Unreachable, Some(peer)) = (n.code, n.peer) else {
                continue;
            };
            let mut s = lock(&self.state);
            if let Some(dial) = s.dialing.get(&peer) {
                dial.cancel.notify_one();
            } else if s.ringing.remove(&peer).is_some() {
                self.failed(&mut s, peer);
            }
        }
    }

    fn accept_allowed(&self) -> bool {
        let mut s = lock(&self.state);
        let t = Instant::now();
        let add = t.duration_since(s.accept_at).as_secs_f64() * ACCEPT_RATE;
        s.accept_tokens = (s.accept_tokens + add).min(ACCEPT_RATE);
        s.accept_at = t;
        if s.accept_tokens >= 1.0 {
            s.accept_tokens -= 1.0;
            true
        } else {
            false
        }
    }

    async fn accept_loop(self: Arc<Self>) {
        loop {
            let conn = match self.net.accept().await {
                Ok(c) => Arc::new(c),
                Err(e) => {
                    tracing::debug!(error = %e, "accept failed");
                    if matches!(self.signal.status(), Status::Failed(_)) {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            if !self.accept_allowed() {
                tracing::warn!("too many incoming handshakes; closing one");
                tokio::spawn(async move { conn.close().await });
                continue;
            }
            let node = self.clone();
            tokio::spawn(async move {
                if let Err(e) = node.authenticate(conn, false).await {
                    tracing::debug!(error = %e, "incoming handshake failed");
                }
            });
        }
    }

    /// Runs the handshake on a new connection and, if both sides admit each other, makes
    /// it the link to that member (replacing an older one).
    async fn authenticate(self: Arc<Self>, conn: Arc<Conn>, initiator: bool) -> Result<(), String> {
        let (chain, revocations) = {
            let s = lock(&self.state);
            (s.chain.clone(), s.book.revocations().clone())
        };
        let local = Local {
            identity: &self.identity,
            chain: &chain,
            revocations: &revocations,
        };
        let started = Instant::now();
        let outcome =
            tokio::time::timeout(HANDSHAKE_LIMIT, run_handshake(&conn, &local, initiator))
                .await
                .unwrap_or_else(|_| {
                    Err(syncshell_reconnect::Error::Unexpected(
                        "handshake took too long",
                    ))
                });
        let session = match outcome {
            Ok(s) => s,
            Err(e) => {
                conn.close().await;
                emit(
                    "refused",
                    json!({ "initiator": initiator, "error": e.to_string() }),
                );
                return Err(e.to_string());
            }
        };
        let peer = *session.peer();
        let id = self.next_link.fetch_add(1, Ordering::Relaxed);
        let (control, outbox) = mpsc::channel(CONTROL_QUEUE);
        let registered = {
            let mut s = lock(&self.state);
            // A revocation may have arrived during the handshake.
            if s.book.revocations().check(session.admission()).is_err() {
                None
            } else {
                s.reconnector.on_success(&peer, now());
                s.reconnector.remove_peer(&peer);
                s.ringing.remove(&peer);
                Some(s.links.insert(
                    peer,
                    Link {
                        id,
                        since: Instant::now(),
                        peer_boot: None,
                        conn: conn.clone(),
                        admission: session.admission().clone(),
                        control: control.clone(),
                        ping: None,
                    },
                ))
            }
        };
        let Some(old) = registered else {
            conn.close().await;
            return Err("revoked during the handshake".into());
        };
        if let Some(old) = old {
            tokio::spawn(async move { old.conn.close().await });
        }
        self.links_changed.notify_one();
        let handshake = started.elapsed();
        let setup = conn.setup_times();
        let mut fields = json!({
            "peer": peer.to_string(),
            "name": self.name_of(&peer),
            "initiator": initiator,
            "role": format!("{:?}", session.role()).to_lowercase(),
            "connect_ms": setup.ready.map(millis),
            "handshake_ms": millis(handshake),
            "setup_ms": {
                "created": setup.created.map(millis),
                "gathered": setup.gathered.map(millis),
                "described": setup.described.map(millis),
                "ice": setup.ice_connected.map(millis),
                "dtls": setup.dtls_connected.map(millis),
                "channels": setup.channels_open.map(millis),
                "ready": setup.ready.map(millis),
            },
        });
        if let (Value::Object(m), Value::Object(p)) = (&mut fields, path_fields(&conn.stats())) {
            m.extend(p);
        }
        let key = SessionKey::from_bytes(*session.key());
        tokio::spawn(write_loop(conn.clone(), outbox));
        tokio::spawn(
            self.clone()
                .serve_link(peer, id, conn, key, control, fields),
        );
        Ok(())
    }

    /// Reads a link's messages until it ends.
    async fn serve_link(
        self: Arc<Self>,
        peer: PeerId,
        id: u64,
        conn: Arc<Conn>,
        key: SessionKey,
        control: mpsc::Sender<Vec<u8>>,
        link_up: Value,
    ) {
        // `link-up` waits for the peer's info (its name), but not long.
        let mut link_up = Some(link_up);
        let announce_by = tokio::time::sleep(INFO_WAIT);
        tokio::pin!(announce_by);
        let info = LinkMessage::Info(Info {
            boot: self.boot,
            name: self.settings.name.clone(),
            share: self.settings.share.is_some(),
            receive: self.settings.receive.is_some(),
        });
        // The queue is empty at the start of a link: these always fit.
        let _ = control.try_send(info.encode());
        let start = lock(&self.state).book.sync_start();
        let _ = control.try_send(LinkMessage::Sync(start).encode());

        // Each link asks for at most one transfer each way: repeated infos are not requests.
        let mut asked_to_send = false;
        let mut asked_to_receive = false;
        let mut to_sender: Option<mpsc::Sender<Vec<u8>>> = None;
        let mut to_receiver: Option<mpsc::Sender<Vec<u8>>> = None;
        let mut why = "closed";
        loop {
            let received = tokio::select! {
                m = conn.recv() => m,
                _ = &mut announce_by, if link_up.is_some() => {
                    if let Some(fields) = link_up.take() {
                        emit("link-up", fields);
                    }
                    continue;
                }
            };
            let message = match received {
                Ok(Some(m)) => m,
                Ok(None) | Err(_) => break,
            };
            let message = match LinkMessage::decode(&message) {
                Ok(Some(m)) => m,
                Ok(None) => {
                    tracing::debug!(peer = %peer.short(), "a link message of a kind this version does not know");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(peer = %peer.short(), error = %e, "a link message that does not decode; dropped");
                    continue;
                }
            };
            match message {
                LinkMessage::Sync(body) => {
                    if self.on_sync(peer, &body, &control).is_err() {
                        why = "overloaded";
                        break;
                    }
                }
                LinkMessage::Info(info) => {
                    {
                        let mut s = lock(&self.state);
                        if let Some(l) = s.links.get_mut(&peer) {
                            if l.id == id {
                                l.peer_boot = Some(info.boot);
                            }
                        }
                        s.names.insert(peer, info.name.clone());
                    }
                    if let Some(mut fields) = link_up.take() {
                        if let Value::Object(m) = &mut fields {
                            m.insert("name".into(), Value::String(self.name_of(&peer)));
                        }
                        emit("link-up", fields);
                    }
                    let (shares, receives) = (info.share, info.receive);
                    if let (Some(folder), true, false) =
                        (self.settings.share.clone(), receives, asked_to_send)
                    {
                        asked_to_send = true;
                        let (tx, rx) = mpsc::channel(SEND_QUEUE);
                        to_sender = Some(tx);
                        let lane = Lane {
                            conn: conn.clone(),
                            direction: Direction::ToReceiver,
                            inbox: rx,
                        };
                        self.request_send(
                            peer,
                            SendJob {
                                link: id,
                                lane,
                                key: key.clone(),
                                folder,
                            },
                        );
                    } else if receives && asked_to_send {
                        tracing::debug!(peer = %peer.short(), "a repeated request to send; ignored");
                    }
                    if let (Some(dest), true, false) =
                        (self.settings.receive.clone(), shares, asked_to_receive)
                    {
                        asked_to_receive = true;
                        let (tx, rx) = mpsc::channel(RECEIVE_QUEUE);
                        to_receiver = Some(tx);
                        let lane = Lane {
                            conn: conn.clone(),
                            direction: Direction::ToSender,
                            inbox: rx,
                        };
                        tokio::spawn(self.clone().receive_from(peer, id, lane, key.clone(), dest));
                    }
                }
                LinkMessage::Transfer { id: t, .. } if t != TRANSFER_ID => {
                    tracing::debug!(peer = %peer.short(), transfer = t, "frames of a transfer this node does not run");
                }
                LinkMessage::Transfer {
                    direction: Direction::ToReceiver,
                    frame,
                    ..
                } => {
                    // Bulk data: the reader waits for room, which holds the sender back.
                    if let Some(tx) = &to_receiver {
                        if tx.send(frame).await.is_err() {
                            to_receiver = None;
                        }
                    }
                }
                LinkMessage::Transfer {
                    direction: Direction::ToSender,
                    frame,
                    ..
                } => {
                    if let Some(tx) = &to_sender {
                        match tx.try_send(frame) {
                            Ok(()) => {}
                            Err(mpsc::error::TrySendError::Full(_)) => {
                                tracing::warn!(peer = %peer.short(), "a flood of frames to our sender; disconnecting");
                                why = "overloaded";
                                break;
                            }
                            Err(mpsc::error::TrySendError::Closed(_)) => to_sender = None,
                        }
                    }
                }
                LinkMessage::Chat { kind, text } => {
                    let name = self.name_of(&peer);
                    emit(
                        "chat",
                        json!({
                            "from": peer.to_string(),
                            "name": name,
                            "kind": chat_kind_name(kind),
                            "text": text,
                        }),
                    );
                }
                LinkMessage::Ping(n) => {
                    if control.try_send(LinkMessage::Pong(n).encode()).is_err() {
                        why = "overloaded";
                        break;
                    }
                }
                LinkMessage::Pong(n) => self.on_pong(peer, id, n),
            }
        }
        drop(to_sender);
        drop(to_receiver);
        let current = {
            let mut s = lock(&self.state);
            let current = s.links.get(&peer).is_some_and(|l| l.id == id);
            if current {
                s.links.remove(&peer);
                self.schedule(&mut s, peer);
            }
            current
        };
        conn.close().await;
        if current {
            emit(
                "link-down",
                json!({ "peer": peer.to_string(), "name": self.name_of(&peer), "why": why }),
            );
        }
    }

    /// Handles a phonebook sync message; persists and spreads what changed. Fails when the
    /// link's queue is full: its peer asks without reading the replies.
    fn on_sync(
        &self,
        peer: PeerId,
        body: &[u8],
        control: &mpsc::Sender<Vec<u8>>,
    ) -> Result<(), ()> {
        let (replies, tombstones, news) = {
            let mut s = lock(&self.state);
            let before: HashSet<PeerId> = s.book.stored().map(|e| *e.peer()).collect();
            let outcome = match s.book.handle_sync(body) {
                Ok(o) => o,
                Err(e) => {
                    tracing::warn!(peer = %peer.short(), error = %e, "bad sync message");
                    return Ok(());
                }
            };
            let r = &outcome.report;
            let changed = r.added + r.updated + r.tombstones_added > 0;
            if changed {
                if let Err(e) = self.store.save_book(&s.book) {
                    emit("error", json!({ "message": e }));
                }
            }
            let now_peers: Vec<PeerId> = s
                .book
                .entries(now())
                .map(|e| *e.peer())
                .filter(|p| !before.contains(p))
                .collect();
            for p in &now_peers {
                self.schedule(&mut s, *p);
            }
            let tombstones: Vec<Vec<u8>> = if r.tombstones_added > 0 {
                s.book.revocations().iter().map(|t| t.encode()).collect()
            } else {
                Vec::new()
            };
            (outcome.replies, tombstones, changed)
        };
        for r in replies {
            let m = LinkMessage::Sync(r).encode();
            if let Err(mpsc::error::TrySendError::Full(_)) = control.try_send(m) {
                return Err(());
            }
        }
        if !tombstones.is_empty() {
            for t in &tombstones {
                let _ = self.signal.upload_tombstone(t);
            }
            self.after_revocations();
        }
        if news {
            // Tell the other links, so news spreads without waiting for the periodic sync.
            let mut full = Vec::new();
            {
                let s = lock(&self.state);
                let start = LinkMessage::Sync(s.book.sync_start()).encode();
                for (p, link) in &s.links {
                    if *p != peer {
                        let m = start.clone();
                        if let Err(mpsc::error::TrySendError::Full(_)) = link.control.try_send(m) {
                            full.push((*p, link.id));
                        }
                    }
                }
            }
            self.end_overloaded(full);
        }
        Ok(())
    }

    /// Starts sending the folder to `peer`, unless a transfer to it is running: then this
    /// one waits for it to end (replacing an older waiting one), so a member has at most
    /// one sender, and the share is hashed once per transfer, however often it asks.
    fn request_send(self: &Arc<Self>, peer: PeerId, job: SendJob) {
        let start = {
            let mut s = lock(&self.state);
            match s.sending.get_mut(&peer) {
                Some(waiting) => {
                    *waiting = Some(job);
                    None
                }
                None => {
                    s.sending.insert(peer, None);
                    Some(job)
                }
            }
        };
        if let Some(job) = start {
            tokio::spawn(self.clone().send_to(peer, job));
        }
    }

    /// Sends the folder to `peer`, then the request that waited meanwhile if its link is
    /// still the current one.
    async fn send_to(self: Arc<Self>, peer: PeerId, mut job: SendJob) {
        let options = SendOptions {
            rate_limit: self.settings.send_rate,
            ..SendOptions::default()
        };
        loop {
            emit("sending", json!({ "to": peer.to_string() }));
            match send_folder(&mut job.lane, &job.key, &job.folder, &options).await {
                Ok(r) => emit(
                    "sent",
                    json!({ "to": peer.to_string(), "files": r.files_sent, "bytes": r.bytes_sent }),
                ),
                Err(e) => emit(
                    "send-failed",
                    json!({ "to": peer.to_string(), "error": e.to_string() }),
                ),
            }
            let next = {
                let mut s = lock(&self.state);
                let waiting = s.sending.get_mut(&peer).and_then(Option::take);
                let live = |link: u64| s.links.get(&peer).is_some_and(|l| l.id == link);
                match waiting {
                    Some(next) if live(next.link) => Some(next),
                    _ => {
                        s.sending.remove(&peer);
                        None
                    }
                }
            };
            match next {
                Some(next) => job = next,
                None => return,
            }
        }
    }

    async fn receive_from(
        self: Arc<Self>,
        peer: PeerId,
        link: u64,
        mut lane: Lane,
        key: SessionKey,
        dest: PathBuf,
    ) {
        // One transfer at a time into the destination; a newer link's waits for an older one
        // to fail.
        let _turn = self.receiving.lock().await;
        let live = lock(&self.state)
            .links
            .get(&peer)
            .is_some_and(|l| l.id == link);
        if !live {
            // The link ended while this waited.
            return;
        }
        let (tx, rx) = watch::channel(Progress::default());
        let reporter = tokio::spawn(report_progress(peer, rx));
        let options = ReceiveOptions {
            progress: Some(tx),
            // Partial files are resumed only for the member that sent them.
            sender: Some(*peer.as_bytes()),
            ..ReceiveOptions::default()
        };
        let r = receive_folder(&mut lane, &key, &dest, &options).await;
        drop(options);
        let _ = reporter.await;
        match r {
            Ok(r) => emit(
                "received",
                json!({
                    "from": peer.to_string(),
                    "files_received": r.files_received,
                    "files_present": r.files_present,
                    "bytes_received": r.bytes_received,
                    "total": r.manifest.total_size(),
                }),
            ),
            Err(e) => emit(
                "receive-failed",
                json!({ "from": peer.to_string(), "error": e.to_string() }),
            ),
        }
    }

    /// Join requests, the chains that answer them, and dial requests, through the signal
    /// server.
    async fn app_loop(self: Arc<Self>) {
        while let Some((from, blob)) = self.signal.recv_app().await {
            let message = match RelayMessage::decode(&blob) {
                Ok(Some(m)) => m,
                Ok(None) => continue,
                Err(e) => {
                    tracing::debug!(from = %from.short(), error = %e, "a relayed message that does not decode");
                    continue;
                }
            };
            match message {
                RelayMessage::Ring(ring_boot) => {
                    let stale = {
                        let mut s = lock(&self.state);
                        if s.book.revocations().is_revoked(&from) {
                            continue;
                        }
                        // The member has no link to us: a link we think we have is dead if it
                        // was made with an earlier run of that member; a ring from the same
                        // run was sent before the link was up.
                        let old = s.links.get(&from).is_some_and(|l| match l.peer_boot {
                            Some(b) => b != ring_boot,
                            None => l.since.elapsed() >= RING_GRACE,
                        });
                        if s.links.contains_key(&from) && !old {
                            continue;
                        }
                        let stale = s.links.remove(&from).map(|l| l.conn);
                        s.reconnector.add_peer(from, now());
                        s.reconnector.on_success(&from, now());
                        stale
                    };
                    if let Some(c) = stale {
                        emit(
                            "link-down",
                            json!({ "peer": from.to_string(), "name": self.name_of(&from), "why": "stale" }),
                        );
                        tokio::spawn(async move { c.close().await });
                    }
                    if self.me < from {
                        // A dial that started before this run of the member was on the
                        // signal server sent its offer to nobody: start again. (If the offer
                        // did arrive, the member's answer to it times out on one of its
                        // acceptors; the new offer is answered by another.)
                        if let Some(d) = lock(&self.state).dialing.remove(&from) {
                            d.cancel.notify_one();
                        }
                        self.clone().attempt(from);
                    }
                }
                RelayMessage::JoinRequest(body) => {
                    let reply = self.accept_join(from, &body);
                    let _ = self.signal.send_app(&from, &reply.encode());
                }
                RelayMessage::Chain(_) | RelayMessage::Denied(_) => {
                    tracing::debug!(from = %from.short(), "a join answer for a member; ignored");
                }
            }
        }
    }

    fn accept_join(&self, from: PeerId, body: &[u8]) -> RelayMessage {
        let denied = |e: String| {
            emit(
                "join-refused",
                json!({ "peer": from.to_string(), "error": e }),
            );
            RelayMessage::Denied(e)
        };
        let request = match JoinRequest::decode(body) {
            Ok(r) if *r.joiner() == from => r,
            Ok(_) => return denied("the request names another joiner".into()),
            Err(e) => return denied(e.to_string()),
        };
        let mut guard = lock(&self.state);
        let s = &mut *guard;
        let accepted = s.ledger.accept(
            s.book.revocations(),
            &self.identity,
            &s.chain,
            &request,
            now(),
            &mut OsRng,
        );
        match accepted {
            Ok(granted) => {
                if let Err(e) = self.store.write(LEDGER, &s.ledger.encode()) {
                    emit("error", json!({ "message": e }));
                }
                // Not dialled now: until it reconnects as a member, the joiner is the
                // signal server's guest, and an offer would reach a client that only waits
                // for its chain. It reaches out itself (it schedules the owner and learns
                // the rest from the phonebook).
                emit("admitted", json!({ "peer": from.to_string() }));
                RelayMessage::Chain(granted.encode())
            }
            Err(e) => {
                drop(guard);
                denied(e.to_string())
            }
        }
    }

    /// Starts a sync on every link now and then, so entries and tombstones converge even
    /// when a message was lost with a connection.
    async fn sync_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.settings.sync_interval);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = self.renew_entry() {
                emit("error", json!({ "message": e }));
            }
            self.sync_all();
        }
    }

    /// Publishes our entry again once half its lifetime has passed, so it never expires
    /// while the node runs.
    fn renew_entry(&self) -> Result<(), String> {
        let mut s = lock(&self.state);
        let t = now();
        let (presence, due) = match s.book.get(&self.me, t) {
            Some(e) => {
                let published = e.stamp().time().as_millis();
                let half_life = e.expires_at().as_millis().saturating_sub(published) / 2;
                let due = t.as_millis() >= published.saturating_add(half_life);
                (e.presence(), due)
            }
            None => (Presence::Online, true),
        };
        if !due {
            return Ok(());
        }
        let profile = Profile {
            display_name: self.settings.name.clone(),
            presence,
            last_seen: t,
            ..Profile::default()
        };
        let stamp = s.clock.tick(t);
        let entry = Entry::publish(&self.genesis, &self.identity, &s.chain, &profile, stamp)
            .map_err(|e| format!("renewing our entry: {e}"))?;
        s.book.insert(entry).map_err(|e| e.to_string())?;
        self.store.save_book(&s.book)
    }

    /// Each time the signal server admits us again (after it or the network went away),
    /// shows it our tombstones, since it keeps them only in memory.
    async fn signal_loop(self: Arc<Self>) {
        let mut status = self.signal.watch_status();
        while status.changed().await.is_ok() {
            let up = matches!(*status.borrow_and_update(), Status::Connected);
            if up {
                let tombstones: Vec<Vec<u8>> = lock(&self.state)
                    .book
                    .revocations()
                    .iter()
                    .map(|t| t.encode())
                    .collect();
                for t in tombstones {
                    let _ = self.signal.upload_tombstone(&t);
                }
                emit("signal-up", json!({}));
                self.wake.notify_one();
            }
        }
    }
}

/// Sends a link's control messages in order, so the reader never waits on the network.
async fn write_loop(conn: Arc<Conn>, mut outbox: mpsc::Receiver<Vec<u8>>) {
    while let Some(m) = outbox.recv().await {
        if conn.send(Bytes::from(m)).await.is_err() {
            return;
        }
    }
}

async fn report_progress(peer: PeerId, mut rx: watch::Receiver<Progress>) {
    let mut last = Instant::now() - PROGRESS_EVERY;
    while rx.changed().await.is_ok() {
        let p = *rx.borrow_and_update();
        if last.elapsed() >= PROGRESS_EVERY || p.bytes_done == p.bytes_total {
            last = Instant::now();
            emit(
                "progress",
                json!({ "from": peer.to_string(), "done": p.bytes_done, "total": p.bytes_total }),
            );
        }
    }
}

/// The name of a chat kind in events.
fn chat_kind_name(kind: ChatKind) -> &'static str {
    match kind {
        ChatKind::Text => "text",
        ChatKind::Typing => "typing",
        ChatKind::Presence => "presence",
    }
}

fn presence_text(p: Presence) -> &'static str {
    match p {
        Presence::Online => "online",
        Presence::Away => "away",
        Presence::Offline => "offline",
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One transfer's messages on a link shared with other traffic: outgoing stream frames go
/// out as transfer messages of the lane's direction, incoming ones come from the link's
/// reader through a bounded queue.
#[derive(Debug)]
struct Lane {
    conn: Arc<Conn>,
    direction: Direction,
    inbox: mpsc::Receiver<Vec<u8>>,
}

impl syncshell_stream::MessageConnection for Lane {
    async fn send(&mut self, frame: Vec<u8>) -> std::io::Result<()> {
        let m = LinkMessage::Transfer {
            id: TRANSFER_ID,
            direction: self.direction,
            frame,
        };
        self.conn
            .send(Bytes::from(m.encode()))
            .await
            .map_err(std::io::Error::other)
    }

    async fn recv(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        Ok(self.inbox.recv().await)
    }
}

/// Joins the shell of `invite` through the signal server: connects as the invite's guest,
/// sends the join request to the inviter until it answers, and returns the granted chain.
pub(crate) async fn join(
    url: &str,
    options: &syncshell_signal::ClientOptions,
    identity: &Identity,
    invite: &InviteCode,
    store: &Store,
    timeout: Duration,
) -> Result<(TokenChain, PeerId), String> {
    let request = invite.join_request(identity, now()).map_err(|e| match e {
        syncshell_identity::Error::Expired { .. } => {
            format!("the invite: {e}; ask the inviter for a new one")
        }
        e => format!("the invite: {e}"),
    })?;
    let inviter = *invite.invite().inviter();
    let genesis = invite.invite().genesis().clone();
    let guest = SignalClient::connect(
        url,
        copy(identity),
        syncshell_signal::Credentials::Guest {
            request: request.clone(),
        },
        options.clone(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let blob = RelayMessage::JoinRequest(request.encode()).encode();
    let deadline = Instant::now() + timeout;
    let mut waiting = false;
    let chain = loop {
        if Instant::now() > deadline {
            return Err(format!(
                "the inviter {} did not {} within {} s: ask them to start their node and try \
                 again (--join-timeout waits longer)",
                inviter.short(),
                if waiting { "come online" } else { "answer" },
                timeout.as_secs_f64()
            ));
        }
        if invite.invite().expires_at() <= now() {
            return Err(format!(
                "the invite expired at {} while waiting for the inviter: ask for a new one",
                syncshell_examples::time::rfc3339(invite.invite().expires_at())
            ));
        }
        let _ = guest.send_app(&inviter, &blob);
        let answer = tokio::time::timeout(JOIN_RETRY, guest.recv_app()).await;
        // The relay says so when the inviter is not connected.
        while let Ok(Some(notice)) = tokio::time::timeout(Duration::ZERO, guest.next_notice()).await
        {
            if notice.code == NoticeCode::Unreachable && notice.peer == Some(inviter) && !waiting {
                waiting = true;
                emit(
                    "join-waiting",
                    json!({
                        "inviter": inviter.to_string(),
                        "timeout_s": timeout.as_secs_f64(),
                    }),
                );
            }
        }
        let Ok(Some((from, reply))) = answer else {
            continue;
        };
        if from != inviter {
            continue;
        }
        match RelayMessage::decode(&reply) {
            Ok(Some(RelayMessage::Chain(body))) => {
                let chain = TokenChain::decode(&body).map_err(|e| format!("the chain: {e}"))?;
                // A joiner knows no tombstones yet; its first sync brings them.
                RevocationSet::new(genesis.clone())
                    .admit(&identity.peer_id(), &chain, now())
                    .map_err(|e| format!("the granted chain: {e}"))?;
                break chain;
            }
            Ok(Some(RelayMessage::Denied(why))) => return Err(format!("refused: {why}")),
            _ => continue,
        }
    };
    guest.close();
    store.write(GENESIS, &genesis.encode())?;
    store.write(CHAIN, &chain.encode())?;
    emit(
        "joined",
        json!({ "inviter": inviter.to_string(), "shell": genesis.id().to_string() }),
    );
    Ok((chain, inviter))
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

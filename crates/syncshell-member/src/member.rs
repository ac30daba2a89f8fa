//! The member of a shell as a sans-IO state machine: what it knows (its key, the shell, its
//! token chain, the phonebook with the revocation set, the invite ledger, whom to reach and
//! when) and what it does on its links, with the network, the clock, randomness and storage
//! left to whoever drives it.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::time::Duration;

use rand_core::{CryptoRng, RngCore};
use syncshell_identity::{
    Identity, InviteCode, InviteLedger, InviteOptions, JoinRequest, PeerId, Role, ShellGenesis,
    Timestamp, TokenChain,
};
use syncshell_phonebook::{Clock, Entry, Phonebook, Presence, Profile};
use syncshell_reconnect::{BackoffPolicy, Handshake, Local, Reconnector, ReplayGuard, Session};
use syncshell_revocation::{Reason, Tombstone};
use syncshell_stream::SessionKey;

use crate::error::Error;
use crate::link::{
    ChatKind, Direction, Info, LinkMessage, RelayMessage, MAX_CHAT_TEXT_LEN, MAX_NAME_LEN,
};
use crate::settings::{Settings, MAX_DENIED, MAX_PAUSED_MEMBERS};

/// Transfers a member receives at once, each from another member; more sharers wait their
/// turn. A slow sharer no longer holds up every other one.
pub const MAX_RECEIVES: usize = 3;

/// How long `link-up` waits for the peer's info (and its name).
pub const INFO_WAIT: Duration = Duration::from_secs(2);
/// How long a pinged member has to answer before its link is ended.
pub const PING_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a ringing member waits for the dial it asked for before counting a failure.
/// Longer than a dial may take: a ring that times out is followed by another, and a ring
/// restarts the member's dial, so a shorter one would cut every slow (relayed) dial short.
pub const RING_TIMEOUT: Duration = Duration::from_secs(22);
/// How long a dial (the transport's connect and the handshake) may take.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest a handshake may take here (the handshake's own deadline is longer); a stuck one
/// is retried on a new connection.
pub const HANDSHAKE_LIMIT: Duration = Duration::from_secs(3);
/// A ring about a link younger than this, whose peer's run is not known yet, was sent
/// before the link was up: it is ignored.
pub const RING_GRACE: Duration = Duration::from_secs(2);
/// Links a member starts a sync on when a sync brought it news (besides the periodic sync
/// on every link).
pub const NEWS_FANOUT: usize = 6;
/// Incoming handshakes accepted per second (burst of the same size): each costs signature
/// checks, so a peer cannot make a member spend without bound.
pub const ACCEPT_RATE: u32 = 10;
/// How often links are re-checked against the revocation set and their expiry when no
/// admission ends sooner (each expiry is also checked at its own time).
pub const ADMISSION_RECHECK: Duration = Duration::from_secs(5);

/// Randomness for a member: a cryptographic generator it keeps.
pub trait MemberRng: RngCore + CryptoRng + Send {}
impl<R: RngCore + CryptoRng + Send> MemberRng for R {}

/// A connection the driver holds, named by the member (see [`Member::handle_connected`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn-{}", self.0)
    }
}

/// What a member is set to do.
#[derive(Debug, Clone)]
pub struct Config {
    /// The display name in the phonebook.
    pub name: String,
    /// Whether it shares a folder with members that receive.
    pub share: bool,
    /// Whether it receives members' shared folders.
    pub receive: bool,
    /// The transport hints its invites carry (e.g. `syncshell_signal::relay_hints_text`).
    pub invite_hints: Vec<u8>,
    /// When to try a member again after a failure.
    pub policy: BackoffPolicy,
    /// How often a phonebook sync starts on every link.
    pub sync_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            name: String::new(),
            share: false,
            receive: false,
            invite_hints: Vec::new(),
            policy: BackoffPolicy::default(),
            sync_interval: Duration::from_secs(30),
        }
    }
}

/// What a member is loaded from: the shell and what it kept of it.
#[derive(Debug, Clone)]
pub struct Shell {
    /// The shell's genesis.
    pub genesis: ShellGenesis,
    /// This member's token chain (empty for the owner).
    pub chain: TokenChain,
    /// The phonebook, with the revocation set.
    pub phonebook: Phonebook,
    /// The invites this member issued and who used them.
    pub ledger: InviteLedger,
    /// The host's transfer settings (pauses, budget).
    pub settings: Settings,
}

/// Why a link ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkEnd {
    /// The connection closed.
    Closed,
    /// A key the peer's admission rests on was revoked.
    Revoked,
    /// The peer's token chain expired.
    Expired,
    /// The peer did not answer a ping.
    NoAnswer,
    /// The peer sent more than it reads (the driver's queue for it was full).
    Overloaded,
    /// A new run of the peer asked to be dialled: the link was to its earlier run.
    Stale,
}

impl LinkEnd {
    /// The reason as events name it: `closed`, `revoked`, `expired`, `no answer`,
    /// `overloaded`, `stale`.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkEnd::Closed => "closed",
            LinkEnd::Revoked => "revoked",
            LinkEnd::Expired => "expired",
            LinkEnd::NoAnswer => "no answer",
            LinkEnd::Overloaded => "overloaded",
            LinkEnd::Stale => "stale",
        }
    }
}

impl fmt::Display for LinkEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which end of a transfer this member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferRole {
    /// It sends its shared folder.
    Send,
    /// It receives into its receive folder.
    Receive,
}

impl TransferRole {
    /// The direction of the frames this end sends.
    pub fn outgoing(self) -> Direction {
        match self {
            TransferRole::Send => Direction::ToReceiver,
            TransferRole::Receive => Direction::ToSender,
        }
    }
}

/// A transfer to run on a link: the driver runs the stream crate's sender or receiver with
/// `key`, sending its frames as [`LinkMessage::Transfer`] of `id` and `role.outgoing()`, and
/// reports the end with [`Member::handle_transfer_done`].
#[derive(Debug, Clone)]
pub struct Transfer {
    /// The link's connection.
    pub conn: ConnId,
    /// The member at the other end.
    pub peer: PeerId,
    /// The transfer's number on the link.
    pub id: u64,
    /// Which end this member is.
    pub role: TransferRole,
    /// The link's session key.
    pub key: SessionKey,
}

/// A frame of a running transfer that arrived on a link, for the driver to hand to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferFrame {
    /// The transfer's number.
    pub id: u64,
    /// Which end this member is in that transfer.
    pub role: TransferRole,
    /// The stream frame.
    pub frame: Vec<u8>,
}

/// What the driver stores again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stored {
    /// The phonebook and its revocation set ([`Member::phonebook`]).
    Phonebook,
    /// The invite ledger ([`Member::ledger`]).
    Ledger,
    /// The transfer settings ([`Member::settings`]).
    Settings,
}

/// Something that happened, for the embedder.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A link to a member is up: authenticated both ways.
    LinkUp {
        /// Its connection.
        conn: ConnId,
        /// The member.
        peer: PeerId,
        /// Its name.
        name: String,
        /// Whether this member dialled.
        initiator: bool,
        /// The member's role.
        role: Role,
        /// How long the handshake took.
        handshake: Duration,
    },
    /// A link ended.
    LinkDown {
        /// The member.
        peer: PeerId,
        /// Its name.
        name: String,
        /// Why.
        why: LinkEnd,
    },
    /// A connection's handshake failed.
    Refused {
        /// Whether this member dialled.
        initiator: bool,
        /// Why.
        error: String,
    },
    /// A chat line from a linked member.
    Chat {
        /// Who wrote it.
        from: PeerId,
        /// Its name.
        name: String,
        /// What kind of line.
        kind: ChatKind,
        /// The text.
        text: String,
    },
    /// A joiner used one of this member's invites and was given a token chain.
    Admitted {
        /// The new member.
        peer: PeerId,
    },
    /// A join request was refused.
    JoinRefused {
        /// Who asked.
        peer: PeerId,
        /// Why.
        error: String,
    },
    /// A member failed so often in a row that it probably needs a new invite.
    NeedsInvite {
        /// The member.
        peer: PeerId,
        /// Failures in a row.
        failures: u32,
    },
    /// The relay admitted this member (again).
    RelayUp,
    /// The shared folder changed: its new version goes to every linked member.
    ShareChanged {
        /// The folder's version now.
        version: u64,
    },
    /// A transfer of the shared folder to a member started.
    Sending {
        /// The member.
        to: PeerId,
    },
    /// The shared folder reached a member.
    Sent {
        /// The member.
        to: PeerId,
        /// Files sent, whole or in part (it had the others).
        files: usize,
        /// Plaintext bytes sent.
        bytes: u64,
    },
    /// A transfer to a member failed (it resumes on the next link).
    SendFailed {
        /// The member.
        to: PeerId,
        /// Why.
        error: String,
    },
    /// How far a transfer from a member got.
    Progress {
        /// The member.
        from: PeerId,
        /// Bytes in place.
        done: u64,
        /// Bytes in all.
        total: u64,
    },
    /// A member's shared folder was received.
    Received {
        /// The member.
        from: PeerId,
        /// Files received (whole, or the rest of a partial file).
        files_received: usize,
        /// Files that were in place already.
        files_present: usize,
        /// Plaintext bytes received in this transfer.
        bytes_received: u64,
        /// The folder's size.
        total: u64,
    },
    /// A received file waits for the host's approval (the approval step is on): approve or
    /// deny it by its path.
    Waiting {
        /// The member that sent it.
        from: PeerId,
        /// Its path relative to the receive folder: the sharer's folder (its peer id),
        /// then the file's path in the sharer's share.
        path: String,
        /// Its content's BLAKE3 hash.
        hash: [u8; 32],
        /// Its size in bytes.
        size: u64,
    },
    /// Files a member removed from its share were moved out of its folder in the receive
    /// folder.
    Removed {
        /// The member.
        from: PeerId,
        /// Their paths in the member's share.
        paths: Vec<String>,
        /// The folder they were moved into, under the same paths.
        folder: std::path::PathBuf,
    },
    /// A transfer from a member failed (its partial files are kept for the next one).
    ReceiveFailed {
        /// The member.
        from: PeerId,
        /// Why.
        error: String,
    },
    /// Something went wrong that is not about one member (an entry not renewed, a file not
    /// stored).
    Error {
        /// What went wrong.
        message: String,
    },
}

/// What the driver does for the member.
#[derive(Debug)]
#[non_exhaustive]
pub enum Output {
    /// Send `message` on the connection, in order.
    Transmit {
        /// The connection.
        conn: ConnId,
        /// The message.
        message: Vec<u8>,
    },
    /// Close the connection (the member has forgotten it).
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// Connect to `peer` through the transport, then report [`Member::handle_connected`]
    /// (as the initiator) or [`Member::handle_dial_failed`].
    Dial {
        /// The member to reach.
        peer: PeerId,
    },
    /// Give up the dial to `peer` (the member already counted it as failed).
    CancelDial {
        /// The member.
        peer: PeerId,
    },
    /// Send `blob` to `to` through the signaling relay.
    Relay {
        /// The member.
        to: PeerId,
        /// A [`RelayMessage`].
        blob: Vec<u8>,
    },
    /// Show this tombstone to the relay, so it refuses the revoked member too.
    Tombstone(Vec<u8>),
    /// Store this again.
    Save(Stored),
    /// Run a transfer.
    StartTransfer(Transfer),
    /// Stop a running transfer (its member was paused): send the peer the stream's abort
    /// (`Cancelled`) as a frame of the transfer, then report it done with
    /// [`Member::handle_transfer_done`] as if it had ended.
    StopTransfer(Transfer),
    /// Tell the embedder.
    Event(Event),
}

/// What a linked member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkView {
    /// Its connection.
    pub conn: ConnId,
    /// Its role.
    pub role: Role,
    /// Whether this member dialled.
    pub initiator: bool,
    /// When the link came up.
    pub since: Timestamp,
}

struct Handshaking {
    machine: Handshake,
    replay: ReplayGuard,
    initiator: bool,
    /// The member dialled, for the initiator.
    dialed: Option<PeerId>,
    started: Timestamp,
    limit: Timestamp,
}

struct Link {
    session: Session,
    since: Timestamp,
    /// The peer's run (from its info), to tell a link to an earlier run.
    peer_boot: Option<u64>,
    /// When `LinkUp` is due if no info comes first; `None` once it was told.
    announce_by: Option<Timestamp>,
    handshake: Duration,
    /// A ping not answered yet, with when the link ends without an answer.
    ping: Option<(u64, Timestamp)>,
    /// The transfer this member sends on the link, and the one it receives.
    sending: Option<u64>,
    receiving: Option<u64>,
    /// What the peer's latest info says of its share.
    peer_shares: bool,
    peer_version: u64,
    /// The version this member last fetched on the link (`None`: nothing yet), and the
    /// number of its last fetch.
    fetched: Option<u64>,
    fetch_seq: u64,
    /// The largest number the peer fetched, and a fetch waiting for the running send.
    fetched_by_peer: u64,
    pending_fetch: Option<u64>,
}

enum Conn {
    Handshaking(Box<Handshaking>),
    Link(Box<Link>),
}

struct Dialing {
    deadline: Timestamp,
    /// The connection the dial made, while its handshake runs.
    conn: Option<ConnId>,
}

/// A member of a shell, sans IO: inputs are `handle_*` calls and commands, outputs are
/// drained with [`Member::poll_output`], and [`Member::handle_timeout`] is due at
/// [`Member::poll_timeout`]. Time is always given (`now`); randomness comes from the
/// generator given to [`Member::new`].
///
/// The link protocol is docs/spec/link.md: after the handshake each side sends its
/// [`Info`] and starts a phonebook sync; the member with the smaller id dials, the other
/// asks it to through the relay (a ring).
pub struct Member {
    identity: Identity,
    me: PeerId,
    genesis: ShellGenesis,
    chain: TokenChain,
    book: Phonebook,
    clock: Clock,
    ledger: InviteLedger,
    settings: Settings,
    reconnector: Reconnector,
    config: Config,
    boot: u64,
    rng: Box<dyn MemberRng>,
    now: Timestamp,
    next_conn: u64,
    conns: BTreeMap<ConnId, Conn>,
    links: HashMap<PeerId, ConnId>,
    dialing: HashMap<PeerId, Dialing>,
    ringing: HashMap<PeerId, Timestamp>,
    /// Members due for an attempt while the relay was down.
    parked: BTreeSet<PeerId>,
    names: HashMap<PeerId, String>,
    /// Members a folder is being sent to (one transfer each).
    sending: BTreeSet<PeerId>,
    /// The version of the shared folder (0 when sharing nothing).
    share_version: u64,
    /// The transfers being received (at most [`MAX_RECEIVES`], from as many members), and
    /// the links waiting their turn.
    receiving: BTreeSet<ConnId>,
    to_receive: VecDeque<ConnId>,
    accept_tokens: u32,
    accept_refill: Timestamp,
    relay_up: bool,
    next_sync: Timestamp,
    next_check: Timestamp,
    unsaved: BTreeSet<StoredKey>,
    outputs: VecDeque<Output>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum StoredKey {
    Phonebook,
    Ledger,
    Settings,
}

impl fmt::Debug for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Member")
            .field("me", &self.me)
            .field("shell", &self.genesis.id())
            .field("links", &self.links.len())
            .field("connections", &self.conns.len())
            .finish_non_exhaustive()
    }
}

fn since(earlier: Timestamp, later: Timestamp) -> Duration {
    Duration::from_millis(later.as_millis().saturating_sub(earlier.as_millis()))
}

fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

impl Member {
    /// A member of `shell` with `identity`, as of `now`: it publishes its phonebook entry
    /// (superseding one an earlier run saved), schedules every member it knows and the owner,
    /// and shows the relay the tombstones it holds.
    pub fn new(
        identity: Identity,
        shell: Shell,
        config: Config,
        now: Timestamp,
        rng: impl MemberRng + 'static,
    ) -> Result<Member, Error> {
        if config.name.len() > MAX_NAME_LEN {
            return Err(Error::Invalid("a name over 64 bytes"));
        }
        let config_shares = config.share;
        let mut rng: Box<dyn MemberRng> = Box::new(rng);
        let me = identity.peer_id();
        shell
            .phonebook
            .revocations()
            .admit(&me, &shell.chain, now)?;
        let boot = rng.next_u64();
        let mut member = Member {
            me,
            genesis: shell.genesis,
            chain: shell.chain,
            book: shell.phonebook,
            clock: Clock::new(),
            ledger: shell.ledger,
            settings: shell.settings,
            reconnector: Reconnector::new(config.policy),
            config,
            boot,
            rng,
            now,
            next_conn: 1,
            conns: BTreeMap::new(),
            links: HashMap::new(),
            dialing: HashMap::new(),
            ringing: HashMap::new(),
            parked: BTreeSet::new(),
            names: HashMap::new(),
            sending: BTreeSet::new(),
            share_version: u64::from(config_shares),
            receiving: BTreeSet::new(),
            to_receive: VecDeque::new(),
            accept_tokens: ACCEPT_RATE,
            accept_refill: now,
            relay_up: false,
            next_sync: now,
            next_check: now,
            unsaved: BTreeSet::new(),
            outputs: VecDeque::new(),
            identity,
        };
        // An entry saved by an earlier run may carry a later stamp than this clock would
        // give: the new entry must supersede it.
        let saved = member
            .book
            .stored()
            .find(|e| e.peer() == &me)
            .map(Entry::stamp);
        if let Some(stamp) = saved {
            member.clock.observe(stamp);
        }
        member.publish(Presence::Online, now)?;
        member.next_sync = now.saturating_add(member.config.sync_interval);
        let peers: Vec<PeerId> = member.book.entries(now).map(|e| *e.peer()).collect();
        for p in peers {
            member.schedule(p);
        }
        // The owner is always worth reaching.
        let owner = *member.genesis.owner();
        member.schedule(owner);
        Ok(member)
    }

    /// This member's id.
    pub fn peer_id(&self) -> PeerId {
        self.me
    }

    /// This member's key.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The shell's genesis.
    pub fn genesis(&self) -> &ShellGenesis {
        &self.genesis
    }

    /// This member's token chain.
    pub fn chain(&self) -> &TokenChain {
        &self.chain
    }

    /// The phonebook, with the revocation set.
    pub fn phonebook(&self) -> &Phonebook {
        &self.book
    }

    /// The invite ledger.
    pub fn ledger(&self) -> &InviteLedger {
        &self.ledger
    }

    /// What this member is set to do.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The host's transfer settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Pauses transfers: every one (`None`) or those with one member. Running ones stop
    /// ([`Output::StopTransfer`]; the stream resumes from its partial files later), no new
    /// one starts, and fetches from a paused member wait. Kept across restarts
    /// ([`Stored::Settings`]).
    pub fn pause(&mut self, member: Option<PeerId>, now: Timestamp) {
        self.observe(now);
        match member {
            None => self.settings.paused = true,
            Some(p) => {
                if self.settings.paused_members.len() >= MAX_PAUSED_MEMBERS {
                    return;
                }
                self.settings.paused_members.insert(p);
            }
        }
        self.unsaved.insert(StoredKey::Settings);
        let running: Vec<Transfer> = self
            .links
            .iter()
            .filter(|(p, _)| self.settings.is_paused(p))
            .filter_map(|(_, c)| match self.conns.get(c) {
                Some(Conn::Link(l)) => Some((*c, l)),
                _ => None,
            })
            .flat_map(|(c, l)| {
                let send = l
                    .sending
                    .map(|id| self.transfer(c, l, id, TransferRole::Send));
                let receive = l
                    .receiving
                    .map(|id| self.transfer(c, l, id, TransferRole::Receive));
                send.into_iter().chain(receive)
            })
            .collect();
        for t in running {
            self.outputs.push_back(Output::StopTransfer(t));
        }
    }

    /// Resumes transfers paused by [`Member::pause`] (`None`: the pause of every transfer
    /// and of every member). Waiting fetches are served and changed shares fetched.
    pub fn resume(&mut self, member: Option<PeerId>, now: Timestamp) {
        self.observe(now);
        match member {
            None => {
                self.settings.paused = false;
                self.settings.paused_members.clear();
            }
            Some(p) => {
                self.settings.paused_members.remove(&p);
            }
        }
        self.unsaved.insert(StoredKey::Settings);
        let links: Vec<(PeerId, ConnId)> = self.links.iter().map(|(p, c)| (*p, *c)).collect();
        for (peer, conn) in links {
            if self.settings.is_paused(&peer) {
                continue;
            }
            let waiting = match self.conns.get_mut(&conn) {
                Some(Conn::Link(l)) if l.sending.is_none() && !self.sending.contains(&peer) => {
                    l.pending_fetch.take()
                }
                _ => None,
            };
            if let Some(id) = waiting {
                self.serve_fetch(conn, peer, id);
            }
            self.want_receive(conn);
        }
        self.next_receive();
    }

    /// Turns the approval step on or off: with it on, received files wait for the host's
    /// approval before they are placed. Kept across restarts.
    pub fn set_approval(&mut self, on: bool) {
        self.settings.approval = on;
        self.unsaved.insert(StoredKey::Settings);
    }

    /// Refuses a content (a BLAKE3 hash) for good: it is never fetched or placed again.
    /// Returns `false` when the deny list is full ([`MAX_DENIED`]).
    pub fn deny(&mut self, hash: [u8; 32]) -> bool {
        if self.settings.denied.len() >= MAX_DENIED && !self.settings.denied.contains(&hash) {
            return false;
        }
        self.settings.denied.insert(hash);
        self.unsaved.insert(StoredKey::Settings);
        true
    }

    /// Sets the bandwidth all outgoing transfers share, in bytes per second (`None` or 0:
    /// no cap). Kept across restarts.
    pub fn set_budget(&mut self, bytes_per_second: Option<u64>) {
        self.settings.budget = bytes_per_second.filter(|&b| b > 0);
        self.unsaved.insert(StoredKey::Settings);
    }

    /// This member's role in the shell at `now`, or why it is not admitted (revoked, or its
    /// chain expired).
    pub fn role(&self, now: Timestamp) -> Result<Role, Error> {
        Ok(self
            .book
            .revocations()
            .admit(&self.me, &self.chain, now)?
            .role())
    }

    /// Whether the relay connection is up, as last told by [`Member::handle_relay_status`].
    pub fn relay_connected(&self) -> bool {
        self.relay_up
    }

    /// The linked members.
    pub fn links(&self) -> impl Iterator<Item = (PeerId, LinkView)> + '_ {
        self.links
            .iter()
            .filter_map(|(peer, conn)| match self.conns.get(conn) {
                Some(Conn::Link(l)) => Some((
                    *peer,
                    LinkView {
                        conn: *conn,
                        role: l.session.role(),
                        initiator: l.session.is_initiator(),
                        since: l.since,
                    },
                )),
                _ => None,
            })
    }

    /// A member's name: its phonebook entry's, else the name its info gave, else one made
    /// from its id.
    pub fn name_of(&self, peer: &PeerId, now: Timestamp) -> String {
        if let Some(e) = self.book.get(peer, now) {
            return e.shown_name();
        }
        self.names
            .get(peer)
            .filter(|n| !n.is_empty())
            .cloned()
            .unwrap_or_else(|| syncshell_phonebook::friendly_name(peer))
    }

    /// The member `who` names: a full peer id, the start of one (`peer-` and at least 8
    /// characters, as ids are shown short), or a display name (any case); it must name one
    /// member of the phonebook.
    pub fn find_member(&self, who: &str, now: Timestamp) -> Result<PeerId, Error> {
        if let Ok(peer) = who.parse::<PeerId>() {
            return Ok(peer);
        }
        let by_id = who.starts_with("peer-") && who.len() >= 13;
        let found: Vec<(PeerId, String)> = self
            .book
            .entries(now)
            .map(|e| (*e.peer(), e.shown_name()))
            .filter(|(peer, name)| {
                (by_id && peer.to_string().starts_with(who)) || name.eq_ignore_ascii_case(who)
            })
            .collect();
        match found.as_slice() {
            [(peer, _)] => Ok(*peer),
            [] => Err(Error::UnknownMember(who.to_owned())),
            several => Err(Error::AmbiguousMember {
                who: who.to_owned(),
                matches: several
                    .iter()
                    .map(|(p, n)| format!("{n} {}", p.short()))
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// An invite of this member (an admin's) with `options`; its hints are the configured
    /// [`Config::invite_hints`].
    pub fn invite(&mut self, options: InviteOptions, now: Timestamp) -> Result<InviteCode, Error> {
        self.observe(now);
        let options = InviteOptions {
            hints: self.config.invite_hints.clone(),
            ..options
        };
        Ok(InviteCode::create(
            self.book.revocations(),
            &self.identity,
            &self.chain,
            &options,
            now,
            &mut *self.rng,
        )?)
    }

    /// Revokes a member for good: the tombstone goes into the phonebook, to the relay and to
    /// every linked member; links whose admission rests on the revoked key end.
    pub fn revoke(&mut self, peer: PeerId, now: Timestamp) -> Result<(), Error> {
        self.observe(now);
        let tombstone = Tombstone::issue(
            self.book.revocations(),
            &self.identity,
            &self.chain,
            peer,
            Reason::Removed,
            now,
        )?;
        self.outputs
            .push_back(Output::Tombstone(tombstone.encode()));
        self.book.revoke(tombstone)?;
        self.unsaved.insert(StoredKey::Phonebook);
        self.check_links(now);
        self.sync_all();
        Ok(())
    }

    /// Sends a chat line to every linked member; returns how many.
    pub fn chat(&mut self, kind: ChatKind, text: &str) -> Result<usize, Error> {
        let message = LinkMessage::Chat {
            kind,
            text: text.to_owned(),
        };
        if text.len() > MAX_CHAT_TEXT_LEN {
            return Err(Error::Invalid("a chat text over 4096 bytes"));
        }
        let bytes = message.encode();
        let conns: Vec<ConnId> = self.links.values().copied().collect();
        for conn in &conns {
            self.transmit(*conn, bytes.clone());
        }
        Ok(conns.len())
    }

    /// Publishes a new entry with `presence`, spreads it, and tells the linked members at
    /// once with a presence chat line.
    pub fn set_presence(&mut self, presence: Presence, now: Timestamp) -> Result<(), Error> {
        self.observe(now);
        self.publish(presence, now)?;
        self.sync_all();
        self.chat(ChatKind::Presence, presence.as_str())?;
        Ok(())
    }

    /// Adds a member to the dial schedule (the inviter, right after joining).
    pub fn reach(&mut self, peer: PeerId, now: Timestamp) {
        self.observe(now);
        self.schedule(peer);
    }

    /// Ends the link on `conn` (the driver found its queue full: the peer does not read).
    pub fn end_link(&mut self, conn: ConnId, why: LinkEnd, now: Timestamp) {
        self.observe(now);
        let peer = match self.conns.get(&conn) {
            Some(Conn::Link(l)) => *l.session.peer(),
            Some(Conn::Handshaking(_)) => {
                self.fail_handshake(conn, why.as_str().to_owned());
                return;
            }
            None => return,
        };
        self.drop_link(peer, conn, why, now);
        self.schedule(peer);
    }

    /// A new connection: dialled by this member (`dialed` names whom) or accepted. Returns
    /// the id the member knows it by; the handshake's first message (for the initiator) is
    /// in the outputs. An accepted connection over the rate of [`ACCEPT_RATE`] per second is
    /// closed at once.
    pub fn handle_connected(
        &mut self,
        now: Timestamp,
        dialed: Option<PeerId>,
        channel_binding: &[u8],
    ) -> ConnId {
        self.observe(now);
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        let initiator = dialed.is_some();
        if let Some(peer) = dialed {
            match self.dialing.get_mut(&peer) {
                Some(d) if d.conn.is_none() => d.conn = Some(conn),
                // A dial given up meanwhile: not wanted any more.
                _ => {
                    self.outputs.push_back(Output::Close { conn });
                    return conn;
                }
            }
        } else if !self.accept_allowed(now) {
            tracing::warn!("too many incoming handshakes; closing one");
            self.outputs.push_back(Output::Close { conn });
            return conn;
        }
        let machine = if initiator {
            let local = Local {
                identity: &self.identity,
                chain: &self.chain,
                revocations: self.book.revocations(),
            };
            Handshake::initiate(&local, channel_binding, now, &mut *self.rng)
        } else {
            Handshake::respond(channel_binding, now)
        };
        match machine {
            Ok(machine) => {
                self.conns.insert(
                    conn,
                    Conn::Handshaking(Box::new(Handshaking {
                        machine,
                        replay: ReplayGuard::new(),
                        initiator,
                        dialed,
                        started: now,
                        limit: now.saturating_add(HANDSHAKE_LIMIT),
                    })),
                );
                self.advance_handshake(conn, now);
            }
            Err(e) => self.refuse(conn, initiator, dialed, e.to_string()),
        }
        conn
    }

    /// A dial this member asked for ([`Output::Dial`]) failed before it had a connection.
    pub fn handle_dial_failed(&mut self, now: Timestamp, peer: PeerId, error: &str) {
        self.observe(now);
        if self.dialing.get(&peer).is_some_and(|d| d.conn.is_none()) {
            tracing::debug!(peer = %peer.short(), error, "dial failed");
            self.dialing.remove(&peer);
            self.failed(peer, now);
        }
    }

    /// A message arrived on a connection. Returns a frame of a running transfer for the
    /// driver to hand to it (the member keeps nothing of bulk data).
    pub fn handle_message(
        &mut self,
        now: Timestamp,
        conn: ConnId,
        message: &[u8],
    ) -> Option<TransferFrame> {
        self.observe(now);
        match self.conns.get_mut(&conn)? {
            Conn::Handshaking(h) => {
                let local = Local {
                    identity: &self.identity,
                    chain: &self.chain,
                    revocations: self.book.revocations(),
                };
                // A failure is kept in the machine and handled below.
                let _ = h
                    .machine
                    .handle(&local, &mut h.replay, message, now, &mut *self.rng);
                self.advance_handshake(conn, now);
                None
            }
            Conn::Link(l) => {
                let peer = *l.session.peer();
                let decoded = match LinkMessage::decode(message) {
                    Ok(Some(m)) => m,
                    Ok(None) => {
                        tracing::debug!(peer = %peer.short(), "a link message of a kind this version does not know");
                        return None;
                    }
                    Err(e) => {
                        tracing::warn!(peer = %peer.short(), error = %e, "a link message that does not decode; dropped");
                        return None;
                    }
                };
                self.on_link_message(conn, peer, decoded, now)
            }
        }
    }

    /// A connection closed (or failed).
    pub fn handle_closed(&mut self, now: Timestamp, conn: ConnId) {
        self.observe(now);
        match self.conns.get(&conn) {
            Some(Conn::Handshaking(_)) => {
                self.fail_handshake(conn, "the connection closed".to_owned());
            }
            Some(Conn::Link(l)) => {
                let peer = *l.session.peer();
                self.drop_link(peer, conn, LinkEnd::Closed, now);
                self.schedule(peer);
            }
            None => {}
        }
    }

    /// A transfer started by [`Output::StartTransfer`] ended (done, failed, or its link
    /// closed). A fetch that waited for it is served; a receiver fetches again if the
    /// sharer's folder changed meanwhile.
    pub fn handle_transfer_done(
        &mut self,
        now: Timestamp,
        peer: PeerId,
        conn: ConnId,
        role: TransferRole,
    ) {
        self.observe(now);
        if let Some(Conn::Link(l)) = self.conns.get_mut(&conn) {
            match role {
                TransferRole::Send => l.sending = None,
                TransferRole::Receive => l.receiving = None,
            }
        }
        match role {
            TransferRole::Send => {
                self.sending.remove(&peer);
                // A fetch that waited, on the member's current link.
                let current = self
                    .links
                    .get(&peer)
                    .copied()
                    .filter(|_| !self.settings.is_paused(&peer));
                let waiting = current.and_then(|c| match self.conns.get_mut(&c) {
                    Some(Conn::Link(l)) => l.pending_fetch.take().map(|id| (c, id)),
                    _ => None,
                });
                if let Some((c, id)) = waiting {
                    self.serve_fetch(c, peer, id);
                }
            }
            TransferRole::Receive => {
                self.receiving.remove(&conn);
                self.want_receive(conn);
                self.next_receive();
            }
        }
    }

    /// Raises the shared folder's version (its content changed) and tells every linked
    /// member, so those that receive fetch it. Nothing happens when this member shares
    /// nothing.
    pub fn share_changed(&mut self, now: Timestamp) {
        self.observe(now);
        if !self.config.share {
            return;
        }
        self.share_version += 1;
        self.event(Event::ShareChanged {
            version: self.share_version,
        });
        let info = self.info().encode();
        let conns: Vec<ConnId> = self.links.values().copied().collect();
        for conn in conns {
            self.transmit(conn, info.clone());
        }
    }

    /// A blob from `from` through the relay.
    pub fn handle_relay(&mut self, now: Timestamp, from: PeerId, blob: &[u8]) {
        self.observe(now);
        let message = match RelayMessage::decode(blob) {
            Ok(Some(m)) => m,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(from = %from.short(), error = %e, "a relayed message that does not decode");
                return;
            }
        };
        match message {
            RelayMessage::Ring(boot) => self.on_ring(from, boot, now),
            RelayMessage::JoinRequest(body) => {
                let reply = self.accept_join(from, &body, now);
                self.outputs.push_back(Output::Relay {
                    to: from,
                    blob: reply.encode(),
                });
            }
            RelayMessage::Chain(_) | RelayMessage::Denied(_) => {
                tracing::debug!(from = %from.short(), "a join answer for a member; ignored");
            }
        }
    }

    /// The relay says `peer` is not connected to it: a dial or ring waiting for it fails.
    pub fn handle_unreachable(&mut self, now: Timestamp, peer: PeerId) {
        self.observe(now);
        if self.dialing.contains_key(&peer) {
            self.cancel_dial(peer);
            self.failed(peer, now);
        } else if self.ringing.remove(&peer).is_some() {
            self.failed(peer, now);
        }
    }

    /// The relay connection is up (admitted) or down. Each time it is up again the relay is
    /// shown every tombstone (it may keep them only in memory), and due attempts are made.
    pub fn handle_relay_status(&mut self, now: Timestamp, connected: bool) {
        self.observe(now);
        let was = self.relay_up;
        self.relay_up = connected;
        if connected && !was {
            let tombstones: Vec<Vec<u8>> =
                self.book.revocations().iter().map(|t| t.encode()).collect();
            for t in tombstones {
                self.outputs.push_back(Output::Tombstone(t));
            }
            // Due again at once (unless linked or revoked meanwhile).
            for peer in std::mem::take(&mut self.parked) {
                self.reconnector.on_success(&peer, now);
            }
            self.attempt_due(now);
        }
    }

    /// The members the relay lists as connected. A linked member missing from the list may
    /// have died (a dead peer's connection takes long to time out): it is pinged, and its
    /// link ends unless it answers within [`PING_TIMEOUT`]. A member whose relay went away
    /// while its link is fine answers and keeps its link.
    pub fn handle_presence(&mut self, now: Timestamp, listed: &BTreeSet<PeerId>) {
        self.observe(now);
        // The list is empty while this member is not connected: nothing to learn then.
        if !self.relay_up {
            return;
        }
        let mut pings = Vec::new();
        for (peer, conn) in &self.links {
            if listed.contains(peer) {
                continue;
            }
            if let Some(Conn::Link(l)) = self.conns.get_mut(conn) {
                if l.ping.is_none() {
                    let n = self.rng.next_u64();
                    l.ping = Some((n, now.saturating_add(PING_TIMEOUT)));
                    pings.push((*conn, n));
                }
            }
        }
        for (conn, n) in pings {
            self.transmit(conn, LinkMessage::Ping(n).encode());
        }
    }

    /// Runs what is due at `now`: handshake and dial limits, rings, pings, `LinkUp`s waiting
    /// for an info, admission expiries, the periodic sync and entry renewal, and attempts to
    /// reach members.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.observe(now);
        let stuck: Vec<ConnId> = self
            .conns
            .iter()
            .filter_map(|(id, c)| match c {
                Conn::Handshaking(h) if h.limit <= now => Some(*id),
                _ => None,
            })
            .collect();
        for conn in stuck {
            self.fail_handshake(conn, "the handshake took too long".to_owned());
        }
        let late: Vec<PeerId> = self
            .dialing
            .iter()
            .filter(|(_, d)| d.deadline <= now)
            .map(|(p, _)| *p)
            .collect();
        for peer in late {
            self.cancel_dial(peer);
            self.failed(peer, now);
        }
        let unanswered: Vec<PeerId> = self
            .ringing
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(p, _)| *p)
            .collect();
        for peer in unanswered {
            self.ringing.remove(&peer);
            self.failed(peer, now);
        }
        let mut silent = Vec::new();
        let mut announce = Vec::new();
        for (id, c) in &self.conns {
            if let Conn::Link(l) = c {
                if l.ping.is_some_and(|(_, at)| at <= now) {
                    silent.push((*l.session.peer(), *id));
                }
                if l.announce_by.is_some_and(|at| at <= now) {
                    announce.push(*id);
                }
            }
        }
        for conn in announce {
            self.announce(conn, now);
        }
        for (peer, conn) in silent {
            self.drop_link(peer, conn, LinkEnd::NoAnswer, now);
            self.schedule(peer);
        }
        if self.next_check <= now {
            self.check_links(now);
        }
        if self.next_sync <= now {
            self.next_sync = now.saturating_add(self.config.sync_interval);
            if let Err(e) = self.renew_entry(now) {
                self.event(Event::Error {
                    message: format!("renewing this member's entry: {e}"),
                });
            }
            self.sync_all();
        }
        self.attempt_due(now);
    }

    /// The next output, if any. Drain it after every input.
    pub fn poll_output(&mut self) -> Option<Output> {
        if let Some(o) = self.outputs.pop_front() {
            return Some(o);
        }
        let first = self.unsaved.pop_first()?;
        Some(Output::Save(match first {
            StoredKey::Phonebook => Stored::Phonebook,
            StoredKey::Ledger => Stored::Ledger,
            StoredKey::Settings => Stored::Settings,
        }))
    }

    /// When [`Member::handle_timeout`] is due.
    pub fn poll_timeout(&mut self) -> Option<Timestamp> {
        let mut next = Some(self.next_sync.min(self.next_check));
        for c in self.conns.values() {
            next = earliest(
                next,
                match c {
                    Conn::Handshaking(h) => Some(h.limit),
                    Conn::Link(l) => earliest(l.ping.map(|(_, at)| at), l.announce_by),
                },
            );
        }
        for d in self.dialing.values() {
            next = earliest(next, Some(d.deadline));
        }
        for at in self.ringing.values() {
            next = earliest(next, Some(*at));
        }
        earliest(next, self.reconnector.poll_timeout(self.now))
    }

    fn observe(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
    }

    fn event(&mut self, event: Event) {
        self.outputs.push_back(Output::Event(event));
    }

    fn transmit(&mut self, conn: ConnId, message: Vec<u8>) {
        self.outputs.push_back(Output::Transmit { conn, message });
    }

    /// Publishes this member's entry with `presence`.
    fn publish(&mut self, presence: Presence, now: Timestamp) -> Result<(), Error> {
        let profile = Profile {
            display_name: self.config.name.clone(),
            presence,
            last_seen: now,
            ..Profile::default()
        };
        let stamp = self.clock.tick(now);
        let entry = Entry::publish(&self.genesis, &self.identity, &self.chain, &profile, stamp)?;
        self.book.insert(entry)?;
        self.unsaved.insert(StoredKey::Phonebook);
        Ok(())
    }

    /// Publishes the entry again once half its lifetime has passed, so it never expires
    /// while the member runs.
    fn renew_entry(&mut self, now: Timestamp) -> Result<(), Error> {
        let (presence, due) = match self.book.get(&self.me, now) {
            Some(e) => {
                let published = e.stamp().time().as_millis();
                let half_life = e.expires_at().as_millis().saturating_sub(published) / 2;
                (
                    e.presence(),
                    now.as_millis() >= published.saturating_add(half_life),
                )
            }
            None => (Presence::Online, true),
        };
        if due {
            self.publish(presence, now)?;
        }
        Ok(())
    }

    /// Adds a member to the dial schedule, unless it is this one, revoked or linked.
    fn schedule(&mut self, peer: PeerId) {
        if peer == self.me
            || self.book.revocations().is_revoked(&peer)
            || self.links.contains_key(&peer)
        {
            return;
        }
        self.reconnector.add_peer(peer, self.now);
    }

    fn attempt_due(&mut self, now: Timestamp) {
        while let Some(peer) = self.reconnector.poll_attempt(now) {
            self.attempt(peer, now);
        }
    }

    /// Tries to reach `peer`: dials it if this member's id is the smaller, else asks it
    /// through the relay to dial (so two members never cross their dials).
    fn attempt(&mut self, peer: PeerId, now: Timestamp) {
        if self.links.contains_key(&peer)
            || self.dialing.contains_key(&peer)
            || self.ringing.contains_key(&peer)
        {
            return;
        }
        if !self.relay_up {
            // Neither a ring nor a transport's offer gets through without the relay: tried
            // again as soon as it is back, without counting a failure.
            self.parked.insert(peer);
            return;
        }
        if self.me > peer {
            self.outputs.push_back(Output::Relay {
                to: peer,
                blob: RelayMessage::Ring(self.boot).encode(),
            });
            self.ringing.insert(peer, now.saturating_add(RING_TIMEOUT));
        } else {
            self.dialing.insert(
                peer,
                Dialing {
                    deadline: now.saturating_add(DIAL_TIMEOUT),
                    conn: None,
                },
            );
            self.outputs.push_back(Output::Dial { peer });
        }
    }

    /// Gives up the dial to `peer`, and the connection it made if its handshake runs.
    fn cancel_dial(&mut self, peer: PeerId) {
        if let Some(d) = self.dialing.remove(&peer) {
            match d.conn {
                Some(conn) => {
                    self.conns.remove(&conn);
                    self.outputs.push_back(Output::Close { conn });
                }
                None => self.outputs.push_back(Output::CancelDial { peer }),
            }
        }
    }

    /// Counts a failed attempt to reach `peer` and schedules the next one.
    fn failed(&mut self, peer: PeerId, now: Timestamp) {
        if let Some(retry) = self.reconnector.on_failure(&peer, now, &mut *self.rng) {
            if retry.needs_invite && retry.failures == self.config.policy.invite_after_failures {
                self.event(Event::NeedsInvite {
                    peer,
                    failures: retry.failures,
                });
            }
        }
    }

    fn accept_allowed(&mut self, now: Timestamp) -> bool {
        let elapsed = since(self.accept_refill, now).as_millis();
        let refill = elapsed.saturating_mul(u128::from(ACCEPT_RATE)) / 1000;
        if refill > 0 {
            let refill = u32::try_from(refill).unwrap_or(ACCEPT_RATE);
            self.accept_tokens = self.accept_tokens.saturating_add(refill).min(ACCEPT_RATE);
            self.accept_refill = now;
        }
        if self.accept_tokens > 0 {
            self.accept_tokens -= 1;
            true
        } else {
            false
        }
    }

    /// Sends what the handshake on `conn` has to send, and makes a finished one a link (or
    /// a failure).
    fn advance_handshake(&mut self, conn: ConnId, now: Timestamp) {
        let Some(Conn::Handshaking(h)) = self.conns.get_mut(&conn) else {
            return;
        };
        let mut sends = Vec::new();
        while let Some(m) = h.machine.poll_transmit() {
            sends.push(m);
        }
        for m in sends {
            self.transmit(conn, m);
        }
        let Some(Conn::Handshaking(h)) = self.conns.get(&conn) else {
            return;
        };
        if !h.machine.is_finished() {
            return;
        }
        if let Some(e) = h.machine.error() {
            let e = e.to_string();
            self.fail_handshake(conn, e);
            return;
        }
        let Some(Conn::Handshaking(h)) = self.conns.remove(&conn) else {
            return;
        };
        let (started, dialed, initiator) = (h.started, h.dialed, h.initiator);
        match h.machine.into_session() {
            Ok(session) => self.establish(conn, session, dialed, started, now),
            Err(e) => self.refuse(conn, initiator, dialed, e.to_string()),
        }
    }

    /// Ends the handshake on `conn` for `error`.
    fn fail_handshake(&mut self, conn: ConnId, error: String) {
        if let Some(Conn::Handshaking(h)) = self.conns.remove(&conn) {
            self.refuse(conn, h.initiator, h.dialed, error);
        }
    }

    /// Closes a connection whose handshake failed and, for a dial, counts a failure.
    fn refuse(&mut self, conn: ConnId, initiator: bool, dialed: Option<PeerId>, error: String) {
        self.outputs.push_back(Output::Close { conn });
        self.event(Event::Refused { initiator, error });
        if let Some(peer) = dialed {
            if self
                .dialing
                .get(&peer)
                .is_some_and(|d| d.conn == Some(conn))
            {
                self.dialing.remove(&peer);
                self.failed(peer, self.now);
            }
        }
    }

    /// Makes an authenticated connection the link to its peer, replacing an older one.
    fn establish(
        &mut self,
        conn: ConnId,
        session: Session,
        dialed: Option<PeerId>,
        started: Timestamp,
        now: Timestamp,
    ) {
        let peer = *session.peer();
        if let Some(d) = dialed {
            if self.dialing.get(&d).is_some_and(|x| x.conn == Some(conn)) {
                self.dialing.remove(&d);
            }
        }
        // A revocation may have arrived during the handshake.
        if peer == self.me || self.book.revocations().check(session.admission()).is_err() {
            self.outputs.push_back(Output::Close { conn });
            self.event(Event::Refused {
                initiator: session.is_initiator(),
                error: "revoked during the handshake".to_owned(),
            });
            return;
        }
        self.reconnector.on_success(&peer, now);
        self.reconnector.remove_peer(&peer);
        self.ringing.remove(&peer);
        if let Some(old) = self.links.insert(peer, conn) {
            // The newer link replaces it; its transfers end with it.
            self.conns.remove(&old);
            self.outputs.push_back(Output::Close { conn: old });
        }
        self.conns.insert(
            conn,
            Conn::Link(Box::new(Link {
                session,
                since: now,
                peer_boot: None,
                announce_by: Some(now.saturating_add(INFO_WAIT)),
                handshake: since(started, now),
                ping: None,
                sending: None,
                receiving: None,
                peer_shares: false,
                peer_version: 0,
                fetched: None,
                fetch_seq: 0,
                fetched_by_peer: 0,
                pending_fetch: None,
            })),
        );
        self.next_check = now;
        let info = self.info();
        self.transmit(conn, info.encode());
        self.transmit(conn, LinkMessage::Sync(self.book.sync_start()).encode());
    }

    /// Tells `LinkUp` for `conn` if it was not told yet.
    fn announce(&mut self, conn: ConnId, now: Timestamp) {
        let Some(Conn::Link(l)) = self.conns.get_mut(&conn) else {
            return;
        };
        if l.announce_by.take().is_none() {
            return;
        }
        let (peer, initiator, role, handshake) = (
            *l.session.peer(),
            l.session.is_initiator(),
            l.session.role(),
            l.handshake,
        );
        let name = self.name_of(&peer, now);
        self.event(Event::LinkUp {
            conn,
            peer,
            name,
            initiator,
            role,
            handshake,
        });
    }

    /// Forgets the link on `conn` if it is `peer`'s current one, closes it and tells why.
    fn drop_link(&mut self, peer: PeerId, conn: ConnId, why: LinkEnd, now: Timestamp) {
        if self.links.get(&peer) != Some(&conn) {
            return;
        }
        self.links.remove(&peer);
        let announced = match self.conns.remove(&conn) {
            Some(Conn::Link(l)) => l.announce_by.is_none(),
            _ => true,
        };
        self.outputs.push_back(Output::Close { conn });
        self.to_receive.retain(|c| *c != conn);
        if announced {
            let name = self.name_of(&peer, now);
            self.event(Event::LinkDown { peer, name, why });
        }
    }

    /// Ends every link whose admission has ended (a key it rests on is revoked, or its
    /// chain expired), and drops revoked members from the schedule. The next check is at
    /// the next expiry, or after [`ADMISSION_RECHECK`].
    fn check_links(&mut self, now: Timestamp) {
        let mut next = now.saturating_add(ADMISSION_RECHECK);
        let mut ended = Vec::new();
        for (peer, conn) in &self.links {
            let Some(Conn::Link(l)) = self.conns.get(conn) else {
                continue;
            };
            let admission = l.session.admission();
            if self.book.revocations().check(admission).is_err() {
                ended.push((*peer, *conn, LinkEnd::Revoked));
                continue;
            }
            match admission.expires_at() {
                Some(at) if now >= at => ended.push((*peer, *conn, LinkEnd::Expired)),
                Some(at) => next = next.min(at),
                None => {}
            }
        }
        for (peer, conn, why) in ended {
            self.reconnector.remove_peer(&peer);
            self.drop_link(peer, conn, why, now);
        }
        let revoked: Vec<PeerId> = self
            .book
            .revocations()
            .iter()
            .map(|t| *t.revoked())
            .collect();
        for p in revoked {
            self.reconnector.remove_peer(&p);
            self.ringing.remove(&p);
            if self.dialing.contains_key(&p) {
                self.cancel_dial(p);
            }
        }
        self.next_check = next;
    }

    /// Starts a phonebook sync on every link.
    fn sync_all(&mut self) {
        let start = LinkMessage::Sync(self.book.sync_start()).encode();
        let conns: Vec<ConnId> = self.links.values().copied().collect();
        for conn in conns {
            self.transmit(conn, start.clone());
        }
    }

    fn on_link_message(
        &mut self,
        conn: ConnId,
        peer: PeerId,
        message: LinkMessage,
        now: Timestamp,
    ) -> Option<TransferFrame> {
        match message {
            LinkMessage::Sync(body) => self.on_sync(conn, peer, &body, now),
            LinkMessage::Info(info) => self.on_info(conn, peer, info, now),
            LinkMessage::Transfer {
                id,
                direction,
                frame,
            } => {
                // Frames towards a receiver are for this member's receiving transfer.
                let role = match direction {
                    Direction::ToReceiver => TransferRole::Receive,
                    Direction::ToSender => TransferRole::Send,
                };
                let running = match self.conns.get(&conn) {
                    Some(Conn::Link(l)) => match role {
                        TransferRole::Receive => l.receiving,
                        TransferRole::Send => l.sending,
                    },
                    _ => None,
                };
                if running == Some(id) {
                    return Some(TransferFrame { id, role, frame });
                }
                tracing::debug!(peer = %peer.short(), transfer = id, "frames of a transfer this member does not run");
            }
            LinkMessage::Chat { kind, text } => {
                let name = self.name_of(&peer, now);
                self.event(Event::Chat {
                    from: peer,
                    name,
                    kind,
                    text,
                });
            }
            LinkMessage::Fetch(id) => self.on_fetch(conn, peer, id),
            LinkMessage::Ping(n) => self.transmit(conn, LinkMessage::Pong(n).encode()),
            LinkMessage::Pong(n) => {
                if let Some(Conn::Link(l)) = self.conns.get_mut(&conn) {
                    if l.ping.is_some_and(|(sent, _)| sent == n) {
                        l.ping = None;
                    }
                }
            }
        }
        None
    }

    /// This member's info: its run, name, and what it offers.
    fn info(&self) -> LinkMessage {
        LinkMessage::Info(Info {
            boot: self.boot,
            name: self.config.name.clone(),
            share: self.config.share,
            receive: self.config.receive,
            share_version: self.share_version,
        })
    }

    fn on_info(&mut self, conn: ConnId, peer: PeerId, info: Info, now: Timestamp) {
        self.names.insert(peer, info.name);
        if let Some(Conn::Link(l)) = self.conns.get_mut(&conn) {
            l.peer_boot = Some(info.boot);
            l.peer_shares = info.share;
            l.peer_version = info.share_version;
        }
        self.announce(conn, now);
        self.want_receive(conn);
        self.next_receive();
    }

    /// Queues `conn` for a fetch if its peer shares a version this member has not fetched
    /// (a peer that gives no version is fetched once per link).
    fn want_receive(&mut self, conn: ConnId) {
        if !self.config.receive || self.to_receive.contains(&conn) {
            return;
        }
        let Some(Conn::Link(l)) = self.conns.get(&conn) else {
            return;
        };
        if self.settings.is_paused(l.session.peer()) {
            return;
        }
        let newer = match l.fetched {
            None => true,
            Some(v) => l.peer_version > v,
        };
        if l.peer_shares && newer && l.receiving.is_none() {
            self.to_receive.push_back(conn);
        }
    }

    /// Fetches on the next waiting links while fewer than [`MAX_RECEIVES`] transfers are
    /// being received (each from another member: a link has one receive at a time).
    fn next_receive(&mut self) {
        while self.receiving.len() < MAX_RECEIVES {
            let Some(conn) = self.to_receive.pop_front() else {
                return;
            };
            let Some(Conn::Link(l)) = self.conns.get_mut(&conn) else {
                continue;
            };
            if self.settings.is_paused(l.session.peer()) {
                continue;
            }
            let id = l.fetch_seq + 1;
            l.fetch_seq = id;
            l.fetched = Some(l.peer_version);
            self.receiving.insert(conn);
            // The receiving end is ready before the fetch goes out.
            self.start_transfer(conn, id, TransferRole::Receive);
            self.transmit(conn, LinkMessage::Fetch(id).encode());
        }
    }

    /// The peer fetches this member's folder as transfer `id`: it is sent now, or when the
    /// send to that member running now ends (a member has at most one sender, so the folder
    /// is read once per transfer however often it asks).
    fn on_fetch(&mut self, conn: ConnId, peer: PeerId, id: u64) {
        if !self.config.share {
            tracing::debug!(peer = %peer.short(), "a fetch, but this member shares nothing");
            return;
        }
        let Some(Conn::Link(l)) = self.conns.get_mut(&conn) else {
            return;
        };
        if id <= l.fetched_by_peer {
            tracing::debug!(peer = %peer.short(), transfer = id, "a fetch of an old number; ignored");
            return;
        }
        l.fetched_by_peer = id;
        if l.sending.is_some() || self.sending.contains(&peer) || self.settings.is_paused(&peer) {
            l.pending_fetch = Some(id);
            return;
        }
        self.serve_fetch(conn, peer, id);
    }

    fn serve_fetch(&mut self, conn: ConnId, peer: PeerId, id: u64) {
        self.sending.insert(peer);
        self.start_transfer(conn, id, TransferRole::Send);
    }

    fn start_transfer(&mut self, conn: ConnId, id: u64, role: TransferRole) {
        let Some(Conn::Link(l)) = self.conns.get_mut(&conn) else {
            return;
        };
        match role {
            TransferRole::Send => l.sending = Some(id),
            TransferRole::Receive => l.receiving = Some(id),
        }
        let Some(Conn::Link(l)) = self.conns.get(&conn) else {
            return;
        };
        let transfer = self.transfer(conn, l, id, role);
        self.outputs.push_back(Output::StartTransfer(transfer));
    }

    fn transfer(&self, conn: ConnId, l: &Link, id: u64, role: TransferRole) -> Transfer {
        Transfer {
            conn,
            peer: *l.session.peer(),
            id,
            role,
            key: SessionKey::from_bytes(*l.session.key()),
        }
    }

    /// A phonebook sync message: answers it, keeps what is new, spreads news to the other
    /// links, and acts on new tombstones.
    fn on_sync(&mut self, conn: ConnId, peer: PeerId, body: &[u8], now: Timestamp) {
        let before: BTreeSet<PeerId> = self.book.stored().map(|e| *e.peer()).collect();
        let outcome = match self.book.handle_sync(body) {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(peer = %peer.short(), error = %e, "bad sync message");
                return;
            }
        };
        for r in outcome.replies {
            self.transmit(conn, LinkMessage::Sync(r).encode());
        }
        let r = &outcome.report;
        let changed = r.added + r.updated + r.tombstones_added > 0;
        if !changed {
            return;
        }
        self.unsaved.insert(StoredKey::Phonebook);
        let new: Vec<PeerId> = self
            .book
            .entries(now)
            .map(|e| *e.peer())
            .filter(|p| !before.contains(p))
            .collect();
        for p in new {
            self.schedule(p);
        }
        if r.tombstones_added > 0 {
            let tombstones: Vec<Vec<u8>> =
                self.book.revocations().iter().map(|t| t.encode()).collect();
            for t in tombstones {
                self.outputs.push_back(Output::Tombstone(t));
            }
            self.check_links(now);
        }
        // Tell some other links, so news spreads without waiting for the periodic sync.
        self.spread(peer);
    }

    /// Starts a sync on at most [`NEWS_FANOUT`] links other than `from`'s, drawn at random:
    /// news reaches every member in a few hops (each told member tells others in turn), and
    /// a shell of `n` linked members exchanges `O(n)` syncs per news, not `O(n²)`. The
    /// periodic sync covers anyone the draw missed.
    fn spread(&mut self, from: PeerId) {
        let mut conns: Vec<ConnId> = self
            .links
            .iter()
            .filter(|(p, _)| **p != from)
            .map(|(_, c)| *c)
            .collect();
        conns.sort();
        let n = conns.len();
        for i in 0..n.min(NEWS_FANOUT) {
            let pick = i + (self.rng.next_u64() % (n - i) as u64) as usize;
            conns.swap(i, pick);
        }
        conns.truncate(NEWS_FANOUT);
        let start = LinkMessage::Sync(self.book.sync_start()).encode();
        for conn in conns {
            self.transmit(conn, start.clone());
        }
    }

    fn on_ring(&mut self, from: PeerId, boot: u64, now: Timestamp) {
        if self.book.revocations().is_revoked(&from) || from == self.me {
            return;
        }
        // The member has no link to this one: a link here is dead if it was made with an
        // earlier run of that member; a ring from the same run was sent before the link was
        // up.
        if let Some(conn) = self.links.get(&from).copied() {
            let old = match self.conns.get(&conn) {
                Some(Conn::Link(l)) => match l.peer_boot {
                    Some(b) => b != boot,
                    None => since(l.since, now) >= RING_GRACE,
                },
                _ => true,
            };
            if !old {
                return;
            }
            self.drop_link(from, conn, LinkEnd::Stale, now);
        }
        self.reconnector.add_peer(from, now);
        self.reconnector.on_success(&from, now);
        if self.me < from {
            // A dial that started before this run of the member was on the relay sent its
            // offer to nobody: start again.
            if self.dialing.contains_key(&from) {
                self.cancel_dial(from);
            }
            self.attempt(from, now);
        }
    }

    fn accept_join(&mut self, from: PeerId, body: &[u8], now: Timestamp) -> RelayMessage {
        let request = match JoinRequest::decode(body) {
            Ok(r) if *r.joiner() == from => Ok(r),
            Ok(_) => Err("the request names another joiner".to_owned()),
            Err(e) => Err(e.to_string()),
        };
        let accepted = request.and_then(|request| {
            self.ledger
                .accept(
                    self.book.revocations(),
                    &self.identity,
                    &self.chain,
                    &request,
                    now,
                    &mut *self.rng,
                )
                .map_err(|e| e.to_string())
        });
        match accepted {
            Ok(granted) => {
                self.unsaved.insert(StoredKey::Ledger);
                // Not dialled now: until it reconnects as a member, the joiner is the
                // relay's guest. It reaches out itself.
                self.event(Event::Admitted { peer: from });
                RelayMessage::Chain(granted.encode())
            }
            Err(error) => {
                self.event(Event::JoinRefused {
                    peer: from,
                    error: error.clone(),
                });
                RelayMessage::Denied(error)
            }
        }
    }
}

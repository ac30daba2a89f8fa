//! The story the demo tells: members join a shell through invites, meet and authenticate,
//! sync their phonebooks, share a mod pack through a connection that is killed half way,
//! and throw one member out.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use rand_core::OsRng;
use syncshell_identity::{
    Identity, InviteCode, InviteLedger, InviteOptions, JoinRequest, PeerId, Role, ShellGenesis,
    TokenChain,
};
use syncshell_phonebook::{Clock, Entry, Phonebook, Profile};
use syncshell_reconnect::Local;
use syncshell_revocation::{Reason, Tombstone};
use syncshell_stream::{
    receive_folder, send_folder, Progress, ReceiveOptions, ReceiveReport, SendOptions, SendReport,
    SessionKey, DEFAULT_CHUNK_SIZE, PARTIAL_DIR,
};
use syncshell_transport::{Connection, MemNetwork, Transport};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::pack::{Pack, WorkDir};
use crate::report::{mib, shown, Report};
use syncshell_examples::wire::{handshake, now, sync_books, Outcome, SyncTally, Tripwire, Wire};

/// Names of the nodes, in order: the owner, the member who shares, then the others.
pub(crate) const NAMES: [&str; 12] = [
    "Ava", "Mira", "Jun", "Tess", "Kai", "Lena", "Omar", "Rin", "Sol", "Uma", "Yara", "Zed",
];
/// The owner of the shell.
const OWNER: usize = 0;
/// The member who is made an admin, invites the rest and shares the mod pack.
const SHARER: usize = 1;
/// The member whose connection is killed during the transfer.
const CUT: usize = 2;
/// How long connecting two nodes may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How the demo kills a connection in the middle of a transfer.
#[derive(Debug)]
pub(crate) enum Cut {
    /// Both ends are closed (with WebRTC: the data channels and the peer connections).
    Close,
    /// The in-memory network partitions the two endpoints (both see the connection lost) and
    /// heals them before they reconnect.
    Partition(MemNetwork),
}

/// What the run is asked to do.
#[derive(Debug)]
pub(crate) struct Settings {
    /// Bytes in the mod pack.
    pub(crate) size: u64,
    /// Seed of the mod pack's contents.
    pub(crate) seed: u64,
    /// Percentage of the transfer after which one connection is killed.
    pub(crate) kill_at: u64,
    /// Whether the nodes talk UDP, so the host's UDP drop counter tells something.
    pub(crate) udp: bool,
}

struct Membership {
    chain: TokenChain,
    book: Phonebook,
    clock: Clock,
}

/// One node: a person's key and transport endpoint, and once joined, its membership.
pub(crate) struct Node<T> {
    name: &'static str,
    address: String,
    identity: Identity,
    net: T,
    member: Option<Membership>,
}

impl<T: Transport> Node<T> {
    pub(crate) fn new(name: &'static str, net: T) -> Self {
        Node {
            name,
            address: net.local_address().to_owned(),
            identity: Identity::generate(&mut OsRng),
            net,
            member: None,
        }
    }

    fn member(&self) -> Result<&Membership, String> {
        self.member
            .as_ref()
            .ok_or_else(|| format!("{} has not joined", self.name))
    }

    fn book_mut(&mut self) -> Result<&mut Phonebook, String> {
        let name = self.name;
        self.member
            .as_mut()
            .map(|m| &mut m.book)
            .ok_or_else(|| format!("{name} has not joined"))
    }

    fn local(&self) -> Result<Local<'_>, String> {
        let m = self.member()?;
        Ok(Local {
            identity: &self.identity,
            chain: &m.chain,
            revocations: m.book.revocations(),
        })
    }
}

/// An authenticated connection between two nodes: both ends, the session key each side
/// derived (they are equal), and the peer each side authenticated (the first end's peer is
/// the second node).
struct Link<C> {
    nodes: (usize, usize),
    ends: (Arc<C>, Arc<C>),
    key: SessionKey,
    peers: (PeerId, PeerId),
}

/// One side of a link, as seen from one node.
struct End<C> {
    conn: Arc<C>,
    key: SessionKey,
    /// The node at the other end, as the handshake authenticated it: a receiver names it as
    /// the sender, whose partial files (and only whose) it may resume.
    peer: PeerId,
}

/// The two ends of a link, the first node's first.
type Ends<C> = (End<C>, End<C>);

type SendTask = JoinHandle<Result<SendReport, syncshell_stream::Error>>;
type ReceiveTask = JoinHandle<(Result<ReceiveReport, syncshell_stream::Error>, Instant)>;

/// One receiver of a transfer in flight.
struct Flight {
    node: usize,
    dest: PathBuf,
    bar: ProgressBar,
    progress: watch::Sender<Progress>,
    sender: SendTask,
    receiver: ReceiveTask,
    /// For the second attempt of a killed transfer: what the first one left.
    resumed: Option<Leftover>,
}

/// What the first attempt of a killed transfer left in the destination.
#[derive(Debug, Clone, Copy)]
struct Leftover {
    /// Bytes of the files it finished (they are in place, so they are not requested again).
    complete: u64,
    /// Bytes in whole chunks of the file in flight when it died: what the second attempt must
    /// resume from the partial file instead of receiving again.
    resumable: u64,
}

/// The whole run.
pub(crate) struct Story<T: Transport> {
    nodes: Vec<Node<T>>,
    ledgers: Vec<InviteLedger>,
    genesis: Option<ShellGenesis>,
    links: Vec<Link<T::Connection>>,
    cut: Cut,
    settings: Settings,
    work: WorkDir,
    pack: Option<Pack>,
    pub(crate) report: Report,
}

fn node<T>(nodes: &[Node<T>], i: usize) -> Result<&Node<T>, String> {
    nodes.get(i).ok_or_else(|| format!("no node {i}"))
}

/// Two different nodes, both mutable.
fn two_mut<T>(
    nodes: &mut [Node<T>],
    a: usize,
    b: usize,
) -> Result<(&mut Node<T>, &mut Node<T>), String> {
    let missing = || format!("no pair of nodes {a} and {b}");
    if a < b {
        let (left, right) = nodes.split_at_mut(b);
        Ok((
            left.get_mut(a).ok_or_else(missing)?,
            right.first_mut().ok_or_else(missing)?,
        ))
    } else if b < a {
        let (left, right) = nodes.split_at_mut(a);
        let (x, y) = (
            right.first_mut().ok_or_else(missing)?,
            left.get_mut(b).ok_or_else(missing)?,
        );
        Ok((x, y))
    } else {
        Err(missing())
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a chat client does to a pasted invite: wraps it at 64 columns, and the joiner
/// retypes it in capitals.
fn through_chat(text: &str) -> String {
    text.as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8_lossy(c).to_uppercase())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Bytes under `dir`, partial files included.
fn bytes_under(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => bytes_under(&e.path()),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

/// Bytes the second attempt of a killed transfer did not receive although the first left
/// them unfinished: what it resumed from partial files.
fn resumed_bytes(total: u64, left: Leftover, second: &ReceiveReport) -> u64 {
    total
        .saturating_sub(left.complete)
        .saturating_sub(second.bytes_received)
}

/// Datagrams this host's UDP sockets dropped because their receive buffer was full, from
/// the kernel's counters (Linux); `None` where they cannot be read.
fn udp_receive_drops() -> Option<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut rows = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (names, values) = (rows.next()?, rows.next()?);
    let column = names.split_whitespace().position(|n| n == "RcvbufErrors")?;
    values.split_whitespace().nth(column)?.parse().ok()
}

/// How far away `t` is from now, in days.
fn days_from_now(t: syncshell_identity::Timestamp) -> String {
    let ms = t.as_millis().saturating_sub(now().as_millis());
    format!("{:.0} days", ms as f64 / 86_400_000.0)
}

/// Connects `from` to `to` and returns both ends.
async fn connect<T: Transport>(
    from: &Node<T>,
    to: &Node<T>,
) -> Result<(Arc<T::Connection>, Arc<T::Connection>), String> {
    let both = tokio::time::timeout(CONNECT_TIMEOUT, async {
        tokio::join!(from.net.connect(&to.address), to.net.accept())
    })
    .await
    .map_err(|_| format!("{} could not reach {} in time", from.name, to.name))?;
    match both {
        (Ok(x), Ok(y)) => Ok((Arc::new(x), Arc::new(y))),
        (Err(e), _) | (_, Err(e)) => Err(format!("{} -> {}: {e}", from.name, to.name)),
    }
}

/// Shows transfer progress on a bar until the transfer is complete or every sender of `rx`
/// is gone.
async fn follow(mut rx: watch::Receiver<Progress>, bar: ProgressBar) {
    while rx.changed().await.is_ok() {
        let p = *rx.borrow_and_update();
        bar.set_position(p.bytes_done);
        if p.bytes_total > 0 && p.bytes_done == p.bytes_total {
            bar.finish_with_message("done");
            return;
        }
    }
}

/// Starts one transfer: the sender and the receiver each in their own task, so transfers
/// to several members use every core. A side that fails closes its end, so the other side
/// does not wait for it.
fn launch<C: Connection>(
    sender: End<C>,
    receiver: End<C>,
    src: PathBuf,
    dest: PathBuf,
    progress: watch::Sender<Progress>,
    trip: Option<Tripwire>,
) -> (SendTask, ReceiveTask) {
    let send = tokio::spawn(async move {
        let mut wire = Wire::new(sender.conn.clone());
        let r = send_folder(&mut wire, &sender.key, &src, &SendOptions::default()).await;
        if r.is_err() {
            sender.conn.close().await;
        }
        r
    });
    let receive = tokio::spawn(async move {
        let mut wire = match trip {
            Some(t) => Wire::with_tripwire(receiver.conn.clone(), t),
            None => Wire::new(receiver.conn.clone()),
        };
        let options = ReceiveOptions {
            progress: Some(progress),
            // Partial files are resumed only for the member that sent them.
            sender: Some(*receiver.peer.as_bytes()),
            ..ReceiveOptions::default()
        };
        let r = receive_folder(&mut wire, &receiver.key, &dest, &options).await;
        if r.is_err() {
            receiver.conn.close().await;
        }
        (r, Instant::now())
    });
    (send, receive)
}

async fn joined<T>(task: JoinHandle<T>) -> Result<T, String> {
    task.await.map_err(|e| format!("a task failed: {e}"))
}

impl<T: Transport> Story<T> {
    pub(crate) fn new(nodes: Vec<Node<T>>, cut: Cut, settings: Settings, work: WorkDir) -> Self {
        let ledgers = nodes.iter().map(|_| InviteLedger::new()).collect();
        Story {
            nodes,
            ledgers,
            genesis: None,
            links: Vec::new(),
            cut,
            settings,
            work,
            pack: None,
            report: Report::default(),
        }
    }

    fn name(&self, i: usize) -> &'static str {
        self.nodes.get(i).map_or("?", |n| n.name)
    }

    fn genesis(&self) -> Result<&ShellGenesis, String> {
        self.genesis
            .as_ref()
            .ok_or_else(|| "no shell yet".to_owned())
    }

    /// The last node: the member the owner revokes.
    fn revoked(&self) -> usize {
        self.nodes.len().saturating_sub(1)
    }

    /// Runs the story; `None` when a step failed and the rest cannot follow.
    pub(crate) async fn run(&mut self) -> Option<()> {
        let t = Instant::now();
        let r = self.create_shell();
        self.report.record("owner creates the shell", t, r)?;

        let t = Instant::now();
        let r = self.join(SHARER, OWNER).await;
        let step = format!(
            "{} joins with {}'s invite",
            self.name(SHARER),
            self.name(OWNER)
        );
        self.report.record(step, t, r)?;

        let t = Instant::now();
        let r = self.promote(SHARER);
        let step = format!("{} makes {} an admin", self.name(OWNER), self.name(SHARER));
        self.report.record(step, t, r)?;

        for j in SHARER + 1..self.nodes.len() {
            let t = Instant::now();
            let r = self.join(j, SHARER).await;
            let step = format!("{} joins with {}'s invite", self.name(j), self.name(SHARER));
            self.report.record(step, t, r)?;
        }

        let t = Instant::now();
        let r = self.meet().await;
        self.report
            .record("members connect and handshake (mutual auth)", t, r)?;

        let t = Instant::now();
        let r = self.phonebooks().await;
        self.report
            .record("phonebooks sync over the links and converge", t, r)?;

        let t = Instant::now();
        let r = self.make_pack();
        let step = format!("{} generates the mod pack", self.name(SHARER));
        self.report.record(step, t, r)?;

        self.share().await?;

        let t = Instant::now();
        let r = self.check_hashes().await;
        self.report
            .record("every received file's BLAKE3 hash matches", t, r)?;

        let t = Instant::now();
        let r = self.revoke().await;
        let step = format!(
            "{} revokes {}; the tombstone spreads",
            self.name(OWNER),
            self.name(self.revoked())
        );
        self.report.record(step, t, r)?;

        let t = Instant::now();
        let r = self.refused().await;
        let step = format!(
            "{} is refused at the next handshake",
            self.name(self.revoked())
        );
        self.report.record(step, t, r)?;

        let t = Instant::now();
        let r = self.update().await;
        self.report
            .record("a pack update reaches only the remaining members", t, r)?;

        self.close_all().await;
        Some(())
    }

    fn create_shell(&mut self) -> Result<(), String> {
        let owner = node(&self.nodes, OWNER)?;
        let genesis = ShellGenesis::create(&owner.identity, "Weekend raid", now(), &mut OsRng)
            .map_err(err)?;
        println!(
            "{} creates the shell {:?} ({})",
            owner.name,
            genesis.name(),
            genesis.id()
        );
        let member = Membership {
            chain: TokenChain::owner(),
            book: Phonebook::new(genesis.clone()),
            clock: Clock::new(),
        };
        if let Some(o) = self.nodes.get_mut(OWNER) {
            o.member = Some(member);
        }
        self.genesis = Some(genesis);
        Ok(())
    }

    /// `inviter` makes an invite whose hints name its address; `joiner` parses the text it
    /// was pasted, connects there, sends its join request and receives its token chain.
    async fn join(&mut self, joiner: usize, inviter: usize) -> Result<(), String> {
        let inv = node(&self.nodes, inviter)?;
        let new = node(&self.nodes, joiner)?;
        let options = InviteOptions {
            hints: format!("node={}", inv.address).into_bytes(),
            ..InviteOptions::default()
        };
        let code = InviteCode::create(
            inv.member()?.book.revocations(),
            &inv.identity,
            &inv.member()?.chain,
            &options,
            now(),
            &mut OsRng,
        )
        .map_err(err)?;
        let text = code.to_text();
        if joiner == SHARER {
            println!(
                "{} invites {} ({} characters, pasted into a chat):\n  {}",
                inv.name,
                new.name,
                text.len(),
                text.as_str()
            );
        } else {
            let head: String = text.chars().take(28).collect();
            let tail: String = text.chars().skip(text.len().saturating_sub(8)).collect();
            println!(
                "{} invites {}: {head}...{tail} ({} characters)",
                inv.name,
                new.name,
                text.len()
            );
        }

        // The joiner only has the text: the shell, the inviter and where to reach it all
        // come from the invite.
        let parsed: InviteCode = through_chat(&text)
            .parse()
            .map_err(|e: syncshell_identity::Error| format!("the pasted invite: {e}"))?;
        let hint = String::from_utf8_lossy(parsed.invite().hints()).into_owned();
        let address = hint
            .strip_prefix("node=")
            .ok_or("the invite names no address")?;
        if address != inv.address {
            return Err(format!("the invite points at {address}"));
        }
        let request = parsed.join_request(&new.identity, now()).map_err(err)?;
        let (x, y) = connect(new, inv).await?;
        let closed = || "the connection closed during the join".to_owned();
        x.send(Bytes::from(request.encode())).await.map_err(err)?;
        let got = y.recv().await.map_err(err)?.ok_or_else(closed)?;
        let got = JoinRequest::decode(&got).map_err(err)?;
        let ledger = self
            .ledgers
            .get_mut(inviter)
            .ok_or("the inviter has no ledger")?;
        let chain = ledger
            .accept(
                inv.member()?.book.revocations(),
                &inv.identity,
                &inv.member()?.chain,
                &got,
                now(),
                &mut OsRng,
            )
            .map_err(err)?;
        y.send(Bytes::from(chain.encode())).await.map_err(err)?;
        let back = x.recv().await.map_err(err)?.ok_or_else(closed)?;
        tokio::join!(x.close(), y.close());
        let chain = TokenChain::decode(&back).map_err(err)?;
        let book = Phonebook::new(parsed.invite().genesis().clone());
        let admission = book
            .revocations()
            .admit(&new.identity.peer_id(), &chain, now())
            .map_err(err)?;
        if admission.role() != Role::Member {
            return Err(format!("joined as {:?}", admission.role()));
        }
        println!(
            "  {} joined over the transport as {:?} (token chain of {}, valid for {})",
            new.name,
            admission.role(),
            chain.tokens().len(),
            admission
                .expires_at()
                .map_or_else(|| "ever".to_owned(), days_from_now)
        );
        // A second use of the same one-time invite is refused.
        let stranger = Identity::generate(&mut OsRng);
        let again = parsed.join_request(&stranger, now()).map_err(err)?;
        let ledger = self
            .ledgers
            .get_mut(inviter)
            .ok_or("the inviter has no ledger")?;
        let inv = node(&self.nodes, inviter)?;
        if ledger
            .accept(
                inv.member()?.book.revocations(),
                &inv.identity,
                &inv.member()?.chain,
                &again,
                now(),
                &mut OsRng,
            )
            .is_ok()
        {
            return Err("a used-up invite admitted a second joiner".to_owned());
        }
        if let Some(n) = self.nodes.get_mut(joiner) {
            n.member = Some(Membership {
                chain,
                book,
                clock: Clock::new(),
            });
        }
        Ok(())
    }

    fn promote(&mut self, who: usize) -> Result<(), String> {
        let (owner, member) = two_mut(&mut self.nodes, OWNER, who)?;
        let until = now().saturating_add(Duration::from_secs(90 * 24 * 3600));
        let revocations = owner.member()?.book.revocations();
        let chain = TokenChain::issue(
            revocations,
            &owner.identity,
            &owner.member()?.chain,
            member.identity.peer_id(),
            Role::Admin,
            now(),
            Some(until),
            &mut OsRng,
        )
        .map_err(err)?;
        revocations
            .admit(&member.identity.peer_id(), &chain, now())
            .map_err(err)?;
        let m = member.member.as_mut().ok_or("not joined")?;
        m.chain = chain;
        println!(
            "  {} is now an admin (token valid for {})",
            member.name,
            days_from_now(until)
        );
        Ok(())
    }

    /// Connects `a` to `b` and runs the handshake; returns both ends (`a`'s first) and both
    /// outcomes.
    #[allow(clippy::type_complexity)]
    async fn dial(
        &self,
        a: usize,
        b: usize,
    ) -> Result<((Arc<T::Connection>, Arc<T::Connection>), Outcome, Outcome), String> {
        let (na, nb) = (node(&self.nodes, a)?, node(&self.nodes, b)?);
        let (x, y) = connect(na, nb).await?;
        let (ra, rb) = handshake(&x, &na.local()?, &y, &nb.local()?).await;
        Ok(((x, y), ra, rb))
    }

    /// Connects and authenticates `a` and `b`; both must accept. Returns the link and a
    /// line that describes it.
    async fn link(&self, a: usize, b: usize) -> Result<(Link<T::Connection>, String), String> {
        let t = Instant::now();
        let (ends, ra, rb) = self.dial(a, b).await?;
        let (sa, sb) = match (ra, rb) {
            (Ok(sa), Ok(sb)) => (sa, sb),
            (ra, rb) => {
                tokio::join!(ends.0.close(), ends.1.close());
                let why = |r: Outcome| r.err().map_or("ok".to_owned(), |e| e.to_string());
                return Err(format!(
                    "handshake {} -> {}: {} / {}",
                    self.name(a),
                    self.name(b),
                    why(ra),
                    why(rb)
                ));
            }
        };
        let (na, nb) = (node(&self.nodes, a)?, node(&self.nodes, b)?);
        if sa.key() != sb.key()
            || sa.peer() != &nb.identity.peer_id()
            || sb.peer() != &na.identity.peer_id()
        {
            return Err("the two sides disagree about the session".to_owned());
        }
        let link = Link {
            nodes: (a, b),
            ends,
            key: SessionKey::from_bytes(*sa.key()),
            peers: (*sa.peer(), *sb.peer()),
        };
        let line = format!(
            "  {:>5} <-> {:<5} session {}, {}; verified {} as {:?}, {} as {:?}",
            na.name,
            nb.name,
            hex(sa.id().get(..6).unwrap_or_default()),
            shown(t.elapsed()),
            nb.name,
            sa.role(),
            na.name,
            sb.role(),
        );
        Ok((link, line))
    }

    /// Both ends of the link between `a` and `b`, `a`'s first.
    fn ends(&self, a: usize, b: usize) -> Result<Ends<T::Connection>, String> {
        for l in &self.links {
            let end = |c: &Arc<T::Connection>, peer: &PeerId| End {
                conn: c.clone(),
                key: l.key.clone(),
                peer: *peer,
            };
            let (x, y) = (end(&l.ends.0, &l.peers.0), end(&l.ends.1, &l.peers.1));
            if l.nodes == (a, b) {
                return Ok((x, y));
            }
            if l.nodes == (b, a) {
                return Ok((y, x));
            }
        }
        Err(format!(
            "{} and {} have no link",
            self.name(a),
            self.name(b)
        ))
    }

    /// Closes and forgets every link of node `who`; returns who was connected to it.
    async fn drop_links(&mut self, who: usize) -> Vec<usize> {
        let (gone, kept) = std::mem::take(&mut self.links)
            .into_iter()
            .partition::<Vec<_>, _>(|l| l.nodes.0 == who || l.nodes.1 == who);
        self.links = kept;
        let mut peers = Vec::new();
        for l in gone {
            tokio::join!(l.ends.0.close(), l.ends.1.close());
            peers.push(if l.nodes.0 == who {
                l.nodes.1
            } else {
                l.nodes.0
            });
        }
        peers
    }

    async fn close_all(&mut self) {
        for l in std::mem::take(&mut self.links) {
            tokio::join!(l.ends.0.close(), l.ends.1.close());
        }
    }

    /// Every member connects to the owner, and the sharer to every other member.
    async fn meet(&mut self) -> Result<(), String> {
        let n = self.nodes.len();
        let pairs: Vec<(usize, usize)> = (1..n)
            .map(|j| (j, OWNER))
            .chain((SHARER + 1..n).map(|j| (j, SHARER)))
            .collect();
        for (a, b) in pairs {
            let (link, line) = self.link(a, b).await?;
            println!("{line}");
            self.links.push(link);
        }
        Ok(())
    }

    async fn sync_pair(&mut self, a: usize, b: usize) -> Result<SyncTally, String> {
        let (x, y) = self.ends(a, b)?;
        let (na, nb) = two_mut(&mut self.nodes, a, b)?;
        sync_books(na.book_mut()?, &*x.conn, nb.book_mut()?, &*y.conn).await
    }

    /// Everyone publishes a signed entry; everyone syncs with the owner, twice round.
    async fn phonebooks(&mut self) -> Result<(), String> {
        let genesis = self.genesis()?.clone();
        for n in &mut self.nodes {
            let profile = Profile {
                display_name: n.name.to_owned(),
                hints: format!("node={}", n.address).into_bytes(),
                ..Profile::default()
            };
            let m = n.member.as_mut().ok_or("not joined")?;
            let stamp = m.clock.tick(now());
            let entry =
                Entry::publish(&genesis, &n.identity, &m.chain, &profile, stamp).map_err(err)?;
            m.book.insert(entry).map_err(err)?;
        }
        let mut bytes = 0;
        let mut entries = 0;
        for _ in 0..2 {
            for j in 1..self.nodes.len() {
                let tally = self.sync_pair(j, OWNER).await?;
                bytes += tally.bytes;
                entries += tally.entries;
            }
        }
        let owner_book = &node(&self.nodes, OWNER)?.member()?.book;
        for n in &self.nodes {
            if &n.member()?.book != owner_book {
                return Err(format!("{}'s phonebook differs from the owner's", n.name));
            }
        }
        let shown: Vec<String> = owner_book
            .entries(now())
            .map(|e| format!("{} {}", e.shown_name(), e.peer().short()))
            .collect();
        if shown.len() != self.nodes.len() {
            return Err(format!(
                "{} entries shown, {} expected",
                shown.len(),
                self.nodes.len()
            ));
        }
        println!(
            "  {} phonebooks agree on {} entries ({} merged, {} bytes of sync): {}",
            self.nodes.len(),
            shown.len(),
            entries,
            bytes,
            shown.join(", ")
        );
        Ok(())
    }

    fn make_pack(&mut self) -> Result<(), String> {
        let root = self.work.path.join("pack");
        let pack = Pack::generate(&root, self.settings.size, self.settings.seed).map_err(err)?;
        let largest = pack.files.iter().map(|f| f.size).max().unwrap_or(0);
        let folders: std::collections::BTreeSet<&str> = pack
            .files
            .iter()
            .filter_map(|f| f.path.rsplit_once('/').map(|p| p.0))
            .collect();
        println!(
            "  {} files in {} folders, {:.1} MiB (largest {:.1} MiB), seed {}",
            pack.files.len(),
            folders.len(),
            mib(pack.total()),
            mib(largest),
            self.settings.seed
        );
        self.pack = Some(pack);
        Ok(())
    }

    fn dest(&self, i: usize) -> PathBuf {
        let address = self.nodes.get(i).map_or("unknown", |n| n.address.as_str());
        self.work.path.join(format!("received-{address}"))
    }

    /// The one who receives is never the sharer: everyone else, the cut member among them.
    fn receivers(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&i| i != SHARER).collect()
    }

    /// The tripwire that kills the link between the sharer and `victim` once `victim` has
    /// received `after_bytes`.
    fn tripwire(
        &self,
        victim: usize,
        sender: &Arc<T::Connection>,
        receiver: &Arc<T::Connection>,
        after_bytes: u64,
    ) -> Tripwire {
        let action: Box<dyn FnOnce() + Send> = match &self.cut {
            Cut::Close => {
                let (x, y) = (sender.clone(), receiver.clone());
                Box::new(move || {
                    tokio::spawn(async move { tokio::join!(x.close(), y.close()) });
                })
            }
            Cut::Partition(net) => {
                let net = net.clone();
                let a = self
                    .nodes
                    .get(SHARER)
                    .map(|n| n.address.clone())
                    .unwrap_or_default();
                let b = self
                    .nodes
                    .get(victim)
                    .map(|n| n.address.clone())
                    .unwrap_or_default();
                Box::new(move || net.partition(&a, &b))
            }
        };
        Tripwire {
            after_bytes,
            action,
        }
    }

    /// The sharer sends the pack to every other member at once, with a bar each; one
    /// connection is killed part way and the transfer resumes on a new connection.
    async fn share(&mut self) -> Option<()> {
        let Some(pack) = self.pack.clone() else {
            self.report.fail("share the pack", "no pack");
            return None;
        };
        let total = pack.total();
        let receivers = self.receivers();
        println!(
            "{} shares the pack with {} members; the connection to {} is killed after {}% of it",
            self.name(SHARER),
            receivers.len(),
            self.name(CUT),
            self.settings.kill_at
        );
        let bars = MultiProgress::new();
        let style = ProgressStyle::with_template(
            "{prefix:>6} [{bar:36}] {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} {msg}",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        let drops_before = udp_receive_drops().filter(|_| self.settings.udp);
        let started = Instant::now();
        let mut flights = Vec::new();
        for &r in &receivers {
            let (s_end, r_end) = match self.ends(SHARER, r) {
                Ok(e) => e,
                Err(e) => {
                    self.report.fail("share the pack", &e);
                    return None;
                }
            };
            let bar = bars.add(ProgressBar::new(total).with_style(style.clone()));
            bar.set_prefix(self.name(r));
            let (tx, rx) = watch::channel(Progress::default());
            tokio::spawn(follow(rx, bar.clone()));
            let trip = (r == CUT).then(|| {
                let after = total.saturating_mul(self.settings.kill_at) / 100;
                self.tripwire(r, &s_end.conn, &r_end.conn, after.max(1))
            });
            let dest = self.dest(r);
            let (sender, receiver) = launch(
                s_end,
                r_end,
                pack.root.clone(),
                dest.clone(),
                tx.clone(),
                trip,
            );
            flights.push(Flight {
                node: r,
                dest,
                bar,
                progress: tx,
                sender,
                receiver,
                resumed: None,
            });
        }

        let mut ok = true;
        // The cut member's first attempt ends when its connection goes; it reconnects (new
        // connection, new handshake, new session key) and resumes from its partial files.
        if let Some(pos) = flights.iter().position(|f| f.node == CUT) {
            let f = flights.swap_remove(pos);
            match self.resume(f, &bars, &pack, started).await {
                Ok(f) => flights.push(f),
                Err(e) => {
                    self.report
                        .fail(format!("{} resumes after the kill", self.name(CUT)), &e);
                    ok = false;
                }
            }
        }

        let mut delivered = 0;
        let mut rows = Vec::new();
        for f in flights {
            let sent = joined(f.sender).await;
            let received = joined(f.receiver).await;
            let name = self.name(f.node);
            match (sent, received) {
                (Ok(Ok(_)), Ok((Ok(report), done))) => {
                    delivered += total;
                    let resumed = f.resumed.map(|left| resumed_bytes(total, left, &report));
                    let row_ok = match (f.resumed, resumed) {
                        (Some(left), Some(got)) if got < left.resumable => {
                            bars.suspend(|| {
                                println!(
                                    "  {name} received again {:.1} MiB its partial file held: it was not resumed",
                                    mib(left.resumable - got)
                                )
                            });
                            false
                        }
                        _ => true,
                    };
                    ok &= row_ok;
                    rows.push((
                        f.node,
                        done.duration_since(started),
                        row_ok,
                        report,
                        resumed,
                    ));
                }
                (s, r) => {
                    f.bar.abandon_with_message("failed");
                    let why = match (s, r) {
                        (_, Err(e)) | (Err(e), _) => e,
                        (_, Ok((Err(e), _))) => format!("receiving: {e}"),
                        (Ok(Err(e)), _) => format!("sending: {e}"),
                        _ => "unknown".to_owned(),
                    };
                    bars.suspend(|| println!("  transfer to {name} failed: {why}"));
                    ok = false;
                }
            }
            drop(f.progress);
        }
        let wall = started.elapsed();
        rows.sort_by_key(|r| r.0);
        for (n, took, row_ok, report, resumed) in rows {
            let note = if n == CUT { " (killed, resumed)" } else { "" };
            let from_partial = resumed.map_or_else(String::new, |r| {
                format!(" ({:.1} MiB resumed from a partial file)", mib(r))
            });
            println!(
                "  {}: {} files, {:.1} MiB received in this attempt{from_partial}, done {} after the start{note}",
                self.name(n),
                report.files_received,
                mib(report.bytes_received),
                shown(took)
            );
            self.report.transfer(
                format!("  {} -> {}{note}", self.name(SHARER), self.name(n)),
                took,
                total,
                row_ok,
            );
        }
        if let (Some(before), Some(after)) = (drops_before, udp_receive_drops()) {
            // Loopback loses nothing else: every datagram dropped here stalls an SCTP
            // association until it retransmits.
            println!(
                "  UDP datagrams this host dropped for full socket receive buffers during the transfer: {} (sockets ask for 4 MiB; net.core.rmem_max = {})",
                after.saturating_sub(before),
                std::fs::read_to_string("/proc/sys/net/core/rmem_max")
                    .map_or_else(|_| "?".to_owned(), |s| s.trim().to_owned())
            );
        }
        self.report.transfer(
            format!(
                "{} shares the pack with {} members",
                self.name(SHARER),
                receivers.len()
            ),
            wall,
            delivered,
            ok,
        );
        ok.then_some(())
    }

    /// Waits for the cut member's first attempt to fail, reconnects and starts the second.
    async fn resume(
        &mut self,
        f: Flight,
        bars: &MultiProgress,
        pack: &Pack,
        started: Instant,
    ) -> Result<Flight, String> {
        let name = self.name(CUT);
        // Both sides learn of the kill at once; the bound only keeps a bug from hanging the demo.
        let first = tokio::time::timeout(CONNECT_TIMEOUT, async {
            (joined(f.sender).await, joined(f.receiver).await)
        })
        .await
        .map_err(|_| "the killed transfer did not end".to_owned())?;
        let (sent, (received, _)) = (first.0?, first.1?);
        let why = match (received, sent) {
            (Err(e), _) => e.to_string(),
            (Ok(_), _) => {
                return Err("the transfer finished before the connection was killed".to_owned())
            }
        };
        let kept = bytes_under(&f.dest);
        let partial = bytes_under(&f.dest.join(PARTIAL_DIR));
        // The file in flight when the connection died: its whole chunks were written to its
        // partial file, which the second attempt resumes.
        let in_flight = f
            .progress
            .borrow()
            .file
            .filter(|p| p.bytes_done < p.bytes_total)
            .map_or(0, |p| p.bytes_done);
        let chunk = u64::from(DEFAULT_CHUNK_SIZE);
        let left = Leftover {
            complete: kept.saturating_sub(partial),
            resumable: in_flight / chunk * chunk,
        };
        f.bar.set_message("reconnecting");
        bars.suspend(|| {
            println!(
                "  {name}'s connection died after {} with {:.1} MiB on disk, {:.1} MiB of it in partial files ({why})",
                shown(started.elapsed()),
                mib(kept),
                mib(partial)
            )
        });
        // Forget the dead connection, heal the network if it was partitioned, connect anew.
        let _ = self.drop_links_between(SHARER, CUT).await;
        if let Cut::Partition(net) = &self.cut {
            net.heal(
                &node(&self.nodes, SHARER)?.address,
                &node(&self.nodes, CUT)?.address,
            );
        }
        let (link, line) = self.link(CUT, SHARER).await?;
        bars.suspend(|| println!("{line}"));
        self.links.push(link);
        let (s_end, r_end) = self.ends(SHARER, CUT)?;
        bars.suspend(|| {
            println!(
                "  {name} reconnected with a new session key and resumes from its partial files"
            )
        });
        f.bar.set_message("resumed");
        let (sender, receiver) = launch(
            s_end,
            r_end,
            pack.root.clone(),
            f.dest.clone(),
            f.progress.clone(),
            None,
        );
        Ok(Flight {
            sender,
            receiver,
            resumed: Some(left),
            ..f
        })
    }

    async fn drop_links_between(&mut self, a: usize, b: usize) -> usize {
        let (gone, kept) = std::mem::take(&mut self.links)
            .into_iter()
            .partition::<Vec<_>, _>(|l| l.nodes == (a, b) || l.nodes == (b, a));
        self.links = kept;
        let n = gone.len();
        for l in gone {
            tokio::join!(l.ends.0.close(), l.ends.1.close());
        }
        n
    }

    async fn check_hashes(&mut self) -> Result<(), String> {
        let pack = Arc::new(self.pack.clone().ok_or("no pack")?);
        let mut checks = Vec::new();
        for r in self.receivers() {
            let (pack, dest) = (pack.clone(), self.dest(r));
            checks.push((r, tokio::task::spawn_blocking(move || pack.verify(&dest))));
        }
        let mut failed = Vec::new();
        for (r, check) in checks {
            match check.await.map_err(err).and_then(|x| x) {
                Ok(n) => println!("  {}: {n} files, all hashes match", self.name(r)),
                Err(e) => failed.push(format!("{}: {e}", self.name(r))),
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed.join("; "))
        }
    }

    /// The owner revokes the last member; the tombstone goes owner -> sharer -> the others,
    /// and whoever was connected to the revoked member closes that connection.
    async fn revoke(&mut self) -> Result<(), String> {
        let gone = self.revoked();
        let gone_id = node(&self.nodes, gone)?.identity.peer_id();
        let owner = node(&self.nodes, OWNER)?;
        let tombstone = Tombstone::issue(
            owner.member()?.book.revocations(),
            &owner.identity,
            &owner.member()?.chain,
            gone_id,
            Reason::Removed,
            now(),
        )
        .map_err(err)?;
        self.nodes
            .get_mut(OWNER)
            .ok_or("no owner")?
            .book_mut()?
            .revoke(tombstone)
            .map_err(err)?;
        let mut hops = vec![(OWNER, SHARER)];
        hops.extend(
            (SHARER + 1..self.nodes.len())
                .filter(|&j| j != gone)
                .map(|j| (SHARER, j)),
        );
        for (a, b) in hops {
            let tally = self.sync_pair(a, b).await?;
            println!(
                "  {} -> {}: {} tombstone(s) new, {} bytes of sync",
                self.name(a),
                self.name(b),
                tally.tombstones,
                tally.bytes
            );
        }
        let reference = &node(&self.nodes, OWNER)?.member()?.book;
        for (i, n) in self.nodes.iter().enumerate().filter(|(i, _)| *i != gone) {
            let book = &n.member()?.book;
            if !book.revocations().is_revoked(&gone_id) || book.get(&gone_id, now()).is_some() {
                return Err(format!("{} still shows {}", n.name, self.name(gone)));
            }
            if book != reference {
                return Err(format!(
                    "{}'s phonebook differs from the owner's (node {i})",
                    n.name
                ));
            }
        }
        let gone_name = self.name(gone);
        let peers = self.drop_links(gone).await;
        let names: Vec<&str> = peers.iter().map(|&p| self.name(p)).collect();
        println!(
            "  every remaining phonebook hides {gone_name}; {} closed their connections to {gone_name}",
            names.join(" and ")
        );
        Ok(())
    }

    /// The revoked member tries the sharer again: the handshake fails before any key.
    async fn refused(&mut self) -> Result<(), String> {
        let gone = self.revoked();
        let ((x, y), theirs, ours) = self.dial(gone, SHARER).await?;
        tokio::join!(x.close(), y.close());
        match (ours, theirs) {
            (Err(syncshell_reconnect::Error::Revoked), Err(e)) => {
                println!(
                    "  {} refused {}: {}; {} saw: {e}",
                    self.name(SHARER),
                    self.name(gone),
                    syncshell_reconnect::Error::Revoked,
                    self.name(gone)
                );
                Ok(())
            }
            (ours, theirs) => Err(format!(
                "expected a refusal for revocation, got {:?} / {:?}",
                ours.map(|s| s.peer().short()),
                theirs.map(|s| s.peer().short())
            )),
        }
    }

    /// The sharer adds a file; the remaining members receive only that file over their
    /// links, and the revoked member, who has none, gets nothing.
    async fn update(&mut self) -> Result<(), String> {
        let mut pack = self.pack.clone().ok_or("no pack")?;
        let before = pack.files.len();
        let size = (self.settings.size / 64).max(4096);
        let file = pack
            .add_file("patches/hotfix-2.pak", size, self.settings.seed ^ 0x5eed)
            .map_err(err)?;
        let gone = self.revoked();
        let mut tasks = Vec::new();
        for r in self.receivers().into_iter().filter(|&r| r != gone) {
            let (s_end, r_end) = self.ends(SHARER, r)?;
            let (tx, _) = watch::channel(Progress::default());
            tasks.push((
                r,
                launch(s_end, r_end, pack.root.clone(), self.dest(r), tx, None),
            ));
        }
        let mut names = Vec::new();
        for (r, (sender, receiver)) in tasks {
            joined(sender)
                .await?
                .map_err(|e| format!("sending to {}: {e}", self.name(r)))?;
            let (report, _) = joined(receiver).await?;
            let report = report.map_err(|e| format!("{} receiving: {e}", self.name(r)))?;
            if report.files_received != 1
                || report.files_present != before
                || report.bytes_received != size
            {
                return Err(format!(
                    "{} received {} files ({} bytes) with {} present",
                    self.name(r),
                    report.files_received,
                    report.bytes_received,
                    report.files_present
                ));
            }
            let dest = self.dest(r);
            pack.verify(&dest)
                .map_err(|e| format!("{}: {e}", self.name(r)))?;
            names.push(self.name(r));
        }
        if self.dest(gone).join(&file.path).exists() {
            return Err(format!("{} received the update", self.name(gone)));
        }
        println!(
            "  {} received only {} ({:.1} MiB, {} files already present); {} has no connection and no key, and did not get it",
            names.join(", "),
            file.path,
            mib(file.size),
            before,
            self.name(gone)
        );
        self.pack = Some(pack);
        Ok(())
    }
}

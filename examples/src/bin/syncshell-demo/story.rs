//! The story the demo tells, as commands to members (`syncshell_member::Node`) and what their
//! events say: members join a shell through invites and a relay on 127.0.0.1, link and
//! authenticate, sync their phonebooks, share a mod pack through a link that is killed half
//! way, and throw one member out. Every member runs the same composition a plugin or
//! `syncshell-node` runs; the story only gives commands and watches.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use rand_core::{OsRng, RngCore};
use syncshell_identity::{InviteCode, InviteOptions, PeerId, Role};
use syncshell_member::{
    sharer_folder, Config, Event, FirstStart, Folders, Key, LinkEnd, Node, Opening, StartError,
    StartOptions, Started,
};
use syncshell_reconnect::BackoffPolicy;
use syncshell_transport::{Connection, Transport};
use tokio::sync::mpsc;
use zeroize::Zeroizing;

use crate::pack::{Pack, WorkDir};
use crate::report::{mib, shown, Report};
use syncshell_examples::wire::now;

/// Names of the members, in order: the owner, the member who shares, then the others.
pub(crate) const NAMES: [&str; 12] = [
    "Ava", "Mira", "Jun", "Tess", "Kai", "Lena", "Omar", "Rin", "Sol", "Uma", "Yara", "Zed",
];
/// The owner of the shell.
const OWNER: usize = 0;
/// The member invited as an admin, who invites the rest and shares the mod pack.
const SHARER: usize = 1;
/// The member whose link is killed during the transfer.
const CUT: usize = 2;
/// How long one step may wait for what it waits for.
const STEP_LIMIT: Duration = Duration::from_secs(60);
/// The pack's folder inside the shared folder (and so inside each receive folder).
const PACK: &str = "weekend-raid-mods";

/// What the run is asked to do.
#[derive(Debug)]
pub(crate) struct Settings {
    /// Bytes in the mod pack.
    pub(crate) size: u64,
    /// Seed of the mod pack's contents.
    pub(crate) seed: u64,
    /// Percentage of the transfer after which one link is killed.
    pub(crate) kill_at: u64,
    /// Whether the members talk UDP, so the host's UDP drop counter tells something.
    pub(crate) udp: bool,
}

/// Starts a member over the chosen backend.
pub(crate) type Launch<T> = Box<
    dyn Fn(Opening) -> Pin<Box<dyn Future<Output = Result<Started<T>, StartError>> + Send>>
        + Send
        + Sync,
>;

/// A running member.
struct Member<T: Transport + 'static> {
    node: Node<T>,
    peer: PeerId,
    _lock: syncshell_member::FolderLock,
}

/// How a receiver's transfer of the pack went.
#[derive(Debug, Default, Clone)]
struct Receipt {
    done: Option<Duration>,
    files: usize,
    present: usize,
    bytes: u64,
    total: u64,
}

pub(crate) struct Story<T: Transport + 'static> {
    launch: Launch<T>,
    relay: String,
    names: Vec<&'static str>,
    members: BTreeMap<usize, Member<T>>,
    events: mpsc::UnboundedReceiver<(usize, Event)>,
    sender: mpsc::UnboundedSender<(usize, Event)>,
    /// Events a step looked at and left for the steps after it, oldest first.
    backlog: VecDeque<(usize, Event)>,
    settings: Settings,
    work: WorkDir,
    pack: Option<Pack>,
    /// The sharer's peer id, once it started.
    sharer: Option<PeerId>,
    pub(crate) report: Report,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// An invite's text as a person pastes it: split over chat lines and upper-cased by a
/// phone's keyboard; the parser takes it back all the same.
fn through_chat(text: &str) -> String {
    text.as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8_lossy(c).to_uppercase())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Bytes under `dir`.
fn bytes_under(dir: &Path) -> u64 {
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

impl<T: Transport + 'static> Story<T> {
    pub(crate) fn new(
        launch: Launch<T>,
        relay: String,
        names: &[&'static str],
        settings: Settings,
        work: WorkDir,
    ) -> Self {
        let (sender, events) = mpsc::unbounded_channel();
        Story {
            launch,
            relay,
            names: names.to_vec(),
            members: BTreeMap::new(),
            events,
            sender,
            backlog: VecDeque::new(),
            settings,
            work,
            pack: None,
            sharer: None,
            report: Report::default(),
        }
    }

    fn name(&self, i: usize) -> &'static str {
        self.names.get(i).copied().unwrap_or("?")
    }

    fn member(&self, i: usize) -> Result<&Member<T>, String> {
        self.members
            .get(&i)
            .ok_or_else(|| format!("{} is not running", self.name(i)))
    }

    fn index_of(&self, peer: &PeerId) -> Option<usize> {
        self.members
            .iter()
            .find(|(_, m)| m.peer == *peer)
            .map(|(i, _)| *i)
    }

    /// The last member: the one the owner revokes.
    fn revoked(&self) -> usize {
        self.names.len().saturating_sub(1)
    }

    fn share_dir(&self) -> PathBuf {
        self.work.path.join("share")
    }

    fn receive_dir(&self, i: usize) -> PathBuf {
        self.work
            .path
            .join(format!("received-{}", self.name(i).to_lowercase()))
    }

    /// Where member `i` receives the sharer's folder.
    fn received_dir(&self, i: usize) -> PathBuf {
        let root = self.receive_dir(i);
        match &self.sharer {
            Some(peer) => sharer_folder(&root, peer),
            None => root,
        }
    }

    /// The one who receives is never the sharer: everyone else, the cut member among them.
    fn receivers(&self) -> Vec<usize> {
        (0..self.names.len()).filter(|&i| i != SHARER).collect()
    }

    /// The next event of any member, until `deadline`.
    async fn next(&mut self, deadline: Instant, what: &str) -> Result<(usize, Event), String> {
        if let Some(e) = self.backlog.pop_front() {
            return Ok(e);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, self.events.recv()).await {
            Ok(Some(e)) => Ok(e),
            Ok(None) => Err("every member stopped".to_owned()),
            Err(_) => Err(format!("{what}: nothing within {}", shown(STEP_LIMIT))),
        }
    }

    /// Starts member `i`: its data folder, a key of its own, the relay, the backend.
    async fn start(&mut self, i: usize, first: FirstStart) -> Result<(), String> {
        let name = self.name(i);
        let mut secret = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(&mut secret[..]);
        let receive = (i != SHARER).then(|| self.receive_dir(i));
        let share = (i == SHARER).then(|| self.share_dir());
        for dir in receive.iter().chain(&share) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let options = StartOptions {
            data: self.work.path.join(format!("{}-data", name.to_lowercase())),
            key: Key::Secret(secret),
            first,
            relays: vec![self.relay.clone()],
            client: Default::default(),
            webrtc: Default::default(),
            config: Config {
                name: name.to_owned(),
                // Back quickly after the killed link.
                policy: BackoffPolicy {
                    base: Duration::from_millis(100),
                    max: Duration::from_secs(1),
                    ..BackoffPolicy::default()
                },
                sync_interval: Duration::from_secs(1),
                ..Config::default()
            },
            folders: Folders {
                share,
                receive,
                ..Folders::default()
            },
            approval: false,
        };
        let opening = Opening::open(options).map_err(err)?;
        let Started {
            node, events, lock, ..
        } = (self.launch)(opening).await.map_err(err)?;
        let peer = node.with_member(|m, _| m.peer_id());
        if i == SHARER {
            self.sharer = Some(peer);
        }
        let sender = self.sender.clone();
        tokio::spawn(async move {
            let mut events = events;
            while let Some(e) = events.recv().await {
                if sender.send((i, e)).is_err() {
                    return;
                }
            }
        });
        self.members.insert(
            i,
            Member {
                node,
                peer,
                _lock: lock,
            },
        );
        Ok(())
    }

    /// Runs the story; `None` when a step failed and the rest cannot follow.
    pub(crate) async fn run(&mut self) -> Option<()> {
        let t = Instant::now();
        let r = self.create_shell().await;
        self.report.record("owner creates the shell", t, r)?;

        let t = Instant::now();
        let r = self.join(SHARER, OWNER, Role::Admin).await;
        let step = format!(
            "{} joins with {}'s invite, as an admin",
            self.name(SHARER),
            self.name(OWNER)
        );
        self.report.record(step, t, r)?;

        for j in SHARER + 1..self.names.len() {
            let t = Instant::now();
            let r = self.join(j, SHARER, Role::Member).await;
            let step = format!("{} joins with {}'s invite", self.name(j), self.name(SHARER));
            self.report.record(step, t, r)?;
        }

        let t = Instant::now();
        let r = self.meet().await;
        self.report
            .record("members link and handshake (mutual auth)", t, r)?;

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
            "{} revokes {}; every link to it ends",
            self.name(OWNER),
            self.name(self.revoked())
        );
        self.report.record(step, t, r)?;

        let t = Instant::now();
        let r = self.update().await;
        self.report
            .record("a pack update reaches only the remaining members", t, r)?;

        self.stop_all().await;
        Some(())
    }

    async fn create_shell(&mut self) -> Result<(), String> {
        self.start(OWNER, FirstStart::Create("Weekend raid".to_owned()))
            .await?;
        let shell = self
            .member(OWNER)?
            .node
            .with_member(|m, _| m.genesis().id());
        println!(
            "{} creates the shell \"Weekend raid\" ({shell}) and runs a member of it",
            self.name(OWNER)
        );
        Ok(())
    }

    /// `inviter` invites member `joiner` with `role`; the invite goes through a chat, and
    /// the joiner joins through the relay.
    async fn join(&mut self, joiner: usize, inviter: usize, role: Role) -> Result<(), String> {
        let options = InviteOptions {
            role,
            ..InviteOptions::default()
        };
        let code = self
            .member(inviter)?
            .node
            .with_member(|m, t| m.invite(options, t))
            .map_err(err)?;
        let text = code.to_text();
        let pasted = through_chat(&text);
        if joiner == SHARER {
            println!(
                "{} invites {} ({} characters, pasted into a chat):\n  {}",
                self.name(inviter),
                self.name(joiner),
                text.len(),
                text.as_str()
            );
        } else {
            let head = text.get(..28).unwrap_or_default();
            let tail = text.get(text.len().saturating_sub(8)..).unwrap_or_default();
            println!(
                "{} invites {}: {head}...{tail} ({} characters)",
                self.name(inviter),
                self.name(joiner),
                text.len()
            );
        }
        let code: InviteCode = pasted.parse().map_err(err)?;
        self.start(joiner, FirstStart::Join(Box::new(code), STEP_LIMIT))
            .await?;
        let (role, chain_len, expires) = self.member(joiner)?.node.with_member(|m, t| {
            (
                m.role(t).map(|r| format!("{r:?}")).unwrap_or_default(),
                m.chain().tokens().len(),
                m.chain()
                    .tokens()
                    .iter()
                    .filter_map(|t| t.expires_at())
                    .min(),
            )
        });
        println!(
            "  {} joined through the relay as {role} (token chain of {chain_len}, valid for {})",
            self.name(joiner),
            expires.map_or("ever".to_owned(), days_from_now),
        );
        Ok(())
    }

    /// Every member links to every other (the smaller id dials, the other rings through the
    /// relay; each link starts with the mutual handshake).
    async fn meet(&mut self) -> Result<(), String> {
        let n = self.names.len();
        let deadline = Instant::now() + STEP_LIMIT;
        // Every link's events are queued since its members started, those of the links
        // made while the others joined too.
        let mut linked: BTreeSet<(usize, usize)> = BTreeSet::new();
        while linked.len() < n * (n - 1) / 2 {
            let (i, e) = self.next(deadline, "linking").await?;
            if let Event::LinkUp {
                peer,
                handshake,
                role,
                initiator,
                ..
            } = e
            {
                let Some(j) = self.index_of(&peer) else {
                    continue;
                };
                if linked.insert((i.min(j), i.max(j))) {
                    let (a, b) = if initiator { (i, j) } else { (j, i) };
                    println!(
                        "  {:>5} -> {:<5} handshake {}; {} verified {} as {role:?}",
                        self.name(a),
                        self.name(b),
                        // The member times it in whole milliseconds.
                        if handshake.is_zero() {
                            "under 1 ms".to_owned()
                        } else {
                            shown(handshake)
                        },
                        self.name(i),
                        self.name(j),
                    );
                }
            }
        }
        println!("  {n} members, {} links", linked.len());
        Ok(())
    }

    /// Every member's phonebook lists every member.
    async fn phonebooks(&mut self) -> Result<(), String> {
        let n = self.names.len();
        let deadline = Instant::now() + STEP_LIMIT;
        loop {
            let counts: Vec<usize> = self
                .members
                .values()
                .map(|m| m.node.with_member(|m, t| m.phonebook().entries(t).count()))
                .collect();
            if counts.iter().all(|&c| c == n) {
                break;
            }
            // Syncs run on every link each second; any event is a moment to look again (and
            // stays for the steps that wait for it).
            if let Ok(Some(e)) =
                tokio::time::timeout(Duration::from_millis(100), self.events.recv()).await
            {
                self.backlog.push_back(e);
            }
            if Instant::now() > deadline {
                return Err(format!("phonebooks hold {counts:?} entries, not {n} each"));
            }
        }
        let names = self.member(OWNER)?.node.with_member(|m, t| {
            m.phonebook()
                .entries(t)
                .map(|e| format!("{} {}", e.shown_name(), e.peer().short()))
                .collect::<Vec<_>>()
        });
        println!(
            "  {n} phonebooks agree on {n} entries: {}",
            names.join(", ")
        );
        Ok(())
    }

    /// Generates the pack beside the shared folder and moves it in at once, so the sharer's
    /// folder watcher sees one change.
    fn make_pack(&mut self) -> Result<(), String> {
        let staging = self.work.path.join("staging").join(PACK);
        let pack = Pack::generate(&staging, self.settings.size, self.settings.seed).map_err(err)?;
        let largest = pack.files.iter().map(|f| f.size).max().unwrap_or(0);
        let folders: BTreeSet<&str> = pack
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

    /// The sharer shares the pack; every other member fetches it. The sharer caps her
    /// upload with a bandwidth budget until one receiver's link is killed part way (so the
    /// cut lands where it is asked to, whatever the machine's speed), then lifts it. The
    /// killed receiver links again with a new handshake and resumes from its partial files.
    async fn share(&mut self) -> Option<()> {
        let t = Instant::now();
        let r = self.share_inner().await;
        let step = format!(
            "{} shares the pack with {} members",
            self.name(SHARER),
            self.receivers().len()
        );
        let receipts = self.report.record(step.clone(), t, r)?;
        let total = self.pack.as_ref().map_or(0, Pack::total);
        for (i, receipt) in &receipts {
            let name = if *i == CUT {
                format!(
                    "  {} -> {} (killed, resumed)",
                    self.name(SHARER),
                    self.name(*i)
                )
            } else {
                format!("  {} -> {}", self.name(SHARER), self.name(*i))
            };
            self.report.transfer(
                name,
                receipt.done.unwrap_or_default(),
                total,
                receipt.done.is_some(),
            );
        }
        Some(())
    }

    async fn share_inner(&mut self) -> Result<BTreeMap<usize, Receipt>, String> {
        let total = self.pack.as_ref().map_or(0, Pack::total);
        let receivers = self.receivers();
        println!(
            "{} shares the pack with {} members; the link to {} is killed after {}% of it",
            self.name(SHARER),
            receivers.len(),
            self.name(CUT),
            self.settings.kill_at
        );
        // About eight seconds for every copy until the cut: slow enough that a receiver keeps
        // up with it on a loaded machine, so few frames are on their way when the cut comes.
        let budget = (total * receivers.len() as u64 / 8).max(64 * 1024);
        println!(
            "  {} caps her upload at {:.1} MiB/s (a bandwidth budget for all her transfers) until the cut, then lifts it",
            self.name(SHARER),
            mib(budget)
        );
        let sharer = self.member(SHARER)?.node.clone();
        let sharer_peer = self.member(SHARER)?.peer;
        sharer.with_member(|m, _| m.set_budget(Some(budget)));
        let drops_before = udp_receive_drops();
        let bars = MultiProgress::new();
        let style = ProgressStyle::with_template("  {prefix:>5} {bar:40} {bytes}/{total_bytes}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar: BTreeMap<usize, ProgressBar> = receivers
            .iter()
            .map(|&i| {
                let b = bars.add(ProgressBar::new(total).with_style(style.clone()));
                b.set_prefix(self.name(i));
                (i, b)
            })
            .collect();
        // Into the shared folder in one move: the watcher sees one change.
        let staging = self.work.path.join("staging").join(PACK);
        std::fs::rename(&staging, self.share_dir().join(PACK)).map_err(err)?;
        let started = Instant::now();
        let deadline = started + STEP_LIMIT;
        let mut receipts: BTreeMap<usize, Receipt> = BTreeMap::new();
        let (mut armed, mut cut) = (false, false);
        let mut resumed_link = false;
        while receivers.iter().any(|i| {
            !receipts
                .get(i)
                .is_some_and(|r| r.done.is_some() && r.total == total)
        }) {
            // Past the threshold, the cut waits for a file in flight (a partial file with
            // whole chunks written and more to come), looking every few milliseconds.
            if armed && !cut && self.file_in_flight(CUT) {
                cut = true;
                self.kill_link(CUT, SHARER, started).await?;
                sharer.with_member(|m, _| m.set_budget(None));
            }
            let (i, e) = if armed && !cut {
                match self.next_within(Duration::from_millis(5)).await {
                    Some(e) => e,
                    None if Instant::now() < deadline => continue,
                    None => return Err("the transfers: nothing within the step's time".into()),
                }
            } else {
                self.next(deadline, "the transfers").await?
            };
            match e {
                Event::Progress { from, done, .. } if from == sharer_peer => {
                    if let Some(b) = bar.get(&i) {
                        b.set_position(done);
                    }
                    if i == CUT && done * 100 >= total * self.settings.kill_at {
                        armed = true;
                    }
                }
                Event::LinkUp { peer, .. }
                    if i == CUT && cut && !resumed_link && peer == sharer_peer =>
                {
                    resumed_link = true;
                    println!(
                        "  {} linked again (a new handshake and session key) and fetches what it lacks",
                        self.name(CUT)
                    );
                }
                Event::Received {
                    from,
                    files_received,
                    files_present,
                    bytes_received,
                    total: size,
                } if from == sharer_peer => {
                    // Before the pack arrived the folder was empty: fetched at link-up.
                    if size == 0 {
                        continue;
                    }
                    if let Some(b) = bar.get(&i) {
                        b.set_position(size);
                    }
                    receipts.insert(
                        i,
                        Receipt {
                            done: Some(started.elapsed()),
                            files: files_received,
                            present: files_present,
                            bytes: bytes_received,
                            total: size,
                        },
                    );
                }
                _ => {}
            }
        }
        for b in bar.values() {
            b.finish_and_clear();
        }
        if !cut {
            return Err(format!(
                "{}'s transfer ended before {}% of it: nothing was cut",
                self.name(CUT),
                self.settings.kill_at
            ));
        }
        for (i, r) in &receipts {
            let mut line = format!(
                "  {}: {} files, {:.1} MiB received in this attempt",
                self.name(*i),
                r.files,
                mib(r.bytes)
            );
            if *i == CUT {
                // What the first attempt placed is not fetched again (nor the whole chunks of
                // a file it left partial).
                if r.present == 0 || r.bytes >= total {
                    return Err(format!(
                        "{} fetched the whole pack again ({:.1} MiB)",
                        self.name(CUT),
                        mib(r.bytes)
                    ));
                }
                line.push_str(&format!(" ({} files already in place)", r.present));
            }
            line.push_str(&format!(
                ", done {} after the start",
                shown(r.done.unwrap_or_default())
            ));
            println!("{line}");
        }
        if self.settings.udp {
            if let (Some(before), Some(after)) = (drops_before, udp_receive_drops()) {
                println!(
                    "  UDP datagrams this host dropped for full socket receive buffers during the transfer: {}",
                    after.saturating_sub(before)
                );
            }
        }
        Ok(receipts)
    }

    /// Whether `i` has a file of the pack in flight: a partial file with at least one whole
    /// chunk written and at least two still to come, so the cut lands in the middle of a file.
    fn file_in_flight(&self, i: usize) -> bool {
        let chunk = u64::from(syncshell_stream::DEFAULT_CHUNK_SIZE);
        let Some(pack) = &self.pack else {
            return false;
        };
        let sizes: BTreeMap<String, u64> = pack
            .files
            .iter()
            .map(|f| (f.hash.to_hex().to_string(), f.size))
            .collect();
        let dir = self.received_dir(i).join(syncshell_stream::PARTIAL_DIR);
        let Ok(entries) = std::fs::read_dir(dir) else {
            return false;
        };
        entries.flatten().any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let len = e.metadata().map(|m| m.len()).unwrap_or(0);
            let hash = name.split('.').next().unwrap_or_default();
            sizes
                .get(hash)
                .is_some_and(|&size| len >= chunk && size.saturating_sub(len) >= 2 * chunk)
        })
    }

    /// The next event within `wait`, if one comes.
    async fn next_within(&mut self, wait: Duration) -> Option<(usize, Event)> {
        if let Some(e) = self.backlog.pop_front() {
            return Some(e);
        }
        tokio::time::timeout(wait, self.events.recv())
            .await
            .ok()
            .flatten()
    }

    /// Kills the link between `victim` and `other` (closes the connection, as a crash would
    /// look to the other side) and waits until one end saw the link end. Frames already on
    /// their way are still taken, so the file in flight may yet complete. Other events stay
    /// for the caller.
    async fn kill_link(
        &mut self,
        victim: usize,
        other: usize,
        started: Instant,
    ) -> Result<(), String> {
        let other_peer = self.member(other)?.peer;
        let node = self.member(victim)?.node.clone();
        let conn = node
            .with_member(|m, _| {
                m.links()
                    .find(|(p, _)| *p == other_peer)
                    .map(|(_, l)| l.conn)
            })
            .ok_or("no link to cut")?;
        if let Some(c) = node.connection(conn) {
            c.close().await;
        }
        let deadline = Instant::now() + STEP_LIMIT;
        let mut kept = Vec::new();
        let victim_peer = self.member(victim)?.peer;
        // Either end may see it first (the end that closed may learn of it only when a new
        // link replaces the old one).
        let why = loop {
            let (i, e) = self.next(deadline, "the link's end").await?;
            match e {
                Event::LinkDown { peer, why, .. }
                    if (i == victim && peer == other_peer)
                        || (i == other && peer == victim_peer) =>
                {
                    break why;
                }
                e => kept.push((i, e)),
            }
        };
        for e in kept.into_iter().rev() {
            self.backlog.push_front(e);
        }
        let dest = self.received_dir(victim);
        let complete = bytes_under(&dest.join(PACK));
        let partial = bytes_under(&dest.join(syncshell_stream::PARTIAL_DIR));
        println!(
            "  {}'s link died ({why}) after {} with {:.1} MiB on disk, {:.1} MiB of it in partial files",
            self.name(victim),
            shown(started.elapsed()),
            mib(complete + partial),
            mib(partial),
        );
        Ok(())
    }

    async fn check_hashes(&mut self) -> Result<(), String> {
        let pack = std::sync::Arc::new(self.pack.clone().ok_or("no pack")?);
        let mut checks = Vec::new();
        for r in self.receivers() {
            let (pack, dest) = (pack.clone(), self.received_dir(r).join(PACK));
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

    /// The owner revokes the last member: every member's link to it ends (`revoked`), and
    /// the relay refuses it, so it stops.
    async fn revoke(&mut self) -> Result<(), String> {
        let gone = self.revoked();
        let gone_peer = self.member(gone)?.peer;
        let cut_off = self.member(gone)?.node.clone();
        self.member(OWNER)?
            .node
            .with_member(|m, t| m.revoke(gone_peer, t))
            .map_err(err)?;
        let others: BTreeSet<usize> = (0..self.names.len()).filter(|&i| i != gone).collect();
        let mut ended = BTreeSet::new();
        let deadline = Instant::now() + STEP_LIMIT;
        while ended != others {
            let (i, e) = self.next(deadline, "the revocation").await?;
            if let Event::LinkDown { peer, why, .. } = e {
                if peer == gone_peer && why == LinkEnd::Revoked {
                    ended.insert(i);
                }
            }
        }
        let hidden = self
            .members
            .iter()
            .filter(|(i, _)| **i != gone)
            .all(|(_, m)| {
                m.node
                    .with_member(|m, t| m.phonebook().entries(t).all(|e| *e.peer() != gone_peer))
            });
        if !hidden {
            return Err(format!("a phonebook still lists {}", self.name(gone)));
        }
        println!(
            "  every member ended its link to {} (revoked) and hides it from its phonebook",
            self.name(gone)
        );
        let (_, why) = tokio::time::timeout(STEP_LIMIT, cut_off.relay_lost())
            .await
            .map_err(|_| format!("the relay still serves {}", self.name(gone)))?;
        println!(
            "  the relay refuses {}: {}",
            self.name(gone),
            why.unwrap_or_else(|| "refused".to_owned())
        );
        Ok(())
    }

    /// The sharer adds a file; the remaining receivers fetch only it, the revoked member
    /// nothing.
    async fn update(&mut self) -> Result<(), String> {
        let gone = self.revoked();
        let mut pack = self.pack.clone().ok_or("no pack")?;
        // Written beside, then moved in: the watcher sees a whole file.
        pack.root = self.work.path.join("staging").join(PACK);
        let file = pack
            .add_file("patches/hotfix-2.pak", 1024 * 1024, self.settings.seed + 1)
            .map_err(err)?;
        let into = self.share_dir().join(PACK).join(&file.path);
        if let Some(parent) = into.parent() {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        std::fs::rename(pack.root.join(&file.path), &into).map_err(err)?;
        let sharer_peer = self.member(SHARER)?.peer;
        let waiting: BTreeSet<usize> = self
            .receivers()
            .into_iter()
            .filter(|&i| i != gone)
            .collect();
        let mut got = BTreeMap::new();
        let deadline = Instant::now() + STEP_LIMIT;
        while got.len() < waiting.len() {
            let (i, e) = self.next(deadline, "the update").await?;
            if let Event::Received {
                from,
                files_received,
                files_present,
                bytes_received,
                ..
            } = e
            {
                if from == sharer_peer && waiting.contains(&i) {
                    got.insert(i, (files_received, files_present, bytes_received));
                }
            }
        }
        for (i, (files, _, _)) in &got {
            if *files != 1 {
                return Err(format!(
                    "{} received {files} files, not the one",
                    self.name(*i)
                ));
            }
            let copy = self.received_dir(*i).join(PACK).join(&file.path);
            if std::fs::read(&copy).map(|d| blake3::hash(&d)).ok() != Some(file.hash) {
                return Err(format!("{}'s copy of {} differs", self.name(*i), file.path));
            }
        }
        if self.received_dir(gone).join(PACK).join(&file.path).exists() {
            return Err(format!("{} got the update", self.name(gone)));
        }
        let present = got.values().map(|g| g.1).max().unwrap_or(0);
        let names: Vec<&str> = got.keys().map(|i| self.name(*i)).collect();
        println!(
            "  {} received only {} ({:.1} MiB, {present} files already present); {} has no link and did not get it",
            names.join(", "),
            file.path,
            mib(file.size),
            self.name(gone)
        );
        self.pack = Some(pack);
        Ok(())
    }

    async fn stop_all(&mut self) {
        for m in self.members.values() {
            m.node.shutdown().await;
        }
    }
}

/// The `Launch` of a backend whose transport the caller makes from each member's id.
pub(crate) fn launch_with<T, F>(make: F) -> Launch<T>
where
    T: Transport + 'static,
    F: Fn(&PeerId) -> T + Send + Sync + 'static,
{
    let make = std::sync::Arc::new(make);
    Box::new(move |opening: Opening| {
        let transport = make(&opening.peer_id());
        Box::pin(async move {
            opening
                .start_on(|_| {}, move |_| async move { transport })
                .await
        })
    })
}

/// The `Launch` over WebRTC on 127.0.0.1, signalling through the relay.
pub(crate) fn launch_webrtc() -> Launch<syncshell_member::WebRtcNet> {
    Box::new(|opening: Opening| Box::pin(async move { opening.start(|_| {}).await }))
}

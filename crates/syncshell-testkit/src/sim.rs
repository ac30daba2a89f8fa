//! A simulated network of [`Member`]s on a simulated clock, in the style of quinn's test
//! `Pair`: every output of every member is carried out here (connections are pairs of ids,
//! the relay is a function call), so a test runs many members, kills, partitions and
//! heals in milliseconds and the same way every time.
//!
//! Members are named by their index, in the order they were added; an index out of range is
//! the test's mistake and panics.
#![allow(clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use syncshell_identity::{Identity, PeerId, Timestamp};
use syncshell_member::{
    Config, ConnId, Event, Member, Output, Shell, Transfer, TransferFrame, TransferRole,
};

use crate::copy;

/// Most deliveries [`Sim::run`] makes before it decides the members never settle.
const MAX_STEPS: usize = 1_000_000;

/// One member of a simulation.
#[derive(Debug)]
pub struct SimMember {
    /// The member.
    pub member: Member,
    /// Whether its process runs (a killed member neither sends nor receives).
    pub up: bool,
    /// Everything it told its embedder, in order.
    pub events: Vec<Event>,
    /// The transfers it was asked to run and has not reported done.
    pub transfers: Vec<Transfer>,
    /// Frames of running transfers that reached it.
    pub frames: Vec<(ConnId, TransferFrame)>,
    /// How many times it asked for its phonebook, ledger or settings to be stored.
    pub saves: usize,
    /// How many transfers it stopped (paused).
    pub stopped: usize,
    config: Config,
    seed: u64,
}

#[derive(Debug)]
enum Delivery {
    Message(ConnId, Vec<u8>),
    /// The other end closed the connection: the streams on it fail at once.
    Closed(ConnId),
    /// The path broke: the member learns it, its driver's streams fail later (the test says
    /// when, with [`Sim::transfer_done`]).
    Broken(ConnId),
    Relay(PeerId, Vec<u8>),
    Unreachable(PeerId),
}

/// Members, the connections between them, a relay every running member is connected to,
/// and the clock.
#[derive(Debug)]
pub struct Sim {
    now: Timestamp,
    members: Vec<SimMember>,
    /// Each end of each connection, to the other end.
    ends: HashMap<(usize, ConnId), (usize, ConnId)>,
    queue: VecDeque<(usize, Delivery)>,
    /// Pairs that cannot reach each other directly (the relay still reaches both).
    cut: BTreeSet<(usize, usize)>,
    rng: ChaCha20Rng,
    /// Each member's index by its peer id.
    index: BTreeMap<PeerId, usize>,
    /// Members that may have outputs to carry out, the next last (repeats are harmless).
    busy: Vec<usize>,
    /// Members whose next timeout may have moved since [`Sim::timeouts`] last read it, and
    /// for each member whether it is listed there.
    changed: Vec<usize>,
    listed: Vec<bool>,
    /// Each member's next timeout, as last read.
    timeouts: Vec<Option<Timestamp>>,
    /// How many messages went over connections, and their bytes.
    pub sent: (usize, usize),
}

fn pair(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

impl Sim {
    /// An empty simulation whose clock starts at `start`.
    pub fn new(start: Timestamp) -> Sim {
        Sim {
            now: start,
            members: Vec::new(),
            ends: HashMap::new(),
            queue: VecDeque::new(),
            cut: BTreeSet::new(),
            rng: ChaCha20Rng::seed_from_u64(7),
            index: BTreeMap::new(),
            busy: Vec::new(),
            changed: Vec::new(),
            listed: Vec::new(),
            timeouts: Vec::new(),
            sent: (0, 0),
        }
    }

    /// The simulated time.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Adds a member of `shell` with `identity` and `config`, connected to the relay; returns
    /// its index.
    ///
    /// # Panics
    ///
    /// If the member cannot be made (its chain does not admit it).
    #[allow(clippy::expect_used)]
    pub fn add(&mut self, identity: Identity, shell: Shell, config: Config) -> usize {
        let seed = self.rng.next_u64();
        let member = Member::new(
            identity,
            shell,
            config.clone(),
            self.now,
            ChaCha20Rng::seed_from_u64(seed),
        )
        .expect("a member of the shell");
        self.members.push(SimMember {
            member,
            up: true,
            events: Vec::new(),
            transfers: Vec::new(),
            frames: Vec::new(),
            saves: 0,
            stopped: 0,
            config,
            seed,
        });
        let i = self.members.len() - 1;
        self.index.insert(self.members[i].member.peer_id(), i);
        self.timeouts.push(None);
        self.listed.push(false);
        let now = self.now;
        self.members[i].member.handle_relay_status(now, true);
        self.tell_presence();
        self.run();
        i
    }

    /// Member `i`.
    pub fn member(&self, i: usize) -> &SimMember {
        &self.members[i]
    }

    /// Member `i`, to give it commands; run [`Sim::run`] after.
    pub fn member_mut(&mut self, i: usize) -> &mut SimMember {
        &mut self.members[i]
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there is no member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Whether `a` has a link to `b`.
    pub fn linked(&self, a: usize, b: usize) -> bool {
        let peer = self.members[b].member.peer_id();
        self.members[a].member.links().any(|(p, _)| p == peer)
    }

    /// Whether every running member is linked to every other running member.
    pub fn fully_linked(&self) -> bool {
        let up: Vec<usize> = (0..self.members.len())
            .filter(|i| self.members[*i].up)
            .collect();
        up.iter()
            .all(|a| up.iter().all(|b| a == b || self.linked(*a, *b)))
    }

    /// Kills member `i`'s process: its connections go silent (the other ends are not told),
    /// and the relay stops listing it.
    pub fn kill(&mut self, i: usize) {
        self.members[i].up = false;
        self.ends.retain(|(a, _), (b, _)| *a != i && *b != i);
        self.queue.retain(|(to, _)| *to != i);
        self.tell_presence();
        self.run();
    }

    /// Starts member `i` again from what it stored (its phonebook, ledger and chain), as a
    /// new run. Connections of its previous run go silent, as in [`Sim::kill`].
    ///
    /// # Panics
    ///
    /// If the stored state no longer makes a member (it was revoked meanwhile).
    #[allow(clippy::expect_used)]
    pub fn restart(&mut self, i: usize) {
        let old = &self.members[i];
        let shell = Shell {
            genesis: old.member.genesis().clone(),
            chain: old.member.chain().clone(),
            phonebook: old.member.phonebook().clone(),
            ledger: old.member.ledger().clone(),
            settings: old.member.settings().clone(),
        };
        let identity = copy(old.member.identity());
        let seed = old.seed.wrapping_add(1);
        let member = Member::new(
            identity,
            shell,
            old.config.clone(),
            self.now,
            ChaCha20Rng::seed_from_u64(seed),
        )
        .expect("the member starts again");
        self.ends.retain(|(a, _), (b, _)| *a != i && *b != i);
        self.queue.retain(|(to, _)| *to != i);
        let m = &mut self.members[i];
        m.member = member;
        m.seed = seed;
        m.up = true;
        m.transfers.clear();
        let now = self.now;
        self.members[i].member.handle_relay_status(now, true);
        self.tell_presence();
        self.run();
    }

    /// Cuts the direct path between `a` and `b`: their connections fail (both ends learn it)
    /// and dials between them fail until [`Sim::heal`].
    pub fn partition(&mut self, a: usize, b: usize) {
        self.cut.insert(pair(a, b));
        let broken: Vec<((usize, ConnId), (usize, ConnId))> = self
            .ends
            .iter()
            .filter(|((x, _), (y, _))| pair(*x, *y) == pair(a, b))
            .map(|(x, y)| (*x, *y))
            .collect();
        for (x, _) in broken {
            self.ends.remove(&x);
            self.queue.push_back((x.0, Delivery::Broken(x.1)));
        }
        self.run();
    }

    /// Restores the direct path between `a` and `b`.
    pub fn heal(&mut self, a: usize, b: usize) {
        self.cut.remove(&pair(a, b));
    }

    /// Reports member `i`'s transfer on `conn` in role `role` done.
    pub fn transfer_done(&mut self, i: usize, conn: ConnId, role: TransferRole) {
        let now = self.now;
        let m = &mut self.members[i];
        if let Some(pos) = m
            .transfers
            .iter()
            .position(|t| t.conn == conn && t.role == role)
        {
            let t = m.transfers.remove(pos);
            m.member.handle_transfer_done(now, t.peer, conn, role);
        }
        self.run();
    }

    /// Moves the clock forward by `d`, running every member's timers as they fall due.
    pub fn advance(&mut self, d: Duration) {
        let until = self.now.saturating_add(d);
        // Any member may have been given a command since the last step.
        for i in 0..self.members.len() {
            self.mark_changed(i);
        }
        loop {
            for i in std::mem::take(&mut self.changed) {
                self.listed[i] = false;
                let m = &mut self.members[i];
                self.timeouts[i] = m.up.then(|| m.member.poll_timeout()).flatten();
            }
            match self.timeouts.iter().flatten().min().copied() {
                Some(at) if at <= until => {
                    self.now = self.now.max(at);
                    let now = self.now;
                    for (i, t) in self.timeouts.iter().enumerate() {
                        if t.is_some_and(|t| t <= now) {
                            self.members[i].member.handle_timeout(now);
                            self.busy.push(i);
                        }
                    }
                    self.settle();
                }
                _ => break,
            }
        }
        self.now = until;
    }

    /// Carries out every member's outputs and every delivery they cause, until nothing moves.
    ///
    /// # Panics
    ///
    /// If the members keep sending for a million deliveries (a message loop).
    pub fn run(&mut self) {
        // Any member may have been given a command (drained in index order).
        self.busy.extend((0..self.members.len()).rev());
        self.settle();
    }

    /// [`Sim::run`] for the members marked busy and those their outputs reach.
    #[allow(clippy::panic)]
    fn settle(&mut self) {
        let mut delivered = 0;
        loop {
            while let Some(i) = self.busy.pop() {
                self.drain(i);
            }
            let Some((to, d)) = self.queue.pop_front() else {
                return;
            };
            delivered += 1;
            if delivered > MAX_STEPS {
                panic!("the members did not settle within {MAX_STEPS} deliveries");
            }
            self.deliver(to, d);
            self.drain(to);
        }
    }

    /// Carries out member `i`'s outputs.
    fn drain(&mut self, i: usize) {
        while let Some(o) = self.members[i].member.poll_output() {
            self.carry_out(i, o);
        }
        self.mark_changed(i);
    }

    fn mark_changed(&mut self, i: usize) {
        if !self.listed[i] {
            self.listed[i] = true;
            self.changed.push(i);
        }
    }

    fn tell_presence(&mut self) {
        let listed: BTreeSet<PeerId> = self
            .members
            .iter()
            .filter(|m| m.up)
            .map(|m| m.member.peer_id())
            .collect();
        let now = self.now;
        for m in self.members.iter_mut().filter(|m| m.up) {
            m.member.handle_presence(now, &listed);
        }
    }

    fn index_of(&self, peer: &PeerId) -> Option<usize> {
        self.index.get(peer).copied()
    }

    fn carry_out(&mut self, i: usize, output: Output) {
        let now = self.now;
        if !self.members[i].up {
            return;
        }
        match output {
            Output::Transmit { conn, message } => {
                if let Some((j, other)) = self.ends.get(&(i, conn)).copied() {
                    self.sent.0 += 1;
                    self.sent.1 += message.len();
                    self.queue.push_back((j, Delivery::Message(other, message)));
                }
            }
            // A member closing a working connection: the streams on it fail at both ends (a
            // broken one's are left to the test, as a driver learns of them later).
            Output::Close { conn } => {
                if let Some(other) = self.ends.remove(&(i, conn)) {
                    self.end_transfers(i, conn);
                    self.ends.remove(&other);
                    self.queue.push_back((other.0, Delivery::Closed(other.1)));
                }
            }
            Output::Dial { peer } => {
                let target = self
                    .index_of(&peer)
                    .filter(|j| self.members[*j].up && !self.cut.contains(&pair(i, *j)));
                match target {
                    Some(j) => {
                        let mut binding = [0u8; 32];
                        self.rng.fill_bytes(&mut binding);
                        let a = self.members[i]
                            .member
                            .handle_connected(now, Some(peer), &binding);
                        let b = self.members[j].member.handle_connected(now, None, &binding);
                        self.busy.push(j);
                        self.ends.insert((i, a), (j, b));
                        self.ends.insert((j, b), (i, a));
                    }
                    None => self.members[i]
                        .member
                        .handle_dial_failed(now, peer, "unreachable"),
                }
            }
            Output::Relay { to, blob } => {
                let me = self.members[i].member.peer_id();
                match self.index_of(&to).filter(|j| self.members[*j].up) {
                    Some(j) => self.queue.push_back((j, Delivery::Relay(me, blob))),
                    None => self.queue.push_back((i, Delivery::Unreachable(to))),
                }
            }
            Output::StartTransfer(t) => self.members[i].transfers.push(t),
            // Stopped at once; the peer's end is stopped by the test (its driver would get
            // the stream's abort).
            Output::StopTransfer(t) => {
                let m = &mut self.members[i];
                m.transfers
                    .retain(|x| !(x.conn == t.conn && x.id == t.id && x.role == t.role));
                m.stopped += 1;
                m.member.handle_transfer_done(now, t.peer, t.conn, t.role);
            }
            Output::Event(e) => self.members[i].events.push(e),
            Output::Save(_) => self.members[i].saves += 1,
            // Dials complete at once here; the relay's copy of tombstones is not modelled.
            _ => {}
        }
    }

    /// Member `i`'s transfers on `conn` end, as its driver's streams fail with the
    /// connection.
    fn end_transfers(&mut self, i: usize, conn: ConnId) {
        let now = self.now;
        let m = &mut self.members[i];
        let (ended, kept) = std::mem::take(&mut m.transfers)
            .into_iter()
            .partition(|t| t.conn == conn);
        m.transfers = kept;
        for t in ended {
            m.member.handle_transfer_done(now, t.peer, t.conn, t.role);
        }
    }

    fn deliver(&mut self, to: usize, delivery: Delivery) {
        let now = self.now;
        let m = &mut self.members[to];
        if !m.up {
            return;
        }
        match delivery {
            Delivery::Message(conn, bytes) => {
                if let Some(frame) = m.member.handle_message(now, conn, &bytes) {
                    m.frames.push((conn, frame));
                }
            }
            Delivery::Closed(conn) => {
                m.member.handle_closed(now, conn);
                self.end_transfers(to, conn);
            }
            Delivery::Broken(conn) => m.member.handle_closed(now, conn),
            Delivery::Relay(from, blob) => m.member.handle_relay(now, from, &blob),
            Delivery::Unreachable(peer) => m.member.handle_unreachable(now, peer),
        }
    }
}

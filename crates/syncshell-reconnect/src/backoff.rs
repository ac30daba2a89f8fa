//! When to try a peer again: exponential backoff with full jitter, per peer.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use rand_core::RngCore;
use syncshell_identity::{PeerId, Timestamp};

/// The reconnect policy. `Default` is 30 s doubling to 1 h, at most 10 attempts a minute, and
/// a new invite needed after 6 failures in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// The first retry waits up to this long.
    pub base: Duration,
    /// No retry waits longer than this.
    pub max: Duration,
    /// Attempts allowed in any 60-second window, over all peers.
    pub max_attempts_per_minute: u32,
    /// After this many failures in a row a peer is reported as needing a new invite.
    pub invite_after_failures: u32,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            base: Duration::from_secs(30),
            max: Duration::from_secs(3600),
            max_attempts_per_minute: 10,
            invite_after_failures: 6,
        }
    }
}

impl BackoffPolicy {
    /// The longest wait after `failures` failures in a row: `min(max, base * 2^(failures-1))`.
    pub fn ceiling(&self, failures: u32) -> Duration {
        let mut d = self.base;
        for _ in 1..failures {
            if d >= self.max {
                break;
            }
            d = d.checked_mul(2).unwrap_or(self.max);
        }
        d.min(self.max)
    }

    /// A wait drawn uniformly from `[0, ceiling(failures)]` ("full jitter"), so peers that
    /// failed together do not retry together.
    pub fn delay<R: RngCore + ?Sized>(&self, failures: u32, rng: &mut R) -> Duration {
        let ceiling = u64::try_from(self.ceiling(failures).as_millis()).unwrap_or(u64::MAX);
        match ceiling.checked_add(1) {
            Some(span) => Duration::from_millis(rng.next_u64() % span),
            None => Duration::from_millis(rng.next_u64()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PeerSchedule {
    failures: u32,
    next_at: Timestamp,
}

/// What a failure means for the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// When to try again.
    pub at: Timestamp,
    /// Failures in a row so far.
    pub failures: u32,
    /// `true` once the peer has failed [`BackoffPolicy::invite_after_failures`] times in a
    /// row: its address or credentials are probably stale and a new invite is needed.
    pub needs_invite: bool,
}

/// A per-peer reconnect schedule: who to try next and when.
///
/// Time and randomness are inputs. A node asks [`Reconnector::poll_attempt`] whenever it
/// wakes up, tries the peer it returns, reports [`Reconnector::on_success`] or
/// [`Reconnector::on_failure`], and sleeps until [`Reconnector::poll_timeout`].
#[derive(Debug, Clone, Default)]
pub struct Reconnector {
    policy: BackoffPolicy,
    peers: BTreeMap<PeerId, PeerSchedule>,
    attempts: VecDeque<Timestamp>,
}

const MINUTE: Duration = Duration::from_secs(60);

impl Reconnector {
    /// An empty schedule under `policy`.
    pub fn new(policy: BackoffPolicy) -> Self {
        Reconnector {
            policy,
            peers: BTreeMap::new(),
            attempts: VecDeque::new(),
        }
    }

    /// Adds a peer to reach, due at once. Adding a known peer changes nothing.
    pub fn add_peer(&mut self, peer: PeerId, now: Timestamp) {
        self.peers.entry(peer).or_insert(PeerSchedule {
            failures: 0,
            next_at: now,
        });
    }

    /// Stops trying `peer` (it connected by other means, or was revoked).
    pub fn remove_peer(&mut self, peer: &PeerId) {
        self.peers.remove(peer);
    }

    fn prune_attempts(&mut self, now: Timestamp) {
        while self
            .attempts
            .front()
            .is_some_and(|t| t.saturating_add(MINUTE) <= now)
        {
            self.attempts.pop_front();
        }
    }

    /// The peer to try now, if one is due and the attempts-per-minute cap allows; the attempt
    /// is counted. Among due peers the one due earliest goes first (ties by peer id).
    pub fn poll_attempt(&mut self, now: Timestamp) -> Option<PeerId> {
        self.prune_attempts(now);
        if self.attempts.len() >= self.policy.max_attempts_per_minute as usize {
            return None;
        }
        let (peer, _) = self
            .peers
            .iter()
            .filter(|(_, s)| s.next_at <= now)
            .min_by_key(|(p, s)| (s.next_at, **p))
            .map(|(p, s)| (*p, *s))?;
        self.attempts.push_back(now);
        // Not due again until it reports back (or its backoff passes).
        if let Some(s) = self.peers.get_mut(&peer) {
            s.next_at = now.saturating_add(self.policy.ceiling(s.failures.saturating_add(1)));
        }
        Some(peer)
    }

    /// When the next attempt may be made: the earliest due peer, or the end of the
    /// rate-limit window if that is later. `None` with no peers, or when the policy allows no
    /// attempts at all.
    #[must_use]
    pub fn poll_timeout(&mut self, now: Timestamp) -> Option<Timestamp> {
        if self.policy.max_attempts_per_minute == 0 {
            return None;
        }
        self.prune_attempts(now);
        let due = self.peers.values().map(|s| s.next_at).min()?;
        let free = if self.attempts.len() >= self.policy.max_attempts_per_minute as usize {
            self.attempts
                .front()
                .map_or(now, |t| t.saturating_add(MINUTE))
        } else {
            now
        };
        Some(due.max(free))
    }

    /// The attempt on `peer` succeeded: its backoff starts over.
    pub fn on_success(&mut self, peer: &PeerId, now: Timestamp) {
        if let Some(s) = self.peers.get_mut(peer) {
            *s = PeerSchedule {
                failures: 0,
                next_at: now,
            };
        }
    }

    /// The attempt on `peer` failed: schedules the next one with full jitter.
    pub fn on_failure<R: RngCore + ?Sized>(
        &mut self,
        peer: &PeerId,
        now: Timestamp,
        rng: &mut R,
    ) -> Option<Retry> {
        let policy = self.policy;
        let s = self.peers.get_mut(peer)?;
        s.failures = s.failures.saturating_add(1);
        s.next_at = now.saturating_add(policy.delay(s.failures, rng));
        Some(Retry {
            at: s.next_at,
            failures: s.failures,
            needs_invite: s.failures >= policy.invite_after_failures,
        })
    }

    /// Peers that failed often enough to need a new invite.
    pub fn needing_invite(&self) -> impl Iterator<Item = &PeerId> + '_ {
        self.peers
            .iter()
            .filter(|(_, s)| s.failures >= self.policy.invite_after_failures)
            .map(|(p, _)| p)
    }

    /// Failures in a row of `peer`.
    pub fn failures(&self, peer: &PeerId) -> Option<u32> {
        self.peers.get(peer).map(|s| s.failures)
    }
}

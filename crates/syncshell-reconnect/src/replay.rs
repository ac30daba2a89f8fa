//! Single-use nonces within the accepted window.

use std::collections::{HashMap, VecDeque};

use syncshell_identity::Timestamp;

use crate::error::{Error, Result};
use crate::handshake::MAX_MESSAGE_AGE;

/// Most nonces remembered at once; beyond it new handshakes are refused ([`Error::Busy`])
/// rather than forgetting a nonce that could still be replayed.
pub const MAX_REMEMBERED_NONCES: usize = 65_536;

/// Remembers the nonces of handshake messages a node accepted, for as long as a message
/// carrying them could still be accepted, so each is accepted once. Share one guard between
/// all the handshakes of a node.
#[derive(Debug, Default)]
pub struct ReplayGuard {
    seen: HashMap<[u8; 32], Timestamp>,
    order: VecDeque<([u8; 32], Timestamp)>,
}

impl ReplayGuard {
    /// An empty guard.
    pub fn new() -> Self {
        ReplayGuard::default()
    }

    /// Records `nonce` of a message sent at `sent_at`; [`Error::Replay`] if it was seen.
    pub(crate) fn check(
        &mut self,
        nonce: [u8; 32],
        sent_at: Timestamp,
        now: Timestamp,
    ) -> Result<()> {
        self.forget_before(now);
        if self.seen.contains_key(&nonce) {
            return Err(Error::Replay);
        }
        if self.seen.len() >= MAX_REMEMBERED_NONCES {
            return Err(Error::Busy);
        }
        // A message is accepted while |now - sent_at| <= MAX_MESSAGE_AGE, so its nonce must
        // be kept until sent_at + MAX_MESSAGE_AGE by any clock that accepted it.
        let until = sent_at.max(now).saturating_add(MAX_MESSAGE_AGE);
        self.seen.insert(nonce, until);
        self.order.push_back((nonce, until));
        Ok(())
    }

    fn forget_before(&mut self, now: Timestamp) {
        // Entries are not strictly ordered by `until` (sent_at varies), so pop only from the
        // front while expired; stragglers go at their turn.
        while let Some((nonce, until)) = self.order.front().copied() {
            // Kept through `until` itself: a message sent at `until - MAX_MESSAGE_AGE` is
            // still fresh at exactly `until`.
            if until >= now {
                break;
            }
            self.order.pop_front();
            if self.seen.get(&nonce) == Some(&until) {
                self.seen.remove(&nonce);
            }
        }
    }

    /// Number of nonces remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// `true` when no nonce is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

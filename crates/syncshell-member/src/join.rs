//! Joining a shell with an invite, sans IO: the joiner reaches the inviter through the relay
//! (as the relay's guest) with its join request until the inviter answers with a token chain
//! or refuses, the invite expires, or the wait ends.

use std::time::Duration;

use syncshell_identity::{Identity, InviteCode, JoinRequest, PeerId, Timestamp, TokenChain};
use syncshell_revocation::RevocationSet;

use crate::error::Error;
use crate::link::RelayMessage;

/// How often a joiner asks its inviter again.
pub const JOIN_RETRY: Duration = Duration::from_secs(2);

/// One join in progress. Send [`Joiner::poll_transmit`]'s blobs to [`Joiner::inviter`]
/// through the relay, feed every blob back with [`Joiner::handle_relay`] and the relay's
/// "not connected" notices with [`Joiner::handle_unreachable`], and call
/// [`Joiner::handle_timeout`] at [`Joiner::poll_timeout`].
#[derive(Debug)]
pub struct Joiner {
    invite: InviteCode,
    request: JoinRequest,
    joiner: PeerId,
    blob: Vec<u8>,
    next_send: Timestamp,
    deadline: Timestamp,
    timeout: Duration,
    /// Whether the relay said the inviter is not connected.
    waiting: bool,
}

impl Joiner {
    /// Starts a join of `identity` with `invite` at `now`, giving up after `timeout`.
    /// Fails when the invite has expired (ask for a new one) or is not for this shell's
    /// rules.
    pub fn new(
        identity: &Identity,
        invite: InviteCode,
        now: Timestamp,
        timeout: Duration,
    ) -> Result<Joiner, Error> {
        let request = invite.join_request(identity, now).map_err(|e| match e {
            syncshell_identity::Error::Expired { .. } => Error::InviteExpired {
                at: invite.invite().expires_at(),
            },
            e => Error::Identity(e),
        })?;
        let blob = RelayMessage::JoinRequest(request.encode()).encode();
        Ok(Joiner {
            invite,
            request,
            joiner: identity.peer_id(),
            blob,
            next_send: now,
            deadline: now.saturating_add(timeout),
            timeout,
            waiting: false,
        })
    }

    /// The join request (the relay admits its bearer as a guest).
    pub fn request(&self) -> &JoinRequest {
        &self.request
    }

    /// The member that issued the invite and answers the request.
    pub fn inviter(&self) -> PeerId {
        *self.invite.invite().inviter()
    }

    /// The invite.
    pub fn invite(&self) -> &InviteCode {
        &self.invite
    }

    /// The join request to send to the inviter when one is due (at once, then every
    /// [`JOIN_RETRY`]).
    pub fn poll_transmit(&mut self, now: Timestamp) -> Option<Vec<u8>> {
        if now < self.next_send {
            return None;
        }
        self.next_send = now.saturating_add(JOIN_RETRY);
        Some(self.blob.clone())
    }

    /// The relay says `peer` is not connected. Returns `true` the first time it says so of
    /// the inviter: the joiner is now waiting for the inviter to come online.
    pub fn handle_unreachable(&mut self, peer: PeerId) -> bool {
        if peer != self.inviter() || self.waiting {
            return false;
        }
        self.waiting = true;
        true
    }

    /// A blob from `from`: the inviter's answer gives the token chain (checked against the
    /// shell: it must admit this joiner), or the refusal. Other blobs give `Ok(None)`.
    pub fn handle_relay(
        &mut self,
        from: PeerId,
        blob: &[u8],
        now: Timestamp,
    ) -> Result<Option<TokenChain>, Error> {
        if from != self.inviter() {
            return Ok(None);
        }
        match RelayMessage::decode(blob) {
            Ok(Some(RelayMessage::Chain(body))) => {
                let chain = TokenChain::decode(&body)?;
                // A joiner knows no tombstones yet; its first sync brings them.
                RevocationSet::new(self.invite.invite().genesis().clone()).admit(
                    &self.joiner,
                    &chain,
                    now,
                )?;
                Ok(Some(chain))
            }
            Ok(Some(RelayMessage::Denied(why))) => Err(Error::JoinDenied(why)),
            _ => Ok(None),
        }
    }

    /// Fails once the wait is over or the invite has expired.
    pub fn handle_timeout(&mut self, now: Timestamp) -> Result<(), Error> {
        let expires = self.invite.invite().expires_at();
        if expires <= now {
            return Err(Error::InviteExpired { at: expires });
        }
        if self.deadline <= now {
            return Err(Error::JoinTimedOut {
                inviter: Box::new(self.inviter()),
                online: !self.waiting,
                timeout: self.timeout,
            });
        }
        Ok(())
    }

    /// When the next request or [`Joiner::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Timestamp {
        self.next_send
            .min(self.deadline)
            .min(self.invite.invite().expires_at())
    }
}

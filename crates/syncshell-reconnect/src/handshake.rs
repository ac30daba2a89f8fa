//! The mutual handshake: hello, challenge, proof. Sans-IO.

use std::fmt;
use std::time::Duration;

use hkdf::Hkdf;
use prost::Message;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use syncshell_identity::{Admission, Context, Identity, PeerId, Role, Timestamp, TokenChain};
use syncshell_revocation::RevocationSet;
use zeroize::Zeroizing;

use crate::agree::Ephemeral;
use crate::error::{Error, Result};
use crate::proto;
use crate::replay::ReplayGuard;

/// Context of the responder's signature over the transcript.
pub const RESPONDER_CONTEXT: Context = Context::new("syncshell/v1/handshake-responder");
/// Context of the initiator's signature over the transcript.
pub const INITIATOR_CONTEXT: Context = Context::new("syncshell/v1/handshake-initiator");
/// How long a handshake may take from its start: 10 seconds.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How far a message's `sent_at` may be from the receiver's `now`: 5 minutes.
pub const MAX_MESSAGE_AGE: Duration = Duration::from_secs(5 * 60);
/// Longest channel binding accepted.
pub const MAX_CHANNEL_BINDING_LEN: usize = 1024;
/// Largest handshake message accepted.
pub const MAX_MESSAGE_LEN: usize = 16 * 1024;

const TRANSCRIPT_LABEL: &[u8] = b"syncshell/v1/handshake-transcript";
const SESSION_KEY_INFO: &[u8] = b"syncshell/v1/session-key";
const SESSION_ID_INFO: &[u8] = b"syncshell/v1/session-id";

/// What this side brings to a handshake: its key, its token chain, and the shell's revocation
/// set (which also holds the genesis) to check the other side against.
#[derive(Debug, Clone, Copy)]
pub struct Local<'a> {
    /// This member's key.
    pub identity: &'a Identity,
    /// This member's token chain (empty for the owner).
    pub chain: &'a TokenChain,
    /// The shell's revocation set.
    pub revocations: &'a RevocationSet,
}

/// An authenticated session: who the peer is, what it may do, and the keys both sides now share.
pub struct Session {
    peer: PeerId,
    admission: Admission,
    key: Zeroizing<[u8; 32]>,
    id: [u8; 16],
    initiator: bool,
}

impl Session {
    /// The authenticated peer.
    pub fn peer(&self) -> &PeerId {
        &self.peer
    }
    /// The peer's role in the shell.
    pub fn role(&self) -> Role {
        self.admission.role()
    }
    /// The peer's admission as checked during the handshake.
    pub fn admission(&self) -> &Admission {
        &self.admission
    }
    /// The 32-byte session key both sides derived (for syncshell-stream).
    pub fn key(&self) -> &[u8; 32] {
        &self.key
    }
    /// A 16-byte id of the session, the same on both sides; not secret.
    pub fn id(&self) -> &[u8; 16] {
        &self.id
    }
    /// `true` on the side that sent the hello.
    pub fn is_initiator(&self) -> bool {
        self.initiator
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("peer", &self.peer)
            .field("role", &self.admission.role())
            .field("id", &self.id)
            .field("initiator", &self.initiator)
            .finish_non_exhaustive()
    }
}

enum State {
    /// Initiator, hello sent.
    AwaitChallenge {
        ephemeral: Box<Ephemeral>,
        hello: Vec<u8>,
    },
    /// Responder, nothing received yet.
    AwaitHello,
    /// Responder, challenge sent.
    AwaitProof {
        peer: Box<PeerId>,
        admission: Box<Admission>,
        transcript: [u8; 32],
        shared: Zeroizing<[u8; 32]>,
    },
    Done(Box<Session>),
    Failed(Error),
    /// Only while moving between states.
    Poisoned,
}

/// One side of a handshake.
///
/// Drive it like quinn-proto: after [`Handshake::initiate`] / [`Handshake::respond`] and after
/// every [`Handshake::handle`] or [`Handshake::handle_timeout`], send everything
/// [`Handshake::poll_transmit`] yields and wake up at [`Handshake::poll_timeout`]. It ends in
/// [`Handshake::session`] (authenticated) or [`Handshake::error`]; there is no third way
/// out, and no key leaves it before both signatures have verified.
pub struct Handshake {
    state: State,
    channel_binding: Vec<u8>,
    deadline: Timestamp,
    nonce: [u8; 32],
    outbox: Vec<Vec<u8>>,
}

impl fmt::Debug for Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::AwaitChallenge { .. } => "awaiting challenge",
            State::AwaitHello => "awaiting hello",
            State::AwaitProof { .. } => "awaiting proof",
            State::Done(_) => "done",
            State::Failed(_) => "failed",
            State::Poisoned => "poisoned",
        };
        f.debug_struct("Handshake")
            .field("state", &state)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

fn check_binding(channel_binding: &[u8]) -> Result<()> {
    if channel_binding.is_empty() {
        // Without it a relay could splice two connections together.
        return Err(Error::InvalidArgument("the channel binding is empty"));
    }
    if channel_binding.len() > MAX_CHANNEL_BINDING_LEN {
        return Err(Error::InvalidArgument(
            "channel binding is longer than 1024 bytes",
        ));
    }
    Ok(())
}

fn envelope(kind: proto::handshake_message::Kind) -> Vec<u8> {
    proto::HandshakeMessage {
        version: 1,
        kind: Some(kind),
    }
    .encode_to_vec()
}

fn offer_bytes(
    local: &Local<'_>,
    nonce: &[u8; 32],
    ephemeral: &Ephemeral,
    now: Timestamp,
) -> Vec<u8> {
    proto::Offer {
        version: 1,
        shell_id: local.revocations.genesis().id().as_bytes().to_vec(),
        peer: local.identity.peer_id().as_bytes().to_vec(),
        chain: local.chain.encode(),
        nonce: nonce.to_vec(),
        ephemeral: ephemeral.public().to_vec(),
        sent_at_ms: now.as_millis(),
    }
    .encode_to_vec()
}

/// `SHA-256(label || 0x00 || u32be(len cb) || cb || u32be(len hello) || hello ||
/// u32be(len offer) || offer)`: binds both nonces, both keys, both chains, both ephemeral keys,
/// the roles (by position) and the connection.
fn transcript(channel_binding: &[u8], hello: &[u8], responder_offer: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(TRANSCRIPT_LABEL);
    h.update([0u8]);
    for part in [channel_binding, hello, responder_offer] {
        h.update(u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

fn derive(shared: &[u8; 32], transcript: &[u8; 32]) -> (Zeroizing<[u8; 32]>, [u8; 16]) {
    let hk = Hkdf::<Sha256>::new(Some(transcript), shared);
    let mut key = Zeroizing::new([0u8; 32]);
    let mut id = [0u8; 16];
    // Both lengths are far below HKDF-SHA256's limit of 8160 bytes: expand cannot fail.
    let _ = hk.expand(SESSION_KEY_INFO, key.as_mut());
    let _ = hk.expand(SESSION_ID_INFO, &mut id);
    (key, id)
}

/// A checked offer from the other side.
struct Peer {
    id: PeerId,
    admission: Admission,
    ephemeral: [u8; 32],
}

/// Checks an offer: format, shell, reflection, freshness, admission, and (last, so that
/// rejected messages cost no memory) the nonce's single use.
fn check_offer(
    bytes: &[u8],
    local: &Local<'_>,
    replay: &mut ReplayGuard,
    now: Timestamp,
) -> Result<Peer> {
    let offer =
        proto::Offer::decode(bytes).map_err(|_| Error::Malformed("offer is not protobuf"))?;
    if offer.version != 1 {
        return Err(Error::UnsupportedVersion(offer.version));
    }
    if offer.shell_id.as_slice() != local.revocations.genesis().id().as_bytes() {
        return Err(Error::WrongShell);
    }
    let id = PeerId::from_slice(&offer.peer).map_err(|_| Error::Malformed("bad peer key"))?;
    if id == local.identity.peer_id() {
        return Err(Error::Reflection);
    }
    let nonce: [u8; 32] = offer
        .nonce
        .as_slice()
        .try_into()
        .map_err(|_| Error::Malformed("nonce is 32 bytes"))?;
    let ephemeral: [u8; 32] = offer
        .ephemeral
        .as_slice()
        .try_into()
        .map_err(|_| Error::Malformed("ephemeral key is 32 bytes"))?;
    let sent_at = Timestamp::from_millis(offer.sent_at_ms);
    if sent_at > now.saturating_add(MAX_MESSAGE_AGE)
        || sent_at < now.saturating_sub(MAX_MESSAGE_AGE)
    {
        return Err(Error::Replay);
    }
    let chain = TokenChain::decode(&offer.chain)
        .map_err(|e| Error::from(syncshell_revocation::Error::from(e)))?;
    let admission = local.revocations.admit(&id, &chain, now)?;
    replay.check(nonce, sent_at, now)?;
    Ok(Peer {
        id,
        admission,
        ephemeral,
    })
}

impl Handshake {
    /// Starts a handshake as the initiator: the hello is ready in [`Handshake::poll_transmit`].
    /// `channel_binding` is what both ends of the connection agree on and a relay cannot make
    /// equal (the WebRTC backend gives the two DTLS fingerprints).
    pub fn initiate<R: CryptoRng + RngCore + ?Sized>(
        local: &Local<'_>,
        channel_binding: &[u8],
        now: Timestamp,
        rng: &mut R,
    ) -> Result<Self> {
        check_binding(channel_binding)?;
        let mut nonce = [0u8; 32];
        rng.fill_bytes(&mut nonce);
        let ephemeral = Ephemeral::generate(rng);
        let hello = offer_bytes(local, &nonce, &ephemeral, now);
        let message = envelope(proto::handshake_message::Kind::Hello(hello.clone()));
        Ok(Handshake {
            state: State::AwaitChallenge {
                ephemeral: Box::new(ephemeral),
                hello,
            },
            channel_binding: channel_binding.to_vec(),
            deadline: now.saturating_add(HANDSHAKE_TIMEOUT),
            nonce,
            outbox: vec![message],
        })
    }

    /// Starts a handshake as the responder, waiting for a hello.
    pub fn respond(channel_binding: &[u8], now: Timestamp) -> Result<Self> {
        check_binding(channel_binding)?;
        Ok(Handshake {
            state: State::AwaitHello,
            channel_binding: channel_binding.to_vec(),
            deadline: now.saturating_add(HANDSHAKE_TIMEOUT),
            nonce: [0u8; 32],
            outbox: Vec::new(),
        })
    }

    /// Handles one message from the other side. On error the handshake has failed for good
    /// (the same error is kept in [`Handshake::error`]); a message after the end is refused
    /// without changing the outcome.
    pub fn handle<R: CryptoRng + RngCore + ?Sized>(
        &mut self,
        local: &Local<'_>,
        replay: &mut ReplayGuard,
        message: &[u8],
        now: Timestamp,
        rng: &mut R,
    ) -> Result<()> {
        match &self.state {
            State::Done(_) => return Err(Error::Unexpected("the handshake is complete")),
            State::Failed(e) => return Err(e.clone()),
            _ => {}
        }
        if now >= self.deadline {
            return self.fail(Error::Timeout {
                deadline: self.deadline,
            });
        }
        match self.step(local, replay, message, now, rng) {
            Ok(()) => Ok(()),
            Err(e) => self.fail(e),
        }
    }

    fn fail(&mut self, e: Error) -> Result<()> {
        tracing::debug!(error = %e, "handshake failed");
        self.outbox.clear();
        self.state = State::Failed(e.clone());
        Err(e)
    }

    fn step<R: CryptoRng + RngCore + ?Sized>(
        &mut self,
        local: &Local<'_>,
        replay: &mut ReplayGuard,
        message: &[u8],
        now: Timestamp,
        rng: &mut R,
    ) -> Result<()> {
        if message.len() > MAX_MESSAGE_LEN {
            return Err(Error::Malformed("message is larger than 16 KiB"));
        }
        let msg = proto::HandshakeMessage::decode(message)
            .map_err(|_| Error::Malformed("not a handshake message"))?;
        if msg.version != 1 {
            return Err(Error::UnsupportedVersion(msg.version));
        }
        use proto::handshake_message::Kind;
        match (
            std::mem::replace(&mut self.state, State::Poisoned),
            msg.kind,
        ) {
            (State::AwaitHello, Some(Kind::Hello(hello))) => {
                let peer = check_offer(&hello, local, replay, now)?;
                rng.fill_bytes(&mut self.nonce);
                let ephemeral = Ephemeral::generate(rng);
                let shared = ephemeral.agree(&peer.ephemeral)?;
                let offer = offer_bytes(local, &self.nonce, &ephemeral, now);
                let transcript = transcript(&self.channel_binding, &hello, &offer);
                let signature = local.identity.sign(RESPONDER_CONTEXT, &transcript);
                self.outbox.push(envelope(Kind::Challenge(proto::Challenge {
                    offer,
                    signature: signature.to_vec(),
                })));
                self.state = State::AwaitProof {
                    peer: Box::new(peer.id),
                    admission: Box::new(peer.admission),
                    transcript,
                    shared,
                };
                Ok(())
            }
            (State::AwaitChallenge { ephemeral, hello }, Some(Kind::Challenge(challenge))) => {
                let peer = check_offer(&challenge.offer, local, replay, now)?;
                let transcript = transcript(&self.channel_binding, &hello, &challenge.offer);
                let signature: [u8; 64] = challenge
                    .signature
                    .as_slice()
                    .try_into()
                    .map_err(|_| Error::Malformed("signature is 64 bytes"))?;
                peer.id
                    .verify(RESPONDER_CONTEXT, &transcript, &signature)
                    .map_err(|_| Error::BadSignature)?;
                let shared = ephemeral.agree(&peer.ephemeral)?;
                let proof = local.identity.sign(INITIATOR_CONTEXT, &transcript);
                self.outbox.push(envelope(Kind::Proof(proof.to_vec())));
                let (key, id) = derive(&shared, &transcript);
                self.state = State::Done(Box::new(Session {
                    peer: peer.id,
                    admission: peer.admission,
                    key,
                    id,
                    initiator: true,
                }));
                Ok(())
            }
            (
                State::AwaitProof {
                    peer,
                    admission,
                    transcript,
                    shared,
                },
                Some(Kind::Proof(proof)),
            ) => {
                let signature: [u8; 64] = proof
                    .as_slice()
                    .try_into()
                    .map_err(|_| Error::Malformed("signature is 64 bytes"))?;
                peer.verify(INITIATOR_CONTEXT, &transcript, &signature)
                    .map_err(|_| Error::BadSignature)?;
                // Revocations may have arrived while the challenge was out.
                local.revocations.check(&admission)?;
                let (key, id) = derive(&shared, &transcript);
                self.state = State::Done(Box::new(Session {
                    peer: *peer,
                    admission: *admission,
                    key,
                    id,
                    initiator: false,
                }));
                Ok(())
            }
            (_, None) => Err(Error::Malformed("empty handshake message")),
            (_, Some(Kind::Hello(_))) => Err(Error::Unexpected("hello")),
            (_, Some(Kind::Challenge(_))) => Err(Error::Unexpected("challenge")),
            (_, Some(Kind::Proof(_))) => Err(Error::Unexpected("proof")),
        }
    }

    /// Fails the handshake if `now` is at or past its deadline.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if now >= self.deadline && !self.is_finished() {
            let _ = self.fail(Error::Timeout {
                deadline: self.deadline,
            });
        }
    }

    /// The next message to send, if any. Call until it returns `None`.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.outbox.is_empty() {
            None
        } else {
            Some(self.outbox.remove(0))
        }
    }

    /// When to call [`Handshake::handle_timeout`] if nothing arrives: the deadline, while the
    /// handshake is still running.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        (!self.is_finished()).then_some(self.deadline)
    }

    /// `true` once the handshake has succeeded or failed.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Done(_) | State::Failed(_))
    }

    /// The session, once both sides are authenticated. The initiator has it as soon as it
    /// has queued its proof; send that proof before using the session.
    pub fn session(&self) -> Option<&Session> {
        match &self.state {
            State::Done(s) => Some(s),
            _ => None,
        }
    }

    /// Why the handshake failed, if it did.
    pub fn error(&self) -> Option<&Error> {
        match &self.state {
            State::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// Consumes a finished handshake: the session, or why there is none.
    pub fn into_session(self) -> Result<Session> {
        match self.state {
            State::Done(s) => Ok(*s),
            State::Failed(e) => Err(e),
            _ => Err(Error::Unexpected("the handshake has not finished")),
        }
    }
}

/// Runs a handshake between two local sides in memory, stepping the two state machines against
/// each other at `now`. Returns both outcomes (initiator's, responder's).
#[allow(clippy::too_many_arguments)]
pub fn drive_in_memory<R: CryptoRng + RngCore + ?Sized>(
    initiator: &Local<'_>,
    initiator_replay: &mut ReplayGuard,
    responder: &Local<'_>,
    responder_replay: &mut ReplayGuard,
    channel_binding: &[u8],
    now: Timestamp,
    rng: &mut R,
) -> (Result<Session>, Result<Session>) {
    let mut a = match Handshake::initiate(initiator, channel_binding, now, rng) {
        Ok(h) => h,
        Err(e) => return (Err(e.clone()), Err(e)),
    };
    let mut b = match Handshake::respond(channel_binding, now) {
        Ok(h) => h,
        Err(e) => return (Err(e.clone()), Err(e)),
    };
    // Three messages at most; the bound only guards against a logic error.
    for _ in 0..4 {
        let mut moved = false;
        while let Some(m) = a.poll_transmit() {
            moved = true;
            let _ = b.handle(responder, responder_replay, &m, now, rng);
        }
        while let Some(m) = b.poll_transmit() {
            moved = true;
            let _ = a.handle(initiator, initiator_replay, &m, now, rng);
        }
        if !moved {
            break;
        }
    }
    a.handle_timeout(now.saturating_add(HANDSHAKE_TIMEOUT));
    b.handle_timeout(now.saturating_add(HANDSHAKE_TIMEOUT));
    (a.into_session(), b.into_session())
}

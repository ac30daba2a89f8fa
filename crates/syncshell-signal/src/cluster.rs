//! Relays that share one Redis see the same shells: where each connected peer is, blobs for
//! peers on another relay, and every shell's tombstones (docs/spec/signal.md, "Relays sharing
//! a Redis"). Redis is only a meeting point: a relay applies to what another relay published
//! the same checks it applies to its own clients.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand_core::{OsRng, RngCore};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind, Script, Value};
use syncshell_identity::{PeerId, ShellId};
use tokio::sync::mpsc;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::frame::{PresenceChange, MAX_PRESENCE_PEERS};

/// Every key and channel starts with this.
const PREFIX: &str = "syncshell:v1";
/// Messages from other relays (and Redis's own) waiting for the relay to handle them.
const INBOUND_QUEUE: usize = 1024;
/// How long one Redis command may take before Redis counts as away.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

const M_DELIVER: u8 = 1;
const M_REPLACED: u8 = 2;
const M_PRESENCE: u8 = 3;

/// What another relay published for this one.
// Handled one at a time as it arrives; boxing a variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Inbound {
    /// A blob from a peer connected there to a peer connected here.
    Deliver {
        shell: ShellId,
        from: PeerId,
        to: PeerId,
        /// The sender's inviter when the sender is a guest.
        from_guest_of: Option<PeerId>,
        blob: Vec<u8>,
    },
    /// `peer` connected there again: its connection here is replaced.
    Replaced { shell: ShellId, peer: PeerId },
    /// A tombstone a relay accepted, for every relay holding the shell.
    Tombstone { shell: ShellId, tombstone: Vec<u8> },
    /// Members of `shell` connected to relay `relay` (in hex) came online or went offline.
    Presence {
        shell: ShellId,
        relay: String,
        change: PresenceChange,
        peers: Vec<PeerId>,
    },
}

/// One relay's connection to the shared Redis.
pub(crate) struct Cluster {
    /// This relay's id: 16 random bytes in hex, new at every start.
    relay: String,
    /// The same 16 bytes.
    relay_bytes: [u8; 16],
    /// Its channel, [`inbox`] of `relay`.
    inbox: String,
    conn: ConnectionManager,
    up: AtomicBool,
    /// A command failed since the last subscription.
    failed: AtomicBool,
    /// The cluster-wide counts of the last [`Cluster::share_counts`].
    totals: Mutex<Option<serde_json::Value>>,
    /// The relays whose members this relay's members were told of (in hex), checked every
    /// second by [`Cluster::lost_a_relay`].
    watched: Mutex<BTreeSet<String>>,
    /// A message from Redis found the inbound queue full and was dropped.
    overflowed: Arc<AtomicBool>,
}

/// Every relay's counts, for `/stats`: a relay's entry counts while it is this fresh.
const COUNTS_FRESH_MS: u64 = 5_000;
/// An entry this old is a relay that is gone, and is deleted.
const COUNTS_GONE_MS: u64 = 60_000;

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("relay", &self.relay)
            .field("up", &self.is_up())
            .finish_non_exhaustive()
    }
}

fn peers_key(shell: &ShellId) -> String {
    format!("{PREFIX}:peers:{}", hex::encode(shell.as_bytes()))
}

fn tombstones_key(shell: &ShellId) -> String {
    format!("{PREFIX}:tombstones:{}", hex::encode(shell.as_bytes()))
}

/// The channel of messages for `relay`.
fn inbox(relay: &str) -> String {
    format!("{PREFIX}:relay:{relay}")
}

fn counts_key() -> String {
    format!("{PREFIX}:relays")
}

/// The channel of accepted tombstones, for every relay.
const TOMBSTONE_CHANNEL: &str = "syncshell:v1:tombstones";

/// Sets a peer's location and returns the one it replaces.
const REGISTER: &str = "local old = redis.call('HGET', KEYS[1], ARGV[1]) \
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return old";
/// Removes a peer's location if it is still the given one, and then returns the relays the
/// shell's other peers are at; returns nil when the location was another one.
const UNREGISTER: &str =
    "if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return false end \
    redis.call('HDEL', KEYS[1], ARGV[1]) \
    local seen, out = {}, {} \
    for _, v in ipairs(redis.call('HVALS', KEYS[1])) do \
      local r = string.match(v, '^([^:]+):') \
      if r and not seen[r] then seen[r] = true; out[#out + 1] = r end \
    end \
    return out";

/// The Redis relays share their shells through, and how a relay proves itself to it.
#[derive(Clone)]
pub struct RedisConfig {
    url: String,
    password: Option<Zeroizing<String>>,
    ca: Option<Vec<u8>>,
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: it is not shown.
        f.debug_struct("RedisConfig")
            .field("password", &self.password.is_some())
            .field("ca", &self.ca.is_some())
            .finish_non_exhaustive()
    }
}

impl RedisConfig {
    /// The Redis at `url`: `redis://HOST:PORT/`, or `rediss://HOST:PORT/` over TLS (checked
    /// against the system's root certificates unless [`RedisConfig::with_ca_file`] says
    /// otherwise). A password in the URL (`redis://:PASSWORD@HOST:PORT/`) works but shows
    /// in the process list: prefer [`RedisConfig::with_password_file`].
    pub fn new(url: impl Into<String>) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            password: None,
            ca: None,
        }
    }

    /// Authenticates with the password in this file (its contents less one trailing
    /// newline): Redis's `requirepass`, or the password of the URL's user with ACLs.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the file cannot be read, is empty or is not UTF-8.
    pub fn with_password_file(mut self, path: &Path) -> Result<RedisConfig, Error> {
        let bytes = crate::ice::read_secret(path)?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| Error::Config(format!("{}: the password is not UTF-8", path.display())))?;
        if text.is_empty() {
            return Err(Error::Config(format!(
                "{}: the password is empty",
                path.display()
            )));
        }
        self.password = Some(Zeroizing::new(text.to_owned()));
        Ok(self)
    }

    /// Trusts only the CA certificates of this PEM file for a `rediss://` Redis (a private
    /// CA, or a self-signed certificate) instead of the system's roots.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the file cannot be read or holds no certificate, or the URL is
    /// not a `rediss://` one.
    pub fn with_ca_file(mut self, path: &Path) -> Result<RedisConfig, Error> {
        if !self.url.starts_with("rediss://") {
            return Err(Error::Config(format!(
                "{}: a CA file is for rediss:// URLs",
                path.display()
            )));
        }
        crate::tls::read_certificates(path)?;
        let pem =
            std::fs::read(path).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        self.ca = Some(pem);
        Ok(self)
    }
}

impl Cluster {
    /// A relay's handle on the Redis of `config`, and the stream of what other relays
    /// publish for it. Connects lazily: a relay starts while Redis is away.
    pub(crate) fn new(config: &RedisConfig) -> Result<(Cluster, mpsc::Receiver<PushInfo>), Error> {
        // The URL is not repeated: it may carry a password.
        let config_error = |e: redis::RedisError| Error::Config(format!("redis: {e}"));
        let info = config
            .url
            .as_str()
            .into_connection_info()
            .map_err(config_error)?;
        // Subscriptions share the command connection, which needs RESP3 (Redis 6 or newer).
        let mut settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        if let Some(password) = &config.password {
            settings = settings.set_password(password.as_str());
        }
        let info = info.set_redis_settings(settings);
        let client = match &config.ca {
            Some(pem) => redis::Client::build_with_tls(
                info,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            ),
            None => redis::Client::open(info),
        }
        .map_err(config_error)?;
        // What other relays publish waits in a bounded queue; when it overflows, what was
        // dropped is caught up as after a disconnection (`check_overflow`).
        let (tx, rx) = mpsc::channel(INBOUND_QUEUE);
        let overflowed = Arc::new(AtomicBool::new(false));
        let flag = overflowed.clone();
        let push = move |info: PushInfo| {
            if tx.try_send(info).is_err() {
                flag.store(true, Ordering::Relaxed);
            }
            Ok::<(), ()>(())
        };
        // Fail commands fast while Redis is away: the relay answers its clients meanwhile.
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500))
            .set_push_sender(push)
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_connection_timeout(Some(COMMAND_TIMEOUT));
        let conn = ConnectionManager::new_lazy_with_config(client, config).map_err(config_error)?;
        let mut id = [0u8; 16];
        OsRng.fill_bytes(&mut id);
        let relay = hex::encode(id);
        let cluster = Cluster {
            inbox: inbox(&relay),
            relay,
            relay_bytes: id,
            conn,
            up: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            totals: Mutex::new(None),
            watched: Mutex::new(BTreeSet::new()),
            overflowed,
        };
        Ok((cluster, rx))
    }

    /// Whether Redis answered the last command.
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// This relay's id.
    pub(crate) fn relay(&self) -> &str {
        &self.relay
    }

    /// A command's result; a failure marks Redis away until [`Cluster::subscribe`] and
    /// [`Cluster::rejoined`] bring it back.
    fn seen<T>(&self, r: redis::RedisResult<T>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.failed.store(true, Ordering::Relaxed);
                if self.up.swap(false, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "redis unreachable: serving local clients only");
                }
                None
            }
        }
    }

    /// While Redis is away: subscribes to this relay's channels; on success the caller
    /// stores again what it holds (Redis may have restarted empty) and calls
    /// [`Cluster::rejoined`].
    pub(crate) async fn subscribe(&self) -> bool {
        self.failed.store(false, Ordering::Relaxed);
        let mut conn = self.conn.clone();
        let r = conn
            .subscribe(&[self.inbox.as_str(), TOMBSTONE_CHANNEL])
            .await;
        r.is_ok()
    }

    /// Redis is reachable again and holds what this relay holds, unless a command failed
    /// meanwhile (then the next [`Cluster::subscribe`] tries again).
    pub(crate) fn rejoined(&self) {
        if !self.failed.load(Ordering::Relaxed) && !self.up.swap(true, Ordering::Relaxed) {
            tracing::info!(relay = %self.relay, "redis reachable: sharing shells");
        }
    }

    /// If a message from Redis was dropped (the inbound queue was full), counts Redis as away:
    /// subscribing again stores and reads again what may have been missed.
    pub(crate) fn check_overflow(&self) {
        if self.overflowed.swap(false, Ordering::Relaxed) && self.up.swap(false, Ordering::Relaxed)
        {
            tracing::warn!("messages from other relays were dropped: catching up");
        }
    }

    /// Redis closed the connection: the next [`Cluster::subscribe`] subscribes again.
    pub(crate) fn disconnected(&self) {
        if self.up.swap(false, Ordering::Relaxed) {
            tracing::warn!("redis connection lost: serving local clients only");
        }
    }

    /// Records that `peer` of `shell` is connected here (connection `conn`), and tells the
    /// relay it was connected to before, if another, that it is replaced.
    pub(crate) async fn register(&self, shell: &ShellId, peer: &PeerId, conn: u64) {
        let mut c = self.conn.clone();
        let here = format!("{}:{conn}", self.relay);
        let r: redis::RedisResult<Option<String>> = Script::new(REGISTER)
            .key(peers_key(shell))
            .arg(peer.as_bytes().as_slice())
            .arg(&here)
            .invoke_async(&mut c)
            .await;
        let Some(Some(old)) = self.seen(r) else {
            return;
        };
        let Some((relay, _)) = old.split_once(':') else {
            return;
        };
        if relay != self.relay {
            let mut m = vec![M_REPLACED];
            m.extend_from_slice(shell.as_bytes());
            m.extend_from_slice(peer.as_bytes());
            self.publish(&inbox(relay), &m).await;
        }
    }

    /// Forgets `peer`'s location if it is still connection `conn` here; with `announce` (a
    /// member), then tells the relays holding the shell's other peers that it went offline.
    pub(crate) async fn unregister(
        &self,
        shell: &ShellId,
        peer: &PeerId,
        conn: u64,
        announce: bool,
    ) {
        let Some(relays) = self
            .forget(shell, peer.as_bytes(), &format!("{}:{conn}", self.relay))
            .await
        else {
            return;
        };
        if announce {
            let m =
                self.presence_message(shell, PresenceChange::Offline, std::slice::from_ref(peer));
            for relay in relays.iter().filter(|r| **r != self.relay) {
                for m in &m {
                    self.publish(&inbox(relay), m).await;
                }
            }
        }
    }

    /// Deletes the field `peer` of the shell's locations if it is still `at`; returns the
    /// relays the remaining peers are at, or `None` if it was not deleted.
    async fn forget(&self, shell: &ShellId, peer: &[u8], at: &str) -> Option<Vec<String>> {
        let mut c = self.conn.clone();
        let r: redis::RedisResult<Option<Vec<String>>> = Script::new(UNREGISTER)
            .key(peers_key(shell))
            .arg(peer)
            .arg(at)
            .invoke_async(&mut c)
            .await;
        self.seen(r).flatten()
    }

    /// Publishes `m` on `channel`; the number of relays that got it (0 when Redis is away).
    async fn publish(&self, channel: &str, m: &[u8]) -> u64 {
        let mut c = self.conn.clone();
        let r: redis::RedisResult<u64> = redis::cmd("PUBLISH")
            .arg(channel)
            .arg(m)
            .query_async(&mut c)
            .await;
        self.seen(r).unwrap_or(0)
    }

    /// `presence` messages from this relay saying `peers` of `shell` changed (at most
    /// [`MAX_PRESENCE_PEERS`] a message).
    fn presence_message(
        &self,
        shell: &ShellId,
        change: PresenceChange,
        peers: &[PeerId],
    ) -> Vec<Vec<u8>> {
        peers
            .chunks(MAX_PRESENCE_PEERS)
            .map(|chunk| {
                let mut m = Vec::with_capacity(50 + 32 * chunk.len());
                m.push(M_PRESENCE);
                m.extend_from_slice(shell.as_bytes());
                m.extend_from_slice(&self.relay_bytes);
                m.push(change.to_wire());
                for p in chunk {
                    m.extend_from_slice(p.as_bytes());
                }
                m
            })
            .collect()
    }

    /// The members of `shell` connected to other live relays, as Redis has them; `None` when
    /// Redis is away. Locations naming a relay that no longer listens on its channel (one
    /// that died without cleaning up) are deleted on the way. With `announce`, tells every
    /// live relay holding a peer of the shell that these members of this relay came online.
    pub(crate) async fn presence(
        &self,
        shell: &ShellId,
        announce: Option<&[PeerId]>,
    ) -> Option<Vec<PeerId>> {
        let mut c = self.conn.clone();
        let r: redis::RedisResult<Vec<(Vec<u8>, String)>> = redis::cmd("HGETALL")
            .arg(peers_key(shell))
            .query_async(&mut c)
            .await;
        let entries = self.seen(r)?;
        // Each other relay named, with the peers located there.
        let mut relays: BTreeMap<String, Vec<(Vec<u8>, String)>> = BTreeMap::new();
        for (field, at) in entries {
            let Some((relay, _)) = at.split_once(':') else {
                continue;
            };
            if relay != self.relay {
                relays
                    .entry(relay.to_owned())
                    .or_default()
                    .push((field, at));
            }
        }
        if relays.is_empty() {
            return Some(Vec::new());
        }
        let channels: Vec<String> = relays.keys().map(|r| inbox(r)).collect();
        let r: redis::RedisResult<Vec<(String, u64)>> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(&channels)
            .query_async(&mut c)
            .await;
        let listening: BTreeSet<String> = self
            .seen(r)?
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(channel, _)| channel)
            .collect();
        let messages =
            announce.map(|peers| self.presence_message(shell, PresenceChange::Online, peers));
        let mut remote = Vec::new();
        for (relay, located) in relays {
            let channel = inbox(&relay);
            if !listening.contains(&channel) {
                for (field, at) in located {
                    self.forget(shell, &field, &at).await;
                }
                continue;
            }
            remote.extend(located.iter().filter_map(|(field, _)| {
                let key: &[u8; 32] = field.as_slice().try_into().ok()?;
                PeerId::from_bytes(key).ok()
            }));
            for m in messages.iter().flatten() {
                self.publish(&channel, m).await;
            }
            self.watched().insert(relay);
        }
        Some(remote)
    }

    /// Hands a blob to the relay `to` is connected to; false when no relay has it (or
    /// Redis is away).
    pub(crate) async fn forward(
        &self,
        shell: &ShellId,
        from: &PeerId,
        from_guest_of: Option<&PeerId>,
        to: &PeerId,
        blob: &[u8],
    ) -> bool {
        let mut c = self.conn.clone();
        let r: redis::RedisResult<Option<String>> = redis::cmd("HGET")
            .arg(peers_key(shell))
            .arg(to.as_bytes().as_slice())
            .query_async(&mut c)
            .await;
        let Some(Some(at)) = self.seen(r) else {
            return false;
        };
        let Some((relay, _)) = at.split_once(':') else {
            return false;
        };
        if relay == self.relay {
            // A location this relay left behind: the peer is not here any more.
            return false;
        }
        let mut m = Vec::with_capacity(130 + blob.len());
        m.push(M_DELIVER);
        m.extend_from_slice(shell.as_bytes());
        m.extend_from_slice(from.as_bytes());
        m.extend_from_slice(to.as_bytes());
        match from_guest_of {
            Some(inviter) => {
                m.push(1);
                m.extend_from_slice(inviter.as_bytes());
            }
            None => m.push(0),
        }
        m.extend_from_slice(blob);
        // PUBLISH counts the subscribers that got it: none when that relay is gone.
        self.publish(&inbox(relay), &m).await > 0
    }

    /// Publishes this relay's counts (`connections`, `peers`, `relayed`) and sums those of
    /// every relay that published within the last few seconds: the `cluster` part of
    /// `/stats`, kept until the next call.
    pub(crate) async fn share_counts(&self, connections: u64, peers: u64, relayed: u64) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mine = serde_json::json!({
            "at": now,
            "connections": connections,
            "peers": peers,
            "relayed": relayed,
        });
        let mut c = self.conn.clone();
        let r: redis::RedisResult<()> = redis::cmd("HSET")
            .arg(counts_key())
            .arg(&self.relay)
            .arg(mine.to_string())
            .query_async(&mut c)
            .await;
        if self.seen(r).is_none() {
            return;
        }
        let r: redis::RedisResult<Vec<(String, String)>> = redis::cmd("HGETALL")
            .arg(counts_key())
            .query_async(&mut c)
            .await;
        let Some(entries) = self.seen(r) else {
            return;
        };
        let (mut relays, mut sums, mut gone) = (0u64, [0u64; 3], Vec::new());
        for (relay, text) in entries {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            let age =
                now.saturating_sub(v.get("at").and_then(serde_json::Value::as_u64).unwrap_or(0));
            if age > COUNTS_GONE_MS {
                gone.push(relay);
            } else if age <= COUNTS_FRESH_MS {
                relays += 1;
                for (sum, key) in sums.iter_mut().zip(["connections", "peers", "relayed"]) {
                    *sum = sum.saturating_add(
                        v.get(key).and_then(serde_json::Value::as_u64).unwrap_or(0),
                    );
                }
            }
        }
        if !gone.is_empty() {
            let r: redis::RedisResult<u64> = redis::cmd("HDEL")
                .arg(counts_key())
                .arg(gone)
                .query_async(&mut c)
                .await;
            self.seen(r);
        }
        let [connections, peers, relayed] = sums;
        let totals = serde_json::json!({
            "relays": relays,
            "connections": connections,
            "peers": peers,
            "relayed": relayed,
        });
        *self
            .totals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(totals);
    }

    /// Whether a relay whose members this relay's members were told of has stopped listening
    /// on its channel (it died, or lost Redis): then they are gone, and the relay is no longer
    /// watched.
    pub(crate) async fn lost_a_relay(&self) -> bool {
        let watched: Vec<String> = self.watched().iter().map(|r| inbox(r)).collect();
        if watched.is_empty() {
            return false;
        }
        let mut c = self.conn.clone();
        let r: redis::RedisResult<Vec<(String, u64)>> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(&watched)
            .query_async(&mut c)
            .await;
        let Some(counts) = self.seen(r) else {
            return false;
        };
        let dead: Vec<&str> = counts
            .iter()
            .filter(|(_, n)| *n == 0)
            .filter_map(|(channel, _)| channel.strip_prefix(&format!("{PREFIX}:relay:")))
            .collect();
        let mut w = self.watched();
        for relay in &dead {
            w.remove(*relay);
        }
        !dead.is_empty()
    }

    /// Relays whose members this relay's members were told of.
    fn watched(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.watched
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cluster-wide counts last summed, if any.
    pub(crate) fn totals(&self) -> Option<serde_json::Value> {
        self.totals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The tombstones stored for `shell` (unverified: the caller verifies each).
    pub(crate) async fn tombstones(&self, shell: &ShellId) -> Vec<Vec<u8>> {
        let mut c = self.conn.clone();
        let r: redis::RedisResult<Vec<Vec<u8>>> = redis::cmd("SMEMBERS")
            .arg(tombstones_key(shell))
            .query_async(&mut c)
            .await;
        self.seen(r).unwrap_or_default()
    }

    /// Stores tombstones of `shell`; with `announce`, tells every relay about them too.
    pub(crate) async fn store_tombstones(
        &self,
        shell: &ShellId,
        tombstones: &[Vec<u8>],
        announce: bool,
    ) {
        if tombstones.is_empty() {
            return;
        }
        let mut c = self.conn.clone();
        let r: redis::RedisResult<u64> = redis::cmd("SADD")
            .arg(tombstones_key(shell))
            .arg(tombstones)
            .query_async(&mut c)
            .await;
        if self.seen(r).is_none() || !announce {
            return;
        }
        for t in tombstones {
            let mut m = shell.as_bytes().to_vec();
            m.extend_from_slice(t);
            self.publish(TOMBSTONE_CHANNEL, &m).await;
        }
    }

    /// What a push from Redis says, if it is a message for this relay that parses; `None`
    /// otherwise (subscription confirmations, and anything malformed, which is dropped).
    pub(crate) fn parse(&self, push: PushInfo) -> Option<Inbound> {
        if push.kind == PushKind::Disconnection {
            self.disconnected();
            return None;
        }
        if push.kind != PushKind::Message {
            return None;
        }
        let mut data = push.data.into_iter();
        let (Some(Value::BulkString(channel)), Some(Value::BulkString(payload))) =
            (data.next(), data.next())
        else {
            return None;
        };
        if channel == TOMBSTONE_CHANNEL.as_bytes() {
            let (shell, tombstone) = payload.split_first_chunk::<32>()?;
            return Some(Inbound::Tombstone {
                shell: ShellId::from_bytes(*shell),
                tombstone: tombstone.to_vec(),
            });
        }
        if channel != self.inbox.as_bytes() {
            return None;
        }
        let m = decode_inbox(&payload);
        if let Some(Inbound::Presence {
            relay,
            change: PresenceChange::Online,
            ..
        }) = &m
        {
            self.watched().insert(relay.clone());
        }
        m
    }
}

/// A message of a relay's inbox channel.
fn decode_inbox(payload: &[u8]) -> Option<Inbound> {
    let (&kind, rest) = payload.split_first()?;
    let (shell, rest) = rest.split_first_chunk::<32>()?;
    let shell = ShellId::from_bytes(*shell);
    let peer = |b: &[u8; 32]| PeerId::from_bytes(b).ok();
    match kind {
        M_REPLACED => {
            let (p, rest) = rest.split_first_chunk::<32>()?;
            rest.is_empty().then_some(())?;
            Some(Inbound::Replaced {
                shell,
                peer: peer(p)?,
            })
        }
        M_DELIVER => {
            let (from, rest) = rest.split_first_chunk::<32>()?;
            let (to, rest) = rest.split_first_chunk::<32>()?;
            let (&guest, rest) = rest.split_first()?;
            let (from_guest_of, blob) = match guest {
                0 => (None, rest),
                1 => {
                    let (inviter, rest) = rest.split_first_chunk::<32>()?;
                    (Some(peer(inviter)?), rest)
                }
                _ => return None,
            };
            Some(Inbound::Deliver {
                shell,
                from: peer(from)?,
                to: peer(to)?,
                from_guest_of,
                blob: blob.to_vec(),
            })
        }
        M_PRESENCE => {
            let (relay, rest) = rest.split_first_chunk::<16>()?;
            let (&change, rest) = rest.split_first()?;
            let change = match PresenceChange::from_wire(change)? {
                PresenceChange::All => return None,
                c => c,
            };
            let count = rest.len() / 32;
            if rest.len() % 32 != 0 || count == 0 || count > MAX_PRESENCE_PEERS {
                return None;
            }
            let peers = rest
                .chunks_exact(32)
                .map(|k| peer(k.try_into().ok()?))
                .collect::<Option<Vec<_>>>()?;
            Some(Inbound::Presence {
                shell,
                relay: hex::encode(relay),
                change,
                peers,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syncshell_identity::Identity;

    #[test]
    fn inbox_messages_decode_and_defects_are_dropped() {
        let a = Identity::generate(&mut OsRng).peer_id();
        let b = Identity::generate(&mut OsRng).peer_id();
        let shell = ShellId::from_bytes([7; 32]);
        let mut m = vec![M_DELIVER];
        m.extend_from_slice(shell.as_bytes());
        m.extend_from_slice(a.as_bytes());
        m.extend_from_slice(b.as_bytes());
        m.push(1);
        m.extend_from_slice(b.as_bytes());
        m.extend_from_slice(b"blob");
        assert_eq!(
            decode_inbox(&m),
            Some(Inbound::Deliver {
                shell,
                from: a,
                to: b,
                from_guest_of: Some(b),
                blob: b"blob".to_vec()
            })
        );
        for cut in 0..98 {
            assert_eq!(decode_inbox(&m[..cut]), None, "cut at {cut}");
        }
        let mut bad_flag = m.clone();
        bad_flag[97] = 2;
        assert_eq!(decode_inbox(&bad_flag), None);
        let mut replaced = vec![M_REPLACED];
        replaced.extend_from_slice(shell.as_bytes());
        replaced.extend_from_slice(a.as_bytes());
        assert_eq!(
            decode_inbox(&replaced),
            Some(Inbound::Replaced { shell, peer: a })
        );
        replaced.push(0);
        assert_eq!(decode_inbox(&replaced), None, "trailing bytes");
        assert_eq!(decode_inbox(&[9]), None);

        let mut presence = vec![M_PRESENCE];
        presence.extend_from_slice(shell.as_bytes());
        presence.extend_from_slice(&[0xab; 16]);
        presence.push(PresenceChange::Online.to_wire());
        presence.extend_from_slice(a.as_bytes());
        presence.extend_from_slice(b.as_bytes());
        assert_eq!(
            decode_inbox(&presence),
            Some(Inbound::Presence {
                shell,
                relay: "ab".repeat(16),
                change: PresenceChange::Online,
                peers: vec![a, b],
            })
        );
        // Cut anywhere but after a whole key, a change of 2 (`all` is not sent between
        // relays) or 3, no peer: dropped.
        for cut in (0..presence.len()).filter(|&c| c != 50 + 32) {
            assert_eq!(decode_inbox(&presence[..cut]), None, "cut at {cut}");
        }
        for change in [2, 3] {
            let mut bad = presence.clone();
            bad[49] = change;
            assert_eq!(decode_inbox(&bad), None, "change {change}");
        }
    }
}

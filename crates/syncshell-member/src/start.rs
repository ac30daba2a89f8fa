//! Starting a member the way a program or a plugin does: from its [`DataFolder`], over
//! WebRTC and a signal relay.
//!
//! [`Opening::open`] does the quick local part (locks the folder, opens or makes the key,
//! checks or creates the shell); [`Opening::start`] does the part that waits on the network
//! (the join through the relay, the relay's connection, the STUN and TURN servers it hands
//! out) and returns the running [`Node`] and its events.

use std::path::PathBuf;
use std::time::Duration;

use rand_core::OsRng;
use syncshell_identity::{Identity, InviteCode, PeerId, ShellGenesis, ShellId, TokenChain};
use syncshell_signal::{
    relay_hints, relay_hints_text, ClientOptions, Credentials, IceGrant, NoticeCode, SignalClient,
    Status, TransportSignaling,
};
use syncshell_transport::Transport;
use syncshell_webrtc::{IceServer, WebRtcConfig, WebRtcTransport};
use tokio::sync::mpsc;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::folder::{DataFolder, FolderLock, KeyError, INCOMING, VERSIONS};
use crate::join::Joiner;
use crate::member::{Config, Event, Member, Shell};
use crate::node::{wall_clock, Folders, Node};

/// The relay when nothing names one.
pub const DEFAULT_RELAY: &str = "ws://127.0.0.1:7447/";
/// How long the WebRTC transport may take to connect or answer: across networks a relayed
/// connection spends 2 s per side gathering (a TURN server that never answers), 2 s before
/// ICE settles for a relay, and several round trips of a relay reached over TCP.
pub const WEBRTC_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a start waits for the relay's STUN and TURN servers before the first dials.
pub const FIRST_ICE_GRANT: Duration = Duration::from_secs(3);

/// The WebRTC transport through the relay.
pub type WebRtcNet = WebRtcTransport<TransportSignaling>;

/// How the member's key is had.
pub enum Key {
    /// The key file of the data folder, sealed with this passphrase (made on the first
    /// start).
    Passphrase(Zeroizing<Vec<u8>>),
    /// The secret key itself, kept by the host (for example under DPAPI): no key file.
    Secret(Zeroizing<[u8; 32]>),
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Key::Passphrase(_) => "Key::Passphrase(..)",
            Key::Secret(_) => "Key::Secret(..)",
        })
    }
}

/// What a start does about the shell.
#[derive(Debug, Clone)]
pub enum FirstStart {
    /// Run the shell the folder holds.
    Resume,
    /// Create a shell of this name (the folder must hold none).
    Create(String),
    /// Join the shell of this invite, waiting this long for the inviter (the folder must
    /// hold no shell).
    Join(Box<InviteCode>, Duration),
}

/// Everything a start needs.
#[derive(Debug)]
pub struct StartOptions {
    /// The data folder.
    pub data: PathBuf,
    /// The key.
    pub key: Key,
    /// Create, join, or resume.
    pub first: FirstStart,
    /// The relays, tried in order; empty: those the folder used last, else those the invite
    /// names, else [`DEFAULT_RELAY`].
    pub relays: Vec<String>,
    /// The relay client's options (its CA file, for example); the start sets the fallback
    /// URLs and that a member with a shell starts while no relay answers.
    pub client: ClientOptions,
    /// The WebRTC settings; the relay's STUN and TURN servers are added to them.
    pub webrtc: WebRtcConfig,
    /// The member's configuration; `share`, `receive` and `invite_hints` are set from the
    /// folders and relays.
    pub config: Config,
    /// The shared folder, the receive folder and the send rate (versions and the approval
    /// hold go under the data folder).
    pub folders: Folders,
    /// Turn the approval step on (it stays on across restarts until turned off).
    pub approval: bool,
}

/// Why a start failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Another process uses the data folder.
    #[error("{0}")]
    Locked(String),
    /// The folder could not be read or written.
    #[error("{0}")]
    Io(String),
    /// The key file cannot be opened (damaged, or the wrong passphrase).
    #[error("{0}")]
    Key(String, syncshell_identity::Error),
    /// The start asks for something the folder does not allow (create or join while it
    /// holds a shell; resume while it holds none; a shared folder that is not one).
    #[error("{0}")]
    Refused(String),
    /// The join failed (expired invite, inviter offline, refused).
    #[error("{0}")]
    Join(Error),
    /// This member cannot run: revoked, or its token expired.
    #[error("this member cannot run: {0}")]
    NotAdmitted(Error),
    /// The relay could not be used.
    #[error("the relay: {0}")]
    Relay(String),
}

impl From<KeyError> for StartError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Io(e) => StartError::Io(e),
            KeyError::Open { ref error, .. } => StartError::Key(e.to_string(), error.clone()),
        }
    }
}

/// What happens during a start that a user should hear of.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Startup {
    /// The inviter is not connected to the relay: the join waits for it.
    JoinWaiting {
        /// The inviter.
        inviter: PeerId,
        /// How long the join waits in all.
        timeout: Duration,
    },
    /// The join succeeded.
    Joined {
        /// The inviter.
        inviter: PeerId,
        /// The shell.
        shell: ShellId,
    },
    /// No relay answers yet: the member runs and keeps trying.
    RelayWaiting {
        /// The first relay.
        url: String,
    },
}

/// A start whose local part is done: the folder is locked and the key open.
#[derive(Debug)]
pub struct Opening {
    folder: DataFolder,
    lock: FolderLock,
    identity: Identity,
    new_key: bool,
    shell: Option<(ShellGenesis, TokenChain)>,
    join: Option<(InviteCode, Duration)>,
    relays: Vec<String>,
    options: StartOptions,
}

/// A running member.
#[derive(Debug)]
pub struct Started<T: Transport + 'static = WebRtcNet> {
    /// The node.
    pub node: Node<T>,
    /// Its events.
    pub events: mpsc::Receiver<Event>,
    /// After a join, the inviter (already being reached).
    pub inviter: Option<PeerId>,
    /// The relays in use.
    pub relays: Vec<String>,
    /// The data folder.
    pub folder: DataFolder,
    /// The hold on the data folder: keep it while the node runs.
    pub lock: FolderLock,
}

fn another(identity: &Identity) -> Identity {
    Identity::from_secret_bytes(&identity.to_secret_bytes())
}

impl Opening {
    /// Locks the data folder, opens (or makes) the key, and checks the start against the
    /// folder: a shell is created here; a join is only checked (the invite's shell).
    pub fn open(options: StartOptions) -> Result<Opening, StartError> {
        if let Some(share) = &options.folders.share {
            if !share.is_dir() {
                return Err(StartError::Refused(format!(
                    "the shared folder {} is not a folder",
                    share.display()
                )));
            }
        }
        let folder = DataFolder::open(&options.data).map_err(StartError::Io)?;
        let lock = folder.lock().map_err(StartError::Locked)?;
        let new_key = match &options.key {
            Key::Passphrase(_) => !folder.has_key(),
            Key::Secret(_) => false,
        };
        let identity = match &options.key {
            Key::Passphrase(p) => folder.identity(p)?,
            Key::Secret(s) => Identity::from_secret_bytes(s),
        };
        let held = match (folder.genesis(), folder.chain()) {
            (Ok(Some(g)), Ok(Some(c))) => Some((g, c)),
            (Ok(_), Ok(_)) => None,
            (Err(e), _) | (_, Err(e)) => return Err(StartError::Io(e)),
        };
        let refuse = |what: &str, genesis: &ShellGenesis| {
            StartError::Refused(format!(
                "{what}: {} already holds the shell \"{}\"; resume it, or use another data \
                 folder",
                folder.dir().display(),
                genesis.name()
            ))
        };
        let (shell, join) = match (&options.first, held) {
            (FirstStart::Resume, Some(shell)) => (Some(shell), None),
            (FirstStart::Create(_), Some((g, _))) => return Err(refuse("create a shell", &g)),
            (FirstStart::Join(..), Some((g, _))) => return Err(refuse("join a shell", &g)),
            (FirstStart::Resume, None) => {
                return Err(StartError::Refused(format!(
                    "{} holds no shell yet: create one or join one with an invite",
                    folder.dir().display()
                )))
            }
            (FirstStart::Create(name), None) => {
                let genesis = ShellGenesis::create(&identity, name, wall_clock(), &mut OsRng)
                    .map_err(|e| StartError::Refused(e.to_string()))?;
                folder
                    .set_shell(&genesis, &TokenChain::owner())
                    .map_err(StartError::Io)?;
                (Some((genesis, TokenChain::owner())), None)
            }
            (FirstStart::Join(code, timeout), None) => (None, Some(((**code).clone(), *timeout))),
        };
        let relays = if !options.relays.is_empty() {
            options.relays.clone()
        } else {
            let used = folder.relays().map_err(StartError::Io)?;
            let named = join
                .as_ref()
                .map(|(code, _)| relay_hints(code.invite().hints()))
                .unwrap_or_default();
            [used, named]
                .into_iter()
                .find(|r| !r.is_empty())
                .unwrap_or_else(|| vec![DEFAULT_RELAY.to_owned()])
        };
        Ok(Opening {
            folder,
            lock,
            identity,
            new_key,
            shell,
            join,
            relays,
            options,
        })
    }

    /// This member's id.
    pub fn peer_id(&self) -> PeerId {
        self.identity.peer_id()
    }

    /// The data folder.
    pub fn folder(&self) -> &DataFolder {
        &self.folder
    }

    /// The relays the member will use.
    pub fn relays(&self) -> &[String] {
        &self.relays
    }

    /// Joins if asked to, connects to the relay and starts the node over WebRTC (with the
    /// STUN and TURN servers the relay hands out, waiting a little for the first grant so the
    /// first dials can use a relay); `notes` hears of the steps that wait. A first start that
    /// fails before the member has a shell forgets the key it made, so a retry (with another
    /// passphrase) starts afresh.
    pub async fn start(self, notes: impl FnMut(Startup)) -> Result<Started, StartError> {
        let mut webrtc = self.options.webrtc.clone();
        let given = webrtc.ice_servers.clone();
        webrtc.connect_timeout = WEBRTC_CONNECT_TIMEOUT;
        let me = self.identity.peer_id().to_string();
        let first = given.clone();
        let started = self
            .start_on(notes, move |signal| {
                let net = WebRtcTransport::new(signal.transport(), me, webrtc);
                let mut grants = signal.ice_servers();
                async move {
                    let _ = tokio::time::timeout(FIRST_ICE_GRANT, grants.changed()).await;
                    use_ice_grant(&net, &first, &grants.borrow_and_update());
                    net
                }
            })
            .await?;
        let watcher = started.node.clone();
        let mut grants = started.node.signal().ice_servers();
        started.node.spawn(async move {
            // The grant in force now (it may have changed since the first was used), then
            // each new one.
            loop {
                let grant = grants.borrow_and_update().clone();
                use_ice_grant(watcher.transport(), &given, &grant);
                if grants.changed().await.is_err() {
                    return;
                }
            }
        });
        Ok(started)
    }

    /// [`Opening::start`] over the transport `transport` makes from the member's relay client
    /// (its addresses are peer ids as text): the in-memory backend, for one.
    pub async fn start_on<T, F, Fut>(
        self,
        notes: impl FnMut(Startup),
        transport: F,
    ) -> Result<Started<T>, StartError>
    where
        T: Transport + 'static,
        F: FnOnce(&SignalClient) -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        let (folder, new_key) = (self.folder.clone(), self.new_key);
        let started = self.run(notes, transport).await;
        if started.is_err() && new_key && folder.genesis().ok().flatten().is_none() {
            folder.forget_key();
        }
        started
    }

    async fn run<T, F, Fut>(
        self,
        mut notes: impl FnMut(Startup),
        transport: F,
    ) -> Result<Started<T>, StartError>
    where
        T: Transport + 'static,
        F: FnOnce(&SignalClient) -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        let Opening {
            folder,
            lock,
            identity,
            shell,
            join,
            relays,
            options,
            ..
        } = self;
        let (url, fallback_urls) = match relays.split_first() {
            Some((first, rest)) => (first.clone(), rest.to_vec()),
            None => (DEFAULT_RELAY.to_owned(), Vec::new()),
        };
        let client = ClientOptions {
            fallback_urls,
            ..options.client
        };
        let (genesis, chain, inviter) = match (shell, join) {
            (Some((genesis, chain)), _) => (genesis, chain, None),
            (None, Some((code, timeout))) => {
                let genesis = code.invite().genesis().clone();
                let (chain, inviter) =
                    join_shell(&url, &client, &identity, &code, timeout, &mut notes).await?;
                folder.set_shell(&genesis, &chain).map_err(StartError::Io)?;
                notes(Startup::Joined {
                    inviter,
                    shell: genesis.id(),
                });
                (genesis, chain, Some(inviter))
            }
            (None, None) => return Err(StartError::Refused("no shell to run".to_owned())),
        };
        folder.set_relays(&relays).map_err(StartError::Io)?;
        let shell = Shell {
            phonebook: folder.phonebook(&genesis).map_err(StartError::Io)?,
            ledger: folder.ledger().map_err(StartError::Io)?,
            settings: {
                let mut settings = folder.settings().map_err(StartError::Io)?;
                settings.approval |= options.approval;
                settings
            },
            genesis: genesis.clone(),
            chain: chain.clone(),
        };
        let config = Config {
            share: options.folders.share.is_some(),
            receive: options.folders.receive.is_some(),
            invite_hints: relay_hints_text(&relays),
            ..options.config
        };
        let member = Member::new(another(&identity), shell, config, wall_clock(), OsRng)
            .map_err(StartError::NotAdmitted)?;
        // A member with a shell starts while no relay answers, and keeps trying.
        let client = ClientOptions {
            start_unreachable: true,
            ..client
        };
        let signal = SignalClient::connect(
            &url,
            another(&identity),
            Credentials::Member { genesis, chain },
            client,
        )
        .await
        .map_err(|e| StartError::Relay(e.to_string()))?;
        if signal.status() == Status::Connecting {
            notes(Startup::RelayWaiting { url: url.clone() });
        }
        let net = transport(&signal).await;
        let folders = Folders {
            versions: Some(folder.path(VERSIONS)),
            hold: Some(folder.path(INCOMING)),
            ..options.folders
        };
        let (node, events) = Node::start(member, net, signal, folders, folder.clone());
        if let Some(inviter) = inviter {
            node.with_member(|m, t| m.reach(inviter, t));
        }
        Ok(Started {
            node,
            events,
            inviter,
            relays,
            folder,
            lock,
        })
    }
}

/// Uses the relay's STUN and TURN servers besides the given ones.
fn use_ice_grant(net: &WebRtcNet, given: &[IceServer], grant: &IceGrant) {
    let mut servers = given.to_vec();
    for s in &grant.servers {
        for url in &s.urls {
            let server = IceServer {
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
    if let Err(e) = net.set_ice_servers(servers) {
        tracing::warn!(error = %e, "cannot use the relay's ICE servers");
    }
}

/// Joins the shell of `invite` through the relay at `url`: connects as the invite's guest,
/// sends the join request to the inviter until it answers, and returns the granted chain and
/// the inviter.
async fn join_shell(
    url: &str,
    client: &ClientOptions,
    identity: &Identity,
    invite: &InviteCode,
    timeout: Duration,
    notes: &mut impl FnMut(Startup),
) -> Result<(TokenChain, PeerId), StartError> {
    let mut joiner =
        Joiner::new(identity, invite.clone(), wall_clock(), timeout).map_err(StartError::Join)?;
    let inviter = joiner.inviter();
    let guest = SignalClient::connect(
        url,
        another(identity),
        Credentials::Guest {
            request: joiner.request().clone(),
        },
        client.clone(),
    )
    .await
    .map_err(|e| StartError::Relay(e.to_string()))?;
    let chain = loop {
        if let Err(e) = joiner.handle_timeout(wall_clock()) {
            guest.close();
            return Err(StartError::Join(e));
        }
        if let Some(blob) = joiner.poll_transmit(wall_clock()) {
            let _ = guest.send_app(&inviter, &blob);
        }
        let wait = Duration::from_millis(
            joiner
                .poll_timeout()
                .as_millis()
                .saturating_sub(wall_clock().as_millis()),
        );
        tokio::select! {
            answer = guest.recv_app() => {
                let Some((from, blob)) = answer else {
                    return Err(StartError::Relay("it closed the connection".to_owned()));
                };
                match joiner.handle_relay(from, &blob, wall_clock()) {
                    Ok(Some(chain)) => break chain,
                    Ok(None) => {}
                    Err(e) => {
                        guest.close();
                        return Err(StartError::Join(e));
                    }
                }
            }
            notice = guest.next_notice() => {
                if let Some(n) = notice {
                    if n.code == NoticeCode::Unreachable
                        && n.peer.is_some_and(|p| joiner.handle_unreachable(p))
                    {
                        notes(Startup::JoinWaiting { inviter, timeout });
                    }
                }
            }
            () = tokio::time::sleep(wait) => {}
        }
    };
    guest.close();
    Ok((chain, inviter))
}

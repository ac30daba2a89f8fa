//! A member of a shell for hosts: started from its data folder over WebRTC and a relay,
//! commanded by calls, heard from by polling typed events. Everything the member does runs on
//! the runtime's threads; nothing calls back into the host.

use std::ffi::c_char;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::syncshell_identity::{InviteCode, InviteOptions, PeerId, Role};
use ::syncshell_member::{
    ChatKind, Config, Event, FirstStart, FolderLock, Folders, Key, Node, Opening, StartError,
    StartOptions, Started, Startup, WebRtcNet,
};
use ::syncshell_signal::ClientOptions;
use tokio::sync::mpsc;
use zeroize::Zeroizing;

use crate::args::{self, Out};
use crate::buffer::{new_bytes, syncshell_bytes};
use crate::handle::{self, lock, object};
use crate::identity::{put, put_bytes};
use crate::runtime::{
    config_snapshot, runtime, syncshell_runtime, syncshell_webrtc_config, Runtime,
};
use crate::status::{boundary, syncshell_status, syncshell_status as S, Failure, Outcome};

/// A handle to the settings of a member to start (its data folder, key, shell, relays,
/// folders).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(non_camel_case_types)]
pub struct syncshell_member_options {
    /// The handle's value; 0 names no object.
    pub h: u64,
}
/// A handle to a running member.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(non_camel_case_types)]
pub struct syncshell_member {
    /// The handle's value; 0 names no object.
    pub h: u64,
}
/// A handle to one event of a member.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(non_camel_case_types)]
pub struct syncshell_member_event {
    /// The handle's value; 0 names no object.
    pub h: u64,
}
handle::raw_handles!(
    syncshell_member_options,
    syncshell_member,
    syncshell_member_event
);

/// The member runs: `peer` is its id, `text` the shell's id.
pub const SYNCSHELL_MEMBER_EVENT_READY: u32 = 1;
/// The start failed and the member stopped: `text` says why, value 0 is the status the
/// failure maps to.
pub const SYNCSHELL_MEMBER_EVENT_START_FAILED: u32 = 2;
/// The join waits for the inviter `peer` to come online; value 0 is the join's timeout in
/// milliseconds.
pub const SYNCSHELL_MEMBER_EVENT_JOIN_WAITING: u32 = 3;
/// The join succeeded: `peer` is the inviter, `text` the shell's id.
pub const SYNCSHELL_MEMBER_EVENT_JOINED: u32 = 4;
/// No relay answers yet; the member keeps trying: `text` is the relay's URL.
pub const SYNCSHELL_MEMBER_EVENT_RELAY_WAITING: u32 = 5;
/// The relay admitted the member (again).
pub const SYNCSHELL_MEMBER_EVENT_RELAY_UP: u32 = 6;
/// A link to `peer` (`name`) is up. Values: 0 whether this member dialled (0/1), 1 the
/// peer's role (0 member, 1 admin, 2 owner), 2 the handshake's milliseconds, 3 the
/// round-trip time in microseconds (0: not measured yet). `text` is the network path
/// (`direct host 10.0.0.2:5000 -> srflx 203.0.113.9:6000`, or with `relay`), or empty.
pub const SYNCSHELL_MEMBER_EVENT_LINK_UP: u32 = 7;
/// The link to `peer` (`name`) ended: `text` says why (`closed`, `revoked`, `expired`, `no
/// answer`, `overloaded`, `stale`).
pub const SYNCSHELL_MEMBER_EVENT_LINK_DOWN: u32 = 8;
/// A connection's handshake failed: `text` says why; value 0 whether this member dialled.
pub const SYNCSHELL_MEMBER_EVENT_REFUSED: u32 = 9;
/// A chat line from `peer` (`name`): `text`; value 0 its kind (0 text, 1 typing, 2 presence,
/// whose text is `online` or `away`).
pub const SYNCSHELL_MEMBER_EVENT_CHAT: u32 = 10;
/// `peer` joined with one of this member's invites.
pub const SYNCSHELL_MEMBER_EVENT_ADMITTED: u32 = 11;
/// A join request of `peer` was refused: `text` says why.
pub const SYNCSHELL_MEMBER_EVENT_JOIN_REFUSED: u32 = 12;
/// `peer` failed value 0 times in a row and probably needs a new invite.
pub const SYNCSHELL_MEMBER_EVENT_NEEDS_INVITE: u32 = 13;
/// The shared folder changed: value 0 is its version.
pub const SYNCSHELL_MEMBER_EVENT_SHARE_CHANGED: u32 = 14;
/// A transfer of the shared folder to `peer` started.
pub const SYNCSHELL_MEMBER_EVENT_SENDING: u32 = 15;
/// The shared folder reached `peer`: value 0 files sent, value 1 bytes sent.
pub const SYNCSHELL_MEMBER_EVENT_SENT: u32 = 16;
/// A transfer to `peer` failed (it resumes on the next link): `text` says why.
pub const SYNCSHELL_MEMBER_EVENT_SEND_FAILED: u32 = 17;
/// A transfer from `peer`: value 0 bytes in place, value 1 bytes in all.
pub const SYNCSHELL_MEMBER_EVENT_PROGRESS: u32 = 18;
/// `peer`'s shared folder was received: values 0 files received, 1 files already in place,
/// 2 bytes received, 3 the folder's size.
pub const SYNCSHELL_MEMBER_EVENT_RECEIVED: u32 = 19;
/// A file from `peer` waits for approval (`syncshell_member_approve` or `_deny`): `text` is
/// its path in the receive folder (the sharer's peer id, `/`, its path in the share), value 0
/// its size.
pub const SYNCSHELL_MEMBER_EVENT_WAITING: u32 = 20;
/// Files `peer` removed from its share were moved out of its folder in the receive folder:
/// `text` is their paths in the share, one per line, `name` the folder they were moved into.
pub const SYNCSHELL_MEMBER_EVENT_REMOVED: u32 = 21;
/// A transfer from `peer` failed (its partial files are kept): `text` says why.
pub const SYNCSHELL_MEMBER_EVENT_RECEIVE_FAILED: u32 = 22;
/// Something went wrong that is not about one member: `text` says what.
pub const SYNCSHELL_MEMBER_EVENT_ERROR: u32 = 23;
/// The member stopped for good (revoked, or its token expired): `text` says why. Nothing
/// follows.
pub const SYNCSHELL_MEMBER_EVENT_STOPPED: u32 = 24;

/// Events waiting for the host; beyond this the member's own queue holds them back.
const HOST_EVENTS: usize = 1024;

/// One event, as the accessors read it.
#[derive(Debug, Default)]
pub(crate) struct HostEvent {
    kind: u32,
    peer: Option<PeerId>,
    name: Option<String>,
    text: Option<String>,
    values: [u64; 4],
}
object!(HostEvent, Event);

impl HostEvent {
    fn new(kind: u32) -> Self {
        HostEvent {
            kind,
            ..HostEvent::default()
        }
    }

    fn peer(mut self, peer: PeerId) -> Self {
        self.peer = Some(peer);
        self
    }

    fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    fn values(mut self, values: &[u64]) -> Self {
        for (slot, v) in self.values.iter_mut().zip(values) {
            *slot = *v;
        }
        self
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The host's view of a member's event.
fn host_event(node: &Node<WebRtcNet>, event: Event) -> HostEvent {
    use HostEvent as H;
    match event {
        Event::LinkUp {
            conn,
            peer,
            name,
            initiator,
            role,
            handshake,
        } => {
            let stats = node
                .connection(conn)
                .map(|c| ::syncshell_transport::Connection::stats(&*c));
            let role = match role {
                Role::Member => 0,
                Role::Admin => 1,
                Role::Owner => 2,
            };
            let rtt = stats
                .as_ref()
                .and_then(|s| s.rtt)
                .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
            let path = stats
                .and_then(|s| s.path)
                .map(|p| p.to_string())
                .unwrap_or_default();
            H::new(SYNCSHELL_MEMBER_EVENT_LINK_UP)
                .peer(peer)
                .name(name)
                .text(path)
                .values(&[initiator.into(), role, millis(handshake), rtt])
        }
        Event::LinkDown { peer, name, why } => H::new(SYNCSHELL_MEMBER_EVENT_LINK_DOWN)
            .peer(peer)
            .name(name)
            .text(why.as_str()),
        Event::Refused { initiator, error } => H::new(SYNCSHELL_MEMBER_EVENT_REFUSED)
            .text(error)
            .values(&[initiator.into()]),
        Event::Chat {
            from,
            name,
            kind,
            text,
        } => {
            let kind = match kind {
                ChatKind::Text => 0,
                ChatKind::Typing => 1,
                ChatKind::Presence => 2,
            };
            H::new(SYNCSHELL_MEMBER_EVENT_CHAT)
                .peer(from)
                .name(name)
                .text(text)
                .values(&[kind])
        }
        Event::Admitted { peer } => H::new(SYNCSHELL_MEMBER_EVENT_ADMITTED).peer(peer),
        Event::JoinRefused { peer, error } => H::new(SYNCSHELL_MEMBER_EVENT_JOIN_REFUSED)
            .peer(peer)
            .text(error),
        Event::NeedsInvite { peer, failures } => H::new(SYNCSHELL_MEMBER_EVENT_NEEDS_INVITE)
            .peer(peer)
            .values(&[failures.into()]),
        Event::RelayUp => H::new(SYNCSHELL_MEMBER_EVENT_RELAY_UP),
        Event::ShareChanged { version } => {
            H::new(SYNCSHELL_MEMBER_EVENT_SHARE_CHANGED).values(&[version])
        }
        Event::Sending { to } => H::new(SYNCSHELL_MEMBER_EVENT_SENDING).peer(to),
        Event::Sent { to, files, bytes } => H::new(SYNCSHELL_MEMBER_EVENT_SENT)
            .peer(to)
            .values(&[files as u64, bytes]),
        Event::SendFailed { to, error } => H::new(SYNCSHELL_MEMBER_EVENT_SEND_FAILED)
            .peer(to)
            .text(error),
        Event::Progress { from, done, total } => H::new(SYNCSHELL_MEMBER_EVENT_PROGRESS)
            .peer(from)
            .values(&[done, total]),
        Event::Received {
            from,
            files_received,
            files_present,
            bytes_received,
            total,
        } => H::new(SYNCSHELL_MEMBER_EVENT_RECEIVED).peer(from).values(&[
            files_received as u64,
            files_present as u64,
            bytes_received,
            total,
        ]),
        Event::Waiting {
            from, path, size, ..
        } => H::new(SYNCSHELL_MEMBER_EVENT_WAITING)
            .peer(from)
            .text(path)
            .values(&[size]),
        Event::Removed {
            from,
            paths,
            folder,
        } => H::new(SYNCSHELL_MEMBER_EVENT_REMOVED)
            .peer(from)
            .text(paths.join("\n"))
            .name(folder.display().to_string()),
        Event::ReceiveFailed { from, error } => H::new(SYNCSHELL_MEMBER_EVENT_RECEIVE_FAILED)
            .peer(from)
            .text(error),
        Event::Error { message } => H::new(SYNCSHELL_MEMBER_EVENT_ERROR).text(message),
        // A kind this version does not know yet.
        #[allow(unreachable_patterns)]
        other => H::new(SYNCSHELL_MEMBER_EVENT_ERROR).text(format!("{other:?}")),
    }
}

fn startup_event(note: Startup) -> HostEvent {
    use HostEvent as H;
    match note {
        Startup::JoinWaiting { inviter, timeout } => H::new(SYNCSHELL_MEMBER_EVENT_JOIN_WAITING)
            .peer(inviter)
            .values(&[millis(timeout)]),
        Startup::Joined { inviter, shell } => H::new(SYNCSHELL_MEMBER_EVENT_JOINED)
            .peer(inviter)
            .text(shell.to_string()),
        Startup::RelayWaiting { url } => H::new(SYNCSHELL_MEMBER_EVENT_RELAY_WAITING).text(url),
        #[allow(unreachable_patterns)]
        other => H::new(SYNCSHELL_MEMBER_EVENT_ERROR).text(format!("{other:?}")),
    }
}

/// The status a failed start maps to.
fn start_failure(e: StartError) -> Failure {
    let message = e.to_string();
    let status = match e {
        StartError::Locked(_) | StartError::Refused(_) => S::SYNCSHELL_ERR_STATE,
        StartError::Io(_) => S::SYNCSHELL_ERR_IO,
        StartError::Key(_, inner) => Failure::from(inner).status,
        StartError::Join(inner) | StartError::NotAdmitted(inner) => Failure::from(inner).status,
        StartError::Relay(_) => S::SYNCSHELL_ERR_TRANSPORT,
        _ => S::SYNCSHELL_ERR_STATE,
    };
    Failure::new(status, message)
}

/// What a start is given, set call by call.
#[derive(Debug, Default)]
pub(crate) struct MemberOptions {
    data: PathBuf,
    passphrase: Option<Zeroizing<Vec<u8>>>,
    secret: Option<Zeroizing<[u8; 32]>>,
    create: Option<String>,
    join: Option<(InviteCode, Duration)>,
    relays: Vec<String>,
    ca_file: Option<PathBuf>,
    name: String,
    share: Option<PathBuf>,
    receive: Option<PathBuf>,
    approval: bool,
    webrtc: Option<::syncshell_webrtc::WebRtcConfig>,
}
object!(Mutex<MemberOptions>, MemberOptions);

/// Where a member is in its life.
#[derive(Debug)]
enum Phase {
    /// The network part of the start runs.
    Starting,
    /// The member runs.
    Running(Node<WebRtcNet>, FolderLock),
    /// The member stopped (or never started).
    Stopped,
}

/// A member as its handle holds it.
pub(crate) struct MemberObject {
    runtime: Arc<Runtime>,
    peer: PeerId,
    phase: Arc<Mutex<Phase>>,
    events: Mutex<mpsc::Receiver<HostEvent>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}
object!(MemberObject, Member);

impl MemberObject {
    fn node(&self) -> Outcome<Node<WebRtcNet>> {
        match &*lock(&self.phase)? {
            Phase::Running(node, _) => Ok(node.clone()),
            Phase::Starting => Err(Failure::new(
                S::SYNCSHELL_ERR_STATE,
                "the member is still starting (wait for SYNCSHELL_MEMBER_EVENT_READY)",
            )),
            Phase::Stopped => Err(Failure::new(S::SYNCSHELL_ERR_CLOSED, "the member stopped")),
        }
    }

    /// Runs `f` on the running node, within the runtime (commands start tasks).
    fn with<R>(&self, f: impl FnOnce(&Node<WebRtcNet>) -> Outcome<R>) -> Outcome<R> {
        let node = self.node()?;
        let _guard = self.runtime.handle()?.enter();
        f(&node)
    }

    /// Stops the member: its node's tasks, connections and relay client, waiting at most
    /// `timeout_ms` for them.
    pub(crate) fn stop(&self, timeout_ms: u32) -> Outcome {
        if let Some(task) = lock(&self.task)?.take() {
            task.abort();
        }
        let phase = std::mem::replace(&mut *lock(&self.phase)?, Phase::Stopped);
        if let Phase::Running(node, folder_lock) = phase {
            self.runtime
                .block_on(timeout_ms, async move { node.shutdown().await })?;
            drop(folder_lock);
        }
        Ok(())
    }
}

impl Drop for MemberObject {
    fn drop(&mut self) {
        // Best effort: a member freed without a stop ends its tasks too.
        if let Ok(mut task) = self.task.lock() {
            if let Some(task) = task.take() {
                task.abort();
            }
        }
        if let Ok(mut phase) = self.phase.lock() {
            if let Phase::Running(node, _) = std::mem::replace(&mut *phase, Phase::Stopped) {
                if let Ok(h) = self.runtime.handle() {
                    h.spawn(async move { node.shutdown().await });
                }
            }
        }
    }
}

fn options(handle: syncshell_member_options) -> Outcome<Arc<Mutex<MemberOptions>>> {
    handle::get::<Mutex<MemberOptions>>(handle)
}

fn member(handle: syncshell_member) -> Outcome<Arc<MemberObject>> {
    handle::get::<MemberObject>(handle)
}

fn invalid(message: impl Into<String>) -> Failure {
    Failure::new(S::SYNCSHELL_ERR_INVALID_ARGUMENT, message)
}

/// New member settings for the data folder `data_dir` (made if missing). Give a key
/// (`_set_passphrase` or `_set_secret`), then create a shell, join one, or resume the one
/// the folder holds (the default).
///
/// # Safety
/// `data_dir` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn syncshell_member_options_new(
    data_dir: *const c_char,
    out_options: *mut syncshell_member_options,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_options, "out_options")?;
        // SAFETY: the caller's promise.
        let dir = unsafe { args::text(data_dir, "data_dir") }?;
        if dir.is_empty() {
            return Err(invalid("data_dir is empty"));
        }
        put(
            out,
            Mutex::new(MemberOptions {
                data: PathBuf::from(dir),
                ..MemberOptions::default()
            }),
        )
    })
}

/// The key is the data folder's key file, sealed with this passphrase (made on the first
/// start; opening it takes about a second on purpose).
///
/// # Safety
/// `passphrase` must point to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn syncshell_member_options_set_passphrase(
    options: syncshell_member_options,
    passphrase: *const u8,
    len: usize,
) -> syncshell_status {
    boundary(|| {
        // SAFETY: the caller's promise.
        let bytes = unsafe { args::bytes(passphrase, len, "passphrase") }?;
        let options = self::options(options)?;
        let mut o = lock(&options)?;
        o.passphrase = Some(Zeroizing::new(bytes.to_vec()));
        o.secret = None;
        Ok(())
    })
}

/// The key is this 32-byte secret, which the host keeps (for example under DPAPI): the
/// folder gets no key file.
///
/// # Safety
/// `secret` must point to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn syncshell_member_options_set_secret(
    options: syncshell_member_options,
    secret: *const u8,
    len: usize,
) -> syncshell_status {
    boundary(|| {
        // SAFETY: the caller's promise.
        let secret = Zeroizing::new(unsafe { args::array::<32>(secret, len, "secret") }?);
        let options = self::options(options)?;
        let mut o = lock(&options)?;
        o.secret = Some(secret);
        o.passphrase = None;
        Ok(())
    })
}

/// Creates a shell named `shell_name` on start (the folder must hold none).
///
/// # Safety
/// `shell_name` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn syncshell_member_options_create_shell(
    options: syncshell_member_options,
    shell_name: *const c_char,
) -> syncshell_status {
    boundary(|| {
        // SAFETY: the caller's promise.
        let name = unsafe { args::text(shell_name, "shell_name") }?;
        let options = self::options(options)?;
        let mut o = lock(&options)?;
        o.create = Some(name.to_owned());
        o.join = None;
        Ok(())
    })
}

/// Joins the shell of `invite_text` on start, waiting up to `timeout_ms` for the inviter
/// (0: 120 s). The relays the invite names are used unless `_add_relay` gives others.
///
/// # Safety
/// `invite_text` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn syncshell_member_options_join(
    options: syncshell_member_options,
    invite_text: *const c_char,
    timeout_ms: u32,
) -> syncshell_status {
    boundary(|| {
        // SAFETY: the caller's promise.
        let text = unsafe { args::text(invite_text, "invite_text") }?;
        let code = text.trim().parse::<InviteCode>()?;
        let timeout = Duration::from_millis(if timeout_ms == 0 {
            120_000
        } else {
            timeout_ms.into()
        });
        let options = self::options(options)?;
        let mut o = lock(&options)?;
        o.join = Some((code, timeout));
        o.create = None;
        Ok(())
    })
}

/// Adds a relay (`ws://` or `wss://` URL), tried in the order added. Without one: the
/// relays the folder used last, else those the invite names, else ws://127.0.0.1:7447/.
///
/// # Safety
/// `url` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn syncshell_member_options_add_relay(
    options: syncshell_member_options,
    url: *const c_char,
) -> syncshell_status {
    boundary(|| {
        // SAFETY: the caller's promise.
        let url = unsafe { args::text(url, "url") }?;
        if !(url.starts_with("ws://") || url.starts_with("wss://")) {
            return Err(invalid(format!("{url:?} is not a ws:// or wss:// URL")));
        }
        lock(&*self::options(options)?)?.relays.push(url.to_owned());
        Ok(())
    })
}

/// Trusts the CA certificates of this PEM file for `wss://` relays, besides the system's.
///
/// # Safety
/// `pem_path` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn syncshell_member_options_set_ca_file(
    options: syncshell_member_options,
    pem_path: *const c_char,
) -> syncshell_status {
    boundary(|| {
        // SAFETY: the caller's promise.
        let path = unsafe { args::text(pem_path, "pem_path") }?;
        lock(&*self::options(options)?)?.ca_file = Some(PathBuf::from(path));
        Ok(())
    })
}

/// Sets the display name the member shows in the phonebook.
///
/// # Safety
/// `name` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn syncshell_member_options_set_name(
    options: syncshell_member_options,
    name: *const c_char,
) -> syncshell_status {
    boundary(|| {
        // SAFETY: the caller's promise.
        let name = unsafe { args::text(name, "name") }?;
        lock(&*self::options(options)?)?.name = name.to_owned();
        Ok(())
    })
}

/// Shares the folder `path` with members that receive (it must exist), watching it for
/// changes.
///
/// # Safety
/// `path` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn syncshell_member_options_set_share(
    options: syncshell_member_options,
    path: *const c_char,
) -> syncshell_status {
    boundary(|| {
        // SAFETY: the caller's promise.
        let path = unsafe { args::text(path, "path") }?;
        lock(&*self::options(options)?)?.share = Some(PathBuf::from(path));
        Ok(())
    })
}

/// Receives members' shared folders into the folder `path`, each sharer's into a folder
/// of its own named by the sharer's peer id (`path/peer-…/`).
///
/// # Safety
/// `path` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn syncshell_member_options_set_receive(
    options: syncshell_member_options,
    path: *const c_char,
) -> syncshell_status {
    boundary(|| {
        // SAFETY: the caller's promise.
        let path = unsafe { args::text(path, "path") }?;
        lock(&*self::options(options)?)?.receive = Some(PathBuf::from(path));
        Ok(())
    })
}

/// Turns the approval step on at start: received files wait (SYNCSHELL_MEMBER_EVENT_WAITING)
/// until approved or denied. It stays on across restarts until `syncshell_member_set_approval`
/// turns it off.
#[no_mangle]
pub extern "C" fn syncshell_member_options_set_approval(
    options: syncshell_member_options,
    on: bool,
) -> syncshell_status {
    boundary(|| {
        lock(&*self::options(options)?)?.approval = on;
        Ok(())
    })
}

/// Uses these WebRTC settings (copied; by default: 127.0.0.1 only, and the STUN and TURN
/// servers the relay hands out).
#[no_mangle]
pub extern "C" fn syncshell_member_options_set_webrtc(
    options: syncshell_member_options,
    config: syncshell_webrtc_config,
) -> syncshell_status {
    boundary(|| {
        let config = config_snapshot(config)?;
        lock(&*self::options(options)?)?.webrtc = Some(config);
        Ok(())
    })
}

/// Frees member settings.
#[no_mangle]
pub extern "C" fn syncshell_member_options_free(
    options: syncshell_member_options,
) -> syncshell_status {
    boundary(|| handle::remove::<Mutex<MemberOptions>>(options))
}

/// Starts a member on `runtime`. The local part runs in this call: the data folder is
/// locked (`SYNCSHELL_ERR_STATE` while another process uses it), the key opened
/// (`SYNCSHELL_ERR_WRONG_PASSPHRASE`) or made, the shell created or checked. The rest — the
/// join, the relay — runs on the runtime and reports through `syncshell_member_poll_event`:
/// `SYNCSHELL_MEMBER_EVENT_READY`, or `SYNCSHELL_MEMBER_EVENT_START_FAILED`.
#[no_mangle]
pub extern "C" fn syncshell_member_start(
    runtime: syncshell_runtime,
    options: syncshell_member_options,
    out_member: *mut syncshell_member,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_member, "out_member")?;
        let runtime = self::runtime(runtime)?;
        let start = {
            let options = self::options(options)?;
            let o = lock(&options)?;
            let key = match (&o.passphrase, &o.secret) {
                (_, Some(secret)) => Key::Secret(secret.clone()),
                (Some(p), None) => Key::Passphrase(p.clone()),
                (None, None) => {
                    return Err(Failure::new(
                        S::SYNCSHELL_ERR_STATE,
                        "no key: call syncshell_member_options_set_passphrase or _set_secret",
                    ))
                }
            };
            let first = match (&o.create, &o.join) {
                (Some(name), _) => FirstStart::Create(name.clone()),
                (None, Some((code, timeout))) => FirstStart::Join(Box::new(code.clone()), *timeout),
                (None, None) => FirstStart::Resume,
            };
            StartOptions {
                data: o.data.clone(),
                key,
                first,
                relays: o.relays.clone(),
                client: ClientOptions {
                    ca_file: o.ca_file.clone(),
                    ..ClientOptions::default()
                },
                webrtc: o.webrtc.clone().unwrap_or_default(),
                config: Config {
                    name: o.name.clone(),
                    ..Config::default()
                },
                folders: Folders {
                    share: o.share.clone(),
                    receive: o.receive.clone(),
                    ..Folders::default()
                },
                approval: o.approval,
            }
        };
        let opening = {
            let _guard = runtime.handle()?.enter();
            Opening::open(start).map_err(start_failure)?
        };
        let peer = opening.peer_id();
        let (tx, rx) = mpsc::channel(HOST_EVENTS);
        let phase = Arc::new(Mutex::new(Phase::Starting));
        let task = runtime
            .handle()?
            .spawn(run(opening, tx, Arc::clone(&phase)));
        put(
            out,
            MemberObject {
                runtime,
                peer,
                phase,
                events: Mutex::new(rx),
                task: Mutex::new(Some(task)),
            },
        )
    })
}

/// The member's life on the runtime: the start, then its events until it stops.
async fn run(opening: Opening, tx: mpsc::Sender<HostEvent>, phase: Arc<Mutex<Phase>>) {
    let peer = opening.peer_id();
    let notes = tx.clone();
    let started = opening
        .start(move |note| {
            let _ = notes.try_send(startup_event(note));
        })
        .await;
    let set = |p: Phase| {
        if let Ok(mut phase) = phase.lock() {
            *phase = p;
        }
    };
    let Started {
        node,
        mut events,
        lock,
        ..
    } = match started {
        Ok(started) => started,
        Err(e) => {
            let failure = start_failure(e);
            set(Phase::Stopped);
            let _ = tx
                .send(
                    HostEvent::new(SYNCSHELL_MEMBER_EVENT_START_FAILED)
                        .text(failure.message)
                        .values(&[failure.status as u64]),
                )
                .await;
            return;
        }
    };
    let shell = node.with_member(|m, _| m.genesis().id());
    set(Phase::Running(node.clone(), lock));
    let _ = tx
        .send(
            HostEvent::new(SYNCSHELL_MEMBER_EVENT_READY)
                .peer(peer)
                .text(shell.to_string()),
        )
        .await;
    let lost = node.relay_lost();
    tokio::pin!(lost);
    let mut watching = true;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(e) => {
                    if tx.send(host_event(&node, e)).await.is_err() {
                        return;
                    }
                }
                None => return,
            },
            (_, end) = &mut lost, if watching => {
                watching = false;
                if let Some(why) = end {
                    node.shutdown().await;
                    set(Phase::Stopped);
                    let _ = tx.send(HostEvent::new(SYNCSHELL_MEMBER_EVENT_STOPPED).text(why)).await;
                    return;
                }
            }
        }
    }
}

/// Waits up to `timeout_ms` for the member's next event and writes a handle to it
/// (free it with `syncshell_member_event_free`). `SYNCSHELL_ERR_TIMEOUT` when none came (0 does not
/// wait); `SYNCSHELL_ERR_CLOSED` once the member stopped and every event was taken. Call it
/// from one thread (a plugin: once per framework tick, with timeout 0, until it times out).
#[no_mangle]
pub extern "C" fn syncshell_member_poll_event(
    member: syncshell_member,
    timeout_ms: u32,
    out_event: *mut syncshell_member_event,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_event, "out_event")?;
        let member = self::member(member)?;
        let mut events = lock(&member.events)?;
        let event = match events.try_recv() {
            Ok(e) => Some(e),
            Err(mpsc::error::TryRecvError::Disconnected) => None,
            Err(mpsc::error::TryRecvError::Empty) if timeout_ms == 0 => {
                return Err(Failure::new(S::SYNCSHELL_ERR_TIMEOUT, "no event yet"))
            }
            Err(mpsc::error::TryRecvError::Empty) => {
                member.runtime.block_on(timeout_ms, events.recv())?
            }
        };
        match event {
            Some(e) => put(out, e),
            None => Err(Failure::new(
                S::SYNCSHELL_ERR_CLOSED,
                "the member stopped; no more events",
            )),
        }
    })
}

/// Writes the event's kind (`SYNCSHELL_MEMBER_EVENT_*`) to `*out_kind`.
#[no_mangle]
pub extern "C" fn syncshell_member_event_kind(
    event: syncshell_member_event,
    out_kind: *mut u32,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_kind, "out_kind")?;
        out.write(handle::get::<HostEvent>(event)?.kind);
        Ok(())
    })
}

fn text_out(out: Out<syncshell_bytes>, text: Option<&str>) -> Outcome {
    match text {
        Some(t) => put_bytes(out, t.as_bytes()),
        None => {
            out.write(syncshell_bytes::default());
            Ok(())
        }
    }
}

/// Writes the id (text) of the member the event is about as new bytes, or 0 when it names
/// none.
#[no_mangle]
pub extern "C" fn syncshell_member_event_peer(
    event: syncshell_member_event,
    out_peer: *mut syncshell_bytes,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_peer, "out_peer")?;
        let event = handle::get::<HostEvent>(event)?;
        text_out(out, event.peer.map(|p| p.to_string()).as_deref())
    })
}

/// Writes the name of the member the event is about (its phonebook name) as new UTF-8
/// bytes, or 0 when the event has none. Names come from other members: show them as text,
/// never interpret them.
#[no_mangle]
pub extern "C" fn syncshell_member_event_name(
    event: syncshell_member_event,
    out_name: *mut syncshell_bytes,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_name, "out_name")?;
        text_out(out, handle::get::<HostEvent>(event)?.name.as_deref())
    })
}

/// Writes the event's text (a chat line, a path, why something failed; see its kind) as
/// new UTF-8 bytes, or 0 when it has none.
#[no_mangle]
pub extern "C" fn syncshell_member_event_text(
    event: syncshell_member_event,
    out_text: *mut syncshell_bytes,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_text, "out_text")?;
        text_out(out, handle::get::<HostEvent>(event)?.text.as_deref())
    })
}

/// Writes the event's value `index` (0 to 3; their meaning depends on the kind, unused ones
/// are 0) to `*out_value`.
#[no_mangle]
pub extern "C" fn syncshell_member_event_value(
    event: syncshell_member_event,
    index: u32,
    out_value: *mut u64,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_value, "out_value")?;
        let event = handle::get::<HostEvent>(event)?;
        let value = event
            .values
            .get(index as usize)
            .ok_or_else(|| invalid(format!("value index {index} is over 3")))?;
        out.write(*value);
        Ok(())
    })
}

/// Frees an event handle.
#[no_mangle]
pub extern "C" fn syncshell_member_event_free(event: syncshell_member_event) -> syncshell_status {
    boundary(|| handle::remove::<HostEvent>(event))
}

/// Writes the member's id (text) as new bytes.
#[no_mangle]
pub extern "C" fn syncshell_member_peer_id(
    member: syncshell_member,
    out_peer: *mut syncshell_bytes,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_peer, "out_peer")?;
        put_bytes(out, self::member(member)?.peer.to_string().as_bytes())
    })
}

/// Writes the number of members linked now to `*out_count`.
#[no_mangle]
pub extern "C" fn syncshell_member_link_count(
    member: syncshell_member,
    out_count: *mut usize,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_count, "out_count")?;
        let count =
            self::member(member)?.with(|node| Ok(node.with_member(|m, _| m.links().count())))?;
        out.write(count);
        Ok(())
    })
}

/// Writes a new invite's text (UTF-8 bytes, secret: give it to one person) for `role`
/// (0 member, 1 admin), usable `max_uses` times (0: once) for `valid_for_ms` (0: 30 minutes).
/// The member must be an admin or the owner (`SYNCSHELL_ERR_NOT_ALLOWED`).
#[no_mangle]
pub extern "C" fn syncshell_member_invite(
    member: syncshell_member,
    role: u32,
    max_uses: u32,
    valid_for_ms: u64,
    out_text: *mut syncshell_bytes,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_text, "out_text")?;
        let member = self::member(member)?;
        let role = match role {
            0 => Role::Member,
            1 => Role::Admin,
            other => return Err(invalid(format!("role {other}: 0 (member) or 1 (admin)"))),
        };
        let mut options = InviteOptions {
            role,
            ..InviteOptions::default()
        };
        if max_uses != 0 {
            options.max_uses = max_uses;
        }
        if valid_for_ms != 0 {
            options.validity = Duration::from_millis(valid_for_ms);
        }
        let code = member.with(|node| Ok(node.with_member(|m, t| m.invite(options, t))?))?;
        out.write(new_bytes(code.to_text().as_bytes())?);
        Ok(())
    })
}

/// The member `who` names: a display name, an id, or the start of one.
///
/// # Safety
/// `who` must be a NUL-terminated string.
unsafe fn find(node: &Node<WebRtcNet>, who: *const c_char) -> Outcome<PeerId> {
    // SAFETY: forwarded from the caller.
    let who = unsafe { args::text(who, "who") }?;
    Ok(node.with_member(|m, t| m.find_member(who.trim(), t))?)
}

/// Revokes the member `who` (a display name, an id, or the start of one) for good: every
/// member drops its links, the relay refuses it. The member must be an admin or the owner.
///
/// # Safety
/// `who` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn syncshell_member_revoke(
    member: syncshell_member,
    who: *const c_char,
) -> syncshell_status {
    boundary(|| {
        self::member(member)?.with(|node| {
            // SAFETY: the caller's promise.
            let peer = unsafe { find(node, who) }?;
            Ok(node.with_member(|m, t| m.revoke(peer, t))?)
        })
    })
}

/// Sends a chat line to every linked member; writes how many it went to.
///
/// # Safety
/// `text` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn syncshell_member_say(
    member: syncshell_member,
    text: *const c_char,
    out_count: *mut usize,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_count, "out_count")?;
        // SAFETY: the caller's promise.
        let text = unsafe { args::text(text, "text") }?;
        let count = self::member(member)?
            .with(|node| Ok(node.with_member(|m, _| m.chat(ChatKind::Text, text))?))?;
        out.write(count);
        Ok(())
    })
}

/// Pauses (`pause` true) or resumes transfers, of every member (`who` NULL) or of the member
/// `who` names. Kept across restarts.
///
/// # Safety
/// `who` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn syncshell_member_pause(
    member: syncshell_member,
    who: *const c_char,
    pause: bool,
) -> syncshell_status {
    boundary(|| {
        self::member(member)?.with(|node| {
            let peer = if who.is_null() {
                None
            } else {
                // SAFETY: the caller's promise.
                Some(unsafe { find(node, who) }?)
            };
            node.with_member(|m, t| {
                if pause {
                    m.pause(peer, t);
                } else {
                    m.resume(peer, t);
                }
            });
            Ok(())
        })
    })
}

/// Sets one bandwidth budget, in bytes per second, for all outgoing transfers (0: none).
/// Kept across restarts.
#[no_mangle]
pub extern "C" fn syncshell_member_set_budget(
    member: syncshell_member,
    bytes_per_second: u64,
) -> syncshell_status {
    boundary(|| {
        self::member(member)?.with(|node| {
            node.with_member(|m, _| {
                m.set_budget((bytes_per_second != 0).then_some(bytes_per_second))
            });
            Ok(())
        })
    })
}

/// Turns the approval step on or off (kept across restarts).
#[no_mangle]
pub extern "C" fn syncshell_member_set_approval(
    member: syncshell_member,
    on: bool,
) -> syncshell_status {
    boundary(|| {
        self::member(member)?.with(|node| {
            node.with_member(|m, _| m.set_approval(on));
            Ok(())
        })
    })
}

/// Approves (`approve` true) the received file waiting at `path` (as its
/// SYNCSHELL_MEMBER_EVENT_WAITING named it): it moves into the receive folder. Or denies it: it is
/// deleted and its content refused for good (across restarts). `SYNCSHELL_ERR_INVALID_ARGUMENT`
/// when no file waits there. Waits at most `timeout_ms` for the file to move.
///
/// # Safety
/// `path` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn syncshell_member_decide(
    member: syncshell_member,
    path: *const c_char,
    approve: bool,
    timeout_ms: u32,
) -> syncshell_status {
    boundary(|| {
        // SAFETY: the caller's promise.
        let path = unsafe { args::text(path, "path") }?;
        let member = self::member(member)?;
        let node = member.node()?;
        let done = member.runtime.block_on(timeout_ms, async {
            if approve {
                node.approve(path).await
            } else {
                node.deny(path).await
            }
        })?;
        match done {
            Ok(true) => Ok(()),
            Ok(false) => Err(invalid(format!("no received file waits at {path:?}"))),
            Err(e) => Err(Failure::new(S::SYNCSHELL_ERR_IO, e)),
        }
    })
}

/// Stops the member: its links, transfers and relay connection end (waiting at most
/// `timeout_ms`), and its data folder is released. Events already queued can still be
/// polled; then `syncshell_member_poll_event` says `SYNCSHELL_ERR_CLOSED`.
#[no_mangle]
pub extern "C" fn syncshell_member_stop(
    member: syncshell_member,
    timeout_ms: u32,
) -> syncshell_status {
    boundary(|| self::member(member)?.stop(timeout_ms))
}

/// Frees a member handle, stopping the member if it runs (without waiting: call
/// `syncshell_member_stop` first to wait).
#[no_mangle]
pub extern "C" fn syncshell_member_free(member: syncshell_member) -> syncshell_status {
    boundary(|| handle::remove::<MemberObject>(member))
}

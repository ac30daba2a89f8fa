//! `webrtc-peer`: one WebRTC peer that signals through plain SDP JSON files
//! (`{"type":"offer","sdp":"..."}`), so any standard WebRTC stack can be the other side.
//!
//! ```text
//! webrtc-peer offer  --offer-out PATH --answer-in PATH  [options]
//! webrtc-peer answer --offer-in PATH  --answer-out PATH [options]
//! ```
//!
//! Offers and answers carry every ICE candidate (no trickle). Only `--bind` (default
//! `127.0.0.1`) is used for ICE; mDNS is off and no STUN or TURN server is contacted.
//!
//! - `--echo` sends every message received on any data channel back on that channel, with the
//!   same type (text or binary);
//! - `--send FILE` opens a reliable, ordered channel labelled `file`, sends the file as binary
//!   messages of at most 16 KiB, waits until the peer has acknowledged every byte and closes
//!   the channel;
//! - `--recv-dir DIR` writes the bytes of a channel labelled `file` that the peer opens to
//!   `DIR/file-<channel id>`, and finishes when the peer closes it;
//! - `--timeout SECS` (default 60) bounds the whole run.
//!
//! One JSON line is printed per finished transfer
//! (`{"channel","direction","bytes","blake3","seconds"}`, plus `path` for received files).
//! The exit status is 0 once everything asked for is done (or, with nothing to do, once the
//! peer has closed), non-zero with a message on standard error otherwise.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::ffi::OsString;
use std::fmt::Display;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use clap::{Args, Parser, Subcommand};
use rtc::ice::mdns::MulticastDnsMode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceGatheringState, RTCPeerConnectionState, RTCSessionDescription, SettingEngineBuilder,
};
use webrtc::runtime::TokioRuntime;

/// The largest message `--send` sends.
const CHUNK: usize = 16 * 1024;
/// Bytes a channel may have sent but not yet acknowledged before `send` waits.
const SEND_BUFFER: usize = 1024 * 1024;
/// The label of file channels.
const FILE_LABEL: &str = "file";
/// The label of the channel an offer without `--send` opens, so that its SDP has a data
/// section and the answerer can open channels too.
const CONTROL_LABEL: &str = "control";
/// How long a sender waits for the peer to finish the close it started.
const LINGER: Duration = Duration::from_secs(2);
/// How often a signaling file is looked for.
const POLL: Duration = Duration::from_millis(100);

#[derive(Parser, Debug)]
#[command(
    name = "webrtc-peer",
    about = "A WebRTC data-channel peer that signals through SDP JSON files"
)]
struct Cli {
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand, Debug)]
enum Role {
    /// Write an offer, then wait for the answer file.
    Offer {
        /// Where to write the offer.
        #[arg(long, value_name = "PATH")]
        offer_out: PathBuf,
        /// The answer file to wait for.
        #[arg(long, value_name = "PATH")]
        answer_in: PathBuf,
        #[command(flatten)]
        opts: Opts,
    },
    /// Wait for the offer file, then write the answer.
    Answer {
        /// The offer file to wait for.
        #[arg(long, value_name = "PATH")]
        offer_in: PathBuf,
        /// Where to write the answer.
        #[arg(long, value_name = "PATH")]
        answer_out: PathBuf,
        #[command(flatten)]
        opts: Opts,
    },
}

#[derive(Args, Debug, Clone)]
struct Opts {
    /// The only address used for ICE.
    #[arg(long, value_name = "IP", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
    /// Send every received message back on its channel, with the same type.
    #[arg(long)]
    echo: bool,
    /// Send this file on a channel labelled `file`, then close the channel.
    #[arg(long, value_name = "FILE")]
    send: Option<PathBuf>,
    /// Write what arrives on a channel labelled `file` to a file in this directory.
    #[arg(long, value_name = "DIR")]
    recv_dir: Option<PathBuf>,
    /// Seconds the whole run may take.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    timeout: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("webrtc-peer: error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("webrtc-peer: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn ctx<E: Display>(what: &'static str) -> impl FnOnce(E) -> String {
    move |e| format!("{what}: {e}")
}

/// What the peer connection's handler and the channel tasks report to the main loop.
enum Ev {
    State(RTCPeerConnectionState),
    Channel(Arc<dyn DataChannel>),
    /// A channel task ended (the channel closed, or broke and `Failed` was sent before).
    ChannelEnded,
    Sent(Transfer),
    Received(Transfer),
    Failed(String),
}

struct Transfer {
    channel: String,
    bytes: u64,
    blake3: String,
    seconds: f64,
    path: Option<PathBuf>,
}

impl Transfer {
    fn print(&self, direction: &str) {
        let mut line = serde_json::json!({
            "channel": self.channel,
            "direction": direction,
            "bytes": self.bytes,
            "blake3": self.blake3,
            "seconds": self.seconds,
        });
        if let (Some(path), Some(obj)) = (&self.path, line.as_object_mut()) {
            obj.insert(
                "path".to_owned(),
                serde_json::Value::String(path.display().to_string()),
            );
        }
        println!("{line}");
    }
}

struct Handler {
    tx: mpsc::UnboundedSender<Ev>,
    gathered: watch::Sender<bool>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    // Runs on the connection's driver task: forwards, never waits.
    async fn on_ice_gathering_state_change(&self, s: RTCIceGatheringState) {
        if s == RTCIceGatheringState::Complete {
            self.gathered.send_replace(true);
        }
    }

    async fn on_connection_state_change(&self, s: RTCPeerConnectionState) {
        let _ = self.tx.send(Ev::State(s));
    }

    async fn on_data_channel(&self, dc: Arc<dyn DataChannel>) {
        // Keep the Arc: dropping it unregisters the channel's events.
        let _ = self.tx.send(Ev::Channel(dc));
    }
}

/// Per-channel flags set by the channel's only poller.
#[derive(Clone)]
struct ChannelFlags {
    opened: watch::Sender<bool>,
    closed: watch::Sender<bool>,
}

impl ChannelFlags {
    fn new() -> Self {
        ChannelFlags {
            opened: watch::channel(false).0,
            closed: watch::channel(false).0,
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let opts = match &cli.role {
        Role::Offer { opts, .. } | Role::Answer { opts, .. } => opts.clone(),
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(opts.timeout);
    if let Some(file) = &opts.send {
        tokio::fs::metadata(file)
            .await
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    }
    if let Some(dir) = &opts.recv_dir {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }

    let (tx, mut rx) = mpsc::unbounded_channel();
    let gathered = watch::channel(false).0;
    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build()) // no ICE servers
        .with_setting_engine(
            SettingEngineBuilder::new()
                // The default (QueryOnly) opens a multicast socket on :5353.
                .with_multicast_dns_mode(MulticastDnsMode::Disabled)
                .build(),
        )
        .with_runtime(Arc::new(TokioRuntime))
        .with_handler(Arc::new(Handler {
            tx: tx.clone(),
            gathered: gathered.clone(),
        }))
        .with_udp_addrs(vec![SocketAddr::new(opts.bind, 0).to_string()])
        .with_data_channel_send_buffer_limit(SEND_BUFFER)
        .build()
        .await
        .map_err(ctx("cannot create the peer connection"))?;
    let pc: Arc<dyn PeerConnection> = Arc::new(pc);

    let result = session(&pc, &cli.role, &opts, &tx, &mut rx, &gathered, deadline).await;
    let closed = tokio::time::timeout(Duration::from_secs(5), pc.close()).await;
    result?;
    match closed {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("closing the peer connection: {e}")),
        Err(_) => Err("closing the peer connection timed out".to_owned()),
    }
}

/// Applies our offer or answer, waits until every ICE candidate is gathered (non-trickle),
/// and writes the resulting SDP to `path` as `{"type": kind, "sdp": ...}`.
async fn publish(
    pc: &Arc<dyn PeerConnection>,
    description: RTCSessionDescription,
    kind: &'static str,
    path: &Path,
    gathered: &watch::Sender<bool>,
    deadline: tokio::time::Instant,
    opts: &Opts,
) -> Result<(), String> {
    pc.set_local_description(description)
        .await
        .map_err(|e| format!("cannot apply the {kind}: {e}"))?;
    wait_gathered(gathered, deadline).await.ok_or_else(|| {
        format!(
            "timed out after {} s gathering ICE candidates",
            opts.timeout
        )
    })?;
    let sdp = pc
        .local_description()
        .await
        .ok_or_else(|| format!("the {kind} vanished"))?
        .sdp;
    write_sdp(path, kind, &sdp).await
}

/// Everything between building the peer connection and closing it.
async fn session(
    pc: &Arc<dyn PeerConnection>,
    role: &Role,
    opts: &Opts,
    tx: &mpsc::UnboundedSender<Ev>,
    rx: &mut mpsc::UnboundedReceiver<Ev>,
    gathered: &watch::Sender<bool>,
    deadline: tokio::time::Instant,
) -> Result<(), String> {
    let mut live_channels = 0usize;
    let timeout_msg = |what: &str| format!("timed out after {} s {what}", opts.timeout);

    match role {
        Role::Offer {
            offer_out,
            answer_in,
            ..
        } => {
            // A channel before the offer gives the SDP its data section.
            let label = if opts.send.is_some() {
                FILE_LABEL
            } else {
                CONTROL_LABEL
            };
            let dc = pc
                .create_data_channel(label, None)
                .await
                .map_err(ctx("cannot create a data channel"))?;
            start_local_channel(dc, label, opts, tx);
            live_channels += 1;
            let offer = pc
                .create_offer(None)
                .await
                .map_err(ctx("cannot create the offer"))?;
            publish(pc, offer, "offer", offer_out, gathered, deadline, opts).await?;
            let answer = read_sdp(answer_in, "answer", deadline, opts.timeout).await?;
            let answer = RTCSessionDescription::answer(answer).map_err(ctx("bad answer"))?;
            pc.set_remote_description(answer)
                .await
                .map_err(ctx("cannot apply the answer"))?;
        }
        Role::Answer {
            offer_in,
            answer_out,
            ..
        } => {
            let offer = read_sdp(offer_in, "offer", deadline, opts.timeout).await?;
            let offer = RTCSessionDescription::offer(offer).map_err(ctx("bad offer"))?;
            pc.set_remote_description(offer)
                .await
                .map_err(ctx("cannot apply the offer"))?;
            let answer = pc
                .create_answer(None)
                .await
                .map_err(ctx("cannot create the answer"))?;
            publish(pc, answer, "answer", answer_out, gathered, deadline, opts).await?;
            if opts.send.is_some() {
                // Opened in band once the association is up.
                let dc = pc.create_data_channel(FILE_LABEL, None).await.map_err(ctx(
                    "cannot create a data channel (does the offer have a data section?)",
                ))?;
                start_local_channel(dc, FILE_LABEL, opts, tx);
                live_channels += 1;
            }
        }
    }

    let has_work = opts.send.is_some() || opts.recv_dir.is_some();
    let (mut sent, mut received, mut connected) = (false, false, false);
    loop {
        if has_work && (sent || opts.send.is_none()) && (received || opts.recv_dir.is_none()) {
            break;
        }
        let ev = tokio::select! {
            ev = rx.recv() => ev,
            () = tokio::time::sleep_until(deadline) => {
                let what = if !connected {
                    "connecting"
                } else if opts.send.is_some() && !sent {
                    "sending"
                } else if opts.recv_dir.is_some() && !received {
                    "receiving"
                } else {
                    "waiting for the peer to close"
                };
                return Err(timeout_msg(what));
            }
        };
        match ev.ok_or("event queue ended")? {
            Ev::State(RTCPeerConnectionState::Connected) => connected = true,
            Ev::State(RTCPeerConnectionState::Failed) => {
                return Err("the connection failed".to_owned())
            }
            Ev::State(
                s @ (RTCPeerConnectionState::Disconnected | RTCPeerConnectionState::Closed),
            ) => {
                if has_work {
                    return Err(format!(
                        "the connection became {s} before the transfer finished"
                    ));
                }
                return Ok(()); // the peer closed
            }
            Ev::State(_) => {}
            Ev::Channel(dc) => {
                let label = dc.label().await.unwrap_or_default();
                tokio::spawn(serve_channel(
                    dc,
                    label,
                    true,
                    opts.clone(),
                    ChannelFlags::new(),
                    tx.clone(),
                ));
                live_channels += 1;
            }
            Ev::ChannelEnded => {
                live_channels = live_channels.saturating_sub(1);
                if !has_work && live_channels == 0 {
                    return Ok(()); // the peer closed every channel
                }
            }
            Ev::Sent(t) => {
                t.print("sent");
                sent = true;
            }
            Ev::Received(t) => {
                t.print("received");
                received = true;
            }
            Ev::Failed(e) => return Err(e),
        }
    }

    if opts.send.is_some() {
        // Give the peer a moment to take what it was sent and close first.
        let linger = tokio::time::Instant::now() + LINGER;
        loop {
            let ev = tokio::select! {
                ev = rx.recv() => ev,
                () = tokio::time::sleep_until(linger.min(deadline)) => break,
            };
            match ev {
                Some(Ev::State(
                    RTCPeerConnectionState::Disconnected
                    | RTCPeerConnectionState::Closed
                    | RTCPeerConnectionState::Failed,
                ))
                | None => break,
                Some(Ev::Received(t)) => t.print("received"),
                Some(_) => {}
            }
        }
    }
    Ok(())
}

/// Starts the poller of a channel we created, and its sender if it is the file channel.
fn start_local_channel(
    dc: Arc<dyn DataChannel>,
    label: &str,
    opts: &Opts,
    tx: &mpsc::UnboundedSender<Ev>,
) {
    let flags = ChannelFlags::new();
    if let (FILE_LABEL, Some(file)) = (label, &opts.send) {
        let (dc, file, flags, tx) = (dc.clone(), file.clone(), flags.clone(), tx.clone());
        tokio::spawn(async move {
            let ev = match send_file(&dc, &file, &flags).await {
                Ok(t) => Ev::Sent(t),
                Err(e) => Ev::Failed(e),
            };
            let _ = tx.send(ev);
        });
    }
    tokio::spawn(serve_channel(
        dc,
        label.to_owned(),
        false,
        opts.clone(),
        flags,
        tx.clone(),
    ));
}

async fn wait_gathered(
    gathered: &watch::Sender<bool>,
    deadline: tokio::time::Instant,
) -> Option<()> {
    let mut rx = gathered.subscribe();
    let done = tokio::time::timeout_at(deadline, async { rx.wait_for(|g| *g).await.is_ok() })
        .await
        .unwrap_or(false);
    done.then_some(())
}

/// Writes `{"type":kind,"sdp":sdp}` to `path` in one step (through a temporary file).
async fn write_sdp(path: &Path, kind: &str, sdp: &str) -> Result<(), String> {
    let json = serde_json::json!({ "type": kind, "sdp": sdp }).to_string();
    let mut tmp = OsString::from(path.as_os_str());
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    tokio::fs::write(&tmp, json)
        .await
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    tokio::fs::rename(&tmp, path)
        .await
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Waits for `path` to hold a complete `{"type":kind,"sdp":...}` and returns the SDP.
async fn read_sdp(
    path: &Path,
    kind: &str,
    deadline: tokio::time::Instant,
    timeout: u64,
) -> Result<String, String> {
    let mut last = "it does not exist".to_owned();
    loop {
        match tokio::fs::read_to_string(path).await {
            Ok(text) => match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(v) => {
                    let found = v.get("type").and_then(|t| t.as_str()).unwrap_or_default();
                    if found != kind {
                        return Err(format!(
                            "{} has type {found:?}, expected {kind:?}",
                            path.display()
                        ));
                    }
                    return match v.get("sdp").and_then(|s| s.as_str()) {
                        Some(sdp) if !sdp.is_empty() => Ok(sdp.to_owned()),
                        _ => Err(format!("{} has no \"sdp\" string", path.display())),
                    };
                }
                // Possibly still being written.
                Err(e) => last = format!("it is not complete JSON ({e})"),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => last = e.to_string(),
        }
        if tokio::time::Instant::now() + POLL > deadline {
            return Err(format!(
                "timed out after {timeout} s waiting for the {kind} in {}: {last}",
                path.display()
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Sends the file in messages of at most [`CHUNK`] bytes, waits until the peer acknowledged
/// them all, and closes the channel.
async fn send_file(
    dc: &Arc<dyn DataChannel>,
    path: &Path,
    flags: &ChannelFlags,
) -> Result<Transfer, String> {
    let mut opened = flags.opened.subscribe();
    opened
        .wait_for(|o| *o)
        .await
        .map_err(|_| "the file channel ended before it opened".to_owned())?;
    let start = Instant::now();
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut hasher = blake3::Hasher::new();
    let mut bytes = 0u64;
    loop {
        let mut buf = BytesMut::zeroed(CHUNK);
        let n = file
            .read(&mut buf)
            .await
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        buf.truncate(n);
        hasher.update(&buf);
        dc.send(buf)
            .await
            .map_err(ctx("sending on the file channel"))?;
        bytes += n as u64;
    }
    // Every byte acknowledged by the peer before the close.
    while dc
        .outstanding_bytes()
        .await
        .map_err(ctx("sending on the file channel"))?
        > 0
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seconds = start.elapsed().as_secs_f64();
    dc.close().await.map_err(ctx("closing the file channel"))?;
    let mut closed = flags.closed.subscribe();
    let _ = tokio::time::timeout(LINGER, closed.wait_for(|c| *c)).await;
    Ok(Transfer {
        channel: FILE_LABEL.to_owned(),
        bytes,
        blake3: hasher.finalize().to_hex().to_string(),
        seconds,
        path: None,
    })
}

/// Where a received file goes.
struct Sink {
    file: tokio::io::BufWriter<tokio::fs::File>,
    path: PathBuf,
    hasher: blake3::Hasher,
    bytes: u64,
    start: Instant,
}

/// The only poller of one channel: opens and closes, echo, and received files.
async fn serve_channel(
    dc: Arc<dyn DataChannel>,
    label: String,
    remote: bool,
    opts: Opts,
    flags: ChannelFlags,
    tx: mpsc::UnboundedSender<Ev>,
) {
    match serve(&dc, &label, remote, &opts, &flags).await {
        Ok(Some(t)) => {
            let _ = tx.send(Ev::Received(t));
        }
        Ok(None) => {}
        Err(e) => {
            let _ = tx.send(Ev::Failed(e));
        }
    }
    let _ = tx.send(Ev::ChannelEnded);
}

async fn serve(
    dc: &Arc<dyn DataChannel>,
    label: &str,
    remote: bool,
    opts: &Opts,
    flags: &ChannelFlags,
) -> Result<Option<Transfer>, String> {
    let mut sink = None;
    if let (true, FILE_LABEL, Some(dir)) = (remote, label, &opts.recv_dir) {
        let path = dir.join(format!("file-{}", dc.id()));
        let file = tokio::fs::File::create(&path)
            .await
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        sink = Some(Sink {
            file: tokio::io::BufWriter::with_capacity(256 * 1024, file),
            path,
            hasher: blake3::Hasher::new(),
            bytes: 0,
            start: Instant::now(),
        });
    }
    let mut echo = opts.echo;
    while let Some(ev) = dc.poll().await {
        match ev {
            DataChannelEvent::OnOpen => {
                flags.opened.send_replace(true);
            }
            DataChannelEvent::OnMessage(m) => {
                if let Some(s) = sink.as_mut() {
                    s.file
                        .write_all(&m.data)
                        .await
                        .map_err(|e| format!("cannot write {}: {e}", s.path.display()))?;
                    s.hasher.update(&m.data);
                    s.bytes += m.data.len() as u64;
                }
                if echo {
                    let sent = if m.is_string {
                        match std::str::from_utf8(&m.data) {
                            Ok(text) => dc.send_text(text).await,
                            Err(_) => Ok(()), // not text after all: nothing sensible to echo
                        }
                    } else {
                        dc.send(m.data).await
                    };
                    if let Err(e) = sent {
                        // Typically the channel is closing; stop echoing on it.
                        eprintln!("webrtc-peer: echo on channel {label:?} stopped: {e}");
                        echo = false;
                    }
                }
            }
            DataChannelEvent::OnClose => {
                flags.closed.send_replace(true);
                let Some(mut s) = sink else {
                    return Ok(None);
                };
                s.file
                    .flush()
                    .await
                    .map_err(|e| format!("cannot write {}: {e}", s.path.display()))?;
                return Ok(Some(Transfer {
                    channel: label.to_owned(),
                    bytes: s.bytes,
                    blake3: s.hasher.finalize().to_hex().to_string(),
                    seconds: s.start.elapsed().as_secs_f64(),
                    path: Some(s.path),
                }));
            }
            _ => {}
        }
    }
    flags.closed.send_replace(true);
    match sink {
        Some(_) => Err(format!(
            "channel {label:?} ended without a close: the connection broke"
        )),
        None => Ok(None),
    }
}

//! Encrypted, resumable folder transfers: over a connection, or as frames the host carries.

use std::ffi::c_char;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use ::syncshell_stream::{
    receive_folder, send_folder, MessageConnection, Progress, ReceiveOptions, ReceiverConfig,
    SendOptions, SessionKey,
};
use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::args::{self, Out};
use crate::buffer::syncshell_bytes;
use crate::handle::{self, lock, object};
use crate::identity::{peer_arg, put, put_bytes};
use crate::runtime::{runtime, syncshell_runtime, Runtime};
use crate::status::{boundary, syncshell_status, syncshell_status as S, Failure, Outcome};
use crate::transport::{connection, syncshell_connection, Inbound};

/// A handle to a transfer in progress (sending or receiving one folder).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(non_camel_case_types)]
pub struct syncshell_transfer {
    /// The handle's value; 0 names no object.
    pub h: u64,
}
handle::raw_handles!(syncshell_transfer);

/// Frames queued between the host and a transfer in each direction.
const FRAME_QUEUE: usize = 64;

/// A transfer's messages over a transport connection, until the host stops the transfer.
struct ConnectionWire {
    conn: crate::transport::Conn,
    inbox: Arc<tokio::sync::Mutex<mpsc::Receiver<Inbound>>>,
    stop: watch::Receiver<bool>,
}

fn io_error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::BrokenPipe, e.to_string())
}

fn stopped() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::Interrupted,
        "the host stopped the transfer",
    )
}

impl MessageConnection for ConnectionWire {
    async fn send(&mut self, message: Vec<u8>) -> std::io::Result<()> {
        tokio::select! {
            sent = self.conn.send(Bytes::from(message)) => sent.map_err(io_error),
            _ = self.stop.wait_for(|s| *s) => Err(stopped()),
        }
    }

    async fn recv(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let inbox = Arc::clone(&self.inbox);
        let mut inbox = tokio::select! {
            inbox = inbox.lock() => inbox,
            _ = self.stop.wait_for(|s| *s) => return Err(stopped()),
        };
        tokio::select! {
            item = inbox.recv() => match item {
                Some(Ok(Some(message))) => Ok(Some(message.to_vec())),
                Some(Ok(None)) | None => Ok(None),
                Some(Err(e)) => Err(io_error(e)),
            },
            _ = self.stop.wait_for(|s| *s) => Err(stopped()),
        }
    }
}

/// A transfer's frames to and from the host.
struct HostWire {
    to_host: mpsc::Sender<Vec<u8>>,
    from_host: mpsc::Receiver<Vec<u8>>,
}

impl MessageConnection for HostWire {
    async fn send(&mut self, message: Vec<u8>) -> std::io::Result<()> {
        self.to_host.send(message).await.map_err(io_error)
    }

    async fn recv(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        Ok(self.from_host.recv().await)
    }
}

/// The host's ends of a [`HostWire`].
struct Frames {
    to_host: tokio::sync::Mutex<mpsc::Receiver<Vec<u8>>>,
    from_host: mpsc::Sender<Vec<u8>>,
}

pub(crate) struct TransferObject {
    runtime: Arc<Runtime>,
    task: Mutex<Option<JoinHandle<Outcome>>>,
    outcome: Mutex<Option<(syncshell_status, String)>>,
    progress: watch::Receiver<Progress>,
    frames: Option<Frames>,
    stop: watch::Sender<bool>,
}
object!(TransferObject, Transfer);

/// How long freeing a running transfer waits for it to stop by itself.
const STOP_WAIT_MS: u32 = 5_000;

impl Drop for TransferObject {
    fn drop(&mut self) {
        let Some(mut task) = self.task.get_mut().ok().and_then(Option::take) else {
            return;
        };
        // Stop it the way a lost connection would, so it ends through its own error path
        // (a receiver lets its last write land), and wait for that; abort only a transfer
        // that does not stop in time.
        self.stop.send_replace(true);
        drop(self.frames.take());
        if self.runtime.block_on(STOP_WAIT_MS, &mut task).is_err() {
            task.abort();
        }
    }
}

enum Direction {
    Send(PathBuf),
    /// Into a folder, from a sender (whose partial files may be resumed), at most this many
    /// bytes (0: the default limit).
    Receive(PathBuf, Option<[u8; 32]>, u64),
}

/// Starts `direction` over `wire` on `runtime`; `done` runs when the task ends.
fn spawn<W: MessageConnection + 'static>(
    runtime: Arc<Runtime>,
    mut wire: W,
    stop: watch::Sender<bool>,
    key: SessionKey,
    direction: Direction,
    frames: Option<Frames>,
    done: impl FnOnce() + Send + 'static,
) -> Outcome<TransferObject> {
    let (progress_tx, progress) = watch::channel(Progress::default());
    let task = runtime.handle()?.spawn(async move {
        let result = match direction {
            Direction::Send(folder) => {
                let options = SendOptions {
                    progress: Some(progress_tx),
                    ..SendOptions::default()
                };
                send_folder(&mut wire, &key, &folder, &options)
                    .await
                    .map(drop)
            }
            Direction::Receive(folder, sender, max_total_size) => {
                let mut options = ReceiveOptions {
                    progress: Some(progress_tx),
                    sender,
                    ..ReceiveOptions::default()
                };
                if max_total_size != 0 {
                    options.config = ReceiverConfig::with_max_total_size(max_total_size);
                }
                receive_folder(&mut wire, &key, &folder, &options)
                    .await
                    .map(drop)
            }
        };
        done();
        result.map_err(Failure::from)
    });
    Ok(TransferObject {
        runtime,
        task: Mutex::new(Some(task)),
        outcome: Mutex::new(None),
        progress,
        frames,
        stop,
    })
}

/// Reads a 32-byte key and a folder path.
///
/// # Safety
/// As [`args::array`] and [`args::text`].
unsafe fn key_and_folder(
    key: *const u8,
    key_len: usize,
    folder: *const c_char,
) -> Outcome<(SessionKey, PathBuf)> {
    // SAFETY: forwarded from the caller.
    let (mut bytes, folder) = unsafe {
        (
            args::array::<32>(key, key_len, "key")?,
            args::text(folder, "folder")?,
        )
    };
    let key = SessionKey::from_bytes(bytes);
    // `from_bytes` took a copy; wipe this one.
    zeroize::Zeroize::zeroize(&mut bytes);
    Ok((key, PathBuf::from(folder)))
}

/// Reads the sender of a receive: a peer id's text form, or NULL for an unknown sender.
///
/// # Safety
/// As [`peer_arg`], except that NULL is allowed.
unsafe fn sender(sender: *const c_char) -> Outcome<Option<[u8; 32]>> {
    if sender.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded from the caller.
    Ok(Some(*unsafe { peer_arg(sender, "sender") }?.as_bytes()))
}

fn over_connection(
    connection: syncshell_connection,
    key: SessionKey,
    direction: Direction,
) -> Outcome<TransferObject> {
    let c = self::connection(connection)?;
    if c.busy.swap(true, Ordering::AcqRel) {
        return Err(Failure::new(
            S::SYNCSHELL_ERR_STATE,
            "a transfer is using this connection already",
        ));
    }
    let (stop, stop_rx) = watch::channel(false);
    let wire = ConnectionWire {
        conn: c.conn.clone(),
        inbox: Arc::clone(&c.inbox),
        stop: stop_rx,
    };
    let busy = Arc::clone(&c.busy);
    let started = spawn(
        Arc::clone(&c.runtime),
        wire,
        stop,
        key,
        direction,
        None,
        move || busy.store(false, Ordering::Release),
    );
    if started.is_err() {
        c.busy.store(false, Ordering::Release);
    }
    started
}

fn over_frames(
    runtime: syncshell_runtime,
    key: SessionKey,
    direction: Direction,
) -> Outcome<TransferObject> {
    let runtime = self::runtime(runtime)?;
    let (to_host_tx, to_host_rx) = mpsc::channel(FRAME_QUEUE);
    let (from_host_tx, from_host_rx) = mpsc::channel(FRAME_QUEUE);
    let wire = HostWire {
        to_host: to_host_tx,
        from_host: from_host_rx,
    };
    let frames = Frames {
        to_host: tokio::sync::Mutex::new(to_host_rx),
        from_host: from_host_tx,
    };
    // Dropping the host's ends of the frames stops this kind of transfer.
    let (stop, _) = watch::channel(false);
    spawn(runtime, wire, stop, key, direction, Some(frames), || {})
}

/// Starts sending `folder` over `connection`, encrypted under `key` (32 bytes, the
/// handshake's session key). The peer runs `syncshell_transfer_receive` on its end. While
/// the transfer runs, the connection refuses other sends and receives.
///
/// # Safety
/// `key` must point to `key_len` bytes; `folder` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn syncshell_transfer_send(
    connection: syncshell_connection,
    key: *const u8,
    key_len: usize,
    folder: *const c_char,
    out_transfer: *mut syncshell_transfer,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_transfer, "out_transfer")?;
        // SAFETY: the caller's promise.
        let (key, folder) = unsafe { key_and_folder(key, key_len, folder) }?;
        put(
            out,
            over_connection(connection, key, Direction::Send(folder))?,
        )
    })
}

/// Starts receiving into `folder` over `connection` from `sender`: the peer id (text, as
/// `syncshell_handshake_peer` writes it) of the peer at the other end, whose handshake gave
/// `key`. Files already there are not sent again, and partial files that an interrupted
/// transfer from the same sender left (in `folder/.syncshell-partial`) are resumed, also
/// under a new session key; another sender's partial files are never resumed, so one member
/// cannot plant a prefix that fails another's transfer. With `sender` NULL (unknown) nothing
/// is resumed, and this transfer's partial files are deleted if it fails. A file appears in
/// `folder` only once its BLAKE3 hash matched. Offers larger than `max_total_size` bytes
/// (0: 16 GiB) are refused. A `sender` that is not a peer id is `SYNCSHELL_ERR_DECODE`.
///
/// # Safety
/// `key` must point to `key_len` bytes; `sender` must be NULL or a NUL-terminated string;
/// `folder` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn syncshell_transfer_receive(
    connection: syncshell_connection,
    key: *const u8,
    key_len: usize,
    sender: *const c_char,
    folder: *const c_char,
    max_total_size: u64,
    out_transfer: *mut syncshell_transfer,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_transfer, "out_transfer")?;
        // SAFETY: the caller's promise.
        let (key, folder) = unsafe { key_and_folder(key, key_len, folder) }?;
        // SAFETY: the caller's promise.
        let sender = unsafe { self::sender(sender) }?;
        let direction = Direction::Receive(folder, sender, max_total_size);
        put(out, over_connection(connection, key, direction)?)
    })
}

/// Like `syncshell_transfer_send`, but the host carries the frames: take them with
/// `syncshell_transfer_next_frame`, deliver the peer's with `syncshell_transfer_handle_frame`.
///
/// # Safety
/// `key` must point to `key_len` bytes; `folder` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn syncshell_transfer_send_frames(
    runtime: syncshell_runtime,
    key: *const u8,
    key_len: usize,
    folder: *const c_char,
    out_transfer: *mut syncshell_transfer,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_transfer, "out_transfer")?;
        // SAFETY: the caller's promise.
        let (key, folder) = unsafe { key_and_folder(key, key_len, folder) }?;
        put(out, over_frames(runtime, key, Direction::Send(folder))?)
    })
}

/// Like `syncshell_transfer_receive`, but the host carries the frames. `sender` names the
/// peer they come from, as there: partial files are resumed only for the same sender.
///
/// # Safety
/// `key` must point to `key_len` bytes; `sender` must be NULL or a NUL-terminated string;
/// `folder` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn syncshell_transfer_receive_frames(
    runtime: syncshell_runtime,
    key: *const u8,
    key_len: usize,
    sender: *const c_char,
    folder: *const c_char,
    max_total_size: u64,
    out_transfer: *mut syncshell_transfer,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_transfer, "out_transfer")?;
        // SAFETY: the caller's promise.
        let (key, folder) = unsafe { key_and_folder(key, key_len, folder) }?;
        // SAFETY: the caller's promise.
        let sender = unsafe { self::sender(sender) }?;
        let direction = Direction::Receive(folder, sender, max_total_size);
        put(out, over_frames(runtime, key, direction)?)
    })
}

fn frames(transfer: &TransferObject) -> Outcome<&Frames> {
    transfer.frames.as_ref().ok_or_else(|| {
        Failure::new(
            S::SYNCSHELL_ERR_STATE,
            "this transfer runs over a connection, not host-carried frames",
        )
    })
}

/// Waits up to `timeout_ms` (0: just look) for the next frame to send to the peer and
/// writes it as new bytes. `SYNCSHELL_ERR_TIMEOUT` if none is ready; `SYNCSHELL_ERR_CLOSED`
/// once the transfer has ended and every frame was taken.
#[no_mangle]
pub extern "C" fn syncshell_transfer_next_frame(
    transfer: syncshell_transfer,
    timeout_ms: u32,
    out_frame: *mut syncshell_bytes,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_frame, "out_frame")?;
        let transfer = handle::get::<TransferObject>(transfer)?;
        let frames = self::frames(&transfer)?;
        let frame = transfer
            .runtime
            .block_on(timeout_ms, async {
                frames.to_host.lock().await.recv().await
            })?
            .ok_or_else(|| Failure::new(S::SYNCSHELL_ERR_CLOSED, "the transfer has ended"))?;
        put_bytes(out, frame)
    })
}

/// Delivers one frame from the peer. `SYNCSHELL_ERR_WOULD_BLOCK` if 64 frames wait already
/// (take frames with `syncshell_transfer_next_frame`, then retry); `SYNCSHELL_ERR_CLOSED`
/// once the transfer has ended.
///
/// # Safety
/// `frame` must point to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn syncshell_transfer_handle_frame(
    transfer: syncshell_transfer,
    frame: *const u8,
    len: usize,
) -> syncshell_status {
    boundary(|| {
        // SAFETY: the caller's promise.
        let frame = unsafe { args::bytes(frame, len, "frame") }?;
        let transfer = handle::get::<TransferObject>(transfer)?;
        self::frames(&transfer)?
            .from_host
            .try_send(frame.to_vec())
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => Failure::new(
                    S::SYNCSHELL_ERR_WOULD_BLOCK,
                    "64 frames wait already: take outgoing frames, then retry",
                ),
                mpsc::error::TrySendError::Closed(_) => {
                    Failure::new(S::SYNCSHELL_ERR_CLOSED, "the transfer has ended")
                }
            })
    })
}

/// Writes how far the transfer is: bytes the receiver has (present before, resumed or
/// received) and the total size (0 until the offer is known).
#[no_mangle]
pub extern "C" fn syncshell_transfer_progress(
    transfer: syncshell_transfer,
    out_bytes_done: *mut u64,
    out_bytes_total: *mut u64,
) -> syncshell_status {
    boundary(|| {
        let done = Out::new(out_bytes_done, "out_bytes_done")?;
        let total = Out::new(out_bytes_total, "out_bytes_total")?;
        let progress = *handle::get::<TransferObject>(transfer)?.progress.borrow();
        done.write(progress.bytes_done);
        total.write(progress.bytes_total);
        Ok(())
    })
}

/// Waits up to `timeout_ms` (0: just look) for the transfer to end and returns how it
/// ended: `SYNCSHELL_OK` when the receiver confirmed every file, else the failure (the same
/// on every later call). `SYNCSHELL_ERR_TIMEOUT` while it is still running.
#[no_mangle]
pub extern "C" fn syncshell_transfer_wait(
    transfer: syncshell_transfer,
    timeout_ms: u32,
) -> syncshell_status {
    boundary(|| {
        let transfer = handle::get::<TransferObject>(transfer)?;
        let mut outcome = lock(&transfer.outcome)?;
        if outcome.is_none() {
            let mut task = lock(&transfer.task)?;
            let Some(running) = task.as_mut() else {
                return Err(Failure::new(
                    S::SYNCSHELL_ERR_STATE,
                    "the transfer was stopped",
                ));
            };
            let joined = transfer.runtime.block_on(timeout_ms, running)?;
            *task = None;
            *outcome = Some(match joined {
                Ok(Ok(())) => (S::SYNCSHELL_OK, String::new()),
                Ok(Err(failure)) => (failure.status, failure.message),
                Err(e) => (
                    S::SYNCSHELL_ERR_PANIC,
                    format!("the transfer task ended: {e}"),
                ),
            });
        }
        match outcome.as_ref() {
            Some((S::SYNCSHELL_OK, _)) | None => Ok(()),
            Some((status, message)) => Err(Failure::new(*status, message.clone())),
        }
    })
}

/// Frees a transfer handle. A transfer still running is stopped as a lost connection would
/// stop it, waiting up to 5 s for it to end; a receiver's partial files stay, complete up to
/// its last write, for a later transfer from the same sender into the same folder to resume
/// (a receiver started with a NULL sender deletes them).
#[no_mangle]
pub extern "C" fn syncshell_transfer_free(transfer: syncshell_transfer) -> syncshell_status {
    boundary(|| handle::remove::<TransferObject>(transfer))
}

//! Candidate data-channel stacks, measured over the same shaped paths as
//! [`super::links`]: the evidence for choosing the WebRTC backend's SCTP. Each moves the same
//! 64 KiB messages and reports a [`Transfer`].
//!
//! - [`dcsctp_udp`]: `dcsctp` (the WebRTC project's Rust SCTP) alone, its packets straight in
//!   UDP datagrams (no ICE, no DTLS): the loss recovery and congestion control a stack built on
//!   it would have.
//! - [`str0m()`]: `str0m` 0.24 (sans-IO WebRTC: ICE, DTLS, its SCTP `sctp-proto`) with host
//!   candidates, offer and answer passed in-process, one data channel.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dcsctp::api::{Message, Options, PpId, SendOptions, SocketEvent, SocketTime, StreamId};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;

use super::links::{count, io, message, outcome, Received, Transfer, MESSAGE};
use super::netns::{join, spawn_in};
use super::{Host, LabError};

/// The UDP port both ends use.
const PORT: u16 = 5000;
/// The data channel's stream and payload protocol id (WebRTC binary).
const STREAM: StreamId = StreamId(1);
const PPID_BINARY: PpId = PpId(53);
/// Bytes the sender keeps queued in SCTP, as a data channel's buffered amount.
const QUEUED: usize = 1024 * 1024;
/// Datagrams taken from the socket per wake-up before the state machine runs again.
const BATCH: usize = 64;

/// A UDP socket on `addr:PORT` with `buffer` bytes asked for its receive and send buffers.
fn udp_socket(addr: SocketAddr, buffer: usize) -> Result<UdpSocket, LabError> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)
        .map_err(io("making a UDP socket"))?;
    socket
        .set_recv_buffer_size(buffer)
        .and_then(|()| socket.set_send_buffer_size(buffer))
        .and_then(|()| socket.set_nonblocking(true))
        .and_then(|()| socket.bind(&addr.into()))
        .map_err(io("setting up a UDP socket"))?;
    UdpSocket::from_std(socket.into()).map_err(io("registering a UDP socket"))
}

/// Moves `bytes` (whole 64 KiB messages) from `a` to `b` over dcsctp in UDP, `b`'s receive
/// buffer being `receive_buffer` bytes, and waits at most `limit`. With `pace`, the sender's
/// packets leave no faster than `pace` x congestion window / smoothed RTT (as Linux paces
/// TCP), instead of in the bursts SCTP hands out.
pub fn dcsctp_udp(
    a: &Host,
    b: &Host,
    bytes: u64,
    receive_buffer: usize,
    pace: Option<f64>,
    limit: Duration,
) -> Result<Transfer, LabError> {
    let bytes = count(bytes) * MESSAGE as u64;
    let a_addr = SocketAddr::from((a.addr(), PORT));
    let b_addr = SocketAddr::from((b.addr(), PORT));
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let receiving = spawn_in(b.namespace(), move || async move {
        let udp = udp_socket(b_addr, receive_buffer)?;
        let _ = ready_tx.send(());
        let mut end = End::new("b", udp, a_addr, None);
        let mut got = Received::new();
        let deadline = Instant::now() + limit;
        while got.received < bytes && Instant::now() < deadline {
            end.step(deadline).await?;
            while let Some(m) = end.socket.get_next_message() {
                got.take(&m.payload);
            }
        }
        let _ = done_tx.send(());
        Ok(got)
    });
    // The first INIT must find the receiver's socket, or it waits out INIT's timer.
    let _ = ready_rx.recv();
    let sending = spawn_in(a.namespace(), move || async move {
        let udp = udp_socket(a_addr, 4 * 1024 * 1024)?;
        let mut end = End::new("a", udp, b_addr, pace);
        let start = Instant::now();
        end.socket.connect();
        let deadline = start + limit;
        let mut connect = None;
        let mut first_byte = start;
        let mut next = 0u64;
        let mut done = done_rx;
        while Instant::now() < deadline && done.try_recv().is_err() {
            if connect.is_none() && end.connected {
                connect = Some(start.elapsed());
                first_byte = Instant::now();
            }
            while end.connected
                && next < count(bytes)
                && end.socket.buffered_amount(STREAM) < QUEUED
            {
                let m = Message::new(STREAM, PPID_BINARY, message(next).to_vec());
                if end.socket.send(m, &SendOptions::default()).is_err() {
                    break;
                }
                next += 1;
            }
            end.step(deadline).await?;
        }
        Ok((connect.unwrap_or(limit), first_byte))
    });
    let sent = join(sending);
    let got = join(receiving)?;
    let (connect, first_byte) = sent?;
    Ok(outcome(bytes, connect, first_byte, &got))
}

/// One end: a dcsctp socket, its UDP socket and the peer's address.
struct End {
    socket: Box<dyn dcsctp::api::DcSctpSocket>,
    udp: UdpSocket,
    peer: SocketAddr,
    epoch: Instant,
    connected: bool,
    buf: Vec<u8>,
    /// Pacing: packets wait here and leave at `gain` x cwnd / srtt; `None` sends at once.
    pace: Option<f64>,
    outgoing: std::collections::VecDeque<Vec<u8>>,
    next_send: Instant,
}

impl End {
    fn new(name: &str, udp: UdpSocket, peer: SocketAddr, pace: Option<f64>) -> End {
        let options = Options::default();
        End {
            socket: dcsctp::new_socket(name, &options),
            udp,
            peer,
            epoch: Instant::now(),
            connected: false,
            buf: vec![0u8; 65_536],
            pace,
            outgoing: std::collections::VecDeque::new(),
            next_send: Instant::now(),
        }
    }

    /// Sends queued packets whose time has come; returns when the next one may leave.
    async fn send_paced(&mut self) -> Option<Instant> {
        let rate = self.pace.and_then(|gain| {
            let m = self.socket.get_metrics()?;
            (!m.srtt.is_zero()).then(|| gain * m.cwnd_bytes as f64 / m.srtt.as_secs_f64())
        });
        while let Some(packet) = self.outgoing.front() {
            let now = Instant::now();
            if let Some(rate) = rate {
                if self.next_send > now {
                    return Some(self.next_send);
                }
                let gap = Duration::from_secs_f64(packet.len() as f64 / rate.max(1.0));
                self.next_send = self.next_send.max(now - Duration::from_millis(1)) + gap;
            }
            // A full send buffer loses the packet, as a full queue would.
            let _ = self.udp.send_to(packet, self.peer).await;
            self.outgoing.pop_front();
        }
        None
    }

    fn now(&self) -> SocketTime {
        SocketTime::zero() + self.epoch.elapsed()
    }

    /// Sends what the socket has to send, then waits for a datagram (and takes what else is
    /// there) or the socket's next timeout, whichever is first. Returns at once when the
    /// association has just come up, for the sender to start.
    async fn step(&mut self, deadline: Instant) -> Result<(), LabError> {
        self.socket.advance_time(self.now());
        let was_connected = self.connected;
        while let Some(event) = self.socket.poll_event() {
            match event {
                SocketEvent::SendPacket(packet) => self.outgoing.push_back(packet),
                SocketEvent::OnConnected() => self.connected = true,
                SocketEvent::OnAborted(kind, why) => {
                    return Err(LabError::Command {
                        command: "a dcsctp association".to_owned(),
                        detail: format!("aborted: {kind:?} {why}"),
                    })
                }
                _ => {}
            }
        }
        let paced_until = self.send_paced().await;
        if self.connected && !was_connected {
            return Ok(());
        }
        let timeout = self.socket.poll_timeout() - SocketTime::zero();
        let wake = self
            .epoch
            .checked_add(timeout)
            .map_or(deadline, |t| t.min(deadline));
        let wake = paced_until.map_or(wake, |p| p.min(wake));
        tokio::select! {
            got = self.udp.recv_from(&mut self.buf) => {
                let (n, _) = got.map_err(io("receiving a datagram"))?;
                self.socket.advance_time(self.now());
                self.socket.handle_input(self.buf.get(..n).unwrap_or_default());
                for _ in 1..BATCH {
                    match self.udp.try_recv_from(&mut self.buf) {
                        Ok((n, _)) => self.socket.handle_input(self.buf.get(..n).unwrap_or_default()),
                        Err(_) => break,
                    }
                }
            }
            () = tokio::time::sleep_until(wake.into()) => {}
        }
        Ok(())
    }
}

/// Moves `bytes` (whole 64 KiB messages) from `a` to `b` over one str0m data channel, `b`'s
/// UDP receive buffer being `receive_buffer` bytes, and waits at most `limit`.
pub fn str0m(
    a: &Host,
    b: &Host,
    bytes: u64,
    receive_buffer: usize,
    limit: Duration,
) -> Result<Transfer, LabError> {
    use str0m::net::{Protocol, Receive};
    use str0m::{Candidate, Event, Input, Output, Rtc};

    let bytes = count(bytes) * MESSAGE as u64;
    let a_addr = SocketAddr::from((a.addr(), PORT));
    let b_addr = SocketAddr::from((b.addr(), PORT));
    let (offer_tx, offer_rx) = std::sync::mpsc::channel::<String>();
    let (answer_tx, answer_rx) = std::sync::mpsc::channel::<String>();
    let (done_tx, done_rx) = oneshot::channel::<()>();
    fn failed(what: &str, e: &dyn std::fmt::Display) -> LabError {
        LabError::Command {
            command: "a str0m connection".to_owned(),
            detail: format!("{what}: {e}"),
        }
    }
    fn rtc(addr: SocketAddr) -> Result<Rtc, LabError> {
        let mut rtc = Rtc::builder()
            .set_sctp_max_buffered_amount(QUEUED)
            .build(Instant::now());
        let candidate = Candidate::host(addr, "udp").map_err(|e| failed("a host candidate", &e))?;
        rtc.add_local_candidate(candidate);
        Ok(rtc)
    }
    fn rtc_failed(e: str0m::RtcError) -> LabError {
        failed("running", &e)
    }
    // Drains the output (transmits sent, events to `on_event`) and returns the next timeout.
    async fn drain(
        rtc: &mut Rtc,
        udp: &UdpSocket,
        mut on_event: impl FnMut(Event),
    ) -> Result<Instant, LabError> {
        loop {
            match rtc.poll_output().map_err(rtc_failed)? {
                Output::Timeout(t) => return Ok(t),
                Output::Transmit(t) => {
                    let _ = udp.send_to(&t.contents, t.destination).await;
                }
                Output::Event(e) => on_event(e),
            }
        }
    }
    // Waits for a datagram or `wake`, and feeds it.
    async fn wait(
        rtc: &mut Rtc,
        udp: &UdpSocket,
        local: SocketAddr,
        buf: &mut [u8],
        wake: Instant,
    ) -> Result<(), LabError> {
        tokio::select! {
            got = udp.recv_from(buf) => {
                let (n, source) = got.map_err(io("receiving a datagram"))?;
                let contents = buf.get(..n).unwrap_or_default();
                if let Ok(receive) = Receive::new(Protocol::Udp, source, local, contents) {
                    rtc.handle_input(Input::Receive(Instant::now(), receive)).map_err(rtc_failed)?;
                }
            }
            () = tokio::time::sleep_until(wake.into()) => {
                rtc.handle_input(Input::Timeout(Instant::now())).map_err(rtc_failed)?;
            }
        }
        Ok(())
    }

    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let receiving = spawn_in(b.namespace(), move || async move {
        let udp = udp_socket(b_addr, receive_buffer)?;
        let _ = ready_tx.send(());
        let mut rtc = rtc(b_addr)?;
        let offer = offer_rx.recv().map_err(|e| failed("the offer", &e))?;
        let offer = str0m::change::SdpOffer::from_sdp_string(&offer)
            .map_err(|e| failed("the offer", &e))?;
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| failed("accepting the offer", &e))?;
        let _ = answer_tx.send(answer.to_sdp_string());
        let mut got = Received::new();
        let deadline = Instant::now() + limit;
        let mut buf = vec![0u8; 65_536];
        while got.received < bytes && Instant::now() < deadline {
            let timeout = drain(&mut rtc, &udp, |e| {
                if let Event::ChannelData(d) = e {
                    got.take(&d.data);
                }
            })
            .await?;
            wait(&mut rtc, &udp, b_addr, &mut buf, timeout.min(deadline)).await?;
        }
        let _ = done_tx.send(());
        Ok(got)
    });
    let _ = ready_rx.recv();
    let sending = spawn_in(a.namespace(), move || async move {
        let udp = udp_socket(a_addr, 4 * 1024 * 1024)?;
        let start = Instant::now();
        let mut rtc = rtc(a_addr)?;
        let mut change = rtc.sdp_api();
        let channel = change.add_channel("bulk".to_owned());
        let (offer, pending) = change
            .apply()
            .ok_or_else(|| failed("making an offer", &"nothing to offer"))?;
        let _ = offer_tx.send(offer.to_sdp_string());
        let answer = answer_rx.recv().map_err(|e| failed("the answer", &e))?;
        let answer = str0m::change::SdpAnswer::from_sdp_string(&answer)
            .map_err(|e| failed("the answer", &e))?;
        rtc.sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| failed("accepting the answer", &e))?;
        let deadline = start + limit;
        let mut connect = None;
        let mut first_byte = start;
        let mut next = 0u64;
        let mut done = done_rx;
        let mut buf = vec![0u8; 65_536];
        while Instant::now() < deadline && done.try_recv().is_err() {
            let mut opened = false;
            let mut timeout = drain(&mut rtc, &udp, |e| {
                opened |= matches!(e, Event::ChannelOpen(id, _) if id == channel);
            })
            .await?;
            if opened && connect.is_none() {
                connect = Some(start.elapsed());
                first_byte = Instant::now();
            }
            // Write while the channel takes more; every write is followed by a drain.
            while connect.is_some() && next < count(bytes) {
                let Some(mut ch) = rtc.channel(channel) else {
                    break;
                };
                if !ch
                    .write(true, &message(next))
                    .map_err(|e| failed("writing", &e))?
                {
                    break;
                }
                next += 1;
                timeout = drain(&mut rtc, &udp, |_| {}).await?;
            }
            wait(&mut rtc, &udp, a_addr, &mut buf, timeout.min(deadline)).await?;
        }
        Ok((connect.unwrap_or(limit), first_byte))
    });
    let sent = join(sending);
    let got = join(receiving)?;
    let (connect, first_byte) = sent?;
    Ok(outcome(bytes, connect, first_byte, &got))
}

//! Shaping the core: what a real internet path does to packets, which veths alone do not.
//!
//! [`Lab::shape`] applies a [`Shape`] to everything the core forwards between its attachments:
//!
//! - **Loss**: an nftables rule in the core's `forward` hook drops a random share of packets
//!   (`numgen random mod 10000 < N`), in both directions, each packet once.
//! - **Rate**: a `tc tbf` qdisc on every core interface limits what leaves the core towards
//!   each host (so both directions of a path); its queue (`latency`) is a tail-drop buffer like
//!   a home router's, where a sender that overshoots loses packets in bursts.
//! - **Delay**: the kernel here has no `netem`, so a delay line of the lab's own holds every
//!   forwarded packet for a fixed time: policy routing sends what arrives on an attachment to
//!   a TUN device `delay0`, two threads of this process read each packet, keep it for the delay
//!   and write it back, and the kernel routes it on to its destination. The round-trip time
//!   between two hosts is then twice the delay.
//!
//! ```text
//!   host a ──c0──▶ core: ip rule (iif c0, c1, ...) ─▶ nft forward (loss) ─▶ delay0
//!                                                                            │
//!   host b ◀──c1── tbf (rate, queue) ◀── main table ◀── delay0 ◀── [delay line, d]
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tun_rs::{DeviceBuilder, InterruptEvent, SyncDevice};

use super::lab::Lab;
use super::netns::enter;
use super::process::{self, exec_in, ip_in};
use super::LabError;

/// The TUN device of the delay line, in the core.
const DELAY_DEVICE: &str = "delay0";
/// The routing table that sends forwarded packets into the delay line.
const DELAY_TABLE: &str = "100";
/// The nftables table of the loss rule.
const SHAPE_TABLE: &str = "syncshell_shape";
/// Packets the delay line holds at most (at 1 Gbit/s, 40 ms of full-size packets); more are
/// dropped, as a router's full queue drops them.
const DELAY_QUEUE: usize = 4096;
/// Largest packet the delay line carries (the veths' MTU is 1500).
const MAX_PACKET: usize = 65_536;

/// What the core does to the packets it forwards. The default shapes nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// Random loss in each direction, in hundredths of a percent (100 = 1 %).
    pub loss_basis_points: u32,
    /// Rate limit of each direction, in kbit/s; `None` leaves the veths' speed.
    pub rate_kbit: Option<u32>,
    /// How long the rate limiter's queue may be before it drops (tbf's `latency`).
    pub queue: Duration,
    /// Delay of each direction: the round-trip time between two hosts is twice this.
    pub one_way_delay: Duration,
}

impl Shape {
    /// The round-trip time this shape adds between two hosts.
    pub fn rtt(&self) -> Duration {
        self.one_way_delay * 2
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let loss = f64::from(self.loss_basis_points) / 100.0;
        write!(f, "loss {loss} %, rtt {} ms", self.rtt().as_millis())?;
        if let Some(rate) = self.rate_kbit {
            write!(
                f,
                ", rate {} Mbit/s, queue {} ms",
                f64::from(rate) / 1000.0,
                self.queue.as_millis()
            )?;
        }
        Ok(())
    }
}

impl Lab {
    /// Shapes everything the core forwards from now on: loss, rate and delay as `shape` says.
    /// A lab is shaped once; a second call is [`LabError::Limit`].
    pub fn shape(&mut self, shape: &Shape) -> Result<(), LabError> {
        if self.shaped {
            return Err(LabError::Limit("a lab is shaped once".to_owned()));
        }
        self.shaped = true;
        let core = self.core().to_owned();
        let interfaces: Vec<String> = (0..self.attachments()).map(|k| format!("c{k}")).collect();
        if shape.loss_basis_points > 0 {
            // Packets coming back from the delay line are forwarded a second time; drop once.
            let ruleset = format!(
                "table ip {SHAPE_TABLE} {{
    chain forward {{
        type filter hook forward priority 0; policy accept;
        iifname != \"{DELAY_DEVICE}\" numgen random mod 10000 < {} counter drop
    }}
}}
",
                shape.loss_basis_points
            );
            let mut nft = exec_in(&core, "nft");
            nft.args(["-f", "-"]);
            process::run_with_input(nft, &ruleset)?;
        }
        if let Some(kbit) = shape.rate_kbit {
            // The bucket holds 1 ms at the rate (kbit/s / 8 = bytes per ms), at least two
            // full-size packets.
            let burst = (u64::from(kbit) / 8).max(3000);
            let rate = format!("{kbit}kbit");
            let latency = format!("{}ms", shape.queue.as_millis().max(1));
            for interface in &interfaces {
                ip_tc(
                    &core,
                    &[
                        "qdisc",
                        "replace",
                        "dev",
                        interface,
                        "root",
                        "tbf",
                        "rate",
                        &rate,
                        "burst",
                        &burst.to_string(),
                        "latency",
                        &latency,
                    ],
                )?;
            }
        }
        if !shape.one_way_delay.is_zero() {
            self.delay = Some(DelayLine::start(&core, shape.one_way_delay)?);
            let mut sysctl = exec_in(&core, "sysctl");
            sysctl.args([
                "-q",
                "-w",
                "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.default.rp_filter=0",
                &format!("net.ipv4.conf.{DELAY_DEVICE}.rp_filter=0"),
            ]);
            process::run(sysctl)?;
            ip_in(&core, &["link", "set", DELAY_DEVICE, "up"])?;
            ip_in(
                &core,
                &[
                    "route",
                    "add",
                    "default",
                    "dev",
                    DELAY_DEVICE,
                    "table",
                    DELAY_TABLE,
                ],
            )?;
            for interface in &interfaces {
                ip_in(
                    &core,
                    &[
                        "rule",
                        "add",
                        "iif",
                        interface,
                        "lookup",
                        DELAY_TABLE,
                        "pref",
                        "100",
                    ],
                )?;
            }
        }
        Ok(())
    }

    /// Packets the loss rule has dropped so far (0 when the lab is not shaped with loss).
    pub fn shape_dropped(&self) -> Result<u64, LabError> {
        let mut nft = exec_in(self.core(), "nft");
        nft.args(["list", "table", "ip", SHAPE_TABLE]);
        let Ok(listing) = process::run(nft) else {
            return Ok(0);
        };
        Ok(super::nat::packets_counted(&listing))
    }
}

/// `tc` in `namespace`.
fn ip_tc(namespace: &str, args: &[&str]) -> Result<(), LabError> {
    let mut tc = exec_in(namespace, "tc");
    tc.args(args);
    process::run(tc).map(drop)
}

/// The delay line: a TUN device in the core and two threads that hold each packet for the
/// delay before writing it back. Stopped and joined when dropped.
pub(super) struct DelayLine {
    stop: Arc<InterruptEvent>,
    threads: Vec<JoinHandle<()>>,
}

impl fmt::Debug for DelayLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DelayLine").finish_non_exhaustive()
    }
}

impl DelayLine {
    /// Makes [`DELAY_DEVICE`] in `namespace` and starts holding its packets for `delay`.
    fn start(namespace: &str, delay: Duration) -> Result<DelayLine, LabError> {
        let io = |context: &str| {
            let context = context.to_owned();
            move |error| LabError::Io { context, error }
        };
        let stop = Arc::new(InterruptEvent::new().map_err(io("making the delay line's stop"))?);
        let (made, device) = mpsc::channel();
        let ns = namespace.to_owned();
        // The reader makes the device inside the namespace; the device stays there.
        let reader_stop = stop.clone();
        let reader = std::thread::Builder::new()
            .name("netlab-delay-read".to_owned())
            .spawn(move || {
                let device = enter(&ns).and_then(|()| {
                    DeviceBuilder::new()
                        .name(DELAY_DEVICE)
                        .packet_information(false)
                        .build_sync()
                        .map(Arc::new)
                        .map_err(io("making the delay line's TUN device"))
                });
                let (queue_in, queue_out) = mpsc::sync_channel(DELAY_QUEUE);
                let device = match device {
                    Ok(device) => {
                        let _ = made.send(Ok((device.clone(), queue_out)));
                        device
                    }
                    Err(e) => {
                        let _ = made.send(Err(e));
                        return;
                    }
                };
                read_into(&device, &reader_stop, &queue_in);
            })
            .map_err(io("starting the delay line"))?;
        let mut line = DelayLine {
            stop,
            threads: vec![reader],
        };
        let (device, queue_out) = device
            .recv()
            .map_err(|_| LabError::Command {
                command: "the delay line".to_owned(),
                detail: "its reader stopped before making the device".to_owned(),
            })
            .and_then(|r| r)?;
        let writer = std::thread::Builder::new()
            .name("netlab-delay-write".to_owned())
            .spawn(move || write_after(&device, delay, &queue_out))
            .map_err(io("starting the delay line"))?;
        line.threads.push(writer);
        Ok(line)
    }
}

impl Drop for DelayLine {
    fn drop(&mut self) {
        // The reader wakes up, stops, and drops the queue's sender; the writer then sends what
        // it holds and stops.
        let _ = self.stop.trigger();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Reads packets from `device` into `queue`, each with the time it arrived, until `stop`.
/// A full queue drops the packet.
fn read_into(
    device: &SyncDevice,
    stop: &InterruptEvent,
    queue: &mpsc::SyncSender<(Instant, Vec<u8>)>,
) {
    let mut buf = vec![0u8; MAX_PACKET];
    loop {
        match device.recv_intr(&mut buf, stop) {
            Ok(n) => {
                let packet = buf.get(..n).unwrap_or_default().to_vec();
                if let Err(mpsc::TrySendError::Disconnected(_)) =
                    queue.try_send((Instant::now(), packet))
                {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted && !stop.is_trigger() => {}
            Err(_) => return,
        }
    }
}

/// Writes each packet of `queue` back into `device` once `delay` has passed since it arrived.
fn write_after(device: &SyncDevice, delay: Duration, queue: &mpsc::Receiver<(Instant, Vec<u8>)>) {
    let mut held: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
    loop {
        let next = match held.front() {
            Some((arrived, _)) => {
                let due = *arrived + delay;
                let now = Instant::now();
                if due <= now {
                    if let Some((_, packet)) = held.pop_front() {
                        let _ = device.send(&packet);
                    }
                    continue;
                }
                queue.recv_timeout(due - now)
            }
            None => queue
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        match next {
            Ok(packet) => held.push_back(packet),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

//! The network lab (`syncshell_examples::netlab`) builds the internet it promises: NAT kinds
//! that map and filter as documented, a UDP-blocked network, coturn with shared-secret
//! credentials, and nothing left behind.
//!
//! Needs root, iproute2, nftables, coturn and python3 (the UDP/TCP probe below). Without them
//! each test reports itself skipped, unless `SYNCSHELL_REQUIRE_NETNS` is set (CI sets it), in
//! which case it fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddrV4;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use syncshell_examples::netlab::{self, Home, Host, Lab, NatKind};

/// A probe run in a namespace: one UDP socket and one TCP listener on `<addr>:<port>`, driven
/// line by line on stdin; every command answers one line, and every wait has a timeout.
const PROBE: &str = r#"
import socket, sys
addr, port = sys.argv[1], int(sys.argv[2])
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind((addr, port))
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind((addr, port))
t.listen(8)
print("ready", flush=True)
for line in sys.stdin:
    w = line.split()
    try:
        if w[0] == "send":
            u.sendto(w[3].encode(), (w[1], int(w[2])))
            print("sent", flush=True)
        elif w[0] == "recv":
            u.settimeout(float(w[1]))
            try:
                d, a = u.recvfrom(2048)
                print("from %s:%d %s" % (a[0], a[1], d.decode()), flush=True)
            except socket.timeout:
                print("timeout", flush=True)
        elif w[0] == "connect":
            c = socket.create_connection((w[1], int(w[2])), timeout=float(w[3]))
            c.close()
            print("connected", flush=True)
        elif w[0] == "accept":
            t.settimeout(float(w[1]))
            c, a = t.accept()
            c.close()
            print("from %s:%d" % a, flush=True)
    except OSError as e:
        print("error %s" % e, flush=True)
"#;

struct Probe {
    at: SocketAddrV4,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Probe {
    fn start(host: &Host, port: u16) -> Probe {
        let mut child = host
            .command("python3")
            .args(["-c", PROBE, &host.addr().to_string(), &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut probe = Probe {
            at: SocketAddrV4::new(host.addr(), port),
            child,
            stdin,
            stdout,
        };
        assert_eq!(probe.read_line(), "ready");
        probe
    }

    fn read_line(&mut self) -> String {
        let mut line = String::new();
        let n = self.stdout.read_line(&mut line).unwrap();
        assert!(n > 0, "the probe at {} exited", self.at);
        line.trim().to_owned()
    }

    fn ask(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        self.read_line()
    }

    fn send(&mut self, to: SocketAddrV4, text: &str) {
        assert_eq!(
            self.ask(&format!("send {} {} {text}", to.ip(), to.port())),
            "sent"
        );
    }

    /// The next datagram within `seconds`: where it came from and what it says.
    fn recv(&mut self, seconds: f64) -> Option<(SocketAddrV4, String)> {
        let answer = self.ask(&format!("recv {seconds}"));
        if answer == "timeout" {
            return None;
        }
        let rest = answer
            .strip_prefix("from ")
            .unwrap_or_else(|| panic!("{answer}"));
        let (from, text) = rest.split_once(' ').unwrap();
        Some((from.parse().unwrap(), text.to_owned()))
    }

    fn connect(&mut self, to: SocketAddrV4, seconds: f64) -> String {
        self.ask(&format!("connect {} {} {seconds}", to.ip(), to.port()))
    }

    fn accept(&mut self, seconds: f64) -> SocketAddrV4 {
        let answer = self.ask(&format!("accept {seconds}"));
        answer
            .strip_prefix("from ")
            .unwrap_or_else(|| panic!("no TCP connection arrived: {answer}"))
            .parse()
            .unwrap()
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A lab, or `None` when the test is skipped.
fn lab() -> Option<Lab> {
    Lab::for_test().unwrap_or_else(|e| panic!("{e}"))
}

/// A lab and python3 for the probe, or `None` when the test is skipped.
fn lab_with_python() -> Option<Lab> {
    let lab = lab()?;
    let python = Command::new("python3")
        .args(["-c", "pass"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !python {
        netlab::skip_unless_required("python3 not found (Debian package python3)")
            .unwrap_or_else(|e| panic!("{e}"));
        return None;
    }
    Some(lab)
}

fn home_with_host(lab: &mut Lab, nat: NatKind) -> (Home, Host) {
    let home = lab.add_home(nat).unwrap();
    let host = lab.add_home_host(&home).unwrap();
    (home, host)
}

/// Polls until the home's router has dropped more than `before` packets.
fn wait_for_drop(home: &Home, before: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while home.dropped().unwrap() <= before {
        assert!(
            std::time::Instant::now() < deadline,
            "the router of {} dropped nothing",
            home.public_addr()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn endpoint_independent_nat_keeps_one_public_port_and_symmetric_nat_does_not() {
    let Some(mut lab) = lab_with_python() else {
        return;
    };
    let a = lab.add_public_host().unwrap();
    let b = lab.add_public_host().unwrap();
    // Three destinations: two ports of one host, and another host.
    let mut servers = [
        Probe::start(&a, 4000),
        Probe::start(&a, 4001),
        Probe::start(&b, 4000),
    ];
    for nat in [NatKind::EndpointIndependent, NatKind::Symmetric] {
        // Both homes on 192.168.1.0/24, as most real homes are.
        let home = lab.add_home_on_subnet(nat, 1).unwrap();
        let inner = lab.add_home_host(&home).unwrap();
        assert_eq!(inner.addr(), std::net::Ipv4Addr::new(192, 168, 1, 10));
        let mut member = Probe::start(&inner, 5000);
        let mut ports = BTreeSet::new();
        for server in &mut servers {
            member.send(server.at, "hello");
            let (seen, text) = server.recv(5.0).expect("the datagram did not arrive");
            assert_eq!(text, "hello");
            assert_eq!(*seen.ip(), home.public_addr(), "{nat:?}: not translated");
            ports.insert(seen.port());
        }
        match nat {
            NatKind::EndpointIndependent => assert_eq!(
                ports,
                BTreeSet::from([5000]),
                "one inner socket must keep one public port (its own, when free)"
            ),
            _ => assert!(
                ports.len() > 1,
                "a symmetric NAT must map one inner socket to several ports: {ports:?}"
            ),
        }
    }
}

#[test]
fn unsolicited_inbound_udp_is_dropped_and_leaves_the_mapping_for_hole_punching() {
    let Some(mut lab) = lab_with_python() else {
        return;
    };
    let a = lab.add_public_host().unwrap();
    let b = lab.add_public_host().unwrap();
    let (home, inner) = home_with_host(&mut lab, NatKind::EndpointIndependent);
    let mut server = Probe::start(&a, 4000);
    let mut stranger = Probe::start(&b, 4000);
    let mut member = Probe::start(&inner, 5000);

    member.send(server.at, "hello");
    let (mapped, _) = server.recv(5.0).expect("the datagram did not arrive");

    // A stranger sends to the mapping before the member has sent to it: the router drops it.
    let before = home.dropped().unwrap();
    stranger.send(mapped, "unsolicited");
    wait_for_drop(&home, before);

    // The member then punches towards the stranger: same public port as towards the server
    // (an accepted unsolicited packet would have forced a new one), and the answer comes in.
    member.send(stranger.at, "punch");
    let (seen, _) = stranger.recv(5.0).expect("the punch did not arrive");
    assert_eq!(
        seen, mapped,
        "the mapping moved after an unsolicited packet"
    );
    stranger.send(mapped, "reply");
    let (from, text) = member
        .recv(5.0)
        .expect("the reply did not come through the hole");
    assert_eq!(
        (from, text.as_str()),
        (stranger.at, "reply"),
        "the unsolicited packet reached the inner host"
    );
}

#[test]
fn udp_blocked_home_sends_no_udp_but_connects_over_tcp() {
    let Some(mut lab) = lab_with_python() else {
        return;
    };
    let a = lab.add_public_host().unwrap();
    let (blocked_home, blocked) = home_with_host(&mut lab, NatKind::UdpBlocked);
    let (_, open) = home_with_host(&mut lab, NatKind::EndpointIndependent);
    let mut server = Probe::start(&a, 4000);
    let mut member = Probe::start(&blocked, 5000);
    let mut control = Probe::start(&open, 5000);

    let before = blocked_home.dropped().unwrap();
    member.send(server.at, "blocked");
    wait_for_drop(&blocked_home, before);
    control.send(server.at, "control");
    let (_, text) = server
        .recv(5.0)
        .expect("UDP from an open home did not arrive");
    assert_eq!(text, "control", "UDP got out of a UDP-blocked home");
    assert_eq!(server.recv(0.3), None, "UDP got out of a UDP-blocked home");

    assert_eq!(member.connect(server.at, 5.0), "connected");
    let from = server.accept(5.0);
    assert_eq!(*from.ip(), blocked_home.public_addr(), "TCP not translated");
}

const SECRET: &str = "lab secret";

/// coturn's shared-secret credentials: user `<unix expiry>:<name>`, password
/// base64(HMAC-SHA1(secret, user)).
fn turn_credentials(secret: &str, name: &str) -> (String, String) {
    let expiry = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let user = format!("{expiry}:{name}");
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(user.as_bytes());
    let password = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    (user, password)
}

/// `turnutils_uclient` from `host`: two clients relaying to each other through two allocations
/// (`-y`), a few messages, no RTCP. Bounded by `timeout` in case the server never answers.
fn uclient(host: &Host, tcp: bool, user: &str, password: &str, server: SocketAddrV4) -> Child {
    let mut cmd = host.command("timeout");
    cmd.args(["20", "turnutils_uclient", "-y", "-c", "-n", "2"]);
    if tcp {
        cmd.arg("-t");
    }
    cmd.args(["-u", user, "-w", password, &server.ip().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn relayed_everything(output: &Output) -> bool {
    let text = String::from_utf8_lossy(&output.stdout);
    output.status.success() && text.contains("Total lost packets 0 ")
}

#[test]
fn turn_allocates_with_shared_secret_credentials_and_refuses_a_wrong_password() {
    let Some(mut lab) = lab() else {
        return;
    };
    let relay = lab.add_public_host().unwrap();
    let turn = lab.start_turn(&relay, SECRET).unwrap();
    assert_eq!(
        turn.urls(),
        [
            format!("stun:{}:3478", relay.addr()),
            format!("turn:{}:3478?transport=udp", relay.addr()),
            format!("turn:{}:3478?transport=tcp", relay.addr()),
        ]
    );
    let (_, open) = home_with_host(&mut lab, NatKind::EndpointIndependent);
    let (_, blocked) = home_with_host(&mut lab, NatKind::UdpBlocked);
    let (user, password) = turn_credentials(SECRET, "alice");

    // UDP from an open home and TCP from a UDP-blocked one, at once (each takes seconds).
    let over_udp = uclient(&open, false, &user, &password, turn.addr());
    let over_tcp = uclient(&blocked, true, &user, &password, turn.addr());
    let over_udp = over_udp.wait_with_output().unwrap();
    let over_tcp = over_tcp.wait_with_output().unwrap();
    for (how, output) in [("UDP", &over_udp), ("TCP", &over_tcp)] {
        assert!(
            relayed_everything(output),
            "TURN over {how} failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    let (mallory, _) = turn_credentials(SECRET, "mallory");
    let (_, wrong) = turn_credentials("another secret", "mallory");
    let refused = uclient(&open, false, &mallory, &wrong, turn.addr())
        .wait_with_output()
        .unwrap();
    assert!(!refused.status.success(), "a wrong password was accepted");
    turn.wait_for_log(
        &format!("Cannot find credentials of user <{mallory}>"),
        Duration::from_secs(5),
    )
    .unwrap();
    let log = turn.log().unwrap();
    assert!(
        log.contains(&format!(
            "user <{user}>: incoming packet ALLOCATE processed, success"
        )),
        "no allocation for alice in the log:\n{log}"
    );
    assert!(
        !turn
            .log()
            .unwrap()
            .contains(&format!("Cannot find credentials of user <{user}>")),
        "alice was refused"
    );
}

fn is_gone_or_zombie(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // `pid (comm) S ...`: the state follows the last `)`.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

fn namespaces_listed() -> String {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn pids_in(namespace: &str) -> Vec<u32> {
    let out = Command::new("ip")
        .args(["netns", "pids", namespace])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

fn assert_cleaned(namespaces: &[String], pids: &[u32], dir: &Path) {
    let listed = namespaces_listed();
    for namespace in namespaces {
        assert!(
            !listed
                .lines()
                .any(|line| line.split_whitespace().next() == Some(namespace)),
            "{namespace} left behind"
        );
    }
    for &pid in pids {
        assert!(is_gone_or_zombie(pid), "process {pid} still runs");
    }
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[test]
fn dropping_the_lab_removes_its_namespaces_and_processes_even_on_panic() {
    let Some(mut lab) = lab() else {
        return;
    };
    let relay = lab.add_public_host().unwrap();
    lab.start_turn(&relay, SECRET).unwrap();
    let (_, inner) = home_with_host(&mut lab, NatKind::Symmetric);
    let mut sleeper = inner.command("sleep").arg("600").spawn().unwrap();
    let namespaces = lab.namespaces().to_vec();
    assert_eq!(namespaces.len(), 4, "{namespaces:?}");
    let pids: Vec<u32> = namespaces.iter().flat_map(|ns| pids_in(ns)).collect();
    assert!(pids.contains(&sleeper.id()), "{pids:?}");
    assert!(pids.len() >= 2, "coturn is not running: {pids:?}");
    let dir = lab.dir().to_owned();

    drop(lab);
    assert_cleaned(&namespaces, &pids, &dir);
    assert!(sleeper.try_wait().unwrap().is_some());

    // The same when the test using the lab panics.
    let made = std::sync::Mutex::new(None);
    let outcome = std::panic::catch_unwind(|| {
        let mut lab = Lab::new().unwrap();
        let host = lab.add_public_host().unwrap();
        let sleeper = host.command("sleep").arg("600").spawn().unwrap();
        *made.lock().unwrap() = Some((lab.namespaces().to_vec(), sleeper, lab.dir().to_owned()));
        panic!("a test failing with a lab up");
    });
    assert!(outcome.is_err());
    let (namespaces, mut sleeper, dir) = made.into_inner().unwrap().unwrap();
    assert_cleaned(&namespaces, &[sleeper.id()], &dir);
    assert!(sleeper.try_wait().unwrap().is_some());
}

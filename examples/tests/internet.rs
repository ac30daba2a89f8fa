//! Members on different hosts, behind NATs, through STUN and TURN: the network lab
//! (`syncshell_examples::netlab`) builds a public side with the relay (`wss://`) and coturn,
//! and homes behind routers of every NAT kind. For each pair of networks two
//! `syncshell-node` processes form a shell by invite through the relay, and the joiner
//! receives a 64 MiB shared folder byte for byte; the path each link took is checked where
//! the NAT kinds decide it.
//!
//! Needs root, iproute2, nftables and coturn; without them each test reports itself skipped,
//! unless `SYNCSHELL_REQUIRE_NETNS` is set (CI sets it), in which case it fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stdout
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use serde_json::Value;
use syncshell_examples::netlab::{Host, Lab, NatKind, Turn};

#[path = "support/node_proc.rs"]
mod node_proc;

use node_proc::{make_pack, NodeProc};

/// Where a member lives.
#[derive(Debug, Clone, Copy)]
enum Net {
    /// A host with a public address, no NAT.
    Public,
    /// A home behind a router of this kind.
    Home(NatKind),
}

/// What the path between the two members must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Direct,
    Relayed,
    /// Either: the NAT kinds do not decide it.
    Any,
}

const SECRET: &str = "lab turn secret";

/// The public side: coturn and the relay on one public host, and the relay's CA file.
struct World {
    lab: Lab,
    turn: Turn,
    relay: Child,
    url: String,
    ca: PathBuf,
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = self.relay.kill();
        let _ = self.relay.wait();
    }
}

impl World {
    fn new() -> Option<World> {
        let mut lab = Lab::for_test().unwrap()?;
        let public = lab.add_public_host().unwrap();
        let turn = lab.start_turn(&public, SECRET).unwrap();
        let dir = lab.dir().to_owned();
        let (cert, key, ca) = certificate(&dir, &public.addr().to_string());
        let secret_file = dir.join("turn-secret");
        std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
        let mut relay = public
            .command(env!("CARGO_BIN_EXE_syncshell-signal"))
            .arg("--bind")
            .arg(format!("{}:7447", public.addr()))
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .args(["--ice-server", &turn.stun_url()])
            .args(["--ice-server", &turn.turn_udp_url()])
            .args(["--ice-server", &turn.turn_tcp_url()])
            .arg("--turn-secret-file")
            .arg(&secret_file)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(relay.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Some(World {
            lab,
            turn,
            relay,
            url: format!("wss://{addr}/"),
            ca,
        })
    }

    /// A new host on `net`.
    fn host(&mut self, net: Net) -> Host {
        match net {
            Net::Public => self.lab.add_public_host().unwrap(),
            Net::Home(kind) => {
                let home = self.lab.add_home(kind).unwrap();
                self.lab.add_home_host(&home).unwrap()
            }
        }
    }

    /// A node on `host`, bound to its address, trusting the relay's CA.
    fn node(&self, name: &'static str, host: &Host, extra: &[&str]) -> NodeProc {
        let data = self.lab.dir().join(name);
        let ip = host.addr().to_string();
        let ca = self.ca.to_str().unwrap();
        let mut args = vec!["--bind", ip.as_str(), "--ca-file", ca];
        args.extend_from_slice(extra);
        NodeProc::spawn(
            name,
            host.command(env!("CARGO_BIN_EXE_syncshell-node")),
            &data,
            &self.url,
            &args,
        )
    }
}

/// A CA and a certificate for `ip` signed by it, as PEM files in `dir`: (cert, key, CA).
fn certificate(dir: &Path, ip: &str) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "syncshell lab CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec![ip.to_owned()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let paths = (
        dir.join("relay.pem"),
        dir.join("relay.key"),
        dir.join("ca.pem"),
    );
    std::fs::write(&paths.0, cert.pem()).unwrap();
    std::fs::write(&paths.1, key.serialize_pem()).unwrap();
    std::fs::write(&paths.2, ca_cert.pem()).unwrap();
    paths
}

/// Two members on `a` and `b`: the first creates a shell and shares a 64 MiB folder, the
/// second joins by invite and receives it byte for byte; the link's path is `expect`.
fn share_across(a: Net, b: Net, expect: Expect) {
    let Some(mut world) = World::new() else {
        return;
    };
    let (ha, hb) = (world.host(a), world.host(b));
    let pack_dir = world.lab.dir().join("pack");
    let pack = make_pack(
        &pack_dir,
        &[
            ("mods/textures/armour.tex", 40 << 20),
            ("mods/models/sword.mdl", 20 << 20),
            ("mods/sounds/bow.scd", 4 << 20),
        ],
    );
    let got = world.lab.dir().join("got");
    let mut owner = world.node(
        "Ava",
        &ha,
        &[
            "--create-shell",
            "Across the internet",
            "--share",
            pack_dir.to_str().unwrap(),
        ],
    );
    owner.event("ready");
    owner.cmd("invite");
    let invite = owner.event("invite")["text"].as_str().unwrap().to_owned();
    let mut joiner = world.node(
        "Mira",
        &hb,
        &["--invite", &invite, "--receive", got.to_str().unwrap()],
    );
    joiner.event("joined");
    let up = joiner.event("link-up");
    let theirs = owner.event("link-up");
    println!("{a:?} <-> {b:?}: joiner {up}\nowner {theirs}");
    // Relayed over TCP the folder takes minutes (see docs/performance.md): wait as long as
    // it makes progress.
    let done = loop {
        let v = joiner.wait("progress or the folder", |v| {
            v["event"] == "progress" || v["event"] == "received"
        });
        if v["event"] == "received" {
            break v;
        }
    };
    for (rel, data) in &pack {
        let mine = std::fs::read(got.join(rel)).unwrap();
        assert!(&mine == data, "{rel:?} differs");
    }
    println!("received {done}");
    for link in [&up, &theirs] {
        let relayed = link["relayed"]
            .as_bool()
            .unwrap_or_else(|| panic!("no path in {link}"));
        match expect {
            Expect::Direct => assert!(!relayed, "{a:?} <-> {b:?} went through TURN: {link}"),
            Expect::Relayed => assert!(relayed, "{a:?} <-> {b:?} did not use TURN: {link}"),
            Expect::Any => {}
        }
    }
    let _ = &world.turn;
    joiner.quit();
    owner.quit();
}

use NatKind::{EndpointIndependent as Eim, Symmetric as Sym, UdpBlocked as NoUdp};

#[test]
fn two_endpoint_independent_homes_punch_through_directly() {
    share_across(Net::Home(Eim), Net::Home(Eim), Expect::Direct);
}

#[test]
fn a_public_member_and_an_endpoint_independent_home_connect_directly() {
    share_across(Net::Public, Net::Home(Eim), Expect::Direct);
}

#[test]
fn a_public_member_and_a_symmetric_home_connect_directly() {
    share_across(Net::Public, Net::Home(Sym), Expect::Direct);
}

#[test]
fn an_endpoint_independent_and_a_symmetric_home_connect() {
    share_across(Net::Home(Eim), Net::Home(Sym), Expect::Any);
}

#[test]
fn two_symmetric_homes_connect_through_turn() {
    share_across(Net::Home(Sym), Net::Home(Sym), Expect::Relayed);
}

#[test]
fn a_udp_blocked_home_reaches_a_public_member_through_turn_over_tcp() {
    share_across(Net::Public, Net::Home(NoUdp), Expect::Relayed);
}

#[test]
fn a_udp_blocked_home_reaches_an_endpoint_independent_home_through_turn() {
    share_across(Net::Home(NoUdp), Net::Home(Eim), Expect::Relayed);
}

#[test]
fn a_udp_blocked_home_reaches_a_symmetric_home_through_turn() {
    share_across(Net::Home(Sym), Net::Home(NoUdp), Expect::Relayed);
}

#[test]
fn two_udp_blocked_homes_connect_through_turn_over_tcp() {
    share_across(Net::Home(NoUdp), Net::Home(NoUdp), Expect::Relayed);
}

/// Lines of coturn's log that record a TURN allocation made with `peer`'s credentials.
fn allocations_of(turn: &Turn, peer: &str) -> usize {
    turn.log()
        .unwrap()
        .lines()
        .filter(|l| l.contains(peer) && l.contains("ALLOCATE processed, success"))
        .count()
}

/// A member revoked by the owner loses its relay connection and its link, gets no TURN
/// credentials again (restarted, the relay refuses it before it could ask), and so makes no
/// TURN allocation any more: it reaches nobody, through coturn or otherwise.
#[test]
fn a_revoked_member_gets_no_turn_credentials_and_reaches_nobody() {
    let Some(mut world) = World::new() else {
        return;
    };
    let (ha, hb) = (world.host(Net::Home(Sym)), world.host(Net::Home(Sym)));
    let mut owner = world.node("Ava", &ha, &["--create-shell", "Revocation"]);
    owner.event("ready");
    owner.cmd("invite");
    let invite = owner.event("invite")["text"].as_str().unwrap().to_owned();
    let mut member = world.node("Mira", &hb, &["--invite", &invite]);
    member.event("joined");
    let peer = member.event("ready")["peer"].as_str().unwrap().to_owned();
    // Two symmetric homes connect only through TURN: the member had credentials.
    let up = member.event("link-up");
    assert_eq!(up["relayed"], true, "{up}");
    owner.event("link-up");
    assert!(allocations_of(&world.turn, &peer) > 0);

    owner.cmd(&format!("revoke {peer}"));
    owner.event("revoked");
    // The link goes down as the revocation is applied, before the command answers.
    let is_down = |v: &Value| v["event"] == "link-down" && v["peer"] == peer.as_str();
    let down = match owner.seen.iter().find(|v| is_down(v)) {
        Some(v) => v.clone(),
        None => owner.wait("the member's link-down", is_down),
    };
    assert_eq!(down["why"], "revoked", "{down}");
    let lost = member.event("signal-lost");
    assert!(
        lost["error"].as_str().unwrap().contains("Revoked"),
        "{lost}"
    );
    let before = allocations_of(&world.turn, &peer);

    // Restarted, the member is refused by the relay: no credentials, no allocation, no link.
    drop(member);
    let mut again = world.node("Mira", &hb, &[]);
    let refused = again.event("error");
    assert!(
        refused["message"].as_str().unwrap().contains("Revoked"),
        "{refused}"
    );
    assert!(!again.seen.iter().any(|v| v["event"] == "link-up"));
    assert_eq!(allocations_of(&world.turn, &peer), before);
    let status = owner.status();
    assert!(status["links"].as_array().unwrap().is_empty(), "{status}");
}

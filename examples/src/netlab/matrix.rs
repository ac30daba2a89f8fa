//! The NAT matrix: two `syncshell-node` processes on two networks of a [`Lab`] form a shell by
//! invite through the relay (`wss://`, with coturn beside it on the public side), and the
//! joiner receives a shared folder. `examples/tests/internet.rs` checks each pair's behaviour;
//! the `syncshell-netlab` binary prints the figures.

use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{Host, Lab, LabError, NatKind, NodeProcess, Turn};

/// How long a step may take without an event (a transfer may take minutes, as long as it
/// makes progress).
pub const EVENT_WAIT: Duration = Duration::from_secs(30);
/// The shared secret of the lab's coturn.
const SECRET: &str = "lab turn secret";

/// Where a member lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Net {
    /// A host with a public address, no NAT.
    Public,
    /// A home behind a router of this kind.
    Home(NatKind),
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Net::Public => "public",
            Net::Home(NatKind::EndpointIndependent) => "endpoint-independent",
            Net::Home(NatKind::Symmetric) => "symmetric",
            Net::Home(NatKind::UdpBlocked) => "udp-blocked",
        })
    }
}

/// Every pair of NAT kinds, plus a public member with each.
pub const PAIRS: [(Net, Net); 9] = {
    use NatKind::{EndpointIndependent as Eim, Symmetric as Sym, UdpBlocked as NoUdp};
    [
        (Net::Home(Eim), Net::Home(Eim)),
        (Net::Public, Net::Home(Eim)),
        (Net::Public, Net::Home(Sym)),
        (Net::Home(Eim), Net::Home(Sym)),
        (Net::Home(Sym), Net::Home(Sym)),
        (Net::Public, Net::Home(NoUdp)),
        (Net::Home(NoUdp), Net::Home(Eim)),
        (Net::Home(Sym), Net::Home(NoUdp)),
        (Net::Home(NoUdp), Net::Home(NoUdp)),
    ]
};

/// The programs a world runs.
#[derive(Debug, Clone)]
pub struct Programs {
    /// `syncshell-node`.
    pub node: PathBuf,
    /// `syncshell-signal`.
    pub signal: PathBuf,
}

/// A lab with its public side running: coturn and the relay on one public host, the relay
/// over `wss://` with a certificate from a CA made for the lab.
#[derive(Debug)]
pub struct World {
    lab: Lab,
    turn: Turn,
    relay: Child,
    url: String,
    ca: PathBuf,
    programs: Programs,
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = self.relay.kill();
        let _ = self.relay.wait();
    }
}

impl World {
    /// Starts coturn and the relay in `lab`.
    pub fn start(mut lab: Lab, programs: Programs) -> Result<World, LabError> {
        let public = lab.add_public_host()?;
        let turn = lab.start_turn(&public, SECRET)?;
        let dir = lab.dir().to_owned();
        let (cert, key, ca) = certificate(&dir, &public.addr().to_string())?;
        let secret_file = dir.join("turn-secret");
        write(&secret_file, format!("{SECRET}\n").as_bytes())?;
        let mut relay = public
            .command(&programs.signal)
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
            .map_err(|error| LabError::Io {
                context: "starting the relay".into(),
                error,
            })?;
        let mut line = String::new();
        if let Some(out) = relay.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let Some(addr) = line.trim().strip_prefix("listening ").map(str::to_owned) else {
            let _ = relay.kill();
            let _ = relay.wait();
            return Err(LabError::Command {
                command: "syncshell-signal".into(),
                detail: format!("printed {line:?} instead of its address"),
            });
        };
        Ok(World {
            lab,
            turn,
            relay,
            url: format!("wss://{addr}/"),
            ca,
            programs,
        })
    }

    /// The lab.
    pub fn lab(&self) -> &Lab {
        &self.lab
    }

    /// The lab's coturn.
    pub fn turn(&self) -> &Turn {
        &self.turn
    }

    /// A new host on `net`.
    pub fn host(&mut self, net: Net) -> Result<Host, LabError> {
        match net {
            Net::Public => self.lab.add_public_host(),
            Net::Home(kind) => {
                let home = self.lab.add_home(kind)?;
                self.lab.add_home_host(&home)
            }
        }
    }

    /// A node named `name` on `host`, its data in the lab's folder, bound to the host's
    /// address and trusting the relay's CA, with `extra` flags.
    pub fn node(&self, name: &str, host: &Host, extra: &[&str]) -> Result<NodeProcess, LabError> {
        let data = self.lab.dir().join(name);
        let ip = host.addr().to_string();
        let ca = self.ca.to_string_lossy().into_owned();
        let mut args = vec!["--bind", ip.as_str(), "--ca-file", ca.as_str()];
        args.extend_from_slice(extra);
        NodeProcess::spawn(
            name,
            host.command(&self.programs.node),
            &data,
            &self.url,
            &args,
        )
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), LabError> {
    std::fs::write(path, bytes).map_err(|error| LabError::Io {
        context: format!("writing {}", path.display()),
        error,
    })
}

/// A CA and a certificate for `ip` signed by it, as PEM files in `dir`: (cert, key, CA).
fn certificate(dir: &Path, ip: &str) -> Result<(PathBuf, PathBuf, PathBuf), LabError> {
    let tls = |e: rcgen::Error| LabError::Command {
        command: "making the relay's certificate".into(),
        detail: e.to_string(),
    };
    let ca_key = rcgen::KeyPair::generate().map_err(tls)?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(tls)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "syncshell lab CA");
    let ca_cert = ca_params.self_signed(&ca_key).map_err(tls)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().map_err(tls)?;
    let params = rcgen::CertificateParams::new(vec![ip.to_owned()]).map_err(tls)?;
    let cert = params.signed_by(&key, &issuer).map_err(tls)?;
    let paths = (
        dir.join("relay.pem"),
        dir.join("relay.key"),
        dir.join("ca.pem"),
    );
    write(&paths.0, cert.pem().as_bytes())?;
    write(&paths.1, key.serialize_pem().as_bytes())?;
    write(&paths.2, ca_cert.pem().as_bytes())?;
    Ok(paths)
}

/// Writes a folder of files of pseudo-random bytes (`(relative path, size)`) under `root`;
/// returns each file's path and bytes.
pub fn make_pack(
    root: &Path,
    files: &[(&str, usize)],
) -> Result<Vec<(PathBuf, Vec<u8>)>, LabError> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::new();
    for (rel, size) in files {
        let mut data = Vec::with_capacity(*size);
        while data.len() < *size {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.extend_from_slice(&x.to_le_bytes());
        }
        data.truncate(*size);
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|error| LabError::Io {
                context: format!("creating {}", parent.display()),
                error,
            })?;
        }
        write(&path, &data)?;
        out.push((PathBuf::from(rel), data));
    }
    Ok(out)
}

/// The 64 MiB folder the matrix shares.
pub const PACK: [(&str, usize); 3] = [
    ("mods/textures/armour.tex", 40 << 20),
    ("mods/models/sword.mdl", 20 << 20),
    ("mods/sounds/bow.scd", 4 << 20),
];

/// What one pair did.
#[derive(Debug)]
pub struct Shared {
    /// The joiner's `link-up` event (path, RTT, set-up times).
    pub joiner_link: Value,
    /// The owner's `link-up` event.
    pub owner_link: Value,
    /// The joiner's `received` event.
    pub received: Value,
    /// From the joiner's `link-up` to its `received`.
    pub transfer: Duration,
    /// Whether every file arrived byte for byte.
    pub identical: bool,
}

impl Shared {
    /// One JSON line for the report.
    pub fn report(&self, a: Net, b: Net, bytes: u64) -> Value {
        let l = &self.joiner_link;
        let secs = self.transfer.as_secs_f64();
        json!({
            "a": a.to_string(),
            "b": b.to_string(),
            "connected": true,
            "path": l.get("path"),
            "relayed": l.get("relayed"),
            "local": l.get("local"),
            "remote": l.get("remote"),
            "connect_ms": l.get("connect_ms"),
            "owner_connect_ms": self.owner_link.get("connect_ms"),
            "handshake_ms": l.get("handshake_ms"),
            "rtt_ms": l.get("rtt_ms"),
            "bytes": bytes,
            "transfer_s": (secs * 100.0).round() / 100.0,
            "mib_per_s": ((bytes as f64 / (1 << 20) as f64 / secs) * 100.0).round() / 100.0,
            "identical": self.identical,
        })
    }
}

/// A member on `a` creates a shell and shares `files`; a member on `b` joins by invite and
/// receives them. Returns what happened and both nodes (still running).
pub fn share_across(
    world: &mut World,
    a: Net,
    b: Net,
    files: &[(&str, usize)],
) -> Result<(Shared, NodeProcess, NodeProcess), LabError> {
    let (ha, hb) = (world.host(a)?, world.host(b)?);
    let pack_dir = world.lab().dir().join("pack");
    let pack = make_pack(&pack_dir, files)?;
    let got = world.lab().dir().join("got");
    let share = pack_dir.to_string_lossy().into_owned();
    let mut owner = world.node(
        "Ava",
        &ha,
        &["--create-shell", "Across the internet", "--share", &share],
    )?;
    let event = |n: &mut NodeProcess, name: &str| {
        n.wait(name, EVENT_WAIT, |v| {
            v.get("event").is_some_and(|e| e == name)
        })
    };
    let owner_peer = event(&mut owner, "ready")?
        .get("peer")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    owner.cmd("invite")?;
    let invite = event(&mut owner, "invite")?
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let receive = got.to_string_lossy().into_owned();
    let mut joiner = world.node("Mira", &hb, &["--invite", &invite, "--receive", &receive])?;
    event(&mut joiner, "joined")?;
    let joiner_link = event(&mut joiner, "link-up")?;
    let owner_link = event(&mut owner, "link-up")?;
    let started = Instant::now();
    // Relayed over TCP the folder takes minutes: wait as long as it makes progress.
    let received = loop {
        let v = joiner.wait("progress or the folder", EVENT_WAIT, |v| {
            v.get("event").is_some_and(|e| e == "progress")
                || v.get("event").is_some_and(|e| e == "received")
        })?;
        if v.get("event").is_some_and(|e| e == "received") {
            break v;
        }
    };
    let transfer = started.elapsed();
    // The owner's folder arrives in a folder named by its peer id.
    let from_owner = got.join(owner_peer);
    let identical = pack
        .iter()
        .all(|(rel, data)| std::fs::read(from_owner.join(rel)).is_ok_and(|mine| &mine == data));
    Ok((
        Shared {
            joiner_link,
            owner_link,
            received,
            transfer,
            identical,
        },
        owner,
        joiner,
    ))
}

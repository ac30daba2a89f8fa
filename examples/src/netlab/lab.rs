//! The lab itself: namespaces, links, addresses, and cleaning up.

use std::ffi::OsStr;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::nat::{NatKind, FILTER_TABLE, WAN};
use super::process::{self, exec_in, ip, ip_in};
use super::shape::DelayLine;
use super::LabError;

/// Every namespace and temporary folder of a lab starts with this, then the owner's pid.
const PREFIX: &str = "ssnl";
/// Attachments to the core: `203.0.113.0/24` cut into /30 links.
const MAX_ATTACHMENTS: u8 = 64;
/// Hosts in one home: `.10` to `.209`.
const MAX_HOSTS_PER_HOME: u8 = 200;
/// How often a wait re-checks.
pub(super) const POLL: Duration = Duration::from_millis(20);
/// How long dropping a lab keeps killing processes that linger in its namespaces.
const KILL_WITHIN: Duration = Duration::from_secs(5);

/// Labs made by this process so far, for unique names.
static NEXT_LAB: AtomicU32 = AtomicU32::new(0);

/// A transport protocol, for [`Host::wait_listening`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// UDP: a bound socket counts as listening.
    Udp,
    /// TCP: a socket in the LISTEN state.
    Tcp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Udp => "UDP",
            Protocol::Tcp => "TCP",
        })
    }
}

/// One end of a veth pair: the namespace it is in and its interface name there.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LinkEnd {
    /// The namespace holding this end.
    pub namespace: String,
    /// The interface name inside that namespace (`eth0`, `wan`, `c3`, `h1`).
    pub interface: String,
}

/// A veth pair between a namespace and its next hop towards the core: the place where a link's
/// rate or loss can be shaped, on either end (egress of `near` is upload, of `far` download).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Link {
    /// The end in the host's or router's own namespace.
    pub near: LinkEnd,
    /// The end in the next hop: the core, or the home router's LAN bridge.
    pub far: LinkEnd,
}

/// A namespace with one address: a public host, a home host, or a home router (whose address
/// is its public one). Cheap to clone; it stays valid while its [`Lab`] lives.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Host {
    namespace: String,
    addr: Ipv4Addr,
    link: Link,
}

impl Host {
    /// The network namespace this host is (for `ip netns exec` and `ip -n`).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The host's address: public for a public host or a router, private (`192.168.n.x`) for a
    /// host in a home.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The host's link towards the core.
    pub fn link(&self) -> &Link {
        &self.link
    }

    /// A command that runs `program` inside this host's namespace
    /// (`ip netns exec <namespace> <program>`; the process id is the program's). Add arguments,
    /// stdio and environment as for any [`Command`]. The lab kills it when dropped.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        exec_in(&self.namespace, program)
    }

    /// Waits until something in this host listens on `port` (any address), polling `ss` until
    /// `timeout` has passed.
    pub fn wait_listening(
        &self,
        protocol: Protocol,
        port: u16,
        timeout: Duration,
    ) -> Result<(), LabError> {
        let deadline = Instant::now() + timeout;
        while !self.is_listening(protocol, port)? {
            if Instant::now() >= deadline {
                return Err(LabError::Timeout(format!(
                    "nothing listens on {protocol} port {port} in {} after {timeout:?}",
                    self.namespace
                )));
            }
            std::thread::sleep(POLL);
        }
        Ok(())
    }

    /// Whether something in this host listens on `port` now.
    pub(super) fn is_listening(&self, protocol: Protocol, port: u16) -> Result<bool, LabError> {
        let mut ss = self.command("ss");
        ss.args(["-H", "-l", "-n"]);
        ss.arg(match protocol {
            Protocol::Udp => "-u",
            Protocol::Tcp => "-t",
        });
        ss.arg(format!("sport = :{port}"));
        Ok(!process::run(ss)?.trim().is_empty())
    }
}

/// A home: a router doing NAT of some [`NatKind`] between its LAN and the core. Add hosts with
/// [`Lab::add_home_host`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Home {
    /// The home's number in its lab, from 1.
    index: usize,
    nat: NatKind,
    /// The third octet of `192.168.x.0/24`.
    subnet: u8,
    router: Host,
}

impl Home {
    /// What the router does to traffic.
    pub fn nat(&self) -> NatKind {
        self.nat
    }

    /// The router's public address: what the home's traffic comes from, seen from outside.
    pub fn public_addr(&self) -> Ipv4Addr {
        self.router.addr
    }

    /// The LAN's subnet, `192.168.x.0` (a /24).
    pub fn subnet(&self) -> Ipv4Addr {
        Ipv4Addr::new(192, 168, self.subnet, 0)
    }

    /// The router's LAN address, `192.168.x.1`: its hosts' default gateway.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::new(192, 168, self.subnet, 1)
    }

    /// The router itself, to run `nft` or `ss` there; its [`Host::link`] is the home's WAN link.
    pub fn router(&self) -> &Host {
        &self.router
    }

    /// How many packets the router's filter has dropped so far: unsolicited inbound packets,
    /// and outgoing UDP in a [`NatKind::UdpBlocked`] home.
    pub fn dropped(&self) -> Result<u64, LabError> {
        let mut nft = self.router.command("nft");
        nft.args(["list", "table", "inet", FILTER_TABLE]);
        Ok(super::nat::packets_counted(&process::run(nft)?))
    }
}

/// A small internet in network namespaces: a core, public hosts, homes behind NAT routers, and
/// TURN servers ([`Lab::start_turn`]). See the [module documentation](super) for the topology
/// and address plan.
///
/// Dropping it kills every process in its namespaces and deletes them.
#[derive(Debug)]
pub struct Lab {
    /// `ssnl<pid>-<n>`: the start of every name the lab makes.
    tag: String,
    core: String,
    /// Every namespace made, the core first.
    namespaces: Vec<String>,
    attachments: u8,
    public_hosts: usize,
    /// Hosts added so far to each home, by home number - 1.
    home_hosts: Vec<u8>,
    dir: PathBuf,
    /// Processes the lab started itself (coturn), reaped when it is dropped.
    pub(super) children: Vec<Child>,
    /// Whether [`Lab::shape`] has run.
    pub(super) shaped: bool,
    /// The core's delay line, if the lab is shaped with a delay.
    pub(super) delay: Option<DelayLine>,
}

impl Lab {
    /// Makes an empty lab: the core namespace and a temporary folder.
    ///
    /// [`LabError::Unavailable`] when not root, when `ip`, `ss`, `sysctl`, `nft` or
    /// `turnserver` is missing, or when namespaces cannot be made here; other errors are
    /// failures.
    pub fn new() -> Result<Lab, LabError> {
        check_available()?;
        remove_leftovers();
        let number = NEXT_LAB.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{PREFIX}{}-{number}", std::process::id());
        let dir = std::env::temp_dir().join(&tag);
        // A folder of that name can only be left over from an earlier process with this pid.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|error| LabError::Io {
            context: format!("creating {}", dir.display()),
            error,
        })?;
        let core = format!("{tag}-core");
        let mut lab = Lab {
            tag,
            core: core.clone(),
            namespaces: Vec::new(),
            attachments: 0,
            public_hosts: 0,
            home_hosts: Vec::new(),
            dir,
            children: Vec::new(),
            shaped: false,
            delay: None,
        };
        // From here on, dropping `lab` removes whatever was made.
        lab.add_namespace(&core, true).map_err(|e| {
            LabError::Unavailable(format!("cannot set up a network namespace: {e}"))
        })?;
        Ok(lab)
    }

    /// [`Lab::new`] for a test: `Ok(None)` after printing why when the lab cannot run here and
    /// `SYNCSHELL_REQUIRE_NETNS` is not set (the test returns early); an error when it is set
    /// (the test fails), or when building the lab failed.
    ///
    /// ```no_run
    /// # use syncshell_examples::netlab::Lab;
    /// let Some(lab) = Lab::for_test().unwrap() else { return };
    /// # drop(lab);
    /// ```
    pub fn for_test() -> Result<Option<Lab>, LabError> {
        match Lab::new() {
            Ok(lab) => Ok(Some(lab)),
            Err(LabError::Unavailable(reason)) => {
                super::skip_unless_required(&reason).map(|()| None)
            }
            Err(other) => Err(other),
        }
    }

    /// The core's namespace.
    pub(super) fn core(&self) -> &str {
        &self.core
    }

    /// How many public hosts and home routers are attached to the core: interfaces `c0` to
    /// `c<n-1>` there.
    pub(super) fn attachments(&self) -> u8 {
        self.attachments
    }

    /// Every namespace of the lab, the core first.
    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }

    /// A folder for the lab's files (coturn's log), removed when the lab is dropped.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Adds a public host: a namespace attached to the core with a public address, for a
    /// relay, a TURN server or a member on the public side.
    pub fn add_public_host(&mut self) -> Result<Host, LabError> {
        self.public_hosts += 1;
        let namespace = format!("{}-pub{}", self.tag, self.public_hosts);
        self.add_namespace(&namespace, false)?;
        let (link, addr) = self.attach(&namespace, "eth0")?;
        Ok(Host {
            namespace,
            addr,
            link,
        })
    }

    /// Adds a home whose router does `nat`, on `192.168.n.0/24` where `n` is the home's number
    /// in this lab (from 1).
    pub fn add_home(&mut self, nat: NatKind) -> Result<Home, LabError> {
        let n = u8::try_from(self.home_hosts.len() + 1)
            .map_err(|_| LabError::Limit("more than 255 homes".to_owned()))?;
        self.add_home_on_subnet(nat, n)
    }

    /// Adds a home whose router does `nat`, on `192.168.<subnet>.0/24`; several homes may share
    /// a subnet, as real homes do.
    pub fn add_home_on_subnet(&mut self, nat: NatKind, subnet: u8) -> Result<Home, LabError> {
        let index = self.home_hosts.len() + 1;
        let namespace = format!("{}-home{index}", self.tag);
        self.add_namespace(&namespace, true)?;
        self.home_hosts.push(0);
        // The rules name the interfaces, so they can be in place before the WAN link is.
        let mut nft = exec_in(&namespace, "nft");
        nft.args(["-f", "-"]);
        process::run_with_input(nft, &nat.ruleset())?;
        let (link, public) = self.attach(&namespace, WAN)?;
        let home = Home {
            index,
            nat,
            subnet,
            router: Host {
                namespace: namespace.clone(),
                addr: public,
                link,
            },
        };
        let gateway = format!("{}/24", home.gateway());
        // STP is off by default, so ports forward as soon as they are up.
        ip_in(&namespace, &["link", "add", "lan", "type", "bridge"])?;
        ip_in(&namespace, &["addr", "add", &gateway, "dev", "lan"])?;
        ip_in(&namespace, &["link", "set", "lan", "up"])?;
        Ok(home)
    }

    /// Adds a host to `home`'s LAN: `192.168.x.10` for the first, then `.11` and so on, with the
    /// router as its default gateway.
    pub fn add_home_host(&mut self, home: &Home) -> Result<Host, LabError> {
        let foreign = || {
            LabError::Limit(format!(
                "{} is not a home of this lab",
                home.router.namespace
            ))
        };
        if !home.router.namespace.starts_with(&format!("{}-", self.tag)) {
            return Err(foreign());
        }
        let count = self
            .home_hosts
            .get_mut(home.index.wrapping_sub(1))
            .ok_or_else(foreign)?;
        if *count >= MAX_HOSTS_PER_HOME {
            return Err(LabError::Limit(format!(
                "more than {MAX_HOSTS_PER_HOME} hosts in one home"
            )));
        }
        *count += 1;
        let number = *count;
        let namespace = format!("{}-home{}-h{number}", self.tag, home.index);
        self.add_namespace(&namespace, false)?;
        let router = &home.router.namespace;
        let port = format!("h{number}");
        ip_in(
            router,
            &[
                "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &namespace,
            ],
        )?;
        ip_in(router, &["link", "set", &port, "master", "lan"])?;
        link_up(router, &port)?;
        let addr = Ipv4Addr::new(192, 168, home.subnet, 9 + number);
        ip_in(
            &namespace,
            &["addr", "add", &format!("{addr}/24"), "dev", "eth0"],
        )?;
        link_up(&namespace, "eth0")?;
        ip_in(
            &namespace,
            &[
                "route",
                "add",
                "default",
                "via",
                &home.gateway().to_string(),
            ],
        )?;
        Ok(Host {
            namespace: namespace.clone(),
            addr,
            link: Link {
                near: LinkEnd {
                    namespace,
                    interface: "eth0".to_owned(),
                },
                far: LinkEnd {
                    namespace: router.clone(),
                    interface: port,
                },
            },
        })
    }

    /// Makes a namespace with `lo` up and IPv6 off; a router or the core also forwards.
    fn add_namespace(&mut self, name: &str, forwards: bool) -> Result<(), LabError> {
        process::add_namespace(name)?;
        self.namespaces.push(name.to_owned());
        ip_in(name, &["link", "set", "lo", "up"])?;
        let mut sysctl = exec_in(name, "sysctl");
        sysctl.args([
            "-q",
            "-w",
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        ]);
        if forwards {
            sysctl.arg("net.ipv4.ip_forward=1");
        }
        process::run(sysctl).map(drop)
    }

    /// Links `namespace` to the core with the next /30 of `203.0.113.0/24`; its end is named
    /// `interface` and gets the public address, with the core as default gateway.
    fn attach(&mut self, namespace: &str, interface: &str) -> Result<(Link, Ipv4Addr), LabError> {
        let k = self.attachments;
        if k >= MAX_ATTACHMENTS {
            return Err(LabError::Limit(format!(
                "more than {MAX_ATTACHMENTS} public hosts and homes"
            )));
        }
        self.attachments += 1;
        let core_end = Ipv4Addr::new(203, 0, 113, 4 * k + 1);
        let far_end = Ipv4Addr::new(203, 0, 113, 4 * k + 2);
        let core_if = format!("c{k}");
        let core = self.core.clone();
        ip_in(
            &core,
            &[
                "link", "add", &core_if, "type", "veth", "peer", "name", interface, "netns",
                namespace,
            ],
        )?;
        ip_in(
            &core,
            &["addr", "add", &format!("{core_end}/30"), "dev", &core_if],
        )?;
        link_up(&core, &core_if)?;
        ip_in(
            namespace,
            &["addr", "add", &format!("{far_end}/30"), "dev", interface],
        )?;
        link_up(namespace, interface)?;
        ip_in(
            namespace,
            &["route", "add", "default", "via", &core_end.to_string()],
        )?;
        let link = Link {
            near: LinkEnd {
                namespace: namespace.to_owned(),
                interface: interface.to_owned(),
            },
            far: LinkEnd {
                namespace: core,
                interface: core_if,
            },
        };
        Ok((link, far_end))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Its threads are in the core namespace, which lives on while they do.
        drop(self.delay.take());
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        kill_everything_in(&self.namespaces);
        for namespace in self.namespaces.iter().rev() {
            let _ = ip(&["netns", "del", namespace]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Brings `interface` in `namespace` up, passing packets of at most 1500 bytes (see "Links" in
/// the module documentation).
fn link_up(namespace: &str, interface: &str) -> Result<(), LabError> {
    ip_in(
        namespace,
        &[
            "link",
            "set",
            interface,
            "up",
            "gso_max_size",
            "1500",
            "gro_max_size",
            "1500",
        ],
    )
    .map(drop)
}

/// Kills every process in `namespaces` until none is left (or [`KILL_WITHIN`] has passed).
/// A killed child of this process that is not reaped yet is no longer in any namespace.
fn kill_everything_in(namespaces: &[String]) {
    let deadline = Instant::now() + KILL_WITHIN;
    loop {
        let pids: Vec<u32> = namespaces
            .iter()
            .flat_map(|ns| process::pids_in(ns))
            .collect();
        if pids.is_empty() || Instant::now() >= deadline {
            return;
        }
        process::kill(&pids);
        std::thread::sleep(POLL);
    }
}

/// Root and the tools, or why not.
fn check_available() -> Result<(), LabError> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| LabError::Unavailable(format!("cannot read /proc/self/status: {e}")))?;
    // `Uid:` real, effective, saved, filesystem.
    let effective_uid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1));
    if effective_uid != Some("0") {
        return Err(LabError::Unavailable(
            "not running as root (namespaces, veths and nftables need it)".to_owned(),
        ));
    }
    let tools = [
        ("ip", "-V", "iproute2"),
        ("ss", "-V", "iproute2"),
        ("sysctl", "--version", "procps"),
        ("nft", "--version", "nftables"),
        ("turnserver", "--version", "coturn"),
    ];
    for (tool, version, package) in tools {
        let runs = Command::new(tool)
            .arg(version)
            .stdin(std::process::Stdio::null())
            .output()
            .is_ok();
        if !runs {
            return Err(LabError::Unavailable(format!(
                "`{tool}` not found (Debian package {package})"
            )));
        }
    }
    Ok(())
}

/// Removes the namespaces and folders of labs whose process no longer exists.
fn remove_leftovers() {
    let is_stale = |name: &str| {
        name.strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_some_and(|pid| {
                pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
            })
    };
    if let Ok(list) = ip(&["netns", "list"]) {
        let stale: Vec<String> = list
            .lines()
            .filter_map(|line| line.split_whitespace().next())
            .filter(|name| is_stale(name))
            .map(str::to_owned)
            .collect();
        kill_everything_in(&stale);
        for namespace in &stale {
            let _ = ip(&["netns", "del", namespace]);
        }
    }
    if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
        for entry in entries.flatten() {
            if entry.file_name().to_str().is_some_and(is_stale) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

//! The syncshell demo: what exists end to end today, in one process.
//!
//! An owner creates a shell and makes an admin; the admin invites a friend; the invite text
//! goes through a (simulated) chat that wraps and shouts it; the friend joins; everybody
//! checks everybody's membership; phonebooks sync; the owner revokes the friend and the
//! tombstone spreads; the owner and the admin meet over real WebRTC on 127.0.0.1 and run the
//! mutual handshake, while the revoked friend is refused at its handshake; the friend's key is
//! saved in a key file and loaded back.
//! Exits non-zero if any check fails.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use rand_core::OsRng;
use syncshell_identity::{
    admit, Identity, InviteCode, InviteLedger, InviteOptions, KdfParams, KeyFile, Role,
    ShellGenesis, Timestamp, TokenChain,
};
use syncshell_phonebook::{sync_in_memory, Clock, Entry, Phonebook, Profile};
use syncshell_reconnect::{Handshake, Local, MessageConnection, ReplayGuard};
use syncshell_revocation::RevocationSet;
use syncshell_revocation::{Reason, Tombstone};
use syncshell_transport::{Connection, Faults, MemNetwork, Transport};
use syncshell_webrtc::{WebRtcConfig, WebRtcConnection, WebRtcTransport};

struct Report {
    steps: Vec<(String, Duration, bool)>,
}

impl Report {
    fn step<T>(&mut self, name: &str, f: impl FnOnce() -> Result<T, String>) -> Option<T> {
        let t = Instant::now();
        let result = f();
        let ok = result.is_ok();
        self.steps.push((name.to_owned(), t.elapsed(), ok));
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                println!("  FAILED: {e}");
                None
            }
        }
    }
}

fn run(report: &mut Report) -> Option<()> {
    let now = Timestamp::from_system_time(SystemTime::now());
    let owner = Identity::generate(&mut OsRng);
    let admin = Identity::generate(&mut OsRng);
    let friend = Identity::generate(&mut OsRng);
    println!("owner  {}", owner.peer_id());
    println!("admin  {}", admin.peer_id());
    println!("friend {}", friend.peer_id());

    let genesis = report.step("create shell", || {
        ShellGenesis::create(&owner, "Weekend raid", now, &mut OsRng).map_err(|e| e.to_string())
    })?;
    println!("shell  {} ({:?})", genesis.id(), genesis.name());

    let admin_chain = report.step("owner makes admin", || {
        let until = now.saturating_add(Duration::from_secs(90 * 24 * 3600));
        TokenChain::issue(
            &genesis,
            &owner,
            &TokenChain::owner(),
            admin.peer_id(),
            Role::Admin,
            now,
            Some(until),
            &mut OsRng,
        )
        .map_err(|e| e.to_string())
    })?;

    let code = report.step("admin creates invite", || {
        let options = InviteOptions {
            hints: b"signal=ws://127.0.0.1:7447".to_vec(),
            ..InviteOptions::default()
        };
        InviteCode::create(&genesis, &admin, &admin_chain, &options, now, &mut OsRng)
            .map_err(|e| e.to_string())
    })?;
    let text = code.to_text();
    println!("invite ({} characters):\n  {}", text.len(), text.as_str());

    // A chat client wraps the text at 64 columns and someone retypes it in capitals.
    let pasted: String = text
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8_lossy(c).to_uppercase())
        .collect::<Vec<_>>()
        .join("\n");
    let request = report.step("friend parses pasted invite and asks to join", || {
        let parsed: InviteCode = pasted
            .parse()
            .map_err(|e: syncshell_identity::Error| e.to_string())?;
        parsed.join_request(&friend, now).map_err(|e| e.to_string())
    })?;

    let mut ledger = InviteLedger::new();
    let friend_chain = report.step("admin accepts and issues a token", || {
        ledger
            .accept(&genesis, &admin, &admin_chain, &request, now, &mut OsRng)
            .map_err(|e| e.to_string())
    })?;

    report.step("everyone verifies everyone", || {
        for (who, chain, role) in [
            (&owner, TokenChain::owner(), Role::Owner),
            (&admin, admin_chain.clone(), Role::Admin),
            (&friend, friend_chain.clone(), Role::Member),
        ] {
            let a = admit(&genesis, &who.peer_id(), &chain, now).map_err(|e| e.to_string())?;
            if a.role() != role {
                return Err(format!(
                    "{} has role {:?}, expected {role:?}",
                    who.peer_id(),
                    a.role()
                ));
            }
            println!(
                "  {} admitted as {:?}, until {:?}",
                a.peer().short(),
                a.role(),
                a.expires_at()
            );
        }
        Ok(())
    })?;

    report.step("second use of a one-time invite is refused", || {
        let stranger = Identity::generate(&mut OsRng);
        let again = code
            .join_request(&stranger, now)
            .map_err(|e| e.to_string())?;
        match ledger.accept(&genesis, &admin, &admin_chain, &again, now, &mut OsRng) {
            Err(e) => {
                println!("  refused: {e}");
                Ok(())
            }
            Ok(_) => Err("a used-up invite admitted a second joiner".to_owned()),
        }
    })?;

    // Everyone publishes a phonebook entry; the owner's and the admin's books sync.
    let mut owner_book = Phonebook::new(genesis.clone());
    let mut admin_book = Phonebook::new(genesis.clone());
    report.step(
        "members publish phonebook entries and two books sync",
        || {
            let mut clock = Clock::new();
            for (who, chain, name, in_owner_book) in [
                (&owner, TokenChain::owner(), "Owner", true),
                (&admin, admin_chain.clone(), "Admin", false),
                (&friend, friend_chain.clone(), "", false),
            ] {
                let profile = Profile {
                    display_name: name.to_owned(),
                    ..Profile::default()
                };
                let entry = Entry::publish(&genesis, who, &chain, &profile, clock.tick(now))
                    .map_err(|e| e.to_string())?;
                let book = if in_owner_book {
                    &mut owner_book
                } else {
                    &mut admin_book
                };
                book.insert(entry).map_err(|e| e.to_string())?;
            }
            let bytes =
                sync_in_memory(&mut owner_book, &mut admin_book).map_err(|e| e.to_string())?;
            if owner_book != admin_book || owner_book.entries(now).count() != 3 {
                return Err("the books did not converge".to_owned());
            }
            for e in owner_book.entries(now) {
                println!("  {} {}", e.peer().short(), e.shown_name());
            }
            println!("  sync sent {} bytes", bytes.total());
            Ok(())
        },
    )?;

    report.step("owner revokes friend; the tombstone spreads", || {
        let tombstone = Tombstone::issue(
            &genesis,
            &owner,
            &TokenChain::owner(),
            friend.peer_id(),
            Reason::Removed,
            now,
        )
        .map_err(|e| e.to_string())?;
        owner_book.revoke(tombstone).map_err(|e| e.to_string())?;
        sync_in_memory(&mut owner_book, &mut admin_book).map_err(|e| e.to_string())?;
        if admin_book.get(&friend.peer_id(), now).is_some() {
            return Err("the revoked member is still in the admin's book".to_owned());
        }
        match admin_book
            .revocations()
            .admit(&friend.peer_id(), &friend_chain, now)
        {
            Err(e) => {
                println!("  friend refused: {e}");
                Ok(())
            }
            Ok(_) => Err("a revoked member was admitted".to_owned()),
        }
    })?;

    report.step(
        "owner and admin meet over WebRTC on 127.0.0.1 and handshake",
        || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let hub = MemNetwork::new(1, Faults::default());
                let owner_net =
                    WebRtcTransport::new(hub.signaling("owner"), "owner", WebRtcConfig::default());
                let admin_net =
                    WebRtcTransport::new(hub.signaling("admin"), "admin", WebRtcConfig::default());
                let (x, y) = tokio::join!(owner_net.connect("admin"), admin_net.accept());
                let (x, y) = (x.map_err(|e| e.to_string())?, y.map_err(|e| e.to_string())?);
                let owner_chain = TokenChain::owner();
                let owner_local = Local {
                    identity: &owner,
                    chain: &owner_chain,
                    revocations: owner_book.revocations(),
                };
                let admin_local = Local {
                    identity: &admin,
                    chain: &admin_chain,
                    revocations: admin_book.revocations(),
                };
                let (a, b) = handshake_over(&x, &owner_local, &y, &admin_local, now).await;
                let (a, b) = (a.map_err(|e| e.to_string())?, b.map_err(|e| e.to_string())?);
                if a.key() != b.key()
                    || a.peer() != &admin.peer_id()
                    || b.peer() != &owner.peer_id()
                {
                    return Err("the two sides disagree about the session".to_owned());
                }
                println!(
                    "  session {} over channel binding {}",
                    hex(a.id()),
                    hex(x.channel_binding().get(..8).unwrap_or_default())
                );
                x.close().await;
                y.close().await;

                // The revoked friend tries the admin: refused before any key exists.
                let friend_net = WebRtcTransport::new(
                    hub.signaling("friend"),
                    "friend",
                    WebRtcConfig::default(),
                );
                let (f, y) = tokio::join!(friend_net.connect("admin"), admin_net.accept());
                let (f, y) = (f.map_err(|e| e.to_string())?, y.map_err(|e| e.to_string())?);
                let friend_view = RevocationSet::new(genesis.clone());
                let friend_local = Local {
                    identity: &friend,
                    chain: &friend_chain,
                    revocations: &friend_view,
                };
                let (_, refused) = handshake_over(&f, &friend_local, &y, &admin_local, now).await;
                f.close().await;
                y.close().await;
                match refused {
                    Err(e) => {
                        println!("  revoked friend refused by the admin: {e}");
                        Ok(())
                    }
                    Ok(_) => Err("the admin admitted a revoked member".to_owned()),
                }
            })
        },
    )?;

    report.step("friend saves and reloads its key file", || {
        let dir = std::env::temp_dir().join(format!("syncshell-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let path = dir.join("friend.key");
        let file = KeyFile::seal(
            &friend,
            b"hunter2 but longer",
            KdfParams::DEFAULT,
            &mut OsRng,
        )
        .map_err(|e| e.to_string())?;
        std::fs::write(&path, file.encode()).map_err(|e| e.to_string())?;
        let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
        let _ = std::fs::remove_dir_all(&dir);
        let loaded = KeyFile::decode(&bytes).map_err(|e| e.to_string())?;
        if loaded.open(b"wrong").is_ok() {
            return Err("a wrong passphrase opened the key file".to_owned());
        }
        let back = loaded
            .open(b"hunter2 but longer")
            .map_err(|e| e.to_string())?;
        if back != friend {
            return Err("the reloaded key differs".to_owned());
        }
        Ok(())
    })?;
    Some(())
}

/// One handshake connection for the reconnect adapter: messages over a transport connection.
struct Wire<'a>(&'a WebRtcConnection);

impl MessageConnection for Wire<'_> {
    async fn send(&mut self, message: Vec<u8>) -> std::io::Result<()> {
        self.0
            .send(Bytes::from(message))
            .await
            .map_err(std::io::Error::other)
    }

    async fn recv(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let message = self.0.recv().await.map_err(std::io::Error::other)?;
        Ok(message.map(|m| m.to_vec()))
    }
}

/// Runs the handshake between the two ends of a connection, `x` initiating; returns both
/// outcomes. The channel binding comes from the transport (the DTLS fingerprints).
async fn handshake_over(
    x: &WebRtcConnection,
    x_local: &Local<'_>,
    y: &WebRtcConnection,
    y_local: &Local<'_>,
    now: Timestamp,
) -> (
    Result<syncshell_reconnect::Session, syncshell_reconnect::Error>,
    Result<syncshell_reconnect::Session, syncshell_reconnect::Error>,
) {
    let binding = x.channel_binding();
    let (mut rx, mut ry) = (OsRng, OsRng);
    let initiator = match Handshake::initiate(x_local, &binding, now, &mut rx) {
        Ok(h) => h,
        Err(e) => return (Err(e.clone()), Err(e)),
    };
    let responder = match Handshake::respond(&y.channel_binding(), now) {
        Ok(h) => h,
        Err(e) => return (Err(e.clone()), Err(e)),
    };
    let (mut gx, mut gy) = (ReplayGuard::new(), ReplayGuard::new());
    let (mut wx, mut wy) = (Wire(x), Wire(y));
    // A side that fails closes its end, so the other side learns at once instead of waiting
    // for its deadline.
    let initiator_side = async {
        let r =
            syncshell_reconnect::run(initiator, &mut wx, x_local, &mut gx, || now, &mut rx).await;
        if r.is_err() {
            x.close().await;
        }
        r
    };
    let responder_side = async {
        let r =
            syncshell_reconnect::run(responder, &mut wy, y_local, &mut gy, || now, &mut ry).await;
        if r.is_err() {
            y.close().await;
        }
        r
    };
    tokio::join!(initiator_side, responder_side)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() -> ExitCode {
    let mut report = Report { steps: Vec::new() };
    let finished = run(&mut report).is_some();
    println!("\n{:<60} {:>10}  result", "step", "time");
    for (name, took, ok) in &report.steps {
        let ms = took.as_secs_f64() * 1000.0;
        println!(
            "{name:<60} {ms:>8.2}ms  {}",
            if *ok { "ok" } else { "FAILED" }
        );
    }
    if finished && report.steps.iter().all(|s| s.2) {
        println!("all {} checks passed", report.steps.len());
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

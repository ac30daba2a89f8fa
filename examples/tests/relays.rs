//! Two `syncshell-signal` processes sharing a `redis-server` (all on 127.0.0.1) and
//! `syncshell-node` processes on either relay: a member joins through the other relay, the
//! two link and a folder moves; the owner's relay is killed (SIGKILL) mid-transfer, the
//! owner fails over to the other relay, the link that was up keeps transferring, and a new
//! member still joins through the surviving relay.
//!
//! Needs `redis-server`; without it the test says it is skipped, unless
//! `SYNCSHELL_REQUIRE_REDIS` is set (CI sets it), in which case it fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stdout
)]

use std::path::Path;
use std::process::Command;

#[path = "support/node_proc.rs"]
mod node_proc;
#[path = "../../crates/syncshell-signal/tests/support/redis.rs"]
mod redis_server;
#[path = "support/signal_server.rs"]
mod signal_server;

use node_proc::{make_pack, NodeProc};
use redis_server::Redis;
use signal_server::ServerProcess;

fn node(name: &'static str, data: &Path, url: &str, extra: &[&str]) -> NodeProc {
    NodeProc::spawn(
        name,
        Command::new(env!("CARGO_BIN_EXE_syncshell-node")),
        data,
        url,
        extra,
    )
}

#[test]
fn a_link_outlives_its_relay_and_members_fail_over_to_the_other() {
    let Some(redis) = Redis::start() else { return };
    let work = tempfile::tempdir().unwrap();
    let pack_dir = work.path().join("pack");
    let pack = make_pack(&pack_dir, &[("mods/textures/armour.tex", 3_000_000)]);
    let total: u64 = pack.iter().map(|(_, d)| d.len() as u64).sum();
    let mut relay_a = ServerProcess::start(&["--redis", &redis.url()]);
    let relay_b = ServerProcess::start(&["--redis", &redis.url()]);
    let (url_a, url_b) = (relay_a.url(), relay_b.url());

    // The owner uses relay A (then B); Mira relay B. Mira's join request crosses relays.
    let mut ava = node(
        "Ava",
        &work.path().join("ava"),
        &url_a,
        &[
            "--signal",
            &url_b,
            "--create-shell",
            "Two relays",
            "--share",
            pack_dir.to_str().unwrap(),
            "--send-rate",
            "1000000",
        ],
    );
    let ava_peer = ava.event("ready")["peer"].as_str().unwrap().to_owned();
    ava.cmd("invite");
    let invite = ava.event("invite")["text"].as_str().unwrap().to_owned();
    let got = work.path().join("mira-got");
    let mut mira = node(
        "Mira",
        &work.path().join("mira"),
        &url_b,
        &["--invite", &invite, "--receive", got.to_str().unwrap()],
    );
    mira.event("joined");
    mira.event("ready");
    let up = mira.wait("a link to Ava", |v| {
        v["event"] == "link-up" && v["peer"] == ava_peer.as_str()
    });
    println!("linked: {up}");

    // A tenth of the pack in, relay A dies without a word.
    let p = mira.wait("progress past 10%", |v| {
        v["event"] == "progress" && v["done"].as_u64().unwrap() * 10 > total
    });
    assert!(
        p["done"].as_u64().unwrap() < total,
        "the transfer finished before the kill"
    );
    relay_a.child.kill().unwrap();
    relay_a.child.wait().unwrap();
    // Ava is back on the signaling path through relay B, and the transfer completes over the
    // link that was up, which never went down.
    ava.event("signal-up");
    let done = mira.wait("the whole pack", |v| v["event"] == "received");
    assert_eq!(done["total"].as_u64().unwrap(), total);
    for (rel, data) in &pack {
        let copy = got.join(&ava_peer).join(rel);
        assert_eq!(&std::fs::read(copy).unwrap(), data, "{rel:?}");
    }
    assert!(
        !mira.seen.iter().any(|v| v["event"] == "link-down"),
        "the link went down"
    );

    // A new member joins through relay B: Ava answers there now.
    ava.cmd("invite");
    let invite = ava.event("invite")["text"].as_str().unwrap().to_owned();
    let mut jun = node(
        "Jun",
        &work.path().join("jun"),
        &url_b,
        &["--invite", &invite],
    );
    jun.event("joined");
}

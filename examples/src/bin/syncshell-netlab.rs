//! `syncshell-netlab`: the NAT matrix as figures. For every pair of networks (every pair of
//! home NAT kinds, and a public member with each) it builds a small internet in network
//! namespaces with the relay and coturn on its public side, lets two `syncshell-node`
//! processes form a shell by invite and share a 64 MiB folder, and prints one JSON line per
//! pair: connected, path, candidate kinds, set-up and handshake times, RTT, transfer time.
//!
//! Run as root after building the examples (it starts the `syncshell-node` and
//! `syncshell-signal` binaries beside its own):
//!
//! ```sh
//! cargo build --release -p syncshell-examples
//! sudo target/release/syncshell-netlab
//! ```
//!
//! Needs iproute2, nftables and coturn. The tests (`examples/tests/internet.rs`) check the
//! behaviour; this binary only reports.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use serde_json::json;
use syncshell_examples::netlab::matrix::{self, Programs, World, PACK, PAIRS};
use syncshell_examples::netlab::Lab;

fn main() -> ExitCode {
    let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.to_owned()))
    else {
        eprintln!("syncshell-netlab: cannot find the folder of its own binary");
        return ExitCode::FAILURE;
    };
    let programs = Programs {
        node: dir.join("syncshell-node"),
        signal: dir.join("syncshell-signal"),
    };
    for p in [&programs.node, &programs.signal] {
        if !p.exists() {
            eprintln!(
                "syncshell-netlab: {} is missing: build the examples first",
                p.display()
            );
            return ExitCode::FAILURE;
        }
    }
    let bytes: u64 = PACK.iter().map(|(_, n)| *n as u64).sum();
    let mut failed = false;
    for (a, b) in PAIRS {
        let outcome = Lab::new()
            .and_then(|lab| World::start(lab, programs.clone()))
            .and_then(|mut world| {
                matrix::share_across(&mut world, a, b, &PACK).map(|(shared, ..)| shared)
            });
        let line = match outcome {
            Ok(shared) => shared.report(a, b, bytes),
            Err(e) => {
                failed = true;
                json!({ "a": a.to_string(), "b": b.to_string(), "error": e.to_string() })
            }
        };
        println!("{line}");
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

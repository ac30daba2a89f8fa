//! Enforces the crate dependency rule of DESIGN.md with `cargo metadata`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// For each workspace crate, the syncshell crates it may depend on (any dependency kind).
fn allowed() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let all = [
        "syncshell-identity",
        "syncshell-revocation",
        "syncshell-phonebook",
        "syncshell-reconnect",
        "syncshell-stream",
        "syncshell-transport",
        "syncshell-webrtc",
        "syncshell-signal",
    ];
    let mut m: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    m.insert("syncshell-identity", BTreeSet::new());
    // The fixtures (dev-only, checked below) are open to every crate above identity.
    m.insert(
        "syncshell-revocation",
        ["syncshell-identity", "syncshell-testkit"].into(),
    );
    m.insert(
        "syncshell-phonebook",
        [
            "syncshell-identity",
            "syncshell-revocation",
            "syncshell-testkit",
        ]
        .into(),
    );
    m.insert(
        "syncshell-reconnect",
        [
            "syncshell-identity",
            "syncshell-revocation",
            "syncshell-testkit",
        ]
        .into(),
    );
    m.insert("syncshell-stream", BTreeSet::new());
    m.insert("syncshell-transport", BTreeSet::new());
    m.insert("syncshell-webrtc", ["syncshell-transport"].into());
    // The composition layer: every protocol crate.
    m.insert(
        "syncshell-member",
        all.iter().copied().chain(["syncshell-testkit"]).collect(),
    );
    let with_member = || all.iter().copied().chain(["syncshell-member"]);
    m.insert("syncshell-ffi", with_member().collect());
    // Test fixtures (dev-only) on identity and revocation, and with the feature `sim` the
    // simulation of members on member (whose tests use it as a dev-dependency).
    m.insert(
        "syncshell-testkit",
        [
            "syncshell-identity",
            "syncshell-revocation",
            "syncshell-member",
        ]
        .into(),
    );
    m.insert(
        "syncshell-signal",
        [
            "syncshell-identity",
            "syncshell-revocation",
            "syncshell-transport",
            "syncshell-testkit",
        ]
        .into(),
    );
    m.insert(
        "syncshell-examples",
        with_member()
            .chain(["syncshell-ffi", "syncshell-testkit"])
            .collect(),
    );
    m.insert(
        "syncshell-benches",
        with_member()
            .chain(["syncshell-ffi", "syncshell-testkit"])
            .collect(),
    );
    m
}

#[test]
fn workspace_crates_respect_the_dependency_rule() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let allowed = allowed();
    let mut seen = 0;
    for pkg in meta["packages"].as_array().unwrap() {
        let name = pkg["name"].as_str().unwrap();
        let Some(may) = allowed.get(name) else {
            panic!("workspace package {name} is not in the dependency rule: add it to DESIGN.md and this test");
        };
        seen += 1;
        for dep in pkg["dependencies"].as_array().unwrap() {
            let dep_name = dep["name"].as_str().unwrap();
            // The fixtures are for tests only: a library uses them as a dev-dependency.
            if dep_name == "syncshell-testkit" && name.starts_with("syncshell-") {
                let programs = ["syncshell-examples", "syncshell-benches"];
                assert!(
                    programs.contains(&name) || dep["kind"] == "dev",
                    "{name} depends on syncshell-testkit outside its tests"
                );
            }
            let forbidden_tool = ["syncshell-examples", "syncshell-benches", "syncshell-fuzz"];
            assert!(
                !forbidden_tool.contains(&dep_name),
                "{name} depends on {dep_name}: nothing depends on examples, benches or fuzz"
            );
            if dep_name.starts_with("syncshell-") {
                assert!(
                    may.contains(dep_name),
                    "{name} must not depend on {dep_name} (DESIGN.md dependency rule)"
                );
            }
        }
    }
    assert!(
        seen >= 3,
        "cargo metadata listed only {seen} workspace packages"
    );
}

#[test]
fn the_rule_itself_has_no_cycles() {
    // Libraries take the test kit as a dev-dependency only (checked above), which cargo
    // allows to close a cycle (the kit builds on revocation, and its simulation drives
    // syncshell-member, whose tests use it): the rule's build graph leaves those edges out.
    let mut allowed = allowed();
    for deps in allowed.values_mut() {
        deps.remove("syncshell-testkit");
    }
    // Depth-first search for a cycle among the library crates.
    fn visit<'a>(
        n: &'a str,
        g: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        stack: &mut Vec<&'a str>,
    ) -> bool {
        if stack.contains(&n) {
            return true;
        }
        stack.push(n);
        let cyclic = g
            .get(n)
            .is_some_and(|deps| deps.iter().any(|d| visit(d, g, stack)));
        stack.pop();
        cyclic
    }
    for n in allowed.keys() {
        assert!(!visit(n, &allowed, &mut Vec::new()), "cycle through {n}");
    }
}

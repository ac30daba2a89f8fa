//! `syncshell_member_*` as a host uses it: two members in one process, over WebRTC on
//! 127.0.0.1 and a relay started here. One creates a shell and shares a folder; the other
//! joins by invite, receives through the approval step, gets a file added later, has a denied
//! file never placed, and is revoked: it loses its link and stops. Bad starts come back as
//! statuses and leave the folder usable.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    // Every call passes pointers to live locals of the right size.
    clippy::undocumented_unsafe_blocks
)]

use std::path::Path;
use std::time::{Duration, Instant};

use syncshell_ffi::syncshell_status::*;
use syncshell_ffi::*;

#[path = "support/calls.rs"]
mod calls;
#[path = "support/relay.rs"]
mod relay;

use calls::{c, last_error, ok};

/// Copies and frees a bytes handle of text (0: none).
fn take(bytes: syncshell_bytes) -> Option<String> {
    (bytes.h != 0).then(|| String::from_utf8(calls::take(bytes)).unwrap())
}

/// An event, read whole and freed.
#[derive(Debug)]
struct Ev {
    kind: u32,
    peer: Option<String>,
    name: Option<String>,
    text: Option<String>,
    values: [u64; 4],
}

fn read(event: syncshell_member_event) -> Ev {
    let mut kind = Default::default();
    ok(syncshell_member_event_kind(event, &mut kind));
    let (mut peer, mut name, mut text) = Default::default();
    ok(syncshell_member_event_peer(event, &mut peer));
    ok(syncshell_member_event_name(event, &mut name));
    ok(syncshell_member_event_text(event, &mut text));
    let mut values = [0u64; 4];
    for (i, v) in values.iter_mut().enumerate() {
        ok(syncshell_member_event_value(event, i as u32, v));
    }
    let mut over = Default::default();
    assert_eq!(
        syncshell_member_event_value(event, 4, &mut over),
        SYNCSHELL_ERR_INVALID_ARGUMENT
    );
    ok(syncshell_member_event_free(event));
    Ev {
        kind,
        peer: take(peer),
        name: take(name),
        text: take(text),
        values,
    }
}

/// Polls `member` until an event of `kind` (or a stop) comes; every event seen is kept in
/// `log`.
#[track_caller]
fn wait_for(member: syncshell_member, kind: u32, log: &mut Vec<Ev>) -> Ev {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let mut event = Default::default();
        match syncshell_member_poll_event(member, 500, &mut event) {
            SYNCSHELL_OK => {}
            SYNCSHELL_ERR_TIMEOUT => continue,
            other => panic!("polling: {other:?} {} (seen: {log:#?})", last_error()),
        }
        let ev = read(event);
        if ev.kind == kind {
            return ev;
        }
        assert_ne!(ev.kind, SYNCSHELL_MEMBER_EVENT_START_FAILED, "{ev:?}");
        log.push(ev);
    }
    panic!("no event of kind {kind} within 60 s (seen: {log:#?})");
}

fn options(data: &Path, relay: &str, name: &str) -> syncshell_member_options {
    let mut options = Default::default();
    ok(unsafe { syncshell_member_options_new(c(data.to_str().unwrap()).as_ptr(), &mut options) });
    ok(unsafe { syncshell_member_options_add_relay(options, c(relay).as_ptr()) });
    ok(unsafe { syncshell_member_options_set_name(options, c(name).as_ptr()) });
    options
}

fn start(runtime: syncshell_runtime, options: syncshell_member_options) -> syncshell_status {
    let mut member = Default::default();
    let status = syncshell_member_start(runtime, options, &mut member);
    if status == SYNCSHELL_OK {
        ok(syncshell_member_stop(member, 5000));
        ok(syncshell_member_free(member));
    }
    status
}

#[test]
fn two_members_share_through_approval_and_a_revoked_one_stops() {
    let relay = relay::Relay::start();
    let url = relay.url.clone();
    let work = tempfile::tempdir().unwrap();
    let share = work.path().join("share");
    let receive = work.path().join("receive");
    std::fs::create_dir_all(&share).unwrap();
    std::fs::write(share.join("first.pak"), b"the first mod").unwrap();
    let mut runtime = Default::default();
    ok(syncshell_runtime_new(2, &mut runtime));

    // The owner: a passphrase-sealed key file, a new shell, a shared folder.
    let owner_dir = work.path().join("owner");
    let o = options(&owner_dir, &url, "Ava");
    ok(unsafe { syncshell_member_options_set_passphrase(o, b"ava's words".as_ptr(), 11) });
    ok(unsafe { syncshell_member_options_create_shell(o, c("Raid").as_ptr()) });
    ok(unsafe { syncshell_member_options_set_share(o, c(share.to_str().unwrap()).as_ptr()) });
    let mut owner = Default::default();
    ok(syncshell_member_start(runtime, o, &mut owner));
    let mut owner_log = Vec::new();
    let ready = wait_for(owner, SYNCSHELL_MEMBER_EVENT_READY, &mut owner_log);
    let mut id = Default::default();
    ok(syncshell_member_peer_id(owner, &mut id));
    let owner_id = take(id).unwrap();
    assert_eq!(ready.peer.as_deref(), Some(owner_id.as_str()));

    // A second start on the same folder is refused while the first runs, and a create on a
    // folder that holds a shell is refused too.
    assert_eq!(start(runtime, o), SYNCSHELL_ERR_STATE);
    assert!(
        last_error().contains("another syncshell member"),
        "{}",
        last_error()
    );
    ok(syncshell_member_options_free(o));

    // Bad arguments.
    let mut invite = Default::default();
    assert_eq!(
        syncshell_member_invite(owner, 7, 1, 0, &mut invite),
        SYNCSHELL_ERR_INVALID_ARGUMENT
    );
    let mut bad = Default::default();
    ok(unsafe { syncshell_member_options_new(c("x").as_ptr(), &mut bad) });
    assert_eq!(
        unsafe { syncshell_member_options_join(bad, c("not an invite").as_ptr(), 0) },
        SYNCSHELL_ERR_DECODE
    );
    assert_eq!(
        unsafe { syncshell_member_options_set_secret(bad, [1u8; 31].as_ptr(), 31) },
        SYNCSHELL_ERR_INVALID_ARGUMENT
    );
    assert_eq!(
        unsafe { syncshell_member_options_add_relay(bad, c("http://x/").as_ptr()) },
        SYNCSHELL_ERR_INVALID_ARGUMENT
    );
    assert_eq!(
        syncshell_member_start(runtime, bad, &mut syncshell_member::default()),
        SYNCSHELL_ERR_STATE,
        "a start without a key"
    );
    ok(syncshell_member_options_free(bad));
    assert_eq!(
        // An options handle forced in as a member (C would not compile it).
        syncshell_member_poll_event(
            syncshell_member { h: o.h },
            0,
            &mut syncshell_member_event::default()
        ),
        SYNCSHELL_ERR_INVALID_HANDLE
    );

    ok(syncshell_member_invite(owner, 0, 1, 0, &mut invite));
    let invite = take(invite).unwrap();

    // The guest: a raw secret the host keeps, joins by invite, approval on.
    let guest_dir = work.path().join("guest");
    let g = options(&guest_dir, &url, "Bo");
    ok(unsafe { syncshell_member_options_set_secret(g, [7u8; 32].as_ptr(), 32) });
    ok(unsafe { syncshell_member_options_join(g, c(&invite).as_ptr(), 30_000) });
    ok(unsafe { syncshell_member_options_set_receive(g, c(receive.to_str().unwrap()).as_ptr()) });
    ok(syncshell_member_options_set_approval(g, true));
    let mut guest = Default::default();
    ok(syncshell_member_start(runtime, g, &mut guest));
    ok(syncshell_member_options_free(g));
    assert!(
        !guest_dir.join("key").exists(),
        "a raw secret leaves no key file"
    );
    let mut guest_log = Vec::new();
    let joined = wait_for(guest, SYNCSHELL_MEMBER_EVENT_JOINED, &mut guest_log);
    assert_eq!(joined.peer.as_deref(), Some(owner_id.as_str()));
    wait_for(guest, SYNCSHELL_MEMBER_EVENT_READY, &mut guest_log);
    let up = wait_for(guest, SYNCSHELL_MEMBER_EVENT_LINK_UP, &mut guest_log);
    assert_eq!(up.name.as_deref(), Some("Ava"));
    assert_eq!(up.values[1], 2, "the owner's role");
    let admitted = wait_for(owner, SYNCSHELL_MEMBER_EVENT_ADMITTED, &mut owner_log);

    // The shared file waits for approval, then is placed: in the owner's folder of the
    // receive folder, named by its peer id, as the waiting file's path says.
    let from_owner = receive.join(&owner_id);
    let waiting = wait_for(guest, SYNCSHELL_MEMBER_EVENT_WAITING, &mut guest_log);
    assert_eq!(
        waiting.text.as_deref(),
        Some(format!("{owner_id}/first.pak").as_str())
    );
    assert_eq!(waiting.values[0], 13);
    assert!(
        !from_owner.join("first.pak").exists(),
        "placed before approval"
    );
    assert_eq!(
        unsafe { syncshell_member_decide(guest, c("nothing.pak").as_ptr(), true, 5000) },
        SYNCSHELL_ERR_INVALID_ARGUMENT
    );
    assert_eq!(
        unsafe { syncshell_member_decide(guest, c("first.pak").as_ptr(), true, 5000) },
        SYNCSHELL_ERR_INVALID_ARGUMENT,
        "a path without its sharer's folder names nothing"
    );
    let first = c(&format!("{owner_id}/first.pak"));
    ok(unsafe { syncshell_member_decide(guest, first.as_ptr(), true, 5000) });
    assert_eq!(
        std::fs::read(from_owner.join("first.pak")).unwrap(),
        b"the first mod"
    );

    // A file added to the share while linked arrives; this one is denied and never placed.
    std::fs::write(share.join("crash.pak"), b"a mod that crashes").unwrap();
    let waiting = wait_for(guest, SYNCSHELL_MEMBER_EVENT_WAITING, &mut guest_log);
    let crash = format!("{owner_id}/crash.pak");
    assert_eq!(waiting.text.as_deref(), Some(crash.as_str()));
    ok(unsafe { syncshell_member_decide(guest, c(&crash).as_ptr(), false, 5000) });
    assert!(!from_owner.join("crash.pak").exists());

    // The owner revokes the guest by name: both see the link end, the guest stops.
    let mut links = Default::default();
    ok(syncshell_member_link_count(owner, &mut links));
    assert_eq!(links, 1);
    assert_eq!(
        unsafe { syncshell_member_revoke(owner, c("nobody").as_ptr()) },
        SYNCSHELL_ERR_INVALID_ARGUMENT
    );
    ok(unsafe { syncshell_member_revoke(owner, c("Bo").as_ptr()) });
    let down = wait_for(owner, SYNCSHELL_MEMBER_EVENT_LINK_DOWN, &mut owner_log);
    assert_eq!(down.peer, admitted.peer);
    assert_eq!(down.text.as_deref(), Some("revoked"));
    let stopped = wait_for(guest, SYNCSHELL_MEMBER_EVENT_STOPPED, &mut guest_log);
    assert!(
        stopped.text.as_deref().unwrap_or("").contains("revoked"),
        "{stopped:?}"
    );
    let mut event = Default::default();
    assert_eq!(
        syncshell_member_poll_event(guest, 100, &mut event),
        SYNCSHELL_ERR_CLOSED
    );
    assert_eq!(
        syncshell_member_link_count(guest, &mut links),
        SYNCSHELL_ERR_CLOSED
    );
    // Nothing more reaches it.
    std::fs::write(share.join("later.pak"), b"after the revocation").unwrap();
    wait_for(owner, SYNCSHELL_MEMBER_EVENT_SHARE_CHANGED, &mut owner_log);
    assert!(!from_owner.join("later.pak").exists());
    assert!(
        guest_log
            .iter()
            .chain(&owner_log)
            .all(|e| e.kind != SYNCSHELL_MEMBER_EVENT_ERROR),
        "{guest_log:#?} {owner_log:#?}"
    );

    ok(syncshell_member_stop(owner, 5000));
    ok(syncshell_member_free(owner));
    ok(syncshell_member_free(guest));

    // The owner's folder is free again; a wrong passphrase is told apart.
    let o = options(&owner_dir, &url, "Ava");
    ok(unsafe { syncshell_member_options_set_passphrase(o, b"wrong".as_ptr(), 5) });
    assert_eq!(start(runtime, o), SYNCSHELL_ERR_WRONG_PASSPHRASE);
    assert!(last_error().contains("key"), "{}", last_error());
    ok(unsafe { syncshell_member_options_create_shell(o, c("Again").as_ptr()) });
    ok(unsafe { syncshell_member_options_set_passphrase(o, b"ava's words".as_ptr(), 11) });
    assert_eq!(start(runtime, o), SYNCSHELL_ERR_STATE, "a second shell");
    assert!(
        last_error().contains("already holds the shell"),
        "{}",
        last_error()
    );
    ok(syncshell_member_options_free(o));

    ok(syncshell_runtime_free(runtime));
    let mut live = usize::MAX;
    ok(syncshell_live_handles(&mut live));
    assert_eq!(live, 0);
    drop(relay);
}

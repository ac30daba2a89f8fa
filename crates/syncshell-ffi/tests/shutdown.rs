//! `syncshell_shutdown` leaves nothing running: a host that unloads (a Dalamud plugin whose
//! DLL stays loaded) finds no library thread left in the process and no live handle. Its own
//! test binary, because shutdown frees every handle of the process.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::undocumented_unsafe_blocks
)]

use std::ffi::CString;
use std::time::{Duration, Instant};

use syncshell_ffi::syncshell_status::*;
use syncshell_ffi::*;

/// The process's threads (Linux: /proc/self/task), by name.
fn threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .map(|t| {
            std::fs::read_to_string(t.unwrap().path().join("comm"))
                .unwrap_or_default()
                .trim()
                .to_owned()
        })
        .collect()
}

#[test]
fn shutdown_stops_every_library_thread_and_frees_every_handle() {
    if !std::path::Path::new("/proc/self/task").exists() {
        eprintln!("no /proc/self/task here: skipping the thread count");
        return;
    }
    let before = threads();
    let work = tempfile::tempdir().unwrap();
    let share = work.path().join("share");
    std::fs::create_dir_all(&share).unwrap();
    let c = |s: &str| CString::new(s).unwrap();

    // A member that runs: workers, a folder watcher, a relay client that keeps retrying (no
    // relay answers at this port).
    let mut runtime = Default::default();
    assert_eq!(syncshell_runtime_new(2, &mut runtime), SYNCSHELL_OK);
    let mut options = Default::default();
    let data = work.path().join("data");
    unsafe {
        assert_eq!(
            syncshell_member_options_new(c(data.to_str().unwrap()).as_ptr(), &mut options),
            SYNCSHELL_OK
        );
        assert_eq!(
            syncshell_member_options_set_secret(options, [3u8; 32].as_ptr(), 32),
            SYNCSHELL_OK
        );
        assert_eq!(
            syncshell_member_options_create_shell(options, c("Raid").as_ptr()),
            SYNCSHELL_OK
        );
        assert_eq!(
            syncshell_member_options_add_relay(options, c("ws://127.0.0.1:9/").as_ptr()),
            SYNCSHELL_OK
        );
        assert_eq!(
            syncshell_member_options_set_share(options, c(share.to_str().unwrap()).as_ptr()),
            SYNCSHELL_OK
        );
    }
    let mut member = Default::default();
    assert_eq!(
        syncshell_member_start(runtime, options, &mut member),
        SYNCSHELL_OK
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut kinds = Vec::new();
    while !kinds.contains(&SYNCSHELL_MEMBER_EVENT_READY) {
        assert!(Instant::now() < deadline, "not ready: {kinds:?}");
        let mut event = Default::default();
        if syncshell_member_poll_event(member, 500, &mut event) == SYNCSHELL_OK {
            let mut kind = Default::default();
            assert_eq!(syncshell_member_event_kind(event, &mut kind), SYNCSHELL_OK);
            assert_eq!(syncshell_member_event_free(event), SYNCSHELL_OK);
            kinds.push(kind);
        }
    }
    assert!(
        kinds.contains(&SYNCSHELL_MEMBER_EVENT_RELAY_WAITING),
        "{kinds:?}"
    );
    let running = threads();
    assert!(
        running.len() > before.len(),
        "the member runs no threads of its own? {running:?}"
    );

    // Shutdown with handles still live (the member, its options, the runtime).
    assert_eq!(syncshell_shutdown(5000), SYNCSHELL_OK);
    let after = threads();
    assert_eq!(
        after.len(),
        before.len(),
        "threads left after shutdown: {after:?} (before the library: {before:?})"
    );
    let mut live = usize::MAX;
    assert_eq!(syncshell_live_handles(&mut live), SYNCSHELL_OK);
    assert_eq!(live, 0);
    let mut event = Default::default();
    assert_eq!(
        syncshell_member_poll_event(member, 0, &mut event),
        SYNCSHELL_ERR_INVALID_HANDLE
    );
    // The folder is free again, and the library works afresh.
    assert_eq!(syncshell_runtime_new(1, &mut runtime), SYNCSHELL_OK);
    let mut again = Default::default();
    unsafe {
        assert_eq!(
            syncshell_member_options_new(c(data.to_str().unwrap()).as_ptr(), &mut again),
            SYNCSHELL_OK
        );
        assert_eq!(
            syncshell_member_options_set_secret(again, [3u8; 32].as_ptr(), 32),
            SYNCSHELL_OK
        );
    }
    assert_eq!(
        syncshell_member_start(runtime, again, &mut member),
        SYNCSHELL_OK,
        "the folder is still locked"
    );
    assert_eq!(syncshell_shutdown(5000), SYNCSHELL_OK);
    assert_eq!(threads().len(), before.len());
}

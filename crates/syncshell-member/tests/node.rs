//! Members started as an embedder starts them ([`Opening::start`]: a data folder, a key,
//! WebRTC on 127.0.0.1 through a relay in this process), sharing and receiving folders.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use rand_core::{OsRng, RngCore};
use syncshell_identity::{InviteOptions, PeerId};
use syncshell_member::{
    sharer_folder, Config, Event, FirstStart, Folders, Key, Opening, StartOptions, Started,
};
use syncshell_signal::{IceConfig, Limits, Server};
use syncshell_webrtc::WebRtcConfig;
use tokio::sync::mpsc;
use zeroize::Zeroizing;

/// Longest wait for one event.
const WAIT: Duration = Duration::from_secs(60);

/// A relay on 127.0.0.1 until the returned sender is dropped; its URL.
async fn relay() -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = Server::new(Limits::default(), IceConfig::default());
    tokio::spawn(server.run(listener, None, async move {
        let _ = stopped.await;
    }));
    (url, stop)
}

/// Starts a member named `name` in `work/name`.
async fn start(
    work: &Path,
    relay: &str,
    name: &str,
    first: FirstStart,
    share: Option<PathBuf>,
    receive: Option<PathBuf>,
) -> Started {
    let mut secret = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(&mut secret[..]);
    let options = StartOptions {
        data: work.join(name),
        key: Key::Secret(secret),
        first,
        relays: vec![relay.to_owned()],
        client: Default::default(),
        // Binds 127.0.0.1 only.
        webrtc: WebRtcConfig::default(),
        config: Config {
            name: name.to_owned(),
            ..Config::default()
        },
        folders: Folders {
            share,
            receive,
            ..Folders::default()
        },
        approval: false,
    };
    Opening::open(options).unwrap().start(|_| {}).await.unwrap()
}

/// Waits for the first of `events` that `wanted` picks.
async fn until<R>(
    events: &mut mpsc::Receiver<Event>,
    mut wanted: impl FnMut(&Event) -> Option<R>,
) -> R {
    tokio::time::timeout(WAIT, async {
        while let Some(e) = events.recv().await {
            if let Some(r) = wanted(&e) {
                return r;
            }
        }
        panic!("the member stopped");
    })
    .await
    .expect("the event came in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sharers_of_the_same_paths_arrive_in_folders_of_their_own() {
    let (url, _relay) = relay().await;
    let work = tempfile::tempdir().unwrap();
    // Ava and Kai both share `mods/body.pak` and `readme.txt`, with different contents.
    let share = |who: &str| {
        let dir = work.path().join(format!("{who}-share"));
        std::fs::create_dir_all(dir.join("mods")).unwrap();
        std::fs::write(dir.join("mods/body.pak"), format!("{who}'s body mod")).unwrap();
        std::fs::write(dir.join("readme.txt"), format!("{who}'s notes")).unwrap();
        dir
    };
    let ava = start(
        work.path(),
        &url,
        "Ava",
        FirstStart::Create("Two sharers".into()),
        Some(share("ava")),
        None,
    )
    .await;
    let invite = |s: &Started| {
        let code = s
            .node
            .with_member(|m, t| m.invite(InviteOptions::default(), t))
            .unwrap();
        FirstStart::Join(Box::new(code), WAIT)
    };
    let kai = start(
        work.path(),
        &url,
        "Kai",
        invite(&ava),
        Some(share("kai")),
        None,
    )
    .await;
    let received = work.path().join("mira-got");
    let mut mira = start(
        work.path(),
        &url,
        "Mira",
        invite(&ava),
        None,
        Some(received.clone()),
    )
    .await;
    let peer = |s: &Started| s.node.with_member(|m, _| m.peer_id());
    let sharers = [peer(&ava), peer(&kai)];
    let mut done: Vec<PeerId> = Vec::new();
    while done.len() < 2 {
        let from = until(&mut mira.events, |e| match e {
            Event::Received { from, .. } => Some(*from),
            _ => None,
        })
        .await;
        done.push(from);
    }
    done.sort();
    let mut expected = sharers.to_vec();
    expected.sort();
    assert_eq!(done, expected, "one complete transfer from each sharer");
    for (who, sharer) in [("ava", &sharers[0]), ("kai", &sharers[1])] {
        let folder = sharer_folder(&received, sharer);
        assert_eq!(
            std::fs::read_to_string(folder.join("mods/body.pak")).unwrap(),
            format!("{who}'s body mod")
        );
        assert_eq!(
            std::fs::read_to_string(folder.join("readme.txt")).unwrap(),
            format!("{who}'s notes")
        );
    }
    // Nothing lands in the receive folder itself.
    let mut top: Vec<String> = std::fs::read_dir(&received)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    let mut names: Vec<String> = sharers.iter().map(ToString::to_string).collect();
    names.sort();
    assert_eq!(top, names);
    for s in [&ava, &kai, &mira] {
        s.node.shutdown().await;
    }
}

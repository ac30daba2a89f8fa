//! Runs the `webrtc-peer` binary: two processes over 127.0.0.1 exchange a 20 MiB file through
//! SDP JSON files, and a raw `webrtc` peer in this test checks `--echo`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr
)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rtc::ice::mdns::MulticastDnsMode;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceGatheringState, RTCSessionDescription, SettingEngineBuilder,
};
use webrtc::runtime::TokioRuntime;

const BIN: &str = env!("CARGO_BIN_EXE_webrtc-peer");
const LIMIT: Duration = Duration::from_secs(120);

fn spawn(args: &[&str], dir: &Path) -> Child {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start webrtc-peer")
}

/// Waits for every child until `deadline`; kills them all and fails on timeout.
fn wait_all(mut children: Vec<(&str, Child)>, deadline: Instant) -> Vec<Output> {
    loop {
        let mut done = true;
        for (_, c) in &mut children {
            if c.try_wait().expect("try_wait").is_none() {
                done = false;
            }
        }
        if done {
            return children
                .into_iter()
                .map(|(_, c)| c.wait_with_output().expect("output"))
                .collect();
        }
        if Instant::now() > deadline {
            let mut report = String::new();
            for (name, mut c) in children {
                let _ = c.kill();
                let out = c.wait_with_output().expect("output");
                report += &format!(
                    "\n{name}: {:?}\nstdout: {}\nstderr: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            panic!("webrtc-peer did not finish in time:{report}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn check_ok(name: &str, out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{name} failed: {:?}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout.lines().next().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{name}: bad JSON line {line:?}: {e}"))
}

#[test]
fn two_processes_transfer_20_mib() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = vec![0u8; 20 << 20];
    blake3::Hasher::new()
        .update(b"webrtc-peer test file")
        .finalize_xof()
        .fill(&mut data);
    let sent_hash = blake3::hash(&data).to_hex().to_string();
    std::fs::write(dir.path().join("send.bin"), &data).unwrap();

    let deadline = Instant::now() + LIMIT;
    let answerer = spawn(
        &[
            "answer",
            "--offer-in",
            "offer.json",
            "--answer-out",
            "answer.json",
            "--recv-dir",
            "recv",
            "--bind",
            "127.0.0.1",
            "--timeout",
            "100",
        ],
        dir.path(),
    );
    let offerer = spawn(
        &[
            "offer",
            "--offer-out",
            "offer.json",
            "--answer-in",
            "answer.json",
            "--send",
            "send.bin",
            "--bind",
            "127.0.0.1",
            "--timeout",
            "100",
        ],
        dir.path(),
    );
    let outs = wait_all(vec![("answerer", answerer), ("offerer", offerer)], deadline);
    let received = check_ok("answerer", &outs[0]);
    let sent = check_ok("offerer", &outs[1]);

    for (v, direction) in [(&received, "received"), (&sent, "sent")] {
        assert_eq!(v["channel"], "file");
        assert_eq!(v["direction"], direction);
        assert_eq!(v["bytes"], 20u64 << 20);
        assert_eq!(v["blake3"], sent_hash.as_str());
        assert!(v["seconds"].as_f64().is_some_and(|s| s > 0.0));
    }
    eprintln!(
        "20 MiB: sent in {} s, received in {} s",
        sent["seconds"], received["seconds"]
    );
    let path = dir.path().join(received["path"].as_str().unwrap());
    assert!(path.starts_with(dir.path().join("recv")));
    let got = std::fs::read(&path).unwrap();
    assert_eq!(blake3::hash(&got).to_hex().to_string(), sent_hash);

    // The offer is plain SDP JSON.
    let offer: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("offer.json")).unwrap()).unwrap();
    assert_eq!(offer["type"], "offer");
    let sdp = offer["sdp"].as_str().unwrap();
    assert!(sdp.contains("a=candidate:") && sdp.contains("127.0.0.1"));
    assert!(!sdp.contains(".local"), "mDNS candidates: {sdp}");
}

#[test]
fn bad_offer_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("offer.json"),
        r#"{"type":"answer","sdp":"v=0"}"#,
    )
    .unwrap();
    let child = spawn(
        &[
            "answer",
            "--offer-in",
            "offer.json",
            "--answer-out",
            "a.json",
            "--timeout",
            "10",
        ],
        dir.path(),
    );
    let outs = wait_all(vec![("answerer", child)], Instant::now() + LIMIT);
    let err = String::from_utf8_lossy(&outs[0].stderr);
    assert!(!outs[0].status.success());
    assert!(err.contains("expected \"offer\""), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

struct Gathered(tokio::sync::watch::Sender<bool>);

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Gathered {
    async fn on_ice_gathering_state_change(&self, s: RTCIceGatheringState) {
        if s == RTCIceGatheringState::Complete {
            self.0.send_replace(true);
        }
    }
}

async fn next_message(dc: &Arc<dyn DataChannel>) -> (bool, Vec<u8>) {
    loop {
        match dc.poll().await.expect("channel events ended") {
            DataChannelEvent::OnMessage(m) => return (m.is_string, m.data.to_vec()),
            DataChannelEvent::OnClose => panic!("channel closed"),
            _ => {}
        }
    }
}

/// A raw webrtc peer offers a channel labelled `chat`; `webrtc-peer answer --echo` sends text
/// back as text and binary as binary, and exits 0 once the peer closed.
#[test]
fn echo_keeps_the_message_type() {
    let dir = tempfile::tempdir().unwrap();
    let answerer = spawn(
        &[
            "answer",
            "--offer-in",
            "offer.json",
            "--answer-out",
            "answer.json",
            "--echo",
            "--timeout",
            "60",
        ],
        dir.path(),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir_path = dir.path().to_owned();
    let result = std::thread::spawn(move || {
        rt.block_on(async move {
            tokio::time::timeout(Duration::from_secs(60), async move {
                let gathered = tokio::sync::watch::channel(false).0;
                let pc = PeerConnectionBuilder::new()
                    .with_configuration(RTCConfigurationBuilder::new().build())
                    .with_setting_engine(
                        SettingEngineBuilder::new()
                            .with_multicast_dns_mode(MulticastDnsMode::Disabled)
                            .build(),
                    )
                    .with_runtime(Arc::new(TokioRuntime))
                    .with_handler(Arc::new(Gathered(gathered.clone())))
                    .with_udp_addrs(vec!["127.0.0.1:0"])
                    .build()
                    .await
                    .unwrap();
                let dc = pc.create_data_channel("chat", None).await.unwrap();
                let offer = pc.create_offer(None).await.unwrap();
                pc.set_local_description(offer).await.unwrap();
                gathered.subscribe().wait_for(|g| *g).await.unwrap();
                let sdp = pc.local_description().await.unwrap().sdp;
                let json = serde_json::json!({"type": "offer", "sdp": sdp}).to_string();
                std::fs::write(dir_path.join("offer.json"), json).unwrap();
                let answer = loop {
                    if let Ok(text) = std::fs::read_to_string(dir_path.join("answer.json")) {
                        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                            break v["sdp"].as_str().unwrap().to_owned();
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                };
                pc.set_remote_description(RTCSessionDescription::answer(answer).unwrap())
                    .await
                    .unwrap();
                loop {
                    if let DataChannelEvent::OnOpen = dc.poll().await.unwrap() {
                        break;
                    }
                }
                dc.send_text("hello, echo").await.unwrap();
                assert_eq!(next_message(&dc).await, (true, b"hello, echo".to_vec()));
                dc.send(BytesMut::from(&[0u8, 1, 2, 255][..]))
                    .await
                    .unwrap();
                assert_eq!(next_message(&dc).await, (false, vec![0u8, 1, 2, 255]));
                let big = vec![7u8; 16 * 1024];
                dc.send(BytesMut::from(&big[..])).await.unwrap();
                assert_eq!(next_message(&dc).await, (false, big));
                dc.close().await.unwrap();
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    while let Some(ev) = dc.poll().await {
                        if let DataChannelEvent::OnClose = ev {
                            break;
                        }
                    }
                })
                .await;
                pc.close().await.unwrap();
            })
            .await
        })
    })
    .join();
    let outs = wait_all(vec![("answerer", answerer)], Instant::now() + LIMIT);
    assert!(
        matches!(result, Ok(Ok(()))),
        "raw peer failed or timed out; answerer stderr: {}",
        String::from_utf8_lossy(&outs[0].stderr)
    );
    assert!(
        outs[0].status.success(),
        "answerer failed: {}",
        String::from_utf8_lossy(&outs[0].stderr)
    );
}

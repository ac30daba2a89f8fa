//! Replays the fuzz corpora (fuzz/corpus/stream_*) through the fuzz targets' own checks.
//!
//! Seeds made from a real transfer are written with
//! `SYNCSHELL_WRITE_CORPUS=1 cargo test -p syncshell-stream --test stream fuzz_corpus`.

#[allow(dead_code, unreachable_pub, clippy::expect_used)]
#[path = "../../../../fuzz/src/stream.rs"]
mod checks;

#[allow(dead_code, unreachable_pub, clippy::expect_used, clippy::panic)]
#[path = "../../../../fuzz/src/replay.rs"]
mod replay;

use syncshell_stream::{AbortReason, Frame, Receiver, ReceiverConfig, Sender, SessionKey};

use crate::{drain_receiver, drain_sender, Disk};

/// The frames of a whole transfer of the fixture manifest: (sender's, receiver's).
fn fixture_transfer() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let m = checks::fixture_manifest();
    let data: Vec<Vec<u8>> = m
        .files()
        .iter()
        .map(|f| checks::fixture_data(f.size() as usize))
        .collect();
    let mut s = Sender::new(
        m,
        &SessionKey::from_bytes(checks::KEY),
        &mut checks::salt_rng(),
    );
    let mut r = Receiver::new(
        SessionKey::from_bytes(checks::KEY),
        ReceiverConfig::default(),
    );
    let mut disk = Disk::default();
    let (mut from_sender, mut from_receiver) = (Vec::new(), Vec::new());
    loop {
        let out = drain_sender(&mut s, &data);
        let mut back = Vec::new();
        for f in &out {
            r.handle_frame(f.clone()).unwrap();
            back.extend(drain_receiver(&mut r, &mut disk));
        }
        from_sender.extend(out);
        if back.is_empty() {
            break;
        }
        for f in &back {
            s.handle_frame(f.clone()).unwrap();
        }
        from_receiver.extend(back);
    }
    assert!(s.is_finished() && r.is_finished());
    (from_sender, from_receiver)
}

fn write_seeds() {
    let (sent, answered) = fixture_transfer();
    let chunks: Vec<Vec<u8>> = sent[1..].to_vec();
    let mut flipped = chunks.clone();
    let last = flipped[0].len() - 1;
    flipped[0][last] ^= 1;
    let abort = Frame::Abort {
        reason: AbortReason::Cancelled,
        message: "stopped".into(),
    }
    .encode();
    let seeds: Vec<(&str, Vec<Vec<u8>>)> = vec![
        (
            "stream_manifest",
            vec![checks::fixture_manifest().encoded().to_vec()],
        ),
        (
            "stream_frame",
            vec![
                sent[0].clone(),
                sent[1].clone(),
                answered[0].clone(),
                answered[1].clone(),
                abort.clone(),
            ],
        ),
        ("stream_path", vec![b"mods/Penumbra/chara/v01.tex".to_vec()]),
        ("stream_receiver", vec![checks::join_frames(&chunks)]),
        (
            "stream_sender",
            vec![
                checks::join_frames(&answered),
                checks::join_frames(&[abort]),
            ],
        ),
    ];
    replay::write_seeds(seeds);
    // Inputs that must be refused, kept under names that say so.
    let refused: [(&str, &str, Vec<u8>); 2] = [
        ("stream_path", "seed-device-name", b"mods/NUL.txt".to_vec()),
        (
            "stream_receiver",
            "seed-bad-tag",
            checks::join_frames(&flipped),
        ),
    ];
    for (target, name, bytes) in refused {
        std::fs::write(replay::corpus_dir(target).join(name), bytes).unwrap();
    }
}

#[test]
fn fuzz_corpora_replay() {
    if std::env::var_os("SYNCSHELL_WRITE_CORPUS").is_some() {
        write_seeds();
    }
    replay::replay_all(checks::TARGETS);
}

#[test]
fn the_valid_receiver_seed_completes_the_transfer() {
    // The replayed seed really drives the receiver to the end, so the target reaches deep.
    let (sent, _) = fixture_transfer();
    let frames = checks::frames(&checks::join_frames(&sent[1..]));
    assert_eq!(frames, sent[1..].to_vec());
}

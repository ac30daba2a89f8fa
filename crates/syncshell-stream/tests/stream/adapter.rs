//! The tokio adapter on real folders: round trips, files already present, the content store,
//! symbolic links in the destination, the rate limit and progress.

use syncshell_stream::{
    receive_folder, send_folder, ChannelConnection, Cipher, Error, FileHash, Frame, LengthPrefixed,
    ManifestBuilder, MessageConnection, Progress, ReceiveOptions, SendOptions, PARTIAL_DIR,
};

use crate::resume::read_tree;
use crate::{random_bytes, raw_manifest, raw_offer, rng, session};

fn fill(root: &std::path::Path) {
    let mut r = rng(77);
    for (p, n) in [
        ("pack/a.tex", 150_000usize),
        ("pack/sub/b.json", 10),
        ("pack/sub/empty", 0),
        ("c.bin", 65_536),
        ("copy-of-c.bin", 0),
    ] {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, random_bytes(&mut r, n)).unwrap();
    }
    // Same content as c.bin: received once, copied once.
    std::fs::copy(root.join("c.bin"), root.join("copy-of-c.bin")).unwrap();
}

#[tokio::test]
async fn folder_round_trip_over_a_pipe_then_nothing_to_resend() {
    let src = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    fill(src.path());
    for cipher in [Cipher::Aes256Gcm, Cipher::ChaCha20Poly1305] {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let (mut a, mut b) = (LengthPrefixed::new(a), LengthPrefixed::new(b));
        let opts = SendOptions {
            cipher,
            ..SendOptions::default()
        };
        let (tx, rx) = tokio::sync::watch::channel(Progress::default());
        let ropts = ReceiveOptions {
            progress: Some(tx),
            ..ReceiveOptions::default()
        };
        let k = session(3);
        let (sent, got) = tokio::join!(
            send_folder(&mut a, &k, src.path(), &opts),
            receive_folder(&mut b, &k, dest.path(), &ropts),
        );
        let (sent, got) = (sent.unwrap(), got.unwrap());
        assert_eq!(read_tree(dest.path()), read_tree(src.path()));
        if cipher == Cipher::Aes256Gcm {
            // First run: everything but the duplicate travels.
            assert_eq!(got.files_present, 0);
            assert_eq!(got.bytes_received, 150_000 + 10 + 65_536);
            assert_eq!(sent.bytes_sent, got.bytes_received);
            let p = *rx.borrow();
            assert_eq!(p.bytes_done, p.bytes_total);
        } else {
            // Second run (new manifest: another cipher): every file is already in place.
            assert_eq!(got.bytes_received, 0);
            assert_eq!(got.files_present, 4);
            assert_eq!(sent.files_sent, 0);
        }
    }
}

#[tokio::test]
async fn files_in_the_content_store_are_not_sent() {
    let src = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    fill(src.path());
    let tex = std::fs::read(src.path().join("pack/a.tex")).unwrap();
    std::fs::write(store.path().join(FileHash::of(&tex).to_hex()), &tex).unwrap();
    // A store entry whose content does not match its name is ignored.
    let c = std::fs::read(src.path().join("c.bin")).unwrap();
    std::fs::write(store.path().join(FileHash::of(&c).to_hex()), b"not c").unwrap();
    let (mut a, mut b) = ChannelConnection::pair(2);
    let ropts = ReceiveOptions {
        store: Some(store.path().to_path_buf()),
        ..ReceiveOptions::default()
    };
    let (k, so) = (session(4), SendOptions::default());
    let (sent, got) = tokio::join!(
        send_folder(&mut a, &k, src.path(), &so),
        receive_folder(&mut b, &k, dest.path(), &ropts),
    );
    sent.unwrap();
    assert_eq!(got.unwrap().bytes_received, 10 + 65_536);
    assert_eq!(read_tree(dest.path()), read_tree(src.path()));
}

#[cfg(unix)]
#[tokio::test]
async fn a_symbolic_link_in_the_destination_does_not_redirect_writes() {
    let src = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("pack")).unwrap();
    std::fs::write(src.path().join("pack/x.txt"), b"hello").unwrap();
    std::os::unix::fs::symlink(outside.path(), dest.path().join("pack")).unwrap();
    let (mut a, mut b) = ChannelConnection::pair(2);
    let (ka, kb) = (session(5), session(5));
    let (so, ro) = (SendOptions::default(), ReceiveOptions::default());
    // Each side closes its end when it returns, so a failure cannot leave the other waiting.
    let (sent, got) = tokio::join!(
        async {
            let r = send_folder(&mut a, &ka, src.path(), &so).await;
            drop(a);
            r
        },
        async {
            let r = receive_folder(&mut b, &kb, dest.path(), &ro).await;
            drop(b);
            r
        },
    );
    assert!(matches!(got, Err(Error::UnsafePath { .. })), "{got:?}");
    assert!(sent.is_err());
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn a_manifest_naming_the_partial_folder_is_refused() {
    let dest = tempfile::tempdir().unwrap();
    // The builder refuses to make it; a peer writes it by hand, in another case.
    let mut b = ManifestBuilder::new();
    assert!(matches!(
        b.add_file(&format!("{PARTIAL_DIR}/x.part"), 1, FileHash::of(b"x")),
        Err(Error::UnsafePath { .. })
    ));
    let raw = raw_manifest(&[(".SyncShell-Partial/x.part", 1, [7; 32])], 1024, 1);
    let (mut a, mut conn) = ChannelConnection::pair(2);
    a.send(raw_offer(&raw, 6)).await.unwrap();
    let got = receive_folder(
        &mut conn,
        &session(6),
        dest.path(),
        &ReceiveOptions::default(),
    )
    .await;
    assert!(matches!(got, Err(Error::UnsafePath { .. })), "{got:?}");
    // The sender is told.
    let abort = a.recv().await.unwrap().unwrap();
    assert!(matches!(Frame::decode(abort), Ok(Frame::Abort { .. })));
}

#[tokio::test]
async fn a_wrong_session_key_receives_nothing() {
    let src = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    fill(src.path());
    let (mut a, mut b) = ChannelConnection::pair(2);
    let (ka, kb) = (session(7), session(8));
    let (so, ro) = (SendOptions::default(), ReceiveOptions::default());
    // Each side closes its end when it returns, so a failure cannot leave the other waiting.
    let (sent, got) = tokio::join!(
        async {
            let r = send_folder(&mut a, &ka, src.path(), &so).await;
            drop(a);
            r
        },
        async {
            let r = receive_folder(&mut b, &kb, dest.path(), &ro).await;
            drop(b);
            r
        },
    );
    assert!(matches!(got, Err(Error::KeyMismatch)));
    assert!(matches!(sent, Err(Error::PeerAborted { .. })));
    assert!(read_tree(dest.path()).is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_rate_limit_paces_the_sender() {
    let src = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("a.bin"), random_bytes(&mut rng(1), 200_000)).unwrap();
    let rate = 50_000u64;
    let opts = SendOptions {
        rate_limit: Some(rate),
        chunk_size: Some(4096),
        ..SendOptions::default()
    };
    let (mut a, mut b) = ChannelConnection::pair(2);
    let (k, ro) = (session(9), ReceiveOptions::default());
    let start = tokio::time::Instant::now();
    let (sent, got) = tokio::join!(
        send_folder(&mut a, &k, src.path(), &opts),
        receive_folder(&mut b, &k, dest.path(), &ro),
    );
    sent.unwrap();
    got.unwrap();
    // Virtual time: at least (bytes beyond the one-second burst) / rate.
    let elapsed = start.elapsed();
    assert!(
        elapsed >= std::time::Duration::from_secs(3),
        "200 kB at 50 kB/s took only {elapsed:?}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn a_symbolic_link_in_the_destination_does_not_redirect_duplicate_copies() {
    let src = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    // Two entries with the same content: `notes.txt` is not sent but copied from `a.txt`.
    std::fs::write(src.path().join("a.txt"), b"same content").unwrap();
    std::fs::write(src.path().join("notes.txt"), b"same content").unwrap();
    let bashrc = outside.path().join("bashrc");
    std::fs::write(&bashrc, b"the user's own file").unwrap();
    std::os::unix::fs::symlink(&bashrc, dest.path().join("notes.txt")).unwrap();
    // A link planted in the partial folder is not followed either.
    let partials = dest.path().join(PARTIAL_DIR);
    std::fs::create_dir(&partials).unwrap();
    let other = outside.path().join("other");
    std::fs::write(&other, b"another file of the user").unwrap();
    std::os::unix::fs::symlink(&other, partials.join("copy-1.part")).unwrap();

    let (sent, got) = send_and_receive(src.path(), dest.path(), 10).await;
    sent.unwrap();
    got.unwrap();
    assert_eq!(std::fs::read(&bashrc).unwrap(), b"the user's own file");
    assert_eq!(std::fs::read(&other).unwrap(), b"another file of the user");
    let placed = dest.path().join("notes.txt");
    assert!(std::fs::symlink_metadata(&placed)
        .unwrap()
        .file_type()
        .is_file());
    assert_eq!(std::fs::read(&placed).unwrap(), b"same content");
    assert_eq!(read_tree(dest.path()), read_tree(src.path()));
}

/// The sending end of a connection that records what it sends and holds back what it
/// receives until its gate opens.
struct Gated {
    inner: ChannelConnection,
    sent: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
    gate: tokio::sync::watch::Receiver<bool>,
}

impl MessageConnection for Gated {
    async fn send(&mut self, message: Vec<u8>) -> std::io::Result<()> {
        self.sent.lock().unwrap().push(message.clone());
        self.inner.send(message).await
    }

    async fn recv(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let _ = self.gate.wait_for(|open| *open).await;
        self.inner.recv().await
    }
}

#[tokio::test]
async fn concurrent_offers_of_a_changing_file_never_share_key_and_nonce() {
    // Two transfers of the same folder with the same session key hash the file while it is
    // X; then the first reads X, the file changes to Y (same size), and the second reads Y.
    // Both offers name the same manifest, so the salt in each offer is what keeps the two
    // from sealing X and Y under one key and nonce.
    let src = tempfile::tempdir().unwrap();
    let x = random_bytes(&mut rng(70), 100_000);
    let mut y = x.clone();
    y[10] ^= 0xff;
    std::fs::write(src.path().join("mod.bin"), &x).unwrap();
    let (dest_a, dest_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let key = session(11);
    let (so, ro) = (SendOptions::default(), ReceiveOptions::default());
    let (open_a, gate_a) = tokio::sync::watch::channel(false);
    let (open_b, gate_b) = tokio::sync::watch::channel(false);
    let (sent_a, sent_b) = (Default::default(), Default::default());
    let (a, mut ra) = ChannelConnection::pair(64);
    let (b, mut rb) = ChannelConnection::pair(64);
    let mut ga = Gated {
        inner: a,
        sent: std::sync::Arc::clone(&sent_a),
        gate: gate_a,
    };
    let mut gb = Gated {
        inner: b,
        sent: std::sync::Arc::clone(&sent_b),
        gate: gate_b,
    };
    let (done_a, mut a_done) = tokio::sync::watch::channel(false);
    let offered =
        |sent: &std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>| !sent.lock().unwrap().is_empty();
    let (sa, _, sb, _, _) = tokio::join!(
        async {
            let r = send_folder(&mut ga, &key, src.path(), &so).await;
            done_a.send_replace(true);
            r
        },
        receive_folder(&mut ra, &key, dest_a.path(), &ro),
        async {
            let r = send_folder(&mut gb, &key, src.path(), &so).await;
            drop(gb);
            r
        },
        async {
            let r = receive_folder(&mut rb, &key, dest_b.path(), &ro).await;
            drop(rb);
            r
        },
        async {
            while !offered(&sent_a) || !offered(&sent_b) {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            open_a.send_replace(true);
            let _ = a_done.wait_for(|d| *d).await;
            std::fs::write(src.path().join("mod.bin"), &y).unwrap();
            open_b.send_replace(true);
        },
    );
    sa.unwrap();
    assert!(sb.is_err(), "the receiver of B catches the changed file");

    let frames = |sent: &std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>| -> Vec<Frame> {
        let sent = sent.lock().unwrap();
        sent.iter()
            .map(|f| Frame::decode(f.clone()).unwrap())
            .collect()
    };
    let (fa, fb) = (frames(&sent_a), frames(&sent_b));
    let (Frame::Offer { manifest: ma, .. }, Frame::Offer { manifest: mb, .. }) = (&fa[0], &fb[0])
    else {
        panic!("offers first")
    };
    assert_eq!(ma, mb, "both offers name the same manifest");
    let first_chunk = |frames: &[Frame]| -> Vec<u8> {
        frames
            .iter()
            .find_map(|f| match f {
                Frame::Chunk {
                    file: 0,
                    index: 0,
                    sealed,
                } => Some(sealed.to_vec()),
                _ => None,
            })
            .expect("chunk 0 was sent")
    };
    let (ca, cb) = (first_chunk(&fa), first_chunk(&fb));
    let n = 64 * 1024;
    let cipher_xor: Vec<u8> = ca[..n].iter().zip(&cb[..n]).map(|(p, q)| p ^ q).collect();
    let plain_xor: Vec<u8> = x[..n].iter().zip(&y[..n]).map(|(p, q)| p ^ q).collect();
    assert!(
        cipher_xor != plain_xor,
        "X and Y were sealed with the same key stream"
    );
    assert_ne!(
        fa[0], fb[0],
        "two offers of one manifest are not the same offer"
    );
}

/// Sends `src` to `dest` over an in-process pipe with default options under session key
/// `key`; each side closes its end when it is done. Returns both sides' results.
pub(crate) async fn send_and_receive(
    src: &std::path::Path,
    dest: &std::path::Path,
    key: u8,
) -> (
    Result<syncshell_stream::SendReport, Error>,
    Result<syncshell_stream::ReceiveReport, Error>,
) {
    let (mut a, mut b) = ChannelConnection::pair(4);
    let k = session(key);
    let (so, ro) = (SendOptions::default(), ReceiveOptions::default());
    tokio::join!(
        async {
            let r = send_folder(&mut a, &k, src, &so).await;
            drop(a);
            r
        },
        async {
            let r = receive_folder(&mut b, &k, dest, &ro).await;
            drop(b);
            r
        },
    )
}

/// Sends `src` into `dest` over a pipe; the manifest that was sent.
async fn transfer(src: &std::path::Path, dest: &std::path::Path) -> syncshell_stream::Manifest {
    let (mut a, mut b) = ChannelConnection::pair(16);
    let k = session(5);
    let (send, receive) = (SendOptions::default(), ReceiveOptions::default());
    let (sent, got) = tokio::join!(
        send_folder(&mut a, &k, src, &send),
        receive_folder(&mut b, &k, dest, &receive),
    );
    sent.unwrap();
    got.unwrap().manifest
}

#[tokio::test]
async fn files_the_sender_removed_move_to_the_versions_folder_unless_changed_here() {
    let (src, dest, versions) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    fill(src.path());
    let before = transfer(src.path(), dest.path()).await;
    // The sender removes three files; here one of them was changed since it arrived.
    std::fs::remove_file(src.path().join("c.bin")).unwrap();
    std::fs::remove_file(src.path().join("pack/a.tex")).unwrap();
    std::fs::remove_file(src.path().join("pack/sub/b.json")).unwrap();
    std::fs::write(dest.path().join("pack/sub/b.json"), b"mine now").unwrap();
    let after = transfer(src.path(), dest.path()).await;
    let old_c = std::fs::read(dest.path().join("copy-of-c.bin")).unwrap();
    let moved = syncshell_stream::retire_removed(dest.path(), &before, &after, versions.path())
        .await
        .unwrap();
    let moved: Vec<String> = moved.iter().map(ToString::to_string).collect();
    assert_eq!(moved, vec!["c.bin".to_owned(), "pack/a.tex".to_owned()]);
    assert!(!dest.path().join("c.bin").exists());
    assert!(!dest.path().join("pack/a.tex").exists());
    assert_eq!(std::fs::read(versions.path().join("c.bin")).unwrap(), old_c);
    assert_eq!(
        std::fs::read(dest.path().join("pack/sub/b.json")).unwrap(),
        b"mine now"
    );
    // What is still offered stays, and running it again moves nothing more.
    assert!(dest.path().join("copy-of-c.bin").exists());
    let again = syncshell_stream::retire_removed(dest.path(), &before, &after, versions.path())
        .await
        .unwrap();
    assert!(again.is_empty());
}

#[cfg(unix)]
#[tokio::test]
async fn a_removal_is_not_followed_through_a_symbolic_link() {
    let (src, dest, versions, outside) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    fill(src.path());
    let before = transfer(src.path(), dest.path()).await;
    std::fs::remove_dir_all(src.path().join("pack")).unwrap();
    let after = transfer(src.path(), dest.path()).await;
    // `pack` here became a link to a folder elsewhere holding the same files.
    std::fs::rename(dest.path().join("pack"), outside.path().join("pack")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("pack"), dest.path().join("pack")).unwrap();
    let moved = syncshell_stream::retire_removed(dest.path(), &before, &after, versions.path())
        .await
        .unwrap();
    assert!(moved.is_empty(), "{moved:?}");
    assert!(outside.path().join("pack/a.tex").exists());
}

#[tokio::test]
async fn held_files_wait_outside_the_destination_and_refused_content_is_never_requested() {
    let (src, dest, hold) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    fill(src.path());
    let refused = FileHash::of(&std::fs::read(src.path().join("pack/a.tex")).unwrap());
    let receive = |hold: &std::path::Path| ReceiveOptions {
        hold: Some(hold.to_path_buf()),
        refuse: [refused].into(),
        ..ReceiveOptions::default()
    };
    let k = session(9);
    let (send, options) = (SendOptions::default(), receive(hold.path()));
    let (mut a, mut b) = ChannelConnection::pair(16);
    let (sent, got) = tokio::join!(
        send_folder(&mut a, &k, src.path(), &send),
        receive_folder(&mut b, &k, dest.path(), &options),
    );
    sent.unwrap();
    let got = got.unwrap();
    // The refused file was not requested; the rest waits in the hold folder.
    assert_eq!(got.bytes_received, 10 + 65_536);
    assert!(!hold.path().join("pack/a.tex").exists());
    assert!(hold.path().join("c.bin").exists() && hold.path().join("copy-of-c.bin").exists());
    assert!(!dest.path().join("c.bin").exists());
    // Again: what waits counts as present.
    let (mut a, mut b) = ChannelConnection::pair(16);
    let (sent, again) = tokio::join!(
        send_folder(&mut a, &k, src.path(), &send),
        receive_folder(&mut b, &k, dest.path(), &options),
    );
    sent.unwrap();
    assert_eq!(again.unwrap().bytes_received, 0);
    // Approval places a file; refusal deletes one; a wrong hash or path does nothing.
    let c = FileHash::of(&std::fs::read(src.path().join("c.bin")).unwrap());
    assert!(
        !syncshell_stream::release_held(hold.path(), dest.path(), "c.bin", &refused)
            .await
            .unwrap()
    );
    assert!(
        syncshell_stream::release_held(hold.path(), dest.path(), "c.bin", &c)
            .await
            .unwrap()
    );
    assert_eq!(
        std::fs::read(dest.path().join("c.bin")).unwrap(),
        std::fs::read(src.path().join("c.bin")).unwrap()
    );
    assert!(!hold.path().join("c.bin").exists());
    assert!(
        syncshell_stream::discard_held(hold.path(), "copy-of-c.bin", &c)
            .await
            .unwrap()
    );
    assert!(
        !syncshell_stream::discard_held(hold.path(), "copy-of-c.bin", &c)
            .await
            .unwrap()
    );
    assert!(
        syncshell_stream::release_held(hold.path(), dest.path(), "../escape", &c)
            .await
            .is_err()
    );
}

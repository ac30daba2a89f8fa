//! The exported functions called as a host calls them: misuse comes back as a status
//! (ADVERSARIAL.md 27-28), and the flows work end to end.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    // Every call passes pointers to live locals of the right size.
    clippy::undocumented_unsafe_blocks
)]

use std::ffi::{CStr, CString};
use std::ptr;

use syncshell_ffi::syncshell_status::*;
use syncshell_ffi::*;

#[path = "support/calls.rs"]
mod calls;

use calls::{c, last_error, ok, take};

fn text(bytes: syncshell_bytes) -> String {
    String::from_utf8(take(bytes)).unwrap()
}

fn identity() -> syncshell_identity {
    let mut id = Default::default();
    ok(syncshell_identity_generate(&mut id));
    id
}

fn peer_id(identity: syncshell_identity) -> CString {
    let mut out = Default::default();
    ok(syncshell_identity_peer_id(identity, &mut out));
    c(&text(out))
}

const NOW: u64 = 1_790_000_000_000;

struct Shell {
    owner: syncshell_identity,
    genesis: syncshell_genesis,
    owner_chain: syncshell_chain,
    /// The owner's revocation set, which every issue and admission check takes.
    revocations: syncshell_revocations,
}

fn shell() -> Shell {
    let owner = identity();
    let mut genesis = Default::default();
    ok(unsafe { syncshell_genesis_create(owner, c("Weekend raid").as_ptr(), NOW, &mut genesis) });
    let mut owner_chain = Default::default();
    ok(syncshell_chain_owner(&mut owner_chain));
    let mut revocations = Default::default();
    ok(syncshell_revocations_new(genesis, &mut revocations));
    Shell {
        owner,
        genesis,
        owner_chain,
        revocations,
    }
}

fn member_of(shell: &Shell, role: u32) -> (syncshell_identity, syncshell_chain) {
    let member = identity();
    let mut chain = Default::default();
    ok(unsafe {
        syncshell_chain_issue(
            shell.revocations,
            shell.owner,
            shell.owner_chain,
            peer_id(member).as_ptr(),
            role,
            NOW,
            0,
            &mut chain,
        )
    });
    (member, chain)
}

#[test]
fn a_deliberate_panic_comes_back_as_a_status_and_the_library_keeps_working() {
    assert_eq!(syncshell_debug_panic(), SYNCSHELL_ERR_PANIC);
    assert!(
        last_error().contains("syncshell_debug_panic was called"),
        "{}",
        last_error()
    );
    // The process lives on and the library still works, on this thread and others.
    let id = identity();
    ok(syncshell_identity_free(id));
    std::thread::spawn(|| assert_eq!(syncshell_debug_panic(), SYNCSHELL_ERR_PANIC))
        .join()
        .unwrap();
    let name = unsafe { CStr::from_ptr(syncshell_status_name(SYNCSHELL_ERR_PANIC as u32)) };
    assert_eq!(name.to_str().unwrap(), "SYNCSHELL_ERR_PANIC");
}

#[test]
fn null_pointers_and_zero_handles_are_errors() {
    assert_eq!(
        syncshell_identity_generate(ptr::null_mut()),
        SYNCSHELL_ERR_NULL_ARGUMENT
    );
    assert!(last_error().contains("out_identity is NULL"));
    let mut out = syncshell_bytes::default();
    assert_eq!(
        syncshell_identity_peer_id(syncshell_identity::default(), &mut out),
        SYNCSHELL_ERR_NULL_ARGUMENT
    );
    let mut genesis = syncshell_genesis::default();
    assert_eq!(
        unsafe { syncshell_genesis_create(identity(), ptr::null(), NOW, &mut genesis) },
        SYNCSHELL_ERR_NULL_ARGUMENT
    );
    assert_eq!(
        unsafe { syncshell_genesis_decode(ptr::null(), 10, &mut genesis) },
        SYNCSHELL_ERR_NULL_ARGUMENT
    );
    // A NULL out-parameter is caught before anything happens: no handle is leaked.
    let id = identity();
    assert_eq!(
        syncshell_identity_peer_id(id, ptr::null_mut()),
        SYNCSHELL_ERR_NULL_ARGUMENT
    );
    ok(syncshell_identity_free(id));
    // Freeing 0 is allowed, as free(NULL) is.
    ok(syncshell_identity_free(syncshell_identity::default()));
    assert_eq!(out.h, 0, "no out-parameter is written on failure");
    assert_eq!(genesis.h, 0, "no out-parameter is written on failure");
}

#[test]
fn double_free_use_after_free_and_wrong_kinds_are_errors() {
    let id = identity();
    ok(syncshell_identity_free(id));
    assert_eq!(syncshell_identity_free(id), SYNCSHELL_ERR_INVALID_HANDLE);
    assert!(last_error().contains("was freed or never issued"));
    let mut out = Default::default();
    assert_eq!(
        syncshell_identity_peer_id(id, &mut out),
        SYNCSHELL_ERR_INVALID_HANDLE
    );
    // A new object in the same slot does not revive the old handle.
    let next = identity();
    assert_ne!(next, id);
    assert_eq!(
        syncshell_identity_peer_id(id, &mut out),
        SYNCSHELL_ERR_INVALID_HANDLE
    );
    // A live handle of another kind (C would not compile this; a host mixing raw values
    // up at run time could).
    let mut chain = syncshell_chain::default();
    ok(syncshell_chain_owner(&mut chain));
    assert_eq!(
        syncshell_identity_peer_id(syncshell_identity { h: chain.h }, &mut out),
        SYNCSHELL_ERR_WRONG_HANDLE_KIND
    );
    assert!(
        last_error().contains("holds a token chain, this function takes an identity"),
        "{}",
        last_error()
    );
    assert_eq!(
        syncshell_identity_free(syncshell_identity { h: chain.h }),
        SYNCSHELL_ERR_WRONG_HANDLE_KIND
    );
    // ...which the wrong free did not free.
    ok(syncshell_chain_free(chain));
    // Handles that were never issued.
    for fake in [1u64, 0xdead_beef, u64::MAX, next.h ^ (1 << 40), next.h + 1] {
        assert_eq!(
            syncshell_identity_peer_id(syncshell_identity { h: fake }, &mut out),
            SYNCSHELL_ERR_INVALID_HANDLE
        );
        assert_eq!(
            syncshell_bytes_free(syncshell_bytes { h: fake }),
            SYNCSHELL_ERR_INVALID_HANDLE
        );
    }
    assert_eq!(out.h, 0);
    ok(syncshell_identity_free(next));
}

#[test]
fn handles_survive_being_freed_and_used_from_many_threads_at_once() {
    let id = identity();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                let mut freed = 0;
                for _ in 0..200 {
                    let mut out = Default::default();
                    match syncshell_identity_peer_id(id, &mut out) {
                        SYNCSHELL_OK => ok(syncshell_bytes_free(out)),
                        status => assert_eq!(status, SYNCSHELL_ERR_INVALID_HANDLE),
                    }
                    if syncshell_identity_free(id) == SYNCSHELL_OK {
                        freed += 1;
                    }
                }
                freed
            })
        })
        .collect();
    let freed: i32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(freed, 1, "exactly one free succeeds");
}

#[test]
fn bad_input_gets_a_clear_status_and_changes_nothing() {
    let shell = shell();
    let mut out = Default::default();
    // Not UTF-8.
    assert_eq!(
        unsafe { syncshell_genesis_create(shell.owner, c"\xff\xfe".as_ptr(), NOW, &mut out) },
        SYNCSHELL_ERR_INVALID_ARGUMENT
    );
    // Malformed encodings and text.
    assert_eq!(
        unsafe { syncshell_genesis_decode(b"nope".as_ptr(), 4, &mut out) },
        SYNCSHELL_ERR_DECODE
    );
    assert_eq!(
        unsafe {
            syncshell_invite_parse(
                c("syncshell-invite-AAAA").as_ptr(),
                &mut syncshell_invite::default(),
            )
        },
        SYNCSHELL_ERR_DECODE
    );
    assert_eq!(
        unsafe {
            syncshell_chain_issue(
                shell.revocations,
                shell.owner,
                shell.owner_chain,
                c("peer-zzz").as_ptr(),
                0,
                NOW,
                0,
                &mut syncshell_chain::default(),
            )
        },
        SYNCSHELL_ERR_DECODE
    );
    // A wrong-length key.
    assert_eq!(
        unsafe {
            syncshell_identity_from_secret(
                [1u8; 31].as_ptr(),
                31,
                &mut syncshell_identity::default(),
            )
        },
        SYNCSHELL_ERR_INVALID_ARGUMENT
    );
    // A role that cannot be issued.
    let member = identity();
    assert_eq!(
        unsafe {
            syncshell_chain_issue(
                shell.revocations,
                shell.owner,
                shell.owner_chain,
                peer_id(member).as_ptr(),
                SYNCSHELL_ROLE_OWNER,
                NOW,
                0,
                &mut syncshell_chain::default(),
            )
        },
        SYNCSHELL_ERR_INVALID_ARGUMENT
    );
    // A garbage tombstone leaves the set as it was.
    let mut set = Default::default();
    ok(syncshell_revocations_new(shell.genesis, &mut set));
    let mut added = false;
    assert_eq!(
        unsafe { syncshell_revocations_insert(set, [9u8; 80].as_ptr(), 80, &mut added) },
        SYNCSHELL_ERR_DECODE
    );
    let mut len = 99;
    ok(syncshell_revocations_len(set, &mut len));
    assert_eq!(len, 0);
    // A buffer too small for the bytes.
    let mut id_text = Default::default();
    ok(syncshell_identity_peer_id(member, &mut id_text));
    let mut small = [0u8; 4];
    let mut written = 77;
    assert_eq!(
        unsafe { syncshell_bytes_copy(id_text, small.as_mut_ptr(), small.len(), &mut written) },
        SYNCSHELL_ERR_BUFFER_TOO_SMALL
    );
    assert_eq!((written, small), (77, [0u8; 4]));
    ok(syncshell_bytes_free(id_text));
    assert_eq!(out, syncshell_genesis::default());
}

#[test]
fn key_files_round_trip_and_tell_a_wrong_passphrase_from_damage() {
    let dir = tempfile::tempdir().unwrap();
    let path = c(dir.path().join("me.key").to_str().unwrap());
    let id = identity();
    ok(unsafe { syncshell_identity_save(id, path.as_ptr(), c("hunter2").as_ptr(), 64, 1, 1) });
    let mut loaded = Default::default();
    ok(unsafe { syncshell_identity_load(path.as_ptr(), c("hunter2").as_ptr(), &mut loaded) });
    assert_eq!(peer_id(loaded), peer_id(id));
    assert_eq!(
        unsafe { syncshell_identity_load(path.as_ptr(), c("hunter3").as_ptr(), &mut loaded) },
        SYNCSHELL_ERR_WRONG_PASSPHRASE
    );
    let mut file = std::fs::read(dir.path().join("me.key")).unwrap();
    let last = file.len() - 1;
    file[last] ^= 1;
    std::fs::write(dir.path().join("me.key"), &file).unwrap();
    assert_eq!(
        unsafe { syncshell_identity_load(path.as_ptr(), c("hunter2").as_ptr(), &mut loaded) },
        SYNCSHELL_ERR_DECODE
    );
    let missing = c(dir.path().join("none.key").to_str().unwrap());
    assert_eq!(
        unsafe { syncshell_identity_load(missing.as_ptr(), c("x").as_ptr(), &mut loaded) },
        SYNCSHELL_ERR_IO
    );
    // Raw export and import for a host that protects keys itself.
    let mut secret = Default::default();
    ok(syncshell_identity_secret(id, &mut secret));
    let secret = take(secret);
    let mut again = Default::default();
    ok(unsafe { syncshell_identity_from_secret(secret.as_ptr(), secret.len(), &mut again) });
    assert_eq!(peer_id(again), peer_id(id));
}

#[test]
fn invite_join_revoke_and_phonebook_flow() {
    let shell = shell();
    // Invite, as text, parsed back, and a join request accepted through a ledger.
    let mut invite = Default::default();
    ok(unsafe {
        syncshell_invite_create(
            shell.revocations,
            shell.owner,
            shell.owner_chain,
            SYNCSHELL_ROLE_MEMBER,
            1,
            0,
            ptr::null(),
            0,
            NOW,
            &mut invite,
        )
    });
    let mut invite_text = Default::default();
    ok(syncshell_invite_text(invite, &mut invite_text));
    let invite_text = text(invite_text);
    assert!(invite_text.starts_with("syncshell-invite-"));
    let mut parsed = Default::default();
    ok(unsafe { syncshell_invite_parse(c(&invite_text.to_lowercase()).as_ptr(), &mut parsed) });
    let joiner = identity();
    let mut request = Default::default();
    ok(syncshell_invite_join_request(
        parsed,
        joiner,
        NOW,
        &mut request,
    ));
    let request = take(request);
    let mut ledger = Default::default();
    ok(syncshell_ledger_new(&mut ledger));
    let mut chain = Default::default();
    ok(unsafe {
        syncshell_ledger_accept(
            ledger,
            shell.revocations,
            shell.owner,
            shell.owner_chain,
            request.as_ptr(),
            request.len(),
            NOW,
            &mut chain,
        )
    });
    let mut role = 9;
    ok(unsafe {
        syncshell_chain_verify(
            chain,
            shell.revocations,
            peer_id(joiner).as_ptr(),
            NOW,
            &mut role,
        )
    });
    assert_eq!(role, SYNCSHELL_ROLE_MEMBER);
    // The invite allowed one use.
    let other = identity();
    let mut second = Default::default();
    ok(syncshell_invite_join_request(
        parsed,
        other,
        NOW,
        &mut second,
    ));
    let second = take(second);
    let mut refused = Default::default();
    assert_eq!(
        unsafe {
            syncshell_ledger_accept(
                ledger,
                shell.revocations,
                shell.owner,
                shell.owner_chain,
                second.as_ptr(),
                second.len(),
                NOW,
                &mut refused,
            )
        },
        SYNCSHELL_ERR_NOT_ALLOWED
    );
    // The joiner's chain travels as bytes.
    let mut encoded = Default::default();
    ok(syncshell_chain_encode(chain, &mut encoded));
    let encoded = take(encoded);
    let mut decoded = Default::default();
    ok(unsafe { syncshell_chain_decode(encoded.as_ptr(), encoded.len(), &mut decoded) });

    // Phonebooks: both publish, sync by delta messages, both list both.
    let (mut a, mut b) = Default::default();
    ok(syncshell_phonebook_new(shell.genesis, &mut a));
    ok(syncshell_phonebook_new(shell.genesis, &mut b));
    let mut entry = Default::default();
    ok(unsafe {
        syncshell_phonebook_publish(
            a,
            shell.owner,
            shell.owner_chain,
            c("Owner").as_ptr(),
            SYNCSHELL_PRESENCE_ONLINE,
            ptr::null(),
            0,
            0,
            NOW,
            &mut entry,
        )
    });
    ok(syncshell_bytes_free(entry));
    ok(unsafe {
        syncshell_phonebook_publish(
            b,
            joiner,
            decoded,
            c("").as_ptr(),
            SYNCSHELL_PRESENCE_AWAY,
            b"hint".as_ptr(),
            4,
            0,
            NOW,
            &mut entry,
        )
    });
    ok(syncshell_bytes_free(entry));
    let mut message = Default::default();
    ok(syncshell_phonebook_sync_start(a, &mut message));
    let mut inbox = vec![take(message)];
    let mut turn = [b, a].into_iter().cycle();
    let mut rounds = 0;
    while !inbox.is_empty() {
        rounds += 1;
        assert!(rounds < 20, "sync did not end");
        let book = turn.next().unwrap();
        let mut next = Vec::new();
        for m in inbox {
            let mut replies = Default::default();
            ok(unsafe { syncshell_phonebook_sync_handle(book, m.as_ptr(), m.len(), &mut replies) });
            let mut n = Default::default();
            ok(syncshell_list_len(replies, &mut n));
            for i in 0..n {
                let mut reply = Default::default();
                ok(syncshell_list_get(replies, i, &mut reply));
                // The list holds bytes.
                next.push(take(syncshell_bytes { h: reply }));
            }
            ok(syncshell_list_free(replies));
        }
        inbox = next;
    }
    for book in [a, b] {
        let mut list = Default::default();
        ok(syncshell_phonebook_entries(book, NOW + 1000, &mut list));
        let mut n = Default::default();
        ok(syncshell_list_len(list, &mut n));
        assert_eq!(n, 2);
        let mut names = Vec::new();
        for i in 0..n {
            let mut item = 0;
            ok(syncshell_list_get(list, i, &mut item));
            // The list holds phonebook entries.
            let e = syncshell_entry { h: item };
            let mut name = Default::default();
            ok(syncshell_entry_name(e, &mut name));
            names.push(text(name));
            let (mut presence, mut role, mut seen) = (9, 9, 0);
            ok(syncshell_entry_status(
                e,
                &mut presence,
                &mut role,
                &mut seen,
            ));
            assert_eq!(seen, NOW);
            ok(syncshell_entry_free(e));
        }
        assert!(names.contains(&"Owner".to_owned()), "{names:?}");
        ok(syncshell_list_free(list));
    }

    // The owner revokes the joiner: the chain no longer verifies against the set, and the
    // phonebook hides the entry.
    let mut tombstone = Default::default();
    ok(unsafe {
        syncshell_tombstone_issue(
            shell.revocations,
            shell.owner,
            shell.owner_chain,
            peer_id(joiner).as_ptr(),
            SYNCSHELL_REASON_REMOVED,
            NOW + 10,
            &mut tombstone,
        )
    });
    let tombstone = take(tombstone);
    let mut set = Default::default();
    ok(syncshell_revocations_new(shell.genesis, &mut set));
    let mut added = false;
    ok(unsafe {
        syncshell_revocations_insert(set, tombstone.as_ptr(), tombstone.len(), &mut added)
    });
    assert!(added);
    let mut revoked = false;
    ok(unsafe { syncshell_revocations_is_revoked(set, peer_id(joiner).as_ptr(), &mut revoked) });
    assert!(revoked);
    assert_eq!(
        unsafe {
            syncshell_chain_verify(decoded, set, peer_id(joiner).as_ptr(), NOW + 20, &mut role)
        },
        SYNCSHELL_ERR_REVOKED
    );
    ok(unsafe { syncshell_phonebook_revoke(a, tombstone.as_ptr(), tombstone.len(), &mut added) });
    let mut list = Default::default();
    ok(syncshell_phonebook_entries(a, NOW + 1000, &mut list));
    let mut n = Default::default();
    ok(syncshell_list_len(list, &mut n));
    assert_eq!(n, 1);
    // A snapshot carries the tombstone to the other book.
    let mut snapshot = Default::default();
    ok(syncshell_phonebook_encode(a, &mut snapshot));
    let snapshot = take(snapshot);
    let mut changed = Default::default();
    ok(unsafe { syncshell_phonebook_merge(b, snapshot.as_ptr(), snapshot.len(), &mut changed) });
    ok(syncshell_phonebook_entries(b, NOW + 1000, &mut list));
    ok(syncshell_list_len(list, &mut n));
    assert_eq!(n, 1);
    // Nobody can revoke the owner.
    let mut t = Default::default();
    assert_eq!(
        unsafe {
            syncshell_tombstone_issue(
                shell.revocations,
                shell.owner,
                shell.owner_chain,
                peer_id(shell.owner).as_ptr(),
                0,
                NOW,
                &mut t,
            )
        },
        SYNCSHELL_ERR_NOT_ALLOWED
    );
}

/// Pumps `transport` until an event of `kind` comes; relays signaling on the way.
fn wait_event(transport: syncshell_transport, kind: u32) -> syncshell_connection {
    for _ in 0..200 {
        let (mut k, mut peer, mut data, mut conn) = Default::default();
        match syncshell_transport_poll(transport, 50, &mut k, &mut peer, &mut data, &mut conn) {
            SYNCSHELL_ERR_TIMEOUT => continue,
            status => ok(status),
        }
        ok(syncshell_bytes_free(peer));
        ok(syncshell_bytes_free(data));
        if k == kind {
            return conn;
        }
        ok(syncshell_connection_free(conn));
    }
    panic!("no event {kind}");
}

fn run_handshake(
    (a_id, a_chain, a_conn): (syncshell_identity, syncshell_chain, syncshell_connection),
    (b_id, b_chain, b_conn): (syncshell_identity, syncshell_chain, syncshell_connection),
    set: syncshell_revocations,
) -> (syncshell_status, syncshell_handshake, syncshell_handshake) {
    let binding = |conn| {
        let mut b = Default::default();
        ok(syncshell_connection_channel_binding(conn, &mut b));
        take(b)
    };
    let (a_bind, b_bind) = (binding(a_conn), binding(b_conn));
    assert_eq!(a_bind, b_bind);
    let mut guard = Default::default();
    ok(syncshell_replay_guard_new(&mut guard));
    let (mut a_hs, mut b_hs) = Default::default();
    ok(unsafe {
        syncshell_handshake_initiate(
            a_id,
            a_chain,
            set,
            a_bind.as_ptr(),
            a_bind.len(),
            NOW,
            &mut a_hs,
        )
    });
    ok(unsafe { syncshell_handshake_respond(b_bind.as_ptr(), b_bind.len(), NOW, &mut b_hs) });
    let sides = [
        (a_hs, a_id, a_chain, a_conn, b_conn),
        (b_hs, b_id, b_chain, b_conn, a_conn),
    ];
    for round in 0..4 {
        let (hs, _, _, from, to) = sides[round % 2];
        let (peer_hs, peer_id, peer_chain, _, _) = sides[(round + 1) % 2];
        loop {
            let mut m = Default::default();
            ok(syncshell_handshake_poll_transmit(hs, &mut m));
            if m == syncshell_bytes::default() {
                break;
            }
            let m = take(m);
            ok(unsafe { syncshell_connection_send(from, m.as_ptr(), m.len()) });
            let mut got = Default::default();
            ok(syncshell_connection_recv(to, 5000, &mut got));
            let got = take(got);
            let status = unsafe {
                syncshell_handshake_handle(
                    peer_hs,
                    peer_id,
                    peer_chain,
                    set,
                    guard,
                    got.as_ptr(),
                    got.len(),
                    NOW,
                )
            };
            if status != SYNCSHELL_OK {
                // Let the failing side's refusal (if any) go out, then report.
                return (status, a_hs, b_hs);
            }
        }
    }
    ok(syncshell_replay_guard_free(guard));
    (SYNCSHELL_OK, a_hs, b_hs)
}

#[test]
fn handshake_and_transfers_over_the_in_memory_transport() {
    let shell = shell();
    let (member, member_chain) = member_of(&shell, SYNCSHELL_ROLE_MEMBER);
    let mut runtime = Default::default();
    ok(syncshell_runtime_new(2, &mut runtime));
    let mut net = Default::default();
    ok(syncshell_mem_network_new(runtime, 7, 1, 0, 0, &mut net));
    let (mut owner_t, mut member_t) = Default::default();
    ok(unsafe { syncshell_transport_new_mem(net, c("owner").as_ptr(), &mut owner_t) });
    ok(unsafe { syncshell_transport_new_mem(net, c("member").as_ptr(), &mut member_t) });
    // No signaling on the in-memory backend.
    assert_eq!(
        unsafe { syncshell_transport_signal(owner_t, c("x").as_ptr(), ptr::null(), 0) },
        SYNCSHELL_ERR_STATE
    );
    ok(unsafe { syncshell_transport_connect(member_t, c("owner").as_ptr()) });
    let m_conn = wait_event(member_t, SYNCSHELL_EVENT_CONNECTED);
    let o_conn = wait_event(owner_t, SYNCSHELL_EVENT_ACCEPTED);
    // Nothing to receive yet: a timeout, and nothing lost.
    let mut msg = Default::default();
    assert_eq!(
        syncshell_connection_recv(o_conn, 0, &mut msg),
        SYNCSHELL_ERR_TIMEOUT
    );
    ok(unsafe { syncshell_connection_send(m_conn, b"hello".as_ptr(), 5) });
    ok(syncshell_connection_recv(o_conn, 5000, &mut msg));
    assert_eq!(take(msg), b"hello");

    let mut set = Default::default();
    ok(syncshell_revocations_new(shell.genesis, &mut set));
    let (status, m_hs, o_hs) = run_handshake(
        (member, member_chain, m_conn),
        (shell.owner, shell.owner_chain, o_conn),
        set,
    );
    ok(status);
    let key = |hs| {
        let mut k = Default::default();
        ok(syncshell_handshake_session_key(hs, &mut k));
        take(k)
    };
    let (m_key, o_key) = (key(m_hs), key(o_hs));
    assert_eq!(m_key, o_key);
    assert_eq!(m_key.len(), 32);
    let mut peer = Default::default();
    let mut role = 9;
    ok(syncshell_handshake_peer(o_hs, &mut peer, &mut role));
    // Who the owner received from: the peer its handshake authenticated.
    let sender = c(&text(peer));
    assert_eq!(sender, peer_id(member));
    assert_eq!(role, SYNCSHELL_ROLE_MEMBER);

    // A transfer over the connection, into a folder.
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("mods/a")).unwrap();
    std::fs::write(src.path().join("mods/a/one.bin"), vec![1u8; 300_000]).unwrap();
    std::fs::write(src.path().join("readme.txt"), b"hi").unwrap();
    let dst = tempfile::tempdir().unwrap();
    let (mut send, mut recv) = Default::default();
    ok(unsafe {
        syncshell_transfer_send(
            m_conn,
            m_key.as_ptr(),
            32,
            c(src.path().to_str().unwrap()).as_ptr(),
            &mut send,
        )
    });
    // A sender that is not a peer id is refused, and nothing starts.
    assert_eq!(
        unsafe {
            syncshell_transfer_receive(
                o_conn,
                o_key.as_ptr(),
                32,
                c("not a peer").as_ptr(),
                c(dst.path().to_str().unwrap()).as_ptr(),
                0,
                &mut recv,
            )
        },
        SYNCSHELL_ERR_DECODE,
        "{}",
        last_error()
    );
    assert_eq!(recv, syncshell_transfer::default());
    ok(unsafe {
        syncshell_transfer_receive(
            o_conn,
            o_key.as_ptr(),
            32,
            sender.as_ptr(),
            c(dst.path().to_str().unwrap()).as_ptr(),
            0,
            &mut recv,
        )
    });
    // The connection belongs to the transfer meanwhile.
    assert_eq!(
        syncshell_connection_recv(o_conn, 0, &mut msg),
        SYNCSHELL_ERR_STATE
    );
    ok(syncshell_transfer_wait(recv, 20_000));
    ok(syncshell_transfer_wait(send, 20_000));
    ok(syncshell_transfer_wait(send, 0));
    let (mut done, mut total) = Default::default();
    ok(syncshell_transfer_progress(recv, &mut done, &mut total));
    assert_eq!((done, total), (300_002, 300_002));
    assert_eq!(
        std::fs::read(dst.path().join("mods/a/one.bin")).unwrap(),
        vec![1u8; 300_000]
    );
    // After the transfer the connection is the host's again.
    ok(unsafe { syncshell_connection_send(m_conn, b"after".as_ptr(), 5) });
    ok(syncshell_connection_recv(o_conn, 5000, &mut msg));
    assert_eq!(take(msg), b"after");

    // The same folder as host-carried frames, with the wrong key on one side: it fails
    // cleanly and nothing appears.
    let dst2 = tempfile::tempdir().unwrap();
    let wrong = [7u8; 32];
    ok(unsafe {
        syncshell_transfer_send_frames(
            runtime,
            m_key.as_ptr(),
            32,
            c(src.path().to_str().unwrap()).as_ptr(),
            &mut send,
        )
    });
    ok(unsafe {
        syncshell_transfer_receive_frames(
            runtime,
            wrong.as_ptr(),
            32,
            sender.as_ptr(),
            c(dst2.path().to_str().unwrap()).as_ptr(),
            0,
            &mut recv,
        )
    });
    let (end, _) = carry(send, recv, None);
    assert_eq!(end, Some(SYNCSHELL_ERR_TRANSFER), "{}", last_error());
    // The receiver's abort reached the sender, which ends with the failure too.
    assert_eq!(
        syncshell_transfer_wait(send, 5_000),
        SYNCSHELL_ERR_TRANSFER,
        "{}",
        last_error()
    );
    assert!(!dst2.path().join("readme.txt").exists());
    ok(syncshell_transfer_free(send));
    ok(syncshell_transfer_free(recv));

    // Revoked: the next handshake is refused by the owner's side.
    let mut tombstone = Default::default();
    ok(unsafe {
        syncshell_tombstone_issue(
            shell.revocations,
            shell.owner,
            shell.owner_chain,
            peer_id(member).as_ptr(),
            0,
            NOW,
            &mut tombstone,
        )
    });
    let tombstone = take(tombstone);
    let mut added = false;
    ok(unsafe {
        syncshell_revocations_insert(set, tombstone.as_ptr(), tombstone.len(), &mut added)
    });
    let (status, ..) = run_handshake(
        (member, member_chain, m_conn),
        (shell.owner, shell.owner_chain, o_conn),
        set,
    );
    assert_eq!(status, SYNCSHELL_ERR_REVOKED, "{}", last_error());

    // A killed connection: the other side sees it end.
    ok(unsafe { syncshell_mem_network_kill(net, c("member").as_ptr()) });
    let status = syncshell_connection_recv(o_conn, 5000, &mut msg);
    assert!(
        matches!(status, SYNCSHELL_ERR_TRANSPORT | SYNCSHELL_ERR_CLOSED),
        "{status:?}"
    );
    for h in [m_conn, o_conn] {
        ok(syncshell_connection_free(h));
    }
    ok(syncshell_transport_free(owner_t));
    ok(syncshell_transport_free(member_t));
    ok(syncshell_mem_network_free(net));
    ok(syncshell_runtime_free(runtime));
}

/// Relays signaling between two WebRTC transports, as a host does, until the first has
/// connected to the second and the second has accepted it.
fn connect_pair(
    transports: [(syncshell_transport, &CString); 2],
) -> (syncshell_connection, syncshell_connection) {
    let (mut connected, mut accepted) = Default::default();
    for _ in 0..400 {
        for (i, (t, _)) in transports.iter().enumerate() {
            let (mut k, mut peer, mut data, mut conn) = Default::default();
            match syncshell_transport_poll(*t, 10, &mut k, &mut peer, &mut data, &mut conn) {
                SYNCSHELL_ERR_TIMEOUT => continue,
                status => ok(status),
            }
            match k {
                SYNCSHELL_EVENT_SIGNAL => {
                    let to = text(peer);
                    let blob = take(data);
                    let (target, _) = transports
                        .iter()
                        .find(|(_, name)| name.to_str().unwrap() == to)
                        .unwrap();
                    let from = transports[i].1;
                    ok(unsafe {
                        syncshell_transport_signal(
                            *target,
                            from.as_ptr(),
                            blob.as_ptr(),
                            blob.len(),
                        )
                    });
                }
                SYNCSHELL_EVENT_CONNECTED => connected = conn,
                SYNCSHELL_EVENT_ACCEPTED => accepted = conn,
                other => panic!("unexpected event {other}: {}", text(data)),
            }
        }
        if connected != syncshell_connection::default()
            && accepted != syncshell_connection::default()
        {
            return (connected, accepted);
        }
    }
    panic!("the WebRTC peers did not connect");
}

#[test]
fn webrtc_peers_connect_through_host_relayed_signaling_on_loopback() {
    let mut runtime = Default::default();
    ok(syncshell_runtime_new(2, &mut runtime));
    let mut config = Default::default();
    ok(syncshell_webrtc_config_new(&mut config));
    assert_eq!(
        unsafe { syncshell_webrtc_config_set_bind(config, c("not an address").as_ptr()) },
        SYNCSHELL_ERR_INVALID_ARGUMENT
    );
    ok(unsafe { syncshell_webrtc_config_set_bind(config, c("127.0.0.1:0").as_ptr()) });
    let (alice, bob) = (c("alice"), c("bob"));
    let (mut a, mut b) = Default::default();
    ok(unsafe { syncshell_transport_new_webrtc(runtime, config, alice.as_ptr(), &mut a) });
    ok(unsafe {
        syncshell_transport_new_webrtc(
            runtime,
            syncshell_webrtc_config::default(),
            bob.as_ptr(),
            &mut b,
        )
    });
    ok(unsafe { syncshell_transport_connect(a, bob.as_ptr()) });
    let (a_conn, b_conn) = connect_pair([(a, &alice), (b, &bob)]);
    let binding = |conn| {
        let mut out = Default::default();
        ok(syncshell_connection_channel_binding(conn, &mut out));
        take(out)
    };
    assert_eq!(binding(a_conn), binding(b_conn));
    let big = vec![0x5au8; 3 * 1024 * 1024];
    ok(unsafe { syncshell_connection_send(a_conn, big.as_ptr(), big.len()) });
    ok(unsafe { syncshell_connection_try_send(b_conn, b"pong".as_ptr(), 4) });
    let mut msg = Default::default();
    ok(syncshell_connection_recv(b_conn, 10_000, &mut msg));
    assert_eq!(take(msg), big);
    ok(syncshell_connection_recv(a_conn, 10_000, &mut msg));
    assert_eq!(take(msg), b"pong");
    let (mut sent, mut received) = Default::default();
    ok(syncshell_connection_stats(a_conn, &mut sent, &mut received));
    assert_eq!((sent, received), (big.len() as u64, 4));
    // On loopback both ends of the path are host candidates.
    let (mut local, mut remote, mut rtt) = (0u8, 0u8, 0u64);
    ok(syncshell_connection_path(
        a_conn,
        &mut local,
        &mut remote,
        &mut rtt,
    ));
    assert_eq!(
        (local, remote),
        (SYNCSHELL_CANDIDATE_HOST, SYNCSHELL_CANDIDATE_HOST)
    );
    // A clean close reaches the other side after what was sent.
    ok(unsafe { syncshell_connection_send(a_conn, b"last".as_ptr(), 4) });
    ok(syncshell_connection_close(a_conn));
    ok(syncshell_connection_recv(b_conn, 10_000, &mut msg));
    assert_eq!(take(msg), b"last");
    assert_eq!(
        syncshell_connection_recv(b_conn, 10_000, &mut msg),
        SYNCSHELL_ERR_CLOSED
    );
    assert_eq!(
        unsafe { syncshell_connection_send(a_conn, b"x".as_ptr(), 1) },
        SYNCSHELL_ERR_CLOSED
    );
    for h in [a_conn, b_conn] {
        ok(syncshell_connection_free(h));
    }
    ok(syncshell_transport_free(a));
    ok(syncshell_transport_free(b));
    ok(syncshell_webrtc_config_free(config));
    ok(syncshell_runtime_free(runtime));
}

/// Carries frames between two host-carried transfers for at most `frames` frames toward the
/// receiver (unbounded when `None`); returns how the receiver ended (`None` if it was still
/// running when the budget ran out) and how many frames went to it.
fn carry(
    send: syncshell_transfer,
    recv: syncshell_transfer,
    frames: Option<usize>,
) -> (Option<syncshell_status>, usize) {
    let mut delivered = Default::default();
    for _ in 0..20_000 {
        for (from, to) in [(send, recv), (recv, send)] {
            if from == send && frames.is_some_and(|n| delivered >= n) {
                continue;
            }
            let mut frame = Default::default();
            if syncshell_transfer_next_frame(from, 1, &mut frame) == SYNCSHELL_OK {
                let f = take(frame);
                if from == send {
                    delivered += 1;
                }
                let _ = unsafe { syncshell_transfer_handle_frame(to, f.as_ptr(), f.len()) };
            }
        }
        if frames.is_some_and(|n| delivered >= n) {
            return (None, delivered);
        }
        match syncshell_transfer_wait(recv, 0) {
            SYNCSHELL_ERR_TIMEOUT => {}
            status => {
                // What the receiver sent last (its completion) still goes to the sender.
                let mut frame = Default::default();
                while syncshell_transfer_next_frame(recv, 0, &mut frame) == SYNCSHELL_OK {
                    let f = take(frame);
                    let _ = unsafe { syncshell_transfer_handle_frame(send, f.as_ptr(), f.len()) };
                }
                return (Some(status), delivered);
            }
        }
    }
    panic!("the transfer did not end");
}

/// The partial files in `dest`'s partial folder.
fn partial_files(dest: &std::path::Path) -> usize {
    std::fs::read_dir(dest.join(".syncshell-partial")).map_or(0, |entries| {
        entries
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".part"))
            })
            .count()
    })
}

/// Waits until the receiver has reported progress after a chunk; returns its bytes done.
fn first_progress(recv: syncshell_transfer) -> u64 {
    for _ in 0..500 {
        let (mut done, mut total) = Default::default();
        ok(syncshell_transfer_progress(recv, &mut done, &mut total));
        if done > 0 {
            return done;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("no chunk arrived");
}

#[test]
fn an_interrupted_host_carried_transfer_resumes_from_the_partial_files() {
    let mut runtime = Default::default();
    ok(syncshell_runtime_new(2, &mut runtime));
    let src = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..4_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(src.path().join("big.pak"), &big).unwrap();
    let dst = tempfile::tempdir().unwrap();
    let (src_c, dst_c) = (
        c(src.path().to_str().unwrap()),
        c(dst.path().to_str().unwrap()),
    );
    // The member who sends, and another who will offer the same file.
    let (alice, bob) = (identity(), identity());
    let (alice_id, bob_id) = (peer_id(alice), peer_id(bob));
    let start = |key: &[u8; 32], sender: *const std::ffi::c_char| {
        let (mut send, mut recv) = Default::default();
        ok(unsafe {
            syncshell_transfer_send_frames(runtime, key.as_ptr(), 32, src_c.as_ptr(), &mut send)
        });
        ok(unsafe {
            syncshell_transfer_receive_frames(
                runtime,
                key.as_ptr(),
                32,
                sender,
                dst_c.as_ptr(),
                0,
                &mut recv,
            )
        });
        (send, recv)
    };
    // First attempt, from alice: the receiver gets about a quarter of the chunks, then the
    // host gives up (as after a lost connection) and frees both ends.
    let (send, recv) = start(&[1; 32], alice_id.as_ptr());
    assert_eq!(carry(send, recv, Some(16)).0, None);
    let (mut done, mut total) = Default::default();
    ok(syncshell_transfer_progress(recv, &mut done, &mut total));
    ok(syncshell_transfer_free(send));
    ok(syncshell_transfer_free(recv));
    assert!(done > 0 && done < total, "{done} of {total}");
    assert!(!dst.path().join("big.pak").exists());
    assert_eq!(partial_files(dst.path()), 1);

    // Bob offers the same file: alice's partial file is not his to resume, so his first
    // chunk is chunk 0 (and with no sender named, the same). Bob's partial file stays for
    // bob; the unnamed sender's goes when its transfer is stopped.
    for (key, sender, partials_after) in [([3; 32], bob_id.as_ptr(), 2), ([4; 32], ptr::null(), 2)]
    {
        let (send, recv) = start(&key, sender);
        assert_eq!(carry(send, recv, Some(2)).0, None);
        assert_eq!(first_progress(recv), 64 * 1024, "a prefix was resumed");
        ok(syncshell_transfer_free(send));
        ok(syncshell_transfer_free(recv));
        assert_eq!(partial_files(dst.path()), partials_after);
    }

    // Alice again, under another session key: it starts from what she left on disk.
    let (send, recv) = start(&[2; 32], alice_id.as_ptr());
    let (end, frames) = carry(send, recv, None);
    assert_eq!(end, Some(SYNCSHELL_OK), "{}", last_error());
    // The file is 62 chunks of 64 KiB: a transfer from scratch takes at least 63 frames
    // (offer and chunks); the resumed one skips the chunks already on disk.
    assert!(
        frames < 62,
        "{frames} frames: the partial file was not resumed"
    );
    ok(syncshell_transfer_wait(send, 5_000));
    let mut done_after = Default::default();
    ok(syncshell_transfer_progress(
        recv,
        &mut done_after,
        &mut total,
    ));
    assert_eq!(done_after, total);
    assert_eq!(std::fs::read(dst.path().join("big.pak")).unwrap(), big);
    // A complete transfer clears the partial folder, bob's file included.
    assert_eq!(partial_files(dst.path()), 0);
    ok(syncshell_transfer_free(send));
    ok(syncshell_transfer_free(recv));
    for id in [alice, bob] {
        ok(syncshell_identity_free(id));
    }
    ok(syncshell_runtime_free(runtime));
}

/// Connects `member` to `owner` on the in-memory network and runs the handshake; returns the
/// member's and the owner's connection, the session key, and the peer id the owner
/// authenticated (NUL-terminated).
fn connect_and_authenticate(
    shell: &Shell,
    (member, member_chain): (syncshell_identity, syncshell_chain),
    (member_t, owner_t): (syncshell_transport, syncshell_transport),
) -> (syncshell_connection, syncshell_connection, Vec<u8>, CString) {
    ok(unsafe { syncshell_transport_connect(member_t, c("owner").as_ptr()) });
    let m_conn = wait_event(member_t, SYNCSHELL_EVENT_CONNECTED);
    let o_conn = wait_event(owner_t, SYNCSHELL_EVENT_ACCEPTED);
    let (status, m_hs, o_hs) = run_handshake(
        (member, member_chain, m_conn),
        (shell.owner, shell.owner_chain, o_conn),
        shell.revocations,
    );
    ok(status);
    let mut key = Default::default();
    ok(syncshell_handshake_session_key(o_hs, &mut key));
    let (mut peer, mut role) = Default::default();
    ok(syncshell_handshake_peer(o_hs, &mut peer, &mut role));
    let peer = c(&text(peer));
    ok(syncshell_handshake_free(m_hs));
    ok(syncshell_handshake_free(o_hs));
    (m_conn, o_conn, take(key), peer)
}

#[test]
fn a_transfer_killed_with_its_connection_resumes_after_a_new_handshake() {
    let shell = shell();
    let member = member_of(&shell, SYNCSHELL_ROLE_MEMBER);
    let mut runtime = Default::default();
    ok(syncshell_runtime_new(2, &mut runtime));
    // 1 MB/s each way: the 2 MB file takes about two seconds, time to kill it half way.
    let mut net = Default::default();
    ok(syncshell_mem_network_new(
        runtime, 3, 1, 0, 1_000_000, &mut net,
    ));
    let (mut owner_t, mut member_t) = Default::default();
    ok(unsafe { syncshell_transport_new_mem(net, c("owner").as_ptr(), &mut owner_t) });
    ok(unsafe { syncshell_transport_new_mem(net, c("member").as_ptr(), &mut member_t) });
    let src = tempfile::tempdir().unwrap();
    let len = 2_000_000u64;
    let big: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
    std::fs::write(src.path().join("big.pak"), &big).unwrap();
    let dst = tempfile::tempdir().unwrap();
    let (src_c, dst_c) = (
        c(src.path().to_str().unwrap()),
        c(dst.path().to_str().unwrap()),
    );
    // The member sends, the owner receives from the peer its handshake authenticated.
    let start = |m_conn, o_conn, key: &[u8], sender: &CString| {
        let (mut send, mut recv) = Default::default();
        ok(unsafe { syncshell_transfer_send(m_conn, key.as_ptr(), 32, src_c.as_ptr(), &mut send) });
        ok(unsafe {
            syncshell_transfer_receive(
                o_conn,
                key.as_ptr(),
                32,
                sender.as_ptr(),
                dst_c.as_ptr(),
                0,
                &mut recv,
            )
        });
        (send, recv)
    };

    let (m_conn, o_conn, key1, sender) =
        connect_and_authenticate(&shell, member, (member_t, owner_t));
    assert_eq!(sender, peer_id(member.0));
    let (send, recv) = start(m_conn, o_conn, &key1, &sender);
    let (mut done, mut total) = Default::default();
    for _ in 0..1_000 {
        ok(syncshell_transfer_progress(recv, &mut done, &mut total));
        if done >= len / 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(done >= len / 3 && done < len, "{done} of {total}");
    // The member's end goes, as in a crash: both transfers fail.
    ok(unsafe { syncshell_mem_network_kill(net, c("member").as_ptr()) });
    assert_ne!(syncshell_transfer_wait(recv, 10_000), SYNCSHELL_OK);
    assert_ne!(syncshell_transfer_wait(send, 10_000), SYNCSHELL_OK);
    ok(syncshell_transfer_progress(recv, &mut done, &mut total));
    assert!(done < len, "the killed transfer finished");
    for t in [send, recv] {
        ok(syncshell_transfer_free(t));
    }
    for conn in [m_conn, o_conn] {
        ok(syncshell_connection_free(conn));
    }
    assert!(!dst.path().join("big.pak").exists());

    // A new connection and handshake (a new session key): the same sender, so the owner
    // resumes from its partial file and only the rest crosses the connection.
    let (m_conn, o_conn, key2, sender) =
        connect_and_authenticate(&shell, member, (member_t, owner_t));
    assert_ne!(key1, key2);
    let (_, received_before) = {
        let (mut s, mut r) = Default::default();
        ok(syncshell_connection_stats(o_conn, &mut s, &mut r));
        (s, r)
    };
    let (send, recv) = start(m_conn, o_conn, &key2, &sender);
    ok(syncshell_transfer_wait(recv, 30_000));
    ok(syncshell_transfer_wait(send, 10_000));
    assert_eq!(std::fs::read(dst.path().join("big.pak")).unwrap(), big);
    let (mut sent, mut received) = Default::default();
    ok(syncshell_connection_stats(o_conn, &mut sent, &mut received));
    let received = received - received_before;
    // What the first attempt kept, in whole 64 KiB chunks, does not cross again (frames add
    // a few dozen bytes per chunk).
    let kept = done / 65_536 * 65_536;
    assert!(kept > 0);
    assert!(
        received < len - kept + 16 * 1024,
        "the second attempt received {received} bytes of a {len}-byte file of which \
         {kept} were kept"
    );
    for t in [send, recv] {
        ok(syncshell_transfer_free(t));
    }
    for conn in [m_conn, o_conn] {
        ok(syncshell_connection_free(conn));
    }
    ok(syncshell_transport_free(owner_t));
    ok(syncshell_transport_free(member_t));
    ok(syncshell_mem_network_free(net));
    ok(syncshell_runtime_free(runtime));
}

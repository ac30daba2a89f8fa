//! ADVERSARIAL.md item 5 and the join flow: expired, over-used, tampered, other-shell
//! invites each fail with their own error.

use syncshell_identity::{
    Error, Identity, InviteCode, InviteLedger, InviteOptions, JoinRequest, Kind, Revocations, Role,
    SignedEnvelope, TokenChain, DEFAULT_INVITE_VALIDITY, JOIN_REQUEST_CONTEXT,
};

use crate::{none, rng, shell, HOUR, T0};

fn code(s: &crate::Shell, max_uses: u32, seed: u64) -> InviteCode {
    let options = InviteOptions {
        max_uses,
        hints: b"signal=ws://127.0.0.1:1".to_vec(),
        ..InviteOptions::default()
    };
    InviteCode::create(
        &none(&s.genesis),
        &s.admin,
        &s.admin_chain,
        &options,
        T0,
        &mut rng(seed),
    )
    .unwrap()
}

#[test]
fn full_join_flow_through_text() {
    let s = shell(50);
    let c = code(&s, 1, 51);
    let text = c.to_text();
    assert!(text.starts_with("syncshell-invite-"));
    // Pasted through a chat that wraps lines and shouts.
    let wrapped: String = text
        .chars()
        .enumerate()
        .flat_map(|(i, ch)| {
            let sep = if i % 60 == 59 { Some('\n') } else { None };
            std::iter::once(ch.to_ascii_uppercase()).chain(sep)
        })
        .collect();
    let parsed: InviteCode = format!("  {wrapped}\n").parse().unwrap();
    assert_eq!(parsed.invite(), c.invite());
    assert_eq!(parsed.invite().hints(), b"signal=ws://127.0.0.1:1");
    assert_eq!(parsed.invite().genesis(), &s.genesis);

    let joiner = Identity::generate(&mut rng(52));
    let request = parsed.join_request(&joiner, T0).unwrap();
    let wire = request.encode();
    let received = JoinRequest::decode(&wire).unwrap();
    // The request does not carry the secret (the last 16 bytes of the code's encoding).
    let code_bytes = c.encode();
    let secret = &code_bytes[code_bytes.len() - 16..];
    assert!(!wire.windows(16).any(|w| w == secret));
    let mut ledger = InviteLedger::new();
    let chain = ledger
        .accept(
            &none(&s.genesis),
            &s.admin,
            &s.admin_chain,
            &received,
            T0,
            &mut rng(53),
        )
        .unwrap();
    let a = chain.verify(&s.genesis, T0).unwrap();
    assert_eq!(a.peer(), &joiner.peer_id());
    assert_eq!(a.role(), Role::Member);
    // Cut to the admin's own 30-day expiry? No: the default 180 days is longer, so yes.
    assert_eq!(
        a.expires_at(),
        s.admin_chain.verify(&s.genesis, T0).unwrap().expires_at()
    );
    assert_eq!(ledger.uses(c.invite().invite_key()), 1);
}

#[test]
fn expired_invite_is_refused() {
    let s = shell(54);
    let c = code(&s, 1, 55);
    let end = T0.saturating_add(DEFAULT_INVITE_VALIDITY);
    let joiner = Identity::generate(&mut rng(56));
    assert!(matches!(
        c.join_request(&joiner, end),
        Err(Error::Expired {
            kind: Kind::Invite,
            ..
        })
    ));
    // A request made in time but accepted too late.
    let request = c
        .join_request(&joiner, T0.saturating_add(HOUR / 4))
        .unwrap();
    let mut ledger = InviteLedger::new();
    assert!(matches!(
        ledger.accept(
            &none(&s.genesis),
            &s.admin,
            &s.admin_chain,
            &request,
            end,
            &mut rng(57)
        ),
        Err(Error::Expired {
            kind: Kind::Invite,
            ..
        })
    ));
    assert_eq!(
        ledger.uses(c.invite().invite_key()),
        0,
        "nothing recorded on refusal"
    );
}

#[test]
fn over_used_invite_is_refused_but_a_returning_joiner_is_not_counted_twice() {
    let s = shell(58);
    let c = code(&s, 2, 59);
    let mut ledger = InviteLedger::new();
    let mut r = rng(60);
    let a = Identity::generate(&mut r);
    let b = Identity::generate(&mut r);
    let third = Identity::generate(&mut r);
    for j in [&a, &b, &a] {
        let req = c.join_request(j, T0).unwrap();
        ledger
            .accept(
                &none(&s.genesis),
                &s.admin,
                &s.admin_chain,
                &req,
                T0,
                &mut r,
            )
            .unwrap();
    }
    assert_eq!(ledger.uses(c.invite().invite_key()), 2);
    let req = c.join_request(&third, T0).unwrap();
    assert_eq!(
        ledger.accept(
            &none(&s.genesis),
            &s.admin,
            &s.admin_chain,
            &req,
            T0,
            &mut r
        ),
        Err(Error::InviteUsedUp { max_uses: 2 })
    );
    // The count survives a restart.
    let mut reloaded = InviteLedger::decode(&ledger.encode()).unwrap();
    assert_eq!(reloaded, ledger);
    assert_eq!(
        reloaded.accept(
            &none(&s.genesis),
            &s.admin,
            &s.admin_chain,
            &req,
            T0,
            &mut r
        ),
        Err(Error::InviteUsedUp { max_uses: 2 })
    );
    reloaded.prune(T0.saturating_add(DEFAULT_INVITE_VALIDITY));
    assert_eq!(reloaded.uses(c.invite().invite_key()), 0);
}

#[test]
fn every_single_character_change_in_the_text_is_refused() {
    let s = shell(61);
    let text = code(&s, 1, 62).to_text();
    let prefix = "syncshell-invite-".len();
    let alphabet = "0123456789abcdefghjkmnpqrstvwxyz";
    let mut refused = 0;
    // Every position of the data (stepping to keep the test quick), one replacement each.
    for (n, i) in (prefix..text.len()).step_by(7).enumerate() {
        let old = text.as_bytes()[i] as char;
        let new = alphabet
            .chars()
            .cycle()
            .skip(n % 32)
            .find(|&c| c != old)
            .unwrap();
        let mut t = text.to_string();
        t.replace_range(i..=i, &new.to_string());
        let err = t.parse::<InviteCode>().unwrap_err();
        assert_eq!(
            err,
            Error::BadChecksum { kind: Kind::Invite },
            "position {i}"
        );
        refused += 1;
    }
    assert!(refused > 50);
    // Other ways to be wrong, each with its own error.
    assert!(matches!(
        "syncshell-invote-abc".parse::<InviteCode>(),
        Err(Error::WrongPrefix { .. })
    ));
    let mut t = text.to_string();
    t.insert(prefix + 3, 'u');
    assert!(matches!(
        t.parse::<InviteCode>(),
        Err(Error::BadCharacter { ch: 'u', .. })
    ));
    assert!(matches!(
        text[..text.len() - 10].parse::<InviteCode>(),
        Err(Error::BadChecksum { .. })
    ));
}

#[test]
fn tampered_invite_with_a_recomputed_checksum_fails_its_signature() {
    let s = shell(63);
    let c = code(&s, 1, 64);
    let mut bytes = c.encode().to_vec();
    // Flip the max_uses value inside the signed body: find "max_uses = 1" (field 7, varint).
    let pos = bytes.windows(2).rposition(|w| w == [0x38, 0x01]).unwrap();
    bytes[pos + 1] = 0x05;
    assert_eq!(InviteCode::decode(&bytes), Err(Error::BadSignature));
}

#[test]
fn invite_for_another_shell_is_refused() {
    let s = shell(65);
    let other = shell(66);
    let c = code(&other, 1, 67);
    let joiner = Identity::generate(&mut rng(68));
    let request = c.join_request(&joiner, T0).unwrap();
    let mut ledger = InviteLedger::new();
    assert_eq!(
        ledger.accept(
            &none(&s.genesis),
            &s.admin,
            &s.admin_chain,
            &request,
            T0,
            &mut rng(69)
        ),
        Err(Error::WrongShell { kind: Kind::Invite })
    );
}

#[test]
fn members_cannot_invite_and_invites_cannot_outlive_or_outrank_the_inviter() {
    let s = shell(70);
    let mut r = rng(71);
    assert_eq!(
        InviteCode::create(
            &none(&s.genesis),
            &s.member,
            &s.member_chain,
            &InviteOptions::default(),
            T0,
            &mut r
        ),
        Err(Error::NotAuthorized("only admins invite"))
    );
    let long = InviteOptions {
        validity: HOUR * 24 * 365,
        ..InviteOptions::default()
    };
    assert_eq!(
        InviteCode::create(
            &none(&s.genesis),
            &s.admin,
            &s.admin_chain,
            &long,
            T0,
            &mut r
        ),
        Err(Error::OutlivesIssuer { kind: Kind::Invite })
    );
    let as_owner = InviteOptions {
        role: Role::Owner,
        ..InviteOptions::default()
    };
    assert!(InviteCode::create(
        &none(&s.genesis),
        &s.owner,
        &TokenChain::owner(),
        &as_owner,
        T0,
        &mut r
    )
    .is_err());
    let admin_invite = InviteOptions {
        role: Role::Admin,
        ..InviteOptions::default()
    };
    assert!(InviteCode::create(
        &none(&s.genesis),
        &s.owner,
        &TokenChain::owner(),
        &admin_invite,
        T0,
        &mut r
    )
    .is_ok());
}

#[test]
fn join_request_without_the_secret_or_with_a_swapped_joiner_fails() {
    let s = shell(72);
    let c = code(&s, 1, 73);
    let mut r = rng(74);
    let joiner = Identity::generate(&mut r);
    let req = c.join_request(&joiner, T0).unwrap();
    let mut wire = req.encode();
    // Corrupt the invite proof (the last 64 bytes of the message).
    let n = wire.len();
    wire[n - 1] ^= 1;
    assert_eq!(JoinRequest::decode(&wire), Err(Error::BadSignature));
    // Eve saw the request on the wire and swaps in her own key, signing as herself; she
    // lacks the invite secret, so the old invite proof no longer matches the body.
    let eve = Identity::generate(&mut r);
    let body = req_body(&req);
    let swapped: Vec<u8> = replace(&body, joiner.peer_id().as_bytes(), eve.peer_id().as_bytes());
    let forged_env = SignedEnvelope::seal(&eve, JOIN_REQUEST_CONTEXT, swapped);
    let proof = &req.encode()[req.encode().len() - 64..].to_vec();
    let mut forged = Vec::new();
    push_field(&mut forged, 1, &forged_env.encode());
    push_field(&mut forged, 2, proof);
    assert_eq!(JoinRequest::decode(&forged), Err(Error::BadSignature));
}

fn req_body(req: &JoinRequest) -> Vec<u8> {
    // The envelope is field 1 of the request; its body is what the joiner signed.
    let wire = req.encode();
    let (len, skip) = varint(&wire[1..]);
    SignedEnvelope::decode(&wire[1 + skip..1 + skip + len])
        .unwrap()
        .body()
        .to_vec()
}

fn varint(b: &[u8]) -> (usize, usize) {
    let mut v = 0usize;
    for (i, byte) in b.iter().enumerate() {
        v |= ((byte & 0x7f) as usize) << (7 * i);
        if byte & 0x80 == 0 {
            return (v, i + 1);
        }
    }
    panic!("bad varint")
}

fn push_field(out: &mut Vec<u8>, field: u8, bytes: &[u8]) {
    out.push(field << 3 | 2);
    let mut len = bytes.len();
    while len >= 0x80 {
        out.push((len as u8) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    out.extend_from_slice(bytes);
}

fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let pos = haystack
        .windows(from.len())
        .rposition(|w| w == from)
        .unwrap();
    let mut out = haystack.to_vec();
    out[pos..pos + from.len()].copy_from_slice(to);
    out
}

/// An admin makes a many-use admin invite, then is revoked. Neither it nor the owner (nor
/// anyone else) can turn the invite into a token afterwards: the owner is not its inviter,
/// and the inviter's chain rests on a revoked key. Before, the owner accepted it and issued a
/// fresh chain `[owner -> joiner]` that no tombstone against the admin reached.
#[test]
fn a_revoked_admins_invite_cannot_mint_tokens_at_the_owner() {
    let s = shell(70);
    let options = InviteOptions {
        max_uses: 50,
        role: Role::Admin,
        ..InviteOptions::default()
    };
    let code = InviteCode::create(
        &none(&s.genesis),
        &s.admin,
        &s.admin_chain,
        &options,
        T0,
        &mut rng(71),
    )
    .unwrap();
    let fresh = Identity::generate(&mut rng(72));
    let request = code.join_request(&fresh, T0).unwrap();
    let revoked = crate::Revoked {
        genesis: s.genesis.clone(),
        keys: vec![s.admin.peer_id()],
    };
    let mut ledger = InviteLedger::new();
    assert_eq!(
        ledger.accept(
            &revoked,
            &s.owner,
            &TokenChain::owner(),
            &request,
            T0,
            &mut rng(73)
        ),
        Err(Error::NotInviter)
    );
    assert_eq!(
        ledger.accept(
            &revoked,
            &s.admin,
            &s.admin_chain,
            &request,
            T0,
            &mut rng(74)
        ),
        Err(Error::Revoked {
            peer: Box::new(s.admin.peer_id())
        })
    );
    assert_eq!(
        code.invite().verify(&revoked, T0),
        Err(Error::Revoked {
            peer: Box::new(s.admin.peer_id())
        })
    );
    assert_eq!(ledger.uses(code.invite().invite_key()), 0);

    // An invite of a sub-admin whose own issuer is revoked is refused the same way: the
    // whole chain is checked.
    let sub = Identity::generate(&mut rng(75));
    let sub_chain = TokenChain::issue(
        &none(&s.genesis),
        &s.admin,
        &s.admin_chain,
        sub.peer_id(),
        Role::Admin,
        T0,
        Some(T0.saturating_add(HOUR * 24)),
        &mut rng(76),
    )
    .unwrap();
    let sub_code = InviteCode::create(
        &none(&s.genesis),
        &sub,
        &sub_chain,
        &InviteOptions::default(),
        T0,
        &mut rng(77),
    )
    .unwrap();
    let request = sub_code.join_request(&fresh, T0).unwrap();
    assert_eq!(
        ledger.accept(&revoked, &sub, &sub_chain, &request, T0, &mut rng(78)),
        Err(Error::Revoked {
            peer: Box::new(s.admin.peer_id())
        })
    );
    // Nor can a revoked admin make new invites.
    assert_eq!(
        InviteCode::create(
            &revoked,
            &s.admin,
            &s.admin_chain,
            &InviteOptions::default(),
            T0,
            &mut rng(79)
        )
        .map(|_| ()),
        Err(Error::Revoked {
            peer: Box::new(s.admin.peer_id())
        })
    );
}

/// Only the inviter redeems an invite, and the token it issues names it, so the joiner's
/// chain passes through the inviter: revoking the inviter later revokes the joiner.
#[test]
fn an_invite_is_only_redeemed_at_its_inviter() {
    let s = shell(80);
    let c = code(&s, 3, 81);
    let joiner = Identity::generate(&mut rng(82));
    let request = c.join_request(&joiner, T0).unwrap();
    let other_admin = Identity::generate(&mut rng(83));
    let other_chain = TokenChain::issue(
        &none(&s.genesis),
        &s.owner,
        &TokenChain::owner(),
        other_admin.peer_id(),
        Role::Admin,
        T0,
        None,
        &mut rng(84),
    )
    .unwrap();
    let mut ledger = InviteLedger::new();
    for (acceptor, chain) in [
        (&s.owner, &TokenChain::owner()),
        (&other_admin, &other_chain),
        (&s.member, &s.member_chain),
    ] {
        assert_eq!(
            ledger.accept(
                &none(&s.genesis),
                acceptor,
                chain,
                &request,
                T0,
                &mut rng(85)
            ),
            Err(Error::NotInviter)
        );
    }
    assert_eq!(ledger.uses(c.invite().invite_key()), 0);
    let chain = ledger
        .accept(
            &none(&s.genesis),
            &s.admin,
            &s.admin_chain,
            &request,
            T0,
            &mut rng(86),
        )
        .unwrap();
    assert_eq!(chain.tokens()[0].issuer(), &s.admin.peer_id());
    let revoked = crate::Revoked {
        genesis: s.genesis.clone(),
        keys: vec![s.admin.peer_id()],
    };
    assert_eq!(
        revoked.admit(&joiner.peer_id(), &chain, T0),
        Err(Error::Revoked {
            peer: Box::new(s.admin.peer_id())
        })
    );
    assert!(none(&s.genesis)
        .admit(&joiner.peer_id(), &chain, T0)
        .is_ok());
}

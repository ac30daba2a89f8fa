//! ADVERSARIAL.md items 2-4: cross-context, expiry with an injected clock, delegation.

use syncshell_identity::{
    Context, Error, Identity, Kind, MemberToken, Revocations, Role, ShellGenesis, SignedEnvelope,
    Timestamp, TokenChain, TokenFields, MAX_CHAIN_DEPTH, MAX_CLOCK_SKEW, TOKEN_CONTEXT,
};

use crate::{none, rng, shell, HOUR, T0};

fn fields(s: &ShellGenesis, subject: &Identity, role: Role, exp: Option<Timestamp>) -> TokenFields {
    TokenFields {
        shell_id: s.id(),
        subject: subject.peer_id(),
        role,
        issued_at: T0,
        expires_at: exp,
    }
}

#[test]
fn cross_context_signature_never_verifies_as_a_token() {
    let s = shell(10);
    let token = &s.member_chain.tokens()[0];
    // The same body bytes signed under another context (as a tombstone or phonebook entry
    // would be) by the same issuer is not a token.
    for label in [
        "syncshell/v1/tombstone",
        "syncshell/v1/phonebook-entry",
        "syncshell/v1/invite",
    ] {
        let env = SignedEnvelope::seal(
            &s.admin,
            Context::new(label),
            token.envelope().body().to_vec(),
        );
        assert_eq!(
            MemberToken::decode(&env.encode()),
            Err(Error::BadSignature),
            "{label}"
        );
    }
    // And the token's own signature does not verify under another context.
    assert!(token
        .envelope()
        .verify(Context::new("syncshell/v1/tombstone"))
        .is_err());
    assert!(token.envelope().verify(TOKEN_CONTEXT).is_ok());
}

#[test]
fn token_of_shell_a_never_admits_into_shell_b() {
    let a = shell(11);
    let b = shell(12);
    assert_eq!(
        a.member_chain.verify(&b.genesis, T0),
        Err(Error::WrongShell {
            kind: Kind::MemberToken
        })
    );
    // Even when B has the same owner and name: the genesis nonce makes a new shell id.
    let mut r = rng(13);
    let b_same_owner = ShellGenesis::create(&a.owner, "test shell", T0, &mut r).unwrap();
    assert_ne!(b_same_owner.id(), a.genesis.id());
    assert!(matches!(
        a.admin_chain.verify(&b_same_owner, T0),
        Err(Error::WrongShell { .. })
    ));
}

#[test]
fn expiry_just_before_at_and_after() {
    let s = shell(14);
    let end = T0.saturating_add(HOUR * 24 * 7);
    let just_before = Timestamp::from_millis(end.as_millis() - 1);
    assert!(s.member_chain.verify(&s.genesis, just_before).is_ok());
    assert_eq!(
        s.member_chain.verify(&s.genesis, end),
        Err(Error::Expired {
            kind: Kind::MemberToken,
            expired_at: end,
            now: end
        })
    );
    let after = end.saturating_add(HOUR);
    assert!(matches!(
        s.member_chain.verify(&s.genesis, after),
        Err(Error::Expired { .. })
    ));
    // The admission reports the chain's expiry.
    assert_eq!(
        s.member_chain.verify(&s.genesis, T0).unwrap().expires_at(),
        Some(end)
    );
}

#[test]
fn issued_in_the_future_beyond_skew_and_a_clock_that_jumps_back() {
    let s = shell(15);
    let skew_edge = T0.saturating_sub(MAX_CLOCK_SKEW);
    assert!(s.member_chain.verify(&s.genesis, skew_edge).is_ok());
    let too_early = Timestamp::from_millis(skew_edge.as_millis() - 1);
    assert!(matches!(
        s.member_chain.verify(&s.genesis, too_early),
        Err(Error::NotYetValid {
            kind: Kind::MemberToken,
            ..
        })
    ));
    // A clock that jumps backwards by a day after a successful check: the same chain is
    // refused at the earlier time, accepted again when the clock recovers. Checks are pure.
    assert!(s
        .member_chain
        .verify(&s.genesis, T0.saturating_add(HOUR))
        .is_ok());
    assert!(s
        .member_chain
        .verify(&s.genesis, T0.saturating_sub(HOUR * 24))
        .is_err());
    assert!(s
        .member_chain
        .verify(&s.genesis, T0.saturating_add(HOUR))
        .is_ok());
}

#[test]
fn admin_cannot_grant_more_than_it_holds() {
    let s = shell(16);
    let mut r = rng(17);
    let x = Identity::generate(&mut r);
    // The checked path refuses to grant the owner role.
    assert!(matches!(
        TokenChain::issue(
            &none(&s.genesis),
            &s.admin,
            &s.admin_chain,
            x.peer_id(),
            Role::Owner,
            T0,
            Some(T0.saturating_add(HOUR)),
            &mut r
        ),
        Err(Error::NotAuthorized(_))
    ));
    // A member-role admin... cannot exist; but a member who grants admin to someone, signed
    // by hand, is refused at verification.
    let t = MemberToken::sign(
        &s.member,
        fields(&s.genesis, &x, Role::Admin, Some(T0.saturating_add(HOUR))),
        &mut r,
    )
    .unwrap();
    let mut tokens = vec![t];
    tokens.extend(s.member_chain.tokens().iter().cloned());
    let chain = TokenChain::from_tokens(tokens).unwrap();
    assert_eq!(
        chain.verify(&s.genesis, T0),
        Err(Error::NotAuthorized("only admins issue tokens"))
    );
}

#[test]
fn a_member_cannot_issue_tokens() {
    let s = shell(18);
    let mut r = rng(19);
    let x = Identity::generate(&mut r);
    assert_eq!(
        TokenChain::issue(
            &none(&s.genesis),
            &s.member,
            &s.member_chain,
            x.peer_id(),
            Role::Member,
            T0,
            Some(T0.saturating_add(HOUR)),
            &mut r
        ),
        Err(Error::NotAuthorized("only admins issue tokens"))
    );
    let t = MemberToken::sign(
        &s.member,
        fields(&s.genesis, &x, Role::Member, Some(T0.saturating_add(HOUR))),
        &mut r,
    )
    .unwrap();
    let mut tokens = vec![t];
    tokens.extend(s.member_chain.tokens().iter().cloned());
    let chain = TokenChain::from_tokens(tokens).unwrap();
    assert!(matches!(
        chain.verify(&s.genesis, T0),
        Err(Error::NotAuthorized(_))
    ));
}

#[test]
fn a_token_cannot_outlive_its_issuer() {
    let s = shell(20);
    let mut r = rng(21);
    let x = Identity::generate(&mut r);
    let admin_end = T0.saturating_add(HOUR * 24 * 30);
    for bad in [None, Some(admin_end.saturating_add(HOUR))] {
        assert_eq!(
            TokenChain::issue(
                &none(&s.genesis),
                &s.admin,
                &s.admin_chain,
                x.peer_id(),
                Role::Member,
                T0,
                bad,
                &mut r
            ),
            Err(Error::OutlivesIssuer {
                kind: Kind::MemberToken
            })
        );
        let t =
            MemberToken::sign(&s.admin, fields(&s.genesis, &x, Role::Member, bad), &mut r).unwrap();
        let mut tokens = vec![t];
        tokens.extend(s.admin_chain.tokens().iter().cloned());
        let chain = TokenChain::from_tokens(tokens).unwrap();
        assert_eq!(
            chain.verify(&s.genesis, T0),
            Err(Error::OutlivesIssuer {
                kind: Kind::MemberToken
            })
        );
    }
    // Exactly the issuer's expiry is allowed.
    assert!(TokenChain::issue(
        &none(&s.genesis),
        &s.admin,
        &s.admin_chain,
        x.peer_id(),
        Role::Member,
        T0,
        Some(admin_end),
        &mut r
    )
    .is_ok());
}

/// Builds owner -> admin_1 -> ... -> admin_{n-1} -> member, n tokens deep, by hand.
fn chain_of_depth(n: usize, seed: u64) -> (ShellGenesis, TokenChain) {
    let mut r = rng(seed);
    let owner = Identity::generate(&mut r);
    let genesis = ShellGenesis::create(&owner, "deep", T0, &mut r).unwrap();
    let keys: Vec<Identity> = (0..n).map(|_| Identity::generate(&mut r)).collect();
    let mut tokens = Vec::new();
    for i in 0..n {
        let issuer = if i == 0 { &owner } else { &keys[i - 1] };
        let role = if i + 1 == n {
            Role::Member
        } else {
            Role::Admin
        };
        tokens.push(
            MemberToken::sign(issuer, fields(&genesis, &keys[i], role, None), &mut r).unwrap(),
        );
    }
    tokens.reverse();
    (genesis, TokenChain::from_tokens(tokens).unwrap())
}

#[test]
fn chains_up_to_the_limit_verify_and_deeper_ones_are_refused() {
    for depth in 1..=MAX_CHAIN_DEPTH {
        let (g, chain) = chain_of_depth(depth, 30 + depth as u64);
        let a = chain.verify(&g, T0).unwrap();
        assert_eq!(a.chain_keys().len(), depth);
        assert_eq!(a.role(), Role::Member);
    }
    // One deeper: refused when building the chain and when decoding one from the wire.
    let mut r = rng(40);
    let owner = Identity::generate(&mut r);
    let g = ShellGenesis::create(&owner, "deep", T0, &mut r).unwrap();
    let keys: Vec<Identity> = (0..=MAX_CHAIN_DEPTH)
        .map(|_| Identity::generate(&mut r))
        .collect();
    let mut tokens = Vec::new();
    for i in 0..keys.len() {
        let issuer = if i == 0 { &owner } else { &keys[i - 1] };
        tokens.push(
            MemberToken::sign(issuer, fields(&g, &keys[i], Role::Admin, None), &mut r).unwrap(),
        );
    }
    tokens.reverse();
    assert!(matches!(
        TokenChain::from_tokens(tokens.clone()),
        Err(Error::ChainTooDeep { depth: 5, max: 4 })
    ));
    // Hand-encode a 5-token chain: repeated field 1 of envelopes.
    let mut wire = Vec::new();
    for t in &tokens {
        let e = t.encode();
        wire.push(0x0a);
        let mut len = e.len();
        while len >= 0x80 {
            wire.push((len as u8) | 0x80);
            len >>= 7;
        }
        wire.push(len as u8);
        wire.extend_from_slice(&e);
    }
    assert!(matches!(
        TokenChain::decode(&wire),
        Err(Error::ChainTooDeep { .. })
    ));
}

#[test]
fn broken_links_are_refused() {
    let s = shell(22);
    let mut r = rng(23);
    let x = Identity::generate(&mut r);
    // Token issued by the admin but attached to the owner's chain (missing admin link).
    let t = MemberToken::sign(
        &s.admin,
        fields(&s.genesis, &x, Role::Member, Some(T0.saturating_add(HOUR))),
        &mut r,
    )
    .unwrap();
    let chain = TokenChain::from_tokens(vec![t]).unwrap();
    assert_eq!(
        chain.verify(&s.genesis, T0),
        Err(Error::BrokenChain("the chain does not end at the owner"))
    );
    // The empty chain admits only the owner, through `admit`.
    assert!(TokenChain::owner().verify(&s.genesis, T0).is_err());
    assert_eq!(
        none(&s.genesis)
            .admit(&s.owner.peer_id(), &TokenChain::owner(), T0)
            .unwrap()
            .role(),
        Role::Owner
    );
    assert!(none(&s.genesis)
        .admit(&x.peer_id(), &TokenChain::owner(), T0)
        .is_err());
    // A chain presented by someone it does not name.
    assert_eq!(
        none(&s.genesis).admit(&x.peer_id(), &s.member_chain, T0),
        Err(Error::BrokenChain("the chain names another peer"))
    );
    // A token issued before its issuer's own token.
    let early = TokenFields {
        issued_at: T0.saturating_sub(HOUR),
        ..fields(&s.genesis, &x, Role::Member, Some(T0.saturating_add(HOUR)))
    };
    let t = MemberToken::sign(&s.admin, early, &mut r).unwrap();
    let mut tokens = vec![t];
    tokens.extend(s.admin_chain.tokens().iter().cloned());
    assert_eq!(
        TokenChain::from_tokens(tokens)
            .unwrap()
            .verify(&s.genesis, T0),
        Err(Error::BrokenChain(
            "a token was issued before its issuer's token"
        ))
    );
}

#[test]
fn tokens_to_the_owner_or_to_oneself_are_refused() {
    let s = shell(24);
    let mut r = rng(25);
    assert!(matches!(
        MemberToken::sign(
            &s.admin,
            fields(&s.genesis, &s.admin, Role::Member, None),
            &mut r
        ),
        Err(Error::Malformed { .. })
    ));
    let t = MemberToken::sign(
        &s.admin,
        fields(
            &s.genesis,
            &s.owner,
            Role::Member,
            Some(T0.saturating_add(HOUR)),
        ),
        &mut r,
    )
    .unwrap();
    let mut tokens = vec![t];
    tokens.extend(s.admin_chain.tokens().iter().cloned());
    assert_eq!(
        TokenChain::from_tokens(tokens)
            .unwrap()
            .verify(&s.genesis, T0),
        Err(Error::BrokenChain("the owner holds no token"))
    );
}

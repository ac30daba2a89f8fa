//! Property tests: every encoding round-trips, and arbitrary bytes never panic a decoder.

use proptest::prelude::*;
use syncshell_identity::{
    Identity, InviteCode, InviteLedger, InviteOptions, JoinRequest, KdfParams, KeyFile,
    MemberToken, PeerId, Role, ShellGenesis, ShellId, SignedEnvelope, Timestamp, TokenChain,
    TokenFields, MAX_HINTS_LEN,
};

use crate::{none, rng, T0};

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn genesis_and_ids(seed in any::<u64>(), name in "[^\\p{Cc}]{1,16}", at in any::<u64>()) {
        let mut r = rng(seed);
        let owner = Identity::generate(&mut r);
        let g = ShellGenesis::create(&owner, &name, Timestamp::from_millis(at), &mut r).unwrap();
        let back = ShellGenesis::decode(&g.encode()).unwrap();
        prop_assert_eq!(&back, &g);
        prop_assert_eq!(back.id().to_string().parse::<ShellId>().unwrap(), g.id());
        prop_assert_eq!(owner.peer_id().to_string().parse::<PeerId>().unwrap(), owner.peer_id());
    }

    #[test]
    fn tokens_and_chains(seed in any::<u64>(), admin in any::<bool>(), exp in proptest::option::of(1u64..1 << 50), issued in 0u64..1 << 50) {
        let mut r = rng(seed);
        let owner = Identity::generate(&mut r);
        let g = ShellGenesis::create(&owner, "s", T0, &mut r).unwrap();
        let subject = Identity::generate(&mut r).peer_id();
        let fields = TokenFields {
            shell_id: g.id(),
            subject,
            role: if admin { Role::Admin } else { Role::Member },
            issued_at: Timestamp::from_millis(issued),
            expires_at: exp.map(Timestamp::from_millis),
        };
        let t = MemberToken::sign(&owner, fields, &mut r).unwrap();
        let back = MemberToken::decode(&t.encode()).unwrap();
        prop_assert_eq!(&back, &t);
        prop_assert_eq!(back.expires_at(), fields.expires_at);
        let chain = TokenChain::from_tokens(vec![t]).unwrap();
        prop_assert_eq!(TokenChain::decode(&chain.encode()).unwrap(), chain);
    }

    #[test]
    fn invites_join_requests_and_ledgers(
        seed in any::<u64>(),
        uses in 1u32..20,
        hints in proptest::collection::vec(any::<u8>(), 0..MAX_HINTS_LEN),
        minutes in 1u64..600,
    ) {
        let mut r = rng(seed);
        let owner = Identity::generate(&mut r);
        let g = ShellGenesis::create(&owner, "s", T0, &mut r).unwrap();
        let options = InviteOptions {
            validity: std::time::Duration::from_secs(minutes * 60),
            max_uses: uses,
            role: Role::Member,
            hints,
        };
        let code = InviteCode::create(&none(&g), &owner, &TokenChain::owner(), &options, T0, &mut r).unwrap();
        let back: InviteCode = code.to_text().parse().unwrap();
        prop_assert_eq!(&back, &code);
        prop_assert_eq!(InviteCode::decode(&code.encode()).unwrap(), code.clone());
        let joiner = Identity::generate(&mut r);
        let req = code.join_request(&joiner, T0).unwrap();
        prop_assert_eq!(&JoinRequest::decode(&req.encode()).unwrap(), &req);
        let mut ledger = InviteLedger::new();
        ledger.accept(&none(&g), &owner, &TokenChain::owner(), &req, T0, &mut r).unwrap();
        prop_assert_eq!(InviteLedger::decode(&ledger.encode()).unwrap(), ledger);
    }

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = SignedEnvelope::decode(&bytes);
        let _ = ShellGenesis::decode(&bytes);
        let _ = MemberToken::decode(&bytes);
        let _ = TokenChain::decode(&bytes);
        let _ = InviteCode::decode(&bytes);
        let _ = JoinRequest::decode(&bytes);
        let _ = KeyFile::decode(&bytes);
        let _ = InviteLedger::decode(&bytes);
    }
}

proptest! {
    // Argon2 is deliberately slow: fewer cases.
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn key_files(seed in any::<u64>(), pass in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut r = rng(seed);
        let id = Identity::generate(&mut r);
        let f = KeyFile::seal(&id, &pass, KdfParams::new(32, 1, 1).unwrap(), &mut r).unwrap();
        let back = KeyFile::decode(&f.encode()).unwrap();
        prop_assert_eq!(&back, &f);
        prop_assert_eq!(back.open(&pass).unwrap(), id);
    }
}

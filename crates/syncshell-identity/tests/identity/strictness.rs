//! ADVERSARIAL.md item 1: Ed25519 strictness, through our own wrappers. The Wycheproof
//! vectors run in `keys.rs`, where the raw (context-free) verification path is reachable.

use syncshell_identity::{
    verify_all, Context, Error, Identity, MemberToken, PeerId, SignatureItem, SignedEnvelope,
    TOKEN_CONTEXT,
};

fn sign_token_like(id: &Identity) -> SignedEnvelope {
    SignedEnvelope::seal(id, TOKEN_CONTEXT, b"some body".to_vec())
}

#[test]
fn malleable_signature_with_s_plus_l_is_rejected() {
    let id = Identity::generate(&mut crate::rng(1));
    let env = sign_token_like(&id);
    let mut sig = *env.signature();
    // S' = S + L (little-endian add) is the classic malleation.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(sig[32 + i]) + u16::from(L[i]) + carry;
        sig[32 + i] = v as u8;
        carry = v >> 8;
    }
    assert_eq!(
        id.peer_id().verify(TOKEN_CONTEXT, env.body(), &sig),
        Err(Error::BadSignature)
    );
}

#[test]
fn small_order_and_non_canonical_keys_are_rejected() {
    // The eight small-order points' canonical encodings, and two non-canonical ones.
    let small_order: [&str; 10] = [
        "0100000000000000000000000000000000000000000000000000000000000000",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ];
    for hex_key in small_order {
        let bytes: [u8; 32] = hex::decode(hex_key).unwrap().try_into().unwrap();
        assert!(PeerId::from_bytes(&bytes).is_err(), "{hex_key} accepted");
    }
}

#[test]
fn truncated_or_garbage_appended_signatures_are_rejected() {
    let id = Identity::generate(&mut crate::rng(2));
    let env = sign_token_like(&id);
    let mut bytes = env.encode();
    // Re-encode with a 63-byte and a 65-byte signature field.
    let sig = env.signature().to_vec();
    let pos = bytes
        .windows(sig.len())
        .position(|w| w == sig.as_slice())
        .unwrap();
    let mut short = bytes.clone();
    short[pos - 1] = 63;
    short.remove(pos + 63);
    assert!(matches!(
        SignedEnvelope::decode(&short),
        Err(Error::Malformed { .. })
    ));
    bytes[pos - 1] = 65;
    bytes.insert(pos + 64, 0);
    assert!(matches!(
        SignedEnvelope::decode(&bytes),
        Err(Error::Malformed { .. })
    ));
}

#[test]
fn a_forged_token_fails_single_and_batch_verification() {
    let s = crate::shell(3);
    let good = s.member_chain.tokens()[0].encode();
    let other = s.admin_chain.tokens()[0].encode();
    let mut forged = good.clone();
    let n = forged.len();
    forged[n - 5] ^= 0x40; // inside the signature
    assert_eq!(MemberToken::decode(&forged), Err(Error::BadSignature));
    let err = MemberToken::decode_batch(&[&other, &forged, &good]).unwrap_err();
    assert_eq!(err, (1, Error::BadSignature));
    assert_eq!(
        MemberToken::decode_batch(&[&other, &good]).unwrap().len(),
        2
    );
}

#[test]
fn batch_and_single_agree_on_random_corruptions() {
    let mut rng = crate::rng(4);
    let ctx = Context::new("syncshell/v1/test");
    let ids: Vec<Identity> = (0..16).map(|_| Identity::generate(&mut rng)).collect();
    let peers: Vec<PeerId> = ids.iter().map(Identity::peer_id).collect();
    let msgs: Vec<Vec<u8>> = (0..16u8).map(|i| vec![i; 40]).collect();
    for flip in 0..64usize {
        let mut sigs: Vec<[u8; 64]> = ids.iter().zip(&msgs).map(|(i, m)| i.sign(ctx, m)).collect();
        let victim = flip % 16;
        sigs[victim][flip] ^= 1;
        let items: Vec<SignatureItem<'_>> = (0..16)
            .map(|i| SignatureItem {
                signer: &peers[i],
                context: ctx,
                message: &msgs[i],
                signature: &sigs[i],
            })
            .collect();
        let single = (0..16).find(|&i| peers[i].verify(ctx, &msgs[i], &sigs[i]).is_err());
        assert_eq!(verify_all(&items).err(), single);
        assert_eq!(single, Some(victim));
    }
}

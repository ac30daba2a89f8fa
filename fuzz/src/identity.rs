//! What each identity fuzz target checks. This file is compiled twice: by the fuzz crate
//! (`cargo fuzz run <target>`) and by syncshell-identity's corpus replay test, which runs every
//! file under `fuzz/corpus/<target>/` through the same function on stable Rust.
//!
//! Each check: decoding arbitrary bytes never panics, and whatever decodes re-encodes to
//! something that decodes to the same value.

use syncshell_identity::{
    InviteCode, InviteLedger, JoinRequest, KeyFile, MemberToken, PeerId, ShellGenesis,
    SignedEnvelope, TokenChain,
};

/// A fuzz target's check.
pub type Check = fn(&[u8]);

/// Every target: its name (the corpus folder) and its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("identity_envelope", envelope),
    ("identity_genesis", genesis),
    ("identity_token", token),
    ("identity_token_chain", token_chain),
    ("identity_invite_code", invite_code),
    ("identity_invite_text", invite_text),
    ("identity_join_request", join_request),
    ("identity_key_file", key_file),
    ("identity_ledger", ledger),
    ("identity_peer_id_text", peer_id_text),
];

macro_rules! round_trip {
    ($ty:ty, $data:expr) => {
        if let Ok(v) = <$ty>::decode($data) {
            let again = <$ty>::decode(&v.encode()).expect("re-encoding decodes");
            assert!(again == v, "round trip changed the value");
        }
    };
}

/// `SignedEnvelope::decode`.
pub fn envelope(data: &[u8]) {
    round_trip!(SignedEnvelope, data);
}

/// `ShellGenesis::decode`.
pub fn genesis(data: &[u8]) {
    round_trip!(ShellGenesis, data);
}

/// `MemberToken::decode`.
pub fn token(data: &[u8]) {
    round_trip!(MemberToken, data);
}

/// `TokenChain::decode`.
pub fn token_chain(data: &[u8]) {
    round_trip!(TokenChain, data);
}

/// `InviteCode::decode`.
pub fn invite_code(data: &[u8]) {
    round_trip!(InviteCode, data);
}

/// `InviteCode::from_str` on arbitrary UTF-8.
pub fn invite_text(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(code) = text.parse::<InviteCode>() {
            let again: InviteCode = code.to_text().parse().expect("text form parses");
            assert!(again == code, "text round trip changed the value");
        }
    }
}

/// `JoinRequest::decode`.
pub fn join_request(data: &[u8]) {
    round_trip!(JoinRequest, data);
}

/// `KeyFile::decode` (opening is not fuzzed: Argon2 is slow by design).
pub fn key_file(data: &[u8]) {
    round_trip!(KeyFile, data);
}

/// `InviteLedger::decode`.
pub fn ledger(data: &[u8]) {
    round_trip!(InviteLedger, data);
}

/// `PeerId::from_str` on arbitrary UTF-8.
pub fn peer_id_text(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(id) = text.parse::<PeerId>() {
            let again: PeerId = id.to_string().parse().expect("text form parses");
            assert!(again == id);
        }
    }
}

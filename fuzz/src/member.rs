//! What the member fuzz targets check. This file is compiled twice: by the fuzz crate
//! (`cargo fuzz run member_link_message`) and by syncshell-member's corpus replay test, which
//! runs every file under `fuzz/corpus/member_*/` through the same functions on stable Rust.

use syncshell_member::{LinkMessage, RelayMessage};

/// A fuzz target's check.
pub type Check = fn(&[u8]);

/// Every target: its name (the corpus folder) and its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("member_link_message", link_message),
    ("member_relay_message", relay_message),
];

/// `LinkMessage::decode` on arbitrary bytes: never panics, and a message that decodes
/// encodes to bytes that decode to the same message and encode to themselves.
pub fn link_message(data: &[u8]) {
    if let Ok(Some(m)) = LinkMessage::decode(data) {
        let encoded = m.encode();
        let again = LinkMessage::decode(&encoded).expect("re-encoding decodes");
        assert!(again == Some(m), "round trip changed the value");
        assert!(
            again.map(|m| m.encode()) == Some(encoded),
            "encoding is not stable"
        );
    }
}

/// `RelayMessage::decode` on arbitrary bytes, checked the same way.
pub fn relay_message(data: &[u8]) {
    if let Ok(Some(m)) = RelayMessage::decode(data) {
        let encoded = m.encode();
        let again = RelayMessage::decode(&encoded).expect("re-encoding decodes");
        assert!(again == Some(m), "round trip changed the value");
        assert!(
            again.map(|m| m.encode()) == Some(encoded),
            "encoding is not stable"
        );
    }
}

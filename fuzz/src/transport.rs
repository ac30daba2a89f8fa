//! What the transport fuzz target checks. Compiled by the fuzz crate and by
//! syncshell-transport's corpus replay test, like the other modules here.

use syncshell_transport::{split, Reassembler};

/// A fuzz target's check.
pub type Check = fn(&[u8]);

/// Every target: its name (the corpus folder) and its check.
pub const TARGETS: &[(&str, Check)] = &[("transport_fragments", fragments)];

/// The message limit the check's reassembler enforces.
pub const MAX_MESSAGE: usize = 4096;

/// Arbitrary fragments (each a length byte and then that many bytes) pushed into a
/// `Reassembler`: it never panics, never delivers a message over its limit, and once it has
/// refused a fragment it refuses every later one. And the input itself, split and joined
/// again, comes back whole.
pub fn fragments(data: &[u8]) {
    let mut r = Reassembler::new(MAX_MESSAGE);
    let mut failed = false;
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let (fragment, next) = tail.split_at(usize::from(len).min(tail.len()));
        rest = next;
        match r.push(fragment) {
            Ok(message) => {
                assert!(!failed, "a fragment was taken after a refusal");
                assert!(message.is_none_or(|m| m.len() <= MAX_MESSAGE));
            }
            Err(_) => failed = true,
        }
    }
    if data.len() <= MAX_MESSAGE {
        let max_fragment = 2 + usize::from(data.first().copied().unwrap_or(0));
        let pieces = split(data, max_fragment, MAX_MESSAGE).expect("within the limit");
        let mut r = Reassembler::new(MAX_MESSAGE);
        let mut joined = None;
        for p in &pieces {
            assert!(p.len() <= max_fragment);
            joined = r.push(p).expect("its own fragments");
        }
        assert_eq!(joined.as_deref(), Some(data));
    }
}

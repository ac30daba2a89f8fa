//! What the signal fuzz target checks. This file is compiled twice: by the fuzz crate
//! (`cargo fuzz run signal_frame`) and by syncshell-signal's corpus replay test, which runs
//! every file under `fuzz/corpus/signal_frame/` through the same function on stable Rust.

use syncshell_signal::Frame;

/// A fuzz target's check.
pub type Check = fn(&[u8]);

/// Every target: its name (the corpus folder) and its check.
pub const TARGETS: &[(&str, Check)] = &[("signal_frame", frame)];

/// `Frame::decode` on arbitrary bytes: never panics, and a frame that decodes encodes to bytes
/// that decode to the same frame and encode to themselves.
pub fn frame(data: &[u8]) {
    if let Ok(f) = Frame::decode(data) {
        let encoded = f.encode();
        let again = Frame::decode(&encoded).expect("re-encoding decodes");
        assert!(again == f, "round trip changed the value");
        assert!(again.encode() == encoded, "encoding is not stable");
    }
}

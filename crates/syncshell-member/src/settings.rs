//! What the host decided about transfers, kept across restarts: whether they are paused (for
//! everyone or for some members), the bandwidth budget, whether received files wait for its
//! approval, and the content it refused.

use std::collections::BTreeSet;

use syncshell_identity::PeerId;

use crate::error::Error;

/// Most members paused one by one that a settings text may name.
pub const MAX_PAUSED_MEMBERS: usize = 4096;
/// Most refused contents the deny list holds.
pub const MAX_DENIED: usize = 65_536;

/// The host's transfer settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// Every transfer is paused.
    pub paused: bool,
    /// Transfers with these members are paused.
    pub paused_members: BTreeSet<PeerId>,
    /// Bytes per second all outgoing transfers share; `None`: no cap.
    pub budget: Option<u64>,
    /// Received files wait for the host's approval before they are placed.
    pub approval: bool,
    /// Contents (BLAKE3 hashes) the host refused: never fetched or placed again.
    pub denied: BTreeSet<[u8; 32]>,
}

impl Settings {
    /// Whether transfers with `peer` are paused.
    pub fn is_paused(&self, peer: &PeerId) -> bool {
        self.paused || self.paused_members.contains(peer)
    }

    /// The settings as text: one line each, `paused`, `paused <peer id>`, `budget <bytes per
    /// second>`, `approval`, `denied <64 hex digits>`; nothing for the defaults.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if self.paused {
            out.push_str("paused\n");
        }
        for p in &self.paused_members {
            out.push_str(&format!("paused {p}\n"));
        }
        if let Some(b) = self.budget {
            out.push_str(&format!("budget {b}\n"));
        }
        if self.approval {
            out.push_str("approval\n");
        }
        for h in &self.denied {
            let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
            out.push_str(&format!("denied {hex}\n"));
        }
        out
    }

    /// Reads [`Settings::encode`]'s text. An unknown line, a bad id or number, or more than
    /// [`MAX_PAUSED_MEMBERS`] members is an error.
    pub fn decode(text: &str) -> Result<Settings, Error> {
        let mut s = Settings::default();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            match line.split_once(' ') {
                None if line == "paused" => s.paused = true,
                None if line == "approval" => s.approval = true,
                Some(("denied", hex)) => {
                    s.denied.insert(
                        hash_from_hex(hex)
                            .ok_or(Error::Invalid("a denied hash that is not 64 hex digits"))?,
                    );
                    if s.denied.len() > MAX_DENIED {
                        return Err(Error::Invalid("too many denied hashes"));
                    }
                }
                Some(("paused", id)) => {
                    let peer = id
                        .parse::<PeerId>()
                        .map_err(|_| Error::Invalid("a paused member that is not a peer id"))?;
                    s.paused_members.insert(peer);
                    if s.paused_members.len() > MAX_PAUSED_MEMBERS {
                        return Err(Error::Invalid("too many paused members"));
                    }
                }
                Some(("budget", n)) => {
                    s.budget = Some(
                        n.parse::<u64>()
                            .ok()
                            .filter(|&n| n > 0)
                            .ok_or(Error::Invalid("a budget that is not a positive number"))?,
                    );
                }
                _ => return Err(Error::Invalid("an unknown settings line")),
            }
        }
        Ok(s)
    }
}

/// 32 bytes from 64 hexadecimal digits (either case).
fn hash_from_hex(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        let pair = hex.get(2 * i..2 * i + 2)?;
        if !pair.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_bad_text_is_refused() {
        let peer: PeerId = "peer-zsqn4vyzfwjrkwa1xh78nqeybj5p5jq4p48gq3fg8jz2ksr73xg9wgwczg"
            .parse()
            .unwrap();
        let s = Settings {
            paused: true,
            paused_members: [peer].into(),
            budget: Some(250_000),
            approval: true,
            denied: [[0xab; 32], [0; 32]].into(),
        };
        assert_eq!(Settings::decode(&s.encode()), Ok(s));
        assert_eq!(Settings::decode(""), Ok(Settings::default()));
        for bad in [
            "pause",
            "paused peer-x",
            "budget 0",
            "budget -1",
            "budget",
            "x 1",
            "denied abc",
            "denied +0000000000000000000000000000000000000000000000000000000000000ab",
        ] {
            assert!(Settings::decode(bad).is_err(), "{bad}");
        }
    }
}

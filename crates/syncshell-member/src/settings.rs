//! What the host decided about transfers, kept across restarts: whether they are paused (for
//! everyone or for some members) and the bandwidth budget.

use std::collections::BTreeSet;

use syncshell_identity::PeerId;

use crate::error::Error;

/// Most members paused one by one that a settings text may name.
pub const MAX_PAUSED_MEMBERS: usize = 4096;

/// The host's transfer settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// Every transfer is paused.
    pub paused: bool,
    /// Transfers with these members are paused.
    pub paused_members: BTreeSet<PeerId>,
    /// Bytes per second all outgoing transfers share; `None`: no cap.
    pub budget: Option<u64>,
}

impl Settings {
    /// Whether transfers with `peer` are paused.
    pub fn is_paused(&self, peer: &PeerId) -> bool {
        self.paused || self.paused_members.contains(peer)
    }

    /// The settings as text: one line each, `paused`, `paused <peer id>`, `budget <bytes per
    /// second>`; nothing for the defaults.
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
        out
    }

    /// Reads [`Settings::encode`]'s text. An unknown line, a bad id or number, or more than
    /// [`MAX_PAUSED_MEMBERS`] members is an error.
    pub fn decode(text: &str) -> Result<Settings, Error> {
        let mut s = Settings::default();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            match line.split_once(' ') {
                None if line == "paused" => s.paused = true,
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
        ] {
            assert!(Settings::decode(bad).is_err(), "{bad}");
        }
    }
}

//! Relay hints: the relays an invite (or a phonebook entry) names, carried in its opaque
//! `hints` bytes as lines of text (docs/spec/signal.md, "Relay hints").

/// Most relays read from one hints text; more are ignored.
pub const MAX_HINT_RELAYS: usize = 8;

const KEY: &str = "signal=";

/// The relay URLs named in `hints`, in order, each once: the `signal=URL` lines whose URL is
/// a `ws://` or `wss://` URL without spaces, at most [`MAX_HINT_RELAYS`]. Other lines, and
/// hints that are not UTF-8, name none.
pub fn relay_hints(hints: &[u8]) -> Vec<String> {
    let Ok(text) = std::str::from_utf8(hints) else {
        return Vec::new();
    };
    let mut relays: Vec<String> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let Some(url) = line.strip_prefix(KEY) else {
            continue;
        };
        let usable = (url.starts_with("ws://") || url.starts_with("wss://"))
            && !url.chars().any(char::is_whitespace);
        if usable && !relays.iter().any(|r| r == url) {
            relays.push(url.to_owned());
            if relays.len() == MAX_HINT_RELAYS {
                break;
            }
        }
    }
    relays
}

/// The hints text naming `relays`: one `signal=URL` line each, joined by `\n`.
pub fn relay_hints_text(relays: &[String]) -> Vec<u8> {
    relays
        .iter()
        .map(|url| format!("{KEY}{url}"))
        .collect::<Vec<_>>()
        .join("\n")
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relays_are_read_back_and_other_lines_are_ignored() {
        let relays = vec![
            "wss://a.example/".to_owned(),
            "ws://127.0.0.1:7447/".to_owned(),
        ];
        assert_eq!(relay_hints(&relay_hints_text(&relays)), relays);
        let text =
            b"node=1.2.3.4\r\nsignal=wss://a.example/\r\nsignal=http://b/\nsignal=ws://x y\n\
            signal=wss://a.example/\nsignal=ws://c/";
        assert_eq!(relay_hints(text), ["wss://a.example/", "ws://c/"]);
        assert!(relay_hints(b"signal=ws://a/\xff").is_empty());
        let many: Vec<String> = (0..20).map(|i| format!("ws://r{i}/")).collect();
        assert_eq!(
            relay_hints(&relay_hints_text(&many)),
            many[..MAX_HINT_RELAYS]
        );
    }
}

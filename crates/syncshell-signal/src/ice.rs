//! The STUN and TURN servers a relay hands to admitted peers, and the TURN credentials of
//! coturn's shared-secret scheme (`use-auth-secret`), specified in `docs/spec/signal.md`.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use syncshell_identity::{PeerId, Timestamp};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::frame::{IceServer, MAX_ICE_TEXT_LEN, MAX_ICE_URLS};

/// Shortest lifetime of TURN credentials (`--turn-ttl`).
pub const MIN_TURN_TTL: Duration = Duration::from_secs(60);
/// Longest lifetime of TURN credentials: a revoked member keeps its last credentials until
/// they expire (the TURN server knows nothing of tombstones), so they are kept short.
pub const MAX_TURN_TTL: Duration = Duration::from_secs(24 * 3600);
/// Lifetime of TURN credentials unless told otherwise.
pub const DEFAULT_TURN_TTL: Duration = Duration::from_secs(3600);

/// The ICE servers a client holds, as the relay last granted them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IceGrant {
    /// The servers, STUN ones without credentials; empty before the relay answered, or when
    /// it has none.
    pub servers: Vec<IceServer>,
    /// When the TURN credentials stop working (whole seconds); `None` when no server carries
    /// credentials. The client asks for new ones well before, while it is connected.
    pub expires_at: Option<Timestamp>,
}

/// The TURN user name of coturn's shared-secret scheme: `<expires>:<peer id text>`, with the
/// expiry in unix seconds and the peer id in its `peer-…` text form.
pub fn turn_username(expires: u64, peer: &PeerId) -> String {
    format!("{expires}:{peer}")
}

/// The TURN password of coturn's shared-secret scheme: base64 (standard alphabet, padded) of
/// HMAC-SHA1 keyed with the shared secret over the user name.
pub fn turn_password(secret: &TurnSecret, username: &str) -> String {
    // HMAC takes a key of any length; the error arm cannot happen.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(&secret.0) else {
        return String::new();
    };
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The secret a TURN server shares with the relay (coturn's `static-auth-secret`). Zeroed on
/// drop; `Debug` does not show it.
#[derive(Clone)]
pub struct TurnSecret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for TurnSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TurnSecret(..)")
    }
}

impl TurnSecret {
    /// A secret of these bytes; an empty one is refused.
    pub fn new(bytes: Vec<u8>) -> Result<TurnSecret, Error> {
        let bytes = Zeroizing::new(bytes);
        if bytes.is_empty() {
            return Err(Error::Config("the TURN secret is empty".into()));
        }
        Ok(TurnSecret(bytes))
    }

    /// Reads a secret file: its bytes less one trailing newline (`\n` or `\r\n`), as coturn
    /// reads `static-auth-secret`. An unreadable or empty file is an error.
    pub fn read(path: &Path) -> Result<TurnSecret, Error> {
        let mut bytes = read_secret(path)?;
        TurnSecret::new(std::mem::take(&mut *bytes))
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }
}

/// A secret file's bytes less one trailing newline (`\n` or `\r\n`); an unreadable file is
/// an error naming it.
pub(crate) fn read_secret(path: &Path) -> Result<Zeroizing<Vec<u8>>, Error> {
    let mut bytes = Zeroizing::new(
        std::fs::read(path).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?,
    );
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    Ok(bytes)
}

/// What a relay hands out: STUN and TURN URLs and, for the TURN ones, the shared secret and the
/// credentials' lifetime. `Default` has no server: the relay answers with an empty list.
#[derive(Debug, Clone)]
pub struct IceConfig {
    stun: Vec<String>,
    turn: Vec<String>,
    secret: Option<TurnSecret>,
    ttl: Duration,
}

impl Default for IceConfig {
    fn default() -> Self {
        IceConfig {
            stun: Vec::new(),
            turn: Vec::new(),
            secret: None,
            ttl: DEFAULT_TURN_TTL,
        }
    }
}

impl IceConfig {
    /// Checks and keeps the relay's ICE servers: at most [`MAX_ICE_URLS`] `stun:`, `turn:` and
    /// `turns:` URLs (RFC 7064, RFC 7065: `scheme:host[:port]`, and `?transport=udp|tcp` for
    /// TURN), each at most [`MAX_ICE_TEXT_LEN`] bytes. TURN URLs need the secret, the secret
    /// needs a TURN URL, and `ttl` is between [`MIN_TURN_TTL`] and [`MAX_TURN_TTL`].
    pub fn new(
        urls: Vec<String>,
        secret: Option<TurnSecret>,
        ttl: Duration,
    ) -> Result<IceConfig, Error> {
        let bad = |why: String| Error::Config(why);
        if urls.len() > MAX_ICE_URLS {
            return Err(bad(format!(
                "{} ICE server URLs; at most {MAX_ICE_URLS}",
                urls.len()
            )));
        }
        let (mut stun, mut turn) = (Vec::new(), Vec::new());
        for url in urls {
            match check_url(&url).map_err(|why| bad(format!("ICE server {url:?}: {why}")))? {
                Scheme::Stun => stun.push(url),
                Scheme::Turn => turn.push(url),
            }
        }
        if !turn.is_empty() && secret.is_none() {
            return Err(bad("turn: and turns: URLs need the TURN secret".into()));
        }
        if turn.is_empty() && secret.is_some() {
            return Err(bad("a TURN secret without a turn: or turns: URL".into()));
        }
        if !(MIN_TURN_TTL..=MAX_TURN_TTL).contains(&ttl) || ttl.subsec_nanos() != 0 {
            return Err(bad(format!(
                "TURN credential lifetime of {ttl:?}: whole seconds from {} to {} are allowed",
                MIN_TURN_TTL.as_secs(),
                MAX_TURN_TTL.as_secs()
            )));
        }
        Ok(IceConfig {
            stun,
            turn,
            secret,
            ttl,
        })
    }

    /// The servers for `peer` at `now`, with TURN credentials that expire after the lifetime
    /// or when the admission ends (`until`), whichever is first; and that expiry in unix
    /// seconds (0 without TURN).
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn grant(
        &self,
        peer: &PeerId,
        now: Timestamp,
        until: Option<Timestamp>,
    ) -> (u64, Vec<IceServer>) {
        let mut servers = Vec::new();
        if !self.stun.is_empty() {
            servers.push(IceServer {
                urls: self.stun.clone(),
                ..IceServer::default()
            });
        }
        let Some(secret) = self.secret.as_ref().filter(|_| !self.turn.is_empty()) else {
            return (0, servers);
        };
        let mut expires = (now.as_millis() / 1000).saturating_add(self.ttl.as_secs());
        if let Some(until) = until {
            expires = expires.min(until.as_millis() / 1000);
        }
        let username = turn_username(expires, peer);
        servers.push(IceServer {
            urls: self.turn.clone(),
            credential: turn_password(secret, &username),
            username,
        });
        (expires, servers)
    }
}

/// Which kind of ICE server a URL names.
enum Scheme {
    Stun,
    Turn,
}

/// Checks a `stun:`, `turn:` or `turns:` URL; says what is wrong with it otherwise.
fn check_url(url: &str) -> Result<Scheme, String> {
    if url.len() > MAX_ICE_TEXT_LEN {
        return Err(format!("longer than {MAX_ICE_TEXT_LEN} bytes"));
    }
    if !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("spaces, control or non-ASCII characters".into());
    }
    let (scheme, rest) = url
        .split_once(':')
        .ok_or("no scheme: expected stun:, turn: or turns:")?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "stun" => Scheme::Stun,
        "turn" | "turns" => Scheme::Turn,
        _ => return Err("the scheme is not stun:, turn: or turns:".into()),
    };
    let (authority, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    match (&scheme, query) {
        (_, None) => {}
        (Scheme::Turn, Some("transport=udp" | "transport=tcp")) => {}
        (Scheme::Turn, Some(_)) => return Err("the only query is transport=udp or tcp".into()),
        (Scheme::Stun, Some(_)) => return Err("a STUN URL has no query".into()),
    }
    let port = if let Some(v6) = authority.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or("an unclosed [ in the host")?;
        addr.parse::<std::net::Ipv6Addr>()
            .map_err(|_| "not an IPv6 address between [ and ]")?;
        match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("junk after ]")?),
        }
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
        if !host_ok {
            return Err("no host, or a host with characters a host name cannot have".into());
        }
        port
    };
    if let Some(port) = port {
        let ok = !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|p| p != 0);
        if !ok {
            return Err(format!("port {port:?} is not a number from 1 to 65535"));
        }
    }
    Ok(scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        for ok in [
            "stun:relay.example",
            "stun:relay.example:3478",
            "STUN:203.0.113.7:19302",
            "turn:relay.example:3478?transport=udp",
            "turn:relay.example?transport=tcp",
            "turns:relay.example:5349",
            "turn:[2001:db8::1]:3478",
            "stun:[2001:db8::1]",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "relay.example",
            "http://relay.example",
            "stuns:relay.example",
            "stun:",
            "stun::3478",
            "stun:relay.example:0",
            "stun:relay.example:65536",
            "stun:relay.example:34x",
            "stun:relay.example?transport=udp",
            "turn:relay.example?transport=sctp",
            "turn:relay example",
            "turn:user@relay.example",
            "turn:relay.example/path",
            "turn:[2001:db8::1",
            "turn:[relay]:3478",
            "turn:[2001:db8::1]3478",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert!(check_url(&format!("stun:{}", "a".repeat(MAX_ICE_TEXT_LEN))).is_err());
    }

    #[test]
    fn the_config_refuses_what_it_cannot_serve() {
        let secret = || Some(TurnSecret::new(b"s".to_vec()).unwrap());
        let turn = vec!["turn:relay.example".to_owned()];
        assert!(IceConfig::new(turn.clone(), secret(), DEFAULT_TURN_TTL).is_ok());
        assert!(IceConfig::new(turn.clone(), None, DEFAULT_TURN_TTL).is_err());
        let stun = vec!["stun:relay.example".to_owned()];
        assert!(IceConfig::new(stun.clone(), secret(), DEFAULT_TURN_TTL).is_err());
        assert!(IceConfig::new(stun.clone(), None, DEFAULT_TURN_TTL).is_ok());
        for ttl in [59.0, 86_401.0, 90.5] {
            let ttl = Duration::from_secs_f64(ttl);
            assert!(
                IceConfig::new(turn.clone(), secret(), ttl).is_err(),
                "{ttl:?}"
            );
        }
        assert!(IceConfig::new(vec![stun[0].clone(); 9], None, DEFAULT_TURN_TTL).is_err());
        assert!(TurnSecret::new(Vec::new()).is_err());
    }
}

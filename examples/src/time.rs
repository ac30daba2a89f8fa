//! Times for people, as the example programs print them.

use syncshell_identity::Timestamp;

/// `2026-01-31T12:00:00Z`: RFC 3339 in UTC, to the second.
pub fn rfc3339(t: Timestamp) -> String {
    Timestamp::from_millis(t.as_millis() / 1000 * 1000).to_string()
}

/// `in 6 days`, `3 hours ago`, `now`.
pub fn relative(t: Timestamp, now: Timestamp) -> String {
    let (ms, future) = if t >= now {
        (t.as_millis() - now.as_millis(), true)
    } else {
        (now.as_millis() - t.as_millis(), false)
    };
    let s = ms.saturating_add(500) / 1000;
    let (n, unit) = match s {
        0 => return "now".to_owned(),
        1..=89 => (s, "second"),
        90..=5399 => (s.saturating_add(30) / 60, "minute"),
        5400..=129_599 => (s.saturating_add(1800) / 3600, "hour"),
        _ => (s.saturating_add(43_200) / 86_400, "day"),
    };
    let amount = format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if future {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// A time for people: `2026-01-31T12:00:00Z (in 6 days)`.
pub fn human_time(t: Timestamp, now: Timestamp) -> String {
    format!("{} ({})", rfc3339(t), relative(t, now))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(rfc3339(Timestamp::EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(Timestamp::from_millis(1_700_000_000_999)),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(
            rfc3339(Timestamp::from_millis(951_782_400_000)),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            rfc3339(Timestamp::from_millis(4_102_444_799_000)),
            "2099-12-31T23:59:59Z"
        );
    }
}

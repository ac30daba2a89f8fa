//! What a command prints: text for people, one JSON object for scripts, and errors.

use std::fmt;
use std::time::SystemTime;

use serde_json::{json, Value};
use syncshell_identity::Timestamp;

/// A failed command: one message for the user.
#[derive(Debug)]
pub(crate) struct CliError(String);

impl CliError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        CliError(message.into())
    }

    pub(crate) fn print(&self, json: bool) {
        if json {
            println!("{}", json!({ "error": self.0 }));
        } else {
            eprintln!("error: {}", self.0);
        }
    }
}

/// Adds what was being done to an error from a crate or the OS.
pub(crate) trait Context<T> {
    fn context(self, what: impl fmt::Display) -> Result<T, CliError>;
}

impl<T, E: fmt::Display> Context<T> for Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T, CliError> {
        self.map_err(|e| CliError(format!("{what}: {e}")))
    }
}

/// A successful command's output.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// Text for stdout in human mode.
    stdout: Vec<String>,
    /// Text for stderr in human mode (details around a value meant for a pipe).
    stderr: Vec<String>,
    /// The object printed in JSON mode.
    json: Value,
}

impl Outcome {
    pub(crate) fn new(json: Value) -> Self {
        Outcome {
            stdout: Vec::new(),
            stderr: Vec::new(),
            json,
        }
    }

    /// A line on stdout.
    pub(crate) fn line(mut self, text: impl Into<String>) -> Self {
        self.stdout.push(text.into());
        self
    }

    /// A `label: value` line on stdout, aligned with the others.
    pub(crate) fn field(self, label: &str, value: impl fmt::Display) -> Self {
        self.line(format!("{:<13}{value}", format!("{label}:")))
    }

    /// A line on stderr (human mode only).
    pub(crate) fn note(mut self, text: impl Into<String>) -> Self {
        self.stderr.push(text.into());
        self
    }

    pub(crate) fn print(&self, json: bool) {
        if json {
            println!("{}", self.json);
            return;
        }
        for l in &self.stderr {
            eprintln!("{l}");
        }
        for l in &self.stdout {
            println!("{l}");
        }
    }
}

/// A warning, on stderr in both modes (stdout stays one JSON object).
pub(crate) fn warn(text: &str) {
    eprintln!("warning: {text}");
}

/// The current time from the system clock.
pub(crate) fn now() -> Timestamp {
    Timestamp::from_system_time(SystemTime::now())
}

/// `2026-01-31T12:00:00Z`: RFC 3339 in UTC, to the second.
pub(crate) fn rfc3339(t: Timestamp) -> String {
    let secs = t.as_millis() / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Year, month, day of a count of days since 1970-01-01 (Howard Hinnant's `civil_from_days`,
/// for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// `in 6 days`, `3 hours ago`, `now`.
pub(crate) fn relative(t: Timestamp, now: Timestamp) -> String {
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
pub(crate) fn human_time(t: Timestamp, now: Timestamp) -> String {
    format!("{} ({})", rfc3339(t), relative(t, now))
}

/// An optional expiry for people.
pub(crate) fn human_expiry(t: Option<Timestamp>, now: Timestamp) -> String {
    t.map_or_else(|| "never".to_owned(), |t| human_time(t, now))
}

/// A time for scripts: the RFC 3339 text (milliseconds go in a `_ms` field next to it).
pub(crate) fn json_time(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(rfc3339(t)))
}

/// Milliseconds for scripts, or null.
pub(crate) fn json_ms(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::from(t.as_millis()))
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

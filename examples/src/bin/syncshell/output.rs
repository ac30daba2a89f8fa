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

pub(crate) use syncshell_examples::time::{human_time, rfc3339};

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

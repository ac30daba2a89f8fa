//! Arguments the example programs share.

use std::io::IsTerminal;
use std::str::FromStr;
use std::time::Duration;

use zeroize::Zeroizing;

/// A validity period from the command line: `90s`, `30m`, `6h`, `7d`, or `never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidFor {
    /// This long.
    For(Duration),
    /// No end.
    Never,
}

impl FromStr for ValidFor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim().eq_ignore_ascii_case("never") {
            return Ok(ValidFor::Never);
        }
        duration(s)
            .map(ValidFor::For)
            .map_err(|e| format!("{e} (or `never`)"))
    }
}

/// A duration from the command line: `90s`, `30m`, `6h`, `7d` (for what must end, such as
/// an invite; [`ValidFor`] also takes `never`).
pub fn duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("never") {
        return Err("this must end: give a duration like 90s, 30m, 6h, 7d".into());
    }
    let bad = || format!("{s:?} is not a duration like 90s, 30m, 6h, 7d");
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = s.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let unit_secs: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    let secs = n
        .checked_mul(unit_secs)
        .filter(|&s| s > 0)
        .ok_or_else(|| format!("{s:?} must be more than zero and less than forever"))?;
    Ok(Duration::from_secs(secs))
}

/// The environment variable a passphrase may come from.
pub const PASSPHRASE_ENV: &str = "SYNCSHELL_PASSPHRASE";

/// A passphrase from [`PASSPHRASE_ENV`], or asked for on the terminal (twice when
/// `confirm`, and then never empty). Without the variable and without a terminal on stdin
/// it is an error, not a prompt on `/dev/tty`: a script gets a message.
pub fn passphrase(prompt: &str, confirm: bool) -> Result<Zeroizing<String>, String> {
    if let Some(value) = std::env::var_os(PASSPHRASE_ENV) {
        return value
            .into_string()
            .map(Zeroizing::new)
            .map_err(|_| format!("{PASSPHRASE_ENV} is not valid UTF-8"));
    }
    if !std::io::stdin().is_terminal() {
        return Err(format!(
            "no passphrase: set {PASSPHRASE_ENV}, or run on a terminal to be asked"
        ));
    }
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt)
            .map(Zeroizing::new)
            .map_err(|e| {
                format!(
                    "cannot ask for the passphrase on a terminal ({e}); set {PASSPHRASE_ENV} instead"
                )
            })
    };
    let first = ask(prompt)?;
    if confirm {
        if first.is_empty() {
            return Err("the passphrase is empty".into());
        }
        let second = ask("Repeat the passphrase: ")?;
        if *first != *second {
            return Err("the two passphrases differ".into());
        }
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(
            "30m".parse::<ValidFor>().unwrap(),
            ValidFor::For(Duration::from_secs(1800))
        );
        assert_eq!("never".parse::<ValidFor>().unwrap(), ValidFor::Never);
        assert!("0d".parse::<ValidFor>().is_err());
        assert!("5".parse::<ValidFor>().is_err());
        assert!("5y".parse::<ValidFor>().is_err());
        assert!("d".parse::<ValidFor>().is_err());
    }
}

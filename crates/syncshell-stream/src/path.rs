//! Relative paths that are safe to create on Windows and Unix receivers.

use std::fmt;

use crate::error::{shown, Error, Result};

/// Longest path, in bytes of UTF-8.
pub const MAX_PATH_LEN: usize = 1024;
/// Longest path component, in bytes of UTF-8.
pub const MAX_COMPONENT_LEN: usize = 255;
/// Most components in a path.
pub const MAX_PATH_DEPTH: usize = 64;

/// Characters Windows refuses in a file name (besides control characters and `/`).
const WINDOWS_FORBIDDEN: &[char] = &['\\', ':', '*', '?', '"', '<', '>', '|'];

/// Name of the folder, inside a receiver's destination, that holds partial files while they
/// are received (`<blake3 hex>.<sender tag>.part`). No received path may start with it, in
/// any case (compared after Unicode case folding); a sender's folder skips it at its top.
pub const PARTIAL_DIR: &str = ".syncshell-partial";

/// Device names Windows reserves in every directory, with or without an extension, already
/// case-folded (a unit test checks that folding leaves them as they are).
const RESERVED: &[&str] = &[
    "con", "prn", "aux", "nul", "conin$", "conout$", "com0", "com1", "com2", "com3", "com4",
    "com5", "com6", "com7", "com8", "com9", "com¹", "com²", "com³", "lpt0", "lpt1", "lpt2", "lpt3",
    "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9", "lpt¹", "lpt²", "lpt³",
];

/// A relative file path from a manifest: `/`-separated components, each safe as a file name
/// on Windows and on Unix. It cannot name anything outside the folder it is joined to.
///
/// Rules (docs/spec/stream.md, "Paths"): 1 to [`MAX_PATH_LEN`] bytes and at most
/// [`MAX_PATH_DEPTH`] components; no leading, trailing or doubled `/`; each component 1 to
/// [`MAX_COMPONENT_LEN`] bytes, not `.` or `..`, no control characters (U+0000 to U+001F,
/// U+007F), none of `\ : * ? " < > |`, no trailing `.` or space, not a Windows device
/// name (`CON`, `PRN`, `AUX`, `NUL`, `COM0`-`COM9`, `LPT0`-`LPT9`, `COM¹²³`, `LPT¹²³`,
/// `CONIN$`, `CONOUT$`, compared after Unicode case folding, alone or before a `.`), and not
/// shaped like a Windows 8.3 short name (a `~` followed by digits up to the end or a `.`,
/// as in `SYNCSH~1`), which could alias another file or folder. The first component is not
/// [`PARTIAL_DIR`] in any case.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelativePath(String);

impl RelativePath {
    /// Checks `path` against the rules.
    pub fn parse(path: &str) -> Result<Self> {
        check(path)?;
        Ok(RelativePath(path.to_owned()))
    }

    /// The path as text, `/`-separated.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The components, each a safe file name.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// The path under `root`, built component by component.
    pub fn under(&self, root: &std::path::Path) -> std::path::PathBuf {
        let mut p = root.to_path_buf();
        for c in self.components() {
            p.push(c);
        }
        p
    }

    /// The key two paths collide under on a case-insensitive file system: the path with
    /// every character [`fold`]ed.
    pub(crate) fn fold(&self) -> String {
        fold(&self.0)
    }

    /// The components, each [`fold`]ed.
    pub(crate) fn folded_components(&self) -> impl Iterator<Item = String> + '_ {
        self.components().map(fold)
    }
}

impl fmt::Debug for RelativePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for RelativePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Case folding as strong as any file system's: each character mapped to its uppercase, then
/// each of those to its lowercase, one character at a time (no context, no locale). So `K`,
/// `k` and the Kelvin sign fold alike, `σ`, `ς` and `Σ` fold alike (NTFS upcases both sigmas
/// to `Σ`), `ı` folds with `i`, and `ß` folds with `ss` (APFS's full folding). It can only
/// make more names collide than a real file system does, never fewer.
pub(crate) fn fold(s: &str) -> String {
    s.chars()
        .flat_map(char::to_uppercase)
        .flat_map(char::to_lowercase)
        .collect()
}

fn unsafe_path(path: &str, reason: &'static str) -> Error {
    Error::UnsafePath {
        path: shown(path),
        reason,
    }
}

fn check(path: &str) -> Result<()> {
    if path.is_empty() {
        return Err(unsafe_path(path, "empty path"));
    }
    if path.len() > MAX_PATH_LEN {
        return Err(unsafe_path(path, "longer than 1024 bytes"));
    }
    if path.starts_with('/') {
        return Err(unsafe_path(path, "absolute path"));
    }
    let mut depth = 0;
    for component in path.split('/') {
        depth += 1;
        if depth > MAX_PATH_DEPTH {
            return Err(unsafe_path(path, "more than 64 components"));
        }
        check_component(path, component)?;
        // PARTIAL_DIR is its own fold (checked by a unit test).
        if depth == 1 && fold(component) == PARTIAL_DIR {
            return Err(unsafe_path(
                path,
                "names the receiver's partial-file folder",
            ));
        }
    }
    Ok(())
}

/// Whether `c` has a `~` followed by one or more ASCII digits that reach the end of `c` or a
/// `.`: the shape of a Windows 8.3 short name (`PROGRA~1`, `SYNCSH~1.PAR`).
fn is_short_name_alias(c: &str) -> bool {
    let bytes = c.as_bytes();
    bytes.iter().enumerate().any(|(i, &b)| {
        if b != b'~' {
            return false;
        }
        let rest = bytes.get(i + 1..).unwrap_or_default();
        let digits = rest.iter().take_while(|d| d.is_ascii_digit()).count();
        digits > 0 && matches!(rest.get(digits), None | Some(b'.'))
    })
}

fn check_component(path: &str, c: &str) -> Result<()> {
    if c.is_empty() {
        return Err(unsafe_path(
            path,
            "empty component (trailing or doubled '/')",
        ));
    }
    if c.len() > MAX_COMPONENT_LEN {
        return Err(unsafe_path(path, "component longer than 255 bytes"));
    }
    if c == "." || c == ".." {
        return Err(unsafe_path(path, "'.' or '..' component"));
    }
    if c.chars().any(|ch| ch.is_ascii_control()) {
        return Err(unsafe_path(path, "control character or NUL"));
    }
    if c.contains(WINDOWS_FORBIDDEN) {
        return Err(unsafe_path(
            path,
            "character not allowed on Windows (\\ : * ? \" < > |)",
        ));
    }
    if c.ends_with('.') || c.ends_with(' ') {
        return Err(unsafe_path(path, "trailing '.' or space"));
    }
    let stem = fold(c.split('.').next().unwrap_or(c).trim_end_matches(' '));
    if RESERVED.contains(&stem.as_str()) {
        return Err(unsafe_path(path, "Windows device name"));
    }
    if is_short_name_alias(c) {
        return Err(unsafe_path(
            path,
            "shaped like a Windows 8.3 short name ('~' and digits)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_mod_paths() {
        for p in [
            "a",
            "mods/Penumbra/meta.json",
            "Textures/chara/equipment/e0001/texture/v01_c0101e0001_top_d.tex",
            "CONFIG",
            "console.txt",
            "nul_file",
            "COM10",
            "LPT",
            ".hidden",
            "a.b.c",
            "ünïcødé/ファイル.txt",
        ] {
            RelativePath::parse(p).unwrap_or_else(|e| panic!("{p}: {e}"));
        }
    }

    #[test]
    fn reserved_names_are_stored_folded() {
        for r in RESERVED.iter().chain([&PARTIAL_DIR]) {
            assert_eq!(fold(r), *r);
        }
    }

    #[test]
    fn components_join_safely() {
        let p = RelativePath::parse("a/b/c.txt").unwrap();
        let joined = p.under(std::path::Path::new("root"));
        assert_eq!(
            joined,
            std::path::Path::new("root")
                .join("a")
                .join("b")
                .join("c.txt")
        );
    }
}

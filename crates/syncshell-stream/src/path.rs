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

/// Device names Windows reserves in every directory, with or without an extension.
const RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "COM0", "COM1", "COM2", "COM3", "COM4",
    "COM5", "COM6", "COM7", "COM8", "COM9", "COM¹", "COM²", "COM³", "LPT0", "LPT1", "LPT2", "LPT3",
    "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9", "LPT¹", "LPT²", "LPT³",
];

/// A relative file path from a manifest: `/`-separated components, each safe as a file name
/// on Windows and on Unix. It cannot name anything outside the folder it is joined to.
///
/// Rules (docs/spec/stream.md, "Paths"): 1 to [`MAX_PATH_LEN`] bytes and at most
/// [`MAX_PATH_DEPTH`] components; no leading, trailing or doubled `/`; each component 1 to
/// [`MAX_COMPONENT_LEN`] bytes, not `.` or `..`, no control characters (U+0000 to U+001F,
/// U+007F), none of `\ : * ? " < > |`, no trailing `.` or space, and not a Windows device
/// name (`CON`, `PRN`, `AUX`, `NUL`, `COM0`-`COM9`, `LPT0`-`LPT9`, `COM¹²³`, `LPT¹²³`,
/// `CONIN$`, `CONOUT$`, in any case, alone or before a `.`).
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

    /// The key two paths collide under on a case-insensitive file system.
    pub(crate) fn fold(&self) -> String {
        self.0.to_lowercase()
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
    }
    Ok(())
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
    let stem = c.split('.').next().unwrap_or(c).trim_end_matches(' ');
    if RESERVED
        .iter()
        .any(|r| r.chars().count() == stem.chars().count() && eq_ignore_case(r, stem))
    {
        return Err(unsafe_path(path, "Windows device name"));
    }
    Ok(())
}

fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
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

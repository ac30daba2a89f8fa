//! Reading and writing the files the commands work on, and asking for passphrases.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use rand_core::{OsRng, RngCore};
use syncshell_identity::{Identity, KeyFile, ShellGenesis, TokenChain};
use zeroize::Zeroizing;

use crate::output::{CliError, Context};

/// Largest file read whole (a revocation-set snapshot at its limit is about 70 MB).
const MAX_READ: u64 = 128 * 1024 * 1024;

/// `'path'` for messages.
pub(crate) fn shown(path: &Path) -> String {
    format!("'{}'", path.display())
}

/// Reads a whole file, naming `what` it should be in the error.
pub(crate) fn read(path: &Path, what: &str) -> Result<Vec<u8>, CliError> {
    let file = File::open(path).context(format!("cannot read the {what} {}", shown(path)))?;
    let mut bytes = Vec::new();
    file.take(MAX_READ + 1)
        .read_to_end(&mut bytes)
        .context(format!("cannot read the {what} {}", shown(path)))?;
    if bytes.len() as u64 > MAX_READ {
        return Err(CliError::new(format!(
            "the {what} {} is larger than {MAX_READ} bytes",
            shown(path)
        )));
    }
    Ok(bytes)
}

/// Reads a file that may not exist yet.
pub(crate) fn read_if_exists(path: &Path, what: &str) -> Result<Option<Vec<u8>>, CliError> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        _ => read(path, what).map(Some),
    }
}

/// A temporary name next to `path`, in the same folder so a rename is atomic.
fn temporary_next_to(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.{:016x}.tmp", OsRng.next_u64()))
}

/// Fails when `path` exists: outputs are never overwritten.
pub(crate) fn refuse_existing(path: &Path, what: &str) -> Result<(), CliError> {
    if fs::symlink_metadata(path).is_ok() {
        return Err(CliError::new(format!(
            "{} already exists: the {what} is not overwritten; remove it or choose another path",
            shown(path)
        )));
    }
    Ok(())
}

/// Creates a file that must not exist yet; `private` makes it readable by its owner only.
/// A temporary name and a rename mean a crash never leaves half a file under `path`.
pub(crate) fn write_new(
    path: &Path,
    bytes: &[u8],
    what: &str,
    private: bool,
) -> Result<(), CliError> {
    refuse_existing(path, what)?;
    write_through_temporary(path, bytes, what, private)
}

/// Replaces (or creates) a file that is updated in place, atomically.
pub(crate) fn write_replace(path: &Path, bytes: &[u8], what: &str) -> Result<(), CliError> {
    write_through_temporary(path, bytes, what, false)
}

fn write_through_temporary(
    path: &Path,
    bytes: &[u8],
    what: &str,
    private: bool,
) -> Result<(), CliError> {
    let tmp = temporary_next_to(path);
    let failed = || format!("cannot write the {what} {}", shown(path));
    let result = (|| {
        let mut file = create_new(&tmp, private)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.context(failed())
}

/// Opens a new file for writing (refusing an existing one), private to its owner if asked.
pub(crate) fn create_new(path: &Path, private: bool) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    options.open(path)
}

/// A passphrase from `SYNCSHELL_PASSPHRASE`, or asked for on the terminal (twice when
/// `confirm`).
fn passphrase(prompt: &str, confirm: bool) -> Result<Zeroizing<String>, CliError> {
    syncshell_examples::args::passphrase(prompt, confirm).map_err(CliError::new)
}

/// The passphrase for a new key file: asked twice, and never empty.
pub(crate) fn new_passphrase(path: &Path) -> Result<Zeroizing<String>, CliError> {
    let p = passphrase(&format!("New passphrase for {}: ", path.display()), true)?;
    if p.is_empty() {
        return Err(CliError::new("the passphrase is empty"));
    }
    Ok(p)
}

/// Reads and decodes a key file without opening it.
pub(crate) fn load_key_file(path: &Path) -> Result<KeyFile, CliError> {
    let bytes = read(path, "key file")?;
    KeyFile::decode(&bytes).context(format!("{} is not a usable key file", shown(path)))
}

/// Opens a key file with its passphrase.
pub(crate) fn load_identity(path: &Path) -> Result<Identity, CliError> {
    let file = load_key_file(path)?;
    let pass = passphrase(&format!("Passphrase for {}: ", path.display()), false)?;
    file.open(pass.as_bytes())
        .context(format!("cannot open the key file {}", shown(path)))
}

/// Reads and verifies a shell genesis.
pub(crate) fn load_genesis(path: &Path) -> Result<ShellGenesis, CliError> {
    let bytes = read(path, "shell genesis")?;
    ShellGenesis::decode(&bytes).context(format!("{} is not a valid shell genesis", shown(path)))
}

/// Reads a token chain (signatures verified), or the owner's empty chain when there is none.
pub(crate) fn load_chain(path: Option<&Path>) -> Result<TokenChain, CliError> {
    let Some(path) = path else {
        return Ok(TokenChain::owner());
    };
    let bytes = read(path, "token chain")?;
    TokenChain::decode(&bytes).context(format!("{} is not a valid token chain", shown(path)))
}

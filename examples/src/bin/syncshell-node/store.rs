//! What a node keeps under its data directory, each in its own file written atomically
//! (a temporary file, then a rename): the key file, the shell's genesis, the token chain,
//! the phonebook snapshot, the revocation set, the invite ledger, the transfer settings
//! (pauses, bandwidth budget), the relays last used, and
//! for each member it received from the manifest of its last complete transfer
//! (`received-<peer id>`, to tell what that member removed since); files a sharer removed
//! are moved into `versions/<unix ms>/`. Partial transfers live in the receive folder's
//! `.syncshell-partial/` (the stream crate's).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use rand_core::OsRng;
use syncshell_identity::{Identity, InviteLedger, KdfParams, KeyFile, ShellGenesis, TokenChain};
use syncshell_member::Settings;
use syncshell_phonebook::Phonebook;
use syncshell_revocation::RevocationSet;

/// File names under the data directory.
pub(crate) const KEY: &str = "key";
pub(crate) const GENESIS: &str = "genesis";
pub(crate) const CHAIN: &str = "chain";
pub(crate) const PHONEBOOK: &str = "phonebook";
pub(crate) const REVOCATIONS: &str = "revocations";
pub(crate) const LEDGER: &str = "ledger";
/// Paused transfers and the bandwidth budget (`syncshell_member::Settings`'s text).
pub(crate) const SETTINGS: &str = "settings";
/// The relays the node used last, one URL a line.
const RELAYS: &str = "relays";
/// Locked (`flock`) by the node using the folder.
const LOCK: &str = "lock";

/// The running node's hold on its data directory; released when dropped (or the process
/// ends, however it ends).
#[derive(Debug)]
pub(crate) struct FolderLock {
    _lock: Flock<File>,
}

/// The data directory.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    dir: PathBuf,
}

fn err(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

impl Store {
    pub(crate) fn open(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| err(&dir.display().to_string(), e))?;
        Ok(Store {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Takes the folder for this process: two nodes on one folder would overwrite each
    /// other's state and replace each other at the relay forever.
    pub(crate) fn lock(&self) -> Result<FolderLock, String> {
        let path = self.path(LOCK);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| err(&path.display().to_string(), e))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(FolderLock { _lock: lock }),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(format!(
                "{}: another syncshell-node is using this data folder",
                self.dir.display()
            )),
            Err((_, e)) => Err(err(&path.display().to_string(), e)),
        }
    }

    /// Whether the folder holds a key file.
    pub(crate) fn has_key(&self) -> bool {
        self.path(KEY).exists()
    }

    /// Removes the key file: after a first start that failed before the node had a shell,
    /// so a retry (perhaps with another passphrase) starts afresh.
    pub(crate) fn forget_key(&self) {
        let _ = std::fs::remove_file(self.path(KEY));
    }

    pub(crate) fn read(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        match std::fs::read(self.path(name)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(err(name, e)),
        }
    }

    /// The relays the node used last (none before its first start).
    pub(crate) fn relays(&self) -> Result<Vec<String>, String> {
        let Some(bytes) = self.read(RELAYS)? else {
            return Ok(Vec::new());
        };
        let text = String::from_utf8(bytes).map_err(|e| err(RELAYS, e))?;
        Ok(text
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect())
    }

    /// Remembers the relays for the next start.
    pub(crate) fn set_relays(&self, relays: &[String]) -> Result<(), String> {
        self.write(RELAYS, relays.join("\n").as_bytes())
    }

    /// Writes a file readable by its owner only (0600), atomically.
    pub(crate) fn write(&self, name: &str, bytes: &[u8]) -> Result<(), String> {
        let tmp = self.path(&format!(".{name}.tmp"));
        let _ = std::fs::remove_file(&tmp);
        let mut file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| err(name, e))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| err(name, e))?;
        std::fs::rename(&tmp, self.path(name)).map_err(|e| err(name, e))
    }

    /// Opens the key file with `passphrase`, or makes a new key and seals it there.
    pub(crate) fn identity(&self, passphrase: &[u8]) -> Result<Identity, String> {
        let path = self.path(KEY).display().to_string();
        if let Some(bytes) = self.read(KEY)? {
            let file = KeyFile::decode(&bytes)
                .map_err(|e| format!("{path} is not a usable key file: {e}"))?;
            return file.open(passphrase).map_err(|e| {
                format!("cannot open the key file {path}: {e} (SYNCSHELL_PASSPHRASE)")
            });
        }
        let identity = Identity::generate(&mut OsRng);
        let file = KeyFile::seal(&identity, passphrase, KdfParams::default(), &mut OsRng)
            .map_err(|e| err(KEY, e))?;
        self.write(KEY, &file.encode())?;
        Ok(identity)
    }

    pub(crate) fn genesis(&self) -> Result<Option<ShellGenesis>, String> {
        self.read(GENESIS)?
            .map(|b| ShellGenesis::decode(&b).map_err(|e| err(GENESIS, e)))
            .transpose()
    }

    pub(crate) fn chain(&self) -> Result<Option<TokenChain>, String> {
        self.read(CHAIN)?
            .map(|b| TokenChain::decode(&b).map_err(|e| err(CHAIN, e)))
            .transpose()
    }

    /// The phonebook snapshot with the revocation set merged in, or an empty book.
    pub(crate) fn phonebook(&self, genesis: &ShellGenesis) -> Result<Phonebook, String> {
        let mut book = match self.read(PHONEBOOK)? {
            Some(b) => Phonebook::decode(&b, genesis.clone()).map_err(|e| err(PHONEBOOK, e))?,
            None => Phonebook::new(genesis.clone()),
        };
        if let Some(b) = self.read(REVOCATIONS)? {
            let set =
                RevocationSet::decode(&b, genesis.clone()).map_err(|e| err(REVOCATIONS, e))?;
            for t in set.iter() {
                book.revoke(t.clone()).map_err(|e| err(REVOCATIONS, e))?;
            }
        }
        Ok(book)
    }

    pub(crate) fn save_book(&self, book: &Phonebook) -> Result<(), String> {
        self.write(PHONEBOOK, &book.encode())?;
        self.write(REVOCATIONS, &book.revocations().encode())
    }

    pub(crate) fn settings(&self) -> Result<Settings, String> {
        match self.read(SETTINGS)? {
            Some(b) => {
                let text = String::from_utf8(b).map_err(|e| err(SETTINGS, e))?;
                Settings::decode(&text).map_err(|e| err(SETTINGS, e))
            }
            None => Ok(Settings::default()),
        }
    }

    pub(crate) fn ledger(&self) -> Result<InviteLedger, String> {
        match self.read(LEDGER)? {
            Some(b) => InviteLedger::decode(&b).map_err(|e| err(LEDGER, e)),
            None => Ok(InviteLedger::new()),
        }
    }
}

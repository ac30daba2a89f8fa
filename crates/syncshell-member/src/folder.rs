//! A member's data folder: what a member keeps between runs, each in its own file written
//! atomically (a temporary file, then a rename) and readable by its owner only (0600 on
//! Unix): the key file, the shell's genesis, the token chain, the phonebook snapshot, the
//! revocation set, the invite ledger, the settings (pauses, bandwidth budget, approval, deny
//! list), the relays last used, and for each member it received from the manifest of its
//! last complete transfer (`received-<peer id>`, to tell what that member removed since).
//! Files a sharer removed are moved into `versions/<unix ms>/`, and received files waiting
//! for approval sit in `incoming/`. Partial transfers live in the receive folder's
//! `.syncshell-partial/` (the stream crate's).
//!
//! One process at a time uses a folder: [`DataFolder::lock`] takes it (a `flock` on Unix, a
//! file opened without sharing on Windows) until the lock is dropped or the process ends.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use rand_core::OsRng;
use syncshell_identity::{Identity, InviteLedger, KdfParams, KeyFile, ShellGenesis, TokenChain};
use syncshell_phonebook::Phonebook;
use syncshell_revocation::RevocationSet;

use crate::member::{Member, Stored};
use crate::node::Storage;
use crate::settings::Settings;

/// The key file.
pub(crate) const KEY: &str = "key";
/// The shell's genesis.
pub(crate) const GENESIS: &str = "genesis";
/// This member's token chain.
pub(crate) const CHAIN: &str = "chain";
/// The phonebook snapshot.
pub(crate) const PHONEBOOK: &str = "phonebook";
/// The revocation set.
pub(crate) const REVOCATIONS: &str = "revocations";
/// The invite ledger.
pub(crate) const LEDGER: &str = "ledger";
/// Pauses, budget, approval and deny list ([`Settings`]' text).
pub(crate) const SETTINGS: &str = "settings";
/// The relays used last, one URL a line.
pub(crate) const RELAYS: &str = "relays";
/// Locked by the process using the folder.
const LOCK: &str = "lock";
/// Where files a sharer removed are moved.
pub(crate) const VERSIONS: &str = "versions";
/// Where received files wait for approval.
pub(crate) const INCOMING: &str = "incoming";

/// A process's hold on a data folder; released when dropped (or the process ends, however
/// it ends).
#[derive(Debug)]
pub struct FolderLock {
    #[cfg(unix)]
    _lock: nix::fcntl::Flock<File>,
    #[cfg(not(unix))]
    _lock: File,
}

/// A member's data folder.
#[derive(Debug, Clone)]
pub struct DataFolder {
    dir: PathBuf,
}

fn err(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

/// Options for a file only its owner reads.
fn private(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Why the key could not be had.
#[derive(Debug)]
pub enum KeyError {
    /// The folder could not be read or written.
    Io(String),
    /// The key file is there but cannot be opened (damaged, or the wrong passphrase).
    Open {
        /// The key file.
        path: PathBuf,
        /// Why.
        error: syncshell_identity::Error,
    },
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::Io(e) => f.write_str(e),
            KeyError::Open { path, error } => {
                write!(f, "cannot open the key file {}: {error}", path.display())
            }
        }
    }
}

impl DataFolder {
    /// The folder at `dir`, made if missing.
    pub fn open(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| err(&dir.display().to_string(), e))?;
        Ok(DataFolder {
            dir: dir.to_path_buf(),
        })
    }

    /// The folder's path.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of the file `name` in the folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Takes the folder for this process: two members on one folder would overwrite each
    /// other's state and replace each other at the relay forever.
    pub fn lock(&self) -> Result<FolderLock, String> {
        let path = self.path(LOCK);
        let mut options = OpenOptions::new();
        options.create(true).truncate(false).write(true);
        private(&mut options);
        let busy = || {
            format!(
                "{}: another syncshell member is using this data folder",
                self.dir.display()
            )
        };
        #[cfg(unix)]
        {
            use nix::fcntl::{Flock, FlockArg};
            let file = options
                .open(&path)
                .map_err(|e| err(&path.display().to_string(), e))?;
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => Ok(FolderLock { _lock: lock }),
                Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(busy()),
                Err((_, e)) => Err(err(&path.display().to_string(), e)),
            }
        }
        #[cfg(not(unix))]
        {
            #[cfg(windows)]
            {
                use std::os::windows::fs::OpenOptionsExt;
                options.share_mode(0);
            }
            match options.open(&path) {
                Ok(file) => Ok(FolderLock { _lock: file }),
                // ERROR_SHARING_VIOLATION: another process has it open.
                Err(e) if e.raw_os_error() == Some(32) => Err(busy()),
                Err(e) => Err(err(&path.display().to_string(), e)),
            }
        }
    }

    /// Whether the folder holds a key file.
    pub fn has_key(&self) -> bool {
        self.path(KEY).exists()
    }

    /// Removes the key file: after a first start that failed before the member had a
    /// shell, so a retry (perhaps with another passphrase) starts afresh.
    pub fn forget_key(&self) {
        let _ = std::fs::remove_file(self.path(KEY));
    }

    /// The file `name`, if it is there.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        match std::fs::read(self.path(name)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(err(name, e)),
        }
    }

    /// Writes the file `name`, readable by its owner only, atomically.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<(), String> {
        let tmp = self.path(&format!(".{name}.tmp"));
        let _ = std::fs::remove_file(&tmp);
        let mut options = OpenOptions::new();
        options.create_new(true).write(true);
        let mut file = private(&mut options).open(&tmp).map_err(|e| err(name, e))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| err(name, e))?;
        std::fs::rename(&tmp, self.path(name)).map_err(|e| err(name, e))
    }

    /// The relays used last (none before the first start).
    pub fn relays(&self) -> Result<Vec<String>, String> {
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
    pub fn set_relays(&self, relays: &[String]) -> Result<(), String> {
        self.write(RELAYS, relays.join("\n").as_bytes())
    }

    /// Opens the key file with `passphrase`, or makes a new key and seals it there.
    pub fn identity(&self, passphrase: &[u8]) -> Result<Identity, KeyError> {
        let path = self.path(KEY);
        if let Some(bytes) = self.read(KEY).map_err(KeyError::Io)? {
            return KeyFile::decode(&bytes)
                .and_then(|file| file.open(passphrase))
                .map_err(|error| KeyError::Open { path, error });
        }
        let identity = Identity::generate(&mut OsRng);
        let file = KeyFile::seal(&identity, passphrase, KdfParams::default(), &mut OsRng)
            .map_err(|e| KeyError::Io(err(KEY, e)))?;
        self.write(KEY, &file.encode()).map_err(KeyError::Io)?;
        Ok(identity)
    }

    /// The shell's genesis, once the member has one.
    pub fn genesis(&self) -> Result<Option<ShellGenesis>, String> {
        self.read(GENESIS)?
            .map(|b| ShellGenesis::decode(&b).map_err(|e| err(GENESIS, e)))
            .transpose()
    }

    /// This member's token chain, once it has one.
    pub fn chain(&self) -> Result<Option<TokenChain>, String> {
        self.read(CHAIN)?
            .map(|b| TokenChain::decode(&b).map_err(|e| err(CHAIN, e)))
            .transpose()
    }

    /// Stores the shell this member now belongs to.
    pub fn set_shell(&self, genesis: &ShellGenesis, chain: &TokenChain) -> Result<(), String> {
        self.write(GENESIS, &genesis.encode())?;
        self.write(CHAIN, &chain.encode())
    }

    /// The phonebook snapshot with the revocation set merged in, or an empty book.
    pub fn phonebook(&self, genesis: &ShellGenesis) -> Result<Phonebook, String> {
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

    fn save_book(&self, book: &Phonebook) -> Result<(), String> {
        self.write(PHONEBOOK, &book.encode())?;
        self.write(REVOCATIONS, &book.revocations().encode())
    }

    /// The settings (the defaults before any were stored).
    pub fn settings(&self) -> Result<Settings, String> {
        match self.read(SETTINGS)? {
            Some(b) => {
                let text = String::from_utf8(b).map_err(|e| err(SETTINGS, e))?;
                Settings::decode(&text).map_err(|e| err(SETTINGS, e))
            }
            None => Ok(Settings::default()),
        }
    }

    /// The invite ledger (empty before any invite was used).
    pub fn ledger(&self) -> Result<InviteLedger, String> {
        match self.read(LEDGER)? {
            Some(b) => InviteLedger::decode(&b).map_err(|e| err(LEDGER, e)),
            None => Ok(InviteLedger::new()),
        }
    }
}

impl Storage for DataFolder {
    fn save(&self, what: Stored, member: &Member) -> Result<(), String> {
        match what {
            Stored::Phonebook => self.save_book(member.phonebook()),
            Stored::Ledger => self.write(LEDGER, &member.ledger().encode()),
            Stored::Settings => self.write(SETTINGS, member.settings().encode().as_bytes()),
        }
    }

    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        self.read(name)
    }

    fn put(&self, name: &str, bytes: &[u8]) -> Result<(), String> {
        self.write(name, bytes)
    }
}

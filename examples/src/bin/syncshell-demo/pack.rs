//! The mod pack: a seeded folder of many files in nested folders, and the check of a
//! received copy against it.

use std::io::Write;
use std::path::{Path, PathBuf};

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// One generated file.
#[derive(Debug, Clone)]
pub(crate) struct PackFile {
    /// Path relative to the pack, with `/` separators.
    pub(crate) path: String,
    pub(crate) size: u64,
    pub(crate) hash: blake3::Hash,
}

/// The generated pack and what every file must hash to.
#[derive(Debug, Clone)]
pub(crate) struct Pack {
    pub(crate) root: PathBuf,
    pub(crate) files: Vec<PackFile>,
}

/// Where files go, with the extension they get: what a game mod pack looks like.
const FOLDERS: &[(&str, &str)] = &[
    ("textures/armor", "dds"),
    ("textures/weapons", "dds"),
    ("textures/ui/icons", "png"),
    ("models/gear", "mdl"),
    ("models/housing", "mdl"),
    ("sounds/voice", "scd"),
    ("sounds/sfx", "scd"),
    ("scripts", "lua"),
    ("shaders", "shpk"),
];

impl Pack {
    /// Bytes in all files.
    pub(crate) fn total(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// Writes a pack of `total` bytes under `root` (which must not exist yet). The same
    /// `seed` and `total` always give the same files and contents: a few large files and
    /// many small ones, as textures and scripts are.
    pub(crate) fn generate(root: &Path, total: u64, seed: u64) -> std::io::Result<Pack> {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mib = total / (1024 * 1024);
        let count = (16 + 2 * mib).clamp(16, 200);
        // Cubed uniform weights: most files small, a handful large.
        let weights: Vec<u128> = (0..count)
            .map(|_| {
                let u = u128::from(rng.next_u32() % 1000) + 1;
                u * u * u + 1
            })
            .collect();
        let sum: u128 = weights.iter().sum::<u128>().max(1);
        let mut sizes: Vec<u64> = weights
            .iter()
            .map(|w| u64::try_from(u128::from(total) * w / sum).unwrap_or(0))
            .collect();
        let given: u64 = sizes.iter().sum();
        if let Some(last) = sizes.last_mut() {
            *last += total.saturating_sub(given);
        }
        std::fs::create_dir_all(root)?;
        let mut files = Vec::with_capacity(sizes.len());
        let mut buf = vec![0u8; 1024 * 1024];
        for (i, size) in sizes.into_iter().enumerate() {
            let pick = rng.next_u32() as usize % FOLDERS.len();
            let (folder, ext) = FOLDERS.get(pick).copied().unwrap_or(("misc", "bin"));
            let stem = folder.rsplit('/').next().unwrap_or(folder);
            let path = format!("{folder}/{stem}_{i:03}.{ext}");
            let full = root.join(&path);
            if let Some(parent) = full.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let mut out = std::io::BufWriter::new(std::fs::File::create(&full)?);
            let mut hasher = blake3::Hasher::new();
            let mut left = size;
            while left > 0 {
                let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                let piece = buf.get_mut(..n).unwrap_or_default();
                rng.fill_bytes(piece);
                hasher.update(piece);
                out.write_all(piece)?;
                left -= n as u64;
            }
            out.flush()?;
            files.push(PackFile {
                path,
                size,
                hash: hasher.finalize(),
            });
        }
        Ok(Pack {
            root: root.to_path_buf(),
            files,
        })
    }

    /// Adds one more seeded file (a pack update) and returns it.
    pub(crate) fn add_file(
        &mut self,
        path: &str,
        size: u64,
        seed: u64,
    ) -> std::io::Result<PackFile> {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut data = vec![0u8; usize::try_from(size).unwrap_or(0)];
        rng.fill_bytes(&mut data);
        let full = self.root.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&full, &data)?;
        let file = PackFile {
            path: path.to_owned(),
            size,
            hash: blake3::hash(&data),
        };
        self.files.push(file.clone());
        Ok(file)
    }

    /// Checks a received copy: every file present with the right size and BLAKE3 hash, and
    /// nothing else in the folder (no leftover partial files). Returns the files checked.
    pub(crate) fn verify(&self, dest: &Path) -> Result<usize, String> {
        let mut bad = Vec::new();
        for f in &self.files {
            match hash_file(&dest.join(&f.path)) {
                Ok((hash, size)) if hash == f.hash && size == f.size => {}
                Ok(_) => bad.push(format!("{} differs", f.path)),
                Err(e) => bad.push(format!("{}: {e}", f.path)),
            }
        }
        let found = count_files(dest).map_err(|e| e.to_string())?;
        if found != self.files.len() {
            bad.push(format!(
                "{found} files in the folder, {} expected",
                self.files.len()
            ));
        }
        match bad.first() {
            None => Ok(self.files.len()),
            Some(first) => Err(format!("{} problems, first: {first}", bad.len())),
        }
    }
}

fn hash_file(path: &Path) -> std::io::Result<(blake3::Hash, u64)> {
    let mut hasher = blake3::Hasher::new();
    let mut file = std::fs::File::open(path)?;
    let size = std::io::copy(&mut file, &mut hasher)?;
    Ok((hasher.finalize(), size))
}

fn count_files(dir: &Path) -> std::io::Result<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            n += count_files(&entry.path())?;
        } else {
            n += 1;
        }
    }
    Ok(n)
}

/// A folder under the system's temporary folder, removed when dropped.
#[derive(Debug)]
pub(crate) struct WorkDir {
    pub(crate) path: PathBuf,
}

impl WorkDir {
    pub(crate) fn create() -> std::io::Result<WorkDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path =
            std::env::temp_dir().join(format!("syncshell-demo-{}-{nanos:08x}", std::process::id()));
        std::fs::create_dir(&path)?;
        Ok(WorkDir { path })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

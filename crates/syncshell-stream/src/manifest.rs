//! The manifest of a transfer: which files, how big, their BLAKE3 hashes, the chunk size and
//! the cipher.

use std::collections::{HashMap, HashSet};
use std::fmt;

use bytes::Bytes;
use prost::Message;
use sha2::{Digest, Sha256};

use crate::error::{shown, Error, Result};
use crate::key::Cipher;
use crate::path::RelativePath;
use crate::{proto, wire};

/// Default plaintext bytes per chunk: 64 KiB.
pub const DEFAULT_CHUNK_SIZE: u32 = 64 * 1024;
/// Smallest chunk size a manifest may use: 1 KiB.
pub const MIN_CHUNK_SIZE: u32 = 1024;
/// Largest chunk size a manifest may use: 1 MiB.
pub const MAX_CHUNK_SIZE: u32 = 1024 * 1024;
/// Most files in one manifest.
pub const MAX_FILES: usize = 100_000;
/// Largest encoded manifest: 16 MiB.
pub const MAX_MANIFEST_LEN: usize = 16 * 1024 * 1024;
/// Most chunks in one file: the STREAM counter is 32 bits.
pub const MAX_CHUNKS_PER_FILE: u64 = 1 << 32;
/// Domain-separation label of the manifest hash.
pub const MANIFEST_HASH_LABEL: &str = "syncshell/v1/stream-manifest";

const VERSION: u32 = 1;
const WHAT: &str = "manifest";

/// The BLAKE3 hash of a file's contents.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileHash([u8; 32]);

impl FileHash {
    /// Wraps 32 bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        FileHash(bytes)
    }

    /// The hash of `data`.
    pub fn of(data: &[u8]) -> Self {
        FileHash(*blake3::hash(data).as_bytes())
    }

    /// The hash of everything `reader` yields, read in 64 KiB pieces (constant memory).
    pub fn of_reader(reader: impl std::io::Read) -> std::io::Result<Self> {
        let mut h = blake3::Hasher::new();
        h.update_reader(reader)?;
        Ok(FileHash(*h.finalize().as_bytes()))
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hexadecimal, as used for file names in a content store.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl fmt::Debug for FileHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileHash({})", self.to_hex())
    }
}

impl fmt::Display for FileHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// `SHA-256("syncshell/v1/stream-manifest" || 0x00 || manifest bytes)`: names a manifest and
/// salts its key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ManifestHash([u8; 32]);

impl ManifestHash {
    /// Wraps 32 bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        ManifestHash(bytes)
    }

    /// The hash of the exact encoded manifest `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(MANIFEST_HASH_LABEL.as_bytes());
        h.update([0u8]);
        h.update(bytes);
        ManifestHash(h.finalize().into())
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for ManifestHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ManifestHash({})", hex(&self.0))
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One file of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    path: RelativePath,
    size: u64,
    hash: FileHash,
}

impl FileEntry {
    /// Its relative path.
    pub fn path(&self) -> &RelativePath {
        &self.path
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Its BLAKE3 hash.
    pub fn hash(&self) -> &FileHash {
        &self.hash
    }
}

/// A verified manifest: its exact bytes, their hash, and the parsed, checked entries.
///
/// Every path is a safe [`RelativePath`], no two paths collide (also without case, and no
/// file sits inside another file), every file fits the 32-bit chunk counter, entries with
/// the same BLAKE3 hash declare the same size (so [`Manifest::total_size`], which counts
/// every entry, bounds what a receiver writes, local copies of duplicates included), and
/// there are at most [`MAX_FILES`] files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    bytes: Bytes,
    hash: ManifestHash,
    cipher: Cipher,
    chunk_size: u32,
    files: Vec<FileEntry>,
    total_size: u64,
}

impl Manifest {
    /// Parses and checks an encoded manifest. Sizes and counts are checked before anything
    /// is allocated for them.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        Self::decode_bytes(Bytes::copy_from_slice(bytes))
    }

    pub(crate) fn decode_bytes(bytes: Bytes) -> Result<Self> {
        if bytes.len() > MAX_MANIFEST_LEN {
            return Err(Error::TooLarge {
                what: WHAT,
                len: bytes.len() as u64,
                max: MAX_MANIFEST_LEN as u64,
            });
        }
        let n = wire::count(&bytes, 4).map_err(malformed)?;
        if n > MAX_FILES {
            return Err(Error::TooLarge {
                what: "manifest file count",
                len: n as u64,
                max: MAX_FILES as u64,
            });
        }
        let msg = proto::Manifest::decode(bytes.as_ref())
            .map_err(|_| malformed("not a valid protobuf message"))?;
        if msg.encoded_len() != bytes.len() {
            return Err(malformed("not in canonical form"));
        }
        if msg.version != VERSION {
            return Err(Error::UnsupportedVersion {
                what: WHAT,
                version: msg.version,
            });
        }
        let cipher = Cipher::from_wire(msg.cipher).ok_or(malformed("unknown cipher"))?;
        let mut files = Vec::with_capacity(msg.files.len());
        for f in msg.files {
            let hash: [u8; 32] = f
                .blake3
                .as_ref()
                .try_into()
                .map_err(|_| malformed("a BLAKE3 hash is 32 bytes"))?;
            files.push(FileEntry {
                path: RelativePath::parse(&f.path)?,
                size: f.size,
                hash: FileHash(hash),
            });
        }
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&msg.chunk_size) {
            return Err(malformed("chunk size out of range"));
        }
        let total_size = validate(&files, msg.chunk_size, true)?;
        Ok(Manifest {
            hash: ManifestHash::of(&bytes),
            bytes,
            cipher,
            chunk_size: msg.chunk_size,
            files,
            total_size,
        })
    }

    /// The exact encoded bytes (what the offer carries and the hash covers).
    pub fn encoded(&self) -> &[u8] {
        &self.bytes
    }

    pub(crate) fn encoded_bytes(&self) -> Bytes {
        self.bytes.clone()
    }

    /// The manifest hash.
    pub fn hash(&self) -> &ManifestHash {
        &self.hash
    }

    /// The cipher that seals the chunks.
    pub fn cipher(&self) -> Cipher {
        self.cipher
    }

    /// Plaintext bytes per chunk (the last chunk of a file may be shorter).
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// The files, sorted by path.
    pub fn files(&self) -> &[FileEntry] {
        &self.files
    }

    /// The sum of all file sizes, every entry counted (also one whose content is copied
    /// from another entry with the same hash).
    pub fn total_size(&self) -> u64 {
        self.total_size
    }

    /// Chunks of file `file` (an empty file has one, empty, chunk); 0 for an unknown index.
    pub fn chunk_count(&self, file: usize) -> u64 {
        self.files
            .get(file)
            .map_or(0, |f| chunks_for(f.size, self.chunk_size))
    }

    /// Plaintext length of chunk `index` of file `file`; `None` if there is no such chunk.
    pub fn chunk_len(&self, file: usize, index: u64) -> Option<u32> {
        let f = self.files.get(file)?;
        let n = chunks_for(f.size, self.chunk_size);
        if index >= n {
            return None;
        }
        let start = index * u64::from(self.chunk_size);
        let len = (f.size - start).min(u64::from(self.chunk_size));
        u32::try_from(len).ok()
    }
}

/// Chunks needed for `size` bytes: `max(1, ceil(size / chunk_size))`.
pub(crate) fn chunks_for(size: u64, chunk_size: u32) -> u64 {
    size.div_ceil(u64::from(chunk_size.max(1))).max(1)
}

fn malformed(reason: &'static str) -> Error {
    Error::Malformed { what: WHAT, reason }
}

/// Checks the rules every manifest satisfies; returns the total size.
fn validate(files: &[FileEntry], chunk_size: u32, require_sorted: bool) -> Result<u64> {
    if files.len() > MAX_FILES {
        return Err(Error::TooLarge {
            what: "manifest file count",
            len: files.len() as u64,
            max: MAX_FILES as u64,
        });
    }
    let mut total: u64 = 0;
    let mut folded = HashSet::with_capacity(files.len());
    // Entries with the same content are received once and copied locally, so a size is
    // trusted only if every entry with that hash declares it: otherwise one large file
    // listed again with size 0 would pass the total size limit and be copied many times.
    let mut sizes: HashMap<FileHash, u64> = HashMap::new();
    for (i, f) in files.iter().enumerate() {
        if require_sorted && i > 0 {
            let sorted = files
                .get(i - 1)
                .is_some_and(|prev| prev.path.as_str() < f.path.as_str());
            if !sorted {
                return Err(malformed("paths are not sorted and unique"));
            }
        }
        let chunks = f.size.div_ceil(u64::from(chunk_size)).max(1);
        if chunks > MAX_CHUNKS_PER_FILE {
            return Err(Error::TooManyChunks {
                size: f.size,
                chunk_size,
                chunks,
            });
        }
        if *sizes.entry(f.hash).or_insert(f.size) != f.size {
            return Err(malformed(
                "entries with the same BLAKE3 hash declare different sizes",
            ));
        }
        total = total.checked_add(f.size).ok_or(Error::TooLarge {
            what: "manifest total size",
            len: u64::MAX,
            max: u64::MAX,
        })?;
        if !folded.insert(f.path.fold()) {
            return Err(Error::PathCollision {
                path: shown(f.path.as_str()),
                reason: "same path as another entry when case is ignored",
            });
        }
    }
    // Each folder of each path, folded component by component (folding can change a
    // component's length, so prefixes are built from the folded components themselves).
    for f in files {
        let folded_components: Vec<String> = f.path.folded_components().collect();
        let mut ancestor = String::new();
        for c in folded_components
            .iter()
            .take(folded_components.len().saturating_sub(1))
        {
            if !ancestor.is_empty() {
                ancestor.push('/');
            }
            ancestor.push_str(c);
            if folded.contains(&ancestor) {
                return Err(Error::PathCollision {
                    path: shown(f.path.as_str()),
                    reason: "a file of the manifest is also one of its folders",
                });
            }
        }
    }
    Ok(total)
}

/// Builds a [`Manifest`] from file paths, sizes and hashes. Entries may be added in any
/// order; they are sorted by path.
#[derive(Debug, Clone, Default)]
pub struct ManifestBuilder {
    cipher: Cipher,
    chunk_size: Option<u32>,
    files: Vec<FileEntry>,
}

impl ManifestBuilder {
    /// An empty builder: ChaCha20-Poly1305, 64 KiB chunks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Chooses the cipher.
    pub fn cipher(mut self, cipher: Cipher) -> Self {
        self.cipher = cipher;
        self
    }

    /// Chooses the chunk size ([`MIN_CHUNK_SIZE`] to [`MAX_CHUNK_SIZE`]; checked by `build`).
    pub fn chunk_size(mut self, chunk_size: u32) -> Self {
        self.chunk_size = Some(chunk_size);
        self
    }

    /// Adds a file; fails at once if the path is unsafe.
    pub fn add_file(&mut self, path: &str, size: u64, hash: FileHash) -> Result<&mut Self> {
        if self.files.len() >= MAX_FILES {
            return Err(Error::TooLarge {
                what: "manifest file count",
                len: self.files.len() as u64 + 1,
                max: MAX_FILES as u64,
            });
        }
        self.files.push(FileEntry {
            path: RelativePath::parse(path)?,
            size,
            hash,
        });
        Ok(self)
    }

    /// Sorts, checks and encodes the manifest.
    pub fn build(mut self) -> Result<Manifest> {
        self.files
            .sort_by(|a, b| a.path.as_str().cmp(b.path.as_str()));
        for pair in self.files.windows(2) {
            if let [a, b] = pair {
                if a.path == b.path {
                    return Err(Error::PathCollision {
                        path: shown(b.path.as_str()),
                        reason: "added twice",
                    });
                }
            }
        }
        let chunk_size = self.chunk_size.unwrap_or(DEFAULT_CHUNK_SIZE);
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
            return Err(Error::InvalidArgument(
                "chunk size must be between 1 KiB and 1 MiB",
            ));
        }
        validate(&self.files, chunk_size, false)?;
        let msg = proto::Manifest {
            version: VERSION,
            cipher: self.cipher.to_wire(),
            chunk_size,
            files: self
                .files
                .iter()
                .map(|f| proto::FileEntry {
                    path: f.path.as_str().to_owned(),
                    size: f.size,
                    blake3: Bytes::copy_from_slice(f.hash.as_bytes()),
                })
                .collect(),
        };
        let bytes = Bytes::from(msg.encode_to_vec());
        if bytes.len() > MAX_MANIFEST_LEN {
            return Err(Error::TooLarge {
                what: WHAT,
                len: bytes.len() as u64,
                max: MAX_MANIFEST_LEN as u64,
            });
        }
        let total_size = self.files.iter().map(|f| f.size).sum();
        Ok(Manifest {
            hash: ManifestHash::of(&bytes),
            bytes,
            cipher: self.cipher,
            chunk_size,
            files: self.files,
            total_size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_cap_is_checked_before_decoding() {
        // MAX_FILES + 1 empty entries: 2 bytes each on the wire.
        let mut b = vec![0x08, 0x01];
        for _ in 0..=MAX_FILES {
            b.extend_from_slice(&[0x22, 0x00]);
        }
        assert!(matches!(
            Manifest::decode(&b),
            Err(Error::TooLarge {
                what: "manifest file count",
                ..
            })
        ));
    }

    #[test]
    fn chunk_lengths() {
        let mut b = ManifestBuilder::new().chunk_size(1024);
        b.add_file("a", 2048, FileHash::of(b"a")).unwrap();
        b.add_file("b", 0, FileHash::of(b"")).unwrap();
        b.add_file("c", 1025, FileHash::of(b"c")).unwrap();
        let m = b.build().unwrap();
        assert_eq!(m.chunk_count(0), 2);
        assert_eq!(m.chunk_len(0, 1), Some(1024));
        assert_eq!(m.chunk_len(0, 2), None);
        assert_eq!(m.chunk_count(1), 1);
        assert_eq!(m.chunk_len(1, 0), Some(0));
        assert_eq!(m.chunk_len(2, 1), Some(1));
        assert_eq!(Manifest::decode(m.encoded()).unwrap(), m);
    }
}

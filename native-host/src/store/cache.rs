//! The seeding cache: completed content, named by its SHA-256, bounded by
//! `cache_max_bytes` (least recently used goes first) and `cache_max_age_secs`.
//!
//! `cache/<sha256>/entry.json` describes an entry, `leaves` holds its BEP 52 leaf
//! layer, and `data` is the content itself (a hard link to the downloaded file; where
//! that cannot be made, the entry points at the file instead). Content is never
//! trusted because it is in the cache: an entry admitted without its leaves (an
//! origin-only download computes none) is indexed when first opened, and only if the
//! whole file still has its SHA-256; every block is checked against its leaf when it
//! is read to be served, so a file changed or damaged since is never passed on.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use swarmload_core::content::{Geometry, Hash32, hash_block, root_of_leaves};

use crate::config::StateDir;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheEntry {
    pub sha256: String,
    pub size: u64,
    /// The BEP 52 root, once the leaf layer is known.
    pub root: Option<String>,
    pub name: String,
    /// The content's bytes: `data` inside the entry, or a file elsewhere.
    pub data_path: PathBuf,
    pub added_unix: u64,
    pub last_used_unix: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("content of {size} bytes does not fit a cache of {max} bytes")]
    TooLarge { size: u64, max: u64 },
    #[error("the leaf layer does not fit the content")]
    BadLeaves,
    #[error("block {0} no longer matches the content")]
    Damaged(u32),
    #[error("no such content in the cache")]
    Missing,
    #[error("the cached file no longer has SHA-256 {0}")]
    Changed(String),
    #[error("cannot index the cached file: {0}")]
    Index(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
    move |source| CacheError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub struct Cache {
    dir: PathBuf,
    max_bytes: u64,
    max_age_secs: u64,
}

impl Cache {
    pub fn new(state: &StateDir, max_bytes: u64, max_age_secs: u64) -> Cache {
        Cache {
            dir: state.cache_dir(),
            max_bytes,
            max_age_secs,
        }
    }

    fn entry_dir(&self, sha256: &Hash32) -> PathBuf {
        self.dir.join(sha256.to_hex())
    }

    /// Adds verified content stored at `file`, then evicts to stay within bounds.
    pub fn admit(
        &self,
        sha256: Hash32,
        leaves: Option<&[Hash32]>,
        file: &Path,
        name: &str,
    ) -> Result<CacheEntry, CacheError> {
        let size = std::fs::metadata(file).map_err(io(file))?.len();
        if size > self.max_bytes {
            return Err(CacheError::TooLarge {
                size,
                max: self.max_bytes,
            });
        }
        let geo = Geometry::new(size).map_err(|_| CacheError::BadLeaves)?;
        if leaves.is_some_and(|l| l.len() != geo.num_blocks() as usize) {
            return Err(CacheError::BadLeaves);
        }
        let dir = self.entry_dir(&sha256);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let data = dir.join("data");
        let _ = std::fs::remove_file(&data);
        let data_path = match std::fs::hard_link(file, &data) {
            Ok(()) => data,
            // Another file system: seed the file where it is.
            Err(_) => std::fs::canonicalize(file).map_err(io(file))?,
        };
        let leaves_path = dir.join("leaves");
        let _ = std::fs::remove_file(&leaves_path);
        if let Some(leaves) = leaves {
            write_leaves(&leaves_path, leaves)?;
        }
        let now = super::unix_now();
        let entry = CacheEntry {
            sha256: sha256.to_hex(),
            size,
            root: leaves.map(|l| root_of_leaves(l).to_hex()),
            name: name.to_string(),
            data_path,
            added_unix: now,
            last_used_unix: now,
        };
        self.write_entry(&dir, &entry)?;
        self.evict(Some(&entry.sha256));
        Ok(entry)
    }

    fn write_entry(&self, dir: &Path, entry: &CacheEntry) -> Result<(), CacheError> {
        let path = dir.join("entry.json");
        let text = serde_json::to_vec_pretty(entry).unwrap_or_default();
        super::write_atomic(&path, &text).map_err(io(&path))
    }

    /// Every entry, least recently used first.
    pub fn list(&self) -> Vec<CacheEntry> {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out: Vec<CacheEntry> = rd
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join("entry.json")).ok())
            .filter_map(|b| serde_json::from_slice(&b).ok())
            .collect();
        out.sort_by_key(|e| (e.last_used_unix, e.added_unix));
        out
    }

    /// Drops entries past the age limit, then the least recently used until the
    /// rest fits. `keep` is never evicted (the entry just added).
    pub fn evict(&self, keep: Option<&str>) {
        let now = super::unix_now();
        let mut entries = self.list();
        let mut total: u64 = entries.iter().map(|e| e.size).sum();
        entries.retain(|e| {
            let stale = now.saturating_sub(e.last_used_unix) > self.max_age_secs;
            if stale && keep != Some(e.sha256.as_str()) {
                total -= e.size;
                self.remove(&e.sha256);
                false
            } else {
                true
            }
        });
        for e in entries {
            if total <= self.max_bytes {
                break;
            }
            if keep == Some(e.sha256.as_str()) {
                continue;
            }
            total -= e.size;
            self.remove(&e.sha256);
        }
    }

    fn remove(&self, sha256_hex: &str) {
        // Only ever a directory named by a hex digest inside the cache.
        if sha256_hex.len() == 64 && sha256_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let _ = std::fs::remove_dir_all(self.dir.join(sha256_hex));
        }
    }

    /// Opens cached content to serve it, marking it used. An entry without its leaf
    /// layer is indexed first (a pass over the whole file, which must still have its
    /// SHA-256, else the entry is dropped).
    pub fn open(&self, sha256: &Hash32) -> Result<CachedContent, CacheError> {
        let dir = self.entry_dir(sha256);
        let mut entry: CacheEntry = std::fs::read(dir.join("entry.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(CacheError::Missing)?;
        let leaves_path = dir.join("leaves");
        if entry.root.is_none() || !leaves_path.exists() {
            let (digests, leaves) = crate::file_digest::digest_file_with_leaves(&entry.data_path)
                .map_err(|e| CacheError::Index(e.to_string()))?;
            if digests.sha256 != *sha256 || digests.size != entry.size {
                self.remove(&entry.sha256);
                return Err(CacheError::Changed(entry.sha256));
            }
            write_leaves(&leaves_path, &leaves)?;
            entry.root = Some(root_of_leaves(&leaves).to_hex());
        }
        let bytes = std::fs::read(&leaves_path).map_err(io(&leaves_path))?;
        let geo = Geometry::new(entry.size).map_err(|_| CacheError::BadLeaves)?;
        if bytes.len() != geo.num_blocks() as usize * 32 {
            return Err(CacheError::BadLeaves);
        }
        let leaves: Vec<Hash32> = bytes
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                Hash32(h)
            })
            .collect();
        if Some(root_of_leaves(&leaves).to_hex()) != entry.root {
            return Err(CacheError::BadLeaves);
        }
        let file = File::open(&entry.data_path).map_err(io(&entry.data_path))?;
        let mut used = entry.clone();
        used.last_used_unix = super::unix_now();
        self.write_entry(&dir, &used)?;
        Ok(CachedContent {
            sha256: *sha256,
            geo,
            leaves,
            file,
            entry: used,
        })
    }
}

fn write_leaves(path: &Path, leaves: &[Hash32]) -> Result<(), CacheError> {
    let bytes: Vec<u8> = leaves.iter().flat_map(|l| l.0).collect();
    super::write_atomic(path, &bytes).map_err(io(path))
}

/// Cached content opened for serving.
pub struct CachedContent {
    pub sha256: Hash32,
    pub geo: Geometry,
    pub leaves: Vec<Hash32>,
    pub entry: CacheEntry,
    file: File,
}

impl CachedContent {
    /// The open file and its leaf layer, to serve from (each block is checked
    /// against its leaf again as it is read).
    pub fn into_parts(self) -> (Hash32, u64, Vec<Hash32>, File) {
        (self.sha256, self.geo.size(), self.leaves, self.file)
    }

    /// Reads one block, checked against its leaf: a block changed on disk is an
    /// error, never served.
    pub fn read_block(&self, block: u32) -> Result<Bytes, CacheError> {
        if block >= self.geo.num_blocks() {
            return Err(CacheError::Damaged(block));
        }
        let mut buf = vec![0u8; self.geo.block_len(block) as usize];
        self.file
            .read_exact_at(&mut buf, self.geo.block_offset(block))
            .map_err(|_| CacheError::Damaged(block))?;
        if hash_block(&buf) != self.leaves[block as usize] {
            return Err(CacheError::Damaged(block));
        }
        Ok(Bytes::from(buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use swarmload_core::content::BLOCK_SIZE;

    fn leaves_of(data: &[u8]) -> Vec<Hash32> {
        data.chunks(BLOCK_SIZE as usize).map(hash_block).collect()
    }

    fn sha(data: &[u8]) -> Hash32 {
        use sha2::Digest;
        Hash32(sha2::Sha256::digest(data).into())
    }

    #[test]
    fn lru_bounds_and_block_checks() {
        let root = std::env::temp_dir().join(format!("swl-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let state = StateDir::open(Some(&root)).unwrap();
        let files = root.join("files");
        std::fs::create_dir_all(&files).unwrap();
        let cache = Cache::new(&state, 100_000, 3600);
        let mut digests = Vec::new();
        for i in 0..3u8 {
            let data: Vec<u8> = (0..40_000u32)
                .map(|x| (x as u8).wrapping_mul(i + 1))
                .collect();
            let path = files.join(format!("f{i}"));
            std::fs::write(&path, &data).unwrap();
            let d = sha(&data);
            // One entry arrives without leaves and is indexed when opened.
            let leaves = leaves_of(&data);
            let given = (i != 2).then_some(&leaves[..]);
            cache.admit(d, given, &path, "f").unwrap();
            digests.push((d, path, data));
            // Distinct use times for the LRU order.
            if i == 1 {
                let mut e = cache.open(&digests[0].0).unwrap().entry;
                e.last_used_unix += 10;
                cache
                    .write_entry(&cache.entry_dir(&digests[0].0), &e)
                    .unwrap();
            }
        }
        // 3 × 40 000 > 100 000: the least recently used (f1) went.
        let held: Vec<String> = cache.list().iter().map(|e| e.sha256.clone()).collect();
        assert_eq!(held.len(), 2);
        assert!(!held.contains(&digests[1].0.to_hex()));
        let c = cache.open(&digests[0].0).unwrap();
        assert_eq!(&c.read_block(1).unwrap()[..], &digests[0].2[16384..32768]);
        // The user's file changes in place: the hard-linked cache copy changes too,
        // and the damaged block is refused, the others still served.
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&digests[0].1)
            .unwrap();
        f.write_all_at(b"X", 20_000).unwrap();
        assert!(matches!(c.read_block(1), Err(CacheError::Damaged(1))));
        assert!(c.read_block(0).is_ok());
        assert!(matches!(c.read_block(99), Err(CacheError::Damaged(99))));
        let unindexed = cache.open(&digests[2].0).unwrap();
        assert_eq!(unindexed.leaves, leaves_of(&digests[2].2));
        assert!(unindexed.entry.root.is_some());
        // An entry whose file changed before it was ever indexed is dropped.
        let d3: Vec<u8> = vec![3; 30_000];
        let p3 = files.join("f3");
        std::fs::write(&p3, &d3).unwrap();
        cache.admit(sha(&d3), None, &p3, "f3").unwrap();
        std::fs::write(&p3, vec![4u8; 30_000]).unwrap();
        assert!(matches!(cache.open(&sha(&d3)), Err(CacheError::Changed(_))));
        assert!(cache.list().iter().all(|e| e.sha256 != sha(&d3).to_hex()));
        let too_big = vec![1u8; 200_000];
        let p = files.join("big");
        std::fs::write(&p, &too_big).unwrap();
        assert!(matches!(
            cache.admit(sha(&too_big), Some(&leaves_of(&too_big)), &p, "big"),
            Err(CacheError::TooLarge { .. })
        ));
        std::fs::remove_dir_all(&root).unwrap();
    }
}

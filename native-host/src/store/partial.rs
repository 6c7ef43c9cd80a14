//! A partial download: its record (`<key>.json`: where from, which version, where the
//! bytes are), its journal of stored blocks (`<key>.blocks`) and a lock file that
//! keeps two processes off the same download (`<key>.lock`).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use swarmload_core::content::{Geometry, Hash32};

use super::journal::Journal;
use crate::config::StateDir;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartialRecord {
    pub url: String,
    pub size: u64,
    /// Hex SHA-256 from a trusted source, if any.
    pub sha256: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Where the bytes are being stored.
    pub data_path: PathBuf,
    /// Where they go when verified (command-line downloads).
    pub dest: Option<PathBuf>,
    pub filename: String,
    pub started_unix: u64,
}

impl PartialRecord {
    /// The record of a new download of `info` into `data_path`.
    pub fn new(
        info: &crate::origin::OriginInfo,
        expected: Option<Hash32>,
        data_path: PathBuf,
        dest: Option<PathBuf>,
        filename: String,
    ) -> PartialRecord {
        PartialRecord {
            url: info.url.to_string(),
            size: info.size,
            sha256: expected.map(|d| d.to_hex()),
            etag: info.etag.clone(),
            last_modified: info.last_modified.clone(),
            data_path,
            dest,
            filename,
            started_unix: super::unix_now(),
        }
    }

    /// Whether the stored bytes can be kept for a download of `other`: same
    /// content by digest, or same version by validators.
    pub fn same_content(&self, other: &PartialRecord) -> bool {
        if self.size != other.size || self.data_path != other.data_path {
            return false;
        }
        match (&self.sha256, &other.sha256) {
            (Some(a), Some(b)) => a == b,
            (None, None) => {
                // No digest: only validators can prove it is the same version. An
                // ETag, where there is one, must match (a file replaced within the
                // same second keeps its date); else the date must.
                match (&self.etag, &other.etag) {
                    (Some(a), Some(b)) => a == b && self.last_modified == other.last_modified,
                    (None, None) => {
                        self.last_modified.is_some() && self.last_modified == other.last_modified
                    }
                    _ => false,
                }
            }
            _ => false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PartialError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("another swarmload-host process is working on this download")]
    Busy,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PartialError + '_ {
    move |source| PartialError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub struct Partial {
    pub key: String,
    pub record: PartialRecord,
    dir: PathBuf,
    /// Held for the life of the value: the OS releases it if the process dies.
    _lock: File,
}

/// A stable short name for a string (a path, a content identity).
pub fn short_hash(s: &[u8]) -> String {
    hex::encode(&Sha256::digest(s)[..16])
}

impl Partial {
    fn paths(dir: &Path, key: &str) -> (PathBuf, PathBuf, PathBuf) {
        (
            dir.join(format!("{key}.json")),
            dir.join(format!("{key}.blocks")),
            dir.join(format!("{key}.lock")),
        )
    }

    /// Takes the download that stores its bytes at `record.data_path` (one record
    /// and one lock per data file, so two processes never write the same file): the
    /// blocks an earlier run stored are kept when that run was for the same content,
    /// else it starts empty. Returns the partial and whether it resumes.
    pub fn open(state: &StateDir, record: PartialRecord) -> Result<(Partial, bool), PartialError> {
        let dir = state.partial_dir();
        let key = short_hash(record.data_path.as_os_str().as_encoded_bytes());
        let (json, blocks, lock) = Self::paths(&dir, &key);
        let lock_file = File::create(&lock).map_err(io(&lock))?;
        match lock_file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(PartialError::Busy),
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&lock)(e)),
        }
        let old: Option<PartialRecord> = std::fs::read(&json)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let resumes = old.as_ref().is_some_and(|o| o.same_content(&record))
            && record.data_path.exists()
            && blocks.exists();
        let record = match (resumes, old) {
            (true, Some(old)) => PartialRecord {
                started_unix: old.started_unix,
                ..record
            },
            _ => record,
        };
        if !resumes {
            Journal::create(&blocks).map_err(io(&blocks))?;
        }
        let text = serde_json::to_vec_pretty(&record).unwrap_or_default();
        super::write_atomic(&json, &text).map_err(io(&json))?;
        Ok((
            Partial {
                key,
                record,
                dir,
                _lock: lock_file,
            },
            resumes,
        ))
    }

    pub fn journal_path(&self) -> PathBuf {
        Self::paths(&self.dir, &self.key).1
    }

    pub fn journal(&self) -> Result<Journal, PartialError> {
        let p = self.journal_path();
        Journal::append(&p).map_err(io(&p))
    }

    /// The blocks an earlier run stored whose bytes still match their recorded
    /// digest (with the leaf, where it was recorded); the rest are fetched again.
    pub fn held_blocks(&self, geo: &Geometry) -> Vec<(u32, Option<Hash32>)> {
        held_blocks(&self.journal_path(), &self.record.data_path, geo)
    }
}

/// See [`Partial::held_blocks`]; owned arguments, for a blocking task.
pub fn held_blocks(journal: &Path, data: &Path, geo: &Geometry) -> Vec<(u32, Option<Hash32>)> {
    let entries = Journal::read(journal).unwrap_or_default();
    let Ok(file) = File::open(data) else {
        return Vec::new();
    };
    {
        let mut buf = vec![0u8; swarmload_core::content::BLOCK_SIZE as usize];
        let mut seen = std::collections::BTreeMap::new();
        for (block, leaf) in entries {
            if block < geo.num_blocks() {
                seen.insert(block, leaf);
            }
        }
        seen.into_iter()
            .filter(|(block, digest)| {
                let len = geo.block_len(*block) as usize;
                file.read_exact_at(&mut buf[..len], geo.block_offset(*block))
                    .is_ok()
                    && digest.matches(&buf[..len])
            })
            .map(|(block, digest)| (block, digest.leaf()))
            .collect()
    }
}

impl Partial {
    /// Forgets the download's record and journal (not the bytes: the caller moves
    /// or deletes them).
    /// The lock file stays: deleting a lock file while it is held would let a
    /// process that opened it before and one that creates it anew both hold it.
    pub fn finish(self) {
        let (json, blocks, _) = Self::paths(&self.dir, &self.key);
        let _ = std::fs::remove_file(json);
        let _ = std::fs::remove_file(blocks);
    }
}

/// Forgets a download nobody holds (its bytes are the caller's business).
pub fn forget(state: &StateDir, key: &str) {
    let (json, blocks, _) = Partial::paths(&state.partial_dir(), key);
    let _ = std::fs::remove_file(json);
    let _ = std::fs::remove_file(blocks);
}

/// A partial download as `status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PartialSummary {
    pub key: String,
    #[serde(flatten)]
    pub record: PartialRecord,
    /// Bytes the journal records as stored (not re-checked here).
    pub held_bytes: u64,
    /// Whether a process is working on it now.
    pub active: bool,
}

pub fn list(state: &StateDir) -> Vec<PartialSummary> {
    let dir = state.partial_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let Some(key) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        let Some(record) = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<PartialRecord>(&b).ok())
        else {
            continue;
        };
        let (_, blocks, lock) = Partial::paths(&dir, &key);
        let held_bytes = match Geometry::new(record.size) {
            Ok(geo) => {
                let mut held: Vec<u32> = Journal::read(&blocks)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(b, _)| b)
                    .filter(|b| *b < geo.num_blocks())
                    .collect();
                held.sort_unstable();
                held.dedup();
                held.iter().map(|b| geo.block_len(*b) as u64).sum()
            }
            Err(_) => 0,
        };
        let active = File::open(&lock)
            .map(|f| matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)))
            .unwrap_or(false);
        out.push(PartialSummary {
            key,
            record,
            held_bytes,
            active,
        });
    }
    out.sort_by_key(|p| p.record.started_unix);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(sha: Option<&str>, etag: Option<&str>, date: Option<&str>) -> PartialRecord {
        PartialRecord {
            url: "http://o/f".into(),
            size: 100,
            sha256: sha.map(str::to_string),
            etag: etag.map(str::to_string),
            last_modified: date.map(str::to_string),
            data_path: PathBuf::from("/d/f.part"),
            dest: None,
            filename: "f".into(),
            started_unix: 0,
        }
    }

    #[test]
    fn stored_bytes_are_kept_only_for_provably_the_same_content() {
        let d = Some("Mon, 01 Jan 2024 00:00:00 GMT");
        assert!(rec(Some("aa"), None, None).same_content(&rec(Some("aa"), Some("x"), None)));
        assert!(!rec(Some("aa"), None, None).same_content(&rec(Some("bb"), None, None)));
        assert!(!rec(Some("aa"), None, None).same_content(&rec(None, None, None)));
        assert!(rec(None, Some("\"1\""), d).same_content(&rec(None, Some("\"1\""), d)));
        // Same date, new ETag: replaced within the same second.
        assert!(!rec(None, Some("\"1\""), d).same_content(&rec(None, Some("\"2\""), d)));
        assert!(!rec(None, Some("\"1\""), d).same_content(&rec(None, None, d)));
        assert!(rec(None, None, d).same_content(&rec(None, None, d)));
        assert!(!rec(None, None, None).same_content(&rec(None, None, None)));
        let mut other = rec(Some("aa"), None, None);
        other.size = 101;
        assert!(!rec(Some("aa"), None, None).same_content(&other));
    }
}

//! The record of stored blocks: an append-only file of fixed-size entries, one per
//! block written, each naming the block and a digest of its bytes (the block's leaf
//! SHA-256 where the engine computed it, else a CRC-32), with a check value.
//!
//! Entries are appended after the block's bytes are written, so after a crash every
//! entry names a block that was written. The data itself is not forced to disk: on
//! resume every entry is checked against the stored bytes, so bytes lost by a power
//! cut are found and fetched again, and a torn last entry fails its check and is
//! ignored. (The final whole-file SHA-256 remains the gate for all of it.)

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, Write};
use std::path::Path;

use sha2::{Digest, Sha256};
use swarmload_core::content::{Hash32, hash_block};

const MAGIC: &[u8; 8] = b"SWLJRNL2";
const ENTRY: usize = 4 + 1 + 32 + 4;

/// How the bytes of a stored block are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockDigest {
    /// Its BEP 52 leaf (SHA-256 of the block).
    Leaf(Hash32),
    /// A CRC-32 of the block, for blocks stored without their leaf.
    Crc32(u32),
}

impl BlockDigest {
    /// Whether `data` still has this digest.
    pub fn matches(&self, data: &[u8]) -> bool {
        match self {
            BlockDigest::Leaf(l) => hash_block(data) == *l,
            BlockDigest::Crc32(c) => crc32fast::hash(data) == *c,
        }
    }

    pub fn leaf(&self) -> Option<Hash32> {
        match self {
            BlockDigest::Leaf(l) => Some(*l),
            BlockDigest::Crc32(_) => None,
        }
    }

    fn encode(&self) -> (u8, [u8; 32]) {
        match self {
            BlockDigest::Leaf(l) => (1, l.0),
            BlockDigest::Crc32(c) => {
                let mut d = [0u8; 32];
                d[..4].copy_from_slice(&c.to_le_bytes());
                (2, d)
            }
        }
    }

    fn decode(tag: u8, d: &[u8; 32]) -> Option<BlockDigest> {
        match tag {
            1 => Some(BlockDigest::Leaf(Hash32(*d))),
            2 if d[4..].iter().all(|b| *b == 0) => Some(BlockDigest::Crc32(u32::from_le_bytes([
                d[0], d[1], d[2], d[3],
            ]))),
            _ => None,
        }
    }
}

pub struct Journal {
    out: BufWriter<File>,
}

fn check(block: u32, tag: u8, digest: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(block.to_le_bytes());
    h.update([tag]);
    h.update(digest);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

impl Journal {
    /// Starts an empty journal (replacing any old one).
    pub fn create(path: &Path) -> std::io::Result<Journal> {
        let mut f = File::create(path)?;
        f.write_all(MAGIC)?;
        Ok(Journal {
            out: BufWriter::with_capacity(64 * 1024, f),
        })
    }

    /// Continues an existing journal; a torn tail is cut off first so new entries
    /// stay aligned. Anything that is not a journal is replaced by an empty one.
    pub fn append(path: &Path) -> std::io::Result<Journal> {
        let mut f = OpenOptions::new().read(true).write(true).open(path)?;
        let mut magic = [0u8; 8];
        if f.read_exact(&mut magic).is_err() || &magic != MAGIC {
            drop(f);
            return Journal::create(path);
        }
        let len = f.metadata()?.len();
        let body = (len - MAGIC.len() as u64) / ENTRY as u64 * ENTRY as u64;
        f.set_len(MAGIC.len() as u64 + body)?;
        f.seek(std::io::SeekFrom::End(0))?;
        Ok(Journal {
            out: BufWriter::with_capacity(64 * 1024, f),
        })
    }

    pub fn record(&mut self, block: u32, digest: &BlockDigest) -> std::io::Result<()> {
        let (tag, d) = digest.encode();
        let mut e = [0u8; ENTRY];
        e[..4].copy_from_slice(&block.to_le_bytes());
        e[4] = tag;
        e[5..37].copy_from_slice(&d);
        e[37..].copy_from_slice(&check(block, tag, &d));
        self.out.write_all(&e)
    }

    /// Hands buffered entries to the OS (they survive the process being killed).
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    /// Every intact entry, in order. A file that is not a journal reads as empty.
    pub fn read(path: &Path) -> std::io::Result<Vec<(u32, BlockDigest)>> {
        let mut bytes = Vec::new();
        File::open(path)?.read_to_end(&mut bytes)?;
        Ok(Journal::parse(&bytes))
    }

    /// The intact entries of a journal's bytes.
    pub fn parse(bytes: &[u8]) -> Vec<(u32, BlockDigest)> {
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Vec::new();
        }
        let mut out = Vec::new();
        for e in bytes[MAGIC.len()..].chunks_exact(ENTRY) {
            let block = u32::from_le_bytes([e[0], e[1], e[2], e[3]]);
            let tag = e[4];
            let mut d = [0u8; 32];
            d.copy_from_slice(&e[5..37]);
            if e[37..] != check(block, tag, &d) {
                continue;
            }
            if let Some(digest) = BlockDigest::decode(tag, &d) {
                out.push((block, digest));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_and_torn_or_damaged_ones_are_dropped() {
        let dir = std::env::temp_dir().join(format!("swl-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("j");
        let mut j = Journal::create(&path).unwrap();
        for b in 0..10u32 {
            let d = if b % 2 == 0 {
                BlockDigest::Leaf(Hash32([b as u8; 32]))
            } else {
                BlockDigest::Crc32(b * 1000)
            };
            j.record(b, &d).unwrap();
        }
        j.flush().unwrap();
        drop(j);
        // A torn entry at the end, then a damaged one in the middle.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&[1, 2, 3]);
        bytes[MAGIC.len() + 3 * ENTRY + 10] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let got = Journal::read(&path).unwrap();
        let blocks: Vec<u32> = got.iter().map(|(b, _)| *b).collect();
        assert_eq!(blocks, vec![0, 1, 2, 4, 5, 6, 7, 8, 9]);
        assert_eq!(got[1].1, BlockDigest::Crc32(1000));
        assert_eq!(got[2].1, BlockDigest::Leaf(Hash32([2; 32])));
        // Appending after a torn tail stays aligned.
        let mut j = Journal::append(&path).unwrap();
        j.record(42, &BlockDigest::Leaf(Hash32([42; 32]))).unwrap();
        j.flush().unwrap();
        let got = Journal::read(&path).unwrap();
        assert_eq!(got.last(), Some(&(42, BlockDigest::Leaf(Hash32([42; 32])))));
        assert_eq!(got.len(), 10);
        std::fs::write(&path, b"not a journal at all").unwrap();
        assert!(Journal::read(&path).unwrap().is_empty());
        assert!(Journal::append(&path).is_ok());
        assert!(Journal::read(&path).unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn digests_check_the_bytes() {
        let data = vec![7u8; 1000];
        assert!(BlockDigest::Leaf(hash_block(&data)).matches(&data));
        assert!(BlockDigest::Crc32(crc32fast::hash(&data)).matches(&data));
        assert!(!BlockDigest::Crc32(crc32fast::hash(&data)).matches(&data[1..]));
    }
}

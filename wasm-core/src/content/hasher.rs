//! Incremental hashing of content fed in chunks of any size, in bounded memory.

use sha2::{Digest, Sha256};

use super::merkle::{RootBuilder, hash_block};
use super::{BLOCK_SIZE, Hash32, InfoHash};

/// Every digest Swarmload knows a file by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentDigests {
    pub sha256: Hash32,
    pub root: Hash32,
    pub size: u64,
}

impl ContentDigests {
    pub fn info_hash(&self) -> InfoHash {
        self.sha256.info_hash()
    }
}

/// Leaves are hashed this many bytes at a time: four leaves where SIMD hashes four at
/// once (wasm), else one.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
const STAGE: usize = 4 * BLOCK_SIZE as usize;
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
const STAGE: usize = BLOCK_SIZE as usize;

/// Hashes 16 KiB leaves and folds them into the BEP 52 root. Whole stages in the
/// input are hashed in place; only a partial stage is buffered.
#[derive(Debug, Clone)]
pub struct LeafHasher {
    partial: Vec<u8>,
    root: RootBuilder,
    keep: Option<Vec<Hash32>>,
    size: u64,
}

impl LeafHasher {
    pub fn new() -> Self {
        LeafHasher {
            partial: Vec::with_capacity(STAGE),
            root: RootBuilder::new(),
            keep: None,
            size: 0,
        }
    }

    /// Also keeps every leaf hash (32 bytes per 16 KiB), for a seeder's tree.
    pub fn keeping_leaves() -> Self {
        LeafHasher {
            keep: Some(Vec::new()),
            ..Self::new()
        }
    }

    fn push_leaf(&mut self, leaf: Hash32) {
        self.root.push(leaf);
        if let Some(keep) = &mut self.keep {
            keep.push(leaf);
        }
    }

    pub fn update(&mut self, mut data: &[u8]) {
        self.size += data.len() as u64;
        if !self.partial.is_empty() {
            let take = (STAGE - self.partial.len()).min(data.len());
            self.partial.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.partial.len() == STAGE {
                let staged = std::mem::take(&mut self.partial);
                self.hash_whole(&staged);
                self.partial = staged;
                self.partial.clear();
            }
        }
        let whole = data.len() - data.len() % STAGE;
        self.hash_whole(&data[..whole]);
        self.partial.extend_from_slice(&data[whole..]);
    }

    /// Hashes whole leaves: `data` is a multiple of `STAGE` bytes.
    fn hash_whole(&mut self, data: &[u8]) {
        const BLOCK: usize = BLOCK_SIZE as usize;
        for stage in data.chunks_exact(STAGE) {
            // In wasm, four leaves at a time go through the SIMD hasher.
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            {
                let four = super::simd4::hash_four_blocks([
                    &stage[..BLOCK],
                    &stage[BLOCK..2 * BLOCK],
                    &stage[2 * BLOCK..3 * BLOCK],
                    &stage[3 * BLOCK..],
                ]);
                for leaf in four {
                    self.push_leaf(Hash32(leaf));
                }
            }
            #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
            for block in stage.chunks_exact(BLOCK) {
                let leaf = hash_block(block);
                self.push_leaf(leaf);
            }
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root and, if kept, the leaves.
    pub fn finish(mut self) -> (Hash32, Option<Vec<Hash32>>) {
        let staged = std::mem::take(&mut self.partial);
        for block in staged.chunks(BLOCK_SIZE as usize) {
            let leaf = hash_block(block);
            self.push_leaf(leaf);
        }
        (self.root.root(), self.keep)
    }
}

impl Default for LeafHasher {
    fn default() -> Self {
        Self::new()
    }
}

/// Computes both the whole-file SHA-256 and the Merkle root in one pass on one thread.
/// The native host splits the two across threads instead (see the host's `hash`).
#[derive(Debug, Clone, Default)]
pub struct ContentHasher {
    flat: Sha256,
    leaves: LeafHasher,
}

impl ContentHasher {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn keeping_leaves() -> Self {
        ContentHasher {
            flat: Sha256::new(),
            leaves: LeafHasher::keeping_leaves(),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.flat.update(data);
        self.leaves.update(data);
    }

    pub fn size(&self) -> u64 {
        self.leaves.size()
    }

    pub fn finish(self) -> ContentDigests {
        self.finish_with_leaves().0
    }

    pub fn finish_with_leaves(self) -> (ContentDigests, Option<Vec<Hash32>>) {
        let size = self.leaves.size();
        let sha256 = Hash32(self.flat.finalize().into());
        let (root, leaves) = self.leaves.finish();
        (ContentDigests { sha256, root, size }, leaves)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::root_of_leaves;

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 + i / 7) as u8).collect()
    }

    #[test]
    fn chunking_does_not_change_digests() {
        let d = data(5 * BLOCK_SIZE as usize + 123);
        let mut whole = ContentHasher::keeping_leaves();
        whole.update(&d);
        let (expect, leaves) = whole.finish_with_leaves();
        let leaves = leaves.unwrap();
        assert_eq!(leaves.len(), 6);
        assert_eq!(root_of_leaves(&leaves), expect.root);
        for chunk in [1, 7, 1000, 16383, 16384, 16385, 40000] {
            let mut h = ContentHasher::new();
            for c in d.chunks(chunk) {
                h.update(c);
            }
            assert_eq!(h.finish(), expect, "chunk {chunk}");
        }
    }
}

//! The leaf hashes of the content as the engine learns them, and how far each is
//! trusted.
//!
//! A leaf is *proven* when it was delivered with a Merkle proof to the current root, or
//! came with trusted metadata. A leaf is *computed* when we hashed the block ourselves
//! (origin bytes, or a verified peer block). Comparing the two is how origin bytes
//! cross-check a root that came from peers.

use crate::content::{
    Geometry, Hash32, MAX_HASHES_PER_MESSAGE, MerkleTree, ProofError, root_of_leaves,
    verify_leaf_range,
};

use super::bitset::BitSet;

#[derive(Debug, Clone)]
pub struct LeafStore {
    leaves: Vec<Hash32>,
    proven: BitSet,
    computed: BitSet,
    /// Hash ranges ("chunks") of `chunk_len` leaves each, proven as a whole.
    chunk_len: u32,
    chunks_proven: BitSet,
    /// Built once every leaf is known and matches the root, to answer proofs.
    tree: Option<MerkleTree>,
}

impl LeafStore {
    pub fn new(g: &Geometry) -> Self {
        let n = g.num_blocks();
        let chunk_len = (g.padded_leaves() as u32).min(MAX_HASHES_PER_MESSAGE);
        LeafStore {
            leaves: vec![Hash32::ZERO; n as usize],
            proven: BitSet::new(n),
            computed: BitSet::new(n),
            chunk_len,
            chunks_proven: BitSet::new(n.div_ceil(chunk_len)),
            tree: None,
        }
    }

    pub fn num_leaves(&self) -> u32 {
        self.leaves.len() as u32
    }

    pub fn chunk_len(&self) -> u32 {
        self.chunk_len
    }

    pub fn num_chunks(&self) -> u32 {
        self.chunks_proven.len()
    }

    pub fn chunk_of(&self, block: u32) -> u32 {
        block / self.chunk_len
    }

    pub fn chunk_proven(&self, chunk: u32) -> bool {
        self.chunks_proven.contains(chunk)
    }

    pub fn all_proven(&self) -> bool {
        self.chunks_proven.is_full()
    }

    pub fn is_proven(&self, block: u32) -> bool {
        self.proven.contains(block)
    }

    /// Whether every leaf is known, proven or computed.
    pub fn all_known(&self) -> bool {
        self.proven.is_full()
            || (0..self.num_leaves()).all(|b| self.proven.contains(b) || self.computed.contains(b))
    }

    pub fn is_computed(&self, block: u32) -> bool {
        self.computed.contains(block)
    }

    pub fn leaf(&self, block: u32) -> Hash32 {
        self.leaves[block as usize]
    }

    /// Installs a full, trusted leaf layer (a seeder's own content, or metadata).
    pub fn install_trusted(&mut self, leaves: Vec<Hash32>) {
        debug_assert_eq!(leaves.len(), self.leaves.len());
        self.leaves = leaves;
        self.seal();
    }

    /// Verifies a hash range against `root`. Returns the blocks whose computed leaf
    /// disagrees with the proven one (evidence against the root or the origin); only
    /// when there are none are the leaves recorded as proven.
    pub fn accept_range(
        &mut self,
        root: &Hash32,
        index: u32,
        count: u32,
        hashes: &[Hash32],
        uncles: &[Hash32],
    ) -> Result<Vec<u32>, ProofError> {
        verify_leaf_range(root, self.num_leaves(), index, count, hashes, uncles)?;
        let conflicts: Vec<u32> = hashes
            .iter()
            .enumerate()
            .map(|(i, h)| (index + i as u32, h))
            .filter(|(b, h)| self.computed.contains(*b) && self.leaves[*b as usize] != **h)
            .map(|(b, _)| b)
            .collect();
        if !conflicts.is_empty() {
            // The root contradicts bytes we hashed ourselves: record nothing, so the
            // leaves of what we hold stay those of the bytes we hold.
            return Ok(conflicts);
        }
        for (i, h) in hashes.iter().enumerate() {
            let block = index + i as u32;
            self.leaves[block as usize] = *h;
            self.proven.insert(block);
        }
        if count >= self.chunk_len {
            let first = index / self.chunk_len;
            let n = count / self.chunk_len;
            for c in first..(first + n).min(self.num_chunks()) {
                self.chunks_proven.insert(c);
            }
        }
        Ok(conflicts)
    }

    /// Records the hash of a block we hold. Returns false if it contradicts a proven
    /// leaf (the caller decides who is wrong).
    pub fn record_computed(&mut self, block: u32, leaf: Hash32) -> bool {
        if self.proven.contains(block) && self.leaves[block as usize] != leaf {
            return false;
        }
        self.leaves[block as usize] = leaf;
        self.computed.insert(block);
        true
    }

    pub fn forget_computed(&mut self, block: u32) {
        self.computed.remove(block);
        if !self.proven.contains(block) {
            self.leaves[block as usize] = Hash32::ZERO;
        }
    }

    /// Drops every proof (the root they led to turned out bad), keeping computed leaves.
    pub fn forget_proofs(&mut self) {
        for b in self.proven.iter().collect::<Vec<_>>() {
            if !self.computed.contains(b) {
                self.leaves[b as usize] = Hash32::ZERO;
            }
        }
        self.proven.clear();
        self.chunks_proven.clear();
        self.tree = None;
    }

    /// Root over the leaves as they stand (meaningful once every leaf is known).
    pub fn current_root(&self) -> Hash32 {
        root_of_leaves(&self.leaves)
    }

    /// Marks all leaves proven: called once the whole file matched its trusted SHA-256,
    /// so its own tree is the truth from now on.
    pub fn seal(&mut self) {
        self.proven = BitSet::full(self.num_leaves());
        self.chunks_proven = BitSet::full(self.num_chunks());
        self.tree = Some(MerkleTree::from_leaves(self.leaves.clone()));
    }

    pub fn tree(&self) -> Option<&MerkleTree> {
        self.tree.as_ref()
    }
}

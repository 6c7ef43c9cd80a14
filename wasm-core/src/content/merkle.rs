//! The BitTorrent v2 (BEP 52) Merkle tree of one file: SHA-256 over 16 KiB leaves, the
//! leaf layer padded with zero hashes to a power of two, each parent the SHA-256 of its
//! two children concatenated.
//!
//! Proofs name a range of leaves `[index, index + count)` with `count` a power of two
//! and `index` a multiple of `count`: the range is one whole subtree, so its proof is
//! the list of uncles from that subtree up to the root, lowest first.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use super::Hash32;

/// Most leaf hashes one `hashes` message may carry (16 KiB of hashes).
pub const MAX_HASHES_PER_MESSAGE: u32 = 512;

/// Highest tree level we ever need: 2^32 leaves.
const MAX_LEVELS: usize = 33;

pub fn hash_block(data: &[u8]) -> Hash32 {
    Hash32(Sha256::digest(data).into())
}

pub fn hash_pair(left: &Hash32, right: &Hash32) -> Hash32 {
    let mut h = Sha256::new();
    h.update(left.0);
    h.update(right.0);
    Hash32(h.finalize().into())
}

/// The hash of an all-padding subtree `level` layers above the leaves: zero at the leaf
/// layer, then the hash of two such subtrees.
pub fn pad_hash(level: u32) -> Hash32 {
    static PADS: OnceLock<[Hash32; MAX_LEVELS + 1]> = OnceLock::new();
    let pads = PADS.get_or_init(|| {
        let mut pads = [Hash32::ZERO; MAX_LEVELS + 1];
        for i in 1..pads.len() {
            pads[i] = hash_pair(&pads[i - 1], &pads[i - 1]);
        }
        pads
    });
    pads[(level as usize).min(MAX_LEVELS)]
}

/// Computes the root from leaves pushed one at a time, with memory logarithmic in the
/// number of leaves (a binary counter of completed subtrees).
#[derive(Debug, Clone, Default)]
pub struct RootBuilder {
    /// `stack[l]` is the completed subtree of 2^l leaves not yet merged, if any.
    stack: Vec<Option<Hash32>>,
    leaves: u64,
}

impl RootBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn leaves(&self) -> u64 {
        self.leaves
    }

    pub fn push(&mut self, leaf: Hash32) {
        self.leaves += 1;
        let mut carry = leaf;
        let mut level = 0;
        loop {
            if level == self.stack.len() {
                self.stack.push(None);
            }
            match self.stack[level].take() {
                Some(left) => {
                    carry = hash_pair(&left, &carry);
                    level += 1;
                }
                None => {
                    self.stack[level] = Some(carry);
                    return;
                }
            }
        }
    }

    /// The root over the leaves pushed so far, padded to a power of two. The root of no
    /// leaves is the zero hash: BEP 52 gives empty files no root, and nothing is ever
    /// transferred for them.
    pub fn root(&self) -> Hash32 {
        if self.leaves == 0 {
            return Hash32::ZERO;
        }
        let depth = self.leaves.next_power_of_two().trailing_zeros() as usize;
        if let Some(Some(full)) = self.stack.get(depth) {
            return *full;
        }
        let mut carry: Option<Hash32> = None;
        for level in 0..depth {
            let here = self.stack.get(level).copied().flatten();
            carry = match (here, carry) {
                (Some(left), Some(right)) => Some(hash_pair(&left, &right)),
                (Some(left), None) => Some(hash_pair(&left, &pad_hash(level as u32))),
                (None, Some(left)) => Some(hash_pair(&left, &pad_hash(level as u32))),
                (None, None) => None,
            };
        }
        carry.unwrap_or(Hash32::ZERO)
    }
}

pub fn root_of_leaves(leaves: &[Hash32]) -> Hash32 {
    let mut b = RootBuilder::new();
    for l in leaves {
        b.push(*l);
    }
    b.root()
}

/// A whole tree kept in memory, every layer, to answer proofs for any range. It costs
/// about twice the leaf layer: 1/256 of the content size.
#[derive(Debug, Clone)]
pub struct MerkleTree {
    /// `layers[0]` are the real leaves; each higher layer is half as long (rounded
    /// up), missing right children being padding.
    layers: Vec<Vec<Hash32>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("range count {0} is not a power of two of at most the padded leaf count")]
    BadCount(u32),
    #[error("range start {index} is not aligned to its count {count} or lies past the leaves")]
    BadIndex { index: u32, count: u32 },
    #[error("expected {expected} leaf hashes for the range, got {found}")]
    WrongHashCount { expected: usize, found: usize },
    #[error("expected {expected} uncle hashes, got {found}")]
    WrongUncleCount { expected: usize, found: usize },
    #[error("the hashes do not lead to the root")]
    RootMismatch,
}

impl MerkleTree {
    pub fn from_leaves(leaves: Vec<Hash32>) -> Self {
        let mut layers = vec![leaves];
        let mut level = 0u32;
        while layers[level as usize].len() > 1 {
            let below = &layers[level as usize];
            let above: Vec<Hash32> = below
                .chunks(2)
                .map(|pair| match pair {
                    [l, r] => hash_pair(l, r),
                    [l] => hash_pair(l, &pad_hash(level)),
                    _ => unreachable!("chunks(2) yields one or two items"),
                })
                .collect();
            layers.push(above);
            level += 1;
        }
        MerkleTree { layers }
    }

    pub fn num_leaves(&self) -> u32 {
        self.layers[0].len() as u32
    }

    pub fn leaves(&self) -> &[Hash32] {
        &self.layers[0]
    }

    pub fn depth(&self) -> u32 {
        (self.layers.len() - 1) as u32
    }

    pub fn root(&self) -> Hash32 {
        match self.layers.last().and_then(|top| top.first()) {
            Some(root) => *root,
            None => Hash32::ZERO,
        }
    }

    /// One layer of the tree, `level` steps above the leaves, without padding nodes
    /// (`None` above the root).
    pub fn layer(&self, level: u32) -> Option<&[Hash32]> {
        self.layers.get(level as usize).map(Vec::as_slice)
    }

    /// The BEP 52 piece layer for pieces of `blocks_per_piece` blocks (a power of two):
    /// the root of each piece's subtree, one per piece. BEP 52 gives a file of a
    /// single piece no piece layer; its root is its only entry here.
    pub fn piece_layer(&self, blocks_per_piece: u32) -> Vec<Hash32> {
        let level = blocks_per_piece.trailing_zeros().min(self.depth());
        self.layers[level as usize].clone()
    }

    /// Leaf hashes of a range (only the real ones) and its uncles up to the root.
    pub fn proof(&self, index: u32, count: u32) -> Result<(Vec<Hash32>, Vec<Hash32>), ProofError> {
        check_range(self.num_leaves(), index, count)?;
        let end = (index as u64 + count as u64).min(self.num_leaves() as u64) as usize;
        let hashes = self.layers[0][index as usize..end].to_vec();
        let mut uncles = Vec::new();
        let mut level = count.trailing_zeros();
        let mut position = (index >> level) as usize;
        while level < self.depth() {
            let sibling = position ^ 1;
            let layer = &self.layers[level as usize];
            uncles.push(layer.get(sibling).copied().unwrap_or(pad_hash(level)));
            position >>= 1;
            level += 1;
        }
        Ok((hashes, uncles))
    }
}

fn check_range(num_leaves: u32, index: u32, count: u32) -> Result<(), ProofError> {
    let padded = (num_leaves as u64).next_power_of_two();
    if num_leaves == 0 || !count.is_power_of_two() || count as u64 > padded {
        return Err(ProofError::BadCount(count));
    }
    if !index.is_multiple_of(count) || index >= num_leaves {
        return Err(ProofError::BadIndex { index, count });
    }
    Ok(())
}

/// Checks that `hashes` are the leaves `[index, index + count)` of the tree with `root`
/// over `num_leaves` leaves, given the range's uncles. Leaves past the end of the file
/// are padding and are not sent.
pub fn verify_leaf_range(
    root: &Hash32,
    num_leaves: u32,
    index: u32,
    count: u32,
    hashes: &[Hash32],
    uncles: &[Hash32],
) -> Result<(), ProofError> {
    check_range(num_leaves, index, count)?;
    let real = (num_leaves - index).min(count) as usize;
    if hashes.len() != real {
        return Err(ProofError::WrongHashCount {
            expected: real,
            found: hashes.len(),
        });
    }
    let depth = (num_leaves as u64).next_power_of_two().trailing_zeros();
    let base = count.trailing_zeros();
    let expected_uncles = (depth - base) as usize;
    if uncles.len() != expected_uncles {
        return Err(ProofError::WrongUncleCount {
            expected: expected_uncles,
            found: uncles.len(),
        });
    }
    // The subtree of the range, padding included, folded layer by layer.
    let mut layer: Vec<Hash32> = hashes.to_vec();
    let mut level = 0;
    while level < base {
        layer = layer
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => hash_pair(l, r),
                [l] => hash_pair(l, &pad_hash(level)),
                _ => unreachable!("chunks(2) yields one or two items"),
            })
            .collect();
        level += 1;
    }
    let mut node = layer[0];
    let mut position = index >> base;
    for uncle in uncles {
        node = if position & 1 == 0 {
            hash_pair(&node, uncle)
        } else {
            hash_pair(uncle, &node)
        };
        position >>= 1;
    }
    if node == *root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u32) -> Vec<Hash32> {
        (0..n).map(|i| hash_block(&i.to_le_bytes())).collect()
    }

    #[test]
    fn builder_and_tree_agree() {
        for n in 1..70 {
            let l = leaves(n);
            let tree = MerkleTree::from_leaves(l.clone());
            assert_eq!(root_of_leaves(&l), tree.root(), "n = {n}");
        }
    }

    #[test]
    fn one_leaf_is_its_own_root_and_three_leaves_pad() {
        let l = leaves(3);
        assert_eq!(root_of_leaves(&l[..1]), l[0]);
        let expected = hash_pair(&hash_pair(&l[0], &l[1]), &hash_pair(&l[2], &Hash32::ZERO));
        assert_eq!(root_of_leaves(&l), expected);
    }

    #[test]
    fn every_range_proves_and_tampering_fails() {
        for n in [1u32, 2, 3, 5, 8, 13, 64, 100] {
            let tree = MerkleTree::from_leaves(leaves(n));
            let root = tree.root();
            let padded = n.next_power_of_two();
            let mut count = 1;
            while count <= padded {
                let mut index = 0;
                while index < n {
                    let (hashes, uncles) = tree.proof(index, count).unwrap();
                    verify_leaf_range(&root, n, index, count, &hashes, &uncles).unwrap();
                    let mut bad = hashes.clone();
                    bad[0].0[0] ^= 1;
                    assert_eq!(
                        verify_leaf_range(&root, n, index, count, &bad, &uncles),
                        Err(ProofError::RootMismatch)
                    );
                    if let Some(first) = uncles.first() {
                        let mut bad_uncles = uncles.clone();
                        bad_uncles[0] = hash_pair(first, first);
                        assert!(
                            verify_leaf_range(&root, n, index, count, &hashes, &bad_uncles)
                                .is_err()
                        );
                    }
                    index += count;
                }
                count *= 2;
            }
        }
    }

    #[test]
    fn piece_layers_hash_each_piece_subtree() {
        let l = leaves(10);
        let tree = MerkleTree::from_leaves(l.clone());
        let layer = tree.piece_layer(4);
        assert_eq!(layer.len(), 3);
        let pad1 = pad_hash(1);
        assert_eq!(
            layer[2],
            hash_pair(&hash_pair(&l[8], &l[9]), &pad1),
            "the last piece is padded like the tree"
        );
        assert_eq!(layer[0], root_of_leaves(&l[0..4]));
        // Folding the piece layer, padded with padding subtrees, gives the root.
        let p2 = pad_hash(2);
        assert_eq!(
            tree.root(),
            hash_pair(&hash_pair(&layer[0], &layer[1]), &hash_pair(&layer[2], &p2))
        );
        assert_eq!(tree.piece_layer(1), l);
        assert_eq!(tree.piece_layer(64), vec![tree.root()]);
    }

    #[test]
    fn malformed_ranges_are_errors() {
        let tree = MerkleTree::from_leaves(leaves(5));
        assert!(matches!(tree.proof(0, 3), Err(ProofError::BadCount(3))));
        assert!(matches!(tree.proof(0, 16), Err(ProofError::BadCount(16))));
        assert!(matches!(tree.proof(2, 4), Err(ProofError::BadIndex { .. })));
        assert!(matches!(tree.proof(6, 2), Err(ProofError::BadIndex { .. })));
        let (h, u) = tree.proof(4, 4).unwrap();
        assert_eq!(h.len(), 1);
        let root = tree.root();
        assert!(matches!(
            verify_leaf_range(&root, 5, 4, 4, &[h[0], h[0]], &u),
            Err(ProofError::WrongHashCount { .. })
        ));
        assert!(matches!(
            verify_leaf_range(&root, 5, 4, 4, &h, &[]),
            Err(ProofError::WrongUncleCount { .. })
        ));
        assert!(verify_leaf_range(&root, 0, 0, 1, &[], &[]).is_err());
    }
}

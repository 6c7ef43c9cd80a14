//! Content addressing: the whole-file SHA-256, the BEP 52 Merkle tree over 16 KiB
//! blocks, the tracker info hash, and the block/piece geometry derived from a size.

mod digest;
mod geometry;
mod hasher;
mod merkle;

pub use digest::{Hash32, HexError, InfoHash};
pub use geometry::{BLOCK_SIZE, Geometry, GeometryError, MAX_PIECES, MAX_SIZE};
pub use hasher::{ContentDigests, ContentHasher, LeafHasher};
pub use merkle::{
    MAX_HASHES_PER_MESSAGE, MerkleTree, ProofError, RootBuilder, hash_block, hash_pair, pad_hash,
    root_of_leaves, verify_leaf_range,
};

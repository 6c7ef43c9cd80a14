//! Content addressing: the whole-file SHA-256, the BEP 52 Merkle tree over 16 KiB
//! blocks, the tracker info hash, and the block/piece geometry derived from a size.

mod digest;
mod geometry;
mod hasher;
mod merkle;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd4;

pub use digest::{Hash32, HexError, InfoHash};
pub use geometry::{BLOCK_SIZE, Geometry, GeometryError, MAX_PIECES, MAX_SIZE};
pub use hasher::{ContentDigests, ContentHasher, LeafHasher};
pub use merkle::{
    MAX_HASHES_PER_MESSAGE, MerkleTree, ProofError, RootBuilder, hash_block, hash_pair, pad_hash,
    root_of_leaves, verify_leaf_range,
};
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub use simd4::hash_four_blocks;

//! Proof verification with arbitrary ranges, hashes and uncles: an error, never a
//! panic; and a proof the tree produces always verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use swarmload_core::content::{Hash32, MerkleTree, hash_block, verify_leaf_range};

fuzz_target!(|data: &[u8]| {
    if data.len() < 12 {
        return;
    }
    let num_leaves = u32::from_le_bytes([data[0], data[1], 0, 0]) % 2000;
    let index = u32::from_le_bytes([data[2], data[3], data[4], data[5]]);
    let count = u32::from_le_bytes([data[6], data[7], data[8], data[9]]);
    let n_hashes = data[10] as usize % 40;
    let n_uncles = data[11] as usize % 40;
    let rest = &data[12..];
    let hash = |i: usize| {
        let mut h = [0u8; 32];
        if !rest.is_empty() {
            h[0] = rest[i % rest.len()];
        }
        h[1] = i as u8;
        Hash32(h)
    };
    let hashes: Vec<Hash32> = (0..n_hashes).map(hash).collect();
    let uncles: Vec<Hash32> = (0..n_uncles).map(|i| hash(i + 100)).collect();
    let root = hash(999);
    let _ = verify_leaf_range(&root, num_leaves, index, count, &hashes, &uncles);

    if num_leaves > 0 {
        let leaves: Vec<Hash32> = (0..num_leaves)
            .map(|i| hash_block(&i.to_le_bytes()))
            .collect();
        let tree = MerkleTree::from_leaves(leaves);
        if let Ok((h, u)) = tree.proof(index, count) {
            assert!(verify_leaf_range(&tree.root(), num_leaves, index, count, &h, &u).is_ok());
        }
    }
});

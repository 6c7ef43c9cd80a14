//! Reference digests from independent implementations (see `generate.py`).

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Vector {
    pub size: usize,
    pub sha256: String,
    pub repr_digest: String,
    pub root: String,
    pub info_hash: String,
}

pub fn vectors() -> Vec<Vector> {
    serde_json::from_str(include_str!("reference.json")).expect("reference.json parses")
}

/// The content the vectors were computed over.
pub fn content(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 31 + (i >> 8)) & 0xff) as u8).collect()
}

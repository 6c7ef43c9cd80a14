//! Swarmload's protocol core: everything that decides, nothing that does I/O.
//!
//! - [`content`]: whole-file SHA-256, the BEP 52 Merkle tree, info hashes, geometry.
//! - [`trusted_digest`]: expected digests from `Repr-Digest`, `Digest` and URLs.
//! - [`wire`]: the peer wire protocol codec.
//! - [`engine`]: the sans-IO transfer engine, one value per download or seed.
//! - [`policy`]: the typed, validated configuration.
//! - [`eligibility`]: which downloads may be shared at all.
//! - [`tracker_protocol`]: the WebTorrent WebSocket tracker protocol (both sides).
//! - [`sim`]: a deterministic swarm simulator over virtual time, for tests and benches.
//!
//! The same crate compiles to wasm32 for the browser extension (see `wasm`).

pub mod checksum_file;
pub mod content;
pub mod eligibility;
pub mod engine;
pub mod group_mapping;
pub mod metalink;
pub mod policy;
pub mod sim;
pub mod tracker_protocol;
pub mod trusted_digest;
pub mod wasm;
pub mod wire;

//! Swarmload's protocol core: everything that decides, nothing that does I/O.
//!
//! - [`content`]: whole-file SHA-256, the BEP 52 Merkle tree, info hashes, geometry.
//! - [`trusted_digest`]: expected digests from `Repr-Digest`, `Digest` and URLs.
//! - [`resolve`]: a probe's response read, and the resolver that finds a download's
//!   trusted SHA-256 (Metalink, checksum lists, the group), sans-IO.
//! - [`checksum_file`], [`metalink`], [`group_mapping`]: the documents it reads.
//! - [`filename`]: the name a download is saved under; [`local_network`]: private
//!   addresses, for the mirror rules.
//! - [`content_range`]: the one `Content-Range` parser, for both drivers.
//! - [`wire`]: the peer wire protocol codec.
//! - [`engine`]: the sans-IO transfer engine, one value per download or seed.
//! - [`membership`]: a swarm's membership (trackers, offers, connections), sans-IO.
//! - [`policy`]: the typed, validated configuration.
//! - [`eligibility`]: which downloads may be shared at all.
//! - [`tracker_protocol`]: the WebTorrent WebSocket tracker protocol (both sides).
//! - `sim` (feature `sim`): a deterministic swarm simulator over virtual time, for
//!   tests and benches.
//!
//! The crate is a plain library that builds natively and for wasm32. Its drivers live
//! elsewhere: the native host (`swarmload-host`, tokio and webrtc-rs) and the browser
//! package (`swarmload-browser`, the wasm binding over the browser's own WebRTC,
//! `fetch()` and OPFS).

pub mod checksum_file;
pub mod content;
pub mod content_range;
pub mod eligibility;
pub mod engine;
pub mod filename;
pub mod group_mapping;
pub mod local_network;
pub mod membership;
pub mod metalink;
pub mod origin_connections;
pub mod policy;
pub mod resolve;
#[cfg(feature = "sim")]
pub mod sim;
pub mod tracker_protocol;
pub mod trusted_digest;
pub mod wire;

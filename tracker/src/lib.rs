//! `swarmload-tracker`: a small signaling server speaking the WebTorrent WebSocket
//! tracker protocol (as `bittorrent-tracker` and `aquatic_ws` do), so browser and
//! native peers can exchange WebRTC offers and answers. Any tracker that speaks the
//! same protocol can take its place.

// The protocol lives in the core: the browser peer (wasm) speaks it too.
pub use swarmload_core::tracker_protocol as protocol;
pub mod forwarded;
pub mod mappings;
pub mod server;

pub use server::{Config, Tracker};

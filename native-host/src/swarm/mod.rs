//! Finding peers: tracker clients (signaling over the WebTorrent WebSocket tracker
//! protocol). The WebRTC transport that turns offers and answers into data channels
//! plugs in on top.

pub mod group_mappings;
pub mod options;
pub mod peers;
pub mod rtc;
pub mod rtc_runtime;
pub mod tracker_client;

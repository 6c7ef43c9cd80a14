//! Finding peers: the core's membership machine driven over tracker sockets (the
//! WebTorrent WebSocket tracker protocol) and webrtc-rs data channels.

pub mod group_mappings;
pub mod options;
pub mod peers;
pub mod rtc;
pub mod rtc_runtime;
pub mod tracker_socket;

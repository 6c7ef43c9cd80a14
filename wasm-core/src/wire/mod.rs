//! The peer wire protocol: one message per data-channel message, binary, big-endian,
//! every message at most 64 KiB. `docs/protocol.md` is the specification.

mod codec;
mod message;

pub use codec::{MAX_MESSAGE_LEN, WireError};
pub use message::{
    GoodbyeReason, Handshake, MAX_BITFIELD_LEN, MAX_UNCLES, Message, PROTOCOL_VERSION, RejectReason,
};

/// Data channel label, which also names the protocol generation.
pub const CHANNEL_LABEL: &str = "swarmload/1";

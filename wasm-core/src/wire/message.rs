//! The message set, modelled on BitTorrent (BEP 3) with BEP 52's hash messages.

use bytes::Bytes;

use crate::content::{Hash32, InfoHash};

/// The one version this implementation speaks.
pub const PROTOCOL_VERSION: u8 = 1;
/// A bitfield covers at most `MAX_PIECES` pieces.
pub const MAX_BITFIELD_LEN: usize = (crate::content::MAX_PIECES as usize).div_ceil(8);
/// Uncles of a proof: one per tree level above the range, at most 32 levels.
pub const MAX_UNCLES: usize = 32;

/// First message each side sends, exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// Random per engine: lets a crowd split origin work without talking about it,
    /// and lets an engine notice it connected to itself.
    pub node_id: u64,
    pub info_hash: InfoHash,
    /// Content size in bytes; both sides derive blocks and pieces from it.
    pub size: u64,
    /// The BEP 52 root the sender holds the content under, if it knows one.
    pub root: Option<Hash32>,
    /// The sender holds every leaf hash and answers hash requests.
    pub serves_hashes: bool,
    /// Pieces the sender has, most significant bit of byte 0 first (as BEP 3).
    pub bitfield: Vec<u8>,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// The sender does not hold that block (any more).
    NotHeld,
    /// Upload queue full; try later or elsewhere.
    Busy,
    /// The sender does not upload at all.
    UploadDisabled,
    /// A reason this implementation does not know.
    Other(u8),
}

/// Why the sender is closing the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoodbyeReason {
    Normal,
    ProtocolError,
    WrongContent,
    Banned,
    UnsupportedVersion,
    Other(u8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Handshake(Handshake),
    Have {
        piece: u32,
    },
    Request {
        block: u32,
    },
    Block {
        block: u32,
        data: Bytes,
    },
    Reject {
        block: u32,
        reason: RejectReason,
    },
    Cancel {
        block: u32,
    },
    /// Leaf hashes `[index, index + count)` with a proof up to the root.
    HashRequest {
        index: u32,
        count: u32,
    },
    Hashes {
        index: u32,
        count: u32,
        /// The real leaves of the range; padding past the file's end is implied.
        hashes: Vec<Hash32>,
        /// Uncles from the range's subtree up to the root, lowest first.
        uncles: Vec<Hash32>,
    },
    HashReject {
        index: u32,
        count: u32,
    },
    KeepAlive,
    Goodbye {
        reason: GoodbyeReason,
    },
    /// The sender now holds the content under this root (it finished, or confirmed
    /// the root against the origin) after its handshake went out without it.
    Root {
        root: Hash32,
        serves_hashes: bool,
    },
}

impl RejectReason {
    pub fn code(self) -> u8 {
        match self {
            RejectReason::NotHeld => 1,
            RejectReason::Busy => 2,
            RejectReason::UploadDisabled => 3,
            RejectReason::Other(c) => c,
        }
    }

    pub fn from_code(code: u8) -> Self {
        match code {
            1 => RejectReason::NotHeld,
            2 => RejectReason::Busy,
            3 => RejectReason::UploadDisabled,
            c => RejectReason::Other(c),
        }
    }
}

impl GoodbyeReason {
    pub fn code(self) -> u8 {
        match self {
            GoodbyeReason::Normal => 0,
            GoodbyeReason::ProtocolError => 1,
            GoodbyeReason::WrongContent => 2,
            GoodbyeReason::Banned => 3,
            GoodbyeReason::UnsupportedVersion => 4,
            GoodbyeReason::Other(c) => c,
        }
    }

    pub fn from_code(code: u8) -> Self {
        match code {
            0 => GoodbyeReason::Normal,
            1 => GoodbyeReason::ProtocolError,
            2 => GoodbyeReason::WrongContent,
            3 => GoodbyeReason::Banned,
            4 => GoodbyeReason::UnsupportedVersion,
            c => GoodbyeReason::Other(c),
        }
    }
}

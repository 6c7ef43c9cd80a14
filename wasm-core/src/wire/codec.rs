//! Encoding and decoding with explicit bounds. Decoding never panics: every length is
//! checked before it is used, and a message must be consumed exactly.

use bytes::Bytes;

use super::message::{
    GoodbyeReason, Handshake, MAX_BITFIELD_LEN, MAX_UNCLES, Message, PROTOCOL_VERSION, RejectReason,
};
use crate::content::{BLOCK_SIZE, Hash32, InfoHash, MAX_HASHES_PER_MESSAGE};

/// Largest message on the wire, type byte included.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

const T_HANDSHAKE: u8 = 0x00;
const T_HAVE: u8 = 0x01;
const T_REQUEST: u8 = 0x02;
const T_BLOCK: u8 = 0x03;
const T_REJECT: u8 = 0x04;
const T_CANCEL: u8 = 0x05;
const T_HASH_REQUEST: u8 = 0x06;
const T_HASHES: u8 = 0x07;
const T_HASH_REJECT: u8 = 0x08;
const T_KEEP_ALIVE: u8 = 0x09;
const T_GOODBYE: u8 = 0x0a;
const T_ROOT: u8 = 0x0b;

const FLAG_ROOT: u8 = 0x01;
const FLAG_SERVES_HASHES: u8 = 0x02;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("empty message")]
    Empty,
    #[error("message of {0} bytes exceeds the {MAX_MESSAGE_LEN}-byte limit")]
    TooLong(usize),
    #[error("unknown message type 0x{0:02x}")]
    UnknownType(u8),
    #[error("message ends early")]
    Truncated,
    #[error("{0} bytes left over after the message")]
    TrailingBytes(usize),
    #[error("protocol version {0} is not supported")]
    UnsupportedVersion(u8),
    #[error("block payload of {0} bytes is not 1..=16384")]
    BlockLength(usize),
    #[error("bitfield of {0} bytes exceeds the limit")]
    BitfieldLength(usize),
    #[error("hash range count {0} is not a power of two up to 512")]
    HashCount(u32),
    #[error("hash range index {index} is not a multiple of count {count}")]
    HashIndex { index: u32, count: u32 },
    #[error("{found} hashes for a range of {count}")]
    TooManyHashes { found: usize, count: u32 },
    #[error("{0} uncles exceed the limit")]
    TooManyUncles(usize),
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).ok_or(WireError::Truncated)?;
        let out = self.buf.get(self.pos..end).ok_or(WireError::Truncated)?;
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn hashes(&mut self, n: usize) -> Result<Vec<Hash32>, WireError> {
        let raw = self.take(n.checked_mul(32).ok_or(WireError::Truncated)?)?;
        Ok(raw
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                Hash32(h)
            })
            .collect())
    }

    fn finish(&self) -> Result<(), WireError> {
        match self.buf.len() - self.pos {
            0 => Ok(()),
            left => Err(WireError::TrailingBytes(left)),
        }
    }
}

fn check_hash_range(index: u32, count: u32) -> Result<(), WireError> {
    if !count.is_power_of_two() || count > MAX_HASHES_PER_MESSAGE {
        return Err(WireError::HashCount(count));
    }
    if !index.is_multiple_of(count) {
        return Err(WireError::HashIndex { index, count });
    }
    Ok(())
}

impl Message {
    /// Decodes one data-channel message. Block payloads share `buf`'s memory.
    pub fn decode(buf: &Bytes) -> Result<Message, WireError> {
        if buf.len() > MAX_MESSAGE_LEN {
            return Err(WireError::TooLong(buf.len()));
        }
        let mut r = Reader { buf, pos: 0 };
        let kind = r.u8().map_err(|_| WireError::Empty)?;
        let msg = match kind {
            T_HANDSHAKE => {
                let version = r.u8()?;
                if version != PROTOCOL_VERSION {
                    return Err(WireError::UnsupportedVersion(version));
                }
                let flags = r.u8()?;
                let node_id = r.u64()?;
                let info_hash = InfoHash(r.array()?);
                let size = r.u64()?;
                let root = if flags & FLAG_ROOT != 0 {
                    Some(Hash32(r.array()?))
                } else {
                    None
                };
                let len = r.u16()? as usize;
                if len > MAX_BITFIELD_LEN {
                    return Err(WireError::BitfieldLength(len));
                }
                let bitfield = r.take(len)?.to_vec();
                Message::Handshake(Handshake {
                    node_id,
                    info_hash,
                    size,
                    root,
                    serves_hashes: flags & FLAG_SERVES_HASHES != 0,
                    bitfield,
                })
            }
            T_HAVE => Message::Have { piece: r.u32()? },
            T_REQUEST => Message::Request { block: r.u32()? },
            T_BLOCK => {
                let block = r.u32()?;
                let len = buf.len() - r.pos;
                if len == 0 || len > BLOCK_SIZE as usize {
                    return Err(WireError::BlockLength(len));
                }
                let data = buf.slice(r.pos..);
                r.pos = buf.len();
                Message::Block { block, data }
            }
            T_REJECT => Message::Reject {
                block: r.u32()?,
                reason: RejectReason::from_code(r.u8()?),
            },
            T_CANCEL => Message::Cancel { block: r.u32()? },
            T_HASH_REQUEST => {
                let index = r.u32()?;
                let count = r.u16()? as u32;
                check_hash_range(index, count)?;
                Message::HashRequest { index, count }
            }
            T_HASHES => {
                let index = r.u32()?;
                let count = r.u16()? as u32;
                check_hash_range(index, count)?;
                let n_hashes = r.u16()? as usize;
                if n_hashes > count as usize || n_hashes == 0 {
                    return Err(WireError::TooManyHashes {
                        found: n_hashes,
                        count,
                    });
                }
                let n_uncles = r.u8()? as usize;
                if n_uncles > MAX_UNCLES {
                    return Err(WireError::TooManyUncles(n_uncles));
                }
                let hashes = r.hashes(n_hashes)?;
                let uncles = r.hashes(n_uncles)?;
                Message::Hashes {
                    index,
                    count,
                    hashes,
                    uncles,
                }
            }
            T_HASH_REJECT => {
                let index = r.u32()?;
                let count = r.u16()? as u32;
                check_hash_range(index, count)?;
                Message::HashReject { index, count }
            }
            T_KEEP_ALIVE => Message::KeepAlive,
            T_GOODBYE => Message::Goodbye {
                reason: GoodbyeReason::from_code(r.u8()?),
            },
            T_ROOT => {
                let flags = r.u8()?;
                Message::Root {
                    root: Hash32(r.array()?),
                    serves_hashes: flags & FLAG_SERVES_HASHES != 0,
                }
            }
            other => return Err(WireError::UnknownType(other)),
        };
        r.finish()?;
        Ok(msg)
    }

    /// Encodes a message. Messages built by this crate always satisfy the bounds the
    /// decoder checks; `encode` asserts none of them, so the caller must not build a
    /// block over 16 KiB or a range of more than 512 hashes.
    pub fn encode(&self) -> Bytes {
        let mut out = Vec::with_capacity(self.encoded_len_hint());
        match self {
            Message::Handshake(h) => {
                out.push(T_HANDSHAKE);
                out.push(PROTOCOL_VERSION);
                let mut flags = 0;
                if h.root.is_some() {
                    flags |= FLAG_ROOT;
                }
                if h.serves_hashes {
                    flags |= FLAG_SERVES_HASHES;
                }
                out.push(flags);
                out.extend_from_slice(&h.node_id.to_be_bytes());
                out.extend_from_slice(&h.info_hash.0);
                out.extend_from_slice(&h.size.to_be_bytes());
                if let Some(root) = h.root {
                    out.extend_from_slice(&root.0);
                }
                out.extend_from_slice(&(h.bitfield.len() as u16).to_be_bytes());
                out.extend_from_slice(&h.bitfield);
            }
            Message::Have { piece } => put_u32(&mut out, T_HAVE, *piece),
            Message::Request { block } => put_u32(&mut out, T_REQUEST, *block),
            Message::Block { block, data } => {
                put_u32(&mut out, T_BLOCK, *block);
                out.extend_from_slice(data);
            }
            Message::Reject { block, reason } => {
                put_u32(&mut out, T_REJECT, *block);
                out.push(reason.code());
            }
            Message::Cancel { block } => put_u32(&mut out, T_CANCEL, *block),
            Message::HashRequest { index, count } => {
                put_u32(&mut out, T_HASH_REQUEST, *index);
                out.extend_from_slice(&(*count as u16).to_be_bytes());
            }
            Message::Hashes {
                index,
                count,
                hashes,
                uncles,
            } => {
                put_u32(&mut out, T_HASHES, *index);
                out.extend_from_slice(&(*count as u16).to_be_bytes());
                out.extend_from_slice(&(hashes.len() as u16).to_be_bytes());
                out.push(uncles.len() as u8);
                for h in hashes.iter().chain(uncles) {
                    out.extend_from_slice(&h.0);
                }
            }
            Message::HashReject { index, count } => {
                put_u32(&mut out, T_HASH_REJECT, *index);
                out.extend_from_slice(&(*count as u16).to_be_bytes());
            }
            Message::KeepAlive => out.push(T_KEEP_ALIVE),
            Message::Goodbye { reason } => {
                out.push(T_GOODBYE);
                out.push(reason.code());
            }
            Message::Root {
                root,
                serves_hashes,
            } => {
                out.push(T_ROOT);
                out.push(if *serves_hashes {
                    FLAG_SERVES_HASHES
                } else {
                    0
                });
                out.extend_from_slice(&root.0);
            }
        }
        Bytes::from(out)
    }

    fn encoded_len_hint(&self) -> usize {
        match self {
            Message::Block { data, .. } => 5 + data.len(),
            Message::Hashes { hashes, uncles, .. } => 10 + 32 * (hashes.len() + uncles.len()),
            Message::Handshake(h) => 64 + h.bitfield.len(),
            _ => 8,
        }
    }
}

fn put_u32(out: &mut Vec<u8>, kind: u8, value: u32) {
    out.push(kind);
    out.extend_from_slice(&value.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hash() -> impl Strategy<Value = Hash32> {
        any::<[u8; 32]>().prop_map(Hash32)
    }

    fn range() -> impl Strategy<Value = (u32, u32)> {
        (0u32..=9, 0u32..1000).prop_map(|(shift, k)| {
            let count = 1u32 << shift;
            (k * count, count)
        })
    }

    fn message() -> impl Strategy<Value = Message> {
        prop_oneof![
            (
                any::<u64>(),
                any::<[u8; 20]>(),
                any::<u64>(),
                proptest::option::of(hash()),
                any::<bool>(),
                proptest::collection::vec(any::<u8>(), 0..=MAX_BITFIELD_LEN)
            )
                .prop_map(|(node_id, ih, size, root, serves_hashes, bitfield)| {
                    Message::Handshake(Handshake {
                        node_id,
                        info_hash: InfoHash(ih),
                        size,
                        root,
                        serves_hashes,
                        bitfield,
                    })
                }),
            any::<u32>().prop_map(|piece| Message::Have { piece }),
            any::<u32>().prop_map(|block| Message::Request { block }),
            (
                any::<u32>(),
                proptest::collection::vec(any::<u8>(), 1..=BLOCK_SIZE as usize)
            )
                .prop_map(|(block, data)| Message::Block {
                    block,
                    data: Bytes::from(data)
                }),
            (any::<u32>(), any::<u8>()).prop_map(|(block, c)| Message::Reject {
                block,
                reason: RejectReason::from_code(c)
            }),
            any::<u32>().prop_map(|block| Message::Cancel { block }),
            range().prop_map(|(index, count)| Message::HashRequest { index, count }),
            (
                range(),
                proptest::collection::vec(hash(), 1..=512),
                proptest::collection::vec(hash(), 0..=MAX_UNCLES)
            )
                .prop_map(|((index, count), mut hashes, uncles)| {
                    hashes.truncate(count as usize);
                    Message::Hashes {
                        index,
                        count,
                        hashes,
                        uncles,
                    }
                }),
            range().prop_map(|(index, count)| Message::HashReject { index, count }),
            Just(Message::KeepAlive),
            any::<u8>().prop_map(|c| Message::Goodbye {
                reason: GoodbyeReason::from_code(c)
            }),
            (hash(), any::<bool>()).prop_map(|(root, serves_hashes)| Message::Root {
                root,
                serves_hashes
            }),
        ]
    }

    proptest! {
        #[test]
        fn round_trip(msg in message()) {
            let wire = msg.encode();
            prop_assert!(wire.len() <= MAX_MESSAGE_LEN);
            prop_assert_eq!(Message::decode(&wire), Ok(msg));
        }

        #[test]
        fn decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let _ = Message::decode(&Bytes::from(data));
        }

        #[test]
        fn truncation_is_an_error(msg in message(), cut in any::<prop::sample::Index>()) {
            let wire = msg.encode();
            let cut = cut.index(wire.len());
            let short = wire.slice(..cut);
            // A block may be cut to a shorter, still valid block; any other prefix fails.
            if let (Message::Block { .. }, Ok(Message::Block { .. })) = (&msg, Message::decode(&short)) {
                prop_assert!(cut > 5);
            } else {
                prop_assert!(Message::decode(&short).is_err());
            }
        }
    }

    #[test]
    fn bounds_are_enforced() {
        assert_eq!(Message::decode(&Bytes::new()), Err(WireError::Empty));
        assert_eq!(
            Message::decode(&Bytes::from(vec![0xff])),
            Err(WireError::UnknownType(0xff))
        );
        assert_eq!(
            Message::decode(&Bytes::from(vec![T_HANDSHAKE, 2])),
            Err(WireError::UnsupportedVersion(2))
        );
        assert_eq!(
            Message::decode(&Bytes::from(vec![T_BLOCK, 0, 0, 0, 1])),
            Err(WireError::BlockLength(0))
        );
        let mut big = vec![T_BLOCK, 0, 0, 0, 1];
        big.resize(5 + BLOCK_SIZE as usize + 1, 0);
        assert_eq!(
            Message::decode(&Bytes::from(big)),
            Err(WireError::BlockLength(BLOCK_SIZE as usize + 1))
        );
        assert_eq!(
            Message::decode(&Bytes::from(vec![T_HASH_REQUEST, 0, 0, 0, 0, 0, 3])),
            Err(WireError::HashCount(3))
        );
        assert_eq!(
            Message::decode(&Bytes::from(vec![T_HASH_REQUEST, 0, 0, 0, 2, 0, 4])),
            Err(WireError::HashIndex { index: 2, count: 4 })
        );
        assert_eq!(
            Message::decode(&Bytes::from(vec![T_HAVE, 0, 0, 0, 1, 9])),
            Err(WireError::TrailingBytes(1))
        );
        assert_eq!(
            Message::decode(&Bytes::from(vec![0u8; MAX_MESSAGE_LEN + 1])),
            Err(WireError::TooLong(MAX_MESSAGE_LEN + 1))
        );
    }
}

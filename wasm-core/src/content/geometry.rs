//! How a file of a given size is cut into blocks and pieces.
//!
//! Blocks are the 16 KiB Merkle leaves (BEP 52) and the unit of every request.
//! Pieces are the unit of HAVE bookkeeping: the smallest power of two of at least one
//! block such that a file has at most [`MAX_PIECES`] of them, which keeps a bitfield
//! within 2 KiB whatever the file size.

/// Size of a Merkle leaf and of every request (BEP 52).
pub const BLOCK_SIZE: u32 = 16 * 1024;
/// Upper bound on the number of pieces of any file.
pub const MAX_PIECES: u32 = 16 * 1024;
/// Largest file the protocol can describe: block indices are 32-bit.
pub const MAX_SIZE: u64 = (u32::MAX as u64) * BLOCK_SIZE as u64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GeometryError {
    #[error("content of zero bytes has nothing to transfer")]
    Empty,
    #[error("content of {0} bytes is larger than the protocol's limit of {MAX_SIZE} bytes")]
    TooLarge(u64),
}

/// Block and piece layout of one content size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    size: u64,
    num_blocks: u32,
    blocks_per_piece: u32,
    num_pieces: u32,
}

impl Geometry {
    pub fn new(size: u64) -> Result<Self, GeometryError> {
        if size == 0 {
            return Err(GeometryError::Empty);
        }
        if size > MAX_SIZE {
            return Err(GeometryError::TooLarge(size));
        }
        let num_blocks = size.div_ceil(BLOCK_SIZE as u64) as u32;
        let mut blocks_per_piece: u32 = 1;
        while num_blocks.div_ceil(blocks_per_piece) > MAX_PIECES {
            blocks_per_piece *= 2;
        }
        Ok(Geometry {
            size,
            num_blocks,
            blocks_per_piece,
            num_pieces: num_blocks.div_ceil(blocks_per_piece),
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn num_blocks(&self) -> u32 {
        self.num_blocks
    }

    pub fn num_pieces(&self) -> u32 {
        self.num_pieces
    }

    pub fn blocks_per_piece(&self) -> u32 {
        self.blocks_per_piece
    }

    pub fn piece_len(&self) -> u64 {
        self.blocks_per_piece as u64 * BLOCK_SIZE as u64
    }

    /// Leaf count of the Merkle tree once padded to a power of two.
    pub fn padded_leaves(&self) -> u64 {
        (self.num_blocks as u64).next_power_of_two()
    }

    /// Number of layers above the leaves.
    pub fn tree_depth(&self) -> u32 {
        self.padded_leaves().trailing_zeros()
    }

    pub fn block_offset(&self, block: u32) -> u64 {
        block as u64 * BLOCK_SIZE as u64
    }

    /// Length of a block: 16 KiB except for a short last one.
    pub fn block_len(&self, block: u32) -> u32 {
        let start = self.block_offset(block);
        (self.size - start).min(BLOCK_SIZE as u64) as u32
    }

    pub fn last_block(&self) -> u32 {
        self.num_blocks - 1
    }

    pub fn piece_of(&self, block: u32) -> u32 {
        block / self.blocks_per_piece
    }

    /// Blocks of a piece, as a half-open range.
    pub fn piece_blocks(&self, piece: u32) -> std::ops::Range<u32> {
        let start = piece * self.blocks_per_piece;
        start..(start + self.blocks_per_piece).min(self.num_blocks)
    }

    /// Bytes needed for a bitfield of this content's pieces.
    pub fn bitfield_len(&self) -> usize {
        self.num_pieces.div_ceil(8) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_files_have_one_block_pieces() {
        let g = Geometry::new(1).unwrap();
        assert_eq!((g.num_blocks(), g.num_pieces(), g.block_len(0)), (1, 1, 1));
        let g = Geometry::new(16385).unwrap();
        assert_eq!(g.num_blocks(), 2);
        assert_eq!(g.block_len(1), 1);
        assert_eq!(g.tree_depth(), 1);
    }

    #[test]
    fn pieces_grow_to_stay_under_the_bitfield_bound() {
        let g = Geometry::new(2 << 30).unwrap();
        assert_eq!(g.num_blocks(), 131072);
        assert_eq!(g.blocks_per_piece(), 8);
        assert_eq!(g.num_pieces(), MAX_PIECES);
        let g = Geometry::new((2 << 30) + 1).unwrap();
        assert_eq!(g.blocks_per_piece(), 16);
        assert!(g.num_pieces() <= MAX_PIECES);
        assert_eq!(g.piece_blocks(g.num_pieces() - 1).end, g.num_blocks());
    }

    #[test]
    fn rejects_empty_and_huge() {
        assert_eq!(Geometry::new(0), Err(GeometryError::Empty));
        assert!(matches!(
            Geometry::new(MAX_SIZE + 1),
            Err(GeometryError::TooLarge(_))
        ));
    }
}

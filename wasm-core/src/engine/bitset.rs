//! A fixed-length set of indices, convertible to the BEP 3 bitfield layout.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitSet {
    words: Vec<u64>,
    len: u32,
    count: u32,
}

impl BitSet {
    pub fn new(len: u32) -> Self {
        BitSet {
            words: vec![0; (len as usize).div_ceil(64)],
            len,
            count: 0,
        }
    }

    pub fn full(len: u32) -> Self {
        let mut s = BitSet::new(len);
        for i in 0..len {
            s.insert(i);
        }
        s
    }

    pub fn len(&self) -> u32 {
        self.len
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn is_full(&self) -> bool {
        self.count == self.len
    }

    pub fn contains(&self, i: u32) -> bool {
        i < self.len && self.words[(i / 64) as usize] & (1u64 << (i % 64)) != 0
    }

    /// Adds `i`; returns whether it was new. Indices past the end are ignored.
    pub fn insert(&mut self, i: u32) -> bool {
        if i >= self.len {
            return false;
        }
        let w = &mut self.words[(i / 64) as usize];
        let bit = 1u64 << (i % 64);
        if *w & bit != 0 {
            return false;
        }
        *w |= bit;
        self.count += 1;
        true
    }

    /// Removes `i`; returns whether it was present.
    pub fn remove(&mut self, i: u32) -> bool {
        if i >= self.len {
            return false;
        }
        let w = &mut self.words[(i / 64) as usize];
        let bit = 1u64 << (i % 64);
        if *w & bit == 0 {
            return false;
        }
        *w &= !bit;
        self.count -= 1;
        true
    }

    pub fn clear(&mut self) {
        self.words.iter_mut().for_each(|w| *w = 0);
        self.count = 0;
    }

    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let bit = w.trailing_zeros();
                w &= w - 1;
                Some(wi as u32 * 64 + bit)
            })
        })
    }

    /// BEP 3 layout: index 0 is the high bit of byte 0.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![0u8; (self.len as usize).div_ceil(8)];
        for i in self.iter() {
            out[(i / 8) as usize] |= 0x80 >> (i % 8);
        }
        out
    }

    /// Parses a BEP 3 bitfield of exactly `len` bits; spare bits must be zero.
    pub fn from_bytes(bytes: &[u8], len: u32) -> Option<BitSet> {
        if bytes.len() != (len as usize).div_ceil(8) {
            return None;
        }
        let mut s = BitSet::new(len);
        for (bi, &b) in bytes.iter().enumerate() {
            for bit in 0..8 {
                if b & (0x80 >> bit) != 0 {
                    let i = bi as u32 * 8 + bit;
                    if i >= len {
                        return None;
                    }
                    s.insert(i);
                }
            }
        }
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitfield_layout_round_trips() {
        let mut s = BitSet::new(10);
        s.insert(0);
        s.insert(9);
        assert_eq!(s.to_bytes(), vec![0x80, 0x40]);
        assert_eq!(BitSet::from_bytes(&[0x80, 0x40], 10), Some(s));
        assert_eq!(BitSet::from_bytes(&[0x80, 0x20], 10), None, "spare bit set");
        assert_eq!(BitSet::from_bytes(&[0x80], 10), None, "wrong length");
        assert!(BitSet::full(130).is_full());
        assert_eq!(BitSet::full(130).iter().count(), 130);
    }
}

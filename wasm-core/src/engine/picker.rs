//! Rarest-first piece selection in O(1) per availability change.
//!
//! The pickable pieces (hashes proven, some block neither held nor requested) live in
//! one array kept sorted by availability: bucket `a` holds the pieces exactly `a` peers
//! have, and `bucket_start[a]` is where it begins. A change of one piece's availability
//! swaps it across one bucket boundary, as libtorrent's piece picker does.

const NONE: u32 = u32::MAX;

#[derive(Debug, Clone)]
pub struct PiecePicker {
    avail: Vec<u32>,
    order: Vec<u32>,
    pos: Vec<u32>,
    /// `bucket_start[a]` = first index in `order` with availability >= a; the entry
    /// past the highest bucket equals `order.len()`.
    bucket_start: Vec<u32>,
}

impl PiecePicker {
    pub fn new(num_pieces: u32) -> Self {
        PiecePicker {
            avail: vec![0; num_pieces as usize],
            order: Vec::new(),
            pos: vec![NONE; num_pieces as usize],
            bucket_start: vec![0, 0],
        }
    }

    pub fn availability(&self, piece: u32) -> u32 {
        self.avail[piece as usize]
    }

    pub fn contains(&self, piece: u32) -> bool {
        self.pos[piece as usize] != NONE
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    fn ensure_bucket(&mut self, a: u32) {
        while self.bucket_start.len() < a as usize + 2 {
            self.bucket_start.push(self.order.len() as u32);
        }
    }

    fn swap(&mut self, i: u32, j: u32) {
        if i == j {
            return;
        }
        self.order.swap(i as usize, j as usize);
        self.pos[self.order[i as usize] as usize] = i;
        self.pos[self.order[j as usize] as usize] = j;
    }

    pub fn increment(&mut self, piece: u32) {
        let a = self.avail[piece as usize];
        self.ensure_bucket(a + 1);
        if self.contains(piece) {
            // Move to the last slot of bucket a, then shift the boundary over it.
            let last = self.bucket_start[a as usize + 1] - 1;
            self.swap(self.pos[piece as usize], last);
            self.bucket_start[a as usize + 1] -= 1;
        }
        self.avail[piece as usize] = a + 1;
    }

    pub fn decrement(&mut self, piece: u32) {
        let a = self.avail[piece as usize];
        if a == 0 {
            return;
        }
        if self.contains(piece) {
            let first = self.bucket_start[a as usize];
            self.swap(self.pos[piece as usize], first);
            self.bucket_start[a as usize] += 1;
        }
        self.avail[piece as usize] = a - 1;
    }

    pub fn insert(&mut self, piece: u32) {
        if self.contains(piece) {
            return;
        }
        let a = self.avail[piece as usize];
        self.ensure_bucket(a);
        self.order.push(piece);
        self.pos[piece as usize] = self.order.len() as u32 - 1;
        let top = self.bucket_start.len() - 1;
        self.bucket_start[top] = self.order.len() as u32;
        // Bubble down past every higher bucket by swapping with each bucket's first.
        let mut b = top - 1;
        while b > a as usize {
            let first = self.bucket_start[b];
            self.swap(self.pos[piece as usize], first);
            self.bucket_start[b] += 1;
            b -= 1;
        }
    }

    pub fn remove(&mut self, piece: u32) {
        if !self.contains(piece) {
            return;
        }
        let a = self.avail[piece as usize] as usize;
        let top = self.bucket_start.len() - 1;
        // Bubble up to the very end by swapping with each bucket's last.
        for b in a..top {
            let last = self.bucket_start[b + 1] - 1;
            self.swap(self.pos[piece as usize], last);
            if b + 1 < top {
                self.bucket_start[b + 1] -= 1;
            }
        }
        self.order.pop();
        self.bucket_start[top] = self.order.len() as u32;
        self.pos[piece as usize] = NONE;
    }

    /// The rarest pickable piece (availability at least 1) that `wanted` accepts,
    /// starting each bucket at a position derived from `salt` so that different
    /// downloaders spread over different pieces.
    pub fn pick(&self, salt: u64, mut wanted: impl FnMut(u32) -> bool) -> Option<u32> {
        for a in 1..self.bucket_start.len() - 1 {
            let start = self.bucket_start[a] as usize;
            let end = self.bucket_start[a + 1] as usize;
            let len = end - start;
            if len == 0 {
                continue;
            }
            let offset = (salt % len as u64) as usize;
            for k in 0..len {
                let piece = self.order[start + (offset + k) % len];
                if wanted(piece) {
                    return Some(piece);
                }
            }
        }
        None
    }

    #[cfg(test)]
    fn check(&self) {
        for (i, &p) in self.order.iter().enumerate() {
            assert_eq!(self.pos[p as usize], i as u32);
            let a = self.avail[p as usize] as usize;
            assert!(
                self.bucket_start[a] as usize <= i,
                "piece {p} below its bucket"
            );
            assert!(
                i < self.bucket_start[a + 1] as usize,
                "piece {p} above its bucket"
            );
        }
        assert_eq!(
            *self.bucket_start.last().unwrap() as usize,
            self.order.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Inc(u32),
        Dec(u32),
        Insert(u32),
        Remove(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u32..20).prop_map(Op::Inc),
            (0u32..20).prop_map(Op::Dec),
            (0u32..20).prop_map(Op::Insert),
            (0u32..20).prop_map(Op::Remove),
        ]
    }

    proptest! {
        #[test]
        fn stays_sorted_and_picks_the_rarest(ops in proptest::collection::vec(op(), 0..300), salt in any::<u64>()) {
            let mut p = PiecePicker::new(20);
            let mut model_avail = [0u32; 20];
            let mut model_in = [false; 20];
            for o in ops {
                match o {
                    Op::Inc(i) => { p.increment(i); model_avail[i as usize] += 1; }
                    Op::Dec(i) => { p.decrement(i); model_avail[i as usize] = model_avail[i as usize].saturating_sub(1); }
                    Op::Insert(i) => { p.insert(i); model_in[i as usize] = true; }
                    Op::Remove(i) => { p.remove(i); model_in[i as usize] = false; }
                }
                p.check();
            }
            let best = (0..20u32)
                .filter(|&i| model_in[i as usize] && model_avail[i as usize] > 0 && i % 2 == 0)
                .map(|i| model_avail[i as usize])
                .min();
            let picked = p.pick(salt, |i| i % 2 == 0);
            prop_assert_eq!(picked.map(|i| model_avail[i as usize]), best);
            for i in 0..20u32 {
                prop_assert_eq!(p.contains(i), model_in[i as usize]);
                prop_assert_eq!(p.availability(i), model_avail[i as usize]);
            }
        }
    }
}

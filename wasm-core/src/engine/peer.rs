//! What the engine knows about one connected peer.

use std::collections::VecDeque;
use std::time::Duration;

use crate::content::{BLOCK_SIZE, Hash32};

use super::bitset::BitSet;
use super::rate::RateEstimator;
use super::{PeerId, Time};

/// Smallest and largest number of block requests kept in flight to one peer.
pub const MIN_WINDOW: u32 = 4;

#[derive(Debug, Clone, Copy)]
pub struct InFlight {
    pub block: u32,
    pub sent: Time,
    pub in_order: bool,
}

#[derive(Debug)]
pub struct Peer {
    pub id: PeerId,
    pub handshaken: bool,
    pub node_id: u64,
    pub root: Option<Hash32>,
    pub serves_hashes: bool,
    pub pieces: BitSet,
    /// Whether this peer's pieces are counted in the picker's availability (it is
    /// handshaken and holds content under our current root).
    pub counted: bool,
    pub inflight: VecDeque<InFlight>,
    pub in_order_inflight: u32,
    pub window: u32,
    pub rate: RateEstimator,
    pub timeouts_in_row: u32,
    pub snubbed_until: Option<Time>,
    pub hash_request: Option<(u32, Time)>,
    pub hashes_refused: bool,
    pub upload_queue: VecDeque<u32>,
    pub last_recv: Time,
    pub last_sent: Time,
    pub bytes_received: u64,
    /// The receive rate measured when the last block arrived. Requests are timed
    /// against it: the current rate falls to zero exactly when a peer freezes, and
    /// would stretch the timeout just when it should fire.
    pub delivered_rate: f64,
    /// Spreads this peer's rarest-first picks over equally rare pieces.
    pub salt: u64,
}

impl Peer {
    pub fn new(id: PeerId, num_pieces: u32, now: Time, salt: u64) -> Self {
        Peer {
            id,
            handshaken: false,
            node_id: 0,
            root: None,
            serves_hashes: false,
            pieces: BitSet::new(num_pieces),
            counted: false,
            inflight: VecDeque::new(),
            in_order_inflight: 0,
            window: MIN_WINDOW,
            rate: RateEstimator::new(Duration::from_secs(2)),
            timeouts_in_row: 0,
            snubbed_until: None,
            hash_request: None,
            hashes_refused: false,
            upload_queue: VecDeque::new(),
            last_recv: now,
            last_sent: now,
            bytes_received: 0,
            delivered_rate: 0.0,
            salt,
        }
    }

    pub fn is_complete(&self) -> bool {
        self.pieces.is_full()
    }

    pub fn can_serve_hashes(&self) -> bool {
        !self.hashes_refused && (self.serves_hashes || self.is_complete())
    }

    pub fn snubbed(&self, now: Time) -> bool {
        self.snubbed_until.is_some_and(|t| now < t)
    }

    /// Removes a block from the in-flight list; returns whether it was there.
    pub fn take_inflight(&mut self, block: u32) -> bool {
        match self.inflight.iter().position(|f| f.block == block) {
            Some(i) => {
                if let Some(f) = self.inflight.remove(i)
                    && f.in_order
                {
                    self.in_order_inflight -= 1;
                }
                true
            }
            None => false,
        }
    }

    /// Sizes the pipeline from the observed rate: enough requests to cover
    /// `target` of transfer, so the peer's uplink never waits on our next request.
    pub fn resize_window(&mut self, now: Time, target: Duration, max_window: u32) {
        let rate = self.rate.rate(now);
        let want = (rate * target.as_secs_f64() / BLOCK_SIZE as f64).ceil() as u32 + 2;
        // Grow at most by doubling per block so one burst cannot overshoot wildly.
        let grown = want.min(self.window.saturating_mul(2));
        self.window = grown.clamp(MIN_WINDOW, max_window);
    }

    /// How long one request may wait before it counts as lost.
    pub fn request_timeout(&self, floor: Duration) -> Duration {
        if self.bytes_received == 0 {
            // Never delivered anything: no reason to wait longer than the floor.
            return floor;
        }
        let rate = self.delivered_rate.max(16.0 * 1024.0);
        let queued = self.window as f64 * BLOCK_SIZE as f64 / rate;
        Duration::from_secs_f64((queued * 3.0).min(60.0)).max(floor)
    }
}

//! The origin server as a source: range requests, reassembly of streamed bytes into
//! blocks, rate, and retry backoff.

use std::time::Duration;

use bytes::BytesMut;

use super::Time;
use super::rate::RateEstimator;

/// Which blocks an origin range was asked for (the download's plan decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OriginPass {
    /// Blocks no peer has.
    Gaps,
    /// Blocks no peer has, in the chunks this engine owns within a crowd.
    Owned,
    /// Any unclaimed block: the peers are too slow or unproven.
    Any,
    /// Blocks requested from peers but not yet arrived, near the end.
    Endgame,
}

#[derive(Debug)]
pub struct OriginRequest {
    pub id: u64,
    /// Blocks `[start, end)`.
    pub start: u32,
    pub end: u32,
    /// Next byte offset the driver must deliver.
    pub next_offset: u64,
    /// Bytes of the block being assembled.
    pub partial: BytesMut,
    /// Why the range was asked for.
    pub pass: OriginPass,
}

impl OriginRequest {
    /// The first block not yet fully received; `partial` holds its start.
    pub fn first_incomplete(&self) -> u32 {
        ((self.next_offset - self.partial.len() as u64) / crate::content::BLOCK_SIZE as u64) as u32
    }
}

#[derive(Debug)]
pub struct OriginSource {
    pub enabled: bool,
    pub max_connections: u32,
    pub requests: Vec<OriginRequest>,
    pub next_id: u64,
    pub rate: RateEstimator,
    /// Highest rate the origin has shown, remembered while it is idle.
    pub peak_rate: f64,
    pub failures_in_row: u32,
    pub retry_at: Option<Time>,
    /// Nothing was found to fetch; skip planning until something changes.
    pub idle: bool,
    pub idle_at: Time,
    /// Since when only other crowd members' chunks have been missing.
    pub others_gaps_since: Option<Time>,
    /// A one-block fetch checking a peer-supplied root is in flight.
    pub sample: Option<u64>,
}

/// Consecutive failures after which the origin is given up on.
pub const MAX_ORIGIN_FAILURES: u32 = 8;

impl OriginSource {
    pub fn new(enabled: bool, max_connections: u32) -> Self {
        OriginSource {
            enabled,
            max_connections: max_connections.max(1),
            requests: Vec::new(),
            next_id: 1,
            rate: RateEstimator::new(Duration::from_secs(2)),
            peak_rate: 0.0,
            failures_in_row: 0,
            retry_at: None,
            idle: false,
            idle_at: Time::ZERO,
            others_gaps_since: None,
            sample: None,
        }
    }

    pub fn find(&mut self, id: u64) -> Option<&mut OriginRequest> {
        self.requests.iter_mut().find(|r| r.id == id)
    }

    pub fn remove(&mut self, id: u64) -> Option<OriginRequest> {
        let i = self.requests.iter().position(|r| r.id == id)?;
        if self.sample == Some(id) {
            self.sample = None;
        }
        Some(self.requests.swap_remove(i))
    }

    /// Blocks per new range: the connections together hold about `horizon` of
    /// transfer at the observed rate, so the in-order prefix moves at least that often.
    pub fn range_blocks(&self, now: Time, horizon: Duration) -> u32 {
        let rate = self.rate.rate(now);
        if rate <= 0.0 {
            // Unknown rate: small first ranges, so peers that turn up soon are not
            // locked out of a large part of the file.
            return 16;
        }
        let blocks = rate * horizon.as_secs_f64()
            / crate::content::BLOCK_SIZE as f64
            / self.max_connections as f64;
        (blocks as u32).clamp(16, 4096)
    }

    pub fn backoff(&mut self, now: Time) {
        self.failures_in_row += 1;
        let secs = 0.25 * 2f64.powi(self.failures_in_row.min(7) as i32);
        self.retry_at = Some(now + Duration::from_secs_f64(secs.min(30.0)));
    }

    pub fn waiting_to_retry(&self, now: Time) -> bool {
        self.retry_at.is_some_and(|t| now < t)
    }

    pub fn usable(&self) -> bool {
        self.enabled && self.failures_in_row < MAX_ORIGIN_FAILURES
    }
}

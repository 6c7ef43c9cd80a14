//! Throughput estimation and rate limiting over driver-supplied time.

use std::time::Duration;

use super::Time;

/// Exponentially decaying byte counter: an estimate of recent throughput that needs no
/// periodic ticks. Before one time constant has passed it divides by the time observed
/// so far, so a new source's rate is known within its first few blocks.
#[derive(Debug, Clone)]
pub struct RateEstimator {
    tau_secs: f64,
    acc: f64,
    last: Option<Time>,
    first: Option<Time>,
}

impl RateEstimator {
    pub fn new(tau: Duration) -> Self {
        RateEstimator {
            tau_secs: tau.as_secs_f64(),
            acc: 0.0,
            last: None,
            first: None,
        }
    }

    fn decay(&self, now: Time) -> f64 {
        match self.last {
            Some(last) => (-now.since(last).as_secs_f64() / self.tau_secs).exp(),
            None => 0.0,
        }
    }

    pub fn record(&mut self, now: Time, bytes: u64) {
        self.acc = self.acc * self.decay(now) + bytes as f64;
        self.last = Some(now);
        self.first.get_or_insert(now);
    }

    /// Marks the moment the source was first asked for data, so the ramp-up estimate
    /// counts the wait for the first byte.
    pub fn start(&mut self, now: Time) {
        self.first.get_or_insert(now);
    }

    /// Bytes per second.
    pub fn rate(&self, now: Time) -> f64 {
        let Some(first) = self.first else {
            return 0.0;
        };
        let observed = now.since(first).as_secs_f64().max(0.05);
        self.acc * self.decay(now) / observed.min(self.tau_secs)
    }
}

/// Token bucket; a rate of 0 means unlimited.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u64,
    burst: f64,
    tokens: f64,
    last: Time,
}

impl TokenBucket {
    pub fn new(rate: u64, now: Time) -> Self {
        // A quarter second of burst, but always room for one block.
        let burst = (rate as f64 / 4.0).max(64.0 * 1024.0);
        TokenBucket {
            rate,
            burst,
            tokens: burst,
            last: now,
        }
    }

    pub fn unlimited(&self) -> bool {
        self.rate == 0
    }

    fn refill(&mut self, now: Time) {
        if now > self.last {
            self.tokens = (self.tokens + now.since(self.last).as_secs_f64() * self.rate as f64)
                .min(self.burst);
            self.last = now;
        }
    }

    /// Takes bytes, possibly into debt: callers send while `in_credit`, so one message
    /// larger than the remaining tokens is never stuck, and data that already arrived
    /// (origin bytes) is always accounted.
    pub fn charge(&mut self, now: Time, bytes: u64) {
        if !self.unlimited() {
            self.refill(now);
            self.tokens -= bytes as f64;
        }
    }

    pub fn in_credit(&mut self, now: Time) -> bool {
        if self.unlimited() {
            return true;
        }
        self.refill(now);
        self.tokens > 0.0
    }

    /// When the bucket will be back in credit, if it is in debt.
    pub fn ready_at(&self, now: Time) -> Option<Time> {
        if self.unlimited() || self.tokens > 0.0 {
            return None;
        }
        let secs = (-self.tokens + 1.0) / self.rate as f64;
        Some(now + Duration::from_secs_f64(secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_stream_estimates_its_rate() {
        let mut r = RateEstimator::new(Duration::from_secs(1));
        // 1 MB/s in 10 KB steps every 10 ms for 5 s.
        for i in 0..500 {
            r.record(Time::from_millis(i * 10), 10_000);
        }
        let rate = r.rate(Time::from_millis(4990));
        assert!((rate - 1_000_000.0).abs() < 100_000.0, "{rate}");
        // Silence decays the estimate.
        assert!(r.rate(Time::from_millis(10_000)) < 10_000.0);
    }

    #[test]
    fn bucket_paces() {
        let t0 = Time::ZERO;
        let mut b = TokenBucket::new(100_000, t0);
        let mut sent = 0;
        let mut now = t0;
        for step in 0..1000 {
            now = Time::from_millis(step);
            while b.in_credit(now) {
                b.charge(now, 1000);
                sent += 1000;
            }
        }
        // About 100 KB over one second, plus the initial burst.
        assert!(sent <= 100_000 + 64 * 1024 + 1000, "{sent}");
        assert!(sent >= 100_000, "{sent}");
        assert!(b.ready_at(now).is_some());
        let mut unlimited = TokenBucket::new(0, t0);
        unlimited.charge(t0, u64::MAX);
        assert!(unlimited.in_credit(t0));
    }
}

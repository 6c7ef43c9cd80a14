//! How many parallel range connections the origin gets: a hill climb, the same in
//! both drivers (time passed in). Start with
//! one, double while doubling pays (the total rate grows by a fifth or more), step
//! back when it does not, and try again now and then. A fast local origin stays on
//! one connection (more would only compete for the CPU); an origin that throttles
//! each connection climbs to the maximum within a second or two.

use std::time::Duration;

use crate::engine::Time;

/// How long each setting is measured.
const WINDOW: Duration = Duration::from_millis(300);
/// A setting must beat the previous one by this factor to be kept.
const GAIN: f64 = 1.2;
/// After settling, try one more connection again after this long.
const REPROBE: Duration = Duration::from_secs(15);

pub struct Climb {
    max: u32,
    current: u32,
    /// The rate the setting before this one gave, and that setting.
    previous: Option<(u32, f64)>,
    window_start: Time,
    window_bytes: u64,
    settled_at: Option<Time>,
}

impl Climb {
    pub fn new(max: u32, now: Time) -> Climb {
        Climb {
            max: max.max(1),
            current: 1,
            previous: None,
            window_start: now,
            window_bytes: 0,
            settled_at: None,
        }
    }

    /// Starts the climb at `n` connections (one per source, with mirrors).
    pub fn starting_at(mut self, n: u32) -> Climb {
        self.current = n.clamp(1, self.max);
        self
    }

    pub fn current(&self) -> u32 {
        self.current
    }

    /// Called now and then with the origin bytes received so far; returns a new
    /// connection count when it changes.
    pub fn tick(&mut self, now: Time, origin_bytes: u64) -> Option<u32> {
        let elapsed = now.since(self.window_start);
        if elapsed < WINDOW {
            return None;
        }
        if origin_bytes == self.window_bytes && self.previous.is_none() {
            // Nothing arrived yet (probing, resuming): no measurement to go on.
            self.window_start = now;
            return None;
        }
        let rate = (origin_bytes - self.window_bytes) as f64 / elapsed.as_secs_f64();
        self.window_start = now;
        self.window_bytes = origin_bytes;
        if let Some(at) = self.settled_at {
            if now.since(at) < REPROBE || self.current >= self.max {
                return None;
            }
            self.settled_at = None;
            return self.step_up(rate);
        }
        match self.previous {
            Some((before, prev_rate)) if rate < prev_rate * GAIN => {
                // More connections did not pay: back to what we had.
                self.settled_at = Some(now);
                self.previous = None;
                if before != self.current {
                    self.current = before;
                    return Some(before);
                }
                None
            }
            _ if self.current < self.max => self.step_up(rate),
            _ => {
                self.settled_at = Some(now);
                self.previous = None;
                None
            }
        }
    }

    fn step_up(&mut self, rate: f64) -> Option<u32> {
        self.previous = Some((self.current, rate));
        self.current = (self.current * 2).min(self.max);
        Some(self.current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds a simulated origin whose total rate for `n` connections is `rate(n)`.
    fn settle(max: u32, rate: impl Fn(u32) -> f64) -> Vec<u32> {
        let start = Time::ZERO;
        let mut a = Climb::new(max, start);
        let mut bytes = 0.0;
        let mut seen = vec![a.current()];
        for step in 1..=40 {
            bytes += rate(a.current()) * 0.1;
            let now = start + Duration::from_millis(100 * step);
            if let Some(n) = a.tick(now, bytes as u64) {
                seen.push(n);
            }
        }
        seen
    }

    #[test]
    fn climbs_when_connections_are_throttled_and_stays_when_not() {
        // Each connection limited to 1 MB/s: up to the maximum.
        assert_eq!(settle(4, |n| n as f64 * 1e6), vec![1, 2, 4]);
        // A fast local origin: a second connection gains nothing, back to one.
        assert_eq!(settle(4, |_| 1e9), vec![1, 2, 1]);
        // Gains up to two, not beyond.
        assert_eq!(settle(4, |n| n.min(2) as f64 * 1e6), vec![1, 2, 4, 2]);
        // A maximum of one never moves.
        assert_eq!(settle(1, |n| n as f64 * 1e6), vec![1]);
    }
}

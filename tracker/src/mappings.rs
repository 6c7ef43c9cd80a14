//! Trusted groups' mapping records, as the tracker keeps them.
//!
//! The tracker holds no group secret, so it cannot tell a member's record from a
//! forger's: it keeps a few per id and members take the one that verifies. What it can
//! bound is how much one network address gets to write:
//! - under one id, at most [`MAX_RECORDS_PER_SOURCE`] records from one source, so a
//!   flood from one address replaces only its own records and never a member's;
//! - when an id is full, the record dropped is the oldest from the source holding the
//!   most, so pushing out a member's record takes as many addresses as the id has
//!   places;
//! - puts from one source are rate-limited (a token bucket: a burst, then so many a
//!   minute), so one address cannot churn the whole table of ids.
//!
//! A source is an IPv4 address, or an IPv6 /64 (what one host usually holds).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Instant;

use swarmload_core::group_mapping::{MapId, Record};
use swarmload_core::tracker_protocol::MAX_RECORDS_PER_ID;

/// Records one source may hold under one id.
pub const MAX_RECORDS_PER_SOURCE: usize = 2;

/// Sources whose put budgets are remembered; beyond this, the ones with a full budget
/// (nothing to remember) are forgotten first.
const MAX_TRACKED_SOURCES: usize = 4096;

/// Where a put came from, as far as rate and place limits go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(u128);

impl Source {
    pub fn of(addr: IpAddr) -> Source {
        match addr {
            IpAddr::V4(v4) => Source(u32::from(v4) as u128),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source(u32::from(v4) as u128),
                // The top 64 bits, and a marker so no /64 equals an IPv4 address.
                None => Source((u128::from(v6) & !(u64::MAX as u128)) | 1),
            },
        }
    }
}

/// Why a put was not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutRefused {
    /// This source has used up its puts for now.
    TooMany,
}

impl std::fmt::Display for PutRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PutRefused::TooMany => write!(f, "too many mapping puts from this address; try later"),
        }
    }
}

struct Kept {
    record: Record,
    from: Source,
}

/// How many puts one source may make: `burst` at once, refilled at `per_minute`.
#[derive(Debug, Clone, Copy)]
pub struct PutRate {
    pub burst: u32,
    pub per_minute: u32,
}

/// One source's token bucket.
struct Budget {
    tokens: f64,
    at: Instant,
}

pub struct Mappings {
    max_ids: usize,
    rate: PutRate,
    /// Newest first.
    records: HashMap<MapId, Vec<Kept>>,
    /// Ids in the order they were first stored: the oldest is forgotten first.
    order: VecDeque<MapId>,
    budgets: HashMap<Source, Budget>,
}

impl Mappings {
    pub fn new(max_ids: usize, rate: PutRate) -> Mappings {
        Mappings {
            max_ids,
            rate,
            records: HashMap::new(),
            order: VecDeque::new(),
            budgets: HashMap::new(),
        }
    }

    /// The records under `id`, newest first.
    pub fn get(&self, id: &MapId) -> Vec<Record> {
        self.records
            .get(id)
            .map(|l| l.iter().map(|k| k.record.clone()).collect())
            .unwrap_or_default()
    }

    pub fn put(
        &mut self,
        id: MapId,
        record: Record,
        from: IpAddr,
        now: Instant,
    ) -> Result<(), PutRefused> {
        let from = Source::of(from);
        self.spend(from, now)?;
        if !self.records.contains_key(&id) {
            while self.records.len() >= self.max_ids.max(1) {
                let Some(old) = self.order.pop_front() else {
                    break;
                };
                self.records.remove(&old);
            }
            self.order.push_back(id);
        }
        let list = self.records.entry(id).or_default();
        // A repeat moves to the front rather than taking a second place.
        list.retain(|k| k.record != record);
        list.insert(0, Kept { record, from });
        // This source's oldest beyond its share goes first.
        let mine: Vec<usize> = (0..list.len()).filter(|&i| list[i].from == from).collect();
        if let Some(&oldest) = mine.get(MAX_RECORDS_PER_SOURCE) {
            list.remove(oldest);
        }
        if list.len() > MAX_RECORDS_PER_ID {
            // The oldest record of the source that holds the most.
            let mut held: HashMap<Source, usize> = HashMap::new();
            for k in list.iter() {
                *held.entry(k.from).or_default() += 1;
            }
            let most = held.values().copied().max().unwrap_or(0);
            if let Some(i) = (0..list.len()).rev().find(|&i| held[&list[i].from] == most) {
                list.remove(i);
            }
        }
        Ok(())
    }

    fn spend(&mut self, from: Source, now: Instant) -> Result<(), PutRefused> {
        let (capacity, per_sec) = (
            f64::from(self.rate.burst.max(1)),
            f64::from(self.rate.per_minute) / 60.0,
        );
        if !self.budgets.contains_key(&from) && self.budgets.len() >= MAX_TRACKED_SOURCES {
            self.budgets
                .retain(|_, b| refilled(b, now, capacity, per_sec) < capacity);
            if self.budgets.len() >= MAX_TRACKED_SOURCES {
                // Every remembered source is mid-burst: forget the fullest.
                let fullest = self
                    .budgets
                    .iter()
                    .max_by(|a, b| a.1.tokens.total_cmp(&b.1.tokens))
                    .map(|(s, _)| *s);
                if let Some(s) = fullest {
                    self.budgets.remove(&s);
                }
            }
        }
        let budget = self.budgets.entry(from).or_insert(Budget {
            tokens: capacity,
            at: now,
        });
        budget.tokens = refilled(budget, now, capacity, per_sec);
        budget.at = now;
        if budget.tokens < 1.0 {
            return Err(PutRefused::TooMany);
        }
        budget.tokens -= 1.0;
        Ok(())
    }
}

fn refilled(b: &Budget, now: Instant, capacity: f64, per_sec: f64) -> f64 {
    let secs = now.saturating_duration_since(b.at).as_secs_f64();
    (b.tokens + secs * per_sec).min(capacity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use swarmload_core::content::Hash32;

    fn record(n: u8) -> Record {
        Record {
            sha256: Hash32([n; 32]),
            size: 5,
            mac: [n; 32],
        }
    }

    fn fast() -> PutRate {
        PutRate {
            burst: 1000,
            per_minute: 1000,
        }
    }

    fn addr(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn one_source_replaces_only_its_own_records() {
        let mut m = Mappings::new(10, fast());
        let id = MapId([1; 20]);
        let now = Instant::now();
        m.put(id, record(1), addr(1), now).unwrap();
        for n in 10..30 {
            m.put(id, record(n), addr(2), now).unwrap();
        }
        let got = m.get(&id);
        assert_eq!(got, vec![record(29), record(28), record(1)]);
    }

    #[test]
    fn a_full_id_drops_from_the_source_holding_the_most() {
        let mut m = Mappings::new(10, fast());
        let id = MapId([1; 20]);
        let now = Instant::now();
        m.put(id, record(1), addr(1), now).unwrap();
        // Seven more sources, two records each: the member's one record stays.
        for s in 2..9u8 {
            m.put(id, record(s * 10), addr(s), now).unwrap();
            m.put(id, record(s * 10 + 1), addr(s), now).unwrap();
        }
        let got = m.get(&id);
        assert_eq!(got.len(), MAX_RECORDS_PER_ID);
        assert!(got.contains(&record(1)), "{got:?}");
        // A repeat moves to the front without a second place.
        m.put(id, record(1), addr(1), now).unwrap();
        let got = m.get(&id);
        assert_eq!(got[0], record(1));
        assert_eq!(got.iter().filter(|r| **r == record(1)).count(), 1);
    }

    #[test]
    fn the_oldest_id_is_forgotten_first() {
        let mut m = Mappings::new(2, fast());
        let now = Instant::now();
        for n in 1..=3u8 {
            m.put(MapId([n; 20]), record(n), addr(n), now).unwrap();
        }
        assert!(m.get(&MapId([1; 20])).is_empty());
        assert_eq!(m.get(&MapId([3; 20])), vec![record(3)]);
    }

    #[test]
    fn puts_are_rate_limited_per_source_and_refill() {
        let mut m = Mappings::new(
            1000,
            PutRate {
                burst: 6,
                per_minute: 6,
            },
        );
        let now = Instant::now();
        for n in 0..6u8 {
            m.put(MapId([n; 20]), record(n), addr(1), now).unwrap();
        }
        assert_eq!(
            m.put(MapId([7; 20]), record(7), addr(1), now),
            Err(PutRefused::TooMany)
        );
        // Another address is not held back.
        m.put(MapId([7; 20]), record(7), addr(2), now).unwrap();
        // Six a minute: one more after ten seconds.
        let later = now + Duration::from_secs(10);
        m.put(MapId([8; 20]), record(8), addr(1), later).unwrap();
        assert!(m.put(MapId([9; 20]), record(9), addr(1), later).is_err());
    }

    #[test]
    fn an_ipv6_host_is_one_source_per_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(Source::of(a), Source::of(b));
        assert_ne!(Source::of(a), Source::of(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(Source::of(mapped), Source::of(addr(1)));
        // No /64 is taken for an IPv4 address.
        let low: IpAddr = "::".parse().unwrap();
        assert_ne!(Source::of(low), Source::of(IpAddr::from([0, 0, 0, 0])));
    }

    #[test]
    fn the_budgets_kept_stay_bounded() {
        let mut m = Mappings::new(10, fast());
        let now = Instant::now();
        for n in 0..(MAX_TRACKED_SOURCES as u32 + 100) {
            let a = IpAddr::from((0x0a00_0000u32 + n).to_be_bytes());
            m.put(MapId([1; 20]), record(1), a, now).unwrap();
        }
        assert!(m.budgets.len() <= MAX_TRACKED_SOURCES);
    }
}

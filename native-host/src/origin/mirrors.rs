//! Other servers with the same bytes (Metalink/HTTP `rel=duplicate`, a Metalink's
//! `<url>`s) as extra origin sources: the engine's origin ranges are spread over the
//! origin and its mirrors, each range to the source with the fewest in flight. A
//! mirror that answers wrongly (another size, no ranges, errors) is dropped and its
//! range goes on at the origin.
//!
//! Mirrors are used only for content with a trusted SHA-256: a mirror's bytes are
//! checked against it like everyone else's. Nothing about a mirror is trusted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use url::Url;

use super::local_network::is_local;

/// Failed attempts in a row after which a mirror is dropped.
const MIRROR_ATTEMPTS: u32 = 3;

#[derive(Debug)]
pub struct Mirror {
    pub url: Url,
    in_flight: AtomicUsize,
    failures: AtomicU32,
    dropped: AtomicBool,
    /// Bytes this mirror delivered.
    pub bytes: AtomicU64,
}

/// Where one attempt goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Origin,
    Mirror(usize),
}

#[derive(Debug, Default)]
pub struct Mirrors {
    list: Vec<Mirror>,
    origin_in_flight: AtomicUsize,
    /// What the mirrors are asked with (see `origin::mirror_client`).
    client: Option<reqwest::Client>,
}

/// Counts an attempt as in flight at its source while it lives.
pub struct InFlight {
    mirrors: Arc<Mirrors>,
    source: Source,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.mirrors
            .counter(self.source)
            .fetch_sub(1, Ordering::Relaxed);
    }
}

impl Mirrors {
    /// The mirrors of a download from `download`. Without a client for them (the
    /// TLS set-up failed), there are none.
    pub fn new(urls: Vec<Url>, download: &Url) -> Arc<Mirrors> {
        let client = match urls.is_empty() {
            true => None,
            false => super::mirror_client(!is_local(download))
                .inspect_err(|e| tracing::warn!("no client for mirrors: {e}"))
                .ok(),
        };
        let urls = if client.is_some() { urls } else { Vec::new() };
        Arc::new(Mirrors {
            client,
            list: urls
                .into_iter()
                .map(|url| Mirror {
                    url,
                    in_flight: AtomicUsize::new(0),
                    failures: AtomicU32::new(0),
                    dropped: AtomicBool::new(false),
                    bytes: AtomicU64::new(0),
                })
                .collect(),
            origin_in_flight: AtomicUsize::new(0),
        })
    }

    /// The client for mirror requests; there is one whenever there are mirrors.
    pub fn client(&self) -> Option<&reqwest::Client> {
        self.client.as_ref()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn get(&self, i: usize) -> &Mirror {
        &self.list[i]
    }

    fn counter(&self, source: Source) -> &AtomicUsize {
        match source {
            Source::Origin => &self.origin_in_flight,
            Source::Mirror(i) => &self.list[i].in_flight,
        }
    }

    /// The source with the fewest attempts in flight (the origin on a tie), counted
    /// as busy until the returned guard drops.
    pub fn pick(self: &Arc<Self>) -> InFlight {
        let mut best = (
            Source::Origin,
            self.origin_in_flight.load(Ordering::Relaxed),
        );
        for (i, m) in self.list.iter().enumerate() {
            if m.dropped.load(Ordering::Relaxed) {
                continue;
            }
            let n = m.in_flight.load(Ordering::Relaxed);
            if n < best.1 {
                best = (Source::Mirror(i), n);
            }
        }
        self.counter(best.0).fetch_add(1, Ordering::Relaxed);
        InFlight {
            mirrors: self.clone(),
            source: best.0,
        }
    }

    /// A mirror's attempt failed; `fatal` drops it at once.
    pub fn failed(&self, i: usize, fatal: bool, why: &str) {
        let m = &self.list[i];
        let failures = m.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if (fatal || failures >= MIRROR_ATTEMPTS) && !m.dropped.swap(true, Ordering::Relaxed) {
            tracing::info!(mirror = %m.url, "mirror dropped: {why}");
        } else {
            tracing::debug!(mirror = %m.url, failures, "mirror attempt failed: {why}");
        }
    }

    /// A mirror delivered `n` bytes: if any, its failure count starts over.
    pub fn delivered(&self, i: usize, n: u64) {
        if n == 0 {
            return;
        }
        let m = &self.list[i];
        m.failures.store(0, Ordering::Relaxed);
        m.bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// Bytes delivered per mirror, for reports.
    pub fn usage(&self) -> Vec<(Url, u64, bool)> {
        self.list
            .iter()
            .map(|m| {
                (
                    m.url.clone(),
                    m.bytes.load(Ordering::Relaxed),
                    m.dropped.load(Ordering::Relaxed),
                )
            })
            .collect()
    }
}

impl InFlight {
    pub fn source(&self) -> Source {
        self.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_spread_over_the_sources_and_a_dropped_mirror_gets_none() {
        let m = Mirrors::new(
            vec![
                Url::parse("https://a.example/x").unwrap(),
                Url::parse("https://b.example/x").unwrap(),
            ],
            &Url::parse("https://example.com/x").unwrap(),
        );
        let held: Vec<InFlight> = (0..6).map(|_| m.pick()).collect();
        let count = |s: Source| held.iter().filter(|h| h.source() == s).count();
        assert_eq!(count(Source::Origin), 2);
        assert_eq!(count(Source::Mirror(0)), 2);
        assert_eq!(count(Source::Mirror(1)), 2);
        drop(held);
        m.failed(0, true, "another size");
        let held: Vec<InFlight> = (0..4).map(|_| m.pick()).collect();
        assert!(held.iter().all(|h| h.source() != Source::Mirror(0)));
        // Transient failures drop a mirror only after several in a row.
        m.failed(1, false, "503");
        m.failed(1, false, "503");
        m.delivered(1, 10);
        m.failed(1, false, "503");
        // An attempt that delivered nothing does not count as progress.
        m.delivered(1, 0);
        assert!(!m.usage()[1].2);
        m.failed(1, false, "503");
        m.failed(1, false, "503");
        assert!(m.usage()[1].2);
    }
}

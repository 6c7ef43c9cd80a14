//! `swarmload-host status [--json]`: partial downloads and cached content.

use std::path::Path;

use serde::Serialize;

use crate::config::{ConfigError, StateDir};
use crate::store::cache::{Cache, CacheEntry};
use crate::store::partial::{self, PartialSummary};

#[derive(Serialize)]
struct Status {
    state_dir: String,
    partial: Vec<PartialSummary>,
    cached: Vec<CacheEntry>,
    cache_bytes: u64,
    cache_max_bytes: u64,
}

pub fn run(state_dir: Option<&Path>, json: bool) -> Result<(), ConfigError> {
    let state = StateDir::open(state_dir)?;
    let policy = state.policy()?;
    let cache = Cache::new(&state, policy.cache_max_bytes, policy.cache_max_age_secs);
    let cached = cache.list();
    let status = Status {
        state_dir: state.root().display().to_string(),
        partial: partial::list(&state),
        cache_bytes: cached.iter().map(|e| e.size).sum(),
        cached,
        cache_max_bytes: policy.cache_max_bytes,
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&status).unwrap_or_default()
        );
        return Ok(());
    }
    println!("state directory: {}", status.state_dir);
    println!("partial downloads: {}", status.partial.len());
    for p in &status.partial {
        let pct = if p.record.size > 0 {
            p.held_bytes as f64 * 100.0 / p.record.size as f64
        } else {
            0.0
        };
        println!(
            "  {:5.1}%  {} of {} bytes  {}{}  ({})",
            pct,
            p.held_bytes,
            p.record.size,
            p.record.filename,
            if p.active { "  [active]" } else { "" },
            p.record.url
        );
    }
    println!(
        "seeding cache: {} item(s), {} of {} bytes",
        status.cached.len(),
        status.cache_bytes,
        status.cache_max_bytes
    );
    for c in &status.cached {
        println!("  {}  {} bytes  {}", c.sha256, c.size, c.name);
    }
    Ok(())
}

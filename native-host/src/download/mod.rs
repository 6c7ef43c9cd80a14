//! One download driven to its end: the core engine, the origin fetchers, the file and
//! its journal, the whole-file check, and peers when a peer source supplies them.
//!
//! The driver owns the engine and is its only caller. Everything that happens (origin
//! bytes, a peer's message, a timer) becomes an engine event; every engine action is
//! carried out here, in order.

pub mod verifier;

use std::collections::{HashMap, VecDeque};
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::HeaderMap;
use serde::Serialize;
use swarmload_core::content::Hash32;
use swarmload_core::engine::{
    Action, BitSet, ContentMeta, Engine, EngineConfig, EngineError, Event, FailReason, Stats, Time,
};
use swarmload_core::origin_connections::Climb;
use swarmload_core::policy::Policy;
use swarmload_core::trusted_digest::DigestSource;
use tokio::sync::{mpsc, oneshot, watch};

use crate::digest_lookup::LateDigest;
use crate::origin::mirrors::Mirrors;
use crate::origin::{Fetcher, OriginInfo, Pacer};
pub use crate::peer_source::{EVENT_QUEUE, NoPeers, PeerSource};
use crate::seeding::Seeder;
use crate::store::journal::BlockDigest;
use crate::store::partial::Partial;
use verifier::Verifier;

/// How often the trackers hear the transfer counters.
const TRACKER_REPORT: std::time::Duration = std::time::Duration::from_secs(5);

pub struct Job {
    pub client: reqwest::Client,
    pub info: Arc<OriginInfo>,
    /// Request headers every origin request carries (from the browser, say).
    pub headers: HeaderMap,
    /// The trusted SHA-256, if any source gave one.
    pub expected: Option<Hash32>,
    pub connections: Connections,
    /// No swarm will take part: skip per-block leaves (see
    /// `EngineConfig::lazy_leaves`).
    pub origin_only: bool,
    pub partial: Partial,
    pub policy: Policy,
    /// A trusted SHA-256 still being looked for (in the origin's checksum lists):
    /// the download starts without it, and the swarm joins when it arrives.
    pub late_digest: Option<oneshot::Receiver<LateDigest>>,
    /// Whether the origin's mirrors may serve ranges too (with a trusted digest).
    pub use_mirrors: bool,
}

/// Parallel range connections to the origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connections {
    Fixed(u32),
    /// As many as pay, up to this many (see `connections`).
    Adaptive(u32),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Checking blocks an earlier run stored.
    #[default]
    Checking,
    Downloading,
    /// Every block stored; the whole-file SHA-256 is being compared.
    Verifying,
    Complete,
    Failed,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Progress {
    pub size: u64,
    pub have_bytes: u64,
    pub from_origin: u64,
    pub from_peers: u64,
    /// Bytes kept from an earlier run.
    pub resumed_bytes: u64,
    pub bytes_per_sec: f64,
    /// Bytes `[0, deliverable)` are final and may be streamed to the user.
    pub deliverable: u64,
    /// Bumped whenever bytes already declared deliverable must be discarded.
    pub delivery_generation: u32,
    pub peers: u32,
    pub phase: Phase,
    /// Why the download failed, once it has.
    pub error: Option<String>,
    /// A trusted SHA-256 learned while the download ran (a checksum list, the group).
    #[serde(skip)]
    pub digest_learned: Option<LateDigest>,
}

pub struct Finished {
    /// The trusted digest learned while the download ran, if one was.
    pub learned: Option<LateDigest>,
    /// Whether the whole was checked against a digest from a trusted source (given,
    /// published, or learned); else its SHA-256 was only computed from what the
    /// origin sent.
    pub digest_trusted: bool,
    /// Each mirror used: its URL, the bytes it delivered, and whether it was dropped.
    pub mirrors: Vec<(url::Url, u64, bool)>,
    /// The content's seeder, with the download's connections still open.
    pub seeder: Seeder,
    /// From the first byte a peer delivered to the end of the download (the span
    /// over which peers' throughput is measured).
    pub peer_time: Option<std::time::Duration>,
    pub sha256: Hash32,
    /// The leaf layer, where the engine computed every leaf.
    pub leaves: Option<Vec<Hash32>>,
    pub stats: Stats,
    pub data_path: PathBuf,
    pub partial: Partial,
}

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("{0}")]
    Failed(FailReason),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Engine(#[from] EngineError),
    #[error("cancelled")]
    Cancelled,
    #[error("not enough space for {path}: {needed} more bytes needed, {free} free")]
    NoSpace {
        path: PathBuf,
        needed: u64,
        free: u64,
    },
}

impl DownloadError {
    /// Whether the stored bytes are worthless (another version, or a digest that
    /// does not match): the next attempt must start from nothing.
    pub fn discards_partial(&self) -> bool {
        matches!(
            self,
            DownloadError::Failed(
                FailReason::ContentChanged
                    | FailReason::DigestMismatch { .. }
                    | FailReason::OriginContentMismatch
            )
        )
    }
}

impl Finished {
    /// Whether nothing trusted named the content and every byte came from the
    /// origin: its SHA-256 is then the origin's alone (what a trusted group may
    /// publish).
    pub fn hashed_from_origin_alone(&self) -> bool {
        !self.digest_trusted && self.stats.bytes_from_peers == 0
    }
}

/// Origin connections at most, mirrors included.
const MAX_CONNECTIONS: u32 = 16;

/// The digest still being looked for, once found; never, when the look-up ends
/// empty-handed (the branch is then switched off).
async fn late(rx: &mut Option<oneshot::Receiver<LateDigest>>) -> Option<LateDigest> {
    match rx {
        Some(rx) => rx.await.ok(),
        None => std::future::pending().await,
    }
}

fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> DownloadError + '_ {
    move |source| DownloadError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Runs `job` until the content is complete and verified, it fails, or `cancel`
/// turns true. Progress is published on `progress`.
pub async fn run(
    job: Job,
    progress: watch::Sender<Progress>,
    mut cancel: watch::Receiver<bool>,
    mut peers: Box<dyn PeerSource>,
) -> Result<Finished, DownloadError> {
    let Job {
        client,
        info,
        headers,
        expected,
        connections,
        origin_only,
        partial,
        policy,
        late_digest,
        use_mirrors,
    } = job;
    let mut late_digest = late_digest;
    let mut learned: Option<LateDigest> = None;
    // A digest that arrived after the engine could still take it: the whole must
    // match it all the same.
    let mut learned_too_late: Option<Hash32> = None;
    let size = info.size;
    let data_path = partial.record.data_path.clone();
    let mut cfg = EngineConfig::from_policy(&policy, random_seed());
    // Parallel ranges need Range support, and something that tells versions apart:
    // a validator for If-Range, or a digest that the whole must match.
    let identifiable = info.has_validator() || expected.is_some();
    let parallel = info.ranges && identifiable;
    // Mirrors only for content whose whole is checked against a trusted digest.
    let mirrors = Mirrors::new(
        match (expected, use_mirrors && parallel) {
            (Some(_), true) => info.mirrors.clone(),
            _ => Vec::new(),
        },
        &info.url,
    );
    if !mirrors.is_empty() {
        tracing::info!(
            mirrors = mirrors.len(),
            "origin ranges are spread over the mirrors too"
        );
    }
    // Each source gets the connections one origin would.
    let sources = 1 + mirrors.len() as u32;
    let mut adaptive = match connections {
        Connections::Adaptive(max) if parallel && max > 1 => Some(
            // Its clock is the download's epoch (`now` below), which starts here.
            Climb::new((max * sources).min(MAX_CONNECTIONS), Time::ZERO).starting_at(sources),
        ),
        _ => None,
    };
    cfg.origin_connections = match (parallel, connections, &adaptive) {
        (false, _, _) => 1,
        (true, _, Some(a)) => a.current(),
        // A fixed count is the total, mirrors included.
        (true, Connections::Fixed(n), None) => n.max(1),
        (true, Connections::Adaptive(n), None) => (n.max(1) * sources).min(MAX_CONNECTIONS),
    };
    cfg.lazy_leaves = origin_only;
    // A group's mapping is only as good as the member who made it: the origin starts
    // at once, so that a block it serves checks the peers' tree early (a mapping that
    // names other bytes is then refuted, and the download fails instead).
    if info.digest_source == Some(DigestSource::Group) {
        cfg.origin_fallback_delay = Duration::ZERO;
    }
    // Without a way to tell versions apart, one stream for the whole file: separate
    // requests could each see another version.
    cfg.origin_ranges = info.ranges && identifiable;
    // A size from the network must fit the disk before anything is allocated for it.
    let allocated = std::fs::metadata(&data_path)
        .map(|m| std::os::unix::fs::MetadataExt::blocks(&m) * 512)
        .unwrap_or(0);
    let needed = size.saturating_sub(allocated);
    let free = crate::store::free_space(&data_path).map_err(io_err(&data_path))?;
    if needed > free {
        return Err(DownloadError::NoSpace {
            path: data_path,
            needed,
            free,
        });
    }
    let mut engine = match expected {
        Some(sha256) => Engine::download(
            ContentMeta {
                sha256,
                size,
                root: None,
                // The origin's leaf layer belongs to the digest it published with
                // it, not to a different one given elsewhere.
                leaves: info
                    .leaves
                    .as_deref()
                    .filter(|_| info.digest == Some(sha256))
                    .cloned(),
            },
            cfg,
        )?,
        None => Engine::download_unverified(size, cfg)?,
    };
    let geo = *engine.geometry();

    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&data_path)
        .map_err(io_err(&data_path))?;
    // Reading back and hashing what an earlier run stored takes a moment for large
    // files; it happens before any byte is fetched.
    let held = {
        let (journal, data) = (partial.journal_path(), data_path.clone());
        tokio::task::spawn_blocking(move || {
            crate::store::partial::held_blocks(&journal, &data, &geo)
        })
        .await
        .unwrap_or_default()
    };
    let len = file.metadata().map_err(io_err(&data_path))?.len();
    if held.is_empty() && len > 0 {
        // Nothing kept: start from an empty file of the right size (sparse). Only
        // truncate what has bytes: on ext4, truncating to zero makes the final close
        // write the whole file out at once (auto_da_alloc), which would stall exit.
        file.set_len(0).map_err(io_err(&data_path))?;
    }
    file.set_len(size).map_err(io_err(&data_path))?;
    let mut journal = partial.journal().map_err(|e| DownloadError::Io {
        path: partial.journal_path(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let mut written = BitSet::new(geo.num_blocks());
    for (b, _) in &held {
        written.insert(*b);
    }
    let verify_file = file.try_clone().map_err(io_err(&data_path))?;
    let mut verifier = Verifier::start(verify_file, size);
    let mut prefix = 0u32;
    advance_prefix(&written, &mut prefix, &geo, &mut verifier);
    let restored = engine.restore_blocks(held);
    let resumed_bytes: u64 = (0..geo.num_blocks())
        .filter(|b| engine.has_block(*b))
        .map(|b| geo.block_len(b) as u64)
        .sum();
    if restored > 0 {
        tracing::info!(restored, resumed_bytes, "resuming from stored blocks");
    }

    let fetcher = Fetcher::new(
        client,
        info.clone(),
        headers,
        Pacer::new(policy.max_download_bytes_per_sec),
        identifiable,
        mirrors.clone(),
    );
    let (tx, mut rx) = mpsc::channel::<Event>(EVENT_QUEUE);
    // Only content with a trusted SHA-256 has a swarm: it names it, and it is what
    // the whole is checked against.
    if let Some(sha256) = expected {
        peers.start(sha256, tx.clone());
    }
    let mut reported = Instant::now();
    let mut first_peer_byte: Option<Instant> = None;
    let epoch = Instant::now();
    let now = move || Time::from_micros(epoch.elapsed().as_micros() as u64);
    let mut fetches: HashMap<u64, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut local: VecDeque<Event> = VecDeque::new();
    let mut state = Progress {
        size,
        resumed_bytes,
        phase: Phase::Downloading,
        ..Progress::default()
    };
    engine.handle_timeout(now());
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    let outcome = loop {
        let mut end = None;
        while let Some(action) = engine.poll_action() {
            match action {
                Action::Send { peer, data } => peers.send(peer, data),
                Action::Disconnect { peer, reason } => peers.disconnect(peer, &reason),
                Action::FetchOrigin { request, range } => {
                    fetches.insert(request, fetcher.spawn(request, range, tx.clone()));
                }
                Action::CancelOrigin { request } => {
                    if let Some(h) = fetches.remove(&request) {
                        h.abort();
                    }
                }
                Action::Write {
                    block,
                    offset,
                    data,
                    leaf,
                } => {
                    file.write_all_at(&data, offset)
                        .map_err(io_err(&data_path))?;
                    let digest = match leaf {
                        Some(l) => BlockDigest::Leaf(l),
                        None => BlockDigest::Crc32(crc32fast::hash(&data)),
                    };
                    journal
                        .record(block, &digest)
                        .map_err(io_err(&partial.journal_path()))?;
                    if !written.insert(block) || verifier.covers(offset) {
                        // Bytes already hashed were replaced.
                        verifier.reset();
                    }
                    if block < prefix {
                        prefix = 0;
                    }
                    verifier.written(offset, &data);
                    advance_prefix(&written, &mut prefix, &geo, &mut verifier);
                }
                Action::ReadBlock { block, offset, len } => {
                    let mut buf = vec![0u8; len as usize];
                    local.push_back(match file.read_exact_at(&mut buf, offset) {
                        Ok(()) => Event::BlockRead {
                            block,
                            data: Bytes::from(buf),
                        },
                        Err(_) => Event::BlockReadFailed { block },
                    });
                }
                Action::Deliverable { upto } => state.deliverable = upto,
                Action::DeliveryReset => {
                    state.deliverable = 0;
                    state.delivery_generation += 1;
                    verifier.reset();
                    prefix = 0;
                    advance_prefix(&written, &mut prefix, &geo, &mut verifier);
                }
                Action::VerifyContent => {
                    state.phase = Phase::Verifying;
                    progress.send_replace(state.clone());
                    let stored = epoch.elapsed();
                    let sha256 = verifier.finish().await.map_err(io_err(&data_path))?;
                    tracing::debug!(
                        stored_after = ?stored,
                        digest_after = ?epoch.elapsed(),
                        "every block stored, whole-file digest computed"
                    );
                    prefix = 0;
                    advance_prefix(&written, &mut prefix, &geo, &mut verifier);
                    local.push_back(Event::ContentDigest { sha256 });
                }
                Action::Completed => end = Some(Ok(())),
                Action::Failed { reason } => end = Some(Err(reason)),
            }
        }
        journal.flush().map_err(io_err(&partial.journal_path()))?;
        let stats = engine.stats();
        state.have_bytes = engine.held_bytes();
        state.from_origin = stats.bytes_from_origin;
        state.from_peers = stats.bytes_from_peers;
        if first_peer_byte.is_none() && stats.bytes_from_peers > 0 {
            first_peer_byte = Some(Instant::now());
        }
        state.peers = stats.peers_connected;
        state.bytes_per_sec = engine.download_rate();
        if let Some(end) = end {
            break end;
        }
        progress.send_replace(state.clone());
        if reported.elapsed() >= TRACKER_REPORT {
            reported = Instant::now();
            peers.progress(
                size - state.have_bytes,
                stats.bytes_uploaded,
                stats.bytes_from_peers + stats.bytes_from_origin,
            );
        }

        if let Some(ev) = local.pop_front() {
            engine.handle(now(), ev);
            continue;
        }
        let deadline = engine.poll_timeout().map(|t| {
            let wait = t.since(now());
            tokio::time::Instant::now() + wait
        });
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { continue };
                engine.handle(now(), ev);
                // Take what else is waiting before acting, so one pass of actions
                // covers a burst of events.
                for _ in 0..64 {
                    match rx.try_recv() {
                        Ok(ev) => engine.handle(now(), ev),
                        Err(_) => break,
                    }
                }
            }
            _ = sleep_until(deadline) => engine.handle_timeout(now()),
            found = late(&mut late_digest), if late_digest.is_some() => {
                late_digest = None;
                if let Some(found) = found {
                    let sha256 = found.sha256;
                    learned = Some(found.clone());
                    if engine.learn_digest(sha256) {
                        tracing::info!(%sha256, source = ?found.source, "trusted digest learned: the swarm may join");
                        peers.start(sha256, tx.clone());
                        state.digest_learned = Some(found);
                        progress.send_replace(state.clone());
                    } else {
                        learned_too_late = Some(sha256);
                    }
                    engine.handle_timeout(now());
                }
            }
            _ = tick.tick(), if adaptive.is_some() => {
                let origin_bytes = engine.stats().bytes_from_origin;
                if let Some(n) = adaptive.as_mut().and_then(|a| a.tick(now(), origin_bytes)) {
                    tracing::debug!(connections = n, "origin connections");
                    engine.set_origin_connections(n);
                    engine.handle_timeout(now());
                }
            }
            _ = cancel.changed() => {
                for (_, h) in fetches.drain() {
                    h.abort();
                }
                return Err(DownloadError::Cancelled);
            }
        }
    };
    for (_, h) in fetches.drain() {
        h.abort();
    }
    match outcome {
        Ok(()) => {
            state.phase = Phase::Complete;
            state.deliverable = size;
            progress.send_replace(state);
            let sha256 = engine
                .sha256()
                .ok_or(DownloadError::Failed(FailReason::Stalled))?;
            if let Some(expected) = learned_too_late.filter(|e| *e != sha256) {
                return Err(DownloadError::Failed(FailReason::DigestMismatch {
                    expected,
                    actual: sha256,
                }));
            }
            peers.completed();
            let stats = engine.stats().clone();
            Ok(Finished {
                mirrors: mirrors.usage(),
                digest_trusted: expected.is_some() || learned.is_some(),
                learned,
                sha256,
                leaves: engine.leaf_layer().map(<[Hash32]>::to_vec),
                stats,
                data_path,
                partial,
                peer_time: first_peer_byte.map(|t| t.elapsed()),
                // The same engine, peers and connections go on serving.
                seeder: Seeder::resume(engine, peers, rx, file, epoch),
            })
        }
        Err(reason) => {
            state.phase = Phase::Failed;
            state.error = Some(reason.to_string());
            progress.send_replace(state);
            Err(DownloadError::Failed(reason))
        }
    }
}

/// Bytes held: whole blocks, the last one counted at its true length.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Moves the contiguous written prefix and lets the verifier hash up to it.
fn advance_prefix(
    written: &BitSet,
    prefix: &mut u32,
    geo: &swarmload_core::content::Geometry,
    verifier: &mut Verifier,
) {
    let n = geo.num_blocks();
    while *prefix < n && written.contains(*prefix) {
        *prefix += 1;
    }
    let upto = if *prefix == n {
        geo.size()
    } else {
        geo.block_offset(*prefix)
    };
    verifier.upto(upto);
}

pub fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    // A fixed seed only makes choices less varied, never wrong.
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b)
}

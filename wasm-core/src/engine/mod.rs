//! The sans-IO transfer engine: one value per download (or seed), fed events with the
//! current time, drained of actions. It never opens a socket, reads a clock or touches
//! a file; drivers do, and report back.
//!
//! ```text
//!   driver ──handle(now, Event)──▶ Engine ──poll_action()──▶ Action ──▶ driver
//!          ◀───────── poll_timeout() / handle_timeout(now) ─────────
//! ```
//!
//! The same engine serves uploads: a downloader serves what it has verified while it
//! downloads, and a seeder is an engine whose content is complete from the start.

mod bitset;
mod download;
mod leaves;
mod messages;
mod origin;
mod peer;
mod picker;
mod rate;
mod root;
mod time;
mod timers;
mod upload;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;

use crate::content::{Geometry, GeometryError, Hash32, InfoHash, root_of_leaves};
use crate::policy::Policy;

pub use bitset::BitSet;
pub use picker::PiecePicker;
pub use rate::{RateEstimator, TokenBucket};
pub use root::RootTrust;
pub use time::Time;

use leaves::LeafStore;
use origin::OriginSource;
use peer::Peer;
use root::RootBook;

/// A connection to a peer, named by the driver. Ids are not reused within one engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub u64);

/// What the engine knows about the content before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentMeta {
    /// Trusted whole-file SHA-256: the final gate.
    pub sha256: Hash32,
    pub size: u64,
    /// A BEP 52 root from a trusted source, if any. Without one, the root is learned
    /// from peers and cross-checked.
    pub root: Option<Hash32>,
    /// The whole leaf layer from a trusted source (published with the content), if
    /// any. It lets a crowd that starts together exchange blocks before anyone has
    /// the whole file.
    pub leaves: Option<Vec<Hash32>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// Whether an origin exists at all (a pure seed has none).
    pub origin_enabled: bool,
    /// Parallel range requests to the origin.
    pub origin_connections: u32,
    /// Whether the origin serves byte ranges. Without, the origin is one stream from
    /// the first missing byte to the end (a driver reads a full response and skips
    /// what it holds), never several ranges that would each start from zero.
    pub origin_ranges: bool,
    /// How long to wait for peers before the origin takes over; zero means the origin
    /// starts at once.
    pub origin_fallback_delay: Duration,
    pub upload_enabled: bool,
    /// Bytes per second, 0 = unlimited.
    pub max_upload_rate: u64,
    pub max_download_rate: u64,
    /// A request never times out sooner than this.
    pub min_request_timeout: Duration,
    /// Pipeline depth aims to cover this much transfer time per peer.
    pub pipeline_target: Duration,
    pub max_window: u32,
    pub keepalive_interval: Duration,
    pub idle_timeout: Duration,
    /// The download fails if no block arrives for this long.
    pub stall_timeout: Duration,
    /// Seeds random choices; fixed seeds make simulations reproducible.
    pub rng_seed: u64,
    /// Hash origin blocks only where a proven leaf must be checked, while no peer is
    /// connected. An origin-only download then hashes its bytes once (the final
    /// SHA-256) instead of twice; the price is that the leaf layer of what it got
    /// alone stays unknown (see [`Engine::leaf_layer`]), so a seeder must index the
    /// file before serving it. Off again for good once a peer connects.
    pub lazy_leaves: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            origin_enabled: true,
            origin_connections: 4,
            origin_ranges: true,
            origin_fallback_delay: Duration::ZERO,
            upload_enabled: true,
            max_upload_rate: 0,
            max_download_rate: 0,
            min_request_timeout: Duration::from_secs(4),
            pipeline_target: Duration::from_millis(800),
            max_window: 256,
            keepalive_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            stall_timeout: Duration::from_secs(120),
            rng_seed: 0x5eed,
            lazy_leaves: false,
        }
    }
}

impl EngineConfig {
    pub fn from_policy(policy: &Policy, rng_seed: u64) -> Self {
        EngineConfig {
            origin_fallback_delay: Duration::from_millis(policy.origin_fallback_delay_ms),
            upload_enabled: policy.upload_enabled,
            max_upload_rate: policy.max_upload_bytes_per_sec,
            max_download_rate: policy.max_download_bytes_per_sec,
            rng_seed,
            ..EngineConfig::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginError {
    /// A reset, timeout or 5xx the driver gave up retrying; the engine backs off and
    /// asks again.
    Retryable(String),
    /// The origin cannot serve this content (4xx, no Range where needed, ...).
    Fatal(String),
    /// The origin's validators changed: bytes of two versions must never mix.
    ContentChanged,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    PeerConnected {
        peer: PeerId,
    },
    PeerGone {
        peer: PeerId,
    },
    PeerMessage {
        peer: PeerId,
        data: Bytes,
    },
    /// Bytes of an origin range, in order, at absolute `offset`.
    OriginData {
        request: u64,
        offset: u64,
        data: Bytes,
    },
    /// The origin response ended; any part of the range not yet delivered is released.
    OriginEnd {
        request: u64,
    },
    OriginError {
        request: u64,
        error: OriginError,
    },
    /// Answer to [`Action::ReadBlock`].
    BlockRead {
        block: u32,
        data: Bytes,
    },
    BlockReadFailed {
        block: u32,
    },
    /// Answer to [`Action::VerifyContent`]: the SHA-256 of the stored content.
    ContentDigest {
        sha256: Hash32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectReason {
    /// Sent a block or proof that failed verification, or a root proven wrong. The
    /// driver must not reconnect to this peer for this content.
    Banned(String),
    /// Malformed or out-of-place message.
    ProtocolError(String),
    /// The peer has different content (info hash or size).
    WrongContent,
    /// Nothing received for the idle timeout.
    Idle,
    /// Took requests and let them all time out, round after round.
    Unresponsive,
    /// The peer said goodbye.
    Goodbye,
    /// The same peer id connected twice, or a banned peer came back.
    Refused,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailReason {
    /// Every byte came from the origin and the whole does not match the trusted
    /// SHA-256: the origin serves something else than what was promised.
    DigestMismatch {
        expected: Hash32,
        actual: Hash32,
    },
    /// The origin's bytes contradict a trusted root.
    OriginContentMismatch,
    ContentChanged,
    /// Nothing arrived for the stall timeout.
    Stalled,
    /// The origin refused for good and no peer can take over.
    OriginFailed(String),
}

/// One line a user can read; every driver reports failures with it.
impl std::fmt::Display for FailReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailReason::DigestMismatch { expected, actual } => {
                write!(f, "digest mismatch: expected {expected}, got {actual}")
            }
            FailReason::OriginContentMismatch => f.write_str("the origin serves other content"),
            FailReason::ContentChanged => f.write_str("the content changed on the origin"),
            FailReason::Stalled => f.write_str("no progress"),
            FailReason::OriginFailed(why) => write!(f, "origin failed: {why}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Send {
        peer: PeerId,
        data: Bytes,
    },
    Disconnect {
        peer: PeerId,
        reason: DisconnectReason,
    },
    FetchOrigin {
        request: u64,
        range: Range<u64>,
    },
    CancelOrigin {
        request: u64,
    },
    /// Store block `block` (bytes at `offset`, whose SHA-256 is `leaf` where it was
    /// computed; see [`EngineConfig::lazy_leaves`]). Peer bytes are already verified
    /// against the root; origin bytes are checked against proven leaves where known
    /// and by the final gate. Drivers that persist progress record the block once
    /// its bytes are written, and give it back to [`Engine::restore_blocks`] on
    /// resume.
    Write {
        block: u32,
        offset: u64,
        data: Bytes,
        leaf: Option<Hash32>,
    },
    /// Read a block back to serve it; answer with `BlockRead`.
    ReadBlock {
        block: u32,
        offset: u64,
        len: u32,
    },
    /// Bytes `[0, upto)` are final and may stream to the user. The last block is held
    /// back until the whole-file SHA-256 matches.
    Deliverable {
        upto: u64,
    },
    /// Bytes previously declared deliverable came under a root since proven wrong;
    /// delivery restarts from zero (the consumer must discard what it streamed).
    DeliveryReset,
    /// Every block is stored: compute the stored content's SHA-256 and answer with
    /// `ContentDigest`.
    VerifyContent,
    Completed,
    Failed {
        reason: FailReason,
    },
}

/// Counters for the UI and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub bytes_from_peers: u64,
    pub bytes_from_origin: u64,
    pub bytes_uploaded: u64,
    /// Received and thrown away: duplicates, bad blocks, data under a bad root.
    pub bytes_wasted: u64,
    pub blocks_have: u32,
    pub blocks_total: u32,
    pub peers_connected: u32,
    pub peers_banned: u32,
    pub bad_blocks: u32,
    pub roots_rejected: u32,
    pub request_timeouts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineState {
    Downloading,
    /// Every block stored; waiting for the driver's whole-file digest.
    Verifying,
    /// Content complete and verified; serving only.
    Seeding,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Geometry(#[from] GeometryError),
    #[error("the trusted leaf layer has {found} leaves, the content needs {expected}")]
    LeafCount { expected: u32, found: usize },
    #[error("the trusted leaf layer does not match the trusted root")]
    LeafRootMismatch,
}

/// Splitmix64: small, fast, good enough to spread choices; deterministic per seed.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u32) -> u32 {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as u32
        }
    }
}

pub struct Engine {
    node_id: u64,
    geo: Geometry,
    /// The final gate; `None` for an origin-only download with no trusted digest,
    /// whose SHA-256 is learned at the end.
    sha256: Option<Hash32>,
    cfg: EngineConfig,
    state: EngineState,
    now: Time,
    started: Option<Time>,
    last_progress: Time,
    rng: Rng,

    peers: BTreeMap<PeerId, Peer>,
    banned: BTreeSet<PeerId>,

    have: BitSet,
    /// Blocks whose stored bytes came from a peer (purged if their root falls).
    from_peer: BitSet,
    /// Outstanding requests per block, peers and origin together.
    requests: Vec<u8>,
    /// Blocks inside an open origin range.
    origin_requested: BitSet,
    /// Blocks a peer failed to deliver in time: the origin takes them.
    origin_preferred: BitSet,
    /// Set during scheduling when a peer had room but nothing to ask for.
    peer_starved: bool,
    /// Missing blocks, all requested, while in endgame.
    endgame: Vec<u32>,
    first_peer_block: Option<Time>,
    /// Origin chunks this engine fetches within a crowd, and the crowd (node ids of
    /// downloading peers) that division was made for.
    owned: BitSet,
    owned_among: Vec<u64>,
    piece_missing: Vec<u32>,
    piece_unrequested: Vec<u32>,
    /// Pieces we hold entirely and serve: announced in our bitfield and `have`s.
    pieces_announced: BitSet,
    picker: PiecePicker,
    /// First block not held: the in-order window starts here.
    cursor: u32,
    /// Every block in `[cursor, in_order_hint)` is held or requested.
    in_order_hint: u32,
    /// First block not yet deliverable.
    deliver_cursor: u32,
    delivered_upto: u64,

    leaves: LeafStore,
    roots: RootBook,
    hash_requests: BTreeMap<u32, PeerId>,
    /// The root (and whether we serve hashes) peers last heard from us.
    announced_root: (Option<Hash32>, bool),

    origin: OriginSource,
    upload_bucket: TokenBucket,
    download_bucket: TokenBucket,
    reads: BTreeMap<u32, Vec<PeerId>>,
    /// Blocks a seeder found changed on disk: never served again.
    unservable: BitSet,
    upload_turn: u64,
    total_rate: RateEstimator,
    final_checks: u32,

    actions: VecDeque<Action>,
    stats: Stats,
}

const MAX_PARALLEL_READS: usize = 16;
const MAX_UPLOAD_QUEUE: usize = 512;
const MAX_HASH_REQUESTS: usize = 4;
const HASH_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const SNUB_TIME: Duration = Duration::from_secs(15);
const MAX_DUPLICATE_REQUESTS: u8 = 2;

impl Engine {
    /// An engine that downloads `meta` (and serves what it has as it goes).
    pub fn download(meta: ContentMeta, cfg: EngineConfig) -> Result<Engine, EngineError> {
        let mut e = Engine::blank(Some(meta.sha256), meta.size, cfg)?;
        match (meta.root, meta.leaves) {
            (root, Some(leaves)) => {
                e.install_trusted_leaves(leaves, root)?;
            }
            (Some(root), None) => e.roots = RootBook::trusted(root),
            (None, None) => {}
        }
        for p in 0..e.geo.num_pieces() {
            e.refresh_piece(p);
        }
        Ok(e)
    }

    /// An engine that serves complete content whose leaf layer the caller computed
    /// from the verified file.
    pub fn seed(
        sha256: Hash32,
        size: u64,
        leaves: Vec<Hash32>,
        mut cfg: EngineConfig,
    ) -> Result<Engine, EngineError> {
        cfg.origin_enabled = false;
        let mut e = Engine::blank(Some(sha256), size, cfg)?;
        e.install_trusted_leaves(leaves, None)?;
        for b in 0..e.geo.num_blocks() {
            e.have.insert(b);
        }
        for p in 0..e.geo.num_pieces() {
            e.piece_missing[p as usize] = 0;
            e.piece_unrequested[p as usize] = 0;
            e.pieces_announced.insert(p);
        }
        e.cursor = e.geo.num_blocks();
        e.in_order_hint = e.geo.num_blocks();
        e.deliver_cursor = e.geo.num_blocks();
        e.delivered_upto = size;
        e.state = EngineState::Seeding;
        e.stats.blocks_have = e.geo.num_blocks();
        Ok(e)
    }

    /// An origin-only download of content whose SHA-256 no trusted source gives. No
    /// peer can take part (there is nothing to name the swarm by or to check the
    /// whole against); the digest of what was stored is learned at the end, see
    /// [`Engine::sha256`].
    pub fn download_unverified(size: u64, cfg: EngineConfig) -> Result<Engine, EngineError> {
        let mut e = Engine::blank(None, size, cfg)?;
        for p in 0..e.geo.num_pieces() {
            e.refresh_piece(p);
        }
        Ok(e)
    }

    /// The trusted SHA-256 of an unverified download, learned while it runs (from a
    /// checksum list the origin publishes beside the file, which takes a moment to
    /// find while the origin already sends bytes). From then on the swarm it names
    /// may take part, and the whole must match it like any trusted digest. Returns
    /// whether the engine now works under `sha256`: false when it already knows
    /// another one, or when the download is over (the caller compares the digest it
    /// learned at the end instead).
    pub fn learn_digest(&mut self, sha256: Hash32) -> bool {
        match self.sha256 {
            Some(known) => known == sha256,
            None if self.downloading() => {
                self.sha256 = Some(sha256);
                true
            }
            None => false,
        }
    }

    /// Takes back blocks stored by an earlier run of the same download, each with the
    /// leaf hash the driver recorded when it wrote it (and checked again against the
    /// stored bytes). Call it before the first event. Blocks that contradict a
    /// trusted leaf layer are left out and fetched again. They count as origin
    /// bytes: the final gate vouches for them. Returns how many blocks were taken.
    pub fn restore_blocks(&mut self, held: impl IntoIterator<Item = (u32, Option<Hash32>)>) -> u32 {
        if self.state != EngineState::Downloading {
            return 0;
        }
        let mut taken = 0;
        for (block, leaf) in held {
            if block >= self.geo.num_blocks() || self.have.contains(block) {
                continue;
            }
            if let Some(leaf) = leaf {
                if self.leaves.is_proven(block) && self.leaves.leaf(block) != leaf {
                    continue;
                }
                self.leaves.record_computed(block, leaf);
            }
            self.have.insert(block);
            self.stats.blocks_have += 1;
            let piece = self.geo.piece_of(block);
            self.piece_missing[piece as usize] -= 1;
            self.piece_unrequested[piece as usize] -= 1;
            self.refresh_piece(piece);
            self.announce_piece(piece);
            taken += 1;
        }
        self.advance_cursors();
        if self.have.is_full() {
            self.state = EngineState::Verifying;
            self.emit(Action::VerifyContent);
        }
        taken
    }

    fn blank(sha256: Option<Hash32>, size: u64, cfg: EngineConfig) -> Result<Engine, EngineError> {
        let geo = Geometry::new(size)?;
        let mut rng = Rng(cfg.rng_seed);
        let n = geo.num_blocks();
        let mut piece_missing = vec![geo.blocks_per_piece(); geo.num_pieces() as usize];
        if let Some(last) = piece_missing.last_mut() {
            *last = geo.piece_blocks(geo.num_pieces() - 1).len() as u32;
        }
        Ok(Engine {
            node_id: rng.next(),
            sha256,
            state: EngineState::Downloading,
            now: Time::ZERO,
            started: None,
            last_progress: Time::ZERO,
            peers: BTreeMap::new(),
            banned: BTreeSet::new(),
            have: BitSet::new(n),
            from_peer: BitSet::new(n),
            requests: vec![0; n as usize],
            origin_requested: BitSet::new(n),
            origin_preferred: BitSet::new(n),
            peer_starved: false,
            endgame: Vec::new(),
            first_peer_block: None,
            owned: BitSet::new(0),
            owned_among: Vec::new(),
            piece_unrequested: piece_missing.clone(),
            piece_missing,
            pieces_announced: BitSet::new(geo.num_pieces()),
            picker: PiecePicker::new(geo.num_pieces()),
            cursor: 0,
            in_order_hint: 0,
            deliver_cursor: 0,
            delivered_upto: 0,
            leaves: LeafStore::new(&geo),
            roots: RootBook::default(),
            hash_requests: BTreeMap::new(),
            announced_root: (None, false),
            origin: OriginSource::new(cfg.origin_enabled, cfg.origin_connections),
            upload_bucket: TokenBucket::new(cfg.max_upload_rate, Time::ZERO),
            download_bucket: TokenBucket::new(cfg.max_download_rate, Time::ZERO),
            reads: BTreeMap::new(),
            unservable: BitSet::new(n),
            upload_turn: 0,
            total_rate: RateEstimator::new(Duration::from_secs(2)),
            final_checks: 0,
            actions: VecDeque::new(),
            stats: Stats {
                blocks_total: n,
                ..Stats::default()
            },
            geo,
            cfg,
            rng,
        })
    }

    fn install_trusted_leaves(
        &mut self,
        leaves: Vec<Hash32>,
        root: Option<Hash32>,
    ) -> Result<(), EngineError> {
        if leaves.len() != self.geo.num_blocks() as usize {
            return Err(EngineError::LeafCount {
                expected: self.geo.num_blocks(),
                found: leaves.len(),
            });
        }
        let computed = root_of_leaves(&leaves);
        if root.is_some_and(|r| r != computed) {
            return Err(EngineError::LeafRootMismatch);
        }
        self.leaves.install_trusted(leaves);
        self.roots = RootBook::trusted(computed);
        Ok(())
    }

    pub fn geometry(&self) -> &Geometry {
        &self.geo
    }

    pub fn state(&self) -> EngineState {
        self.state
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// The content's size in bytes.
    pub fn size(&self) -> u64 {
        self.geo.size()
    }

    /// Bytes of the content held (verified and stored).
    pub fn held_bytes(&self) -> u64 {
        let geo = &self.geo;
        let full = u64::from(self.stats.blocks_have) * crate::content::BLOCK_SIZE as u64;
        if self.has_block(geo.last_block()) {
            full - (crate::content::BLOCK_SIZE - geo.block_len(geo.last_block())) as u64
        } else {
            full
        }
    }

    /// The trusted SHA-256, or for an unverified download the one learned at the
    /// end (`None` until then).
    pub fn sha256(&self) -> Option<Hash32> {
        self.sha256
    }

    /// The swarm's name; `None` while the SHA-256 is unknown.
    pub fn info_hash(&self) -> Option<InfoHash> {
        self.sha256.map(|h| h.info_hash())
    }

    /// The root the engine currently works under and how far it is trusted.
    pub fn root(&self) -> Option<(Hash32, RootTrust)> {
        Some((self.roots.current()?, self.roots.trust()?))
    }

    /// Bytes per second received recently, from all sources.
    pub fn download_rate(&self) -> f64 {
        self.total_rate.rate(self.now)
    }

    pub fn has_block(&self, block: u32) -> bool {
        self.have.contains(block)
    }

    pub fn is_banned(&self, peer: PeerId) -> bool {
        self.banned.contains(&peer)
    }

    /// The full leaf layer, once the content is complete and verified (and every
    /// leaf is known: not so after a lazy origin-only download).
    pub fn leaf_layer(&self) -> Option<&[Hash32]> {
        self.leaves.tree().map(|t| t.leaves())
    }

    /// Changes how many origin ranges may be open at once (drivers adapt it to what
    /// the origin gives). Ranges already open above the new limit run to their end.
    pub fn set_origin_connections(&mut self, n: u32) {
        self.origin.max_connections = n.max(1);
        self.origin.idle = false;
    }

    pub fn origin_connections(&self) -> u32 {
        self.origin.max_connections
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Feeds one event at time `now` (which must not go backwards).
    pub fn handle(&mut self, now: Time, event: Event) {
        self.advance_clock(now);
        match event {
            Event::PeerConnected { peer } => self.on_peer_connected(peer),
            Event::PeerGone { peer } => self.on_peer_gone(peer),
            Event::PeerMessage { peer, data } => self.on_peer_message(peer, data),
            Event::OriginData {
                request,
                offset,
                data,
            } => self.on_origin_data(request, offset, data),
            Event::OriginEnd { request } => self.on_origin_end(request),
            Event::OriginError { request, error } => self.on_origin_error(request, error),
            Event::BlockRead { block, data } => self.on_block_read(block, data),
            Event::BlockReadFailed { block } => self.on_block_read_failed(block),
            Event::ContentDigest { sha256 } => self.on_content_digest(sha256),
        }
        self.schedule();
    }

    fn advance_clock(&mut self, now: Time) {
        if now > self.now {
            self.now = now;
        }
        if self.started.is_none() {
            self.started = Some(self.now);
            self.last_progress = self.now;
        }
    }

    fn send(&mut self, peer: PeerId, msg: &crate::wire::Message) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.last_sent = self.now;
        }
        self.actions.push_back(Action::Send {
            peer,
            data: msg.encode(),
        });
    }

    /// Sends one message to every connected peer, encoded once.
    fn broadcast(&mut self, msg: &crate::wire::Message) {
        let data = msg.encode();
        let now = self.now;
        for (id, p) in self.peers.iter_mut() {
            p.last_sent = now;
            self.actions.push_back(Action::Send {
                peer: *id,
                data: data.clone(),
            });
        }
    }

    fn emit(&mut self, action: Action) {
        self.actions.push_back(action);
    }

    fn fail(&mut self, reason: FailReason) {
        if matches!(self.state, EngineState::Failed | EngineState::Seeding) {
            return;
        }
        self.state = EngineState::Failed;
        for r in std::mem::take(&mut self.origin.requests) {
            self.emit(Action::CancelOrigin { request: r.id });
        }
        for p in 0..self.geo.num_pieces() {
            self.picker.remove(p);
        }
        self.emit(Action::Failed { reason });
    }

    fn downloading(&self) -> bool {
        self.state == EngineState::Downloading
    }
}

impl Engine {
    /// Checks the engine's internal bookkeeping against a recount. For tests and the
    /// simulator; linear in the content size.
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut requests = vec![0u32; self.geo.num_blocks() as usize];
        for p in self.peers.values() {
            for f in &p.inflight {
                requests[f.block as usize] += 1;
            }
        }
        for r in &self.origin.requests {
            let first = ((r.next_offset - r.partial.len() as u64)
                / crate::content::BLOCK_SIZE as u64) as u32;
            for b in first.max(r.start)..r.end {
                requests[b as usize] += 1;
            }
        }
        for b in 0..self.geo.num_blocks() {
            if requests[b as usize] != self.requests[b as usize] as u32 {
                return Err(format!(
                    "block {b}: {} requests recorded, {} outstanding",
                    self.requests[b as usize], requests[b as usize]
                ));
            }
        }
        for p in 0..self.geo.num_pieces() {
            let blocks = self.geo.piece_blocks(p);
            let missing = blocks.clone().filter(|b| !self.have.contains(*b)).count() as u32;
            let unrequested = blocks
                .filter(|b| !self.have.contains(*b) && self.requests[*b as usize] == 0)
                .count() as u32;
            if missing != self.piece_missing[p as usize] {
                return Err(format!(
                    "piece {p}: missing {missing} vs {}",
                    self.piece_missing[p as usize]
                ));
            }
            if unrequested != self.piece_unrequested[p as usize] {
                return Err(format!(
                    "piece {p}: unrequested {unrequested} vs {}",
                    self.piece_unrequested[p as usize]
                ));
            }
            let pickable = self.downloading()
                && self.piece_unrequested[p as usize] > 0
                && self.geo.piece_blocks(p).all(|b| self.leaves.is_proven(b));
            if pickable != self.picker.contains(p) {
                return Err(format!(
                    "piece {p}: pickable {pickable} but in picker {}",
                    self.picker.contains(p)
                ));
            }
            let avail = self
                .peers
                .values()
                .filter(|q| q.counted && q.pieces.contains(p))
                .count() as u32;
            if avail != self.picker.availability(p) {
                return Err(format!(
                    "piece {p}: availability {avail} vs {}",
                    self.picker.availability(p)
                ));
            }
        }
        let hint_ok = (self.cursor..self.in_order_hint.min(self.geo.num_blocks()))
            .all(|b| self.have.contains(b) || self.requests[b as usize] > 0);
        if !hint_ok {
            return Err("in-order hint skips an unrequested block".into());
        }
        Ok(())
    }
}

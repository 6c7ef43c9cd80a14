//! Scenarios: who is in the swarm, how fast, how they behave; and the run loop.

use std::collections::{BTreeSet, VecDeque};

use sha2::Digest as _;
use std::time::Duration;

use bytes::Bytes;

use super::network::{Link, Queue, SimEvent};
use super::swarm::{Links, Tracker, end_point, sdp};
use crate::content::{BLOCK_SIZE, ContentHasher, Hash32, hash_block};
use crate::engine::{
    Action, ContentMeta, DisconnectReason, Engine, EngineConfig, Event, FailReason, PeerId, Stats,
    Time,
};
use crate::membership::{self, ConnId, Membership, MembershipConfig, Opened};

/// The one tracker every node knows.
const TRACKER: &str = "wss://tracker.sim/announce";

fn peer(conn: ConnId) -> PeerId {
    PeerId(conn.0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Holds the whole content from the start.
    Seed,
    Downloader,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Honest,
    /// Flips a byte in every block it uploads.
    CorruptBlocks,
    /// Seeds forged content under its own, self-consistent Merkle root, claiming the
    /// real SHA-256.
    FakeRoot,
    /// Accepts requests and never answers them.
    Silent,
}

#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub role: Role,
    pub behaviour: Behaviour,
    /// Bytes per second.
    pub upload: u64,
    pub download: u64,
    pub join_at: Duration,
    pub leave_at: Option<Duration>,
    /// From this time on the node sends nothing at all while its connections stay
    /// open: a killed process whose peers have not noticed yet.
    pub freeze_at: Option<Duration>,
    /// This node cannot reach the origin (a firewall, a broken proxy).
    pub origin_unreachable: bool,
}

impl NodeSpec {
    pub fn seed(upload: u64) -> Self {
        NodeSpec {
            role: Role::Seed,
            behaviour: Behaviour::Honest,
            upload,
            download: upload,
            join_at: Duration::ZERO,
            leave_at: None,
            freeze_at: None,
            origin_unreachable: false,
        }
    }

    pub fn downloader(upload: u64, download: u64) -> Self {
        NodeSpec {
            role: Role::Downloader,
            behaviour: Behaviour::Honest,
            upload,
            download,
            join_at: Duration::ZERO,
            leave_at: None,
            freeze_at: None,
            origin_unreachable: false,
        }
    }

    pub fn without_origin(mut self) -> Self {
        self.origin_unreachable = true;
        self
    }

    pub fn behaving(mut self, b: Behaviour) -> Self {
        self.behaviour = b;
        self
    }

    pub fn joining_at(mut self, t: Duration) -> Self {
        self.join_at = t;
        self
    }

    pub fn leaving_at(mut self, t: Duration) -> Self {
        self.leave_at = Some(t);
        self
    }

    pub fn freezing_at(mut self, t: Duration) -> Self {
        self.freeze_at = Some(t);
        self
    }
}

#[derive(Debug, Clone)]
pub struct OriginSpec {
    /// Total upload of the origin server, bytes per second, shared by all requests.
    pub rate: u64,
}

/// What downloaders are told about the content before they start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Knowledge {
    /// Only the trusted SHA-256 (the common case: an origin header).
    Sha256,
    /// The SHA-256 and a trusted root.
    Root,
    /// The SHA-256 and the trusted leaf layer (published with the content).
    Leaves,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub size: u64,
    pub seed: u64,
    pub latency: Duration,
    pub origin: Option<OriginSpec>,
    pub nodes: Vec<NodeSpec>,
    pub knowledge: Knowledge,
    pub config: EngineConfig,
    /// Simulated time after which the run stops, finished or not.
    pub time_limit: Duration,
    /// The origin serves other bytes than the trusted SHA-256 names.
    pub lying_origin: bool,
    /// Recount every engine's bookkeeping after each event (slow; for tests).
    pub check_invariants: bool,
}

impl Scenario {
    pub fn new(size: u64, seed: u64) -> Self {
        Scenario {
            size,
            seed,
            latency: Duration::from_millis(20),
            origin: None,
            nodes: Vec::new(),
            knowledge: Knowledge::Sha256,
            config: EngineConfig::default(),
            time_limit: Duration::from_secs(3600),
            lying_origin: false,
            check_invariants: false,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct NodeOutcome {
    pub completed_at: Option<Duration>,
    pub failed: Option<FailReason>,
    /// The stored bytes equal the content at completion.
    pub content_ok: bool,
    pub stats: Stats,
    /// Peers (node indices) this node banned.
    pub banned: Vec<usize>,
    pub ban_reasons: Vec<String>,
    /// Highest byte offset declared deliverable.
    pub delivered: u64,
    /// Some byte declared deliverable differed from the content and was not retracted
    /// by a delivery reset (which makes the consumer discard what it streamed).
    pub delivered_wrong: bool,
    /// A wrong byte was declared deliverable at some point (then retracted).
    pub ever_delivered_wrong: bool,
    pub delivery_resets: u32,
    /// When the first deliverable byte appeared, and the deliverable offset at each
    /// tenth of the completion time (for the in-order check).
    pub first_delivery_at: Option<Duration>,
    pub delivery_log: Vec<(Duration, u64)>,
    /// (time, bytes from peers, bytes from origin, bytes uploaded), every 100 ms.
    pub traffic_log: Vec<(Duration, u64, u64, u64)>,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub nodes: Vec<NodeOutcome>,
    pub origin_bytes_sent: u64,
    pub ended_at: Duration,
    pub events: u64,
}

impl Outcome {
    /// Completion time of the last downloader to finish, if all did.
    pub fn last_completion(&self, scenario: &Scenario) -> Option<Duration> {
        scenario
            .nodes
            .iter()
            .zip(&self.nodes)
            .filter(|(s, _)| s.role == Role::Downloader)
            .map(|(_, o)| o.completed_at)
            .try_fold(Duration::ZERO, |acc, t| t.map(|t| acc.max(t)))
    }
}

struct Node {
    spec: NodeSpec,
    engine: Option<Engine>,
    store: Vec<u8>,
    up: Link,
    down: Link,
    timer: Option<Time>,
    /// The node's membership of the swarm, while it is in it.
    m: Option<Membership>,
    links: Links,
    out: NodeOutcome,
    gone: bool,
}

struct Stream {
    node: usize,
    request: u64,
    next: u64,
    end: u64,
}

struct Sim<'a> {
    sc: &'a Scenario,
    content: &'a [u8],
    forged: Vec<u8>,
    meta: ContentMeta,
    forged_leaves: Vec<Hash32>,
    real_leaves: Vec<Hash32>,
    nodes: Vec<Node>,
    queue: Queue,
    now: Time,
    streams: VecDeque<Stream>,
    cancelled: BTreeSet<(usize, u64)>,
    /// Latest delivery time per (sender, receiver) channel, to keep channels ordered.
    channel_clock: std::collections::BTreeMap<(usize, usize), Time>,
    origin_busy: bool,
    origin_sent: u64,
    events: u64,
    tracker: Tracker,
}

fn t(d: Duration) -> Time {
    Time::from_micros(d.as_micros() as u64)
}

fn d(t: Time) -> Duration {
    Duration::from_micros(t.as_micros())
}

fn leaves_of(data: &[u8]) -> Vec<Hash32> {
    data.chunks(BLOCK_SIZE as usize).map(hash_block).collect()
}

/// Runs a scenario to the end: every downloader finished, or the time limit.
pub fn run(sc: &Scenario) -> Outcome {
    let content = super::content(sc.size, sc.seed);
    let mut hasher = ContentHasher::keeping_leaves();
    hasher.update(&content);
    let (digests, leaves) = hasher.finish_with_leaves();
    let real_leaves = leaves.unwrap_or_default();
    // Forged content: same size, every 7th block altered.
    let mut forged = content.clone();
    for (i, chunk) in forged.chunks_mut(BLOCK_SIZE as usize).enumerate() {
        if i % 7 == 3 {
            chunk[0] ^= 0xff;
        }
    }
    let meta = ContentMeta {
        sha256: digests.sha256,
        size: sc.size,
        root: match sc.knowledge {
            Knowledge::Sha256 => None,
            _ => Some(digests.root),
        },
        leaves: match sc.knowledge {
            Knowledge::Leaves => Some(real_leaves.clone()),
            _ => None,
        },
    };
    let nodes = sc
        .nodes
        .iter()
        .map(|spec| Node {
            spec: spec.clone(),
            engine: None,
            store: Vec::new(),
            up: Link::new(spec.upload),
            down: Link::new(spec.download),
            timer: None,
            m: None,
            links: Links::default(),
            out: NodeOutcome::default(),
            gone: false,
        })
        .collect();
    let mut sim = Sim {
        sc,
        content: &content,
        forged_leaves: leaves_of(&forged),
        forged,
        meta,
        real_leaves,
        nodes,
        queue: Queue::new(),
        now: Time::ZERO,
        streams: VecDeque::new(),
        cancelled: BTreeSet::new(),
        channel_clock: std::collections::BTreeMap::new(),
        origin_busy: false,
        origin_sent: 0,
        events: 0,
        tracker: Tracker::default(),
    };
    for (i, spec) in sc.nodes.iter().enumerate() {
        sim.queue.push(t(spec.join_at), SimEvent::Join { node: i });
        if let Some(leave) = spec.leave_at {
            sim.queue.push(t(leave), SimEvent::Leave { node: i });
        }
    }
    sim.run();
    Outcome {
        nodes: sim.nodes.into_iter().map(|n| n.out).collect(),
        origin_bytes_sent: sim.origin_sent,
        ended_at: d(sim.now),
        events: sim.events,
    }
}

impl Sim<'_> {
    fn run(&mut self) {
        let limit = t(self.sc.time_limit);
        while let Some((at, ev)) = self.queue.pop() {
            if at > limit {
                self.now = limit;
                break;
            }
            self.now = at;
            self.events += 1;
            self.step(ev);
            if self.all_downloaders_done() {
                break;
            }
        }
    }

    fn all_downloaders_done(&self) -> bool {
        self.nodes.iter().all(|n| {
            n.spec.role == Role::Seed
                || n.gone
                || n.out.completed_at.is_some()
                || n.out.failed.is_some()
        })
    }

    fn live(&self, i: usize) -> bool {
        self.nodes[i].engine.is_some()
    }

    fn step(&mut self, ev: SimEvent) {
        let latency = self.sc.latency;
        match ev {
            SimEvent::Join { node } => self.join(node),
            SimEvent::Leave { node } => self.leave(node),
            SimEvent::Open { node, conn } => self.opened(node, conn),
            SimEvent::Ended { node, conn } => self.ended(node, conn),
            SimEvent::TrackerOpen { node } => {
                if let Some(m) = self.nodes[node].m.as_mut() {
                    m.tracker_opened(self.now, 0);
                }
                self.after(node);
            }
            SimEvent::ToTracker { from, text } => {
                for (to, text) in self.tracker.receive(from, &text) {
                    self.queue
                        .push(self.now + latency, SimEvent::FromTracker { node: to, text });
                }
            }
            SimEvent::FromTracker { node, text } => {
                if let Some(m) = self.nodes[node].m.as_mut() {
                    m.tracker_text(self.now, 0, &text);
                }
                self.after(node);
            }
            SimEvent::ArriveDownlink {
                from,
                to,
                conn,
                data,
            } => {
                // A data channel is ordered: nothing overtakes an earlier message.
                let at = self.nodes[to].down.transmit(self.now, data.len());
                let last = self.channel_clock.entry((from, to)).or_insert(Time::ZERO);
                let at = at.max(*last);
                *last = at;
                self.queue.push(
                    at,
                    SimEvent::Deliver {
                        from,
                        to,
                        conn,
                        data,
                    },
                );
            }
            SimEvent::Deliver {
                from,
                to,
                conn,
                data,
            } => {
                if self.nodes[to].links.open.get(&conn).map(|(n, _)| *n) == Some(from) {
                    self.feed(
                        to,
                        Event::PeerMessage {
                            peer: peer(conn),
                            data,
                        },
                    );
                }
            }
            SimEvent::OriginOpen {
                node,
                request,
                start,
                end,
            } => {
                if self.live(node) && !self.cancelled.remove(&(node, request)) {
                    self.streams.push_back(Stream {
                        node,
                        request,
                        next: start,
                        end,
                    });
                    if !self.origin_busy {
                        self.origin_busy = true;
                        self.queue.push(self.now, SimEvent::OriginTick);
                    }
                }
            }
            SimEvent::OriginTick => self.origin_tick(),
            SimEvent::OriginArrive {
                to,
                request,
                offset,
                data,
            } => {
                // An HTTP response arrives in order, however small its last piece.
                let at = self.nodes[to].down.transmit_queued(self.now, data.len());
                self.queue.push(
                    at,
                    SimEvent::OriginDeliver {
                        to,
                        request,
                        offset,
                        data,
                    },
                );
            }
            SimEvent::OriginDeliver {
                to,
                request,
                offset,
                data,
            } => {
                self.feed(
                    to,
                    Event::OriginData {
                        request,
                        offset,
                        data,
                    },
                );
            }
            SimEvent::Timer { node, at } => {
                if self.nodes[node].timer == Some(at) {
                    self.nodes[node].timer = None;
                    if let Some(e) = self.nodes[node].engine.as_mut() {
                        e.handle_timeout(self.now);
                    }
                    if let Some(m) = self.nodes[node].m.as_mut() {
                        m.handle_timeout(self.now);
                    }
                    self.after(node);
                }
            }
            SimEvent::Local { node, event } => self.feed(node, event),
        }
    }

    fn join(&mut self, node: usize) {
        let spec = self.nodes[node].spec.clone();
        let mut cfg = self.sc.config.clone();
        cfg.rng_seed = self.sc.seed.wrapping_mul(1000).wrapping_add(node as u64);
        cfg.origin_enabled = self.sc.origin.is_some() && !spec.origin_unreachable;
        let (engine, store) = match (spec.role, spec.behaviour) {
            (Role::Seed, Behaviour::FakeRoot) => (
                Engine::seed(
                    self.meta.sha256,
                    self.sc.size,
                    self.forged_leaves.clone(),
                    cfg,
                ),
                self.forged.clone(),
            ),
            (Role::Seed, _) => (
                Engine::seed(
                    self.meta.sha256,
                    self.sc.size,
                    self.real_leaves.clone(),
                    cfg,
                ),
                self.content.to_vec(),
            ),
            (Role::Downloader, _) => (
                Engine::download(self.meta.clone(), cfg),
                vec![0u8; self.sc.size as usize],
            ),
        };
        let Ok(engine) = engine else {
            self.nodes[node].out.failed = Some(FailReason::Stalled);
            return;
        };
        self.nodes[node].engine = Some(engine);
        self.nodes[node].store = store;
        // Each node's randomness (its peer id, its offer ids) from the scenario's seed.
        let mut random = [0u8; 44];
        let h = sha2::Sha256::digest(format!("{}:{node}", self.sc.seed));
        random[..32].copy_from_slice(&h);
        random[32..].copy_from_slice(&sha2::Sha256::digest(h)[..12]);
        let cfg = MembershipConfig::new(
            &self.meta.sha256,
            None,
            vec![TRACKER.to_string()],
            true,
            random,
        );
        let downloading = spec.role == Role::Downloader;
        self.nodes[node].m = Some(Membership::new(cfg, self.now, downloading));
        self.after(node);
    }

    /// The node leaves: the tracker hears `stopped`, its connections close.
    fn leave(&mut self, node: usize) {
        if let Some(m) = self.nodes[node].m.as_mut() {
            m.leave(self.now);
        }
        self.after(node);
        let links = std::mem::take(&mut self.nodes[node].links);
        for (_, far) in links.open.into_iter().chain(links.pending) {
            self.queue.push(
                self.now + self.sc.latency,
                SimEvent::Ended {
                    node: far.0,
                    conn: far.1,
                },
            );
        }
        self.nodes[node].engine = None;
        self.nodes[node].m = None;
        self.nodes[node].gone = true;
        self.streams.retain(|s| s.node != node);
    }

    /// A connection's channel opened at `node`: a peer, if membership keeps it.
    fn opened(&mut self, node: usize, conn: ConnId) {
        let now = self.now;
        let n = &mut self.nodes[node];
        let (Some(m), Some(far)) = (n.m.as_mut(), n.links.pending.get(&conn).copied()) else {
            return;
        };
        match m.connection_opened(now, conn) {
            Opened::Keep { .. } => {
                n.links.pending.remove(&conn);
                n.links.open.insert(conn, far);
                self.feed(node, Event::PeerConnected { peer: peer(conn) });
            }
            Opened::Close => self.close(node, conn),
        }
        self.after(node);
    }

    /// The far end of `conn` closed it.
    fn ended(&mut self, node: usize, conn: ConnId) {
        let was_open = self.nodes[node].links.open.contains_key(&conn);
        if self.nodes[node].links.remove(conn).is_none() {
            return;
        }
        if let Some(m) = self.nodes[node].m.as_mut() {
            m.connection_ended(self.now, conn);
        }
        if was_open {
            self.feed(node, Event::PeerGone { peer: peer(conn) });
        }
        self.after(node);
    }

    /// `node` closes `conn`; the far end hears of it one latency later.
    fn close(&mut self, node: usize, conn: ConnId) {
        let was_open = self.nodes[node].links.open.contains_key(&conn);
        let Some(far) = self.nodes[node].links.remove(conn) else {
            return;
        };
        if was_open {
            self.feed(node, Event::PeerGone { peer: peer(conn) });
        }
        self.queue.push(
            self.now + self.sc.latency,
            SimEvent::Ended {
                node: far.0,
                conn: far.1,
            },
        );
    }

    /// Carries out what `node`'s membership decided.
    fn act_membership(&mut self, node: usize, action: membership::Action) {
        let now = self.now;
        let latency = self.sc.latency;
        match action {
            membership::Action::ConnectTracker { .. } => {
                self.queue
                    .push(now + latency, SimEvent::TrackerOpen { node });
            }
            membership::Action::SendTracker { text, .. } => {
                self.queue
                    .push(now + latency, SimEvent::ToTracker { from: node, text });
            }
            membership::Action::CloseTracker { .. } | membership::Action::TrackerRefused { .. } => {
            }
            membership::Action::MakeOffer { conn } => {
                if let Some(m) = self.nodes[node].m.as_mut() {
                    m.offer_made(now, conn, sdp("offer", node, conn));
                }
            }
            membership::Action::DiscardOffer { .. } => {}
            membership::Action::Answer { conn, offer, .. } => {
                let Some(far) = end_point(&offer) else { return };
                self.nodes[node].links.pending.insert(conn, far);
                if let Some(m) = self.nodes[node].m.as_mut() {
                    m.answer_made(now, conn, sdp("answer", node, conn));
                }
            }
            membership::Action::AcceptAnswer { conn, answer, .. } => {
                let Some(far) = end_point(&answer) else {
                    return;
                };
                self.nodes[node].links.pending.insert(conn, far);
                // Both ends' channels open once the answer is applied (ICE and DTLS
                // take one more trip).
                self.queue
                    .push(now + latency, SimEvent::Open { node, conn });
                self.queue.push(
                    now + latency,
                    SimEvent::Open {
                        node: far.0,
                        conn: far.1,
                    },
                );
            }
            membership::Action::Close { conn } => self.close(node, conn),
        }
    }

    fn origin_tick(&mut self) {
        let Some(mut s) = self.streams.pop_front() else {
            self.origin_busy = false;
            return;
        };
        let rate = self.sc.origin.as_ref().map_or(1, |o| o.rate.max(1));
        let chunk = (s.end - s.next).min(BLOCK_SIZE as u64);
        let source = if self.sc.lying_origin {
            &self.forged
        } else {
            self.content
        };
        let data = Bytes::copy_from_slice(&source[s.next as usize..(s.next + chunk) as usize]);
        let offset = s.next;
        s.next += chunk;
        let busy = Duration::from_micros((chunk as u128 * 1_000_000 / rate as u128) as u64);
        self.origin_sent += chunk;
        self.queue.push(
            self.now + busy + self.sc.latency,
            SimEvent::OriginArrive {
                to: s.node,
                request: s.request,
                offset,
                data,
            },
        );
        if s.next < s.end {
            self.streams.push_back(s);
        }
        self.queue.push(self.now + busy, SimEvent::OriginTick);
    }

    fn feed(&mut self, node: usize, event: Event) {
        let Some(engine) = self.nodes[node].engine.as_mut() else {
            return;
        };
        engine.handle(self.now, event);
        if self.sc.check_invariants
            && let Err(e) = engine.check_invariants()
        {
            panic!("node {node} at {:?}: {e}", self.now);
        }
        self.after(node);
    }

    /// Drains a node's actions and re-arms its timer.
    fn after(&mut self, node: usize) {
        loop {
            let Some(action) = self.nodes[node]
                .engine
                .as_mut()
                .and_then(|e| e.poll_action())
            else {
                break;
            };
            self.act(node, action);
        }
        while let Some(action) = self.nodes[node].m.as_mut().and_then(|m| m.poll_action()) {
            self.act_membership(node, action);
        }
        let now = self.now;
        let n = &mut self.nodes[node];
        let membership_due = n.m.as_ref().and_then(|m| m.poll_timeout());
        if let Some(e) = n.engine.as_ref() {
            n.out.stats = e.stats().clone();
            let due = n
                .out
                .traffic_log
                .last()
                .is_none_or(|(t, ..)| d(now) >= *t + Duration::from_millis(100));
            if due {
                let s = &n.out.stats;
                n.out.traffic_log.push((
                    d(now),
                    s.bytes_from_peers,
                    s.bytes_from_origin,
                    s.bytes_uploaded,
                ));
            }
            if let Some(next) = [e.poll_timeout(), membership_due]
                .into_iter()
                .flatten()
                .min()
            {
                // Never schedule in the past; a timer at `now` runs after this event.
                let next = next.max(now + Duration::from_micros(1));
                if n.timer.is_none_or(|cur| next < cur) {
                    n.timer = Some(next);
                    self.queue.push(next, SimEvent::Timer { node, at: next });
                }
            }
        }
    }

    fn act(&mut self, node: usize, action: Action) {
        let now = self.now;
        let latency = self.sc.latency;
        match action {
            Action::Send { peer, data } => {
                let conn = ConnId(peer.0);
                let Some((to, far)) = self.nodes[node].links.open.get(&conn).copied() else {
                    return;
                };
                let frozen = self.nodes[node]
                    .spec
                    .freeze_at
                    .is_some_and(|t| Time::ZERO + t <= now);
                if frozen {
                    return;
                }
                let data = match self.nodes[node].spec.behaviour {
                    Behaviour::CorruptBlocks if data.first() == Some(&0x03) && data.len() > 5 => {
                        let mut v = data.to_vec();
                        v[5] ^= 0x55;
                        Bytes::from(v)
                    }
                    Behaviour::Silent if data.first() == Some(&0x03) => return,
                    _ => data,
                };
                let at = self.nodes[node].up.transmit(now, data.len()) + latency;
                self.queue.push(
                    at,
                    SimEvent::ArriveDownlink {
                        from: node,
                        to,
                        conn: far,
                        data,
                    },
                );
            }
            Action::Disconnect { peer, reason } => {
                let conn = ConnId(peer.0);
                let far = self.nodes[node].links.open.get(&conn).map(|(n, _)| *n);
                let remote = self.nodes[node].m.as_ref().and_then(|m| m.remote(conn));
                if let (DisconnectReason::Banned(why), Some(other)) = (reason, far) {
                    self.nodes[node].out.banned.push(other);
                    self.nodes[node].out.ban_reasons.push(why);
                    // Membership closes every connection to it and never connects again.
                    if let (Some(m), Some(remote)) = (self.nodes[node].m.as_mut(), remote) {
                        m.ban(remote);
                    }
                }
                if let Some(m) = self.nodes[node].m.as_mut() {
                    m.connection_ended(now, conn);
                }
                self.close(node, conn);
            }
            Action::FetchOrigin { request, range } => {
                self.queue.push(
                    now + latency,
                    SimEvent::OriginOpen {
                        node,
                        request,
                        start: range.start,
                        end: range.end,
                    },
                );
            }
            Action::CancelOrigin { request } => {
                self.streams
                    .retain(|s| !(s.node == node && s.request == request));
                // A cancel that overtakes its own request keeps it from starting.
                self.cancelled.insert((node, request));
            }
            Action::Write { offset, data, .. } => {
                let store = &mut self.nodes[node].store;
                store[offset as usize..offset as usize + data.len()].copy_from_slice(&data);
            }
            Action::ReadBlock { block, offset, len } => {
                let store = &self.nodes[node].store;
                let data =
                    Bytes::copy_from_slice(&store[offset as usize..(offset + len as u64) as usize]);
                self.queue.push(
                    now,
                    SimEvent::Local {
                        node,
                        event: Event::BlockRead { block, data },
                    },
                );
            }
            Action::Deliverable { upto } => {
                let out = &mut self.nodes[node].out;
                let from = out.delivered as usize;
                if self.nodes[node].store[from..upto as usize] != self.content[from..upto as usize]
                {
                    self.nodes[node].out.delivered_wrong = true;
                    self.nodes[node].out.ever_delivered_wrong = true;
                }
                let out = &mut self.nodes[node].out;
                out.delivered = upto;
                out.first_delivery_at.get_or_insert(d(now));
                out.delivery_log.push((d(now), upto));
            }
            Action::DeliveryReset => {
                let out = &mut self.nodes[node].out;
                out.delivery_resets += 1;
                out.delivered = 0;
                out.delivered_wrong = false;
            }
            Action::VerifyContent => {
                let sha256 = Hash32(
                    sha2::Digest::finalize(sha2::Digest::chain_update(
                        <sha2::Sha256 as sha2::Digest>::new(),
                        &self.nodes[node].store,
                    ))
                    .into(),
                );
                self.queue.push(
                    now,
                    SimEvent::Local {
                        node,
                        event: Event::ContentDigest { sha256 },
                    },
                );
            }
            Action::Completed => {
                let ok = self.nodes[node].store == self.content;
                let out = &mut self.nodes[node].out;
                out.completed_at = Some(d(now));
                out.content_ok = ok;
                if let Some(m) = self.nodes[node].m.as_mut() {
                    m.set_completed(now);
                }
            }
            Action::Failed { reason } => {
                self.nodes[node].out.failed = Some(reason);
            }
        }
    }
}

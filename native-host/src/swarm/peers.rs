//! The swarm of one content, as the download driver's [`PeerSource`]: tracker clients
//! on every configured tracker, a pool of ready offers, answers to other peers'
//! offers, and one data channel per peer, reported to the engine as
//! `PeerConnected` / `PeerMessage` / `PeerGone`.
//!
//! ```text
//!  trackers ──offers/answers──▶ coordinator ──channels──▶ reader ──PeerMessage──▶ engine
//!                                                         writer ◀──send()──────── engine
//! ```
//!
//! The engine's sends go straight to each peer's writer task (no hop through the
//! coordinator); the writer waits on the channel's watermarks, so a slow peer only
//! ever slows itself.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;
use swarmload_core::content::Hash32;
use swarmload_core::engine::{DisconnectReason, Event, PeerId};
use swarmload_core::tracker_protocol::Id20;
use swarmload_core::wire::Message;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::rtc::{self, Channel, PendingOffer, RtcConfig};
use super::tracker_client::{self, ClientConfig, Command, Update};
use crate::download::PeerSource;

/// An offer nobody answered within this long is withdrawn (WebTorrent's own figure).
const OFFER_TTL: Duration = Duration::from_secs(50);
/// Ready offers kept beyond what the trackers asked for, so an announce never waits
/// for ICE gathering.
const SPARE_OFFERS: usize = 2;
/// Offers being made at once.
const MAX_MAKING: usize = 8;
/// Connections kept per content; further offers are ignored.
const MAX_PEERS: usize = 32;
/// After a connection attempt failed, announce again with fresh offers this soon
/// rather than at the tracker's interval (minutes): the peer is there, the attempt
/// (ICE, DTLS) just did not make it. At most once per this period.
const RETRY_ANNOUNCE: Duration = Duration::from_secs(5);
/// Tracker commands queued per tracker before further ones are dropped.
const TRACKER_QUEUE: usize = 64;

/// Where and how the swarm runs.
#[derive(Debug, Clone)]
pub struct SwarmConfig {
    /// ws:// or wss:// tracker URLs.
    pub trackers: Vec<String>,
    pub rtc: RtcConfig,
    /// The policy's `group_id`: peers meet only inside the same group.
    pub group_id: Option<String>,
    /// For tests of the receiving side only: every block sent has one byte flipped,
    /// as a malicious or broken peer would send it.
    pub corrupt_uploads: bool,
}

/// One peer's link, as the engine's sends see it.
struct Link {
    remote: Id20,
    /// Whether the channel came from our offer (else we answered theirs).
    ours: bool,
    out: mpsc::UnboundedSender<Bytes>,
}

#[derive(Default)]
struct Shared {
    links: HashMap<PeerId, Link>,
    /// Remote peers banned for this content: never connected to again.
    banned: HashSet<Id20>,
}

/// Orders to the coordinator from the driver's side.
enum Control {
    Progress {
        left: u64,
        uploaded: u64,
        downloaded: u64,
    },
    Completed,
}

/// Results of the coordinator's own tasks.
enum Inner {
    OfferMade(Result<(PendingOffer, Value), rtc::RtcError>),
    Connected {
        remote: Id20,
        channel: Channel,
        ours: bool,
    },
    ConnectFailed {
        remote: Id20,
        why: String,
    },
    Gone {
        peer: PeerId,
    },
}

/// A swarm for one content; peers are found once [`PeerSource::start`] names it.
pub struct Swarm {
    cfg: SwarmConfig,
    shared: Arc<Mutex<Shared>>,
    stop: watch::Sender<bool>,
    control: Option<mpsc::UnboundedSender<Control>>,
    task: Option<JoinHandle<()>>,
}

impl Swarm {
    pub fn new(cfg: SwarmConfig) -> Swarm {
        Swarm {
            cfg,
            shared: Arc::default(),
            stop: watch::channel(false).0,
            control: None,
            task: None,
        }
    }

    fn shared(&self) -> MutexGuard<'_, Shared> {
        // A panic elsewhere cannot leave the map half-updated in a way that matters.
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

impl PeerSource for Swarm {
    fn start(&mut self, sha256: Hash32, events: mpsc::Sender<Event>) {
        if self.task.is_some() || self.cfg.trackers.is_empty() {
            return;
        }
        let info_hash = Id20(sha256.swarm_key(self.cfg.group_id.as_deref()).0);
        let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
        self.control = Some(ctl_tx);
        let coordinator = Coordinator {
            cfg: self.cfg.clone(),
            info_hash,
            peer_id: new_peer_id(),
            events,
            shared: self.shared.clone(),
            trackers: HashMap::new(),
            ready: VecDeque::new(),
            sent: HashMap::new(),
            making: 0,
            wants: VecDeque::new(),
            attempts: HashMap::new(),
            next_peer: 0,
            tasks: Vec::new(),
            retry_at: None,
            last_retry: None,
        };
        self.task = Some(tokio::spawn(coordinator.run(self.stop.subscribe(), ctl_rx)));
    }

    fn send(&mut self, peer: PeerId, data: Bytes) {
        let data = if self.cfg.corrupt_uploads {
            corrupt_block(data)
        } else {
            data
        };
        if let Some(link) = self.shared().links.get(&peer) {
            // A closed writer means the peer is going; its `PeerGone` follows.
            let _ = link.out.send(data);
        }
    }

    fn disconnect(&mut self, peer: PeerId, reason: &DisconnectReason) {
        let mut shared = self.shared();
        // Dropping the link ends its writer, which closes the channel.
        if let Some(link) = shared.links.remove(&peer) {
            tracing::info!(peer = peer.0, ?reason, "disconnecting a peer");
            if matches!(reason, DisconnectReason::Banned(_)) {
                shared.banned.insert(link.remote);
            }
        }
    }

    fn progress(&mut self, left: u64, uploaded: u64, downloaded: u64) {
        if let Some(c) = &self.control {
            let _ = c.send(Control::Progress {
                left,
                uploaded,
                downloaded,
            });
        }
    }

    fn completed(&mut self) {
        if let Some(c) = &self.control {
            let _ = c.send(Control::Completed);
        }
    }

    fn leave(&mut self) -> Option<JoinHandle<()>> {
        self.stop.send_replace(true);
        self.task.take()
    }
}

/// A random peer id with a client prefix, as BitTorrent clients name themselves.
fn new_peer_id() -> Id20 {
    let mut id = [0u8; 20];
    id[..8].copy_from_slice(b"-SL0100-");
    // Without the system's randomness, a time-based id still differs per process.
    if getrandom::fill(&mut id[8..]).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            ^ std::process::id() as u128;
        id[8..].copy_from_slice(&t.to_le_bytes()[..12]);
    }
    Id20(id)
}

/// The test-only bad peer: a block message with one data byte flipped.
fn corrupt_block(data: Bytes) -> Bytes {
    match Message::decode(&data) {
        Ok(Message::Block { block, data: body }) if !body.is_empty() => {
            let mut bad = body.to_vec();
            bad[0] ^= 0xff;
            Message::Block {
                block,
                data: Bytes::from(bad),
            }
            .encode()
        }
        _ => data,
    }
}

struct Coordinator {
    cfg: SwarmConfig,
    info_hash: Id20,
    peer_id: Id20,
    events: mpsc::Sender<Event>,
    shared: Arc<Mutex<Shared>>,
    trackers: HashMap<String, mpsc::Sender<Command>>,
    /// Offers made and not yet handed to a tracker.
    ready: VecDeque<(PendingOffer, Value, Instant)>,
    /// Offers out with a tracker, by offer id, waiting for an answer.
    sent: HashMap<Id20, (PendingOffer, Instant)>,
    making: usize,
    /// Trackers that asked for offers, and how many.
    wants: VecDeque<(String, usize)>,
    /// Connection attempts in flight per remote peer. Two peers that offer to each
    /// other at the same moment each answer the other's offer and each get the
    /// other's answer: both attempts go on (dropping either side's would kill both
    /// connections), and if both open, both sides keep the same one
    /// (`keeps_own_offer`).
    attempts: HashMap<Id20, u32>,
    next_peer: u64,
    tasks: Vec<JoinHandle<()>>,
    /// When to announce again after a failed connection attempt.
    retry_at: Option<Instant>,
    last_retry: Option<Instant>,
}

impl Coordinator {
    fn shared(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn run(
        mut self,
        mut stop: watch::Receiver<bool>,
        mut control: mpsc::UnboundedReceiver<Control>,
    ) {
        let (upd_tx, mut updates) = mpsc::channel::<(String, Update)>(64);
        let (inner_tx, mut inner) = mpsc::channel::<Inner>(64);
        let mut clients = Vec::new();
        for url in self.cfg.trackers.clone() {
            let (tx, rx) = mpsc::channel(TRACKER_QUEUE);
            self.trackers.insert(url.clone(), tx);
            let cfg = ClientConfig {
                url,
                info_hash: self.info_hash,
                peer_id: self.peer_id,
            };
            clients.push(tokio::spawn(tracker_client::run(
                cfg,
                rx,
                upd_tx.clone(),
                stop.clone(),
            )));
        }
        drop(upd_tx);
        // The pool fills before any tracker asks, so the first announce carries
        // offers without waiting for ICE gathering.
        self.make_offers(&inner_tx);
        let mut expiry = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                u = updates.recv() => match u {
                    Some((url, u)) => self.on_update(url, u, &inner_tx),
                    None => break,
                },
                Some(i) = inner.recv() => self.on_inner(i, &inner_tx).await,
                Some(c) = control.recv() => self.on_control(c),
                _ = expiry.tick() => {
                    self.expire().await;
                    self.retry_announce(&inner_tx);
                }
                _ = stop.changed() => break,
            }
            if *stop.borrow() {
                break;
            }
        }
        // Leave: channels close, offers are withdrawn, trackers say `stopped`.
        self.shared().links.clear();
        for (p, _, _) in self.ready.drain(..) {
            p.discard().await;
        }
        for (_, (p, _)) in self.sent.drain() {
            p.discard().await;
        }
        for t in self.tasks.drain(..) {
            t.abort();
        }
        self.trackers.clear();
        for c in clients {
            let _ = c.await;
        }
    }

    fn on_update(&mut self, url: String, update: Update, inner: &mpsc::Sender<Inner>) {
        match update {
            Update::WantOffers(n) => {
                self.wants.push_back((url, n));
                self.make_offers(inner);
                self.serve_wants();
            }
            Update::Offer {
                from,
                offer_id,
                offer,
            } => self.on_offer(url, from, offer_id, offer, inner),
            Update::Answer {
                from,
                offer_id,
                answer,
            } => self.on_answer(from, offer_id, answer, inner),
            Update::Connected => tracing::info!(tracker = %url, "tracker connected"),
            Update::Disconnected(why) => {
                tracing::info!(tracker = %url, %why, "tracker unreachable, retrying")
            }
            Update::Counts {
                complete,
                incomplete,
            } => tracing::debug!(tracker = %url, complete, incomplete, "swarm size"),
            Update::Failure(why) => tracing::warn!(tracker = %url, %why, "tracker refused"),
        }
    }

    /// Whether a remote peer may be connected to now: not ourselves, not banned,
    /// not connected already, not with two attempts on the way, and room left.
    fn welcome(&self, remote: Id20) -> bool {
        let shared = self.shared();
        remote != self.peer_id
            && self.attempts.get(&remote).copied().unwrap_or(0) < 2
            && !shared.banned.contains(&remote)
            && !shared.links.values().any(|l| l.remote == remote)
            && shared.links.len() + self.attempts.len() < MAX_PEERS
    }

    fn attempt_started(&mut self, remote: Id20) {
        *self.attempts.entry(remote).or_default() += 1;
    }

    fn attempt_ended(&mut self, remote: Id20) {
        if let Some(n) = self.attempts.get_mut(&remote) {
            *n -= 1;
            if *n == 0 {
                self.attempts.remove(&remote);
            }
        }
    }

    fn on_offer(
        &mut self,
        url: String,
        from: Id20,
        offer_id: Id20,
        offer: Value,
        inner: &mpsc::Sender<Inner>,
    ) {
        if !self.welcome(from) {
            return;
        }
        let Some(tracker) = self.trackers.get(&url).cloned() else {
            return;
        };
        self.attempt_started(from);
        let rtc_cfg = self.cfg.rtc.clone();
        let inner = inner.clone();
        self.tasks.push(tokio::spawn(async move {
            let result = async {
                let (pending, answer) = rtc::answer(&rtc_cfg, offer).await?;
                let _ = tracker.try_send(Command::Answer {
                    to_peer: from,
                    offer_id,
                    answer,
                });
                pending.connect().await
            }
            .await;
            let _ = inner.send(connected(from, result, false)).await;
        }));
    }

    fn on_answer(
        &mut self,
        from: Id20,
        offer_id: Id20,
        answer: Value,
        inner: &mpsc::Sender<Inner>,
    ) {
        let Some((pending, _)) = self.sent.remove(&offer_id) else {
            return;
        };
        if !self.welcome(from) {
            self.tasks.push(tokio::spawn(pending.discard()));
            return;
        }
        self.attempt_started(from);
        let inner = inner.clone();
        self.tasks.push(tokio::spawn(async move {
            let result = pending.connect(answer).await;
            let _ = inner.send(connected(from, result, true)).await;
        }));
    }

    async fn on_inner(&mut self, i: Inner, inner: &mpsc::Sender<Inner>) {
        self.tasks.retain(|t| !t.is_finished());
        match i {
            Inner::OfferMade(Ok((pending, sdp))) => {
                self.making -= 1;
                self.ready.push_back((pending, sdp, Instant::now()));
                self.serve_wants();
                self.make_offers(inner);
            }
            Inner::OfferMade(Err(e)) => {
                self.making -= 1;
                // Drop the request rather than retry at once: the next announce asks
                // again.
                tracing::warn!("cannot make a WebRTC offer: {e}");
                self.wants.pop_front();
            }
            Inner::ConnectFailed { remote, why } => {
                tracing::info!(%why, "peer connection failed");
                self.attempt_ended(remote);
                let earliest = self
                    .last_retry
                    .map_or_else(Instant::now, |t| t + RETRY_ANNOUNCE)
                    .max(Instant::now() + Duration::from_secs(1));
                self.retry_at.get_or_insert(earliest);
            }
            Inner::Connected {
                remote,
                channel,
                ours,
            } => self.attach(remote, channel, ours, inner).await,
            Inner::Gone { peer } => {
                self.shared().links.remove(&peer);
                let _ = self.events.send(Event::PeerGone { peer }).await;
            }
        }
    }

    /// A channel opened: it becomes a peer of the engine.
    async fn attach(
        &mut self,
        remote: Id20,
        channel: Channel,
        ours: bool,
        inner: &mpsc::Sender<Inner>,
    ) {
        self.attempt_ended(remote);
        let keep_ours = keeps_own_offer(self.peer_id, remote);
        let unwanted = {
            let mut shared = self.shared();
            let existing = shared
                .links
                .iter()
                .find(|(_, l)| l.remote == remote)
                .map(|(p, l)| (*p, l.ours));
            match existing {
                _ if shared.banned.contains(&remote) => true,
                None => false,
                // Two crossing attempts both opened: both sides keep the same one
                // (see `keeps_own_offer`). Removing the other's link closes it, and
                // its reader then reports it gone to the engine.
                Some((old, old_ours)) if ours == keep_ours && old_ours != keep_ours => {
                    shared.links.remove(&old);
                    false
                }
                Some(_) => true,
            }
        };
        if unwanted {
            channel.close().await;
            return;
        }
        let peer = PeerId(self.next_peer);
        self.next_peer += 1;
        let Channel {
            mut incoming,
            sender,
        } = channel;
        let (out, mut out_rx) = mpsc::unbounded_channel::<Bytes>();
        self.shared().links.insert(peer, Link { remote, ours, out });
        tracing::info!(peer = peer.0, "peer connected");
        if self
            .events
            .send(Event::PeerConnected { peer })
            .await
            .is_err()
        {
            return;
        }
        let writer = sender.clone();
        tokio::spawn(async move {
            while let Some(data) = out_rx.recv().await {
                if writer.send_bytes(data).await.is_err() {
                    break;
                }
            }
            writer.close().await;
        });
        let events = self.events.clone();
        let inner = inner.clone();
        tokio::spawn(async move {
            while let Some(data) = incoming.recv().await {
                if events
                    .send(Event::PeerMessage { peer, data })
                    .await
                    .is_err()
                {
                    break;
                }
            }
            sender.close().await;
            let _ = inner.send(Inner::Gone { peer }).await;
        });
    }

    fn on_control(&mut self, c: Control) {
        let cmd = match c {
            Control::Progress {
                left,
                uploaded,
                downloaded,
            } => Command::Progress {
                left,
                uploaded,
                downloaded,
            },
            Control::Completed => Command::Completed,
        };
        for t in self.trackers.values() {
            let _ = t.try_send(cmd.clone());
        }
    }

    /// Starts making offers until the pool covers what trackers asked for.
    fn make_offers(&mut self, inner: &mpsc::Sender<Inner>) {
        let asked: usize = self.wants.iter().map(|(_, n)| n).sum();
        let wanted = asked.max(tracker_client::OFFERS_PER_ANNOUNCE) + SPARE_OFFERS;
        while self.ready.len() + self.making < wanted && self.making < MAX_MAKING {
            self.making += 1;
            let cfg = self.cfg.rtc.clone();
            let inner = inner.clone();
            self.tasks.push(tokio::spawn(async move {
                let made = rtc::offer(&cfg).await;
                let _ = inner.send(Inner::OfferMade(made)).await;
            }));
        }
    }

    /// Hands ready offers to the trackers that asked, oldest request first. A request
    /// waits until the pool covers it, or until no more offers are on the way.
    fn serve_wants(&mut self) {
        while let Some((url, n)) = self.wants.front().cloned() {
            let covered = self.ready.len() >= n || (self.making == 0 && !self.ready.is_empty());
            if !covered {
                return;
            }
            self.wants.pop_front();
            let Some(tracker) = self.trackers.get(&url) else {
                continue;
            };
            let k = n.min(self.ready.len());
            let mut offers = Vec::with_capacity(k);
            for (pending, sdp, _) in self.ready.drain(..k) {
                let offer_id = new_peer_id();
                offers.push((offer_id, sdp));
                self.sent.insert(offer_id, (pending, Instant::now()));
            }
            if tracker.try_send(Command::Offers(offers)).is_err() {
                tracing::debug!(tracker = %url, "tracker busy, offers dropped");
            }
        }
    }

    /// Announces again on every tracker, with fresh offers, once a failed connection
    /// attempt asked for it.
    fn retry_announce(&mut self, inner: &mpsc::Sender<Inner>) {
        if self.retry_at.is_none_or(|t| Instant::now() < t) {
            return;
        }
        self.retry_at = None;
        self.last_retry = Some(Instant::now());
        tracing::info!("announcing again after a failed connection");
        for url in self.trackers.keys() {
            self.wants
                .push_back((url.clone(), tracker_client::OFFERS_PER_ANNOUNCE));
        }
        self.make_offers(inner);
        self.serve_wants();
    }

    /// Withdraws offers nobody answered in time.
    async fn expire(&mut self) {
        let now = Instant::now();
        let old: Vec<Id20> = self
            .sent
            .iter()
            .filter(|(_, (_, at))| now.duration_since(*at) > OFFER_TTL)
            .map(|(id, _)| *id)
            .collect();
        for id in old {
            if let Some((p, _)) = self.sent.remove(&id) {
                p.discard().await;
            }
        }
        while self
            .ready
            .front()
            .is_some_and(|(_, _, at)| now.duration_since(*at) > OFFER_TTL)
        {
            if let Some((p, _, _)) = self.ready.pop_front() {
                p.discard().await;
            }
        }
    }
}

/// Which of two channels to the same peer both sides keep, when each answered the
/// other's offer at the same moment: the one offered by the lower peer id. Each side
/// deciding by which opened first could close both.
fn keeps_own_offer(me: Id20, remote: Id20) -> bool {
    me < remote
}

fn connected(remote: Id20, result: Result<Channel, rtc::RtcError>, ours: bool) -> Inner {
    match result {
        Ok(channel) => Inner::Connected {
            remote,
            channel,
            ours,
        },
        Err(e) => Inner::ConnectFailed {
            remote,
            why: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossing_attempts_keep_the_same_channel_on_both_sides() {
        let a = Id20([1; 20]);
        let b = Id20([2; 20]);
        // A keeps the channel of its own offer exactly when B keeps the channel it
        // answered: the same one.
        assert_ne!(keeps_own_offer(a, b), keeps_own_offer(b, a));
        assert!(keeps_own_offer(a, b));
    }
}

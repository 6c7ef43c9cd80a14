//! The swarm of one content, as the download driver's [`PeerSource`]: the core's
//! membership machine decides (announces, offers, answers, backoff, the crossing
//! rule, the peer cap); this driver holds its tracker sockets and WebRTC
//! connections, and reports each open data channel to the engine as
//! `PeerConnected` / `PeerMessage` / `PeerGone`.
//!
//! ```text
//!  tracker sockets ──texts──▶ coordinator (Membership) ──channels──▶ reader ──▶ engine
//!                                                                    writer ◀── engine
//! ```
//!
//! The engine's sends go straight to each peer's writer task (no hop through the
//! coordinator); the writer waits on the channel's watermarks, so a slow peer only
//! ever slows itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;
use swarmload_core::content::Hash32;
use swarmload_core::engine::{DisconnectReason, Event, PeerId, Time};
use swarmload_core::membership::{Action, ConnId, Membership, MembershipConfig, Opened};
use swarmload_core::tracker_protocol::Id20;
use swarmload_core::wire::Message;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::rtc::{self, Channel, PendingOffer, RtcConfig};
use super::tracker_socket::{Report, SocketEvent, TrackerSocket};
use crate::peer_source::PeerSource;

/// How long leaving may wait for the trackers to hear `stopped`.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(3);

/// Where and how the swarm runs.
#[derive(Debug, Clone)]
pub struct SwarmConfig {
    /// ws:// or wss:// tracker URLs.
    pub trackers: Vec<String>,
    pub rtc: RtcConfig,
    /// The policy's `group_id`: peers meet only inside the same group.
    pub group_id: Option<String>,
    /// The policy's `upload_enabled`: without it a finished download stops offering.
    pub upload_enabled: bool,
    /// For tests of the receiving side only: every block sent has one byte flipped,
    /// as a malicious or broken peer would send it.
    pub corrupt_uploads: bool,
}

/// One peer's link, as the engine's sends see it.
struct Link {
    remote: Id20,
    out: mpsc::UnboundedSender<Bytes>,
}

/// The open peers, shared with the engine's side for its sends.
type Links = Arc<Mutex<HashMap<PeerId, Link>>>;

fn lock(links: &Links) -> MutexGuard<'_, HashMap<PeerId, Link>> {
    // A panic elsewhere cannot leave the map half-updated in a way that matters.
    links.lock().unwrap_or_else(|e| e.into_inner())
}

/// Orders to the coordinator from the driver's side.
enum Control {
    Progress {
        left: u64,
        uploaded: u64,
        downloaded: u64,
    },
    Completed,
    Ban(Id20),
}

/// Results of the coordinator's own tasks.
enum Inner {
    OfferMade(ConnId, Result<(PendingOffer, Value), rtc::RtcError>),
    AnswerMade(ConnId, Value),
    Connected(ConnId, Channel),
    Failed(ConnId, String),
    Gone(PeerId),
}

/// A swarm for one content; peers are found once [`PeerSource::start`] names it.
pub struct Swarm {
    cfg: SwarmConfig,
    links: Links,
    stop: watch::Sender<bool>,
    control: Option<mpsc::UnboundedSender<Control>>,
    task: Option<JoinHandle<()>>,
}

impl Swarm {
    pub fn new(cfg: SwarmConfig) -> Swarm {
        Swarm {
            cfg,
            links: Links::default(),
            stop: watch::channel(false).0,
            control: None,
            task: None,
        }
    }

    fn control(&self, c: Control) {
        if let Some(tx) = &self.control {
            let _ = tx.send(c);
        }
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
        let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
        self.control = Some(ctl_tx);
        let epoch = Instant::now();
        let membership = Membership::new(
            MembershipConfig::new(
                &sha256,
                self.cfg.group_id.as_deref(),
                self.cfg.trackers.clone(),
                self.cfg.upload_enabled,
                random(),
            ),
            Time::ZERO,
            true,
        );
        let coordinator = Coordinator {
            rtc: self.cfg.rtc.clone(),
            urls: self.cfg.trackers.clone(),
            m: membership,
            epoch,
            events,
            links: self.links.clone(),
            sockets: self.cfg.trackers.iter().map(|_| None).collect(),
            closing: Vec::new(),
            generation: 0,
            offers: HashMap::new(),
            tasks: Vec::new(),
        };
        self.task = Some(tokio::spawn(coordinator.run(self.stop.subscribe(), ctl_rx)));
    }

    fn send(&mut self, peer: PeerId, data: Bytes) {
        let data = if self.cfg.corrupt_uploads {
            corrupt_block(data)
        } else {
            data
        };
        if let Some(link) = lock(&self.links).get(&peer) {
            // A closed writer means the peer is going; its `PeerGone` follows.
            let _ = link.out.send(data);
        }
    }

    fn disconnect(&mut self, peer: PeerId, reason: &DisconnectReason) {
        // Dropping the link ends its writer, which closes the channel.
        let link = lock(&self.links).remove(&peer);
        if let Some(link) = link {
            tracing::info!(peer = peer.0, ?reason, "disconnecting a peer");
            if matches!(reason, DisconnectReason::Banned(_)) {
                self.control(Control::Ban(link.remote));
            }
        }
    }

    fn progress(&mut self, left: u64, uploaded: u64, downloaded: u64) {
        self.control(Control::Progress {
            left,
            uploaded,
            downloaded,
        });
    }

    fn completed(&mut self) {
        self.control(Control::Completed);
    }

    fn leave(&mut self) -> Option<JoinHandle<()>> {
        self.stop.send_replace(true);
        self.task.take()
    }
}

/// A random peer id with a client prefix, as BitTorrent clients name themselves.
/// Randomness for ids; without the system's, a time-based value still differs per
/// process.
fn random<const N: usize>() -> [u8; N] {
    let mut seed = [0u8; N];
    if getrandom::fill(&mut seed).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            ^ std::process::id() as u128;
        for (b, t) in seed.iter_mut().zip(t.to_le_bytes().iter().cycle()) {
            *b = *t;
        }
    }
    seed
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

/// The swarm's task: the membership machine and the sockets and connections it
/// asks for.
struct Coordinator {
    rtc: RtcConfig,
    /// The trackers' URLs, for the log.
    urls: Vec<String>,
    m: Membership,
    epoch: Instant,
    events: mpsc::Sender<Event>,
    links: Links,
    /// Each tracker's socket, while membership wants it.
    sockets: Vec<Option<TrackerSocket>>,
    /// Sockets let go of, still sending their last texts.
    closing: Vec<JoinHandle<()>>,
    generation: u64,
    /// Our offers' connections, made and not yet answered.
    offers: HashMap<ConnId, PendingOffer>,
    tasks: Vec<JoinHandle<()>>,
}

impl Coordinator {
    fn now(&self) -> Time {
        Time::from_micros(self.epoch.elapsed().as_micros() as u64)
    }

    async fn run(
        mut self,
        mut stop: watch::Receiver<bool>,
        mut control: mpsc::UnboundedReceiver<Control>,
    ) {
        let (report_tx, mut reports) = mpsc::channel::<Report>(64);
        let (inner_tx, mut inner) = mpsc::channel::<Inner>(64);
        loop {
            self.carry_out(&report_tx, &inner_tx);
            let wake = self.m.poll_timeout().map_or(
                tokio::time::Instant::now() + Duration::from_secs(3600),
                |t| {
                    tokio::time::Instant::from_std(
                        self.epoch + Duration::from_micros(t.as_micros()),
                    )
                },
            );
            tokio::select! {
                Some(r) = reports.recv() => self.on_report(r),
                Some(i) = inner.recv() => self.on_inner(i, &inner_tx).await,
                Some(c) = control.recv() => self.on_control(c),
                _ = tokio::time::sleep_until(wake) => {
                    let now = self.now();
                    self.m.handle_timeout(now);
                }
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                break;
            }
        }
        self.leave(&report_tx, &inner_tx).await;
    }

    /// Leaves: trackers hear `stopped`, channels close, offers are withdrawn.
    async fn leave(&mut self, reports: &mpsc::Sender<Report>, inner: &mpsc::Sender<Inner>) {
        let now = self.now();
        self.m.leave(now);
        self.carry_out(reports, inner);
        lock(&self.links).clear();
        for (_, p) in self.offers.drain() {
            p.discard().await;
        }
        for t in self.tasks.drain(..) {
            t.abort();
        }
        let sockets: Vec<JoinHandle<()>> = self
            .sockets
            .iter_mut()
            .filter_map(Option::take)
            .map(|s| s.task)
            .chain(self.closing.drain(..))
            .collect();
        let _ = tokio::time::timeout(LEAVE_TIMEOUT, futures_util::future::join_all(sockets)).await;
    }

    /// Carries out what membership decided.
    fn carry_out(&mut self, reports: &mpsc::Sender<Report>, inner: &mpsc::Sender<Inner>) {
        while let Some(action) = self.m.poll_action() {
            match action {
                Action::ConnectTracker { tracker, url } => {
                    self.generation += 1;
                    let socket =
                        TrackerSocket::open(url, tracker, self.generation, reports.clone());
                    if let Some(old) = self.sockets[tracker].replace(socket) {
                        self.closing.push(old.task);
                    }
                }
                Action::SendTracker { tracker, text } => {
                    let sent = self.sockets[tracker].as_ref().is_some_and(|s| s.send(text));
                    if !sent {
                        tracing::debug!(tracker, "tracker busy or closed, message dropped");
                    }
                }
                Action::CloseTracker { tracker } => {
                    if let Some(old) = self.sockets[tracker].take() {
                        self.closing.push(old.task);
                    }
                }
                Action::MakeOffer { conn } => {
                    let cfg = self.rtc.clone();
                    let inner = inner.clone();
                    self.spawn(async move {
                        let made = rtc::offer(&cfg).await;
                        let _ = inner.send(Inner::OfferMade(conn, made)).await;
                    });
                }
                Action::DiscardOffer { conn } => {
                    if let Some(p) = self.offers.remove(&conn) {
                        self.spawn(p.discard());
                    }
                }
                Action::Answer { conn, offer, .. } => {
                    let cfg = self.rtc.clone();
                    let inner = inner.clone();
                    self.spawn(async move {
                        let result = async {
                            let (pending, answer) = rtc::answer(&cfg, offer).await?;
                            let _ = inner.send(Inner::AnswerMade(conn, answer)).await;
                            pending.connect().await
                        }
                        .await;
                        let _ = inner.send(connected(conn, result)).await;
                    });
                }
                Action::AcceptAnswer { conn, answer, .. } => {
                    let inner = inner.clone();
                    match self.offers.remove(&conn) {
                        Some(pending) => self.spawn(async move {
                            let result = pending.connect(answer).await;
                            let _ = inner.send(connected(conn, result)).await;
                        }),
                        None => {
                            let now = self.now();
                            self.m.connection_ended(now, conn);
                        }
                    }
                }
                // An open peer's link is dropped, which closes its channel; an
                // attempt still on its way is refused when it opens (membership no
                // longer knows it).
                Action::Close { conn } => {
                    lock(&self.links).remove(&PeerId(conn.0));
                }
                Action::TrackerRefused { tracker, reason } => {
                    tracing::warn!(tracker = %self.urls[tracker], %reason, "tracker refused");
                }
            }
        }
    }

    fn spawn(&mut self, f: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tasks.retain(|t| !t.is_finished());
        self.tasks.push(tokio::spawn(f));
    }

    fn on_report(&mut self, r: Report) {
        let current = self.sockets[r.tracker]
            .as_ref()
            .is_some_and(|s| s.generation == r.generation);
        if !current {
            return;
        }
        let now = self.now();
        match r.event {
            SocketEvent::Opened => {
                tracing::info!(tracker = %self.urls[r.tracker], "tracker connected");
                self.m.tracker_opened(now, r.tracker);
            }
            SocketEvent::Text(text) => self.m.tracker_text(now, r.tracker, &text),
            SocketEvent::Closed(why) => {
                tracing::info!(tracker = %self.urls[r.tracker], %why, "tracker unreachable, retrying");
                if let Some(old) = self.sockets[r.tracker].take() {
                    self.closing.retain(|t| !t.is_finished());
                    self.closing.push(old.task);
                }
                self.m.tracker_closed(now, r.tracker);
            }
        }
    }

    async fn on_inner(&mut self, i: Inner, inner: &mpsc::Sender<Inner>) {
        let now = self.now();
        match i {
            Inner::OfferMade(conn, Ok((pending, sdp))) => {
                self.offers.insert(conn, pending);
                self.m.offer_made(now, conn, sdp);
            }
            Inner::OfferMade(conn, Err(e)) => {
                tracing::warn!("cannot make a WebRTC offer: {e}");
                self.m.offer_failed(now, conn);
            }
            Inner::AnswerMade(conn, sdp) => self.m.answer_made(now, conn, sdp),
            Inner::Failed(conn, why) => {
                tracing::info!(%why, "peer connection failed");
                self.m.connection_ended(now, conn);
            }
            Inner::Connected(conn, channel) => match self.m.connection_opened(now, conn) {
                Opened::Keep { .. } => self.attach(conn, channel, inner).await,
                Opened::Close => self.spawn(async move { channel.close().await }),
            },
            Inner::Gone(peer) => {
                lock(&self.links).remove(&peer);
                let _ = self.events.send(Event::PeerGone { peer }).await;
                self.m.connection_ended(now, ConnId(peer.0));
            }
        }
    }

    fn on_control(&mut self, c: Control) {
        let now = self.now();
        match c {
            Control::Progress {
                left,
                uploaded,
                downloaded,
            } => self.m.set_progress(left, uploaded, downloaded),
            Control::Completed => self.m.set_completed(now),
            Control::Ban(remote) => self.m.ban(remote),
        }
    }

    /// A channel membership keeps becomes a peer of the engine, named by its
    /// connection.
    async fn attach(&mut self, conn: ConnId, channel: Channel, inner: &mpsc::Sender<Inner>) {
        let Some(remote) = self.m.remote(conn) else {
            channel.close().await;
            return;
        };
        let peer = PeerId(conn.0);
        let Channel {
            mut incoming,
            sender,
        } = channel;
        let (out, mut out_rx) = mpsc::unbounded_channel::<Bytes>();
        lock(&self.links).insert(peer, Link { remote, out });
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
            let _ = inner.send(Inner::Gone(peer)).await;
        });
    }
}

fn connected(conn: ConnId, result: Result<Channel, rtc::RtcError>) -> Inner {
    match result {
        Ok(channel) => Inner::Connected(conn, channel),
        Err(e) => Inner::Failed(conn, e.to_string()),
    }
}

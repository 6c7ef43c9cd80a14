//! Swarm membership, sans-IO: one value per swarm (content) decides when to connect
//! to each tracker and announce, with how many offers, which offers to answer, which
//! of two crossing connections survives, the backoff, the re-announce after a failed
//! connection, when to say `completed` and `stopped`, and the peer cap.
//!
//! The native host and the browser peer drive the same machine: they hold the
//! WebSockets and the RTCPeerConnections, feed in what happened with the time, and
//! carry out the [`Action`]s. Like the engine, it never reads a clock:
//!
//! ```text
//! m.tracker_opened(now, t) | tracker_closed | tracker_text
//! m.offer_made(now, conn, sdp) | offer_failed | answer_made
//! m.connection_opened(now, conn) -> Opened | connection_ended
//! m.ban(remote) | set_progress | set_completed | leave
//! m.handle_timeout(now);  m.poll_timeout() -> Option<Time>
//! m.poll_action() -> Action   ConnectTracker | SendTracker | CloseTracker
//!                             | MakeOffer | DiscardOffer | Answer | AcceptAnswer | Close
//! ```
//!
//! Every connection, from the offer the driver makes to the channel that closes,
//! has one [`ConnId`]; drivers use it as the engine's `PeerId` once it opens.

mod connections;
mod offers;
mod tracker;

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::content::Hash32;
use crate::engine::Time;
use crate::tracker_protocol::{
    self as protocol, AnnounceParams, Answer, Event, Id20, Offer, ServerMessage,
};

use connections::Connections;
pub use connections::{Opened, keeps_own_offer};
use offers::Offers;
use tracker::{Link, Need, Tracker};

/// Offers announced at once (WebTorrent clients send as many).
pub const OFFERS_PER_ANNOUNCE: usize = 5;
/// Ready offers kept beyond an announce's worth, so a second tracker's announce
/// need not wait for ICE gathering.
pub const SPARE_OFFERS: usize = 2;
/// Offers being made at once.
pub const MAX_MAKING: usize = 8;
/// Connections per swarm, open or on the way; further offers are ignored.
pub const MAX_PEERS: usize = 32;
/// An offer nobody answered within this long is withdrawn (WebTorrent's own figure).
pub const OFFER_TTL: Duration = Duration::from_secs(50);
/// A connection that has not opened within this long is given up.
pub const ATTEMPT_TTL: Duration = Duration::from_secs(50);
/// After the driver failed to make an offer, none is asked for during this long.
pub const OFFER_RETRY: Duration = Duration::from_secs(1);
/// How long a tracker's WebSocket may take to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Reconnecting to a tracker waits this long at first, doubling up to the maximum.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// The announce interval until the tracker names one, and the shortest obeyed.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(120);
pub const MIN_INTERVAL: Duration = Duration::from_secs(5);
/// While downloading with no peer, announce (with fresh offers) this often.
pub const LONELY_INTERVAL: Duration = Duration::from_secs(5);
/// While downloading with fewer connections than [`WANTED_PEERS`] in a swarm the
/// tracker counts larger, announce (with fresh offers) this soon, at most
/// [`HUNGRY_ANNOUNCES`] times in a row: each announce's offers reach only a few peers,
/// and in a flash crowd the peers that joined last would otherwise stay with the few
/// their own offers reached until the tracker's interval.
pub const HUNGRY_INTERVAL: Duration = Duration::from_millis(500);
pub const HUNGRY_ANNOUNCES: u32 = 8;
pub const WANTED_PEERS: usize = 8;
/// After a connection failed to open, announce again with fresh offers this soon
/// rather than at the tracker's interval (the peer is there; ICE or DTLS did not
/// make it), at most once per this period.
pub const RETRY_ANNOUNCE: Duration = Duration::from_secs(5);

/// A connection (or the offer it starts as), named by the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Which tracker, by its place in the configured list.
pub type TrackerIx = usize;

/// What the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Open a WebSocket to the tracker; report `tracker_opened` or `tracker_closed`.
    ConnectTracker { tracker: TrackerIx, url: String },
    /// Send this text on the tracker's socket (drop it if the socket is not open).
    SendTracker { tracker: TrackerIx, text: String },
    /// Close the tracker's socket once what was sent before has gone out.
    CloseTracker { tracker: TrackerIx },
    /// Make an offer (a connection with our data channel, complete SDP); report
    /// `offer_made` or `offer_failed`.
    MakeOffer { conn: ConnId },
    /// Let an offer's connection go.
    DiscardOffer { conn: ConnId },
    /// Answer a peer's offer on a new connection; report `answer_made` (or
    /// `connection_ended` on failure), then `connection_opened` when the channel opens.
    Answer {
        conn: ConnId,
        remote: Id20,
        offer: Value,
    },
    /// Apply a peer's answer to our offer's connection; report `connection_opened`
    /// or `connection_ended`.
    AcceptAnswer {
        conn: ConnId,
        remote: Id20,
        answer: Value,
    },
    /// Close a connection (attempt or peer); no report is expected.
    Close { conn: ConnId },
    /// The tracker refused something; for the driver's log.
    TrackerRefused { tracker: TrackerIx, reason: String },
}

/// A swarm's membership: who we are in it and where to announce.
#[derive(Debug, Clone)]
pub struct MembershipConfig {
    pub trackers: Vec<String>,
    pub info_hash: Id20,
    pub peer_id: Id20,
    /// Whether to serve others after the download (the policy's `upload_enabled`);
    /// without it a finished peer makes and answers no offers.
    pub upload_enabled: bool,
    /// Randomness for offer ids, from the driver (the machine has no source of its own).
    pub seed: [u8; 32],
}

/// The client prefix of every Swarmload peer id (BEP 20 style), host or browser.
pub const PEER_ID_PREFIX: &[u8; 8] = b"-SL0100-";

impl MembershipConfig {
    /// The membership of the swarm of `content` for `group` (none: the public
    /// swarm), with `random` bytes from the driver: the peer id's 12 random bytes
    /// and the offer-id seed come from it.
    pub fn new(
        content: &Hash32,
        group: Option<&str>,
        trackers: Vec<String>,
        upload_enabled: bool,
        random: [u8; 44],
    ) -> MembershipConfig {
        let mut peer_id = [0u8; 20];
        peer_id[..8].copy_from_slice(PEER_ID_PREFIX);
        peer_id[8..].copy_from_slice(&random[..12]);
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&random[12..]);
        MembershipConfig {
            trackers,
            info_hash: Id20(content.swarm_key(group).0),
            peer_id: Id20(peer_id),
            upload_enabled,
            seed,
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Progress {
    left: u64,
    uploaded: u64,
    downloaded: u64,
}

pub struct Membership {
    cfg: MembershipConfig,
    trackers: Vec<Tracker>,
    offers: Offers,
    conns: Connections,
    /// Answers being made, to send to the tracker the offer came from.
    answering: Vec<(ConnId, TrackerIx, Id20, Id20)>,
    progress: Progress,
    downloading: bool,
    left_swarm: bool,
    /// When to announce again after a failed connection, and when that last happened.
    retry_at: Option<Time>,
    last_retry: Option<Time>,
    next_conn: u64,
    ids_made: u64,
    actions: VecDeque<Action>,
}

impl Membership {
    /// Joins a swarm at `now`: every tracker is connected to and offers are made at
    /// once, so the first announce need not wait for ICE gathering. `downloading`:
    /// the content is still wanted (else this peer seeds).
    pub fn new(cfg: MembershipConfig, now: Time, downloading: bool) -> Membership {
        let trackers = cfg
            .trackers
            .iter()
            .map(|u| Tracker::new(u.clone(), now))
            .collect();
        let mut m = Membership {
            cfg,
            trackers,
            offers: Offers::default(),
            conns: Connections::default(),
            answering: Vec::new(),
            progress: Progress::default(),
            downloading,
            left_swarm: false,
            retry_at: None,
            last_retry: None,
            next_conn: 1,
            ids_made: 0,
            actions: VecDeque::new(),
        };
        m.drive(now);
        m
    }

    pub fn peer_id(&self) -> Id20 {
        self.cfg.peer_id
    }

    pub fn info_hash(&self) -> Id20 {
        self.cfg.info_hash
    }

    /// Other peers in the swarm, the most any tracker counted, once one answered.
    pub fn others(&self) -> Option<u64> {
        self.trackers.iter().filter_map(|t| t.others).max()
    }

    /// The remote peer of a connection.
    pub fn remote(&self, conn: ConnId) -> Option<Id20> {
        self.conns.remote(conn)
    }

    /// Connections open or on the way (never more than [`MAX_PEERS`]).
    pub fn connection_count(&self) -> usize {
        MAX_PEERS - self.conns.room()
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next time [`Membership::handle_timeout`] has work, if any.
    pub fn poll_timeout(&self) -> Option<Time> {
        if self.left_swarm {
            return None;
        }
        let trackers = self.trackers.iter().map(Tracker::next_deadline);
        trackers
            .chain(self.offers.next_deadline())
            .chain(self.conns.next_deadline())
            .chain(self.retry_at)
            .min()
    }

    pub fn handle_timeout(&mut self, now: Time) {
        self.drive(now);
    }

    // ---- trackers ------------------------------------------------------------------

    pub fn tracker_opened(&mut self, now: Time, tracker: TrackerIx) {
        if let Some(t) = self.live_tracker(tracker) {
            t.opened(now);
        }
        self.drive(now);
    }

    pub fn tracker_closed(&mut self, now: Time, tracker: TrackerIx) {
        if let Some(t) = self.live_tracker(tracker)
            && !matches!(t.link, Link::Down { .. })
        {
            t.closed(now);
        }
        self.drive(now);
    }

    /// A text message from a tracker.
    pub fn tracker_text(&mut self, now: Time, tracker: TrackerIx, text: &str) {
        if self.left_swarm || tracker >= self.trackers.len() {
            return;
        }
        match protocol::parse_server(text) {
            ServerMessage::Announced {
                interval,
                complete,
                incomplete,
            } => {
                let t = &mut self.trackers[tracker];
                if let Some(secs) = interval {
                    t.set_interval(secs);
                }
                // The counts include this peer, announced just before.
                if let (Some(c), Some(n)) = (complete, incomplete) {
                    t.others = Some(c.saturating_add(n).saturating_sub(1));
                    t.leechers = Some(if self.downloading {
                        n.saturating_sub(1)
                    } else {
                        n
                    });
                }
                self.hunger();
            }
            ServerMessage::Offer {
                from,
                offer_id,
                offer,
            } => self.on_offer(now, tracker, from, offer_id, offer),
            ServerMessage::Answer {
                from,
                offer_id,
                answer,
            } => self.on_answer(now, from, offer_id, answer),
            ServerMessage::Failure(reason) => {
                self.actions
                    .push_back(Action::TrackerRefused { tracker, reason });
            }
            ServerMessage::Other => {}
        }
        self.drive(now);
    }

    fn live_tracker(&mut self, tracker: TrackerIx) -> Option<&mut Tracker> {
        if self.left_swarm {
            return None;
        }
        self.trackers.get_mut(tracker)
    }

    fn on_offer(
        &mut self,
        now: Time,
        tracker: TrackerIx,
        from: Id20,
        offer_id: Id20,
        offer: Value,
    ) {
        if !self.serving() || !self.conns.welcome(self.cfg.peer_id, from, false) {
            return;
        }
        let conn = self.new_conn();
        self.conns.attempt(conn, from, false, now);
        self.answering.push((conn, tracker, from, offer_id));
        self.actions.push_back(Action::Answer {
            conn,
            remote: from,
            offer,
        });
    }

    fn on_answer(&mut self, now: Time, from: Id20, offer_id: Id20, answer: Value) {
        let Some(conn) = self.offers.answered(&offer_id) else {
            return;
        };
        if !self.conns.welcome(self.cfg.peer_id, from, true) {
            self.actions.push_back(Action::DiscardOffer { conn });
            return;
        }
        self.conns.attempt(conn, from, true, now);
        self.actions.push_back(Action::AcceptAnswer {
            conn,
            remote: from,
            answer,
        });
    }

    // ---- offers and connections ------------------------------------------------------

    pub fn offer_made(&mut self, now: Time, conn: ConnId, sdp: Value) {
        if self.left_swarm || !self.offers.made(conn, sdp, now) {
            self.actions.push_back(Action::DiscardOffer { conn });
        }
        self.drive(now);
    }

    pub fn offer_failed(&mut self, now: Time, conn: ConnId) {
        self.offers.failed(conn, now);
        self.drive(now);
    }

    /// Our answer to a peer's offer is made: it goes to the tracker the offer came by.
    pub fn answer_made(&mut self, now: Time, conn: ConnId, sdp: Value) {
        let Some(i) = self.answering.iter().position(|(c, ..)| *c == conn) else {
            return;
        };
        let (_, tracker, to_peer_id, offer_id) = self.answering.swap_remove(i);
        if self.left_swarm || self.conns.remote(conn).is_none() {
            return;
        }
        let text = protocol::answer_request(
            self.cfg.info_hash,
            self.cfg.peer_id,
            &Answer {
                to_peer_id,
                offer_id,
                answer: sdp,
            },
        );
        self.actions
            .push_back(Action::SendTracker { tracker, text });
        self.drive(now);
    }

    /// A connection's data channel opened: whether it becomes a peer. A connection
    /// it replaces is closed through [`Action::Close`]; one it does not keep is the
    /// caller's to close.
    pub fn connection_opened(&mut self, now: Time, conn: ConnId) -> Opened {
        if self.left_swarm {
            return Opened::Close;
        }
        self.answering.retain(|(c, ..)| *c != conn);
        let opened = self.conns.opened(self.cfg.peer_id, conn);
        if let Opened::Keep {
            replaces: Some(old),
        } = opened
        {
            self.actions.push_back(Action::Close { conn: old });
        }
        self.hunger();
        self.drive(now);
        opened
    }

    /// A connection closed, or an attempt failed (making the answer, applying it,
    /// ICE, DTLS). A failed attempt brings the next announce closer.
    pub fn connection_ended(&mut self, now: Time, conn: ConnId) {
        self.answering.retain(|(c, ..)| *c != conn);
        match self.conns.ended(conn) {
            Some(true) => self.schedule_retry(now),
            Some(false) if self.downloading && self.conns.open_count() == 0 => {
                // The last peer left mid-download: look for others soon.
                for t in &mut self.trackers {
                    t.announce_by(now + LONELY_INTERVAL);
                }
            }
            _ => {}
        }
        self.drive(now);
    }

    fn schedule_retry(&mut self, now: Time) {
        let earliest = self
            .last_retry
            .map_or(now, |t| t + RETRY_ANNOUNCE)
            .max(now + Duration::from_secs(1));
        self.retry_at.get_or_insert(earliest);
    }

    /// Bans a peer for this content (it sent a bad block): its connections close
    /// and it is never connected to again.
    pub fn ban(&mut self, remote: Id20) {
        for conn in self.conns.ban(remote) {
            self.answering.retain(|(c, ..)| *c != conn);
            self.actions.push_back(Action::Close { conn });
        }
    }

    // ---- the transfer ----------------------------------------------------------------

    /// Transfer counters for the next announces.
    pub fn set_progress(&mut self, left: u64, uploaded: u64, downloaded: u64) {
        self.progress = Progress {
            left,
            uploaded,
            downloaded,
        };
    }

    /// The download completed: every tracker hears `completed` at once; from now on
    /// this peer seeds (and offers only if uploading is enabled).
    pub fn set_completed(&mut self, now: Time) {
        if !self.downloading {
            return;
        }
        self.downloading = false;
        self.progress.left = 0;
        for t in &mut self.trackers {
            t.announce_by(now);
        }
        self.drive(now);
    }

    /// Leaves the swarm: trackers hear `stopped`, offers and connections close.
    pub fn leave(&mut self, _now: Time) {
        if self.left_swarm {
            return;
        }
        for i in 0..self.trackers.len() {
            let link = self.trackers[i].link;
            if link == Link::Open {
                let text = self.announce_text(Some(Event::Stopped), Vec::new());
                self.actions
                    .push_back(Action::SendTracker { tracker: i, text });
            }
            if !matches!(link, Link::Down { .. }) {
                self.actions.push_back(Action::CloseTracker { tracker: i });
            }
        }
        for conn in self.offers.drain() {
            self.actions.push_back(Action::DiscardOffer { conn });
        }
        for conn in self.conns.drain() {
            self.actions.push_back(Action::Close { conn });
        }
        self.answering.clear();
        self.left_swarm = true;
    }

    // ---- deciding ------------------------------------------------------------------

    /// Whether this peer takes part: downloading, or seeding with upload enabled.
    fn serving(&self) -> bool {
        self.downloading || self.cfg.upload_enabled
    }

    /// Offers one announce may carry now. A seed whose trackers all count nobody
    /// downloading offers nothing: a downloader who comes sends offers of its own,
    /// which reach the seed, and each offer costs a peer connection (a browser page
    /// may make only so many).
    fn offers_wanted(&self) -> usize {
        let nobody_to_serve = !self.downloading
            && !self.trackers.is_empty()
            && self.trackers.iter().all(|t| t.leechers == Some(0));
        if self.serving() && !nobody_to_serve {
            OFFERS_PER_ANNOUNCE.min(self.conns.room())
        } else {
            0
        }
    }

    /// Everything time or an input made due: tracker connections and their
    /// timeouts, announces, offer and attempt expiry, and the offer pool.
    fn drive(&mut self, now: Time) {
        if self.left_swarm {
            return;
        }
        for conn in self.offers.expire(now) {
            self.actions.push_back(Action::DiscardOffer { conn });
        }
        for conn in self.conns.expire(now) {
            self.answering.retain(|(c, ..)| *c != conn);
            self.actions.push_back(Action::Close { conn });
            self.schedule_retry(now);
        }
        if self.retry_at.is_some_and(|t| now >= t) {
            self.retry_at = None;
            self.last_retry = Some(now);
            for t in &mut self.trackers {
                t.announce_by(now);
            }
        }
        for i in 0..self.trackers.len() {
            self.look_after(i, now);
        }
        let demand = self.trackers.iter().map(|t| t.wants).sum();
        let wanted = self.offers_wanted() > 0;
        for _ in 0..self
            .offers
            .count_to_make(now, wanted, demand, self.downloading)
        {
            let conn = self.new_conn();
            self.offers.making(conn);
            self.actions.push_back(Action::MakeOffer { conn });
        }
    }

    fn look_after(&mut self, i: TrackerIx, now: Time) {
        let offers_wanted = self.offers_wanted();
        let t = &mut self.trackers[i];
        if t.connect_timed_out(now) {
            t.closed(now);
            self.actions.push_back(Action::CloseTracker { tracker: i });
            return;
        }
        match t.link {
            Link::Down { retry_at } if now >= retry_at => {
                t.connecting(now);
                let url = t.url.clone();
                self.actions
                    .push_back(Action::ConnectTracker { tracker: i, url });
            }
            Link::Open => {
                let due = now >= t.announce_at;
                // Offers an earlier announce lacked follow once the pool has them,
                // or once no more are on the way.
                let top_up = t.wants > 0
                    && (self.offers.ready() >= t.wants
                        || (self.offers.in_the_making() == 0 && self.offers.ready() > 0));
                let offers_lost = t.wants > 0 && offers_wanted == 0;
                if offers_lost {
                    t.wants = 0;
                }
                if due || top_up {
                    self.announce(i, now, due);
                }
            }
            _ => {}
        }
    }

    /// Brings the next announces closer when this peer has few connections in a
    /// larger swarm.
    fn hunger(&mut self) {
        if self.need() == Need::Hungry {
            for t in &mut self.trackers {
                t.hungry();
            }
        }
    }

    /// What times the next announce: the tracker's interval, unless downloading with
    /// no peer, or with few in a larger swarm.
    fn need(&self) -> Need {
        let open = self.conns.open_count();
        if !self.downloading {
            Need::Interval
        } else if open == 0 {
            Need::Lonely
        } else if open < WANTED_PEERS && self.others().is_some_and(|n| n > open as u64) {
            Need::Hungry
        } else {
            Need::Interval
        }
    }

    /// Announces on tracker `i`, with as many ready offers as it may carry.
    fn announce(&mut self, i: TrackerIx, now: Time, scheduled: bool) {
        let wanted = if scheduled {
            self.offers_wanted()
        } else {
            self.trackers[i].wants.min(self.offers_wanted())
        };
        let ids: Vec<Id20> = (0..wanted.min(self.offers.ready()))
            .map(|_| self.new_offer_id())
            .collect();
        let offers: Vec<Offer> = self
            .offers
            .send(ids, now)
            .into_iter()
            .map(|(offer_id, offer)| Offer { offer_id, offer })
            .collect();
        let carried = offers.len();
        let t = &self.trackers[i];
        let event = if !t.started {
            Some(Event::Started)
        } else if !self.downloading && !t.said_completed {
            Some(Event::Completed)
        } else {
            None
        };
        let text = self.announce_text(event, offers);
        let need = self.need();
        let t = &mut self.trackers[i];
        if !self.downloading {
            t.said_completed = true;
        }
        if scheduled || event.is_some() {
            t.announced(now, need, wanted - carried);
        } else {
            t.wants = (t.wants).saturating_sub(carried);
            t.started = true;
        }
        self.actions
            .push_back(Action::SendTracker { tracker: i, text });
    }

    fn announce_text(&self, event: Option<Event>, offers: Vec<Offer>) -> String {
        protocol::announce_request(&AnnounceParams {
            info_hash: self.cfg.info_hash,
            peer_id: self.cfg.peer_id,
            event,
            left: self.progress.left,
            uploaded: self.progress.uploaded,
            downloaded: self.progress.downloaded,
            offers,
        })
    }

    fn new_conn(&mut self) -> ConnId {
        let c = ConnId(self.next_conn);
        self.next_conn += 1;
        c
    }

    /// A fresh offer id: the driver's seed and a counter through SHA-256, so ids
    /// are unguessable to others and reproducible in tests.
    fn new_offer_id(&mut self) -> Id20 {
        self.ids_made += 1;
        let mut h = Sha256::new();
        h.update(self.cfg.seed);
        h.update(self.ids_made.to_le_bytes());
        let d = h.finalize();
        let mut id = [0u8; 20];
        id.copy_from_slice(&d[..20]);
        Id20(id)
    }
}

#[cfg(test)]
mod tests;

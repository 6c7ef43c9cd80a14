//! Finding peers: one WebSocket per tracker (the WebTorrent tracker protocol), a
//! batch of complete offers with each announce, answers to other peers' offers,
//! re-announces at the tracker's interval, reconnects with backoff, and `stopped`
//! when leaving. A tracker that cannot be reached costs nothing but its own retries:
//! the origin never waits for it.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use js_sys::JsString;
use serde_json::Value;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;
use web_sys::{
    MessageEvent, RtcDataChannel, RtcDataChannelEvent, RtcDataChannelState, RtcDataChannelType,
    RtcPeerConnection, WebSocket,
};

use super::peer::Peer;
use super::{Handle, Phase, WeakHandle, now_ms, rtc};
use swarmload_core::content::Hash32;
use swarmload_core::policy::{IceServer, Policy};
use swarmload_core::tracker_protocol::{
    self as tp, AnnounceParams, Answer, Id20, Offer, ServerMessage,
};

/// How often trackers and pending offers are looked after.
pub const TICK_MS: i32 = 1000;
const OFFERS_PER_ANNOUNCE: usize = 5;
/// An offer or answer whose channel has not opened by then is given up.
const PENDING_TTL_MS: f64 = 50_000.0;
const MAX_PEERS: usize = 32;
const DEFAULT_INTERVAL_MS: f64 = 120_000.0;
const MIN_INTERVAL_MS: f64 = 5_000.0;
/// While downloading with no peer, announce (with fresh offers) this often.
const LONELY_INTERVAL_MS: f64 = 5_000.0;
const FIRST_BACKOFF_MS: f64 = 500.0;
const MAX_BACKOFF_MS: f64 = 60_000.0;

struct Tracker {
    url: String,
    ws: Option<WebSocket>,
    open: bool,
    handlers: Vec<Closure<dyn FnMut(JsValue)>>,
    backoff_ms: f64,
    retry_at: f64,
    interval_ms: f64,
    announce_at: f64,
    announcing: bool,
    started: bool,
    /// Other peers in the swarm, as this tracker's last announce answer counted them.
    others: Option<u64>,
}

pub struct Swarm {
    info_hash: Id20,
    peer_id: Id20,
    ice: Vec<IceServer>,
    trackers: Vec<Tracker>,
    /// Offers made ahead (while the tracker connects), for the next announce.
    pool: Vec<(RtcPeerConnection, RtcDataChannel, Value)>,
    /// The first pool is made: announces may go (with its offers).
    pool_ready: bool,
    /// Our offers out with trackers, by offer id.
    offers: HashMap<Id20, (RtcPeerConnection, RtcDataChannel, f64)>,
    /// Connections answering another peer's offer, by that peer, until they open.
    answering: HashMap<Id20, (RtcPeerConnection, f64)>,
    banned: HashSet<Id20>,
    next_peer: u64,
    completed: bool,
}

fn random_id(prefix: &[u8]) -> Result<Id20, String> {
    let mut id = [0u8; 20];
    id[..prefix.len()].copy_from_slice(prefix);
    getrandom::fill(&mut id[prefix.len()..]).map_err(|e| e.to_string())?;
    Ok(Id20(id))
}

impl Swarm {
    pub fn new(policy: &Policy, sha256: &Hash32) -> Result<Swarm, String> {
        let now = now_ms();
        Ok(Swarm {
            info_hash: Id20(sha256.swarm_key(policy.group_id.as_deref()).0),
            // The same client prefix as the native host: one implementation.
            peer_id: random_id(b"-SL0100-")?,
            ice: policy.ice_servers.clone(),
            trackers: policy
                .trackers
                .iter()
                .map(|url| Tracker {
                    url: url.clone(),
                    ws: None,
                    open: false,
                    handlers: Vec::new(),
                    backoff_ms: FIRST_BACKOFF_MS,
                    retry_at: now,
                    interval_ms: DEFAULT_INTERVAL_MS,
                    announce_at: now,
                    announcing: false,
                    started: false,
                    others: None,
                })
                .collect(),
            pool: Vec::new(),
            pool_ready: false,
            offers: HashMap::new(),
            answering: HashMap::new(),
            banned: HashSet::new(),
            next_peer: 1,
            completed: false,
        })
    }

    pub fn info_hash_hex(&self) -> String {
        hex::encode(self.info_hash.0)
    }

    pub fn next_peer_id(&mut self) -> u64 {
        let id = self.next_peer;
        self.next_peer += 1;
        id
    }

    pub fn peer_id(&self) -> Id20 {
        self.peer_id
    }

    pub fn ban(&mut self, remote: Id20) {
        self.banned.insert(remote);
    }

    pub fn is_banned(&self, remote: Id20) -> bool {
        self.banned.contains(&remote)
    }

    /// Other peers in the swarm by the trackers' count (the most any tracker
    /// counted), once a tracker has answered an announce.
    pub fn others(&self) -> Option<u64> {
        self.trackers.iter().filter_map(|t| t.others).max()
    }

    /// Announces `completed` on every tracker at the next tick.
    pub fn completed(&mut self) {
        self.completed = true;
        let now = now_ms();
        for t in &mut self.trackers {
            t.announce_at = t.announce_at.min(now);
        }
    }

    /// Says `stopped` to every tracker and lets every pending connection go.
    pub fn leave(&mut self) {
        for t in &mut self.trackers {
            if let Some(ws) = t.ws.take() {
                if t.open {
                    let _ = ws.send_with_str(&tp::announce_request(&AnnounceParams {
                        info_hash: self.info_hash,
                        peer_id: self.peer_id,
                        event: Some(tp::Event::Stopped),
                        left: 0,
                        uploaded: 0,
                        downloaded: 0,
                        offers: Vec::new(),
                    }));
                }
                ws.set_onopen(None);
                ws.set_onmessage(None);
                ws.set_onclose(None);
                let _ = ws.close();
            }
            t.open = false;
            let handlers = std::mem::take(&mut t.handlers);
            spawn_local(async move { drop(handlers) });
        }
        for (_, (pc, dc, _)) in self.offers.drain() {
            dc.close();
            pc.close();
        }
        for (pc, dc, _) in self.pool.drain(..) {
            dc.close();
            pc.close();
        }
        for (_, (pc, _)) in self.answering.drain() {
            pc.close();
        }
    }

    fn expire(&mut self, now: f64) {
        self.offers.retain(|_, (pc, _, at)| {
            let keep = now - *at < PENDING_TTL_MS;
            if !keep {
                pc.close();
            }
            keep
        });
        self.answering.retain(|_, (pc, at)| {
            let keep = now - *at < PENDING_TTL_MS;
            if !keep {
                pc.close();
            }
            keep
        });
    }
}

/// Looks after trackers and pending connections; called every [`TICK_MS`].
pub fn tick(h: &Handle) {
    let now = now_ms();
    let (connect, announce) = {
        let mut s = h.borrow_mut();
        if matches!(s.phase, Phase::Failed | Phase::Stopped) {
            return;
        }
        s.swarm.expire(now);
        let mut connect = Vec::new();
        let mut announce = Vec::new();
        let pool_ready = s.swarm.pool_ready;
        for (i, t) in s.swarm.trackers.iter_mut().enumerate() {
            if t.ws.is_none() && now >= t.retry_at {
                connect.push(i);
            } else if t.open && !t.announcing && now >= t.announce_at && pool_ready {
                t.announcing = true;
                announce.push(i);
            }
        }
        (connect, announce)
    };
    for i in connect {
        connect_tracker(h, i);
    }
    for i in announce {
        spawn_local(announce_with_offers(Rc::downgrade(h), i));
    }
}

fn connect_tracker(h: &Handle, i: usize) {
    let url = h.borrow().swarm.trackers[i].url.clone();
    let ws = match WebSocket::new(&url) {
        Ok(ws) => ws,
        Err(_) => {
            // A malformed URL fails at once; policy validation keeps these out.
            tracker_down(h, i);
            return;
        }
    };
    let weak = Rc::downgrade(h);
    let on_open = Closure::<dyn FnMut(JsValue)>::new(move |_| {
        if let Some(h) = weak.upgrade() {
            {
                let mut s = h.borrow_mut();
                let t = &mut s.swarm.trackers[i];
                t.open = true;
                t.backoff_ms = FIRST_BACKOFF_MS;
                t.announce_at = now_ms();
            }
            tick(&h);
        }
    });
    let weak = Rc::downgrade(h);
    let on_message = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
        let Some(h) = weak.upgrade() else { return };
        let text = ev
            .dyn_into::<MessageEvent>()
            .ok()
            .and_then(|e| e.data().dyn_into::<JsString>().ok())
            .map(String::from);
        if let Some(text) = text {
            on_tracker_message(&h, i, &text);
        }
    });
    let weak = Rc::downgrade(h);
    let on_close = Closure::<dyn FnMut(JsValue)>::new(move |_| {
        if let Some(h) = weak.upgrade() {
            tracker_down(&h, i);
        }
    });
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    let mut s = h.borrow_mut();
    let t = &mut s.swarm.trackers[i];
    t.ws = Some(ws);
    let old = std::mem::replace(&mut t.handlers, vec![on_open, on_message, on_close]);
    spawn_local(async move { drop(old) });
}

fn tracker_down(h: &Handle, i: usize) {
    let mut s = h.borrow_mut();
    let t = &mut s.swarm.trackers[i];
    if let Some(ws) = t.ws.take() {
        ws.set_onopen(None);
        ws.set_onmessage(None);
        ws.set_onclose(None);
    }
    t.open = false;
    t.announcing = false;
    t.retry_at = now_ms() + t.backoff_ms;
    t.backoff_ms = (t.backoff_ms * 2.0).min(MAX_BACKOFF_MS);
}

fn send(h: &Handle, i: usize, text: &str) {
    let s = h.borrow();
    if let Some(t) = s.swarm.trackers.get(i)
        && t.open
        && let Some(ws) = &t.ws
    {
        let _ = ws.send_with_str(text);
    }
}

async fn announce_with_offers(weak: WeakHandle, i: usize) {
    let Some((want, ice)) = weak.upgrade().map(|h| {
        let s = h.borrow();
        let room = MAX_PEERS.saturating_sub(s.peers.len() + s.swarm.answering.len());
        let want = if s.phase == Phase::Downloading || s.engine.config().upload_enabled {
            room.min(OFFERS_PER_ANNOUNCE)
        } else {
            0
        };
        (want, s.swarm.ice.clone())
    }) else {
        return;
    };
    let mut made = weak
        .upgrade()
        .map(|h| {
            let mut s = h.borrow_mut();
            let n = want.min(s.swarm.pool.len());
            s.swarm.pool.drain(..n).collect::<Vec<_>>()
        })
        .unwrap_or_default();
    made.extend(make_offers(&ice, want - made.len()).await);
    let Some(h) = weak.upgrade() else {
        for (pc, _, _) in made {
            pc.close();
        }
        return;
    };
    let now = now_ms();
    let text = {
        let mut s = h.borrow_mut();
        if matches!(s.phase, Phase::Failed | Phase::Stopped) {
            for (pc, _, _) in made {
                pc.close();
            }
            return;
        }
        let stats = s.engine.stats().clone();
        let left = s.engine.size() - s.engine.held_bytes();
        let lonely = s.peers.is_empty() && s.phase == Phase::Downloading;
        let sw = &mut s.swarm;
        let mut offers = Vec::new();
        for (pc, dc, sdp) in made {
            let Ok(offer_id) = random_id(b"") else {
                pc.close();
                continue;
            };
            offers.push(Offer {
                offer_id,
                offer: sdp,
            });
            sw.offers.insert(offer_id, (pc, dc, now));
        }
        let t = &mut sw.trackers[i];
        let event = if !t.started {
            Some(tp::Event::Started)
        } else if sw.completed {
            Some(tp::Event::Completed)
        } else {
            None
        };
        let t = &mut sw.trackers[i];
        t.started = true;
        t.announcing = false;
        t.announce_at = now
            + if lonely {
                LONELY_INTERVAL_MS
            } else {
                t.interval_ms
            };
        tp::announce_request(&AnnounceParams {
            info_hash: sw.info_hash,
            peer_id: sw.peer_id,
            event,
            left,
            uploaded: stats.bytes_uploaded,
            downloaded: stats.bytes_from_peers + stats.bytes_from_origin,
            offers,
        })
    };
    send(&h, i, &text);
}

/// Makes `n` offers side by side (each waits for its ICE gathering).
async fn make_offers(
    ice: &[IceServer],
    n: usize,
) -> Vec<(RtcPeerConnection, RtcDataChannel, Value)> {
    futures_util::future::join_all((0..n).map(|_| async {
        let pc = rtc::connection(ice).ok()?;
        let dc = rtc::data_channel(&pc);
        match rtc::offer(&pc).await {
            Ok(sdp) => Some((pc, dc, sdp)),
            Err(_) => {
                pc.close();
                None
            }
        }
    }))
    .await
    .into_iter()
    .flatten()
    .collect()
}

/// Fills the pool of offers while the trackers connect, so the first announce
/// need not wait for ICE gathering.
pub async fn fill_pool(weak: WeakHandle) {
    let Some(ice) = weak.upgrade().map(|h| h.borrow().swarm.ice.clone()) else {
        return;
    };
    let made = make_offers(&ice, OFFERS_PER_ANNOUNCE).await;
    match weak.upgrade() {
        Some(h) if !matches!(h.borrow().phase, Phase::Failed | Phase::Stopped) => {
            {
                let mut s = h.borrow_mut();
                s.swarm.pool.extend(made);
                s.swarm.pool_ready = true;
            }
            tick(&h);
        }
        _ => {
            for (pc, dc, _) in made {
                dc.close();
                pc.close();
            }
        }
    }
}

fn on_tracker_message(h: &Handle, i: usize, text: &str) {
    match tp::parse_server(text) {
        ServerMessage::Announced {
            interval,
            complete,
            incomplete,
        } => {
            let mut s = h.borrow_mut();
            if let Some(secs) = interval {
                s.swarm.trackers[i].interval_ms = (secs as f64 * 1000.0).max(MIN_INTERVAL_MS);
            }
            // The counts include this peer, announced just before.
            if let (Some(c), Some(n)) = (complete, incomplete) {
                s.swarm.trackers[i].others = Some((c + n).saturating_sub(1));
            }
        }
        ServerMessage::Offer {
            from,
            offer_id,
            offer,
        } => {
            let welcome = {
                let s = h.borrow();
                from != s.swarm.peer_id
                    && !s.swarm.banned.contains(&from)
                    && !s.peer_connected(from)
                    && !s.swarm.answering.contains_key(&from)
                    && s.peers.len() + s.swarm.answering.len() < MAX_PEERS
                    && (s.phase == Phase::Downloading || s.engine.config().upload_enabled)
            };
            if welcome {
                spawn_local(answer_offer(Rc::downgrade(h), i, from, offer_id, offer));
            }
        }
        ServerMessage::Answer {
            from,
            offer_id,
            answer,
        } => {
            let pending = {
                let mut s = h.borrow_mut();
                let p = s.swarm.offers.remove(&offer_id);
                // An answer from a peer already connected is still taken: if both
                // open, `add_peer` keeps the one both sides keep.
                let unwanted = s.swarm.banned.contains(&from);
                match p {
                    Some((pc, dc, _)) if unwanted => {
                        dc.close();
                        pc.close();
                        None
                    }
                    other => other,
                }
            };
            if let Some((pc, dc, _)) = pending {
                on_open(h, from, true, pc.clone(), dc);
                spawn_local(async move {
                    if rtc::accept_answer(&pc, &answer).await.is_err() {
                        pc.close();
                    }
                });
            }
        }
        ServerMessage::Failure(_) | ServerMessage::Other => {}
    }
}

/// When `dc` opens, it becomes a peer. `ours`: it came from our offer.
fn on_open(h: &Handle, remote: Id20, ours: bool, pc: RtcPeerConnection, dc: RtcDataChannel) {
    let weak = Rc::downgrade(h);
    let dc2 = dc.clone();
    let opened = move || {
        if let Some(h) = weak.upgrade() {
            h.borrow_mut().swarm.answering.remove(&remote);
            super::add_peer(&h, Peer::new(remote, ours, pc, dc2));
        }
    };
    if dc.ready_state() == RtcDataChannelState::Open {
        opened();
    } else {
        let cb = Closure::once_into_js(opened);
        dc.set_onopen(Some(cb.unchecked_ref()));
    }
}

async fn answer_offer(weak: WeakHandle, i: usize, from: Id20, offer_id: Id20, offer: Value) {
    let Some(ice) = weak.upgrade().map(|h| h.borrow().swarm.ice.clone()) else {
        return;
    };
    let Ok(pc) = rtc::connection(&ice) else {
        return;
    };
    {
        let Some(h) = weak.upgrade() else { return };
        h.borrow_mut()
            .swarm
            .answering
            .insert(from, (pc.clone(), now_ms()));
        let w = weak.clone();
        let pc2 = pc.clone();
        let on_channel = Closure::once_into_js(move |ev: RtcDataChannelEvent| {
            let dc = ev.channel();
            dc.set_binary_type(RtcDataChannelType::Arraybuffer);
            if dc.label() != rtc::LABEL {
                pc2.close();
                return;
            }
            if let Some(h) = w.upgrade() {
                on_open(&h, from, false, pc2, dc);
            }
        });
        pc.set_ondatachannel(Some(on_channel.unchecked_ref()));
    }
    let answer = match rtc::answer(&pc, &offer).await {
        Ok(a) => a,
        Err(_) => {
            pc.close();
            if let Some(h) = weak.upgrade() {
                h.borrow_mut().swarm.answering.remove(&from);
            }
            return;
        }
    };
    let Some(h) = weak.upgrade() else { return };
    let text = {
        let s = h.borrow();
        tp::answer_request(
            s.swarm.info_hash,
            s.swarm.peer_id,
            &Answer {
                to_peer_id: from,
                offer_id,
                answer,
            },
        )
    };
    send(&h, i, &text);
}

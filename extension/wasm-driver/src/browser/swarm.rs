//! Finding peers in the browser: the core's membership machine (the same one the
//! native host drives) over the browser's WebSockets and RTCPeerConnections. The
//! machine decides when to connect and announce, which offers to make and answer,
//! the backoff, the crossing rule and the peer cap; this module only opens, sends,
//! closes and reports, and keeps one timer armed for the machine's next deadline.

use std::collections::HashMap;
use std::rc::Rc;

use js_sys::JsString;
use serde_json::Value;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;
use web_sys::{
    MessageEvent, RtcDataChannel, RtcDataChannelEvent, RtcDataChannelState, RtcDataChannelType,
    RtcPeerConnection, RtcPeerConnectionState, WebSocket,
};

use super::peer::Peer;
use super::timer::Timer;
use super::{Handle, WeakHandle, now, now_ms, rtc};
use swarmload_core::content::Hash32;
use swarmload_core::membership::{Action, ConnId, Membership, MembershipConfig, Opened};
use swarmload_core::policy::{IceServer, Policy};
use swarmload_core::tracker_protocol::Id20;

/// One tracker's WebSocket and the handlers that report on it.
struct Socket {
    ws: WebSocket,
    generation: u64,
    handlers: Vec<Closure<dyn FnMut(JsValue)>>,
}

impl Socket {
    fn close(self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
        // The close may come from inside one of these handlers: they are let go
        // only after it has returned.
        let handlers = self.handlers;
        spawn_local(async move { drop(handlers) });
    }
}

struct Attempt {
    pc: RtcPeerConnection,
    on_state: Option<Closure<dyn FnMut(JsValue)>>,
}

impl Attempt {
    /// Lets the attempt's handler go (later: this may run inside it); `close` also
    /// closes the connection, else it goes on as a peer's.
    fn let_go(self, close: bool) {
        self.pc.set_onconnectionstatechange(None);
        if close {
            self.pc.close();
        }
        let handler = self.on_state;
        spawn_local(async move { drop(handler) });
    }
}

pub struct Swarm {
    m: Membership,
    ice: Vec<IceServer>,
    sockets: Vec<Option<Socket>>,
    generation: u64,
    /// Our offers' connections, made and not yet answered.
    offers: HashMap<ConnId, (RtcPeerConnection, RtcDataChannel)>,
    /// Connections on their way to an open channel, with the handler that reports
    /// their failure.
    attempts: HashMap<ConnId, Attempt>,
    timer: Timer,
}

fn random<const N: usize>() -> Result<[u8; N], String> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| e.to_string())?;
    Ok(b)
}

impl Swarm {
    /// `downloading`: whether this peer still wants the content (a kept seed does not).
    pub fn new(policy: &Policy, sha256: &Hash32, downloading: bool) -> Result<Swarm, String> {
        let m = Membership::new(
            MembershipConfig::new(
                sha256,
                policy.group_id.as_deref(),
                policy.trackers.clone(),
                policy.upload_enabled,
                random::<44>()?,
            ),
            now(),
            downloading,
        );
        Ok(Swarm {
            m,
            ice: policy.ice_servers.clone(),
            sockets: policy.trackers.iter().map(|_| None).collect(),
            generation: 0,
            offers: HashMap::new(),
            attempts: HashMap::new(),
            timer: Timer::default(),
        })
    }

    pub fn info_hash_hex(&self) -> String {
        hex::encode(self.m.info_hash().0)
    }

    /// Other peers in the swarm by the trackers' count, once one has answered.
    pub fn others(&self) -> Option<u64> {
        self.m.others()
    }

    /// The remote peer of a connection membership knows.
    pub fn remote(&self, conn: ConnId) -> Option<Id20> {
        self.m.remote(conn)
    }

    pub fn ban(&mut self, remote: Id20) {
        self.m.ban(remote);
    }
}

/// Carries out what membership decided, then arms its timer.
pub fn act(h: &Handle) {
    loop {
        let action = h.borrow_mut().swarm.m.poll_action();
        let Some(action) = action else { break };
        carry_out(h, action);
    }
    arm_timer(h);
    super::signal_change(h);
}

/// The download completed: trackers hear `completed`.
pub fn completed(h: &Handle) {
    h.borrow_mut().swarm.m.set_completed(now());
    act(h);
}

/// Leaves: trackers hear `stopped`, offers and connections close, the timer stops.
pub fn leave(h: &Handle) {
    h.borrow_mut().swarm.m.leave(now());
    act(h);
    let mut s = h.borrow_mut();
    let sw = &mut s.swarm;
    for (_, (pc, dc)) in sw.offers.drain() {
        dc.close();
        pc.close();
    }
    for (_, attempt) in sw.attempts.drain() {
        attempt.let_go(true);
    }
    for socket in sw.sockets.iter_mut().filter_map(Option::take) {
        socket.close();
    }
    sw.timer.clear();
}

/// A peer's connection ended on its own (membership is told; no engine event).
pub fn ended(h: &Handle, conn: ConnId) {
    h.borrow_mut().swarm.m.connection_ended(now(), conn);
    act(h);
}

fn carry_out(h: &Handle, action: Action) {
    match action {
        Action::ConnectTracker { tracker, url } => connect_tracker(h, tracker, &url),
        Action::SendTracker { tracker, text } => {
            let s = h.borrow();
            if let Some(Some(socket)) = s.swarm.sockets.get(tracker)
                && socket.ws.ready_state() == WebSocket::OPEN
            {
                let _ = socket.ws.send_with_str(&text);
            }
        }
        Action::CloseTracker { tracker } => {
            let socket = h.borrow_mut().swarm.sockets[tracker].take();
            if let Some(socket) = socket {
                socket.close();
            }
        }
        Action::MakeOffer { conn } => spawn_local(make_offer(Rc::downgrade(h), conn)),
        Action::DiscardOffer { conn } => {
            if let Some((pc, dc)) = h.borrow_mut().swarm.offers.remove(&conn) {
                dc.close();
                pc.close();
            }
        }
        Action::Answer { conn, offer, .. } => {
            spawn_local(answer_offer(Rc::downgrade(h), conn, offer));
        }
        Action::AcceptAnswer { conn, answer, .. } => accept_answer(h, conn, answer),
        Action::Close { conn } => {
            let (peer, attempt) = {
                let mut s = h.borrow_mut();
                (s.peers.remove(&conn.0), s.swarm.attempts.remove(&conn))
            };
            if let Some(attempt) = attempt {
                attempt.let_go(true);
            }
            if let Some(p) = peer {
                p.close();
                super::feed(
                    h,
                    swarmload_core::engine::Event::PeerGone {
                        peer: swarmload_core::engine::PeerId(conn.0),
                    },
                );
            }
        }
        Action::TrackerRefused { .. } => {}
    }
}

/// Keeps one timeout armed for membership's next deadline.
fn arm_timer(h: &Handle) {
    let mut s = h.borrow_mut();
    let due = s.swarm.m.poll_timeout();
    let weak = Rc::downgrade(h);
    s.swarm.timer.arm(due, now_ms(), move || {
        Closure::new(move || {
            let Some(h) = weak.upgrade() else { return };
            {
                let mut s = h.borrow_mut();
                s.swarm.timer.fired();
                s.swarm.m.handle_timeout(now());
            }
            act(&h);
        })
    });
}

fn connect_tracker(h: &Handle, tracker: usize, url: &str) {
    let generation = {
        let mut s = h.borrow_mut();
        s.swarm.generation += 1;
        s.swarm.generation
    };
    let ws = match WebSocket::new(url) {
        Ok(ws) => ws,
        Err(_) => {
            // A malformed URL fails at once; policy validation keeps these out.
            h.borrow_mut().swarm.m.tracker_closed(now(), tracker);
            return;
        }
    };
    // Each report names the socket it is about: a late one from a socket already
    // given up is ignored.
    let report = move |h: &Handle, f: &dyn Fn(&mut Membership)| {
        let current = {
            let s = h.borrow();
            matches!(s.swarm.sockets.get(tracker), Some(Some(sk)) if sk.generation == generation)
        };
        if current {
            f(&mut h.borrow_mut().swarm.m);
            act(h);
        }
    };
    let weak = Rc::downgrade(h);
    let on_open = Closure::<dyn FnMut(JsValue)>::new(move |_| {
        if let Some(h) = weak.upgrade() {
            report(&h, &|m| m.tracker_opened(now(), tracker));
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
            report(&h, &|m| m.tracker_text(now(), tracker, &text));
        }
    });
    let weak = Rc::downgrade(h);
    let on_close = Closure::<dyn FnMut(JsValue)>::new(move |_| {
        if let Some(h) = weak.upgrade() {
            report(&h, &|m| m.tracker_closed(now(), tracker));
            // Membership has let this socket go; drop it and its handlers.
            let stale = {
                let mut s = h.borrow_mut();
                match s.swarm.sockets.get(tracker) {
                    Some(Some(sk)) if sk.generation == generation => {
                        s.swarm.sockets[tracker].take()
                    }
                    _ => None,
                }
            };
            if let Some(sk) = stale {
                sk.close();
            }
        }
    });
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    let old = h.borrow_mut().swarm.sockets[tracker].replace(Socket {
        ws,
        generation,
        handlers: vec![on_open, on_message, on_close],
    });
    if let Some(old) = old {
        old.close();
    }
}

async fn make_offer(weak: WeakHandle, conn: ConnId) {
    let Some(ice) = weak.upgrade().map(|h| h.borrow().swarm.ice.clone()) else {
        return;
    };
    let made = match rtc::connection(&ice) {
        Ok(pc) => {
            let dc = rtc::data_channel(&pc);
            match rtc::offer(&pc).await {
                Ok(sdp) => Ok((pc, dc, sdp)),
                Err(e) => {
                    pc.close();
                    Err(e)
                }
            }
        }
        Err(e) => Err(e),
    };
    let Some(h) = weak.upgrade() else {
        if let Ok((pc, _, _)) = made {
            pc.close();
        }
        return;
    };
    {
        let mut s = h.borrow_mut();
        match made {
            Ok((pc, dc, sdp)) => {
                s.swarm.offers.insert(conn, (pc, dc));
                s.swarm.m.offer_made(now(), conn, sdp);
            }
            Err(_) => s.swarm.m.offer_failed(now(), conn),
        }
    }
    act(&h);
}

fn accept_answer(h: &Handle, conn: ConnId, answer: Value) {
    let offer = h.borrow_mut().swarm.offers.remove(&conn);
    let Some((pc, dc)) = offer else {
        ended(h, conn);
        return;
    };
    watch_attempt(h, conn, &pc);
    on_open(h, conn, pc.clone(), dc);
    let weak = Rc::downgrade(h);
    spawn_local(async move {
        if rtc::accept_answer(&pc, &answer).await.is_err() {
            pc.close();
            if let Some(h) = weak.upgrade() {
                attempt_failed(&h, conn);
            }
        }
    });
}

async fn answer_offer(weak: WeakHandle, conn: ConnId, offer: Value) {
    let Some(h) = weak.upgrade() else { return };
    let ice = h.borrow().swarm.ice.clone();
    let Ok(pc) = rtc::connection(&ice) else {
        ended(&h, conn);
        return;
    };
    watch_attempt(&h, conn, &pc);
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
            on_open(&h, conn, pc2, dc);
        }
    });
    pc.set_ondatachannel(Some(on_channel.unchecked_ref()));
    drop(h);
    let answer = rtc::answer(&pc, &offer).await;
    let Some(h) = weak.upgrade() else {
        pc.close();
        return;
    };
    match answer {
        Ok(sdp) => {
            h.borrow_mut().swarm.m.answer_made(now(), conn, sdp);
            act(&h);
        }
        Err(_) => {
            pc.close();
            attempt_failed(&h, conn);
        }
    }
}

/// Holds a connection as an attempt until its channel opens. One whose ICE or DTLS
/// fails is reported at once, so membership can announce again soon rather than
/// wait for the attempt's time limit.
fn watch_attempt(h: &Handle, conn: ConnId, pc: &RtcPeerConnection) {
    let weak = Rc::downgrade(h);
    let pc2 = pc.clone();
    let on_state = Closure::<dyn FnMut(JsValue)>::new(move |_| {
        if pc2.connection_state() == RtcPeerConnectionState::Failed
            && let Some(h) = weak.upgrade()
        {
            attempt_failed(&h, conn);
        }
    });
    pc.set_onconnectionstatechange(Some(on_state.as_ref().unchecked_ref()));
    h.borrow_mut().swarm.attempts.insert(
        conn,
        Attempt {
            pc: pc.clone(),
            on_state: Some(on_state),
        },
    );
}

fn attempt_failed(h: &Handle, conn: ConnId) {
    let attempt = h.borrow_mut().swarm.attempts.remove(&conn);
    if let Some(attempt) = attempt {
        attempt.let_go(true);
        ended(h, conn);
    }
}

/// When `dc` opens, membership says whether it becomes a peer.
fn on_open(h: &Handle, conn: ConnId, pc: RtcPeerConnection, dc: RtcDataChannel) {
    let weak = Rc::downgrade(h);
    let dc2 = dc.clone();
    let opened = move || {
        let Some(h) = weak.upgrade() else { return };
        let attempt = h.borrow_mut().swarm.attempts.remove(&conn);
        let (verdict, remote) = match attempt {
            // Given up already (closed, expired or failed).
            None => (Opened::Close, None),
            Some(attempt) => {
                attempt.let_go(false);
                let mut s = h.borrow_mut();
                let remote = s.swarm.remote(conn);
                (s.swarm.m.connection_opened(now(), conn), remote)
            }
        };
        match (verdict, remote) {
            (Opened::Keep { .. }, Some(remote)) => {
                super::add_peer(&h, conn, Peer::new(remote, pc.clone(), dc2.clone()));
            }
            _ => {
                dc2.close();
                pc.close();
            }
        }
        act(&h);
    };
    if dc.ready_state() == RtcDataChannelState::Open {
        opened();
    } else {
        let cb = Closure::once_into_js(opened);
        dc.set_onopen(Some(cb.unchecked_ref()));
    }
}

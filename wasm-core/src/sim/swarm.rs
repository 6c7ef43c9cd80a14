//! The swarm around the simulated engines: one tracker that relays offers and
//! answers as a WebTorrent tracker does (each offer to a different other peer, in
//! turn), and the connection bookkeeping of one node, whose real `Membership`
//! machine decides when to announce, what to answer and which connection survives.
//! An SDP here names its end point, `"node:conn"`, which is all a simulated
//! connection needs to open.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::membership::ConnId;
use crate::tracker_protocol::{self as protocol, Event, Id20, Request};

/// The tracker's announce interval, as a real one sends it.
const INTERVAL_SECS: u64 = 120;
/// Offers taken from one announce (the tracker crate's bound).
const MAX_OFFERS: usize = 10;

#[derive(Default)]
pub struct Tracker {
    /// Peers in the swarm: their node and whether they seed.
    peers: BTreeMap<Id20, (usize, bool)>,
    /// Where the next offer's round starts, so offers spread over the swarm.
    turn: usize,
}

impl Tracker {
    /// What the tracker sends, and to which node, for a text `from` sent.
    pub fn receive(&mut self, from: usize, text: &str) -> Vec<(usize, String)> {
        let Ok(Request::Announce(a)) = protocol::parse(text, MAX_OFFERS) else {
            return Vec::new();
        };
        if a.event == Event::Stopped {
            self.peers.remove(&a.peer_id);
            return Vec::new();
        }
        let seeding = a.left == Some(0);
        self.peers.insert(a.peer_id, (from, seeding));
        let mut out = Vec::new();
        if let Some(answer) = &a.answer {
            if let Some((to, _)) = self.peers.get(&answer.to_peer_id) {
                out.push((
                    *to,
                    protocol::forwarded_answer(a.info_hash, a.peer_id, answer),
                ));
            }
            return out;
        }
        let complete = self.peers.values().filter(|(_, s)| *s).count();
        let incomplete = self.peers.len() - complete;
        out.push((
            from,
            protocol::announce_response(a.info_hash, INTERVAL_SECS, complete, incomplete),
        ));
        let others: Vec<(Id20, usize)> = self
            .peers
            .iter()
            .filter(|(id, _)| **id != a.peer_id)
            .map(|(id, (node, _))| (*id, *node))
            .collect();
        for (i, offer) in a.offers.iter().take(others.len()).enumerate() {
            let (_, to) = others[(self.turn + i) % others.len()];
            out.push((to, protocol::forwarded_offer(a.info_hash, a.peer_id, offer)));
        }
        self.turn = self.turn.wrapping_add(a.offers.len());
        out
    }
}

/// An SDP object naming the end point `conn` of `node`.
pub fn sdp(kind: &str, node: usize, conn: ConnId) -> Value {
    json!({"type": kind, "sdp": format!("{node}:{}", conn.0)})
}

/// The end point an SDP object names.
pub fn end_point(sdp: &Value) -> Option<(usize, ConnId)> {
    let (node, conn) = sdp.get("sdp")?.as_str()?.split_once(':')?;
    Some((node.parse().ok()?, ConnId(conn.parse().ok()?)))
}

/// One node's connections, by the membership's `ConnId` (the engine's `PeerId`).
#[derive(Default)]
pub struct Links {
    /// Attempts, with the far end once known.
    pub pending: BTreeMap<ConnId, (usize, ConnId)>,
    /// Open connections: the far node and its end.
    pub open: BTreeMap<ConnId, (usize, ConnId)>,
}

impl Links {
    /// Forgets `conn`; its far end, if it was known.
    pub fn remove(&mut self, conn: ConnId) -> Option<(usize, ConnId)> {
        self.open
            .remove(&conn)
            .or_else(|| self.pending.remove(&conn))
    }
}

//! The pool of our WebRTC offers: made ahead of the announces that carry them (ICE
//! gathering takes a while), handed to trackers, and withdrawn when nobody answered
//! in time. The driver holds each offer's connection under its [`ConnId`].

use std::collections::{HashMap, HashSet, VecDeque};

use serde_json::Value;

use crate::engine::Time;
use crate::tracker_protocol::Id20;

use super::{ConnId, MAX_MAKING, OFFER_RETRY, OFFER_TTL, OFFERS_PER_ANNOUNCE, SPARE_OFFERS};

#[derive(Debug, Default)]
pub(super) struct Offers {
    /// Being made by the driver.
    making: HashSet<ConnId>,
    /// Made, not yet announced: connection, complete SDP, when made.
    ready: VecDeque<(ConnId, Value, Time)>,
    /// Out with a tracker, by offer id: connection, when sent.
    sent: HashMap<Id20, (ConnId, Time)>,
    /// No offer is asked for before this, after the driver failed to make one.
    paused_until: Option<Time>,
}

impl Offers {
    /// How many more offers to start making now: while `ahead`, enough to keep an
    /// announce's worth plus a few spare ready (a downloader's announce must not
    /// wait for ICE gathering); otherwise only what announces already lacked
    /// (`demand`). A seed's announces then go out first and their offers follow
    /// (a top-up), rather than a pool that is remade every [`OFFER_TTL`] whether
    /// anyone answers or not: each offer is a peer connection, and a browser page
    /// may make only so many in its life.
    pub fn count_to_make(&mut self, now: Time, wanted: bool, demand: usize, ahead: bool) -> usize {
        match self.paused_until {
            Some(t) if now < t => return 0,
            Some(_) => self.paused_until = None,
            None => {}
        }
        if !wanted {
            return 0;
        }
        let target = if ahead {
            demand.max(OFFERS_PER_ANNOUNCE) + SPARE_OFFERS
        } else {
            demand
        };
        let have = self.ready.len() + self.making.len();
        target
            .saturating_sub(have)
            .min(MAX_MAKING.saturating_sub(self.making.len()))
    }

    pub fn making(&mut self, conn: ConnId) {
        self.making.insert(conn);
    }

    /// An offer is made; false if it was not asked for (any more): discard it.
    pub fn made(&mut self, conn: ConnId, sdp: Value, now: Time) -> bool {
        if !self.making.remove(&conn) {
            return false;
        }
        self.ready.push_back((conn, sdp, now));
        true
    }

    /// The driver could not make an offer: wait a little before asking again, so a
    /// browser without WebRTC is not asked in a loop.
    pub fn failed(&mut self, conn: ConnId, now: Time) {
        if self.making.remove(&conn) {
            self.paused_until = Some(now + OFFER_RETRY);
        }
    }

    pub fn ready(&self) -> usize {
        self.ready.len()
    }

    pub fn in_the_making(&self) -> usize {
        self.making.len()
    }

    /// The oldest ready offers, one for each of `ids`, now out with a tracker under
    /// those offer ids.
    pub fn send(&mut self, ids: Vec<Id20>, now: Time) -> Vec<(Id20, Value)> {
        let k = ids.len().min(self.ready.len());
        let mut out = Vec::with_capacity(k);
        for ((conn, sdp, _), offer_id) in self.ready.drain(..k).zip(ids) {
            self.sent.insert(offer_id, (conn, now));
            out.push((offer_id, sdp));
        }
        out
    }

    /// The offer an answer is for, if it is still out.
    pub fn answered(&mut self, offer_id: &Id20) -> Option<ConnId> {
        self.sent.remove(offer_id).map(|(conn, _)| conn)
    }

    /// Offers unanswered (or unannounced) for [`OFFER_TTL`]: to be discarded.
    pub fn expire(&mut self, now: Time) -> Vec<ConnId> {
        let mut gone = Vec::new();
        self.sent.retain(|_, (conn, at)| {
            let keep = now.since(*at) < OFFER_TTL;
            if !keep {
                gone.push(*conn);
            }
            keep
        });
        while let Some((conn, _, at)) = self.ready.front() {
            if now.since(*at) < OFFER_TTL {
                break;
            }
            gone.push(*conn);
            self.ready.pop_front();
        }
        gone
    }

    /// Every offer held, for leaving; offers still being made are discarded when
    /// they arrive.
    pub fn drain(&mut self) -> Vec<ConnId> {
        self.making.clear();
        let mut all: Vec<ConnId> = self.ready.drain(..).map(|(c, _, _)| c).collect();
        all.extend(self.sent.drain().map(|(_, (c, _))| c));
        all
    }

    pub fn next_deadline(&self) -> Option<Time> {
        let oldest_sent = self.sent.values().map(|(_, at)| *at).min();
        let oldest_ready = self.ready.front().map(|(_, _, at)| *at);
        let expiry = oldest_sent.into_iter().chain(oldest_ready).min();
        expiry
            .map(|t| t + OFFER_TTL)
            .into_iter()
            .chain(self.paused_until)
            .min()
    }
}

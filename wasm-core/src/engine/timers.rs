//! Everything that happens because time passed: lost requests, silent peers,
//! keep-alives, origin retries, stalls.

use crate::wire::Message;

use super::{
    DisconnectReason, Engine, EngineState, FailReason, HASH_REQUEST_TIMEOUT, PeerId, SNUB_TIME,
    Time,
};

/// How often an idle origin reconsiders what to fetch.
pub(super) const ORIGIN_RECHECK: std::time::Duration = std::time::Duration::from_millis(250);

/// Requests lost in a row after which a peer is disconnected.
const UNRESPONSIVE_TIMEOUTS: u32 = 12;

impl Engine {
    /// The next time `handle_timeout` has work to do, if any.
    pub fn poll_timeout(&self) -> Option<Time> {
        if self.started.is_none() {
            // Never run: due at once, so the first `handle_timeout` starts the origin.
            return Some(Time::ZERO);
        }
        let now = self.now;
        let mut next: Option<Time> = None;
        let mut at = |t: Time| {
            next = Some(next.map_or(t, |n: Time| n.min(t)));
        };
        for p in self.peers.values() {
            if let Some(f) = p.inflight.front() {
                at(f.sent + p.request_timeout(self.cfg.min_request_timeout));
            }
            if let Some((_, sent)) = p.hash_request {
                at(sent + HASH_REQUEST_TIMEOUT);
            }
            if let Some(t) = p.snubbed_until {
                at(t);
            }
            at(p.last_sent + self.cfg.keepalive_interval);
            at(p.last_recv + self.cfg.idle_timeout);
        }
        if self.state == EngineState::Downloading {
            at(self.last_progress + self.cfg.stall_timeout);
            if let Some(t) = self.origin.retry_at {
                at(t);
            }
            if self.origin.idle && self.origin.usable() {
                // Nothing was worth fetching; look again soon (peers may have stalled).
                at(self.origin.idle_at + ORIGIN_RECHECK);
            }
            if let Some(started) = self.started
                && !self.cfg.origin_fallback_delay.is_zero()
            {
                let t = started + self.cfg.origin_fallback_delay;
                if t > now {
                    at(t);
                }
            }
            if let Some(t) = self.download_bucket.ready_at(now) {
                at(t);
            }
        }
        if self.peers.values().any(|p| !p.upload_queue.is_empty())
            && let Some(t) = self.upload_bucket.ready_at(now)
        {
            at(t);
        }
        next
    }

    pub fn handle_timeout(&mut self, now: Time) {
        self.advance_clock(now);
        let now = self.now;
        let ids: Vec<PeerId> = self.peers.keys().copied().collect();
        for id in ids {
            self.peer_timers(id, now);
        }
        if self.origin.retry_at.is_some_and(|t| now >= t) {
            self.origin.retry_at = None;
            self.origin.idle = false;
        }
        if self.state == EngineState::Downloading
            && now >= self.last_progress + self.cfg.stall_timeout
        {
            self.fail(FailReason::Stalled);
            return;
        }
        self.schedule();
    }

    fn peer_timers(&mut self, id: PeerId, now: Time) {
        let floor = self.cfg.min_request_timeout;
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if now >= peer.last_recv + self.cfg.idle_timeout {
            self.disconnect(id, DisconnectReason::Idle);
            return;
        }
        if peer.snubbed_until.is_some_and(|t| now >= t) {
            peer.snubbed_until = None;
        }
        let timeout = peer.request_timeout(floor);
        let mut expired = Vec::new();
        while let Some(f) = peer.inflight.front() {
            if now < f.sent + timeout {
                break;
            }
            let block = f.block;
            peer.take_inflight(block);
            expired.push(block);
        }
        let mut unresponsive = false;
        if !expired.is_empty() {
            peer.timeouts_in_row += expired.len() as u32;
            peer.window = (peer.window / 2).max(super::peer::MIN_WINDOW);
            if peer.timeouts_in_row >= 3 {
                peer.snubbed_until = Some(now + SNUB_TIME);
            }
            // Rounds of lost requests and nothing else: it takes requests and never
            // answers. Let it go (not banned: it may just be overloaded).
            unresponsive = peer.timeouts_in_row >= UNRESPONSIVE_TIMEOUTS;
        }
        let hash_expired = peer
            .hash_request
            .filter(|(_, sent)| now >= *sent + HASH_REQUEST_TIMEOUT)
            .map(|(chunk, _)| chunk);
        if let Some(chunk) = hash_expired {
            peer.hash_request = None;
            peer.hashes_refused = true;
            self.hash_requests.remove(&chunk);
        }
        let keepalive = now >= peer.last_sent + self.cfg.keepalive_interval;
        for block in expired {
            self.stats.request_timeouts += 1;
            // A block a peer failed to deliver goes to the origin, if there is one,
            // rather than round to another peer that may stall the same way.
            if self.origin.usable() {
                self.origin_preferred.insert(block);
            }
            self.release_request(block);
            self.send(id, &Message::Cancel { block });
        }
        if unresponsive {
            self.disconnect(id, DisconnectReason::Unresponsive);
            return;
        }
        if keepalive {
            self.send(id, &Message::KeepAlive);
        }
    }
}

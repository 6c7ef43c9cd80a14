//! The download side: block bookkeeping, choosing what to ask whom, the origin as a
//! gap-filling source, hash acquisition, delivery order and the final gate.

use std::time::Duration;

use bytes::Bytes;

use crate::content::{BLOCK_SIZE, Hash32, hash_block};
use crate::wire::Message;

use super::origin::{OriginPass, OriginRequest};
use super::peer::{InFlight, Peer};
use super::root::RootTrust;
use super::{
    Action, Engine, EngineState, FailReason, MAX_DUPLICATE_REQUESTS, MAX_HASH_REQUESTS,
    OriginError, PeerId,
};

/// The in-order window never shrinks below this, so delivery moves even when slow.
const MIN_IN_ORDER_BYTES: u64 = 2 * 1024 * 1024;
const MAX_IN_ORDER_BYTES: u64 = 64 * 1024 * 1024;
/// Endgame (duplicate requests) starts when every missing block is requested and
/// at most this many blocks, or this much transfer time, remain.
const ENDGAME_BLOCKS: u32 = 32;
const ENDGAME_TIME: f64 = 0.25;
const MAX_ENDGAME_BLOCKS: u32 = 512;
/// Origin work in a crowd is divided in chunks of this many blocks (64 KiB): small,
/// so the unique pieces each downloader holds at the end of injection spread fast.
const OWNERSHIP_CHUNK_BLOCKS: u32 = 4;
/// How long a crowd waits at least for a chunk's owner before fetching it itself,
/// and at most.
const OWNER_PATIENCE: Duration = Duration::from_secs(5);
const MAX_OWNER_PATIENCE: Duration = Duration::from_secs(60);
/// The origin duplicates blocks still out at peers only for this many last blocks.
const ORIGIN_ENDGAME_BLOCKS: u32 = 64;
/// The origin counts as lagging behind a source this many times faster.
const ORIGIN_LAG_FACTOR: f64 = 4.0;
/// How far past the cursor peers take over blocks a lagging origin holds.
const RESCUE_BLOCKS: u32 = 64;
/// Below this aggregate peer rate (bytes/s) the origin always helps, even when its
/// own rate has not been measured yet.
const SLOW_SWARM_FLOOR: f64 = 1024.0 * 1024.0;

impl Engine {
    // ---- bookkeeping ---------------------------------------------------------------

    pub(super) fn add_request(&mut self, block: u32) {
        let r = &mut self.requests[block as usize];
        *r = r.saturating_add(1);
        if *r == 1 && !self.have.contains(block) {
            let p = self.geo.piece_of(block);
            self.piece_unrequested[p as usize] -= 1;
            self.refresh_piece(p);
        }
    }

    pub(super) fn release_request(&mut self, block: u32) {
        let r = &mut self.requests[block as usize];
        if *r == 0 {
            return;
        }
        *r -= 1;
        if *r == 0 && !self.have.contains(block) {
            let p = self.geo.piece_of(block);
            self.piece_unrequested[p as usize] += 1;
            self.refresh_piece(p);
            self.origin.idle = false;
            self.in_order_hint = self.in_order_hint.min(block);
        }
    }

    fn piece_proven(&self, piece: u32) -> bool {
        let blocks = self.geo.piece_blocks(piece);
        let first = self.leaves.chunk_of(blocks.start);
        let last = self.leaves.chunk_of(blocks.end - 1);
        (first..=last).all(|c| self.leaves.chunk_proven(c))
    }

    /// Keeps the picker holding exactly the pieces peers could be asked for now.
    pub(super) fn refresh_piece(&mut self, piece: u32) {
        let pickable = self.downloading()
            && self.piece_unrequested[piece as usize] > 0
            && self.piece_proven(piece);
        if pickable {
            self.picker.insert(piece);
        } else {
            self.picker.remove(piece);
        }
    }

    pub(super) fn on_leaves_proven(&mut self, start: u32, end: u32) {
        if start >= end {
            return;
        }
        let first = self.geo.piece_of(start);
        let last = self.geo.piece_of(end - 1);
        for p in first..=last {
            self.refresh_piece(p);
        }
        self.origin.idle = false;
        self.advance_cursors();
    }

    /// Stores a verified (peer) or origin block. `own` tells whether the request it
    /// answers is still counted in `requests` (the caller releases it afterwards).
    pub(super) fn accept_block(
        &mut self,
        block: u32,
        leaf: Option<Hash32>,
        data: Bytes,
        own: bool,
    ) {
        let len = data.len() as u64;
        self.have.insert(block);
        self.origin_preferred.remove(block);
        self.stats.blocks_have += 1;
        self.last_progress = self.now;
        self.total_rate.record(self.now, len);
        if let Some(leaf) = leaf {
            self.leaves.record_computed(block, leaf);
        }
        let piece = self.geo.piece_of(block);
        let requests = self.requests[block as usize];
        if requests == 0 {
            self.piece_unrequested[piece as usize] -= 1;
        } else if requests > u8::from(own) {
            self.cancel_duplicates(block);
        }
        if self.origin_requested.contains(block) {
            self.drop_delivered_origin_ranges();
        }
        self.piece_missing[piece as usize] -= 1;
        self.refresh_piece(piece);
        self.announce_piece(piece);
        self.emit(Action::Write {
            block,
            offset: self.geo.block_offset(block),
            data,
            leaf,
        });
        self.advance_cursors();
        if self.have.is_full() && self.state == EngineState::Downloading {
            self.state = EngineState::Verifying;
            self.cancel_origin_ranges(|_| true);
            if let Some(id) = self.origin.sample.take()
                && let Some(req) = self.origin.remove(id)
            {
                self.emit(Action::CancelOrigin { request: id });
                self.release_origin_request(req);
            }
            self.emit(Action::VerifyContent);
        }
    }

    /// Whether we would hand this block to a peer: we hold it, it is still intact on
    /// disk, and if a peer gave it to us, we believe the root it was checked against.
    /// We pass on only what we would show our own user.
    pub(super) fn servable(&self, block: u32) -> bool {
        self.have.contains(block)
            && !self.unservable.contains(block)
            && (!self.from_peer.contains(block) || self.roots.deliverable())
    }

    /// Tells every peer about a piece once all of it is servable.
    pub(super) fn announce_piece(&mut self, piece: u32) {
        if self.piece_missing[piece as usize] != 0
            || self.pieces_announced.contains(piece)
            || !self.geo.piece_blocks(piece).all(|b| self.servable(b))
        {
            return;
        }
        self.pieces_announced.insert(piece);
        // Every connected peer hears it: one whose handshake has not arrived yet
        // holds an older copy of our bitfield, and one that seems to have the piece
        // may have had to throw it away (a root it trusted fell) and now needs to
        // know who has it.
        self.broadcast(&Message::Have { piece });
    }

    /// A block arrived: withdraw the other requests for it (endgame duplicates).
    fn cancel_duplicates(&mut self, block: u32) {
        let holders: Vec<PeerId> = self
            .peers
            .values()
            .filter(|p| p.inflight.iter().any(|f| f.block == block))
            .map(|p| p.id)
            .collect();
        for id in holders {
            if let Some(p) = self.peers.get_mut(&id) {
                p.take_inflight(block);
            }
            self.release_request(block);
            self.send(id, &Message::Cancel { block });
        }
    }

    /// Forgets a stored block (its source proved untrustworthy).
    pub(super) fn unhave(&mut self, block: u32) {
        if !self.have.remove(block) {
            return;
        }
        self.stats.blocks_have -= 1;
        self.stats.bytes_wasted += self.geo.block_len(block) as u64;
        self.from_peer.remove(block);
        self.leaves.forget_computed(block);
        let piece = self.geo.piece_of(block);
        self.piece_missing[piece as usize] += 1;
        if self.requests[block as usize] == 0 {
            self.piece_unrequested[piece as usize] += 1;
        }
        self.pieces_announced.remove(piece);
        self.refresh_piece(piece);
        self.cursor = self.cursor.min(block);
        self.in_order_hint = self.in_order_hint.min(block);
        self.origin.idle = false;
    }

    pub(super) fn purge_origin_blocks(&mut self) {
        let origin_blocks: Vec<u32> = self
            .have
            .iter()
            .filter(|b| !self.from_peer.contains(*b))
            .collect();
        let delivered = origin_blocks.iter().any(|b| *b < self.deliver_cursor);
        for b in origin_blocks {
            self.unhave(b);
        }
        if delivered {
            self.reset_delivery();
        }
    }

    /// Bytes already declared deliverable can no longer be vouched for: delivery
    /// starts again from zero.
    pub(super) fn reset_delivery(&mut self) {
        self.deliver_cursor = 0;
        self.delivered_upto = 0;
        self.emit(Action::DeliveryReset);
    }

    /// Moves the in-order cursor and the delivery point, announcing new deliverable
    /// bytes. Peer bytes are deliverable only under a trusted or confirmed root.
    pub(super) fn advance_cursors(&mut self) {
        let n = self.geo.num_blocks();
        while self.cursor < n && self.have.contains(self.cursor) {
            self.cursor += 1;
        }
        self.advance_in_order_hint();
        let peer_ok = self.roots.deliverable();
        while self.deliver_cursor < n
            && self.have.contains(self.deliver_cursor)
            && (peer_ok || !self.from_peer.contains(self.deliver_cursor))
        {
            self.deliver_cursor += 1;
        }
        let upto = if self.state == EngineState::Seeding {
            self.geo.size()
        } else {
            // The last block waits for the whole-file SHA-256.
            self.geo
                .block_offset(self.deliver_cursor)
                .min(self.geo.block_offset(self.geo.last_block()))
        };
        if upto > self.delivered_upto {
            self.delivered_upto = upto;
            self.emit(Action::Deliverable { upto });
        }
    }

    /// Blocks between the cursor and the hint are all held or requested: in-order
    /// picks start scanning at the hint.
    fn advance_in_order_hint(&mut self) {
        let n = self.geo.num_blocks();
        let mut h = self.in_order_hint.max(self.cursor);
        while h < n && (self.have.contains(h) || self.requests[h as usize] > 0) {
            h += 1;
        }
        self.in_order_hint = h;
    }

    pub(super) fn on_content_digest(&mut self, sha256: Hash32) {
        if self.state != EngineState::Verifying {
            return;
        }
        // An unverified download has no other gate: what was stored is the content.
        let expected = *self.sha256.get_or_insert(sha256);
        if sha256 == expected {
            // A lazy origin-only download does not know every leaf: no tree then,
            // the content is indexed before anyone serves it.
            if self.leaves.all_known() {
                let root = self.leaves.current_root();
                self.roots.settle(root);
                self.leaves.seal();
            }
            self.state = EngineState::Seeding;
            self.last_progress = self.now;
            self.advance_cursors();
            self.emit(Action::Completed);
            return;
        }
        self.final_checks += 1;
        let peers_involved = !self.from_peer.is_empty();
        let root_trusted = self.roots.trust() == Some(RootTrust::Trusted);
        if peers_involved && !root_trusted && self.final_checks <= 3 {
            // Every peer block matched a root that the whole file now refutes.
            self.state = EngineState::Downloading;
            self.reject_root();
        } else {
            self.fail(FailReason::DigestMismatch {
                expected,
                actual: sha256,
            });
        }
    }

    // ---- scheduling ----------------------------------------------------------------

    pub(super) fn schedule(&mut self) {
        if self.downloading() {
            self.request_hashes();
            let ids: Vec<PeerId> = self
                .peers
                .values()
                .filter(|p| p.counted && p.inflight.len() < p.window as usize)
                .map(|p| p.id)
                .collect();
            self.peer_starved = false;
            self.update_endgame();
            for id in ids {
                self.fill_peer(id);
            }
            if self.peer_starved || self.swarm_too_slow() == Some(false) {
                self.trim_origin();
            }
            self.plan_origin();
        }
        if self.state != EngineState::Failed {
            self.announce_root();
            self.pump_uploads();
        }
    }

    fn in_order_window(&self) -> u32 {
        let bytes = (self.total_rate.rate(self.now) * 2.0) as u64;
        let bytes = bytes.clamp(MIN_IN_ORDER_BYTES, MAX_IN_ORDER_BYTES);
        (bytes / BLOCK_SIZE as u64) as u32
    }

    fn fill_peer(&mut self, id: PeerId) {
        let now = self.now;
        loop {
            let Some(peer) = self.peers.get(&id) else {
                return;
            };
            if !peer.counted || peer.snubbed(now) || peer.inflight.len() >= peer.window as usize {
                return;
            }
            if !self.download_bucket.in_credit(now) {
                return;
            }
            let Some((block, in_order)) = self.pick_block(peer) else {
                self.peer_starved = true;
                return;
            };
            self.download_bucket
                .charge(now, self.geo.block_len(block) as u64);
            self.add_request(block);
            if block == self.in_order_hint {
                self.advance_in_order_hint();
            }
            if let Some(peer) = self.peers.get_mut(&id) {
                peer.inflight.push_back(InFlight {
                    block,
                    sent: now,
                    in_order,
                });
                if in_order {
                    peer.in_order_inflight += 1;
                }
                peer.rate.start(now);
            }
            self.send(id, &Message::Request { block });
        }
    }

    /// In-order first, so the user sees steady progress; but when a strictly rarer
    /// piece exists, at most half the pipeline goes in order and the rest rarest first.
    /// Endgame duplicates last.
    fn pick_block(&self, peer: &Peer) -> Option<(u32, bool)> {
        let n = self.geo.num_blocks();
        let origin_takes = |b: u32| self.origin_preferred.contains(b) && self.origin.usable();
        let wanted = |b: u32| {
            !self.have.contains(b)
                && self.requests[b as usize] == 0
                && self.leaves.is_proven(b)
                && peer.pieces.contains(self.geo.piece_of(b))
                && !origin_takes(b)
        };
        // A peer far slower than the whole download would hold up the bytes the user
        // waits for; it gets blocks further ahead instead.
        let slow = peer.bytes_received > 0
            && peer.rate.rate(self.now) * 10.0 < self.total_rate.rate(self.now);
        // A block already out at another source that this peer may be asked for too.
        let second_source = |b: u32| {
            let r = self.requests[b as usize];
            !self.have.contains(b)
                && r > 0
                && r < MAX_DUPLICATE_REQUESTS
                && self.leaves.is_proven(b)
                && peer.pieces.contains(self.geo.piece_of(b))
                && !peer.inflight.iter().any(|f| f.block == b)
        };
        let start = self.cursor.max(self.in_order_hint);
        let end = self.cursor.saturating_add(self.in_order_window()).min(n);
        // The origin holds blocks at the front but delivers far slower than this
        // peer: ask the peer too, or the bytes the user waits for (and the running
        // whole-file hash) would wait on the origin.
        if !slow && self.origin_lags(peer.rate.rate(self.now)) {
            let rescue_end = self.cursor.saturating_add(RESCUE_BLOCKS).min(n);
            let rescued = (self.cursor..rescue_end)
                .find(|&b| self.origin_requested.contains(b) && second_source(b));
            if let Some(b) = rescued {
                return Some((b, true));
            }
        }
        let in_order = if slow {
            None
        } else {
            (start..end).find(|&b| wanted(b))
        };
        let rarest = self
            .picker
            .pick(peer.salt, |p| peer.pieces.contains(p))
            .and_then(|piece| self.geo.piece_blocks(piece).find(|&b| wanted(b)));
        match (in_order, rarest) {
            (Some(io), Some(r)) => {
                let avail = |b: u32| self.picker.availability(self.geo.piece_of(b));
                let rarer = avail(r) < avail(io);
                if !rarer || peer.in_order_inflight < (peer.window / 2).max(1) {
                    return Some((io, true));
                }
                return Some((r, false));
            }
            (Some(io), None) => return Some((io, true)),
            (None, Some(r)) => return Some((r, false)),
            (None, None) => {}
        }
        // Endgame: every missing block is out; ask a second source for the slow ones.
        // That includes blocks the origin is fetching: a throttled origin would
        // otherwise hold up the end of a download the peers could finish at once.
        // The origin range is cancelled as soon as peers delivered all it had left.
        self.endgame
            .iter()
            .copied()
            .find(|&b| second_source(b))
            .map(|b| (b, false))
    }

    /// Whether the origin delivers far slower than `rate` (a peer's, or the swarm's).
    fn origin_lags(&self, rate: f64) -> bool {
        rate > 0.0 && self.origin.rate.rate(self.now) * ORIGIN_LAG_FACTOR < rate
    }

    /// Enters endgame when every missing block is requested and few remain: lists
    /// them once, so picks scan the short list instead of the whole file.
    fn update_endgame(&mut self) {
        let missing = self.geo.num_blocks() - self.have.count();
        let threshold = ENDGAME_BLOCKS
            .max((self.total_rate.rate(self.now) * ENDGAME_TIME / BLOCK_SIZE as f64) as u32)
            .min(MAX_ENDGAME_BLOCKS);
        if !self.picker.is_empty() || missing > threshold {
            self.endgame.clear();
            return;
        }
        if self.endgame.is_empty() {
            let have = &self.have;
            self.endgame = (self.cursor..self.geo.num_blocks())
                .filter(|&b| !have.contains(b))
                .collect();
        } else {
            let have = &self.have;
            self.endgame.retain(|&b| !have.contains(b));
        }
    }

    fn request_hashes(&mut self) {
        let Some(root) = self.roots.current() else {
            return;
        };
        if self.leaves.all_proven() {
            return;
        }
        let chunks = self.leaves.num_chunks();
        let chunk_len = self.leaves.chunk_len();
        let first = self.leaves.chunk_of(self.cursor.min(self.geo.last_block()));
        let mut k = 0;
        while self.hash_requests.len() < MAX_HASH_REQUESTS && k < chunks {
            let chunk = (first + k) % chunks;
            k += 1;
            if self.leaves.chunk_proven(chunk) || self.hash_requests.contains_key(&chunk) {
                continue;
            }
            let start = chunk * chunk_len;
            let end = (start + chunk_len).min(self.geo.num_blocks());
            if (start..end).all(|b| self.have.contains(b)) {
                continue;
            }
            let Some(id) = self
                .peers
                .values()
                .find(|p| {
                    p.counted
                        && p.root == Some(root)
                        && p.can_serve_hashes()
                        && p.hash_request.is_none()
                })
                .map(|p| p.id)
            else {
                return;
            };
            let now = self.now;
            if let Some(p) = self.peers.get_mut(&id) {
                p.hash_request = Some((chunk, now));
            }
            self.hash_requests.insert(chunk, id);
            self.send(
                id,
                &Message::HashRequest {
                    index: start,
                    count: chunk_len,
                },
            );
        }
    }

    // ---- the origin ------------------------------------------------------------------

    /// Whether blocks from peers can be checked: we hold every proven leaf, or a peer
    /// under our root can prove them.
    fn can_verify_peer_blocks(&self) -> bool {
        self.leaves.all_proven()
            || self
                .peers
                .values()
                .any(|p| p.counted && p.can_serve_hashes())
    }

    /// Peers that hold data we can verify and use.
    fn peers_can_supply(&self) -> bool {
        self.can_verify_peer_blocks()
            && self
                .peers
                .values()
                .any(|p| p.counted && !p.pieces.is_empty())
    }

    fn plan_origin(&mut self) {
        let now = self.now;
        if !self.origin.usable() || self.origin.waiting_to_retry(now) {
            return;
        }
        let supplied = self.peers_can_supply();
        let started = self.started.unwrap_or(now);
        // Within the configured delay the origin waits for peers; if some came, it
        // fills only what they lack until they prove slow.
        let within_delay = now < started + self.cfg.origin_fallback_delay;
        if !supplied && within_delay {
            return;
        }
        self.maybe_sample_root();
        // Nothing to fetch last time and nothing changed since: skip the scan, but look
        // again now and then, since whether the swarm is too slow changes with time.
        if self.origin.idle && now.since(self.origin.idle_at) < super::timers::ORIGIN_RECHECK {
            return;
        }
        let max = self.origin.max_connections as usize;
        let missing = self.geo.num_blocks() - self.have.count();
        // Sharing the origin's work only makes sense with peers whose blocks can be
        // checked; without a root, each downloader needs everything from the origin.
        let crowd = self.refresh_ownership() && self.can_verify_peer_blocks();
        // Which blocks the origin may take, most wanted first, and with how many
        // connections at most.
        let mut plan: Vec<(OriginPass, usize)> = Vec::with_capacity(3);
        if crowd {
            let gaps = self.gap_blocks();
            if gaps > 0 {
                // Ranges taken before the crowd showed up would duplicate what
                // others own.
                self.cancel_origin_ranges(|r| r.pass == OriginPass::Any);
            }
            // The origin is shared by the whole crowd: first each downloader fetches
            // the part it owns, so every block crosses from the origin about once;
            // once the swarm holds everything, the origin's spare capacity helps
            // everyone finish (in order, for steady delivery).
            plan.push((OriginPass::Owned, max));
            if gaps == 0 {
                self.origin.others_gaps_since = None;
                plan.push((OriginPass::Any, max));
            } else if self.origin_out_of_owned_work() {
                // Only others' chunks are missing. Give their owners time, about twice
                // what the rest of the crowd's origin work should take, then fetch
                // them too: an owner may have lost its origin, or stalled.
                let since = *self.origin.others_gaps_since.get_or_insert(now);
                let crowd_rate =
                    self.origin.peak_rate.max(16_384.0) * (self.owned_among.len() + 1) as f64;
                let expected = gaps as f64 * BLOCK_SIZE as f64 / crowd_rate;
                let patience = OWNER_PATIENCE + Duration::from_secs_f64(2.0 * expected);
                if now.since(since) >= patience.min(MAX_OWNER_PATIENCE) {
                    plan.push((OriginPass::Gaps, 1));
                }
            }
        } else if !supplied {
            plan.push((OriginPass::Any, max));
        } else {
            // Alone with seeds: the origin fills what they lack, and works on until
            // they have shown they are fast.
            plan.push((OriginPass::Gaps, max));
            let assist = match self.swarm_too_slow() {
                Some(slow) => slow,
                None => !within_delay,
            };
            if assist {
                plan.push((OriginPass::Any, max));
            } else if self.origin_lags(self.swarm_rate()) {
                // The seeds proved fast and the origin is far slower: what it still
                // has open would mostly arrive after the peers' copies. Those blocks
                // go back to the peers, and the origin's bytes are saved.
                self.cancel_origin_ranges(|r| r.pass == OriginPass::Any);
            }
        }
        if missing <= ORIGIN_ENDGAME_BLOCKS && plan.iter().any(|(p, _)| *p == OriginPass::Any) {
            plan.push((OriginPass::Endgame, max));
        }
        let horizon = if !supplied && !crowd {
            Duration::from_secs(2)
        } else {
            Duration::from_secs(1)
        };
        let n = self.geo.num_blocks();
        // An origin far slower than the peers works beyond the blocks the user waits
        // for next, as a slow peer does.
        let from = if supplied && !crowd && self.origin_lags(self.swarm_rate()) {
            self.cursor.saturating_add(self.in_order_window())
        } else {
            self.cursor
        }
        .min(n - 1);
        for (pass, limit) in plan {
            while self.origin.requests.len() < limit && self.download_bucket.in_credit(now) {
                let Some(start) = (0..n)
                    .map(|k| (from + k) % n)
                    .find(|&b| self.origin_wants(pass, b))
                else {
                    break;
                };
                let max_len = if self.cfg.origin_ranges {
                    self.origin.range_blocks(now, horizon)
                } else {
                    n
                };
                let mut end = start + 1;
                while end < n && end - start < max_len && self.origin_wants(pass, end) {
                    end += 1;
                }
                self.issue_origin(start, end, pass);
            }
        }
        if self.origin.requests.len() < max {
            self.origin.idle = true;
            self.origin.idle_at = now;
        }
    }

    fn origin_wants(&self, pass: OriginPass, block: u32) -> bool {
        let unclaimed = !self.have.contains(block) && self.requests[block as usize] == 0;
        // Blocks peers failed to deliver count as gaps: no peer can be relied on.
        let gap = || {
            self.picker.availability(self.geo.piece_of(block)) == 0
                || self.origin_preferred.contains(block)
        };
        match pass {
            OriginPass::Any => unclaimed,
            OriginPass::Gaps => unclaimed && gap(),
            OriginPass::Owned => {
                unclaimed
                    && (self.origin_preferred.contains(block)
                        || (gap() && self.owned.contains(block / OWNERSHIP_CHUNK_BLOCKS)))
            }
            OriginPass::Endgame => {
                !self.have.contains(block)
                    && !self.origin_requested.contains(block)
                    && self.requests[block as usize] > 0
            }
        }
    }

    /// Whether some block we lack is held by no connected peer.
    /// Blocks we lack that no connected peer has.
    fn gap_blocks(&self) -> u32 {
        (self.cursor..self.geo.num_blocks())
            .filter(|&b| {
                !self.have.contains(b) && self.picker.availability(self.geo.piece_of(b)) == 0
            })
            .count() as u32
    }

    /// No open origin range, and nothing left in our own chunks to fetch.
    fn origin_out_of_owned_work(&self) -> bool {
        self.origin.requests.is_empty()
            && !(self.cursor..self.geo.num_blocks())
                .any(|b| self.origin_wants(OriginPass::Owned, b))
    }

    /// Recomputes which origin chunks this engine owns among the downloaders it sees
    /// (rendezvous hashing over node ids: everyone with the same view agrees without a
    /// word). Returns whether there is a crowd at all.
    fn refresh_ownership(&mut self) -> bool {
        let mut fellows: Vec<u64> = self
            .peers
            .values()
            .filter(|p| p.counted && !p.is_complete())
            .map(|p| p.node_id)
            .collect();
        fellows.sort_unstable();
        if fellows == self.owned_among {
            return !fellows.is_empty();
        }
        let chunks = self.geo.num_blocks().div_ceil(OWNERSHIP_CHUNK_BLOCKS);
        let mut owned = super::BitSet::new(chunks);
        for c in 0..chunks {
            let mine = rendezvous(self.node_id, c);
            if fellows.iter().all(|f| rendezvous(*f, c) < mine) {
                owned.insert(c);
            }
        }
        self.owned = owned;
        self.owned_among = fellows;
        self.origin.idle = false;
        // Ranges claimed under an older view of the crowd may now be someone else's.
        let owned = &self.owned;
        let stale: Vec<u64> = self
            .origin
            .requests
            .iter()
            .filter(|r| r.pass == OriginPass::Owned)
            .filter(|r| {
                (r.first_incomplete()..r.end).any(|b| !owned.contains(b / OWNERSHIP_CHUNK_BLOCKS))
            })
            .map(|r| r.id)
            .collect();
        self.cancel_origin_ranges(|r| stale.contains(&r.id));
        !self.owned_among.is_empty()
    }

    /// Whether the peers are too slow: together they deliver less than half what the
    /// origin has shown it can. `None` while the peers have not yet had 300 ms
    /// to show their rate.
    fn swarm_too_slow(&self) -> Option<bool> {
        let now = self.now;
        let since = self.first_peer_block?;
        if now.since(since) < Duration::from_millis(300) {
            return None;
        }
        let floor = (self.origin.peak_rate * 0.5).max(SLOW_SWARM_FLOOR);
        Some(self.swarm_rate() < floor)
    }

    /// What the connected peers deliver together, bytes per second.
    fn swarm_rate(&self) -> f64 {
        self.peers
            .values()
            .filter(|p| p.counted)
            .map(|p| p.rate.rate(self.now))
            .sum()
    }

    /// Cancels open origin ranges the predicate picks (never the root sample) and
    /// returns their missing blocks to the pool.
    fn cancel_origin_ranges(&mut self, pick: impl Fn(&OriginRequest) -> bool) {
        let victims: Vec<u64> = self
            .origin
            .requests
            .iter()
            .filter(|r| self.origin.sample != Some(r.id) && pick(r))
            .map(|r| r.id)
            .collect();
        for id in victims {
            if let Some(req) = self.origin.remove(id) {
                self.emit(Action::CancelOrigin { request: id });
                self.release_origin_request(req);
            }
        }
    }

    /// Cancels origin ranges whose every remaining block arrived from elsewhere
    /// (endgame duplicates): their bytes would only be thrown away.
    fn drop_delivered_origin_ranges(&mut self) {
        let have = &self.have;
        let done: Vec<u64> = self
            .origin
            .requests
            .iter()
            .filter(|r| (r.first_incomplete().max(r.start)..r.end).all(|b| have.contains(b)))
            .map(|r| r.id)
            .collect();
        if !done.is_empty() {
            self.cancel_origin_ranges(|r| done.contains(&r.id));
        }
    }

    /// A peer has room in its pipeline and nothing to ask for, while origin ranges
    /// hold blocks that peers have: cancel those ranges so peers serve them instead.
    fn trim_origin(&mut self) {
        // Only peers that have shown they are fast enough take work off the origin;
        // in a crowd the origin's work is divided by ownership instead.
        if !self.peers_can_supply()
            || self.swarm_too_slow() != Some(false)
            || !self.owned_among.is_empty()
        {
            return;
        }
        let geo = self.geo;
        let picker = &self.picker;
        let supplied_most = |r: &OriginRequest| {
            let first = r.first_incomplete();
            let remaining = r.end.saturating_sub(first);
            let supplied = (first..r.end)
                .filter(|&b| picker.availability(geo.piece_of(b)) > 0)
                .count() as u32;
            remaining >= 16 && supplied * 2 >= remaining
        };
        let victims: Vec<u64> = self
            .origin
            .requests
            .iter()
            .filter(|r| supplied_most(r))
            .map(|r| r.id)
            .collect();
        self.cancel_origin_ranges(|r| victims.contains(&r.id));
    }

    fn issue_origin(&mut self, start: u32, end: u32, pass: OriginPass) -> u64 {
        let id = self.origin.next_id;
        self.origin.next_id += 1;
        for b in start..end {
            self.add_request(b);
            self.origin_requested.insert(b);
        }
        self.advance_in_order_hint();
        let from = self.geo.block_offset(start);
        let to = self.geo.block_offset(end - 1) + self.geo.block_len(end - 1) as u64;
        self.origin.requests.push(OriginRequest {
            id,
            start,
            end,
            next_offset: from,
            partial: bytes::BytesMut::new(),
            pass,
        });
        self.origin.rate.start(self.now);
        self.emit(Action::FetchOrigin {
            request: id,
            range: from..to,
        });
        id
    }

    /// Under a root only peers vouch for, fetch one random block from the origin
    /// whose leaf the root proves: it confirms the root or exposes it.
    fn maybe_sample_root(&mut self) {
        if self.roots.trust() != Some(RootTrust::Candidate) || self.origin.sample.is_some() {
            return;
        }
        let n = self.geo.num_blocks();
        let start = self.rng.below(n);
        let found = (0..n).map(|k| (start + k) % n).find(|&b| {
            self.leaves.is_proven(b) && !self.have.contains(b) && self.requests[b as usize] == 0
        });
        if let Some(b) = found {
            let id = self.issue_origin(b, b + 1, OriginPass::Any);
            self.origin.sample = Some(id);
        }
    }

    pub(super) fn on_origin_data(&mut self, id: u64, offset: u64, data: Bytes) {
        let now = self.now;
        let geo = self.geo;
        let Some(req) = self.origin.find(id) else {
            // Cancelled or finished request: late bytes are dropped.
            self.stats.bytes_wasted += data.len() as u64;
            return;
        };
        let end_offset = geo.block_offset(req.end - 1) + geo.block_len(req.end - 1) as u64;
        if offset != req.next_offset || offset + data.len() as u64 > end_offset {
            self.stats.bytes_wasted += data.len() as u64;
            self.emit(Action::CancelOrigin { request: id });
            self.on_origin_error(
                id,
                OriginError::Retryable(format!("origin bytes out of place at offset {offset}")),
            );
            return;
        }
        let received = data.len() as u64;
        let mut data = data;
        let mut done = Vec::new();
        // Complete a block begun by an earlier chunk; whole blocks inside this chunk
        // are sliced out of it without a copy; a tail is kept for the next chunk.
        let mut at = offset - req.partial.len() as u64;
        if !req.partial.is_empty() {
            let block = (at / BLOCK_SIZE as u64) as u32;
            let need = geo.block_len(block) as usize - req.partial.len();
            let take = need.min(data.len());
            req.partial.extend_from_slice(&data[..take]);
            data = data.slice(take..);
            if take == need {
                done.push((block, req.partial.split().freeze()));
                at += geo.block_len(block) as u64;
            }
        }
        while !data.is_empty() {
            let block = (at / BLOCK_SIZE as u64) as u32;
            let len = geo.block_len(block) as usize;
            if data.len() < len {
                req.partial.extend_from_slice(&data);
                break;
            }
            done.push((block, data.split_to(len)));
            at += len as u64;
        }
        req.next_offset += received;
        let finished = req.next_offset == end_offset;
        if !done.is_empty() {
            self.origin.failures_in_row = 0;
        }
        self.origin.rate.record(now, received);
        self.origin.peak_rate = self.origin.peak_rate.max(self.origin.rate.rate(now));
        self.download_bucket.charge(now, received);
        if finished {
            self.origin.remove(id);
            self.origin.failures_in_row = 0;
            self.origin.idle = false;
        }
        for (block, bytes) in done {
            self.origin_requested.remove(block);
            // Held first, then released (see `on_block`): no rescan per block.
            self.accept_origin_block(block, bytes);
            self.release_request(block);
            if self.state == EngineState::Failed {
                return;
            }
        }
    }

    fn accept_origin_block(&mut self, block: u32, data: Bytes) {
        if self.have.contains(block) || !self.downloading() {
            self.stats.bytes_wasted += data.len() as u64;
            return;
        }
        if self.cfg.lazy_leaves && self.peers.is_empty() && !self.leaves.is_proven(block) {
            self.stats.bytes_from_origin += data.len() as u64;
            self.accept_block(block, None, data, true);
            return;
        }
        let leaf = hash_block(&data);
        if self.leaves.is_proven(block) {
            if self.leaves.leaf(block) != leaf {
                self.origin_contradicts_root();
                if !self.downloading() || self.leaves.is_proven(block) {
                    self.stats.bytes_wasted += data.len() as u64;
                    return;
                }
            } else if self.roots.trust() == Some(RootTrust::Candidate) {
                self.roots.confirm();
            }
        }
        self.stats.bytes_from_origin += data.len() as u64;
        self.accept_block(block, Some(leaf), data, true);
    }

    /// Returns the blocks of a request that never arrived to the pool.
    fn release_origin_request(&mut self, req: OriginRequest) {
        self.stats.bytes_wasted += req.partial.len() as u64;
        for b in req.first_incomplete().max(req.start)..req.end {
            self.origin_requested.remove(b);
            self.release_request(b);
        }
        self.origin.idle = false;
    }

    pub(super) fn on_origin_end(&mut self, id: u64) {
        if let Some(req) = self.origin.remove(id) {
            // Ended before the range was complete: a short read.
            self.release_origin_request(req);
            self.origin.backoff(self.now);
        }
    }

    pub(super) fn on_origin_error(&mut self, id: u64, error: OriginError) {
        if let Some(req) = self.origin.remove(id) {
            self.release_origin_request(req);
        }
        match error {
            OriginError::Retryable(_) => self.origin.backoff(self.now),
            OriginError::Fatal(why) => {
                self.origin.enabled = false;
                for r in std::mem::take(&mut self.origin.requests) {
                    self.emit(Action::CancelOrigin { request: r.id });
                    self.release_origin_request(r);
                }
                if self.peers.is_empty() {
                    self.fail(FailReason::OriginFailed(why));
                }
            }
            OriginError::ContentChanged => self.fail(FailReason::ContentChanged),
        }
    }
}

/// Rendezvous weight of `node` for origin chunk `chunk` (splitmix64 of both).
fn rendezvous(node: u64, chunk: u32) -> u64 {
    let mut z = node ^ (chunk as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

//! Peer lifecycle and incoming peer messages.

use bytes::Bytes;

use crate::content::{Hash32, hash_block};
use crate::wire::{GoodbyeReason, Handshake, Message, RejectReason};

use super::bitset::BitSet;
use super::peer::Peer;
use super::{Action, DisconnectReason, Engine, EngineState, PeerId, root::RootTrust};

impl Engine {
    pub(super) fn on_peer_connected(&mut self, id: PeerId) {
        if self.banned.contains(&id) || self.peers.contains_key(&id) {
            self.emit(Action::Disconnect {
                peer: id,
                reason: DisconnectReason::Refused,
            });
            return;
        }
        let Some(sha256) = self.sha256 else {
            // Nothing names the content yet: no peer can share it.
            self.emit(Action::Disconnect {
                peer: id,
                reason: DisconnectReason::WrongContent,
            });
            return;
        };
        // From now on every block's leaf may be asked for.
        self.cfg.lazy_leaves = false;
        let salt = self.rng.next();
        let peer = Peer::new(id, self.geo.num_pieces(), self.now, salt);
        self.peers.insert(id, peer);
        self.stats.peers_connected = self.peers.len() as u32;
        let hs = Handshake {
            node_id: self.node_id,
            info_hash: sha256.info_hash(),
            size: self.geo.size(),
            // Only a root we have reason to believe is passed on, so an unchecked
            // candidate cannot spread through downloaders.
            root: self
                .roots
                .deliverable()
                .then(|| self.roots.current())
                .flatten(),
            serves_hashes: self.leaves.tree().is_some(),
            bitfield: self.pieces_announced.to_bytes(),
        };
        self.send(id, &Message::Handshake(hs));
    }

    pub(super) fn on_peer_gone(&mut self, id: PeerId) {
        self.drop_peer(id);
    }

    /// Forgets a peer: its requests go back to the pool, its pieces leave the counts.
    pub(super) fn drop_peer(&mut self, id: PeerId) {
        let Some(mut peer) = self.peers.remove(&id) else {
            return;
        };
        self.uncount(&mut peer);
        for f in std::mem::take(&mut peer.inflight) {
            self.release_request(f.block);
        }
        if let Some((chunk, _)) = peer.hash_request {
            self.hash_requests.remove(&chunk);
        }
        for waiters in self.reads.values_mut() {
            waiters.retain(|p| *p != id);
        }
        self.roots.forget_peer(id);
        self.stats.peers_connected = self.peers.len() as u32;
        self.origin.idle = false;
        self.rebalance_roots();
    }

    pub(super) fn disconnect(&mut self, id: PeerId, reason: DisconnectReason) {
        if !self.peers.contains_key(&id) {
            return;
        }
        let goodbye = match &reason {
            DisconnectReason::Banned(_) => Some(GoodbyeReason::Banned),
            DisconnectReason::ProtocolError(_) => Some(GoodbyeReason::ProtocolError),
            DisconnectReason::WrongContent => Some(GoodbyeReason::WrongContent),
            DisconnectReason::Idle => Some(GoodbyeReason::Normal),
            _ => None,
        };
        if let Some(reason) = goodbye {
            self.send(id, &Message::Goodbye { reason });
        }
        self.drop_peer(id);
        self.emit(Action::Disconnect { peer: id, reason });
    }

    pub(super) fn ban(&mut self, id: PeerId, why: String) {
        if self.banned.insert(id) {
            self.stats.peers_banned += 1;
        }
        self.disconnect(id, DisconnectReason::Banned(why));
    }

    /// Adds a peer's pieces to availability if it holds content under our root.
    pub(super) fn count(&mut self, id: PeerId) {
        let current = self.roots.current();
        let believed = self.roots.deliverable();
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        // A peer that names no root can still serve blocks: each is checked against
        // our proven leaves. One that names another root is on another tree.
        if peer.counted || !peer.handshaken || current.is_none() {
            return;
        }
        // Under a mere candidate only peers that name it are used: if one of them
        // sends a block that fails, it lied about its own root and is banned. A peer
        // that names no root is used once the root is confirmed or trusted.
        let usable = match peer.root {
            Some(r) => Some(r) == current,
            None => believed,
        };
        if !usable {
            return;
        }
        peer.counted = true;
        for piece in peer.pieces.iter() {
            self.picker.increment(piece);
        }
    }

    fn uncount(&mut self, peer: &mut Peer) {
        if peer.counted {
            peer.counted = false;
            for piece in peer.pieces.iter() {
                self.picker.decrement(piece);
            }
        }
    }

    pub(super) fn on_peer_message(&mut self, id: PeerId, data: Bytes) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        peer.last_recv = self.now;
        let handshaken = peer.handshaken;
        let msg = match Message::decode(&data) {
            Ok(m) => m,
            Err(crate::wire::WireError::UnsupportedVersion(_)) => {
                self.send(
                    id,
                    &Message::Goodbye {
                        reason: GoodbyeReason::UnsupportedVersion,
                    },
                );
                self.drop_peer(id);
                self.emit(Action::Disconnect {
                    peer: id,
                    reason: DisconnectReason::ProtocolError("unsupported protocol version".into()),
                });
                return;
            }
            Err(e) => {
                self.disconnect(id, DisconnectReason::ProtocolError(e.to_string()));
                return;
            }
        };
        match (handshaken, msg) {
            (false, Message::Handshake(hs)) => self.on_handshake(id, hs),
            (false, other) => self.disconnect(
                id,
                DisconnectReason::ProtocolError(format!("{} before handshake", kind(&other))),
            ),
            (true, Message::Handshake(_)) => self.disconnect(
                id,
                DisconnectReason::ProtocolError("second handshake".into()),
            ),
            (true, Message::Have { piece }) => self.on_have(id, piece),
            (true, Message::Request { block }) => self.on_request(id, block),
            (true, Message::Block { block, data }) => self.on_block(id, block, data),
            (true, Message::Reject { block, reason }) => self.on_reject(id, block, reason),
            (true, Message::Cancel { block }) => self.on_cancel(id, block),
            (true, Message::HashRequest { index, count }) => self.on_hash_request(id, index, count),
            (
                true,
                Message::Hashes {
                    index,
                    count,
                    hashes,
                    uncles,
                },
            ) => self.on_hashes(id, index, count, hashes, uncles),
            (true, Message::HashReject { index, count }) => self.on_hash_reject(id, index, count),
            (true, Message::KeepAlive) => {}
            (
                true,
                Message::Root {
                    root,
                    serves_hashes,
                },
            ) => self.on_root_message(id, root, serves_hashes),
            (true, Message::Goodbye { .. }) => self.disconnect(id, DisconnectReason::Goodbye),
        }
    }

    fn on_handshake(&mut self, id: PeerId, hs: Handshake) {
        if hs.node_id == self.node_id {
            self.disconnect(id, DisconnectReason::Refused);
            return;
        }
        if Some(hs.info_hash) != self.info_hash() || hs.size != self.geo.size() {
            self.disconnect(id, DisconnectReason::WrongContent);
            return;
        }
        let Some(pieces) = BitSet::from_bytes(&hs.bitfield, self.geo.num_pieces()) else {
            self.disconnect(
                id,
                DisconnectReason::ProtocolError("bitfield of the wrong length".into()),
            );
            return;
        };
        if let Some(root) = hs.root {
            // A complete peer holding a known-wrong root is lying, not fooled: a fooled
            // downloader never completes, its SHA-256 check fails.
            let complete = pieces.is_full();
            let contradicts_trusted = self.roots.trust() == Some(RootTrust::Trusted)
                && self.roots.current() != Some(root);
            if complete && (self.roots.is_bad(&root) || contradicts_trusted) {
                self.ban(id, "serves content under a root proven wrong".into());
                return;
            }
        }
        if let Some(peer) = self.peers.get_mut(&id) {
            peer.handshaken = true;
            peer.node_id = hs.node_id;
            peer.root = hs.root;
            peer.serves_hashes = hs.serves_hashes;
            peer.pieces = pieces;
        }
        if let Some(root) = hs.root
            && self.roots.vote(id, root)
        {
            self.on_root_adopted();
        }
        self.count(id);
        self.rebalance_roots();
        self.origin.idle = false;
    }

    /// A peer names the root it now holds the content under.
    fn on_root_message(&mut self, id: PeerId, root: Hash32, serves_hashes: bool) {
        let complete = self.peers.get(&id).is_some_and(|p| p.pieces.is_full());
        let contradicts_trusted =
            self.roots.trust() == Some(RootTrust::Trusted) && self.roots.current() != Some(root);
        if complete && (self.roots.is_bad(&root) || contradicts_trusted) {
            self.ban(id, "serves content under a root proven wrong".into());
            return;
        }
        let Some(mut peer) = self.peers.remove(&id) else {
            return;
        };
        // Recount under the new root: the peer may move onto, or off, our tree.
        self.uncount(&mut peer);
        peer.root = Some(root);
        peer.serves_hashes = serves_hashes;
        // It may have refused proofs before it held the whole tree.
        peer.hashes_refused = false;
        self.peers.insert(id, peer);
        if self.roots.vote(id, root) {
            self.on_root_adopted();
        }
        self.count(id);
        self.rebalance_roots();
        self.origin.idle = false;
    }

    /// Moves to a better-supported candidate root if the current one is unchecked and
    /// outvoted, discarding what came from peers under the old one (it was checked
    /// only against that root). Nobody is banned: no root has been proven wrong.
    pub(super) fn rebalance_roots(&mut self) {
        if self.roots.rebalance() {
            self.replace_root_state();
        }
    }

    /// Tells peers the root once we have reason to believe it (completion, or an
    /// origin confirmation), if our handshake could not.
    pub(super) fn announce_root(&mut self) {
        let believed = self
            .roots
            .deliverable()
            .then(|| self.roots.current())
            .flatten();
        let serves_hashes = self.leaves.tree().is_some();
        if believed.is_none() || (believed, serves_hashes) == self.announced_root {
            return;
        }
        if believed != self.announced_root.0 {
            // Peers that name no root become usable now that the root is believed,
            // and what we got from peers under it becomes ours to serve.
            let ids: Vec<PeerId> = self.peers.keys().copied().collect();
            for id in ids {
                self.count(id);
            }
            for piece in 0..self.geo.num_pieces() {
                self.announce_piece(piece);
            }
        }
        self.announced_root = (believed, serves_hashes);
        if let Some(root) = believed {
            self.broadcast(&Message::Root {
                root,
                serves_hashes,
            });
        }
    }

    fn on_have(&mut self, id: PeerId, piece: u32) {
        if piece >= self.geo.num_pieces() {
            self.disconnect(
                id,
                DisconnectReason::ProtocolError("have past the end".into()),
            );
            return;
        }
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if peer.pieces.insert(piece) {
            if peer.pieces.is_full() {
                // Complete now, so it holds every leaf and can prove any of them.
                peer.hashes_refused = false;
            }
            if peer.counted {
                self.picker.increment(piece);
                self.origin.idle = false;
            }
        }
    }

    fn on_block(&mut self, id: PeerId, block: u32, data: Bytes) {
        if block >= self.geo.num_blocks() || data.len() != self.geo.block_len(block) as usize {
            self.disconnect(
                id,
                DisconnectReason::ProtocolError("block of wrong size".into()),
            );
            return;
        }
        let now = self.now;
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let asked = peer.take_inflight(block);
        peer.bytes_received += data.len() as u64;
        peer.rate.record(now, data.len() as u64);
        peer.delivered_rate = peer.rate.rate(now);
        peer.timeouts_in_row = 0;
        peer.snubbed_until = None;
        let max_window = self.cfg.max_window;
        peer.resize_window(now, self.cfg.pipeline_target, max_window);
        if self.have.contains(block) || !self.downloading() || !self.leaves.is_proven(block) {
            // A late duplicate, or a block we never asked for and cannot check.
            if asked {
                self.release_request(block);
            }
            self.stats.bytes_wasted += data.len() as u64;
            return;
        }
        let leaf = hash_block(&data);
        if leaf != self.leaves.leaf(block) {
            if asked {
                self.release_request(block);
            }
            self.stats.bad_blocks += 1;
            self.stats.bytes_wasted += data.len() as u64;
            self.ban(id, format!("block {block} failed its Merkle check"));
            return;
        }
        self.stats.bytes_from_peers += data.len() as u64;
        self.first_peer_block.get_or_insert(self.now);
        self.from_peer.insert(block);
        self.accept_block(block, Some(leaf), data, asked);
        // Released after the block is held: releasing a missing block sends the
        // in-order scan back to it, and rescanning the window for every arriving
        // block would cost quadratic time.
        if asked {
            self.release_request(block);
        }
    }

    fn on_reject(&mut self, id: PeerId, block: u32, reason: RejectReason) {
        let now = self.now;
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if !peer.take_inflight(block) {
            return;
        }
        match reason {
            RejectReason::NotHeld => {
                // Its bitfield was wrong about this piece; stop counting it.
                let piece = self.geo.piece_of(block);
                if peer.pieces.remove(piece) && peer.counted {
                    self.picker.decrement(piece);
                }
            }
            _ => {
                peer.window = (peer.window / 2).max(super::peer::MIN_WINDOW);
                peer.snubbed_until = Some(now + super::SNUB_TIME / 5);
            }
        }
        self.release_request(block);
    }

    fn on_hashes(
        &mut self,
        id: PeerId,
        index: u32,
        count: u32,
        hashes: Vec<Hash32>,
        uncles: Vec<Hash32>,
    ) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let chunk_len = self.leaves.chunk_len();
        let expected = peer.hash_request.map(|(c, _)| c * chunk_len);
        if expected != Some(index) || count != chunk_len {
            // Unsolicited or stale; harmless, ignore.
            return;
        }
        peer.hash_request = None;
        self.hash_requests.remove(&(index / chunk_len));
        let Some(root) = self.roots.current() else {
            return;
        };
        if peer.root != Some(root) {
            return;
        }
        match self
            .leaves
            .accept_range(&root, index, count, &hashes, &uncles)
        {
            Err(e) => self.ban(id, format!("hash proof failed: {e}")),
            Ok(conflicts) if !conflicts.is_empty() => {
                // Our origin bytes disagree with leaves proven under this root.
                self.origin_contradicts_root();
            }
            Ok(_) => {
                let origin_agrees = (index..index + hashes.len() as u32)
                    .any(|b| self.leaves.is_computed(b) && !self.from_peer.contains(b));
                if origin_agrees {
                    self.roots.confirm();
                }
                self.on_leaves_proven(index, index + hashes.len() as u32);
            }
        }
    }

    fn on_hash_reject(&mut self, id: PeerId, index: u32, count: u32) {
        let chunk_len = self.leaves.chunk_len();
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if peer.hash_request.map(|(c, _)| c * chunk_len) == Some(index) && count == chunk_len {
            peer.hash_request = None;
            peer.hashes_refused = true;
            self.hash_requests.remove(&(index / chunk_len));
        }
    }

    /// A new current root: peers under it count, and proofs can be requested.
    pub(super) fn on_root_adopted(&mut self) {
        let ids: Vec<PeerId> = self.peers.keys().copied().collect();
        for id in ids {
            self.count(id);
        }
        self.origin.idle = false;
    }

    /// Origin bytes contradict the current root. A trusted root means the origin is
    /// serving other content; a peer-supplied root is simply wrong.
    pub(super) fn origin_contradicts_root(&mut self) {
        if self.roots.trust() == Some(RootTrust::Trusted) {
            self.origin.enabled = false;
            self.purge_origin_blocks();
            if self.peers.is_empty() {
                self.fail(super::FailReason::OriginContentMismatch);
            }
            return;
        }
        self.reject_root();
    }

    /// Drops the current root: bans who vouched for it, forgets its proofs and every
    /// block that came from peers, and moves to the next candidate.
    pub(super) fn reject_root(&mut self) {
        self.stats.roots_rejected += 1;
        let vouchers = self.roots.reject_current();
        self.replace_root_state();
        // A complete peer under a wrong root lies: an honest one checked the SHA-256.
        // A partial one may just have been fooled as we were; it is no longer used
        // (its root is not ours) and may come back with the right one.
        for id in vouchers {
            if self.peers.get(&id).is_some_and(|p| p.is_complete()) {
                self.ban(id, "vouched for a root proven wrong".into());
            }
        }
    }

    /// The current root changed: everything learnt under the old one from peers (its
    /// proofs, the blocks they sent, who counts) is dropped and rebuilt.
    fn replace_root_state(&mut self) {
        let delivered_from_peers = (0..self.deliver_cursor).any(|b| self.from_peer.contains(b));
        let ids: Vec<PeerId> = self.peers.keys().copied().collect();
        for id in ids {
            let Some(mut p) = self.peers.remove(&id) else {
                continue;
            };
            self.uncount(&mut p);
            for f in std::mem::take(&mut p.inflight) {
                self.release_request(f.block);
            }
            p.in_order_inflight = 0;
            p.hash_request = None;
            p.hashes_refused = false;
            self.peers.insert(id, p);
        }
        self.hash_requests.clear();
        self.leaves.forget_proofs();
        let peer_blocks: Vec<u32> = self.from_peer.iter().collect();
        for b in peer_blocks {
            self.unhave(b);
        }
        if delivered_from_peers {
            self.reset_delivery();
        }
        for p in 0..self.geo.num_pieces() {
            self.refresh_piece(p);
        }
        self.on_root_adopted();
        self.advance_cursors();
        if self.state == EngineState::Verifying {
            self.state = EngineState::Downloading;
        }
    }
}

fn kind(m: &Message) -> &'static str {
    match m {
        Message::Handshake(_) => "handshake",
        Message::Have { .. } => "have",
        Message::Request { .. } => "request",
        Message::Block { .. } => "block",
        Message::Reject { .. } => "reject",
        Message::Cancel { .. } => "cancel",
        Message::HashRequest { .. } => "hash request",
        Message::Hashes { .. } => "hashes",
        Message::HashReject { .. } => "hash reject",
        Message::KeepAlive => "keep-alive",
        Message::Goodbye { .. } => "goodbye",
        Message::Root { .. } => "root",
    }
}

//! The serving side: block requests from peers, read back from storage and verified
//! before they leave, paced by the upload budget; and hash requests with proofs.

use bytes::Bytes;

use crate::content::hash_block;
use crate::wire::{Message, RejectReason};

use super::Action;
use super::{DisconnectReason, Engine, EngineState, MAX_PARALLEL_READS, MAX_UPLOAD_QUEUE, PeerId};

impl Engine {
    pub(super) fn on_request(&mut self, id: PeerId, block: u32) {
        if block >= self.geo.num_blocks() {
            self.disconnect(
                id,
                DisconnectReason::ProtocolError("request past the end".into()),
            );
            return;
        }
        let reject = if !self.cfg.upload_enabled {
            Some(RejectReason::UploadDisabled)
        } else if !self.servable(block) {
            Some(RejectReason::NotHeld)
        } else {
            None
        };
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let reject = reject.or_else(|| {
            (peer.upload_queue.len() >= MAX_UPLOAD_QUEUE).then_some(RejectReason::Busy)
        });
        match reject {
            Some(reason) => self.send(id, &Message::Reject { block, reason }),
            None => peer.upload_queue.push_back(block),
        }
    }

    pub(super) fn on_cancel(&mut self, id: PeerId, block: u32) {
        if let Some(peer) = self.peers.get_mut(&id)
            && let Some(i) = peer.upload_queue.iter().position(|b| *b == block)
        {
            peer.upload_queue.remove(i);
        }
    }

    /// Starts reads for queued requests, round-robin over peers, within the budget.
    pub(super) fn pump_uploads(&mut self) {
        let now = self.now;
        while self.reads.len() < MAX_PARALLEL_READS {
            if !self.upload_bucket.in_credit(now) {
                return;
            }
            let Some(id) = self.next_uploader() else {
                return;
            };
            let Some(block) = self
                .peers
                .get_mut(&id)
                .and_then(|p| p.upload_queue.pop_front())
            else {
                continue;
            };
            if !self.servable(block) {
                self.send(
                    id,
                    &Message::Reject {
                        block,
                        reason: RejectReason::NotHeld,
                    },
                );
                continue;
            }
            let len = self.geo.block_len(block);
            self.upload_bucket.charge(now, len as u64);
            match self.reads.get_mut(&block) {
                Some(waiters) => waiters.push(id),
                None => {
                    self.reads.insert(block, vec![id]);
                    self.emit(Action::ReadBlock {
                        block,
                        offset: self.geo.block_offset(block),
                        len,
                    });
                }
            }
        }
    }

    /// The next peer after the last one served that has a queued request.
    fn next_uploader(&mut self) -> Option<PeerId> {
        let after = PeerId(self.upload_turn);
        let found = self
            .peers
            .range(after..)
            .chain(self.peers.range(..after))
            .find(|(_, p)| !p.upload_queue.is_empty())
            .map(|(id, _)| *id)?;
        self.upload_turn = found.0.wrapping_add(1);
        Some(found)
    }

    pub(super) fn on_block_read(&mut self, block: u32, data: Bytes) {
        let Some(waiters) = self.reads.remove(&block) else {
            return;
        };
        let good = block < self.geo.num_blocks()
            && data.len() == self.geo.block_len(block) as usize
            && self.have.contains(block)
            && hash_block(&data) == self.leaves.leaf(block);
        if !good {
            // The stored bytes changed under us: never serve them.
            self.mark_unservable(block);
            for id in waiters {
                self.send(
                    id,
                    &Message::Reject {
                        block,
                        reason: RejectReason::NotHeld,
                    },
                );
            }
            return;
        }
        for id in waiters {
            if !self.peers.contains_key(&id) {
                continue;
            }
            self.stats.bytes_uploaded += data.len() as u64;
            self.send(
                id,
                &Message::Block {
                    block,
                    data: data.clone(),
                },
            );
        }
    }

    pub(super) fn on_block_read_failed(&mut self, block: u32) {
        let Some(waiters) = self.reads.remove(&block) else {
            return;
        };
        for id in waiters {
            self.send(
                id,
                &Message::Reject {
                    block,
                    reason: RejectReason::Busy,
                },
            );
        }
    }

    fn mark_unservable(&mut self, block: u32) {
        if block >= self.geo.num_blocks() {
            return;
        }
        if self.state == EngineState::Seeding {
            self.unservable.insert(block);
        } else {
            // A downloader fetches it again.
            self.unhave(block);
        }
    }

    pub(super) fn on_hash_request(&mut self, id: PeerId, index: u32, count: u32) {
        let reply = match self.leaves.tree().map(|t| t.proof(index, count)) {
            Some(Ok((hashes, uncles))) => Message::Hashes {
                index,
                count,
                hashes,
                uncles,
            },
            _ => Message::HashReject { index, count },
        };
        self.send(id, &reply);
    }
}

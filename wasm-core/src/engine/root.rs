//! Which BEP 52 root the engine believes, and how sure it is.
//!
//! A root from trusted metadata is final. A root from peers is a *candidate*: the first
//! one seen is used at once (so transfer starts without waiting), each further peer
//! that names it adds a vote, and it becomes *confirmed* when a block fetched from the
//! origin matches its proven leaf. A candidate that contradicts the origin or the final
//! SHA-256 is bad forever; the next candidate with the most votes takes its place.

use std::collections::HashMap;

use crate::content::Hash32;

use super::PeerId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootTrust {
    /// From metadata the user trusts, or our own verified content.
    Trusted,
    /// A peer's root that an origin block agreed with.
    Confirmed,
    /// A peer's root, not yet checked.
    Candidate,
}

#[derive(Debug, Clone, Default)]
pub struct RootBook {
    current: Option<(Hash32, RootTrust)>,
    votes: HashMap<Hash32, Vec<PeerId>>,
    bad: Vec<Hash32>,
}

impl RootBook {
    pub fn trusted(root: Hash32) -> Self {
        RootBook {
            current: Some((root, RootTrust::Trusted)),
            ..Default::default()
        }
    }

    pub fn current(&self) -> Option<Hash32> {
        self.current.map(|(r, _)| r)
    }

    pub fn trust(&self) -> Option<RootTrust> {
        self.current.map(|(_, t)| t)
    }

    /// Bytes verified under the current root may be shown to the user before the
    /// final SHA-256 check.
    pub fn deliverable(&self) -> bool {
        matches!(
            self.trust(),
            Some(RootTrust::Trusted | RootTrust::Confirmed)
        )
    }

    pub fn is_bad(&self, root: &Hash32) -> bool {
        self.bad.contains(root)
    }

    /// A peer named `root` in its handshake. Returns true if this made it current.
    pub fn vote(&mut self, peer: PeerId, root: Hash32) -> bool {
        if self.is_bad(&root) {
            return false;
        }
        let voters = self.votes.entry(root).or_default();
        if !voters.contains(&peer) {
            voters.push(peer);
        }
        if self.current.is_none() {
            self.current = Some((root, RootTrust::Candidate));
            return true;
        }
        false
    }

    pub fn confirm(&mut self) {
        if let Some((root, RootTrust::Candidate)) = self.current {
            self.current = Some((root, RootTrust::Confirmed));
        }
    }

    /// Promotes the current root to trusted: the content matched its SHA-256.
    pub fn settle(&mut self, root: Hash32) {
        self.current = Some((root, RootTrust::Trusted));
    }

    /// The current candidate is wrong. Returns the peers who vouched for it and moves
    /// to the best remaining candidate, if any.
    pub fn reject_current(&mut self) -> Vec<PeerId> {
        let Some((root, trust)) = self.current.take() else {
            return Vec::new();
        };
        if trust == RootTrust::Trusted {
            // Never demote a trusted root; the caller handles origin disagreement.
            self.current = Some((root, trust));
            return Vec::new();
        }
        self.bad.push(root);
        let voters = self.votes.remove(&root).unwrap_or_default();
        self.current = self
            .votes
            .iter()
            .max_by_key(|(r, v)| (v.len(), **r))
            .map(|(r, _)| (*r, RootTrust::Candidate));
        voters
    }

    /// An unchecked candidate gives way to another candidate that more connected peers
    /// name (or to any, once nobody names it). Returns true if the current root
    /// changed. Checked or trusted roots never move this way.
    pub fn rebalance(&mut self) -> bool {
        let Some((root, RootTrust::Candidate)) = self.current else {
            return false;
        };
        let mine = self.votes.get(&root).map_or(0, Vec::len);
        let best = self
            .votes
            .iter()
            .filter(|(r, v)| **r != root && !v.is_empty())
            .max_by_key(|(r, v)| (v.len(), **r))
            .map(|(r, v)| (*r, v.len()));
        match best {
            Some((other, n)) if n > mine => {
                self.current = Some((other, RootTrust::Candidate));
                true
            }
            _ => false,
        }
    }

    pub fn forget_peer(&mut self, peer: PeerId) {
        for voters in self.votes.values_mut() {
            voters.retain(|p| *p != peer);
        }
    }
}

//! Connections to other peers, from the first offer or answer until they close: who
//! is welcome, how many at once, bans, and which of two crossing connections to the
//! same peer both sides keep.

use std::collections::{HashMap, HashSet};

use crate::engine::Time;
use crate::tracker_protocol::Id20;

use super::{ATTEMPT_TTL, ConnId, MAX_PEERS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Offer answered or answer on the way: not open yet, since this time.
    Attempting {
        since: Time,
    },
    Open,
}

#[derive(Debug)]
struct Conn {
    remote: Id20,
    /// It came from our offer (else we answered theirs).
    ours: bool,
    state: State,
}

/// What to do with a connection that just opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// It becomes a peer (and `replaces`, if any, is closed).
    Keep { replaces: Option<ConnId> },
    /// Close it: unknown, banned, or the crossing twin both sides drop.
    Close,
}

#[derive(Debug, Default)]
pub(super) struct Connections {
    conns: HashMap<ConnId, Conn>,
    banned: HashSet<Id20>,
}

impl Connections {
    /// Whether a connection to `remote` may be tried now, through our offer
    /// (`ours`) or by answering theirs: not ourselves, not banned, not connected
    /// already, no other attempt of the same kind to it, and room left. Two peers
    /// that offer to each other at once get one attempt of each kind, and
    /// [`Connections::opened`] keeps the same one on both sides.
    pub fn welcome(&self, me: Id20, remote: Id20, ours: bool) -> bool {
        let busy = self
            .conns
            .values()
            .any(|c| c.remote == remote && (c.state == State::Open || c.ours == ours));
        remote != me && !self.banned.contains(&remote) && !busy && self.room() > 0
    }

    /// Connections that may still be started.
    pub fn room(&self) -> usize {
        MAX_PEERS.saturating_sub(self.conns.len())
    }

    pub fn open_count(&self) -> usize {
        self.conns
            .values()
            .filter(|c| c.state == State::Open)
            .count()
    }

    pub fn attempt(&mut self, conn: ConnId, remote: Id20, ours: bool, now: Time) {
        self.conns.insert(
            conn,
            Conn {
                remote,
                ours,
                state: State::Attempting { since: now },
            },
        );
    }

    /// The remote end of a connection, if it is known.
    pub fn remote(&self, conn: ConnId) -> Option<Id20> {
        self.conns.get(&conn).map(|c| c.remote)
    }

    /// A connection opened. Two crossing attempts that both open leave both sides
    /// with the channel offered by the lower peer id ([`keeps_own_offer`]); deciding
    /// by which opened first could close both.
    pub fn opened(&mut self, me: Id20, conn: ConnId) -> Opened {
        let Some(c) = self.conns.get(&conn) else {
            return Opened::Close;
        };
        let (remote, ours) = (c.remote, c.ours);
        if self.banned.contains(&remote) {
            self.conns.remove(&conn);
            return Opened::Close;
        }
        let existing = self
            .conns
            .iter()
            .find(|(id, c)| **id != conn && c.remote == remote && c.state == State::Open)
            .map(|(id, c)| (*id, c.ours));
        let keep_ours = keeps_own_offer(me, remote);
        let replaces = match existing {
            None => None,
            Some((old, old_ours)) if ours == keep_ours && old_ours != keep_ours => {
                self.conns.remove(&old);
                Some(old)
            }
            Some(_) => {
                self.conns.remove(&conn);
                return Opened::Close;
            }
        };
        if let Some(c) = self.conns.get_mut(&conn) {
            c.state = State::Open;
        }
        Opened::Keep { replaces }
    }

    /// A connection ended (or never opened); whether it was one still attempting.
    pub fn ended(&mut self, conn: ConnId) -> Option<bool> {
        self.conns
            .remove(&conn)
            .map(|c| matches!(c.state, State::Attempting { .. }))
    }

    /// Bans `remote` for this content; its connections, to be closed.
    pub fn ban(&mut self, remote: Id20) -> Vec<ConnId> {
        self.banned.insert(remote);
        let gone: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.remote == remote)
            .map(|(id, _)| *id)
            .collect();
        for id in &gone {
            self.conns.remove(id);
        }
        gone
    }

    /// Attempts that have not opened within [`ATTEMPT_TTL`]: given up.
    pub fn expire(&mut self, now: Time) -> Vec<ConnId> {
        let gone: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                matches!(c.state, State::Attempting { since } if now.since(since) >= ATTEMPT_TTL)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &gone {
            self.conns.remove(id);
        }
        gone
    }

    pub fn drain(&mut self) -> Vec<ConnId> {
        self.conns.drain().map(|(id, _)| id).collect()
    }

    pub fn next_deadline(&self) -> Option<Time> {
        self.conns
            .values()
            .filter_map(|c| match c.state {
                State::Attempting { since } => Some(since + ATTEMPT_TTL),
                State::Open => None,
            })
            .min()
    }
}

/// Which of two channels to the same peer both sides keep, when each answered the
/// other's offer at the same moment: the one offered by the lower peer id.
pub fn keeps_own_offer(me: Id20, remote: Id20) -> bool {
    me < remote
}

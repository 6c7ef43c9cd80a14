//! One tracker as membership sees it: whether its WebSocket is down, connecting or
//! open, when to try again (backoff), when to announce next (its interval), and what
//! it has been told on this connection.

use std::time::Duration;

use crate::engine::Time;

use super::{
    CONNECT_TIMEOUT, DEFAULT_INTERVAL, FIRST_BACKOFF, MAX_BACKOFF, MIN_INTERVAL,
    OFFERS_PER_ANNOUNCE,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Link {
    /// No socket; connect again at this time.
    Down {
        retry_at: Time,
    },
    /// A socket was asked for at this time.
    Connecting {
        since: Time,
    },
    Open,
}

#[derive(Debug)]
pub(super) struct Tracker {
    pub url: String,
    pub link: Link,
    backoff: Duration,
    interval: Duration,
    /// When to announce next, while open.
    pub announce_at: Time,
    /// The last scheduled announce, and whether it was made alone (downloading
    /// with no peer), from which the next one is timed.
    last_announce: Option<(Time, bool)>,
    /// `started` was said on this connection.
    pub started: bool,
    /// `completed` was said (or `started` with nothing left).
    pub said_completed: bool,
    /// Offers this tracker's last announce lacked, to follow as soon as they are made.
    pub wants: usize,
    /// Other peers in the swarm, as the tracker last counted them.
    pub others: Option<u64>,
}

impl Tracker {
    pub fn new(url: String, now: Time) -> Tracker {
        Tracker {
            url,
            link: Link::Down { retry_at: now },
            backoff: FIRST_BACKOFF,
            interval: DEFAULT_INTERVAL,
            announce_at: now,
            last_announce: None,
            started: false,
            said_completed: false,
            wants: 0,
            others: None,
        }
    }

    pub fn connecting(&mut self, now: Time) {
        self.link = Link::Connecting { since: now };
    }

    /// The socket opened: announce at once, from `started` again.
    pub fn opened(&mut self, now: Time) {
        self.link = Link::Open;
        self.backoff = FIRST_BACKOFF;
        self.announce_at = now;
        self.started = false;
        self.wants = 0;
    }

    /// The socket closed or never opened: try again after the backoff, which doubles.
    pub fn closed(&mut self, now: Time) {
        self.link = Link::Down {
            retry_at: now + self.backoff,
        };
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        self.wants = 0;
    }

    /// The tracker named its interval (obeyed down to [`MIN_INTERVAL`]); the next
    /// announce is timed from the last one.
    pub fn set_interval(&mut self, secs: u64) {
        self.interval = Duration::from_secs(secs).max(MIN_INTERVAL);
        if let Some((at, lonely)) = self.last_announce {
            self.announce_at = at + self.wait(lonely);
        }
    }

    /// An announce went out; `lonely`: downloading with no peer, so look again soon.
    pub fn announced(&mut self, now: Time, lonely: bool, lacking: usize) {
        self.started = true;
        self.last_announce = Some((now, lonely));
        self.announce_at = now + self.wait(lonely);
        self.wants = lacking.min(OFFERS_PER_ANNOUNCE);
    }

    fn wait(&self, lonely: bool) -> Duration {
        if lonely {
            super::LONELY_INTERVAL.min(self.interval)
        } else {
            self.interval
        }
    }

    /// Asks for an announce no later than `at`.
    pub fn announce_by(&mut self, at: Time) {
        self.announce_at = self.announce_at.min(at);
    }

    /// A connection attempt that has taken too long to open.
    pub fn connect_timed_out(&self, now: Time) -> bool {
        matches!(self.link, Link::Connecting { since } if now.since(since) >= CONNECT_TIMEOUT)
    }

    /// The next moment this tracker needs looking after.
    pub fn next_deadline(&self) -> Time {
        match self.link {
            Link::Down { retry_at } => retry_at,
            Link::Connecting { since } => since + CONNECT_TIMEOUT,
            Link::Open => self.announce_at,
        }
    }
}

//! One tracker as membership sees it: whether its WebSocket is down, connecting or
//! open, when to try again (backoff), when to announce next (its interval), and what
//! it has been told on this connection.

use std::time::Duration;

use crate::engine::Time;

use super::{
    CONNECT_TIMEOUT, DEFAULT_INTERVAL, FIRST_BACKOFF, HUNGRY_ANNOUNCES, HUNGRY_INTERVAL,
    LONELY_INTERVAL, MAX_BACKOFF, MIN_INTERVAL, OFFERS_PER_ANNOUNCE,
};

/// What times the next announce after one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Need {
    /// The tracker's interval.
    Interval,
    /// Downloading with no peer: [`LONELY_INTERVAL`].
    Lonely,
    /// Downloading with few peers in a larger swarm: [`HUNGRY_INTERVAL`], for at
    /// most [`HUNGRY_ANNOUNCES`] in a row (so a swarm whose offers go unanswered
    /// costs the tracker little).
    Hungry,
}

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
    /// The last scheduled announce, and what it was made for, from which the next
    /// one is timed.
    last_announce: Option<(Time, Need)>,
    /// Hungry announces in a row.
    hungry_streak: u32,
    /// `started` was said on this connection.
    pub started: bool,
    /// `completed` was said (or `started` with nothing left).
    pub said_completed: bool,
    /// Offers this tracker's last announce lacked, to follow as soon as they are made.
    pub wants: usize,
    /// Other peers in the swarm, as the tracker last counted them.
    pub others: Option<u64>,
    /// Other peers still downloading, as the tracker last counted them.
    pub leechers: Option<u64>,
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
            hungry_streak: 0,
            started: false,
            said_completed: false,
            wants: 0,
            others: None,
            leechers: None,
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
        if let Some((at, need)) = self.last_announce {
            self.announce_at = at + self.wait(need);
        }
    }

    /// An announce went out; `need` times the next.
    pub fn announced(&mut self, now: Time, need: Need, lacking: usize) {
        self.started = true;
        self.hungry_streak = match need {
            Need::Hungry => self.hungry_streak.saturating_add(1),
            _ => 0,
        };
        self.last_announce = Some((now, need));
        self.announce_at = now + self.wait(need);
        self.wants = lacking.min(OFFERS_PER_ANNOUNCE);
    }

    /// The swarm turned out larger than this peer's connections: the next announce
    /// comes as a hungry one would, unless one is due sooner.
    pub fn hungry(&mut self) {
        if let Some((at, Need::Interval | Need::Lonely)) = self.last_announce
            && self.hungry_streak == 0
        {
            self.last_announce = Some((at, Need::Hungry));
            self.hungry_streak = 1;
            self.announce_by(at + self.wait(Need::Hungry));
        }
    }

    fn wait(&self, need: Need) -> Duration {
        match need {
            Need::Interval => self.interval,
            Need::Lonely => LONELY_INTERVAL.min(self.interval),
            Need::Hungry if self.hungry_streak <= HUNGRY_ANNOUNCES => {
                HUNGRY_INTERVAL.min(self.interval)
            }
            Need::Hungry => self.interval,
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

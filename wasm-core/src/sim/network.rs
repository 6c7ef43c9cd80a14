//! The modelled network: an event queue over virtual time and FIFO links.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use bytes::Bytes;

use crate::engine::Time;
use crate::membership::ConnId;

/// Messages smaller than this skip the bandwidth queues (control traffic).
pub const CONTROL_SIZE: usize = 1024;

#[derive(Debug)]
pub enum SimEvent {
    /// A message reaches the receiver's downlink; `conn` is the receiver's end.
    ArriveDownlink {
        from: usize,
        to: usize,
        conn: ConnId,
        data: Bytes,
    },
    /// A message is handed to the receiving engine.
    Deliver {
        from: usize,
        to: usize,
        conn: ConnId,
        data: Bytes,
    },
    /// Origin bytes reach a node's downlink / its engine.
    OriginArrive {
        to: usize,
        request: u64,
        offset: u64,
        data: Bytes,
    },
    OriginDeliver {
        to: usize,
        request: u64,
        offset: u64,
        data: Bytes,
    },
    /// The origin's uplink is free to send the next chunk.
    OriginTick,
    /// A range request reaches the origin.
    OriginOpen {
        node: usize,
        request: u64,
        start: u64,
        end: u64,
    },
    /// A connection's data channel opens at `node`'s end `conn`.
    Open {
        node: usize,
        conn: ConnId,
    },
    /// The far end closed the connection (or gave up the attempt).
    Ended {
        node: usize,
        conn: ConnId,
    },
    /// A node's WebSocket to the tracker opened.
    TrackerOpen {
        node: usize,
    },
    /// A text reaches the tracker / a node from the tracker.
    ToTracker {
        from: usize,
        text: String,
    },
    FromTracker {
        node: usize,
        text: String,
    },
    Join {
        node: usize,
    },
    Leave {
        node: usize,
    },
    Timer {
        node: usize,
        at: Time,
    },
    /// Work a node's driver does locally (disk reads, digest), at the same instant.
    Local {
        node: usize,
        event: crate::engine::Event,
    },
}

pub struct Queue {
    heap: BinaryHeap<Reverse<(Time, u64, usize)>>,
    slots: Vec<Option<SimEvent>>,
    free: Vec<usize>,
    seq: u64,
}

impl Queue {
    pub fn new() -> Self {
        Queue {
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            seq: 0,
        }
    }

    pub fn push(&mut self, at: Time, ev: SimEvent) {
        let slot = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(ev);
                i
            }
            None => {
                self.slots.push(Some(ev));
                self.slots.len() - 1
            }
        };
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, slot)));
    }

    pub fn pop(&mut self) -> Option<(Time, SimEvent)> {
        let Reverse((at, _, slot)) = self.heap.pop()?;
        let ev = self.slots[slot].take()?;
        self.free.push(slot);
        Some((at, ev))
    }
}

/// One direction of a node's access link.
#[derive(Debug, Clone)]
pub struct Link {
    rate: u64,
    free_at: Time,
}

impl Link {
    pub fn new(rate: u64) -> Self {
        Link {
            rate,
            free_at: Time::ZERO,
        }
    }

    /// When a message of `bytes` entering the link at `now` has fully crossed it.
    /// Control-sized messages skip the queue.
    pub fn transmit(&mut self, now: Time, bytes: usize) -> Time {
        if bytes < CONTROL_SIZE {
            return now;
        }
        self.transmit_queued(now, bytes)
    }

    /// Like `transmit`, but always behind what is queued: for streams whose order
    /// must hold whatever the size of each piece (an HTTP response).
    pub fn transmit_queued(&mut self, now: Time, bytes: usize) -> Time {
        if self.rate == 0 {
            return now;
        }
        let start = self.free_at.max(now);
        let micros = (bytes as u128 * 1_000_000).div_ceil(self.rate as u128) as u64;
        self.free_at = Time::from_micros(start.as_micros() + micros);
        self.free_at
    }
}

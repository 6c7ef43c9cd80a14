//! Where a download's or a seed's peers come from: the driver hands a source what the
//! engine sends, and the source feeds peer events back. A module of its own so that
//! downloads and seeders both use it without depending on each other.

use bytes::Bytes;
use swarmload_core::content::Hash32;
use swarmload_core::engine::{DisconnectReason, Event, PeerId};
use tokio::sync::mpsc;

/// Where peers come from. The driver hands it what the engine sends; the source
/// feeds `PeerConnected`, `PeerMessage` and `PeerGone` events into the channel it
/// is given. Downloads with no swarm use [`NoPeers`].
pub trait PeerSource: Send {
    /// The content's trusted SHA-256 is known: find peers in its swarm and report
    /// them on `events`.
    fn start(&mut self, sha256: Hash32, events: mpsc::Sender<Event>);
    fn send(&mut self, peer: PeerId, data: Bytes);
    fn disconnect(&mut self, peer: PeerId, reason: &DisconnectReason);
    /// Transfer counters, for the trackers' next announces.
    fn progress(&mut self, _left: u64, _uploaded: u64, _downloaded: u64) {}
    /// The content is complete: from now on this is a seeder.
    fn completed(&mut self) {}
    /// Leaves the swarm (trackers hear `stopped`, channels close); the task to
    /// await for that to finish.
    fn leave(&mut self) -> Option<tokio::task::JoinHandle<()>> {
        None
    }
}

/// No swarm: the origin alone.
pub struct NoPeers;

impl PeerSource for NoPeers {
    fn start(&mut self, _: Hash32, _: mpsc::Sender<Event>) {}
    fn send(&mut self, _: PeerId, _: Bytes) {}
    fn disconnect(&mut self, _: PeerId, _: &DisconnectReason) {}
}

/// Events (peer messages above all) queued for the engine: enough that a burst from
/// the network is taken in one pass instead of waking the loop per message.
pub const EVENT_QUEUE: usize = 256;

//! A swarm member as the download driver sees it: the host's [`Swarm`] peer source
//! with real WebRTC on 127.0.0.1, started on a content, and the engine events it
//! reports.

use std::time::Duration;

use bytes::Bytes;
use swarmload_core::content::Hash32;
use swarmload_core::engine::{Event, PeerId};
use swarmload_host::peer_source::PeerSource;
use swarmload_host::swarm::peers::{Swarm, SwarmConfig};
use swarmload_host::swarm::rtc::RtcConfig;
use tokio::sync::mpsc;

pub struct Member {
    pub swarm: Swarm,
    pub events: mpsc::Receiver<Event>,
}

pub fn loopback() -> RtcConfig {
    RtcConfig {
        ice_servers: Vec::new(),
        udp_addrs: vec!["127.0.0.1:0".into()],
        reactor_threads: 0,
    }
}

impl Member {
    /// Joins the swarm of `content` on `trackers`.
    pub fn join(trackers: &[String], content: u8) -> Member {
        let mut swarm = Swarm::new(SwarmConfig {
            trackers: trackers.to_vec(),
            rtc: loopback(),
            group_id: None,
            upload_enabled: true,
            corrupt_uploads: false,
        });
        let (tx, events) = mpsc::channel(256);
        swarm.start(Hash32([content; 32]), tx);
        Member { swarm, events }
    }

    /// The next event `pick` accepts, within `secs`.
    pub async fn until(&mut self, secs: u64, pick: impl Fn(&Event) -> bool) -> Event {
        loop {
            let e = tokio::time::timeout(Duration::from_secs(secs), self.events.recv())
                .await
                .expect("an event in time")
                .expect("the swarm runs");
            if pick(&e) {
                return e;
            }
        }
    }

    /// The first peer to connect.
    pub async fn first_peer(&mut self, secs: u64) -> PeerId {
        match self
            .until(secs, |e| matches!(e, Event::PeerConnected { .. }))
            .await
        {
            Event::PeerConnected { peer } => peer,
            _ => unreachable!(),
        }
    }

    pub fn send(&mut self, peer: PeerId, data: &'static [u8]) {
        self.swarm.send(peer, Bytes::from_static(data));
    }

    /// The next message from any peer.
    pub async fn message(&mut self, secs: u64) -> Bytes {
        match self
            .until(secs, |e| matches!(e, Event::PeerMessage { .. }))
            .await
        {
            Event::PeerMessage { data, .. } => data,
            _ => unreachable!(),
        }
    }

    /// Leaves the swarm; how long it took.
    pub async fn leave(&mut self) -> Duration {
        let start = std::time::Instant::now();
        if let Some(task) = self.swarm.leave() {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("left in time")
                .expect("the swarm's task ends cleanly");
        }
        start.elapsed()
    }
}

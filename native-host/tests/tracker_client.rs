//! The host's tracker client against the real tracker over WebSockets on 127.0.0.1:
//! offers reach the other peer, answers come back, an unreachable tracker is retried
//! with backoff without blocking anyone, and stopping leaves the swarm.

use std::time::{Duration, Instant};

use serde_json::json;
use swarmload_host::swarm::tracker_client::{self, ClientConfig, Command, Update};
use swarmload_tracker::protocol::Id20;
use swarmload_tracker::{Config, Tracker};
use tokio::sync::{mpsc, watch};

struct Client {
    commands: mpsc::Sender<Command>,
    updates: mpsc::Receiver<(String, Update)>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

fn id(tag: u8) -> Id20 {
    Id20(core::array::from_fn(|i| {
        tag ^ (i as u8).wrapping_mul(17) | 0x80
    }))
}

fn start(url: &str, info_hash: Id20, peer_id: Id20) -> Client {
    let (ctx, crx) = mpsc::channel(16);
    let (utx, urx) = mpsc::channel(64);
    let (stx, srx) = watch::channel(false);
    let cfg = ClientConfig {
        url: url.to_string(),
        info_hash,
        peer_id,
    };
    let task = tokio::spawn(tracker_client::run(cfg, crx, utx, srx));
    Client {
        commands: ctx,
        updates: urx,
        stop: stx,
        task,
    }
}

impl Client {
    async fn until(&mut self, pick: impl Fn(&Update) -> bool) -> Update {
        loop {
            let (_, u) = tokio::time::timeout(Duration::from_secs(10), self.updates.recv())
                .await
                .expect("an update in time")
                .expect("client running");
            if pick(&u) {
                return u;
            }
        }
    }
}

async fn tracker() -> (String, Tracker) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let t = Tracker::new(Config::default());
    tokio::spawn(t.clone().serve(listener));
    (url, t)
}

#[tokio::test]
async fn offers_and_answers_flow_between_two_clients() {
    let (url, tracker) = tracker().await;
    let ih = id(1);
    let mut b = start(&url, ih, id(2));
    b.until(|u| matches!(u, Update::Counts { .. })).await;
    let mut a = start(&url, ih, id(3));
    let want = a.until(|u| matches!(u, Update::WantOffers(_))).await;
    assert_eq!(
        want,
        Update::WantOffers(tracker_client::OFFERS_PER_ANNOUNCE)
    );
    let offer = json!({"type": "offer", "sdp": "v=0 a"});
    a.commands
        .send(Command::Offers(vec![(id(10), offer.clone())]))
        .await
        .unwrap();
    let got = b.until(|u| matches!(u, Update::Offer { .. })).await;
    assert_eq!(
        got,
        Update::Offer {
            from: id(3),
            offer_id: id(10),
            offer
        }
    );
    let answer = json!({"type": "answer", "sdp": "v=0 b"});
    b.commands
        .send(Command::Answer {
            to_peer: id(3),
            offer_id: id(10),
            answer: answer.clone(),
        })
        .await
        .unwrap();
    let got = a.until(|u| matches!(u, Update::Answer { .. })).await;
    assert_eq!(
        got,
        Update::Answer {
            from: id(2),
            offer_id: id(10),
            answer
        }
    );
    assert_eq!(tracker.peer_count(), 2);

    // Stopping says `stopped` and ends the task promptly.
    a.stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), &mut a.task)
        .await
        .expect("stopped in time")
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while tracker.peer_count() != 1 {
        assert!(Instant::now() < deadline, "the stopped peer left");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_unreachable_tracker_is_retried_with_backoff_and_stops_at_once() {
    // A port nobody listens on: refused at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut c = start(&url, id(4), id(5));
    let t0 = Instant::now();
    c.until(|u| matches!(u, Update::Disconnected(_))).await;
    assert!(t0.elapsed() < Duration::from_secs(2), "fails fast");
    c.until(|u| matches!(u, Update::Disconnected(_))).await;
    let second = t0.elapsed();
    c.until(|u| matches!(u, Update::Disconnected(_))).await;
    let third = t0.elapsed();
    assert!(
        third - second >= Duration::from_millis(900),
        "the wait doubles"
    );
    let t1 = Instant::now();
    c.stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(2), &mut c.task)
        .await
        .expect("stops during its backoff")
        .unwrap();
    assert!(t1.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn a_tracker_that_appears_later_is_joined() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = format!("ws://{addr}");
    let mut c = start(&url, id(6), id(7));
    c.until(|u| matches!(u, Update::Disconnected(_))).await;
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let t = Tracker::new(Config::default());
    tokio::spawn(t.clone().serve(listener));
    c.until(|u| matches!(u, Update::Connected)).await;
    c.until(|u| {
        matches!(
            u,
            Update::Counts {
                incomplete: 0,
                complete: 1
            } | Update::Counts { .. }
        )
    })
    .await;
    assert_eq!(t.peer_count(), 1);
}

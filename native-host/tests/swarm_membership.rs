//! The host's swarm membership over real WebSockets and real WebRTC on 127.0.0.1:
//! the core's machine, driven by the host, finds a peer through the real tracker,
//! gets past a tracker that cannot be reached, joins a tracker that appears later,
//! and says `stopped` when it leaves.

mod common;

use std::time::{Duration, Instant};

use common::member::Member;
use swarmload_core::engine::Event;
use swarmload_tracker::{Config, Tracker};

async fn tracker() -> (String, Tracker) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let t = Tracker::new(Config::default());
    tokio::spawn(t.clone().serve(listener));
    (url, t)
}

/// A ws:// URL nobody listens on: refused at once.
fn nobody() -> (String, std::net::SocketAddr) {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    (format!("ws://{addr}"), addr)
}

async fn until_peer_count(t: &Tracker, n: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while t.peer_count() != n {
        assert!(
            Instant::now() < deadline,
            "{what}: {} peers",
            t.peer_count()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_members_meet_exchange_messages_and_leave() {
    let (url, tracker) = tracker().await;
    let mut a = Member::join(std::slice::from_ref(&url), 1);
    let mut b = Member::join(std::slice::from_ref(&url), 1);
    let to_b = a.first_peer(20).await;
    let to_a = b.first_peer(20).await;
    a.send(to_b, b"hello from a");
    assert_eq!(&b.message(10).await[..], b"hello from a");
    b.send(to_a, b"hello from b");
    assert_eq!(&a.message(10).await[..], b"hello from b");
    assert_eq!(tracker.peer_count(), 2);

    // Leaving says `stopped` (the tracker forgets the peer) and closes the channel.
    let took = a.leave().await;
    assert!(took < Duration::from_secs(5), "{took:?}");
    until_peer_count(&tracker, 1, "the member that left is forgotten").await;
    // The channel's close normally tells at once; should it be lost (a loaded
    // machine), ICE gives the connection up within its failed timeout (25 s).
    b.until(40, |e| matches!(e, Event::PeerGone { .. })).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_tracker_costs_nothing_and_leaving_is_prompt() {
    let (dead, _) = nobody();
    let (url, _tracker) = tracker().await;
    let mut a = Member::join(&[dead.clone(), url.clone()], 2);
    let mut b = Member::join(std::slice::from_ref(&url), 2);
    a.first_peer(20).await;
    b.first_peer(20).await;
    // The dead tracker is in its backoff: leaving does not wait for it.
    let took = a.leave().await;
    assert!(took < Duration::from_secs(4), "{took:?}");
    // Nothing but a dead tracker: leaving is prompt too.
    let mut lonely = Member::join(&[dead], 3);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let took = lonely.leave().await;
    assert!(took < Duration::from_secs(4), "{took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tracker_that_appears_later_is_joined() {
    let (url, addr) = nobody();
    let mut m = Member::join(std::slice::from_ref(&url), 4);
    // Whether its first attempt has failed yet or not, the member must get there.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let t = Tracker::new(Config::default());
    tokio::spawn(t.clone().serve(listener));
    until_peer_count(&t, 1, "the member announced").await;
    m.leave().await;
    until_peer_count(&t, 0, "the member left").await;
}

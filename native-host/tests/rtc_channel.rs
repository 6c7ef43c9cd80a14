//! Real WebRTC data channels between two host peers on 127.0.0.1: directly, and with
//! the offer and answer carried by the tracker, as in a swarm.

use std::time::Duration;

use bytes::Bytes;
use swarmload_host::swarm::rtc::{self, RtcConfig, RtcError};
use swarmload_host::swarm::tracker_client::{self, ClientConfig, Command, Update};
use swarmload_tracker::protocol::Id20;
use swarmload_tracker::{Config, Tracker};
use tokio::sync::{mpsc, watch};

fn loopback() -> RtcConfig {
    RtcConfig {
        ice_servers: Vec::new(),
        udp_addrs: vec!["127.0.0.1:0".into()],
        reactor_threads: 0,
    }
}

async fn recv(ch: &mut rtc::Channel) -> Bytes {
    tokio::time::timeout(Duration::from_secs(10), ch.incoming.recv())
        .await
        .expect("a message in time")
        .expect("channel open")
}

#[tokio::test(flavor = "multi_thread")]
async fn two_peers_exchange_ordered_messages() {
    let cfg = loopback();
    let (pending, offer) = rtc::offer(&cfg).await.unwrap();
    assert_eq!(offer["type"], "offer");
    assert!(
        offer["sdp"].as_str().unwrap().contains("a=candidate"),
        "non-trickle: candidates inside"
    );
    let (answering, answer) = rtc::answer(&cfg, offer).await.unwrap();
    assert_eq!(answer["type"], "answer");
    let (a, b) = tokio::join!(pending.connect(answer), answering.connect());
    let (a, mut b) = (a.unwrap(), b.unwrap());
    let msgs: Vec<Vec<u8>> = (0..200u32)
        .map(|i| (0..16 * 1024).map(|j| (i as usize * 7 + j) as u8).collect())
        .collect();
    let sender = tokio::spawn(async move {
        for m in &msgs {
            a.send(m).await.unwrap();
        }
        (a, msgs)
    });
    let mut got = Vec::new();
    for _ in 0..200 {
        got.push(recv(&mut b).await.to_vec());
    }
    let (a, msgs) = sender.await.unwrap();
    assert_eq!(got, msgs, "every message, whole and in order");
    b.send(b"back").await.unwrap();
    let mut a = a;
    assert_eq!(&recv(&mut a).await[..], b"back");
    a.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_descriptions_are_errors() {
    let cfg = loopback();
    for bad in [
        serde_json::json!({"type": "offer"}),
        serde_json::json!("nonsense"),
        serde_json::json!({"type": "offer", "sdp": "not sdp"}),
    ] {
        let r = rtc::answer(&cfg, bad).await;
        assert!(matches!(
            r,
            Err(RtcError::BadDescription(_) | RtcError::WebRtc(_))
        ));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn peers_meet_through_the_tracker() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(Tracker::new(Config::default()).serve(listener));
    let ih = Id20([3; 20]);
    let client = |peer: u8| {
        let (ctx, crx) = mpsc::channel(16);
        let (utx, urx) = mpsc::channel(64);
        let (stx, srx) = watch::channel(false);
        let cfg = ClientConfig {
            url: url.clone(),
            info_hash: ih,
            peer_id: Id20([peer; 20]),
        };
        tokio::spawn(tracker_client::run(cfg, crx, utx, srx));
        (ctx, urx, stx)
    };
    async fn until(
        rx: &mut mpsc::Receiver<(String, Update)>,
        pick: impl Fn(&Update) -> bool,
    ) -> Update {
        loop {
            let (_, u) = tokio::time::timeout(Duration::from_secs(15), rx.recv())
                .await
                .unwrap()
                .unwrap();
            if pick(&u) {
                return u;
            }
        }
    }
    let (b_cmd, mut b_up, _bs) = client(2);
    until(&mut b_up, |u| matches!(u, Update::Counts { .. })).await;
    let (a_cmd, mut a_up, _as) = client(1);
    until(&mut a_up, |u| matches!(u, Update::WantOffers(_))).await;

    let cfg = loopback();
    let (pending, offer) = rtc::offer(&cfg).await.unwrap();
    let offer_id = Id20([9; 20]);
    a_cmd
        .send(Command::Offers(vec![(offer_id, offer)]))
        .await
        .unwrap();
    let Update::Offer {
        from,
        offer_id: oid,
        offer,
    } = until(&mut b_up, |u| matches!(u, Update::Offer { .. })).await
    else {
        unreachable!()
    };
    let (answering, answer) = rtc::answer(&cfg, offer).await.unwrap();
    b_cmd
        .send(Command::Answer {
            to_peer: from,
            offer_id: oid,
            answer,
        })
        .await
        .unwrap();
    let Update::Answer {
        answer,
        offer_id: got,
        ..
    } = until(&mut a_up, |u| matches!(u, Update::Answer { .. })).await
    else {
        unreachable!()
    };
    assert_eq!(got, offer_id);
    let (a, b) = tokio::join!(pending.connect(answer), answering.connect());
    let (a, mut b) = (a.unwrap(), b.unwrap());
    a.send(b"hello through the swarm").await.unwrap();
    assert_eq!(&recv(&mut b).await[..], b"hello through the swarm");
}

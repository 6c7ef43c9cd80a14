//! Real WebRTC data channels between two host peers on 127.0.0.1, offer and answer
//! handed over directly (`swarm_membership.rs` has them carried by the tracker).

use std::time::Duration;

use bytes::Bytes;
use swarmload_host::swarm::rtc::{self, RtcConfig, RtcError};

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

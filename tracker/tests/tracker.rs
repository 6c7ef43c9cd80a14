//! The tracker over real WebSockets on 127.0.0.1: offers forwarded, answers routed,
//! ids one char per byte, counts, departures, idle connections, and hostile input
//! while other clients keep being served.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use swarmload_tracker::protocol::Id20;
use swarmload_tracker::{Config, Tracker};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn start(cfg: Config) -> (String, Tracker) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let tracker = Tracker::new(cfg);
    tokio::spawn(tracker.clone().serve(listener));
    (url, tracker)
}

async fn connect(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// Connects from another loopback address (all of 127/8 is this machine's), as a
/// client on another host would.
async fn connect_from(url: &str, last: u8) -> Ws {
    let tcp = tcp_from(url, last).await;
    tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp))
        .await
        .unwrap()
        .0
}

async fn tcp_from(url: &str, last: u8) -> TcpStream {
    let to = url.strip_prefix("ws://").unwrap().parse().unwrap();
    swarmload_tests::connect_from_loopback(to, last)
        .await
        .unwrap()
}

/// An id whose bytes include values above 0x7f, to exercise the string form.
fn id(tag: u8) -> Id20 {
    Id20(core::array::from_fn(|i| {
        tag.wrapping_mul(31).wrapping_add(i as u8 * 11) | 0x80
    }))
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

async fn recv(ws: &mut Ws) -> Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message in time")
            .expect("open")
            .expect("no error");
        if let Message::Text(t) = m {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

/// Waits (at most 5 s) for the server to end the connection.
async fn closed(ws: &mut Ws) -> Result<(), tokio::time::error::Elapsed> {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                _ => {}
            }
        }
    })
    .await
}

fn announce(ih: Id20, peer: Id20, offers: &[(Id20, &str)], left: u64) -> Value {
    let offers: Vec<Value> = offers
        .iter()
        .map(|(oid, sdp)| {
            json!({"offer_id": oid.to_binary_string(), "offer": {"type": "offer", "sdp": sdp}})
        })
        .collect();
    json!({"action": "announce", "info_hash": ih.to_binary_string(),
           "peer_id": peer.to_binary_string(), "numwant": offers.len(), "uploaded": 0,
           "downloaded": 0, "left": left, "event": "started", "offers": offers})
}

#[tokio::test]
async fn offers_reach_other_peers_and_answers_reach_the_offerer() {
    let (url, _t) = start(Config::default()).await;
    let (ih, a_id, b_id) = (id(1), id(2), id(3));
    let mut a = connect(&url).await;
    let mut b = connect(&url).await;

    send(&mut a, announce(ih, a_id, &[(id(10), "a-offer")], 100)).await;
    let r = recv(&mut a).await;
    assert_eq!(r["action"], "announce");
    assert_eq!(r["interval"], 120);
    assert_eq!(r["info_hash"], ih.to_binary_string());
    assert_eq!(
        (r["complete"].clone(), r["incomplete"].clone()),
        (json!(0), json!(1))
    );

    send(&mut b, announce(ih, b_id, &[(id(11), "b-offer")], 0)).await;
    let offer = recv(&mut a).await;
    assert_eq!(offer["offer"]["sdp"], "b-offer");
    assert_eq!(offer["offer_id"], id(11).to_binary_string());
    assert_eq!(
        Id20::from_binary_str(offer["peer_id"].as_str().unwrap()),
        Some(b_id)
    );
    let r = recv(&mut b).await;
    assert_eq!(
        (r["complete"].clone(), r["incomplete"].clone()),
        (json!(1), json!(1))
    );

    send(
        &mut a,
        json!({"action": "announce", "info_hash": ih.to_binary_string(),
               "peer_id": a_id.to_binary_string(), "to_peer_id": b_id.to_binary_string(),
               "offer_id": id(11).to_binary_string(),
               "answer": {"type": "answer", "sdp": "a-answer"}}),
    )
    .await;
    let answer = recv(&mut b).await;
    assert_eq!(answer["answer"]["sdp"], "a-answer");
    assert_eq!(answer["offer_id"], id(11).to_binary_string());
    assert_eq!(
        Id20::from_binary_str(answer["peer_id"].as_str().unwrap()),
        Some(a_id)
    );

    // Another swarm never hears of this one.
    let mut c = connect(&url).await;
    send(&mut c, announce(id(99), id(4), &[(id(12), "c-offer")], 100)).await;
    let r = recv(&mut c).await;
    assert_eq!(r["incomplete"], 1);
    send(
        &mut c,
        json!({"action": "scrape", "info_hash": [ih.to_binary_string()]}),
    )
    .await;
    let s = recv(&mut c).await;
    let f = &s["files"][ih.to_binary_string()];
    assert_eq!(
        (f["complete"].clone(), f["incomplete"].clone()),
        (json!(1), json!(1))
    );
}

async fn counts(url: &str, ih: Id20) -> (u64, u64) {
    let mut s = connect(url).await;
    send(
        &mut s,
        json!({"action": "scrape", "info_hash": ih.to_binary_string()}),
    )
    .await;
    let r = recv(&mut s).await;
    let f = &r["files"][ih.to_binary_string()];
    (
        f["complete"].as_u64().unwrap(),
        f["incomplete"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn stopped_peers_and_closed_connections_leave_their_swarms() {
    let (url, tracker) = start(Config::default()).await;
    let ih = id(5);
    let mut a = connect(&url).await;
    let mut b = connect(&url).await;
    send(&mut a, announce(ih, id(6), &[], 100)).await;
    recv(&mut a).await;
    send(&mut b, announce(ih, id(7), &[], 100)).await;
    recv(&mut b).await;
    assert_eq!(counts(&url, ih).await, (0, 2));
    let mut stop = announce(ih, id(6), &[], 100);
    stop["event"] = json!("stopped");
    send(&mut a, stop).await;
    recv(&mut a).await;
    assert_eq!(counts(&url, ih).await, (0, 1));
    drop(b);
    for _ in 0..100 {
        if tracker.peer_count() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(tracker.peer_count(), 0);
}

#[tokio::test]
async fn idle_connections_are_reaped() {
    let cfg = Config {
        idle_timeout: Duration::from_millis(300),
        ..Config::default()
    };
    let (url, tracker) = start(cfg).await;
    let mut a = connect(&url).await;
    send(&mut a, announce(id(8), id(9), &[], 100)).await;
    recv(&mut a).await;
    assert_eq!(tracker.peer_count(), 1);
    let end = closed(&mut a).await;
    assert!(end.is_ok(), "the server closed the idle connection");
    assert_eq!(tracker.peer_count(), 0);
    assert_eq!(tracker.connection_count(), 0);
}

#[tokio::test]
async fn hostile_input_gets_errors_or_a_closed_connection_and_others_are_served() {
    let (url, _t) = start(Config::default()).await;
    let mut bad = connect(&url).await;
    let ih = id(20);
    for (text, reason) in [
        ("{not json".to_string(), "invalid JSON"),
        ("[1,2]".to_string(), "a message is a JSON object"),
        (json!({"action": "dance"}).to_string(), "invalid action"),
        (
            json!({"action": "announce", "info_hash": "x".repeat(19), "peer_id": "p".repeat(20)})
                .to_string(),
            "invalid info_hash",
        ),
        (
            json!({"action": "announce", "info_hash": "x".repeat(20), "peer_id": "p".repeat(21)})
                .to_string(),
            "invalid peer_id",
        ),
        (
            json!({"action": "announce", "info_hash": "x".repeat(20), "peer_id": "p".repeat(20),
                   "offers": [{"offer_id": "short", "offer": {}}]})
            .to_string(),
            "invalid offer_id",
        ),
    ] {
        bad.send(Message::text(text)).await.unwrap();
        let r = recv(&mut bad).await;
        assert_eq!(r["failure reason"], reason);
    }
    bad.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(recv(&mut bad).await["failure reason"], "text messages only");

    // A frame over 64 KiB closes that connection.
    let mut huge = connect(&url).await;
    let _ = huge.send(Message::text("x".repeat(70 * 1024))).await;
    let closed = closed(&mut huge).await;
    assert!(closed.is_ok());

    // Meanwhile an honest pair still meets.
    let mut a = connect(&url).await;
    let mut b = connect(&url).await;
    send(&mut a, announce(ih, id(21), &[], 100)).await;
    recv(&mut a).await;
    send(&mut b, announce(ih, id(22), &[(id(23), "offer")], 100)).await;
    assert_eq!(recv(&mut a).await["offer"]["sdp"], "offer");
    // The bad connection was not dropped for its errors either.
    send(&mut bad, announce(id(30), id(31), &[], 100)).await;
    assert_eq!(recv(&mut bad).await["incomplete"], 1);
}

#[tokio::test]
async fn limits_on_swarm_size_and_offers_hold() {
    let cfg = Config {
        max_peers_per_swarm: 2,
        max_offers: 2,
        ..Config::default()
    };
    let (url, _t) = start(cfg).await;
    let ih = id(40);
    let mut peers = Vec::new();
    for n in 0..2u8 {
        let mut c = connect(&url).await;
        send(&mut c, announce(ih, id(41 + n), &[], 100)).await;
        recv(&mut c).await;
        peers.push(c);
    }
    let mut late = connect(&url).await;
    send(&mut late, announce(ih, id(50), &[], 100)).await;
    assert_eq!(recv(&mut late).await["failure reason"], "swarm full");
    // Five offers from a member: each goes to a different peer, so the one other
    // member gets exactly one.
    let offers: Vec<(Id20, &str)> = (0..5u8).map(|i| (id(60 + i), "o")).collect();
    send(&mut peers[0], announce(ih, id(41), &offers, 100)).await;
    let r = recv(&mut peers[0]).await;
    assert_eq!(r["incomplete"], 2);
    let forwarded = recv(&mut peers[1]).await;
    assert_eq!(forwarded["offer"]["sdp"], "o");
    let more = tokio::time::timeout(Duration::from_millis(300), peers[1].next()).await;
    assert!(more.is_err(), "no second offer: {more:?}");
}

#[tokio::test]
async fn the_binary_listens_where_it_says() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_swarmload-tracker"))
        .args(["--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next_line().await.unwrap().unwrap();
    let url = line.strip_prefix("listening on ").unwrap().to_string();
    let mut a = connect(&url).await;
    send(&mut a, announce(id(70), id(71), &[], 0)).await;
    assert_eq!(recv(&mut a).await["complete"], 1);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_swarmload-tracker"))
        .args(["--listen", "not-an-address"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen"));
}

#[tokio::test]
async fn group_mapping_records_are_kept_a_few_per_id_and_the_oldest_ids_forgotten() {
    let (url, _t) = start(Config {
        max_mapping_ids: 2,
        ..Config::default()
    })
    .await;
    let mut ws = connect(&url).await;
    let (a, b, c) = ("aa".repeat(20), "bb".repeat(20), "cc".repeat(20));
    // Ten records under one id, each from its own address: the newest eight are
    // kept, newest first; a repeat moves to the front rather than taking two places.
    for n in 0..10 {
        let mut other = connect_from(&url, 10 + n).await;
        send(&mut other, mapping_put(&a, record(n))).await;
        assert_eq!(recv(&mut other).await["stored"], true);
    }
    let (put, get) = (mapping_put, mapping_get);
    send(&mut ws, put(&a, record(5))).await;
    recv(&mut ws).await;
    send(&mut ws, get(&a)).await;
    let got = recv(&mut ws).await;
    assert_eq!(got["action"], "swarmload_mapping_get");
    assert_eq!(got["map_id"], a.as_str());
    let records = got["records"].as_array().unwrap();
    assert_eq!(records.len(), 8);
    assert_eq!(records[0], record(5));
    assert_eq!(records[1], record(9));
    // A third id pushes out the oldest.
    for id in [&b, &c] {
        send(&mut ws, put(id, record(1))).await;
        recv(&mut ws).await;
    }
    send(&mut ws, get(&a)).await;
    assert_eq!(recv(&mut ws).await["records"], json!([]));
    send(&mut ws, get(&c)).await;
    assert_eq!(recv(&mut ws).await["records"], json!([record(1)]));
    // Malformed records are refused with a reason; the connection stays up.
    send(&mut ws, put(&b, json!({"sha256": "00"}))).await;
    assert!(recv(&mut ws).await["failure reason"].is_string());
    send(&mut ws, get("not-hex")).await;
    assert!(recv(&mut ws).await["failure reason"].is_string());
    send(&mut ws, get(&b)).await;
    assert_eq!(recv(&mut ws).await["records"].as_array().unwrap().len(), 1);
}

fn record(n: u8) -> Value {
    json!({"sha256": format!("{n:02x}").repeat(32), "size": 5, "mac": format!("{n:02x}").repeat(32)})
}

fn mapping_put(map_id: &str, r: Value) -> Value {
    json!({"action": "swarmload_mapping_put", "map_id": map_id, "record": r})
}

fn mapping_get(map_id: &str) -> Value {
    json!({"action": "swarmload_mapping_get", "map_id": map_id})
}

#[tokio::test]
async fn one_address_flooding_an_id_replaces_only_its_own_records_and_is_rate_limited() {
    let (url, _t) = start(Config {
        // Twelve at once, then one a minute: nothing refills while the test runs.
        mapping_puts: swarmload_tracker::mappings::PutRate {
            burst: 12,
            per_minute: 1,
        },
        ..Config::default()
    })
    .await;
    let id = "dd".repeat(20);
    let mut member = connect_from(&url, 3).await;
    send(&mut member, mapping_put(&id, record(1))).await;
    assert_eq!(recv(&mut member).await["stored"], true);
    // A flood from one address, over one connection and over many.
    let mut flood = connect_from(&url, 2).await;
    for n in 10..16 {
        send(&mut flood, mapping_put(&id, record(n))).await;
        assert_eq!(recv(&mut flood).await["stored"], true);
    }
    for n in 16..22 {
        let mut again = connect_from(&url, 2).await;
        send(&mut again, mapping_put(&id, record(n))).await;
        assert_eq!(recv(&mut again).await["stored"], true);
    }
    send(&mut member, mapping_get(&id)).await;
    assert_eq!(
        recv(&mut member).await["records"],
        json!([record(21), record(20), record(1)]),
        "the flood kept two places, and the member's record its own"
    );
    // Twelve puts at once: the thirteenth is refused, with a reason, and the
    // connection stays open; other addresses are not held back.
    send(&mut flood, mapping_put(&id, record(30))).await;
    let refused = recv(&mut flood).await;
    assert_eq!(refused["action"], "swarmload_mapping_put");
    assert!(
        refused["failure reason"]
            .as_str()
            .is_some_and(|r| r.contains("too many")),
        "{refused}"
    );
    send(&mut flood, mapping_get(&id)).await;
    assert_eq!(recv(&mut flood).await["records"][0], record(21));
    send(&mut member, mapping_put(&id, record(2))).await;
    assert_eq!(recv(&mut member).await["stored"], true);
}

/// Connects from 127.0.0.`last` with an `X-Forwarded-For` header, as a reverse proxy
/// (or a client pretending to be one) would.
async fn connect_forwarded(url: &str, last: u8, forwarded_for: &str) -> Ws {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let tcp = tcp_from(url, last).await;
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("x-forwarded-for", forwarded_for.parse().unwrap());
    tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(tcp))
        .await
        .unwrap()
        .0
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_counts_alone_and_elsewhere_the_header_is_ignored()
 {
    let (url, _t) = start(Config {
        trusted_proxies: vec![std::net::IpAddr::from([127, 0, 0, 5])],
        ..Config::default()
    })
    .await;
    let id = "ee".repeat(20);
    // Through the proxy: three clients, two records each, all kept.
    for client in 1..=3u8 {
        for n in 0..2 {
            let mut ws = connect_forwarded(&url, 5, &format!("203.0.113.{client}")).await;
            send(&mut ws, mapping_put(&id, record(client * 10 + n))).await;
            assert_eq!(recv(&mut ws).await["stored"], true);
        }
    }
    let mut ws = connect(&url).await;
    send(&mut ws, mapping_get(&id)).await;
    assert_eq!(recv(&mut ws).await["records"].as_array().unwrap().len(), 6);

    // Not from the proxy: a client that names other addresses is still one source.
    let other = "ef".repeat(20);
    for n in 0..4u8 {
        let mut ws = connect_forwarded(&url, 6, &format!("198.51.100.{n}")).await;
        send(&mut ws, mapping_put(&other, record(n))).await;
        assert_eq!(recv(&mut ws).await["stored"], true);
    }
    send(&mut ws, mapping_get(&other)).await;
    assert_eq!(
        recv(&mut ws).await["records"],
        json!([record(3), record(2)])
    );
}

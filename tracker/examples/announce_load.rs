//! Announce load against any WebTorrent WebSocket tracker: `CONNECTIONS` clients,
//! each announcing (with two small offers) and waiting for its answer, again and
//! again, for `SECONDS`. Peers spread over 64 swarms, so offers are forwarded to
//! other clients, which read them as a real peer would.
//!
//! `cargo run --release -p swarmload-tracker --example announce_load URL SECONDS CONNECTIONS`
//! prints one JSON line: `{"announces": N, "seconds": S, "forwarded": M}`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

fn binary(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(url), Some(secs), Some(conns)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: announce_load URL SECONDS CONNECTIONS");
        std::process::exit(2);
    };
    let secs: f64 = secs.parse()?;
    let conns: u32 = conns.parse()?;
    let announces = Arc::new(AtomicU64::new(0));
    let forwarded = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..conns {
        let (ws, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
        let (announces, forwarded) = (announces.clone(), forwarded.clone());
        tasks.push(tokio::spawn(async move {
            let (mut sink, mut stream) = ws.split();
            let mut peer = [0u8; 20];
            peer[..4].copy_from_slice(&c.to_le_bytes());
            let mut n = 0u64;
            while Instant::now() < deadline {
                let mut ih = [0x20u8; 20];
                ih[0] = (n % 64) as u8 + 0x30;
                let offer = |k: u8| {
                    let mut id = [0x41u8; 20];
                    id[0] = k;
                    id[1..5].copy_from_slice(&c.to_le_bytes());
                    json!({"offer_id": binary(&id), "offer": {"type": "offer", "sdp": "v=0 load"}})
                };
                let msg = json!({
                    "action": "announce", "info_hash": binary(&ih), "peer_id": binary(&peer),
                    "numwant": 2, "uploaded": 0, "downloaded": 0, "left": 1000,
                    "event": if n < 64 { "started" } else { "update" },
                    "offers": [offer(0x42), offer(0x43)],
                });
                if sink.send(Message::text(msg.to_string())).await.is_err() {
                    return;
                }
                n += 1;
                // Read until our own announce response; forwarded offers come between.
                loop {
                    let Some(Ok(Message::Text(t))) = stream.next().await else {
                        return;
                    };
                    let v: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
                    if v.get("offer").is_some() {
                        forwarded.fetch_add(1, Ordering::Relaxed);
                    } else if v.get("interval").is_some() || v.get("failure reason").is_some() {
                        announces.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    println!(
        "{{\"announces\": {}, \"seconds\": {}, \"forwarded\": {}}}",
        announces.load(Ordering::Relaxed),
        start.elapsed().as_secs_f64(),
        forwarded.load(Ordering::Relaxed)
    );
    Ok(())
}

//! Raw data-channel throughput between two webrtc-rs peers in one process on
//! 127.0.0.1: 16 KiB messages, sent with the host's flow control (buffered-amount
//! watermarks), no engine. The yardstick `cargo xtask bench swarm` sets a real
//! seeder→downloader transfer against.
//!
//! `cargo run --release -p swarmload-host --example datachannel_throughput [MIB]`
//! prints one JSON line: `{"bytes": N, "seconds": S}`.

use std::time::Instant;

use swarmload_host::swarm::rtc::{self, RtcConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(256);
    let cfg = RtcConfig {
        ice_servers: Vec::new(),
        udp_addrs: vec!["127.0.0.1:0".into()],
        // Both peers live in this process: let the multi-threaded runtime spread
        // their drivers over the cores, webrtc-rs's fastest setting here.
        reactor_threads: 0,
    };
    let (pending, offer) = rtc::offer(&cfg).await?;
    let (answering, answer) = rtc::answer(&cfg, offer).await?;
    let (a, b) = tokio::join!(pending.connect(answer), answering.connect());
    let (a, mut b) = (a?, b?);
    let msg = vec![0x5au8; 16 * 1024 + 5];
    let count = mib * 64;
    let start = Instant::now();
    let sender = tokio::spawn(async move {
        for _ in 0..count {
            if a.send(&msg).await.is_err() {
                break;
            }
        }
        a
    });
    let mut bytes = 0u64;
    for _ in 0..count {
        match b.incoming.recv().await {
            Some(m) => bytes += m.len() as u64,
            None => break,
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let a = sender.await?;
    a.close().await;
    println!("{{\"bytes\": {bytes}, \"seconds\": {seconds}}}");
    Ok(())
}

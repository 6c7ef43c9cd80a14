//! Swarms of real processes: a `swarmload-tracker`, `swarmload-host seed` seeders and
//! `swarmload-host get` downloaders over real WebRTC on 127.0.0.1, and a real
//! throttled origin that publishes `Repr-Digest`.

mod common;

use std::time::Duration;

use common::TempDir;
use common::swarm::{Leecher, SeederProcess, TrackerProcess, content};
use swarmload_tests::origin::{OriginConfig, TestOrigin};

const MIB: usize = 1024 * 1024;

/// An origin as busy as a popular download server: slow for each client.
async fn busy_origin(data: &[u8], per_connection: u64) -> TestOrigin {
    let mut cfg = OriginConfig::memory(data.to_vec());
    cfg.throttle_per_connection = Some(per_connection);
    TestOrigin::start(cfg).await.unwrap()
}

fn seed_file(dir: &TempDir, data: &[u8]) -> std::path::PathBuf {
    let p = dir.join("content.bin");
    std::fs::write(&p, data).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread")]
async fn two_seeders_serve_a_downloader_most_of_the_file() {
    let data = content(24 * MIB, 1);
    let origin = busy_origin(&data, 256 * 1024).await;
    let tracker = TrackerProcess::start().await;
    let files = TempDir::new("seeds");
    let file = seed_file(&files, &data);
    let s1 = SeederProcess::start(&file, &[&tracker.url], &[]).await;
    let _s2 = SeederProcess::start(&file, &[&tracker.url], &[]).await;
    assert_eq!(s1.sha256, origin.sha256_hex(0));

    let got = Leecher::start(&origin.url(), &[&tracker.url], &[])
        .finish(Duration::from_secs(120))
        .await;
    assert!(got.bytes == data, "the file is byte for byte the origin's");
    println!(
        "{} from peers, {} from the origin, {:.2} s",
        got.from_peers, got.from_origin, got.seconds
    );
    let total = got.from_peers + got.from_origin;
    assert!(total >= data.len() as u64);
    let share = got.from_peers as f64 / total as f64;
    assert!(
        share > 0.9,
        "over 90% from peers: {} from peers, {} from the origin\n{}",
        got.from_peers,
        got.from_origin,
        got.log
    );
    assert!(
        origin.stats().body_bytes() < data.len() as u64 / 10,
        "the origin served {} bytes",
        origin.stats().body_bytes()
    );
}

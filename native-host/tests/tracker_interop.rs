//! Interoperability: two host swarm members find each other through the reference
//! WebTorrent tracker, npm `bittorrent-tracker` (pinned in
//! `tests/interop/package-lock.json`; `cargo xtask test` installs it).

mod common;

use common::member::Member;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncBufReadExt;

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/interop")
}

/// The reference tracker as a process, and its ws:// URL.
async fn reference_tracker() -> (tokio::process::Child, String) {
    let dir = interop_dir();
    assert!(
        dir.join("node_modules/bittorrent-tracker").exists(),
        "run `npm ci --ignore-scripts` in tests/interop (cargo xtask test does)"
    );
    let mut server = tokio::process::Command::new("node")
        .arg("tracker-server.mjs")
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut lines = tokio::io::BufReader::new(server.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("the tracker starts")
        .unwrap()
        .unwrap();
    let url = line.strip_prefix("listening on ").unwrap().to_string();
    (server, url)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_seeder_and_a_downloader_share_a_file_through_the_bittorrent_tracker_package() {
    use common::swarm::{Leecher, SeederProcess, content};
    use swarmload_tests::origin::{OriginConfig, TestOrigin};
    let (_server, url) = reference_tracker().await;
    let data = content(8 << 20, 9);
    let mut cfg = OriginConfig::memory(data.clone());
    cfg.throttle_per_connection = Some(256 * 1024);
    // Held until the two have met, however slowly on a loaded machine.
    cfg.faults.held = true;
    let origin = TestOrigin::start(cfg).await.unwrap();
    let files = common::TempDir::new("interop");
    let file = files.join("content.bin");
    std::fs::write(&file, &data).unwrap();
    let _seeder = SeederProcess::start(&file, &[&url], &[]).await;
    let got = Leecher::start(&origin.url(), &[&url], &[]);
    common::swarm::wait_for_log(got.state.path(), "peer connected").await;
    origin.release();
    let got = got.finish(Duration::from_secs(120)).await;
    assert!(got.bytes == data, "the file is byte for byte the origin's");
    assert!(
        got.from_peers > data.len() as u64 / 2,
        "the seeder found through the reference tracker served most of it: {} from peers",
        got.from_peers
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hosts_meet_through_the_bittorrent_tracker_package() {
    let (_server, url) = reference_tracker().await;
    // The core's membership machine, driven by the host: its announces, offers and
    // answers as the reference tracker relays them, and real WebRTC behind them.
    let mut a = Member::join(std::slice::from_ref(&url), 0xab);
    let mut b = Member::join(std::slice::from_ref(&url), 0xab);
    let to_b = a.first_peer(30).await;
    b.first_peer(30).await;
    a.send(to_b, b"hello through bittorrent-tracker");
    assert_eq!(
        &b.message(10).await[..],
        b"hello through bittorrent-tracker"
    );
    a.leave().await;
    b.leave().await;
}

//! Interoperability: two host tracker clients find each other through the reference
//! WebTorrent tracker, npm `bittorrent-tracker` (pinned in
//! `tests/interop/package-lock.json`; `cargo xtask test` installs it).

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use swarmload_host::swarm::tracker_client::{self, ClientConfig, Command, Update};
use swarmload_tracker::protocol::Id20;
use tokio::io::AsyncBufReadExt;
use tokio::sync::{mpsc, watch};

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/interop")
}

async fn next_update(
    rx: &mut mpsc::Receiver<(String, Update)>,
    pick: impl Fn(&Update) -> bool,
) -> Update {
    loop {
        let (_, u) = tokio::time::timeout(Duration::from_secs(15), rx.recv())
            .await
            .expect("an update in time")
            .expect("client running");
        if pick(&u) {
            return u;
        }
    }
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

#[tokio::test]
async fn two_hosts_meet_through_the_bittorrent_tracker_package() {
    let (_server, url) = reference_tracker().await;

    let ih = Id20([0xab; 20]);
    let peer = |n: u8| Id20(core::array::from_fn(|i| 0x80 | n | i as u8));
    let spawn = |peer_id: Id20| {
        let (ctx, crx) = mpsc::channel(16);
        let (utx, urx) = mpsc::channel(64);
        let (stx, srx) = watch::channel(false);
        let cfg = ClientConfig {
            url: url.clone(),
            info_hash: ih,
            peer_id,
        };
        tokio::spawn(tracker_client::run(cfg, crx, utx, srx));
        (ctx, urx, stx)
    };
    let (b_cmd, mut b_up, _b_stop) = spawn(peer(1));
    next_update(&mut b_up, |u| matches!(u, Update::Counts { .. })).await;
    let (a_cmd, mut a_up, _a_stop) = spawn(peer(2));
    next_update(&mut a_up, |u| matches!(u, Update::WantOffers(_))).await;
    let offer = json!({"type": "offer", "sdp": "v=0 from a"});
    a_cmd
        .send(Command::Offers(vec![(Id20([7; 20]), offer.clone())]))
        .await
        .unwrap();
    let got = next_update(&mut b_up, |u| matches!(u, Update::Offer { .. })).await;
    assert_eq!(
        got,
        Update::Offer {
            from: peer(2),
            offer_id: Id20([7; 20]),
            offer
        }
    );
    let answer = json!({"type": "answer", "sdp": "v=0 from b"});
    b_cmd
        .send(Command::Answer {
            to_peer: peer(2),
            offer_id: Id20([7; 20]),
            answer: answer.clone(),
        })
        .await
        .unwrap();
    let got = next_update(&mut a_up, |u| matches!(u, Update::Answer { .. })).await;
    assert_eq!(
        got,
        Update::Answer {
            from: peer(1),
            offer_id: Id20([7; 20]),
            answer
        }
    );
}

//! Swarms of real processes: a `swarmload-tracker`, `swarmload-host seed` seeders and
//! `swarmload-host get` downloaders over real WebRTC on 127.0.0.1, and a real
//! throttled origin that publishes `Repr-Digest`.

mod common;

use std::time::Duration;

use common::TempDir;
use common::swarm::{Leecher, SeederProcess, Summary, TrackerProcess, content, wait_for_log};
use swarmload_tests::origin::{OriginConfig, TestOrigin};

const MIB: usize = 1024 * 1024;

/// An origin as busy as a popular download server: slow for each client.
async fn busy_origin(data: &[u8], per_connection: u64) -> TestOrigin {
    let mut cfg = OriginConfig::memory(data.to_vec());
    cfg.throttle_per_connection = Some(per_connection);
    TestOrigin::start(cfg).await.unwrap()
}

/// Finishes `leecher` with `origin` held until the leecher has met a peer: the
/// tests that need peers to serve must not bet on how fast they meet on a loaded
/// machine. The origin is released either way afterwards.
async fn after_meeting(origin: &TestOrigin, leecher: Leecher) -> Summary {
    wait_for_log(leecher.state.path(), "peer connected").await;
    origin.release();
    leecher.finish(Duration::from_secs(120)).await
}

fn seed_file(dir: &TempDir, data: &[u8]) -> std::path::PathBuf {
    let p = dir.join("content.bin");
    std::fs::write(&p, data).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread")]
async fn two_seeders_serve_a_downloader_most_of_the_file() {
    let data = content(24 * MIB, 1);
    let origin = busy_origin(&data, 128 * 1024).await;
    let tracker = TrackerProcess::start().await;
    let files = TempDir::new("seeds");
    let file = seed_file(&files, &data);
    let s1 = SeederProcess::start(&file, &[&tracker.url], &[]).await;
    let _s2 = SeederProcess::start(&file, &[&tracker.url], &[]).await;
    assert_eq!(s1.sha256, origin.sha256_hex(0));

    // A second tracker that cannot be reached costs nothing: the live one serves.
    origin.hold();
    let got = Leecher::start(&origin.url(), &["ws://127.0.0.1:1", &tracker.url], &[]);
    let got = after_meeting(&origin, got).await;
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

#[tokio::test(flavor = "multi_thread")]
async fn a_peer_sending_corrupt_blocks_is_banned_and_the_file_is_still_right() {
    // The only peer flips a byte in every block it sends; the origin is slow (8 s
    // for the file), so the downloader meets that peer and asks it for blocks.
    let data = content(4 * MIB, 2);
    let origin = busy_origin(&data, 128 * 1024).await;
    let tracker = TrackerProcess::start().await;
    let files = TempDir::new("seeds");
    let file = seed_file(&files, &data);
    let _bad = SeederProcess::start(&file, &[&tracker.url], &["--corrupt-uploads"]).await;

    origin.hold();
    let got = Leecher::start(&origin.url(), &[&tracker.url], &[]);
    let got = after_meeting(&origin, got).await;
    assert!(got.bytes == data, "the file is byte for byte the origin's");
    assert_eq!(
        got.peers_banned, 1,
        "the corrupting peer was banned\n{}",
        got.log
    );
    assert_eq!(got.from_peers, 0, "no corrupt block was kept");
    assert!(got.from_origin >= data.len() as u64);
}

/// A seeder's `config.toml` capping its upload, so a transfer lasts long enough to
/// be interrupted.
fn upload_cap(bytes_per_sec: u64) -> String {
    format!("max_upload_bytes_per_sec = {bytes_per_sec}\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_seeder_killed_mid_transfer_leaves_the_download_to_finish() {
    let data = content(16 * MIB, 3);
    let origin = busy_origin(&data, 512 * 1024).await;
    let tracker = TrackerProcess::start().await;
    let files = TempDir::new("seeds");
    let file = seed_file(&files, &data);
    let mut seeder =
        SeederProcess::start_with_config(&file, &[&tracker.url], &[], &upload_cap(2_000_000)).await;

    // The origin waits until the two have met, so the leecher cannot finish first.
    origin.hold();
    let leecher = Leecher::start(&origin.url(), &[&tracker.url], &[]);
    wait_for_log(seeder.state.path(), "peer connected").await;
    origin.release();
    tokio::time::sleep(Duration::from_secs(1)).await;
    seeder.kill().await;
    let got = leecher.finish(Duration::from_secs(120)).await;
    assert!(got.bytes == data, "the file is byte for byte the origin's");
    assert!(got.from_peers > 0, "the seeder served before it died");
    assert!(
        got.from_peers < data.len() as u64,
        "the seeder died before it could serve everything"
    );
    assert!(got.from_origin > 0, "the origin took over");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tracker_killed_mid_download_leaves_connected_peers_serving() {
    let data = content(16 * MIB, 4);
    let origin = busy_origin(&data, 128 * 1024).await;
    let mut tracker = TrackerProcess::start().await;
    let files = TempDir::new("seeds");
    let file = seed_file(&files, &data);
    let seeder =
        SeederProcess::start_with_config(&file, &[&tracker.url], &[], &upload_cap(4_000_000)).await;

    origin.hold();
    let leecher = Leecher::start(&origin.url(), &[&tracker.url], &[]);
    wait_for_log(seeder.state.path(), "peer connected").await;
    tracker.kill().await;
    origin.release();
    let got = leecher.finish(Duration::from_secs(120)).await;
    assert!(got.bytes == data, "the file is byte for byte the origin's");
    // At 4 MB/s the seeder needs about 4 s for the file; a peer cut off with the
    // tracker would have served a fraction of it.
    assert!(
        got.from_peers > data.len() as u64 / 2,
        "the connected seeder went on serving: {} from peers, {} from the origin",
        got.from_peers,
        got.from_origin
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flash_crowd_shares_the_origin_instead_of_each_fetching_everything() {
    // Four downloaders start together; nobody has the file yet. The origin
    // publishes the leaf layer (Metalink pieces), so they can check each other's
    // blocks and divide the origin's work.
    let data = content(16 * MIB, 5);
    let mut cfg = OriginConfig::memory(data.clone());
    cfg.throttle_total = Some(4 * MIB as u64);
    cfg.metalink = true;
    // Held until every member has met another, however slowly on a loaded machine.
    cfg.faults.held = true;
    let origin = TestOrigin::start(cfg).await.unwrap();
    let tracker = TrackerProcess::start().await;
    let crowd: Vec<Leecher> = (0..4)
        .map(|_| Leecher::start(&origin.url(), &[&tracker.url], &["--seed-for", "10s"]))
        .collect();
    for l in &crowd {
        wait_for_log(l.state.path(), "peer connected").await;
    }
    origin.release();
    let mut peer_bytes = 0;
    for l in crowd {
        let got = l.finish(Duration::from_secs(180)).await;
        assert!(got.bytes == data, "every member gets the right file");
        peer_bytes += got.from_peers;
        println!(
            "{} from peers, {} from the origin, {:.2} s",
            got.from_peers, got.from_origin, got.seconds
        );
    }
    let served = origin.stats().body_bytes();
    println!("origin served {served} bytes for 4 × {}", data.len());
    assert!(
        served < 2 * data.len() as u64,
        "the origin served {served} bytes, not about 4 × {}",
        data.len()
    );
    assert!(peer_bytes > data.len() as u64, "members served each other");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_seeder_uploads_no_faster_than_its_policy_allows() {
    let data = content(6 * MIB, 6);
    let origin = busy_origin(&data, 64 * 1024).await;
    let tracker = TrackerProcess::start().await;
    let files = TempDir::new("seeds");
    let file = seed_file(&files, &data);
    let cap = 1_000_000u64;
    let _seeder =
        SeederProcess::start_with_config(&file, &[&tracker.url], &[], &upload_cap(cap)).await;
    let got = Leecher::start(&origin.url(), &[&tracker.url], &[])
        .finish(Duration::from_secs(120))
        .await;
    assert!(got.bytes == data);
    assert!(got.from_peers > 0, "the seeder served");
    let rate = got.from_peers as f64 / got.seconds;
    assert!(
        rate < cap as f64 * 1.25,
        "{rate:.0} bytes/s from a seeder capped at {cap}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_disabled_by_policy_serves_nobody() {
    let data = content(4 * MIB, 7);
    let origin = busy_origin(&data, 8 * MIB as u64).await;
    let tracker = TrackerProcess::start().await;
    let files = TempDir::new("seeds");
    let file = seed_file(&files, &data);

    // `seed` refuses outright.
    let state = TempDir::new("no-upload");
    std::fs::write(state.join("config.toml"), "upload_enabled = false\n").unwrap();
    let out = common::host(
        state.path(),
        files.path(),
        &["seed", file.to_str().unwrap(), "--tracker", &tracker.url],
    )
    .await;
    assert!(!out.status.success());
    assert!(common::stderr(&out).contains("upload_enabled"));

    // Two downloaders start together on a busy origin that publishes the leaf
    // layer, so they could trade blocks: the one that may not upload gives nothing.
    // The origin is slow enough (8 s for the file) that they meet long before
    // either is done.
    drop(origin);
    let data = content(8 * MIB, 10);
    let mut cfg = OriginConfig::memory(data.clone());
    cfg.throttle_total = Some(MIB as u64);
    cfg.metalink = true;
    // Held until the two have met.
    cfg.faults.held = true;
    let origin = TestOrigin::start(cfg).await.unwrap();
    let taker = Leecher::start_with_config(
        &origin.url(),
        &[&tracker.url],
        &[],
        "upload_enabled = false\n",
    );
    let giver = Leecher::start(&origin.url(), &[&tracker.url], &["--seed-for", "2s"]);
    wait_for_log(giver.state.path(), "peer connected").await;
    origin.release();
    let (taker, giver) = tokio::join!(
        taker.finish(Duration::from_secs(120)),
        giver.finish(Duration::from_secs(120))
    );
    assert!(taker.bytes == data && giver.bytes == data);
    assert_eq!(
        giver.from_peers, 0,
        "nothing came from the peer that may not upload"
    );
    // That zero means something only if they met while the giver still downloaded.
    let met = giver.log.find("peer connected");
    let done = giver.log.find("added to the seeding cache");
    assert!(
        met.is_some() && met < done,
        "the two met before the giver finished\n--- giver ---\n{}",
        giver.log
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_changed_on_disk_is_never_served_as_good_content() {
    let data = content(4 * MIB, 8);
    let origin = busy_origin(&data, 128 * 1024).await;
    let tracker = TrackerProcess::start().await;
    let files = TempDir::new("seeds");
    let file = seed_file(&files, &data);
    let _seeder = SeederProcess::start(&file, &[&tracker.url], &[]).await;
    // After the seeder hashed it, the first megabyte changes in place.
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
        f.write_all_at(&vec![0xee; MIB], 0).unwrap();
    }
    origin.hold();
    let got = Leecher::start(&origin.url(), &[&tracker.url], &[]);
    let got = after_meeting(&origin, got).await;
    assert!(got.bytes == data, "the file is byte for byte the origin's");
    assert_eq!(
        got.peers_banned, 0,
        "the seeder refused its changed blocks instead of sending them"
    );
    assert!(
        got.from_origin >= MIB as u64,
        "the changed megabyte came from the origin: {} bytes",
        got.from_origin
    );
    assert!(
        got.from_peers > 0,
        "the unchanged rest came from the seeder"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn peers_of_different_groups_never_meet_on_one_tracker() {
    let data = content(4 * MIB, 9);
    let origin = busy_origin(&data, 128 * 1024).await;
    let tracker = TrackerProcess::start().await;
    let files = TempDir::new("seeds");
    let file = seed_file(&files, &data);
    let _seeder =
        SeederProcess::start_with_config(&file, &[&tracker.url], &[], "group_id = \"red\"\n").await;
    let blue =
        Leecher::start_with_config(&origin.url(), &[&tracker.url], &[], "group_id = \"blue\"\n")
            .finish(Duration::from_secs(60))
            .await;
    assert!(blue.bytes == data);
    assert_eq!(blue.from_peers, 0, "another group's seeder is never met");
    origin.hold();
    let red =
        Leecher::start_with_config(&origin.url(), &[&tracker.url], &[], "group_id = \"red\"\n");
    let red = after_meeting(&origin, red).await;
    assert!(red.bytes == data);
    assert!(red.from_peers > 0, "the seeder of the same group serves");
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_explains_bad_input_and_exits() {
    let dir = TempDir::new("seed-bad");
    let state = dir.join("state");
    let file = seed_file(&dir, b"some bytes");
    let empty = dir.join("empty.bin");
    std::fs::write(&empty, b"").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["seed", "missing.bin", "--tracker", "ws://127.0.0.1:1"],
            "missing.bin",
        ),
        (
            vec![
                "seed",
                dir.path().to_str().unwrap(),
                "--tracker",
                "ws://127.0.0.1:1",
            ],
            "not a regular file",
        ),
        (
            vec![
                "seed",
                empty.to_str().unwrap(),
                "--tracker",
                "ws://127.0.0.1:1",
            ],
            "nothing to share",
        ),
        (vec!["seed", file.to_str().unwrap()], "no tracker"),
        (
            vec!["seed", file.to_str().unwrap(), "--tracker", "http://x"],
            "not a ws:// or wss:// URL",
        ),
    ];
    for (args, says) in cases {
        let out = tokio::time::timeout(
            Duration::from_secs(30),
            common::host(&state, dir.path(), &args),
        )
        .await
        .expect("seed exits at once on bad input");
        assert!(!out.status.success(), "{args:?}");
        let err = common::stderr(&out);
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
}

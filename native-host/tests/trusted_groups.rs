//! Trusted groups (`trust_mode = "trusted_group"`): members of one group share a file
//! whose origin publishes no digest, through a mapping one member published on the
//! group's tracker. Real processes throughout: the test origin, `swarmload-tracker`,
//! and `swarmload-host get` for each member.

mod common;

use std::time::Duration;

use common::swarm::{Leecher, Summary, TrackerProcess, wait_for_log};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use swarmload_core::content::Hash32;
use swarmload_core::group_mapping::{GroupKey, Subject};
use swarmload_core::tracker_protocol as protocol;
use swarmload_tests::origin::{OriginConfig, TestOrigin};
use swarmload_tests::random_bytes;
use tokio_tungstenite::tungstenite::Message;

const MIB: usize = 1024 * 1024;
const SECRET: &str = "blue-team-0f3a9c2e7d51b8a4";

fn member(secret: &str) -> String {
    format!("trust_mode = \"trusted_group\"\ngroup_secret = \"{secret}\"\n")
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// An origin with an ETag and no digest of any kind; `throttle` bytes/s per
/// connection.
async fn origin(data: &[u8], throttle: Option<u64>) -> TestOrigin {
    let mut cfg = OriginConfig::memory(data.to_vec());
    cfg.path = "/builds/setup-7.4.exe".into();
    cfg.repr_digest = false;
    cfg.etag = true;
    cfg.throttle_per_connection = throttle;
    TestOrigin::start(cfg).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_members_share_a_file_with_no_published_digest_and_an_outsider_cannot() {
    let data = random_bytes(4 * MIB, 71);
    let hex = sha256_hex(&data);
    let tracker = TrackerProcess::start().await;
    let o = origin(&data, Some(256 * 1024)).await;

    // The first member downloads from the origin, computes the SHA-256, publishes
    // the mapping, and serves the file.
    let mut first = Leecher::start_with_config(
        &o.url(),
        &[&tracker.url],
        &["--seed-for", "120s"],
        &member(SECRET),
    );
    let a = first.completed().await;
    assert_eq!(a["sha256"], hex);
    assert_eq!(a["digest_source"], Value::Null, "{a}");
    assert_eq!(a["from_peers"], 0);
    assert_eq!(a["group_published"], 1, "{a}");
    wait_for_log(first.state.path(), "tracker connected").await;

    // A second member finds the mapping and gets most of the file from the first
    // (the origin waits until they have met, however slowly on a loaded machine).
    o.hold();
    let b = Leecher::start_with_config(&o.url(), &[&tracker.url], &[], &member(SECRET));
    wait_for_log(b.state.path(), "peer connected").await;
    o.release();
    let b = b.finish(Duration::from_secs(120)).await;
    assert!(b.bytes == data);
    assert_eq!(b.json["digest_source"], "group", "{}", b.json);
    assert_eq!(b.json["not_swarmed"], Value::Null);
    assert!(
        b.from_peers > data.len() as u64 / 2,
        "the group's peer served: {} from peers, {} from the origin",
        b.from_peers,
        b.from_origin
    );

    // A host with another secret, on the same tracker, finds nothing it may use.
    let outsider = Leecher::start_with_config(
        &o.url(),
        &[&tracker.url],
        &[],
        &member("red-team-5b7d0e4c9a8f1236"),
    )
    .finish(Duration::from_secs(120))
    .await;
    assert!(outsider.bytes == data);
    assert_eq!(
        outsider.json["digest_source"],
        Value::Null,
        "{}",
        outsider.json
    );
    assert_eq!(outsider.from_peers, 0);
    assert!(
        outsider.json["not_swarmed"]
            .as_str()
            .is_some_and(|w| w.contains("group had no mapping")),
        "{}",
        outsider.json
    );

    // Nor does a host that is not in trusted_group mode at all.
    let plain = Leecher::start(&o.url(), &[&tracker.url], &[])
        .finish(Duration::from_secs(120))
        .await;
    assert_eq!(plain.json["digest_source"], Value::Null, "{}", plain.json);
    assert_eq!(plain.from_peers, 0);
    assert_eq!(plain.json["group_published"], Value::Null);
}

/// A member's download, with the origin held until its log says `lookup_done`: the
/// group look-up runs beside the download, and these tests need it to end first.
async fn member_after_lookup(o: &TestOrigin, tracker: &str, lookup_done: &str) -> Summary {
    o.hold();
    let l = Leecher::start_with_config(&o.url(), &[tracker], &[], &member(SECRET));
    wait_for_log(l.state.path(), lookup_done).await;
    o.release();
    l.finish(Duration::from_secs(120)).await
}

/// Puts `record` on the tracker as anyone can (no secret needed), from the loopback
/// address 127.0.0.`from`: the tracker counts what each address may hold, and the
/// members here connect from 127.0.0.1.
async fn put(tracker: &str, from: u8, text: String) {
    let to = tracker.strip_prefix("ws://").unwrap().parse().unwrap();
    let tcp = swarmload_tests::connect_from_loopback(to, from)
        .await
        .unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(tracker, tcp).await.unwrap();
    ws.send(Message::text(text)).await.unwrap();
    let reply = ws.next().await.unwrap().unwrap();
    assert!(
        reply.to_text().unwrap().contains("\"stored\":true"),
        "{reply}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_mapping_is_refused_a_newer_one_hides_nothing_and_a_disagreeing_one_voids_both() {
    let data = random_bytes(2 * MIB + 5, 72);
    let hex = sha256_hex(&data);
    let tracker = TrackerProcess::start().await;
    // Slow enough that each look-up answers while its download runs.
    let o = origin(&data, Some(256 * 1024)).await;

    // Someone who saw the group's lookups knows the id, but not the secret: the
    // record names other content and its MAC is made with another key.
    let probe = reqwest::Client::new().head(o.url()).send().await.unwrap();
    let header = |name: &str| {
        probe
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let (etag, modified) = (header("etag"), header("last-modified"));
    let url = url::Url::parse(&o.url()).unwrap();
    let subject = Subject::new(
        &url,
        etag.as_deref(),
        modified.as_deref(),
        data.len() as u64,
    )
    .unwrap();
    let id = GroupKey::from_secret(SECRET).map_id(&subject);
    let evil = Hash32([0xee; 32]);
    let forge = |n: u8| {
        let claim = Hash32([n; 32]);
        let record = GroupKey::from_secret("not-the-group-secret-at-all").seal(
            &id,
            claim,
            data.len() as u64,
        );
        protocol::mapping_put_request(&id, &record)
    };
    put(&tracker.url, 2, forge(0xee)).await;

    let d = member_after_lookup(&o, &tracker.url, "group mapping refused").await;
    assert!(d.bytes == data, "the download is right all the same");
    assert_eq!(d.json["digest_source"], Value::Null, "{}", d.json);
    assert!(d.log.contains("group mapping refused"), "{}", d.log);
    // Its own download published the real mapping.
    assert_eq!(d.json["group_published"], 1, "{}", d.json);

    // Newer forgeries, a flood of them from one address, do not hide the real
    // record from the next member: the tracker keeps two per address and id.
    for n in 0..10 {
        put(&tracker.url, 2, forge(n)).await;
    }
    let e = member_after_lookup(&o, &tracker.url, "trusted digest learned").await;
    assert!(e.bytes == data);
    assert_eq!(e.json["digest_source"], "group", "{}", e.json);
    assert_eq!(e.json["sha256"], hex);

    // A record made with the secret that names other bytes (a member saw another
    // version under the same validators): the two disagree, and neither is used.
    let other = GroupKey::from_secret(SECRET).seal(&id, evil, data.len() as u64);
    put(&tracker.url, 3, protocol::mapping_put_request(&id, &other)).await;
    let f = member_after_lookup(&o, &tracker.url, "group mappings disagree").await;
    assert!(f.bytes == data);
    assert_eq!(f.json["digest_source"], Value::Null, "{}", f.json);
    assert!(f.log.contains("group mappings disagree"), "{}", f.log);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plain_webtorrent_tracker_refuses_the_mapping_actions_and_downloads_go_on() {
    let data = random_bytes(MIB, 73);
    // Answers the mapping actions with "invalid action", as bittorrent-tracker does.
    let tracker = TrackerProcess::start_with("127.0.0.1:0", &["--max-mapping-ids", "0"]).await;
    let o = origin(&data, None).await;
    for _ in 0..2 {
        let got = Leecher::start_with_config(&o.url(), &[&tracker.url], &[], &member(SECRET))
            .finish(Duration::from_secs(60))
            .await;
        assert!(got.bytes == data);
        assert_eq!(got.json["digest_source"], Value::Null, "{}", got.json);
        assert_eq!(got.json["group_published"], 0, "{}", got.json);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_download_without_a_validator_is_never_mapped() {
    let data = random_bytes(MIB, 74);
    let tracker = TrackerProcess::start().await;
    let mut cfg = OriginConfig::memory(data.clone());
    cfg.repr_digest = false;
    cfg.etag = false;
    cfg.last_modified = false;
    let o = TestOrigin::start(cfg).await.unwrap();
    let got = Leecher::start_with_config(&o.url(), &[&tracker.url], &[], &member(SECRET))
        .finish(Duration::from_secs(60))
        .await;
    assert!(got.bytes == data);
    assert_eq!(got.json["group_published"], Value::Null, "{}", got.json);
    assert!(
        got.log.contains("no group mapping published"),
        "{}",
        got.log
    );
}

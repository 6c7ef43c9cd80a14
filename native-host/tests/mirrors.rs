//! Metalink/HTTP mirrors (`Link: rel=duplicate`, RFC 6249) as extra origin sources:
//! `swarmload-host get` spreads its ranges over the origin and its mirrors when the
//! digest is trusted, drops a mirror that answers wrongly, starts over from the
//! origin alone when a mirror's bytes spoil the whole, and never asks a mirror for
//! content without a trusted digest. Real HTTP servers on 127.0.0.1 throughout.

mod common;

use common::{TempDir, host, stderr};
use serde_json::Value;
use swarmload_tests::origin::{OriginConfig, TestOrigin};
use swarmload_tests::random_bytes;

const MIB: usize = 1024 * 1024;

/// A mirror at another address and path, with no digest of its own.
async fn mirror(data: Vec<u8>, throttle: Option<u64>) -> TestOrigin {
    let mut cfg = OriginConfig::memory(data);
    cfg.path = "/mirror/pub/app.bin".into();
    cfg.repr_digest = false;
    cfg.throttle_per_connection = throttle;
    TestOrigin::start(cfg).await.unwrap()
}

/// The origin, with `Repr-Digest` unless `digest` is off, naming `mirrors`.
async fn origin(data: Vec<u8>, mirrors: &[&TestOrigin], digest: bool) -> TestOrigin {
    let mut cfg = OriginConfig::memory(data);
    cfg.path = "/pub/app.bin".into();
    cfg.repr_digest = digest;
    cfg.throttle_per_connection = Some(512 * 1024);
    cfg.links = mirrors
        .iter()
        .enumerate()
        .map(|(i, m)| format!("<{}>; rel=duplicate; pri={}", m.url(), i + 1))
        .collect();
    TestOrigin::start(cfg).await.unwrap()
}

async fn get(url: &str) -> (Value, Vec<u8>, String) {
    let dir = TempDir::new("mirrors");
    let state = dir.join("state");
    let out = host(&state, dir.path(), &["get", url, "--json", "--no-seed"]).await;
    let log = std::fs::read_to_string(state.join("host.log")).unwrap_or_default();
    assert!(out.status.success(), "{}\n{log}", stderr(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let bytes = std::fs::read(json["path"].as_str().unwrap()).unwrap();
    (json, bytes, log)
}

#[tokio::test(flavor = "multi_thread")]
async fn mirrors_serve_ranges_beside_the_origin() {
    let data = random_bytes(8 * MIB, 81);
    let (m1, m2) = (
        mirror(data.clone(), Some(512 * 1024)).await,
        mirror(data.clone(), Some(512 * 1024)).await,
    );
    let o = origin(data.clone(), &[&m1, &m2], true).await;
    let (json, bytes, _) = get(&o.url()).await;
    assert!(bytes == data);
    let served = [
        o.stats().body_bytes(),
        m1.stats().body_bytes(),
        m2.stats().body_bytes(),
    ];
    // Each of the three throttled servers carried a real share.
    for (who, n) in ["origin", "mirror 1", "mirror 2"].iter().zip(served) {
        assert!(
            n > data.len() as u64 / 8,
            "{who} served {n} bytes: {served:?}"
        );
    }
    let reported: Vec<u64> = json["mirrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["bytes"].as_u64().unwrap())
        .collect();
    assert_eq!(reported.len(), 2, "{json}");
    assert!(reported.iter().all(|&n| n > 0), "{json}");
    // No mirror is asked with the origin's validators: they are the origin's own.
    assert!(m1.stats().requests().iter().all(|r| r.if_range.is_none()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mirror_of_another_size_is_dropped_and_the_origin_carries_on() {
    let data = random_bytes(3 * MIB, 82);
    let mut other = data.clone();
    other.truncate(3 * MIB - 1000);
    let bad = mirror(other, None).await;
    let o = origin(data.clone(), &[&bad], true).await;
    let (json, bytes, log) = get(&o.url()).await;
    assert!(bytes == data);
    assert_eq!(json["mirrors"][0]["dropped"], true, "{json}");
    assert_eq!(json["mirrors"][0]["bytes"], 0, "{json}");
    assert!(log.contains("mirror dropped"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mirror_with_other_bytes_costs_a_second_try_not_the_download() {
    let data = random_bytes(3 * MIB, 83);
    // Same size, other content: nothing tells until the whole is checked.
    let bad = mirror(random_bytes(3 * MIB, 84), None).await;
    let o = origin(data.clone(), &[&bad], true).await;
    let (json, bytes, log) = get(&o.url()).await;
    assert!(bytes == data, "the saved file is the right one");
    assert!(log.contains("starting over from the origin alone"), "{log}");
    assert!(bad.stats().body_bytes() > 0, "the mirror was used first");
    assert_eq!(
        json["mirrors"],
        serde_json::json!([]),
        "the second try had none: {json}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mirrors_are_never_asked_without_a_trusted_digest() {
    let data = random_bytes(2 * MIB, 85);
    let m = mirror(data.clone(), None).await;
    let o = origin(data.clone(), &[&m], false).await;
    let (json, bytes, _) = get(&o.url()).await;
    assert!(bytes == data);
    assert_eq!(m.stats().requests().len(), 0);
    assert_eq!(json["mirrors"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mirror_that_keeps_failing_is_dropped_after_a_few_tries() {
    let data = random_bytes(3 * MIB, 86);
    let mut cfg = OriginConfig::memory(data.clone());
    cfg.path = "/mirror/pub/app.bin".into();
    cfg.repr_digest = false;
    cfg.faults.fail_first_gets = u64::MAX;
    let broken = TestOrigin::start(cfg).await.unwrap();
    let o = origin(data.clone(), &[&broken], true).await;
    let (json, bytes, log) = get(&o.url()).await;
    assert!(bytes == data);
    assert_eq!(json["mirrors"][0]["dropped"], true, "{json}");
    assert!(log.contains("mirror dropped"), "{log}");
    // A few tries, not one per range for ever.
    let asked = broken.stats().requests().len();
    assert!(asked < 10, "the broken mirror was asked {asked} times");
}

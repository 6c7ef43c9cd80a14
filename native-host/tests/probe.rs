//! The probe against a real HTTP origin on 127.0.0.1: what it asks for and what it
//! learns.

use reqwest::header::HeaderMap;
use sha2::Digest;
use swarmload_core::content::Hash32;
use swarmload_host::origin::probe;
use swarmload_tests::origin::{OriginConfig, TestOrigin};
use swarmload_tests::random_bytes;

#[tokio::test(flavor = "multi_thread")]
async fn the_probe_asks_for_the_digest_and_a_server_that_computes_it_on_demand_sends_it() {
    let data = random_bytes(300_000, 31);
    let mut cfg = OriginConfig::memory(data.clone());
    cfg.repr_digest_when_wanted = true;
    let origin = TestOrigin::start(cfg).await.unwrap();
    let client = reqwest::Client::new();

    // Unasked, this server sends no digest ...
    let plain = client.head(origin.url()).send().await.unwrap();
    assert!(plain.headers().get("repr-digest").is_none());

    // ... asked (RFC 9530 `Want-Repr-Digest`), it does, and the probe trusts it.
    let url = origin.url().parse().unwrap();
    let info = probe(&client, &url, &HeaderMap::new()).await.unwrap();
    assert_eq!(
        info.digest,
        Some(Hash32(sha2::Sha256::digest(&data).into())),
        "{info:?}"
    );
    let asked: Vec<_> = origin
        .stats()
        .requests()
        .into_iter()
        .skip(1)
        .map(|r| r.want_repr_digest)
        .collect();
    assert!(!asked.is_empty());
    assert!(
        asked.iter().all(|w| w.as_deref() == Some("sha-256=10")),
        "{asked:?}"
    );
}

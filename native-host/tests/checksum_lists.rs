//! Checksum lists beside the file on the same origin as a trusted digest, with
//! `swarmload-host get` against a real HTTP origin that sends no digest header:
//! each list format, wrong, malformed and oversized lists, a list on another
//! origin, a slow list, and the swarm joining once the digest arrives.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::swarm::{Leecher, SeederProcess, TrackerProcess, wait_for_log};
use common::{TempDir, host, stderr};
use serde_json::Value;
use swarmload_tests::origin::{ExtraFile, OriginConfig, TestOrigin};
use swarmload_tests::random_bytes;

const MIB: usize = 1024 * 1024;
const NAME: &str = "tool-1.2.3-linux-amd64.tar.gz";

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// An origin serving `data` at `/releases/1.2.3/NAME`, without any digest header,
/// and `lists` (name in that directory, body, delay) beside it.
async fn origin(data: &[u8], lists: &[(&str, String, Option<Duration>)]) -> TestOrigin {
    let mut cfg = OriginConfig::memory(data.to_vec());
    cfg.path = format!("/releases/1.2.3/{NAME}");
    cfg.repr_digest = false;
    cfg.extra_files = lists
        .iter()
        .map(|(name, body, delay)| ExtraFile {
            path: format!("/releases/1.2.3/{name}"),
            body: Bytes::from(body.clone()),
            delay: *delay,
        })
        .collect();
    TestOrigin::start(cfg).await.unwrap()
}

/// An origin with one list, whose content is held: see [`get_after_learning`].
async fn origin_read_list_first(data: &[u8], list: &str, body: String) -> TestOrigin {
    let mut cfg = OriginConfig::memory(data.to_vec());
    cfg.path = format!("/releases/1.2.3/{NAME}");
    cfg.repr_digest = false;
    cfg.extra_files = vec![ExtraFile {
        path: format!("/releases/1.2.3/{list}"),
        body: Bytes::from(body),
        delay: None,
    }];
    cfg.faults.held = true;
    TestOrigin::start(cfg).await.unwrap()
}

/// `get --json` of a held origin's content, released once the download learned a
/// digest from the lists: a list read after the end cannot name a finished file,
/// and these tests need it read before. Also returns the directory it ran in.
async fn get_after_learning(o: &TestOrigin) -> (std::process::Output, Value, TempDir) {
    let dir = TempDir::new("checksum-get");
    let state = dir.join("state");
    let url = o.url();
    let args = ["get", url.as_str(), "--json"];
    let (out, ()) = tokio::join!(host(&state, dir.path(), &args), async {
        wait_for_log(&state, "trusted digest learned").await;
        o.release();
    });
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, v, dir)
}

async fn get_json(url: &str) -> (std::process::Output, Value) {
    let dir = TempDir::new("checksum-get");
    let out = host(&dir.join("state"), dir.path(), &["get", url, "--json"]).await;
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, v)
}

fn requested(origin: &TestOrigin, path: &str) -> usize {
    origin
        .stats()
        .requests()
        .iter()
        .filter(|r| r.path == path)
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_list_format_gives_the_digest_by_the_files_exact_name() {
    let data = random_bytes(MIB + 77, 41);
    let hex = sha256_hex(&data);
    let other = sha256_hex(b"another file");
    for (list, body) in [
        (
            "SHA256SUMS",
            format!("{other}  {NAME}.asc\n{hex} *{NAME}\n{other}  tool-1.2.3-linux-arm64.tar.gz\n"),
        ),
        (
            "SHASUMS256.txt",
            format!("SHA256 (tool.zip) = {other}\nSHA256 ({NAME}) = {hex}\n"),
        ),
        ("checksums.txt", format!("{other} tool.zip\n{hex} {NAME}\n")),
        (&format!("{NAME}.sha256"), format!("{hex}\n")),
        (
            "SHA256SUMS",
            format!(
                "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n{hex}  {NAME}\n-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n"
            ),
        ),
    ] {
        let o = origin_read_list_first(&data, list, body).await;
        let (out, v, _) = get_after_learning(&o).await;
        assert!(out.status.success(), "{list}: {}", stderr(&out));
        assert_eq!(v["sha256"], hex, "{list}");
        assert_eq!(v["digest_source"], "checksum_file", "{list}: {v}");
        assert!(
            v["checksum_list"]
                .as_str()
                .is_some_and(|u| u.ends_with(&format!("/releases/1.2.3/{list}"))),
            "{list}: {v}"
        );
        assert_eq!(v["not_swarmed"], Value::Null, "{list}: {v}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_list_that_contradicts_the_file_fails_the_download_visibly() {
    let data = random_bytes(MIB, 42);
    let wrong = sha256_hex(b"not these bytes");
    let o = origin_read_list_first(&data, "SHA256SUMS", format!("{wrong}  {NAME}\n")).await;
    let (out, _, dir) = get_after_learning(&o).await;
    assert!(
        !out.status.success(),
        "a file its own checksum list refutes"
    );
    assert!(
        stderr(&out).contains("SHA-256") || stderr(&out).contains("digest"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.join(NAME).exists(), "no file under the final name");
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_oversized_and_unrelated_lists_are_ignored() {
    let data = random_bytes(MIB, 43);
    let hex = sha256_hex(&data);
    let huge = format!("{hex}  {NAME}\n").repeat(20_000);
    let o = origin(
        &data,
        &[
            (
                "SHA256SUMS",
                "<html><body>Not Found</body></html>".into(),
                None,
            ),
            ("SHASUMS256.txt", huge, None),
            (
                "checksums.txt",
                format!("{hex}  some-other-file.tar.gz\n"),
                None,
            ),
            (&format!("{NAME}.sha256"), format!("{}\n", &hex[..40]), None),
        ],
    )
    .await;
    let (out, v) = get_json(&o.url()).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v["sha256"], hex, "the file itself is fine");
    assert_eq!(v["digest_source"], Value::Null, "{v}");
    assert!(
        v["not_swarmed"]
            .as_str()
            .is_some_and(|w| w.contains("no trusted SHA-256")),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_list_on_another_origin_is_never_asked() {
    let data = random_bytes(MIB, 44);
    let hex = sha256_hex(&data);
    // The same directory on another origin has a list for the file.
    let elsewhere = origin(&data, &[("SHA256SUMS", format!("{hex}  {NAME}\n"), None)]).await;
    // The content waits until the look-up asked for the list (else the download
    // could end, and the process with it, before the look-up asked anything).
    let mut cfg = OriginConfig::memory(data.clone());
    cfg.path = format!("/releases/1.2.3/{NAME}");
    cfg.repr_digest = false;
    cfg.faults.content_waits_for = Some("/releases/1.2.3/SHA256SUMS".into());
    let o = TestOrigin::start(cfg).await.unwrap();
    let (out, v) = get_json(&o.url()).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v["digest_source"], Value::Null, "{v}");
    assert_eq!(
        requested(&elsewhere, "/releases/1.2.3/SHA256SUMS"),
        0,
        "another origin is never asked"
    );
    assert!(
        requested(&o, "/releases/1.2.3/SHA256SUMS") == 1,
        "the file's own origin is"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_list_never_delays_the_download() {
    let data = random_bytes(2 * MIB, 45);
    let hex = sha256_hex(&data);
    let delay = Duration::from_secs(4);
    let o = origin(
        &data,
        &[("SHA256SUMS", format!("{hex}  {NAME}\n"), Some(delay))],
    )
    .await;
    let (out, v) = get_json(&o.url()).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let secs = v["seconds"].as_f64().unwrap();
    assert!(
        secs < delay.as_secs_f64(),
        "finished in {secs} s, before the list arrived"
    );
    assert_eq!(v["sha256"], hex);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_swarm_joins_when_the_lists_digest_arrives() {
    let data = random_bytes(4 * MIB, 46);
    let hex = sha256_hex(&data);
    let tracker = TrackerProcess::start().await;
    let files = TempDir::new("checksum-seed");
    let file = files.join(NAME);
    std::fs::write(&file, &data).unwrap();
    let _seeder = SeederProcess::start(&file, &[&tracker.url], &[]).await;
    // A busy origin with no digest header; its SHA256SUMS names the file.
    let mut cfg = OriginConfig::memory(data.clone());
    cfg.path = format!("/releases/1.2.3/{NAME}");
    cfg.repr_digest = false;
    cfg.throttle_per_connection = Some(128 * 1024);
    cfg.extra_files = vec![ExtraFile {
        path: "/releases/1.2.3/SHA256SUMS".into(),
        body: Bytes::from(format!("{hex}  {NAME}\n")),
        delay: None,
    }];
    // Held until the downloader has met the seeder, however slowly on a loaded machine.
    cfg.faults.held = true;
    let o = TestOrigin::start(cfg).await.unwrap();
    let got = Leecher::start(&o.url(), &[&tracker.url], &[]);
    wait_for_log(got.state.path(), "peer connected").await;
    o.release();
    let got = got.finish(Duration::from_secs(120)).await;
    assert!(got.bytes == data);
    assert_eq!(got.json["digest_source"], "checksum_file", "{}", got.json);
    assert!(
        got.from_peers > data.len() as u64 / 2,
        "peers served once the digest named the swarm: {} from peers, {} from the origin",
        got.from_peers,
        got.from_origin
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_list_name_the_server_stalls_on_does_not_cost_the_others() {
    let data = random_bytes(4 * MIB, 47);
    let hex = sha256_hex(&data);
    let mut cfg = OriginConfig::memory(data.clone());
    cfg.path = format!("/releases/1.2.3/{NAME}");
    cfg.repr_digest = false;
    // About 8 s of download, however many connections: the look-up (3 s for the
    // stalled name) ends well within.
    cfg.throttle_total = Some(512 * 1024);
    cfg.extra_files = vec![
        ExtraFile {
            path: "/releases/1.2.3/checksums.txt".into(),
            body: Bytes::from(format!("{hex}  {NAME}\n")),
            delay: Some(Duration::from_secs(60)),
        },
        ExtraFile {
            path: "/releases/1.2.3/SHA256SUMS".into(),
            body: Bytes::from(format!("{hex}  {NAME}\n")),
            delay: None,
        },
    ];
    let o = TestOrigin::start(cfg).await.unwrap();
    let (out, v) = get_json(&o.url()).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v["digest_source"], "checksum_file", "{v}");
    assert!(
        v["checksum_list"]
            .as_str()
            .is_some_and(|u| u.ends_with("/SHA256SUMS")),
        "{v}"
    );
}

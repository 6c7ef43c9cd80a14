//! The real host binary in native-messaging mode, driven through framed stdin and
//! stdout as a browser drives it: the message set, malformed and oversized frames,
//! and downloads delivered through the loopback server.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{TempDir, host_bin};
use serde_json::{Value, json};
use swarmload_tests::origin::{OriginConfig, TestOrigin};
use swarmload_tests::random_bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

const EXTENSION: &str = "chrome-extension://abcdefghijklmnopabcdefghijklmnop/";

struct Host {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    /// Frames `request` read past while it waited for its reply, for `until`: an
    /// event may come before the reply that caused it (`failed` before `cancelled`).
    backlog: std::collections::VecDeque<Value>,
    _home: Option<TempDir>,
}

/// A state directory for a host: small downloads count in these tests, and no
/// tracker is contacted unless a test pushes one.
fn home() -> TempDir {
    let home = TempDir::new("nm");
    std::fs::write(
        home.join("config.toml"),
        "min_size_bytes = 1000\ntrackers = []\n",
    )
    .unwrap();
    home
}

impl Host {
    fn start(args: &[&str]) -> Host {
        let home = home();
        let mut h = Host::start_at(home.path(), args, &[]);
        h._home = Some(home);
        h
    }

    /// A host on an existing state directory, with extra environment variables.
    fn start_at(home: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Host {
        let mut child = Command::new(host_bin())
            .args(args)
            .envs(env.iter().copied())
            .env("SWARMLOAD_HOME", home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        Host {
            child,
            stdin,
            stdout,
            backlog: Default::default(),
            _home: None,
        }
    }

    async fn send_raw(&mut self, body: &[u8]) {
        let mut frame = (body.len() as u32).to_ne_bytes().to_vec();
        frame.extend_from_slice(body);
        self.stdin.write_all(&frame).await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    async fn send(&mut self, v: Value) {
        self.send_raw(v.to_string().as_bytes()).await;
    }

    /// The next frame; stdout must hold nothing but frames.
    async fn recv(&mut self) -> Option<Value> {
        let read = async {
            let mut len = [0u8; 4];
            self.stdout.read_exact(&mut len).await.ok()?;
            let len = u32::from_ne_bytes(len) as usize;
            assert!(len <= 1024 * 1024, "host→browser frame of {len} bytes");
            let mut body = vec![0u8; len];
            self.stdout.read_exact(&mut body).await.ok()?;
            Some(serde_json::from_slice::<Value>(&body).expect("every frame is JSON"))
        };
        tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .expect("the host answers")
    }

    /// Frames until one satisfies `pick` (progress events in between are collected),
    /// the backlog first.
    async fn until(&mut self, pick: impl Fn(&Value) -> bool) -> (Value, Vec<Value>) {
        let mut seen = Vec::new();
        loop {
            let v = match self.backlog.pop_front() {
                Some(v) => v,
                None => self.recv().await.expect("host closed stdout"),
            };
            if pick(&v) {
                return (v, seen);
            }
            seen.push(v);
        }
    }

    /// Sends `v` and returns its reply; other frames go to the backlog.
    async fn request(&mut self, v: Value) -> Value {
        let id = v["id"].clone();
        self.send(v).await;
        loop {
            let m = self.recv().await.expect("host closed stdout");
            if m["id"] == id && m["type"] != "progress" {
                return m;
            }
            self.backlog.push_back(m);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hello_then_bad_messages_get_errors_and_the_host_keeps_serving() {
    let mut h = Host::start(&[EXTENSION]);
    let hello = h.request(json!({"type": "hello", "id": 1})).await;
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["protocol"], 1);
    assert_eq!(hello["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        hello["delivery"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );

    for (body, code) in [
        (&b"{not json"[..], "bad_json"),
        (&b"\xff\xfe\x00"[..], "bad_json"),
        (&b"[1,2,3]"[..], "bad_message"),
        (&br#"{"id": 5}"#[..], "bad_message"),
        (&br#"{"type": "teleport", "id": 6}"#[..], "unknown_type"),
        (&br#"{"type": "cancel", "id": 7}"#[..], "bad_request"),
        (
            &br#"{"type": "cancel", "id": 8, "download": "nope"}"#[..],
            "unknown_download",
        ),
        (
            &br#"{"type": "policy", "id": 9, "policy": {"cache_max_byte": 1}}"#[..],
            "bad_policy",
        ),
    ] {
        h.send_raw(body).await;
        let e = h.recv().await.unwrap();
        assert_eq!(e["type"], "error", "{e}");
        assert_eq!(e["code"], code, "{e}");
    }
    let again = h
        .request(json!({"type": "hello", "id": "still-there"}))
        .await;
    assert_eq!(again["type"], "hello");

    // Closing stdin ends the session cleanly.
    drop(h.stdin);
    let status = tokio::time::timeout(Duration::from_secs(10), h.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_length_prefix_gets_an_error_and_a_clean_exit() {
    for len in [64 * 1024 * 1024 + 1, u32::MAX] {
        let mut h = Host::start(&[EXTENSION]);
        h.stdin.write_all(&len.to_ne_bytes()).await.unwrap();
        h.stdin.flush().await.unwrap();
        let e = h.recv().await.unwrap();
        assert_eq!(e["code"], "frame_too_large");
        assert_eq!(h.recv().await, None, "nothing after the error");
        let out = tokio::time::timeout(Duration::from_secs(10), h.child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // The largest legal message is read (and, being garbage, answered with an error).
    let mut h = Host::start(&[EXTENSION]);
    let big = vec![b'x'; 64 * 1024 * 1024];
    h.send_raw(&big).await;
    assert_eq!(h.recv().await.unwrap()["code"], "bad_json");
    assert_eq!(
        h.request(json!({"type": "hello", "id": 2})).await["type"],
        "hello"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn firefox_launch_arguments_are_recognised() {
    let home = TempDir::new("ff");
    let manifest = home.join("swarmload.json");
    let mut h = Host::start(&[manifest.to_str().unwrap(), "swarmload@example.org"]);
    assert_eq!(
        h.request(json!({"type": "hello", "id": 1})).await["type"],
        "hello"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn policy_push_and_resolve_decide_eligibility() {
    let data = random_bytes(300_000, 11);
    let origin = TestOrigin::start(OriginConfig::memory(data.clone()))
        .await
        .unwrap();
    let mut h = Host::start(&[EXTENSION]);
    let url = origin.url();
    let r = h
        .request(json!({"type": "resolve", "id": 1, "url": url}))
        .await;
    assert_eq!(r["type"], "resolved", "{r}");
    assert_eq!(r["eligible"], true);
    assert_eq!(r["p2p"], true);
    assert_eq!(r["size"], data.len() as u64);
    assert_eq!(r["sha256"], origin.sha256_hex(0));
    assert_eq!(r["filename"], "content.bin");

    let cookie = json!([{"name": "Cookie", "value": "session=1"}]);
    let r = h
        .request(json!({"type": "resolve", "id": 2, "url": url, "headers": cookie}))
        .await;
    assert_eq!(
        (r["eligible"].clone(), r["reason"].clone()),
        (json!(false), json!("credentials"))
    );
    let r = h
        .request(json!({"type": "resolve", "id": 3, "url": url, "incognito": true}))
        .await;
    assert_eq!(r["reason"], "incognito");
    let r = h
        .request(json!({"type": "resolve", "id": 4, "url": url, "method": "POST"}))
        .await;
    assert_eq!(r["reason"], "method");

    let p = h
        .request(json!({"type": "policy", "id": 5, "policy": {"blocked_domains": ["127.0.0.1"]}}))
        .await;
    assert_eq!(p["ok"], true, "{p}");
    assert_eq!(p["effective"]["blocked_domains"], json!(["127.0.0.1"]));
    assert_eq!(
        p["effective"]["min_size_bytes"], 1000,
        "the config file still counts"
    );
    let r = h
        .request(json!({"type": "resolve", "id": 6, "url": url}))
        .await;
    assert_eq!(r["reason"], "domain");
    // The origin saw no request for the refused ones.
    let probes = origin.stats().requests().len();
    let p = h
        .request(json!({"type": "policy", "id": 7, "policy": {"min_size_bytes": 1_000_000}}))
        .await;
    assert_eq!(p["ok"], true);
    let r = h
        .request(json!({"type": "resolve", "id": 8, "url": url}))
        .await;
    assert_eq!(r["reason"], "too_small");
    assert!(origin.stats().requests().len() > probes);

    // The options page's settings sit under the config file: they fill in what
    // neither enterprise policy nor config.toml sets, and override nothing above.
    let p = h
        .request(json!({"type": "policy", "id": 9, "policy": {},
            "settings": {"min_size_bytes": 5, "max_upload_bytes_per_sec": 12345}}))
        .await;
    assert_eq!(p["ok"], true, "{p}");
    assert_eq!(p["effective"]["min_size_bytes"], 1000);
    assert_eq!(p["effective"]["max_upload_bytes_per_sec"], 12345);
    let p = h
        .request(
            json!({"type": "policy", "id": 10, "policy": {"max_upload_bytes_per_sec": 7},
            "settings": {"max_upload_bytes_per_sec": 12345}}),
        )
        .await;
    assert_eq!(p["effective"]["max_upload_bytes_per_sec"], 7);
    let p = h
        .request(json!({"type": "policy", "id": 11, "policy": {},
            "settings": {"min_size_bytes": "big"}}))
        .await;
    assert_eq!(p["code"], "bad_policy", "{p}");
    assert!(
        p["message"].as_str().unwrap().contains("min_size_bytes"),
        "{p}"
    );
}

/// Reads a delivery URL the way a browser would; returns the status, the headers
/// and the body, and whether the body ended cleanly. A connection closed before any
/// response reads as status 0.
async fn fetch(url: &str, host_header: Option<&str>) -> (u16, String, Vec<u8>, bool) {
    let u = url::Url::parse(url).unwrap();
    let addr = format!("{}:{}", u.host_str().unwrap(), u.port().unwrap());
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let host = host_header.unwrap_or(&addr);
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
        u.path()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let clean = s.read_to_end(&mut raw).await.is_ok();
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (0, String::new(), Vec::new(), false);
    };
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head[9..12].parse().unwrap();
    let body = raw[split + 4..].to_vec();
    let declared: Option<usize> = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_string)
        })
        .and_then(|v| v.trim().parse().ok());
    let complete = clean && declared.is_none_or(|n| n == body.len());
    (status, head, body, complete)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_started_download_is_delivered_once_over_loopback_with_progress() {
    let data = random_bytes(3 * 1024 * 1024 + 5, 12);
    let mut cfg = OriginConfig::memory(data.clone());
    cfg.throttle_per_connection = Some(4_000_000);
    // Held until the checks below are made on a download still running.
    cfg.faults.held = true;
    let origin = TestOrigin::start(cfg).await.unwrap();
    let mut h = Host::start(&[EXTENSION]);
    let started = h
        .request(
            json!({"type": "start", "id": 1, "url": origin.url(), "filename": "report 2024.bin"}),
        )
        .await;
    assert_eq!(started["type"], "started", "{started}");
    let url = started["delivery_url"].as_str().unwrap().to_string();
    let download = started["download"].as_str().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"));

    // A request naming another host (DNS rebinding) is refused and does not use up
    // the token.
    let (status, _, _, _) = fetch(&url, Some("evil.example:80")).await;
    assert_eq!(status, 403);
    let status_msg = h.request(json!({"type": "status", "id": 2})).await;
    assert_eq!(status_msg["active"][0]["download"], download.as_str());
    origin.release();

    let reader = tokio::spawn({
        let url = url.clone();
        async move { fetch(&url, None).await }
    });
    let (done, seen) = h
        .until(|m| m["type"] == "finished" || m["type"] == "failed")
        .await;
    assert_eq!(done["type"], "finished", "{done}");
    assert_eq!(done["sha256"], origin.sha256_hex(0));
    assert_eq!(done["from_origin"], data.len() as u64);
    let progress: Vec<&Value> = seen.iter().filter(|m| m["type"] == "progress").collect();
    assert!(!progress.is_empty());
    assert!(progress.iter().all(|p| p["download"] == download.as_str()));
    // Rate-limited: a ~0.8 s download reports a handful of times, not per block.
    assert!(progress.len() < 40, "{} progress events", progress.len());

    let (status, head, body, complete) = reader.await.unwrap();
    assert_eq!(status, 200);
    assert!(complete);
    assert_eq!(body, data);
    assert!(
        head.contains(&format!("content-length: {}", data.len())),
        "{head}"
    );
    assert!(head.contains("filename=\"report 2024.bin\""), "{head}");

    // One use only.
    let (status, _, _, _) = fetch(&url, None).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_digest_mismatch_aborts_the_delivery_so_the_browser_fails_it() {
    let data = random_bytes(2 * 1024 * 1024, 13);
    let origin = TestOrigin::start(OriginConfig::memory(data.clone()))
        .await
        .unwrap();
    let mut h = Host::start(&[EXTENSION]);
    let wrong = "ab".repeat(32);
    // The origin publishes the true digest: a conflicting one is refused up front.
    let e = h
        .request(json!({"type": "start", "id": 1, "url": origin.url(), "sha256": wrong}))
        .await;
    assert_eq!(e["code"], "digest_conflict");

    let mut cfg = OriginConfig::memory(data.clone());
    cfg.repr_digest = false;
    let bare = TestOrigin::start(cfg).await.unwrap();
    let started = h
        .request(json!({"type": "start", "id": 2, "url": bare.url(), "sha256": wrong}))
        .await;
    assert_eq!(started["type"], "started", "{started}");
    let url = started["delivery_url"].as_str().unwrap().to_string();
    let (status, _, body, complete) = fetch(&url, None).await;
    // Either the response breaks off, or (when the check failed before the browser
    // came) none is given at all: both fail the browser's download.
    assert!(status == 200 || status == 0, "{status}");
    assert!(!complete, "the response must break, not end");
    assert!(body.len() < data.len(), "the last bytes were held back");
    let (failed, _) = h.until(|m| m["type"] == "failed").await;
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("digest mismatch"),
        "{failed}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_stops_a_download_and_its_delivery() {
    let data = random_bytes(8 * 1024 * 1024, 14);
    let mut cfg = OriginConfig::memory(data.clone());
    cfg.throttle_per_connection = Some(500_000);
    // Held: the download is surely running when the cancel comes.
    cfg.faults.held = true;
    let origin = TestOrigin::start(cfg).await.unwrap();
    let mut h = Host::start(&[EXTENSION]);
    let started = h
        .request(json!({"type": "start", "id": 1, "url": origin.url()}))
        .await;
    let download = started["download"].as_str().unwrap().to_string();
    let url = started["delivery_url"].as_str().unwrap().to_string();
    let reader = tokio::spawn(async move { fetch(&url, None).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let c = h
        .request(json!({"type": "cancel", "id": 2, "download": download}))
        .await;
    assert_eq!(c["type"], "cancelled");
    let (failed, _) = h.until(|m| m["type"] == "failed").await;
    assert_eq!(failed["cancelled"], true);
    let (_, _, body, complete) = reader.await.unwrap();
    assert!(!complete && body.len() < data.len());
    let credentialed = h
        .request(json!({"type": "start", "id": 3, "url": origin.url(),
                        "headers": [{"name": "Authorization", "value": "Bearer x"}]}))
        .await;
    assert_eq!(
        (
            credentialed["code"].clone(),
            credentialed["message"].clone()
        ),
        (json!("not_eligible"), json!("credentials"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_host_serves_what_it_downloaded_while_the_browser_runs_and_after_a_restart() {
    use common::swarm::{Leecher, Summary, TrackerProcess, wait_for_log};
    let data = random_bytes(6 * 1024 * 1024, 21);
    // One content at two URLs: a fast mirror the browser used, and a slow origin a
    // later downloader tries. The swarm is named by the content, not the URL.
    let fast = TestOrigin::start(OriginConfig::memory(data.clone()))
        .await
        .unwrap();
    let mut slow = OriginConfig::memory(data.clone());
    slow.throttle_per_connection = Some(128 * 1024);
    // Held until each later downloader has met the browser's host.
    slow.faults.held = true;
    let slow = TestOrigin::start(slow).await.unwrap();
    let tracker = TrackerProcess::start().await;
    let state = home();
    let leech = || async {
        slow.hold();
        let l = Leecher::start(&slow.url(), &[&tracker.url], &[]);
        wait_for_log(l.state.path(), "peer connected").await;
        slow.release();
        let got: Summary = l.finish(Duration::from_secs(120)).await;
        got
    };
    let env = [("SWARMLOAD_ICE_ADDR", "127.0.0.1")];
    let policy = json!({"type": "policy", "id": 1, "policy": {"trackers": [tracker.url]}});

    let mut h = Host::start_at(state.path(), &[EXTENSION], &env);
    assert_eq!(h.request(policy.clone()).await["ok"], true);
    let started = h
        .request(json!({"type": "start", "id": 2, "url": fast.url()}))
        .await;
    assert_eq!(started["type"], "started", "{started}");
    let url = started["delivery_url"].as_str().unwrap().to_string();
    let reader = tokio::spawn(async move { fetch(&url, None).await });
    let (done, _) = h
        .until(|m| m["type"] == "finished" || m["type"] == "failed")
        .await;
    assert_eq!(done["type"], "finished", "{done}");
    assert_eq!(reader.await.unwrap().2, data);
    let status = h.request(json!({"type": "status", "id": 3})).await;
    assert_eq!(status["seeding"], 1, "{status}");

    let got = leech().await;
    assert!(got.bytes == data);
    assert!(
        got.from_peers > data.len() as u64 / 2,
        "the browser's host served it: {} from peers",
        got.from_peers
    );

    // The browser closes; next time it starts, the cache is served again once the
    // extension has said which trackers to use.
    drop(h.stdin);
    let _ = tokio::time::timeout(Duration::from_secs(10), h.child.wait()).await;
    let mut h = Host::start_at(state.path(), &[EXTENSION], &env);
    assert_eq!(h.request(policy).await["ok"], true);
    wait_for_log(state.path(), "seeding from the cache").await;
    let got = leech().await;
    assert!(got.bytes == data);
    assert!(
        got.from_peers > data.len() as u64 / 2,
        "the restarted host served it from its cache: {} from peers",
        got.from_peers
    );
}

/// The `start` that follows a `resolve` uses what the resolve learned instead of
/// asking the origin again: one probe, not two, before the first byte.
#[tokio::test(flavor = "multi_thread")]
async fn start_after_resolve_probes_the_origin_once() {
    let data = random_bytes(2 * 1024 * 1024, 21);
    let mut cfg = OriginConfig::memory(data.clone());
    // Held: the download is surely running when the cancel below comes.
    cfg.faults.held = true;
    let origin = TestOrigin::start(cfg).await.unwrap();
    let mut h = Host::start(&[EXTENSION]);
    let probes = |o: &TestOrigin| {
        o.stats()
            .requests()
            .iter()
            .filter(|r| r.method == "HEAD" || r.range.as_deref() == Some("bytes=0-0"))
            .count()
    };
    let r = h
        .request(json!({"type": "resolve", "id": 1, "url": origin.url()}))
        .await;
    assert_eq!(r["eligible"], true, "{r}");
    assert_eq!(probes(&origin), 1);
    let s = h
        .request(json!({"type": "start", "id": 2, "url": origin.url()}))
        .await;
    assert_eq!(s["type"], "started", "{s}");
    assert_eq!(s["sha256"], origin.sha256_hex(0));
    assert_eq!(probes(&origin), 1, "start asked the origin again");
    // A later start of the same URL (no resolve just before) probes afresh.
    h.request(json!({"type": "cancel", "id": 3, "download": s["download"]}))
        .await;
    h.until(|m| m["type"] == "failed").await;
    let again = h
        .request(json!({"type": "start", "id": 4, "url": origin.url()}))
        .await;
    assert_eq!(again["type"], "started", "{again}");
    assert_eq!(probes(&origin), 2);
}

/// Without a digest header, a checksum list beside the file names the content:
/// `resolve` (while the browser's item waits) finds it and says so; a list too slow
/// for that is still learned by a `start`, which does not wait for it.
#[tokio::test(flavor = "multi_thread")]
async fn a_checksum_list_gives_a_download_its_digest() {
    use sha2::Digest;
    let data = random_bytes(3 * 1024 * 1024, 14);
    let hex = hex::encode(sha2::Sha256::digest(&data));
    let with_list = |delay: Option<Duration>, throttle: u64| {
        let mut cfg = OriginConfig::memory(data.clone());
        cfg.path = "/pub/tool-2.0.tar.gz".into();
        cfg.repr_digest = false;
        cfg.throttle_per_connection = Some(throttle);
        cfg.extra_files = vec![swarmload_tests::origin::ExtraFile {
            path: "/pub/SHA256SUMS".into(),
            body: format!("{hex}  tool-2.0.tar.gz\n").into(),
            delay,
        }];
        cfg
    };
    let quick = TestOrigin::start(with_list(None, 1_000_000)).await.unwrap();
    // The list answers after 2.5 s, past the resolve's 1.5 s; the download (four
    // connections of 150 kB/s) takes about 5 s.
    let slow = TestOrigin::start(with_list(Some(Duration::from_millis(2500)), 150_000))
        .await
        .unwrap();
    let bare = TestOrigin::start({
        let mut c = OriginConfig::memory(data.clone());
        c.repr_digest = false;
        c
    })
    .await
    .unwrap();
    let mut h = Host::start(&[EXTENSION]);

    let resolved = h
        .request(json!({"type": "resolve", "id": 1, "url": quick.url()}))
        .await;
    assert_eq!(resolved["p2p"], true, "{resolved}");
    assert_eq!(resolved["sha256"], hex.as_str());
    assert_eq!(resolved["digest_source"], "checksum_file");
    let started = h
        .request(json!({"type": "start", "id": 2, "url": quick.url()}))
        .await;
    assert_eq!(started["digest_source"], "checksum_file", "{started}");
    assert_eq!(started["sha256"], hex.as_str());
    let (done, _, body) = delivered(&mut h, &started).await;
    assert_eq!(done["type"], "finished", "{done}");
    assert_eq!(body, data);

    // Too slow for the resolve: the browser's download is not held back for it ...
    let resolved = h
        .request(json!({"type": "resolve", "id": 3, "url": slow.url()}))
        .await;
    assert_eq!(resolved["p2p"], false, "{resolved}");
    assert!(
        resolved["why_not_p2p"]
            .as_str()
            .is_some_and(|w| w.contains("in time")),
        "{resolved}"
    );
    // ... and a download started anyway learns it on the way.
    let started = h
        .request(json!({"type": "start", "id": 4, "url": slow.url()}))
        .await;
    assert_eq!(
        started["digest_source"],
        Value::Null,
        "not known yet: {started}"
    );
    let (done, seen, body) = delivered(&mut h, &started).await;
    assert_eq!(done["type"], "finished", "{done}");
    assert_eq!(done["sha256"], hex.as_str());
    assert!(
        seen.iter()
            .any(|m| m["type"] == "progress" && m["digest_source"] == "checksum_file"),
        "the progress names the checksum list once it was read"
    );
    assert_eq!(body, data);

    // Nothing beside the file: the host says why.
    let resolved = h
        .request(json!({"type": "resolve", "id": 5, "url": bare.url()}))
        .await;
    assert_eq!(resolved["p2p"], false, "{resolved}");
    assert!(
        resolved["why_not_p2p"]
            .as_str()
            .is_some_and(|w| w.contains("no checksum list")),
        "{resolved}"
    );
}

/// Reads a started download's delivery to its end: the host's last word on it
/// (`finished` or `failed`), what it said on the way, and the bytes delivered.
async fn delivered(h: &mut Host, started: &Value) -> (Value, Vec<Value>, Vec<u8>) {
    let url = started["delivery_url"].as_str().unwrap().to_string();
    let reader = tokio::spawn(async move { fetch(&url, None).await });
    let (done, seen) = h
        .until(|m| m["type"] == "finished" || m["type"] == "failed")
        .await;
    (done, seen, reader.await.unwrap().2)
}

/// In a trusted group, the extension's host takes a download no one publishes a
/// digest for, computes the SHA-256, publishes the mapping and serves the file; a
/// second member's `resolve` finds it (`digest_source: group`) and its download comes
/// from the first; a host with another secret finds nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_group_member_publishes_a_mapping_that_another_member_resolves() {
    use common::swarm::{TrackerProcess, wait_for_log};
    use sha2::Digest;
    let data = random_bytes(4 * 1024 * 1024, 23);
    let hex = hex::encode(sha2::Sha256::digest(&data));
    let mut cfg = OriginConfig::memory(data.clone());
    cfg.repr_digest = false;
    cfg.etag = true;
    cfg.throttle_per_connection = Some(256 * 1024);
    let origin = TestOrigin::start(cfg).await.unwrap();
    let tracker = TrackerProcess::start().await;
    let env = [("SWARMLOAD_ICE_ADDR", "127.0.0.1")];
    let policy = |secret: &str| {
        json!({"type": "policy", "id": 1, "policy": {
            "trackers": [tracker.url], "trust_mode": "trusted_group", "group_secret": secret}})
    };
    let secret = "green-group-41c09d7e5fa3b2";

    let first_home = home();
    let mut first = Host::start_at(first_home.path(), &[EXTENSION], &env);
    let pushed = first.request(policy(secret)).await;
    assert_eq!(pushed["ok"], true, "{pushed}");
    assert!(
        !pushed.to_string().contains(secret),
        "the effective policy never shows the secret"
    );
    let resolved = first
        .request(json!({"type": "resolve", "id": 2, "url": origin.url()}))
        .await;
    assert_eq!(resolved["p2p"], false, "{resolved}");
    assert_eq!(resolved["group_publish"], true, "{resolved}");
    assert!(
        resolved["why_not_p2p"]
            .as_str()
            .is_some_and(|w| w.contains("group has no mapping")),
        "{resolved}"
    );
    let started = first
        .request(json!({"type": "start", "id": 3, "url": origin.url()}))
        .await;
    let (done, _, body) = delivered(&mut first, &started).await;
    assert_eq!(done["type"], "finished", "{done}");
    assert_eq!(done["group_publish"], true, "{done}");
    assert!(body == data);
    wait_for_log(first_home.path(), "seeding from the cache").await;

    let second_home = home();
    let mut second = Host::start_at(second_home.path(), &[EXTENSION], &env);
    second.request(policy(secret)).await;
    let resolved = second
        .request(json!({"type": "resolve", "id": 2, "url": origin.url()}))
        .await;
    assert_eq!(resolved["p2p"], true, "{resolved}");
    assert_eq!(resolved["digest_source"], "group", "{resolved}");
    assert_eq!(resolved["sha256"], hex.as_str());
    // The origin waits until the members have met, so that the first serves however
    // slowly they meet on a loaded machine.
    origin.hold();
    let started = second
        .request(json!({"type": "start", "id": 3, "url": origin.url()}))
        .await;
    assert_eq!(started["digest_source"], "group", "{started}");
    wait_for_log(second_home.path(), "peer connected").await;
    origin.release();
    let (done, _, body) = delivered(&mut second, &started).await;
    assert_eq!(done["type"], "finished", "{done}");
    assert_eq!(done["group_publish"], false, "{done}");
    assert!(body == data);
    let from_peers = done["from_peers"].as_u64().unwrap();
    assert!(
        from_peers > data.len() as u64 / 2,
        "the first member served it: {from_peers} from peers"
    );

    let outsider_home = home();
    let mut outsider = Host::start_at(outsider_home.path(), &[EXTENSION], &env);
    outsider.request(policy("another-group-7a61e0c4d2")).await;
    let resolved = outsider
        .request(json!({"type": "resolve", "id": 2, "url": origin.url()}))
        .await;
    assert_eq!(resolved["p2p"], false, "{resolved}");
    assert_eq!(resolved["sha256"], Value::Null, "{resolved}");
}

/// A release link that the browser followed to a signed CDN URL (as GitHub's do):
/// the extension sends both. The checksum list sits beside the link, not beside the
/// signed URL, and is found only through it; the signed URL expires during the
/// download and the host asks the link again.
#[tokio::test(flavor = "multi_thread")]
async fn a_link_redirected_to_a_signed_url_finds_its_list_and_is_renewed_through_the_link() {
    use sha2::Digest;
    let data = random_bytes(3 * 1024 * 1024, 31);
    let hex = hex::encode(sha2::Sha256::digest(&data));
    let mut cfg = OriginConfig::memory(data.clone());
    cfg.path = "/blobs/5f1e/tool-5.0.tar.gz".into();
    cfg.redirect_from = Some("/releases/v5.0/tool-5.0.tar.gz".into());
    // Every GET of the content spends a signature: the browser's own, the probe and
    // the first range each see another.
    cfg.signed_redirect_gets = Some(1);
    cfg.repr_digest = false;
    cfg.throttle_per_connection = Some(1_000_000);
    cfg.extra_files = vec![swarmload_tests::origin::ExtraFile {
        path: "/releases/v5.0/SHA256SUMS".into(),
        body: format!("{hex}  tool-5.0.tar.gz\n").into(),
        delay: None,
    }];
    let origin = TestOrigin::start(cfg).await.unwrap();
    let link = origin.url_of("/releases/v5.0/tool-5.0.tar.gz");
    // Where the browser ended up, as `finalUrl`.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let location = no_redirects.head(&link).send().await.unwrap().headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    let signed = origin.url_of(&location);
    let mut h = Host::start(&[EXTENSION]);

    // Without the link, nothing beside the signed URL names the content.
    let resolved = h
        .request(json!({"type": "resolve", "id": 1, "url": signed}))
        .await;
    assert_eq!(resolved["p2p"], false, "{resolved}");
    let resolved = h
        .request(json!({"type": "resolve", "id": 2, "url": signed, "link": link}))
        .await;
    assert_eq!(resolved["p2p"], true, "{resolved}");
    assert_eq!(resolved["digest_source"], "checksum_file", "{resolved}");
    assert_eq!(resolved["sha256"], hex.as_str());

    let started = h
        .request(json!({"type": "start", "id": 3, "url": signed, "link": link}))
        .await;
    assert_eq!(started["digest_source"], "checksum_file", "{started}");
    let (done, _, body) = delivered(&mut h, &started).await;
    assert_eq!(done["type"], "finished", "{done}");
    assert!(body == data);
    let reqs = origin.stats().requests();
    assert!(
        reqs.iter().any(|r| r.status == 403),
        "the signed URL expired"
    );
    assert!(
        reqs.iter()
            .filter(|r| r.status == 302 && r.method == "HEAD")
            .count()
            > 1,
        "and the host asked the link again"
    );
}

/// Starts a download of `origin`'s content; the browser fetches its delivery only
/// once the download is over: until then it has received nothing, and the host may
/// start over.
async fn start_then_delivered(h: &mut Host, origin: &TestOrigin) -> (Value, Vec<u8>) {
    let started = h
        .request(json!({"type": "start", "id": 1, "url": origin.url()}))
        .await;
    assert_eq!(started["type"], "started", "{started}");
    let (done, _) = h
        .until(|m| m["type"] == "finished" || m["type"] == "failed")
        .await;
    let url = started["delivery_url"].as_str().unwrap();
    let (status, _, body, complete) = fetch(url, None).await;
    assert!(status == 200 && complete, "{status} {done}");
    (done, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mirror_that_spoils_the_whole_costs_a_second_try_not_the_browsers_download() {
    let data = random_bytes(3 * 1024 * 1024, 83);
    // Same size, other content: nothing tells until the whole is checked.
    let mut bad = OriginConfig::memory(random_bytes(3 * 1024 * 1024, 84));
    bad.path = "/mirror/pub/app.bin".into();
    bad.repr_digest = false;
    let bad = TestOrigin::start(bad).await.unwrap();
    let mut cfg = OriginConfig::memory(data.clone());
    cfg.path = "/pub/app.bin".into();
    cfg.throttle_per_connection = Some(512 * 1024);
    cfg.links = vec![format!("<{}>; rel=duplicate; pri=1", bad.url())];
    let origin = TestOrigin::start(cfg).await.unwrap();
    let mut h = Host::start(&[EXTENSION]);
    let (done, body) = start_then_delivered(&mut h, &origin).await;
    assert_eq!(done["type"], "finished", "{done}");
    assert_eq!(done["sha256"], origin.sha256_hex(0));
    assert!(body == data, "the browser gets the right bytes");
    assert!(bad.stats().body_bytes() > 0, "the mirror was used first");
}

#[tokio::test(flavor = "multi_thread")]
async fn content_that_changes_on_the_origin_starts_over_on_the_new_version_for_the_browser_too() {
    let v0 = random_bytes(4 * 1024 * 1024, 5);
    let v1 = random_bytes(4 * 1024 * 1024, 6);
    let cfg = common::changing_content(&v0, &v1);
    let origin = TestOrigin::start(cfg.clone()).await.unwrap();
    let mut h = Host::start(&[EXTENSION]);
    let (done, body) = start_then_delivered(&mut h, &origin).await;
    assert_eq!(done["type"], "finished", "{done}");
    assert_eq!(done["sha256"], origin.sha256_hex(1));
    assert!(body == v1, "the new version, whole, never mixed");
    assert_eq!(
        origin.stats().count("HEAD"),
        2,
        "probed again after the change"
    );

    // The control: pinned to the first version's digest, the new one cannot be
    // accepted, and the browser's download fails visibly.
    let origin = TestOrigin::start(cfg).await.unwrap();
    let started = h
        .request(
            json!({"type": "start", "id": 2, "url": origin.url(), "sha256": origin.sha256_hex(0)}),
        )
        .await;
    assert_eq!(started["type"], "started", "{started}");
    let (failed, _) = h
        .until(|m| m["type"] == "finished" || m["type"] == "failed")
        .await;
    assert_eq!(failed["type"], "failed", "{failed}");
}

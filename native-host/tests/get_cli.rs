//! `swarmload-host get` against a real HTTP origin on 127.0.0.1 (the test origin of
//! `swarmload-tests`): correct files, resume after `kill -9`, servers without Range,
//! content that changes, wrong digests, faults, redirects and bad input.

mod common;

use std::time::{Duration, Instant};

use common::{TempDir, host, host_bin, status, stderr};
use swarmload_tests::origin::{Faults, OriginConfig, TestOrigin};
use swarmload_tests::random_bytes;

const MIB: usize = 1024 * 1024;
const BLOCK: u64 = 16 * 1024;

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

#[tokio::test(flavor = "multi_thread")]
async fn downloads_a_verified_file_named_by_the_url_and_caches_it() {
    let data = random_bytes(5 * MIB + 333, 1);
    let origin = TestOrigin::start(OriginConfig::memory(data.clone()))
        .await
        .unwrap();
    let dir = TempDir::new("get-plain");
    let state = dir.join("state");
    let out = host(&state, dir.path(), &["get", &origin.url()]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    // Quiet when stdout is not a terminal.
    assert!(
        out.stdout.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    let saved = dir.join("content.bin");
    assert_eq!(std::fs::read(&saved).unwrap(), data);
    assert!(!dir.join("content.bin.part").exists());
    let st = status(&state).await;
    assert_eq!(st["partial"].as_array().unwrap().len(), 0);
    let cached = st["cached"].as_array().unwrap();
    assert_eq!(cached.len(), 1);
    assert_eq!(cached[0]["sha256"], sha256_hex(&data));
    assert_eq!(cached[0]["size"], data.len() as u64);
    // The origin sent each byte once (a HEAD probe sends none).
    assert_eq!(origin.stats().body_bytes(), data.len() as u64);

    // `-o` naming a directory saves into it under the server's name.
    let sub = dir.join("into");
    std::fs::create_dir_all(&sub).unwrap();
    let out = host(
        &state,
        dir.path(),
        &["get", &origin.url(), "-o", sub.to_str().unwrap()],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(sub.join("content.bin")).unwrap(), data);
}

#[tokio::test(flavor = "multi_thread")]
async fn content_disposition_names_the_file_and_cannot_escape_the_directory() {
    let data = random_bytes(300_000, 2);
    let mut cfg = OriginConfig::memory(data.clone());
    cfg.content_disposition = Some("attachment; filename=\"../../evil\tname.iso\"".into());
    let origin = TestOrigin::start(cfg).await.unwrap();
    let dir = TempDir::new("get-cd");
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let out = host(
        &dir.join("state"),
        &work,
        &["get", &origin.url(), "--no-seed"],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let names: Vec<String> = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["evil_name.iso".to_string()]);
    assert_eq!(std::fs::read(work.join("evil_name.iso")).unwrap(), data);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "nothing outside work/"
    );
    let st = status(&dir.join("state")).await;
    assert!(
        st["cached"].as_array().unwrap().is_empty(),
        "--no-seed keeps nothing"
    );
}

/// The held blocks of the one partial download in `state`, from `status --json`.
async fn held_bytes(state: &std::path::Path) -> u64 {
    let st = status(state).await;
    st["partial"]
        .as_array()
        .and_then(|p| p.first())
        .and_then(|p| p["held_bytes"].as_u64())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_then_the_same_command_resumes_without_fetching_a_kept_block_again() {
    let data = random_bytes(6 * MIB + 5000, 3);
    let size = data.len() as u64;
    let mut cfg = OriginConfig::memory(data.clone());
    cfg.throttle_per_connection = Some(1_500_000);
    // About 6 s in all, so the kill lands between 30% and the end however slowly
    // the polling below runs.
    cfg.throttle_total = Some(1_000_000);
    let origin = TestOrigin::start(cfg).await.unwrap();
    let dir = TempDir::new("get-kill");
    let state = dir.join("state");
    let dest = dir.join("out.bin");
    let args = [
        "get",
        &origin.url(),
        "-o",
        dest.to_str().unwrap(),
        "--connections",
        "2",
    ];
    let mut child = tokio::process::Command::new(host_bin())
        .args(args)
        .arg("--state-dir")
        .arg(&state)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if held_bytes(&state).await >= size * 3 / 10 {
            break;
        }
        assert!(Instant::now() < deadline, "no progress before the kill");
    }
    child.start_kill().unwrap(); // SIGKILL
    let _ = child.wait().await;
    // Let the origin notice the dead connections before its counter is read.
    let mut last = origin.stats().body_bytes();
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = origin.stats().body_bytes();
        if now == last {
            break;
        }
        last = now;
    }
    let held = held_bytes(&state).await;
    assert!(held > 0 && held < size, "held {held}");
    assert!(
        !dest.exists(),
        "a partial file never appears under the final name"
    );
    assert!(dir.join("out.bin.part").exists());
    let sent_before = origin.stats().body_bytes();
    let requests_before = origin.stats().requests().len();

    let out = host(&state, dir.path(), &args).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    let sent = origin.stats().body_bytes() - sent_before;
    assert_eq!(
        sent,
        size - held,
        "the second run fetched exactly what the first had not kept"
    );
    // No request of the second run touched a kept block: the blocks it fetched
    // add up to the missing ones (checked above), and each range starts and ends on
    // a block boundary or the end of the file.
    for r in &origin.stats().requests()[requests_before..] {
        if let Some(range) = &r.range {
            let (a, b) = range.trim_start_matches("bytes=").split_once('-').unwrap();
            let (a, b): (u64, u64) = (a.parse().unwrap(), b.parse().unwrap());
            assert_eq!(a % BLOCK, 0, "{range}");
            assert!((b + 1) % BLOCK == 0 || b + 1 == size, "{range}");
        }
    }
    assert_eq!(status(&state).await["partial"].as_array().unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_without_range_support_gets_one_stream() {
    let data = random_bytes(3 * MIB + 17, 4);
    let mut cfg = OriginConfig::memory(data.clone());
    cfg.ranges = false;
    let origin = TestOrigin::start(cfg).await.unwrap();
    let dir = TempDir::new("get-norange");
    let dest = dir.join("x.bin");
    let out = host(
        &dir.join("state"),
        dir.path(),
        &["get", &origin.url(), "-o", dest.to_str().unwrap()],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    let reqs = origin.stats().requests();
    // Besides the probe (a HEAD, then a one-byte ranged GET that the server answers
    // in full and the client drops), one plain GET carried the file.
    let streams = reqs
        .iter()
        .filter(|r| r.method == "GET" && r.range.is_none())
        .count();
    assert_eq!(streams, 1, "one stream carried the file: {reqs:?}");
    assert!(reqs.iter().all(|r| r.status != 206));
}

#[tokio::test(flavor = "multi_thread")]
async fn content_that_changes_mid_download_is_never_mixed() {
    let v0 = random_bytes(4 * MIB, 5);
    let v1 = random_bytes(4 * MIB, 6);
    let cfg = common::changing_content(&v0, &v1);
    let origin = TestOrigin::start(cfg.clone()).await.unwrap();
    let dir = TempDir::new("get-change");
    let state = dir.join("state");

    // With the digest of v0 pinned, the new version cannot be accepted: a clear
    // failure, and no file.
    let pinned = dir.join("pinned.bin");
    let out = host(
        &state,
        dir.path(),
        &[
            "get",
            &origin.url(),
            "-o",
            pinned.to_str().unwrap(),
            "--sha256",
            &sha256_hex(&v0),
        ],
    )
    .await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("SHA-256"), "{err}");
    assert!(!pinned.exists() && !dir.join("pinned.bin.part").exists());

    // Unpinned, the download starts over on the new version and gets it whole.
    let origin = TestOrigin::start(cfg).await.unwrap();
    let dest = dir.join("out.bin");
    let out = host(
        &state,
        dir.path(),
        &["get", &origin.url(), "-o", dest.to_str().unwrap()],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&dest).unwrap(), v1);
    assert_eq!(
        origin.stats().count("HEAD"),
        2,
        "probed again after the change"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_sha256_exits_non_zero_and_leaves_no_file() {
    let data = random_bytes(2 * MIB + 1, 7);
    let mut cfg = OriginConfig::memory(data.clone());
    cfg.repr_digest = false;
    let origin = TestOrigin::start(cfg).await.unwrap();
    let dir = TempDir::new("get-wrong");
    let dest = dir.join("out.bin");
    let wrong = sha256_hex(b"something else");
    let out = host(
        &dir.join("state"),
        dir.path(),
        &[
            "get",
            &origin.url(),
            "-o",
            dest.to_str().unwrap(),
            "--sha256",
            &wrong,
        ],
    )
    .await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("digest mismatch"), "{err}");
    assert!(!dest.exists());
    assert!(!dir.join("out.bin.part").exists());
    let st = status(&dir.join("state")).await;
    assert!(st["cached"].as_array().unwrap().is_empty());
    assert!(st["partial"].as_array().unwrap().is_empty());

    // The right one, given by hand, is accepted.
    let out = host(
        &dir.join("state"),
        dir.path(),
        &[
            "get",
            &origin.url(),
            "-o",
            dest.to_str().unwrap(),
            "--sha256",
            &sha256_hex(&data),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&dest).unwrap(), data);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_sha256_fragment_or_origin_digest_fails_the_same_way() {
    let data = random_bytes(MIB, 8);
    let origin = TestOrigin::start(OriginConfig::memory(data.clone()))
        .await
        .unwrap();
    let dir = TempDir::new("get-conflict");
    let dest = dir.join("out.bin");
    // The origin publishes the right digest; --sha256 disagrees: refused up front.
    let out = host(
        &dir.join("state"),
        dir.path(),
        &[
            "get",
            &origin.url(),
            "-o",
            dest.to_str().unwrap(),
            "--sha256",
            &"ab".repeat(32),
        ],
    )
    .await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--sha256"), "{}", stderr(&out));
    assert!(!dest.exists());

    let mut cfg = OriginConfig::memory(data.clone());
    cfg.repr_digest = false;
    let bare = TestOrigin::start(cfg).await.unwrap();
    let url = format!("{}#sha256={}", bare.url(), "cd".repeat(32));
    let out = host(
        &dir.join("state"),
        dir.path(),
        &["get", &url, "-o", dest.to_str().unwrap()],
    )
    .await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("digest mismatch"), "{}", stderr(&out));
    assert!(!dest.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_through_errors_and_dropped_connections_and_follows_redirects() {
    let data = random_bytes(3 * MIB + 99, 9);
    let mut cfg = OriginConfig::memory(data.clone());
    cfg.faults = Faults {
        fail_first_gets: 2,
        drop_after_bytes: Some(200_000),
        drop_times: 4,
        ..Faults::default()
    };
    cfg.redirect_from = Some("/go".into());
    let origin = TestOrigin::start(cfg).await.unwrap();
    let dir = TempDir::new("get-faults");
    let dest = dir.join("out.bin");
    let out = host(
        &dir.join("state"),
        dir.path(),
        &["get", &origin.url_of("/go"), "-o", dest.to_str().unwrap()],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    let reqs = origin.stats().requests();
    assert!(reqs.iter().any(|r| r.status == 500));
    assert!(reqs.iter().any(|r| r.status == 302));
    // Broken ranges resumed where they broke: a retry asks for a range starting
    // inside an earlier one, not at its start.
    let starts: Vec<u64> = reqs
        .iter()
        .filter_map(|r| r.range.as_deref())
        .filter_map(|r| r.trim_start_matches("bytes=").split_once('-'))
        .filter_map(|(a, _)| a.parse().ok())
        .collect();
    assert!(
        starts.iter().any(|s| s % BLOCK != 0),
        "resumed mid-block: {starts:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_arguments_and_bad_configuration_are_one_line_errors() {
    let dir = TempDir::new("get-bad");
    let state = dir.join("state");
    for (args, expect) in [
        (vec!["get", "not a url"], "not a URL"),
        (vec!["get", "ftp://127.0.0.1/x"], "http"),
        (
            vec!["get", "http://127.0.0.1:9/x", "--sha256", "xyz"],
            "--sha256",
        ),
        (
            vec!["get", "http://127.0.0.1:9/x", "--connections", "0"],
            "--connections",
        ),
        (
            vec!["get", "http://127.0.0.1:9/x", "--tracker", "http://t"],
            "--tracker",
        ),
        (
            vec!["get", "http://127.0.0.1:9/x"],
            "cannot reach the origin",
        ),
    ] {
        let out = host(&state, dir.path(), &args).await;
        assert!(!out.status.success(), "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: {err}");
    }
    std::fs::write(
        state.join("config.toml"),
        "cache_max_bytes = 10\nupload_enable = true\n",
    )
    .unwrap();
    let out = host(&state, dir.path(), &["get", "http://127.0.0.1:9/x"]).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("upload_enable") && err.contains("unknown"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_terminal_a_progress_bar_shows_bytes_speed_and_sources() {
    let data = random_bytes(4 * MIB, 10);
    let mut cfg = OriginConfig::memory(data.clone());
    cfg.throttle_per_connection = Some(3_000_000);
    let origin = TestOrigin::start(cfg).await.unwrap();
    let dir = TempDir::new("get-tty");
    let dest = dir.join("out.bin");
    let command = format!(
        "{} get {} -o {} --state-dir {}",
        host_bin(),
        origin.url(),
        dest.display(),
        dir.join("state").display()
    );
    // `script` runs the command on a pseudo-terminal and copies what it shows.
    let out = tokio::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("COLUMNS", "120")
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("peers 0 B"), "{shown}");
    assert!(shown.contains("origin "), "{shown}");
    assert!(
        shown.contains("MiB/s") || shown.contains("KiB/s"),
        "{shown}"
    );
    assert!(shown.contains("ETA"), "{shown}");
    assert!(
        shown.contains(&format!("saved {}", dest.display())),
        "{shown}"
    );
    assert_eq!(std::fs::read(&dest).unwrap(), data);
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_redirect_links_that_expire_are_asked_for_again() {
    let data = random_bytes(4 * MIB + 77, 15);
    let mut cfg = OriginConfig::memory(data.clone());
    cfg.redirect_from = Some("/release/latest".into());
    cfg.signed_redirect_gets = Some(1);
    let origin = TestOrigin::start(cfg).await.unwrap();
    let dir = TempDir::new("get-signed");
    let dest = dir.join("out.bin");
    let out = host(
        &dir.join("state"),
        dir.path(),
        &[
            "get",
            &origin.url_of("/release/latest"),
            "-o",
            dest.to_str().unwrap(),
            "--connections",
            "2",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    let reqs = origin.stats().requests();
    assert!(reqs.iter().any(|r| r.status == 403), "a link expired");
    assert!(
        reqs.iter().filter(|r| r.status == 302).count() > 1,
        "and was renewed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_in_the_url_reach_every_range_and_the_file_is_never_shared() {
    let data = random_bytes(3 * MIB, 16);
    let origin = TestOrigin::start(OriginConfig::memory(data.clone()))
        .await
        .unwrap();
    let dir = TempDir::new("get-creds");
    let dest = dir.join("out.bin");
    let url = origin.url().replace("http://", "http://user:pw@");
    let out = host(
        &dir.join("state"),
        dir.path(),
        &["get", &url, "-o", dest.to_str().unwrap()],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    let reqs = origin.stats().requests();
    assert!(reqs.iter().filter(|r| r.method == "GET").count() >= 1);
    assert!(
        reqs.iter()
            .all(|r| r.authorization.as_deref() == Some("Basic dXNlcjpwdw==")),
        "{reqs:?}"
    );
    let st = status(&dir.join("state")).await;
    assert!(st["cached"].as_array().unwrap().is_empty(), "never shared");
}

#[tokio::test(flavor = "multi_thread")]
async fn content_nothing_identifies_comes_in_one_stream_that_is_never_spliced() {
    let data = random_bytes(3 * MIB + 3, 17);
    let bare = |drop: bool| {
        let mut cfg = OriginConfig::memory(data.clone());
        cfg.etag = false;
        cfg.last_modified = false;
        cfg.repr_digest = false;
        if drop {
            cfg.faults.drop_after_bytes = Some(1_000_000);
            cfg.faults.drop_times = 1;
        }
        cfg
    };
    let origin = TestOrigin::start(bare(false)).await.unwrap();
    let dir = TempDir::new("get-bare");
    let dest = dir.join("out.bin");
    let out = host(
        &dir.join("state"),
        dir.path(),
        &["get", &origin.url(), "-o", dest.to_str().unwrap()],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    // (Other GETs ask for checksum lists beside the file.)
    let gets: Vec<_> = origin
        .stats()
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == "/files/content.bin")
        .collect();
    assert_eq!(gets.len(), 1, "{gets:?}");
    assert_eq!(gets[0].range, None);

    // A break cannot be resumed: nothing would show the rest is the same version.
    let origin = TestOrigin::start(bare(true)).await.unwrap();
    let dest = dir.join("broken.bin");
    let out = host(
        &dir.join("state"),
        dir.path(),
        &["get", &origin.url(), "-o", dest.to_str().unwrap()],
    )
    .await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot be resumed safely"),
        "{}",
        stderr(&out)
    );
    assert!(!dest.exists());
    let ranged = origin
        .stats()
        .requests()
        .iter()
        .filter(|r| r.range.is_some())
        .count();
    assert_eq!(ranged, 0, "no request picked up where the break was");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_downloads_into_one_file_cannot_run_at_once() {
    let data = random_bytes(4 * MIB, 18);
    let mut cfg = OriginConfig::memory(data.clone());
    cfg.throttle_per_connection = Some(500_000);
    let origin = TestOrigin::start(cfg).await.unwrap();
    let dir = TempDir::new("get-twice");
    let state = dir.join("state");
    let dest = dir.join("out.bin");
    let mut first = tokio::process::Command::new(host_bin())
        .args([
            "get",
            &origin.url(),
            "-o",
            dest.to_str().unwrap(),
            "--state-dir",
        ])
        .arg(&state)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while held_bytes(&state).await == 0 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // No new range starts: the first download is surely still running below.
    origin.hold();
    // Another identity (the digest given by hand) but the same file.
    let url = format!("{}#sha256={}", origin.url(), sha256_hex(&data));
    let out = host(
        &state,
        dir.path(),
        &["get", &url, "-o", dest.to_str().unwrap()],
    )
    .await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("another swarmload-host process"),
        "{}",
        stderr(&out)
    );
    first.start_kill().unwrap();
    let _ = first.wait().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_size_larger_than_the_disk_is_refused_before_anything_is_allocated() {
    let mut cfg = OriginConfig::memory(random_bytes(100_000, 19));
    // 70 TB: more than any test machine's free space.
    cfg.head_size = Some(70_000_000_000_000);
    cfg.repr_digest = false;
    let origin = TestOrigin::start(cfg).await.unwrap();
    let dir = TempDir::new("get-huge");
    let dest = dir.join("out.bin");
    let out = host(
        &dir.join("state"),
        dir.path(),
        &["get", &origin.url(), "-o", dest.to_str().unwrap()],
    )
    .await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("not enough space"), "{err}");
    assert_eq!(err.lines().count(), 1);
    assert!(!dest.exists());
    assert_eq!(origin.stats().gets(), 0, "nothing was fetched");
}

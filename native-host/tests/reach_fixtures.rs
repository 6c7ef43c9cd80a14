//! How many real-world download shapes get a trusted SHA-256: the offline fixture set
//! `tests/fixtures/reach.json` (Linux distributions, language runtimes, GitHub
//! releases, vendor installers, plain servers), each served by a real HTTP origin on
//! 127.0.0.1 as its publisher lays it out, and asked exactly as the host asks:
//! the probe, then the same-origin checksum lists.
//!
//! Each fixture states what is expected; the test fails on any difference, on a
//! digest that is not the file's, and on any request to another origin. It prints
//! the eligible share before (digest headers sent unasked, Metalink) and after
//! (also `Want-Repr-Digest`, checksum lists), and in a trusted group, where a first
//! member publishes the mapping on a real tracker and a second finds it: `cargo
//! xtask bench reach` shows it.

mod common;

use std::collections::BTreeMap;

use bytes::Bytes;
use common::swarm::TrackerProcess;
use reqwest::header::HeaderMap;
use serde_json::Value;
use sha2::Digest;
use swarmload_core::content::Hash32;
use swarmload_core::group_mapping::GroupKey;
use swarmload_host::digest_lookup::{DigestLookup, SharedMemory};
use swarmload_host::origin::{client, probe};
use swarmload_host::swarm::group_mappings::GroupMappings;
use swarmload_tests::origin::{ExtraFile, OriginConfig, TestOrigin};
use swarmload_tests::random_bytes;

const OTHER: &str = "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8";

/// The body of a list in `format` that (for most formats) gives `hex` for `file`.
fn list_body(format: &str, file: &str, hex: &str) -> String {
    let gnu = format!("{OTHER}  aaa-other-file.bin\n{hex}  {file}\n");
    let bsd = format!("SHA256 (aaa-other-file.bin) = {OTHER}\nSHA256 ({file}) = {hex}\n");
    let sign = |text: &str| {
        format!(
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n{text}-----BEGIN PGP SIGNATURE-----\n\niQIzBAEBCAAdFiEE\n-----END PGP SIGNATURE-----\n"
        )
    };
    match format {
        "gnu" => gnu,
        "gnu-binary" => format!("{OTHER} *aaa-other-file.bin\n{hex} *{file}\n"),
        "gnu-paths" => format!("{hex}  linux-x86_64/en-US/{file}\n"),
        "bsd" => bsd,
        "clearsigned-gnu" => sign(&gnu),
        "clearsigned-bsd" => sign(&bsd),
        "plain" => format!("{hex} {file}\n"),
        "lone" => format!("{hex}\n"),
        "sha512" => format!("{}  {file}\n", "ab".repeat(64)),
        "md5" => format!("{}  {file}\n", &hex[..32]),
        "other-file" => format!("{hex}  part-0041.parquet\n"),
        "malformed" => format!("this is not a checksum list\n{}  {file}\n", &hex[..50]),
        other => panic!("unknown list format {other}"),
    }
}

/// `dir` with `up` trailing segments removed (`/a/b/c/` up 2 → `/a/`).
fn parent(dir: &str, up: usize) -> String {
    let mut parts: Vec<&str> = dir.trim_end_matches('/').split('/').collect();
    for _ in 0..up {
        parts.pop();
    }
    format!("{}/", parts.join("/"))
}

struct Outcome {
    kind: String,
    publisher: String,
    publishes: bool,
    before: bool,
    found: String,
    /// Eligible in a trusted group: by its own digest, or through the mapping a
    /// first member published.
    group: bool,
    why: String,
}

#[tokio::test(flavor = "multi_thread")]
async fn every_publisher_shape_gets_the_digest_it_publishes_and_nothing_from_elsewhere() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/reach.json");
    let doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let fixtures = doc["fixtures"].as_array().unwrap();
    assert!(fixtures.len() >= 40, "at least 40 shapes");
    let http = client().unwrap();
    // The lists alone: the group is asked below, through the real tracker.
    let lists = DigestLookup::new(http.clone(), SharedMemory::default(), None);
    let tracker = TrackerProcess::start().await;
    let group = GroupMappings::new(
        vec![tracker.url.clone()],
        GroupKey::from_secret("reach-fixtures-group-secret"),
    )
    .unwrap();
    let mut outcomes = Vec::new();
    let mut wrong = Vec::new();
    for (i, f) in fixtures.iter().enumerate() {
        let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
        let (dir, file) = (s("dir"), s("file"));
        let data = random_bytes(64 * 1024 + i, 100 + i as u64);
        let hex = hex::encode(sha2::Sha256::digest(&data));
        let header = f["digest_header"].as_str().unwrap_or("none");
        let metalink = f["metalink"].as_bool().unwrap_or(false);

        let mut cfg = OriginConfig::memory(data.clone());
        cfg.path = format!("{dir}{file}");
        cfg.repr_digest = header != "none";
        cfg.repr_digest_when_wanted = header == "when_wanted";
        cfg.metalink = metalink;
        cfg.content_disposition = f["content_disposition"].as_str().map(str::to_string);
        let validators = f["validators"].as_bool().unwrap_or(true);
        cfg.etag = validators;
        cfg.directory_index = f["listing"].as_bool().unwrap_or(false);
        cfg.last_modified = validators;
        let mut elsewhere = OriginConfig::memory(Bytes::from_static(b"not the file"));
        elsewhere.path = "/nothing".into();
        for l in f["lists"].as_array().unwrap() {
            let name = l["name"].as_str().unwrap();
            let body = Bytes::from(list_body(l["format"].as_str().unwrap(), &file, &hex));
            let place = match l["where"].as_str().unwrap() {
                "same" | "other-origin" => dir.clone(),
                "parent2" => parent(&dir, 2),
                other => panic!("unknown place {other}"),
            };
            let extra = ExtraFile {
                path: format!("{place}{name}"),
                body,
                delay: None,
            };
            if l["where"] == "other-origin" {
                elsewhere.extra_files.push(extra);
            } else {
                cfg.extra_files.push(extra);
            }
        }
        let origin = TestOrigin::start(cfg).await.unwrap();
        let other = TestOrigin::start(elsewhere).await.unwrap();

        let url = origin.url().parse().unwrap();
        let info = probe(&http, &url, &HeaderMap::new()).await.unwrap();
        let (found, digest) = match (info.digest_source, info.digest) {
            (Some(source), Some(d)) => (
                serde_json::to_value(source)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string(),
                Some(d),
            ),
            _ => match lists.find(&info).await {
                Ok(f) => ("checksum_file".to_string(), Some(f.sha256)),
                Err(_) => ("none".to_string(), None),
            },
        };
        if let Some(d) = digest {
            assert_eq!(
                d.to_hex(),
                hex,
                "{}: a digest that is not the file's",
                s("publisher")
            );
        }
        assert!(
            other.stats().requests().is_empty(),
            "{}: another origin was asked",
            s("publisher")
        );
        if found != s("expect") {
            wrong.push(format!(
                "{}: expected {}, found {found}",
                s("publisher"),
                s("expect")
            ));
        }
        // In a trusted group, a first member's download publishes the mapping (here
        // through the real tracker and the host's own client) and a second finds it.
        let in_group = match (digest, GroupMappings::subject(&info)) {
            (Some(_), _) => true,
            (None, Ok(subject)) => {
                let sha256 = Hash32(sha2::Sha256::digest(&data).into());
                assert_eq!(group.publish(&subject, sha256).await, 1);
                let got = group.lookup(&subject).await;
                assert_eq!(got.sha256, Some(sha256), "{}", s("publisher"));
                true
            }
            (None, Err(_)) => false,
        };
        assert_eq!(
            in_group,
            digest.is_some() || validators,
            "{}",
            s("publisher")
        );
        outcomes.push(Outcome {
            group: in_group,
            kind: s("kind"),
            publisher: s("publisher"),
            publishes: f["publishes"].as_bool().unwrap_or(false),
            before: header == "always" || metalink,
            found,
            why: s("why"),
        });
    }
    print_table(&outcomes);
    assert!(wrong.is_empty(), "{wrong:#?}");
}

fn print_table(outcomes: &[Outcome]) {
    let mut by_kind: BTreeMap<&str, [usize; 5]> = BTreeMap::new();
    for o in outcomes {
        let row = by_kind.entry(&o.kind).or_default();
        row[0] += 1;
        row[1] += usize::from(o.publishes);
        row[2] += usize::from(o.before);
        row[3] += usize::from(o.found != "none");
        row[4] += usize::from(o.group);
    }
    println!(
        "\n{:<20} {:>7} {:>11} {:>17} {:>16} {:>16}",
        "kind", "shapes", "publishes", "eligible before", "eligible after", "trusted group"
    );
    let mut total = [0usize; 5];
    for (kind, row) in &by_kind {
        println!(
            "{:<20} {:>7} {:>11} {:>17} {:>16} {:>16}",
            kind, row[0], row[1], row[2], row[3], row[4]
        );
        for (t, r) in total.iter_mut().zip(row) {
            *t += r;
        }
    }
    let pct = |n: usize| 100.0 * n as f64 / total[0].max(1) as f64;
    println!(
        "{:<20} {:>7} {:>11} {:>10} ({:>3.0}%) {:>9} ({:>3.0}%) {:>9} ({:>3.0}%)",
        "all",
        total[0],
        total[1],
        total[2],
        pct(total[2]),
        total[3],
        pct(total[3]),
        total[4],
        pct(total[4])
    );
    let published = outcomes.iter().filter(|o| o.publishes).count();
    let reached = outcomes
        .iter()
        .filter(|o| o.publishes && o.found != "none")
        .count();
    println!(
        "\nof the {published} shapes whose publisher gives a SHA-256, {reached} are eligible; missed:"
    );
    for o in outcomes.iter().filter(|o| o.publishes && o.found == "none") {
        println!("  {}: {}", o.publisher, o.why);
    }
}

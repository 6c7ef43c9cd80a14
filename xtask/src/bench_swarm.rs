//! `cargo xtask bench swarm`: swarms of release binaries on 127.0.0.1, each figure
//! next to its yardstick measured in the same run.
//!
//! - One seeder→downloader connection against raw webrtc-rs data-channel throughput
//!   (the host's flow control, no engine): the yardstick is two processes on the
//!   runtime a host uses, as the seeder and downloader are; both peers in one
//!   process on a multi-threaded runtime is shown for reference.
//! - Flash crowds of N = 1, 2, 4, 8 downloaders and an origin capped at `u_s`, every
//!   host's upload capped at `u` by policy: the last one's completion time against
//!   the fluid-model bound `max(F/u_s, N·F/(u_s + N·u))`, and the origin's bytes
//!   against F and against what the schedule meeting the bound has the origin send
//!   (`u_s` for the whole bound). Writes an SVG plot to docs/swarm-flash-crowd.svg.
//! - The share of bytes from peers with two seeders present.
//! - Tracker announces per second, against npm `bittorrent-tracker` under the same
//!   load.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

use crate::procs::{self, Proc};
use crate::{Result, cargo, root, run, tools};

const MIB: u64 = 1 << 20;
const ROUNDS: usize = 3;
/// Single-connection rounds: the noisiest figure, so more of them.
const ONE_ROUNDS: usize = 5;
/// Single-connection transfer size.
const ONE_SIZE: u64 = 256 * MIB;
/// Flash-crowd content, origin and per-host upload caps (bytes per second).
const CROWD_SIZE: u64 = 32 * MIB;
const U_S: u64 = 4_000_000;
const U: u64 = 2_000_000;
const CROWDS: [usize; 4] = [1, 2, 4, 8];
/// Two-seeder run: content and the origin's per-connection rate.
const SHARE_SIZE: u64 = 64 * MIB;
const SHARE_ORIGIN: u64 = 1_500_000;
/// Tracker load: seconds and client connections.
const LOAD_SECONDS: &str = "5";
const LOAD_CONNECTIONS: &str = "16";

pub fn swarm() -> Result {
    tools::ensure_interop()?;
    procs::build_release()?;
    run(cargo().args([
        "build",
        "--release",
        "-p",
        "swarmload-host",
        "--example",
        "datachannel_throughput",
        "-p",
        "swarmload-tracker",
        "--example",
        "announce_load",
    ]))?;
    let dir = root().join("target/bench-swarm");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;

    // `BENCH_CROWDS=2,2,2,2` runs just those flash crowds (a figure's spread).
    if let Ok(list) = std::env::var("BENCH_CROWDS") {
        for n in list.split(',') {
            let n = n
                .trim()
                .parse()
                .map_err(|_| format!("BENCH_CROWDS: {n}?"))?;
            let c = flash_crowd(&dir, n)?;
            println!("N={n}: {:.2} of the bound", c.last / c.bound);
        }
        return Ok(());
    }
    println!("\n--- one connection: seeder→downloader vs raw data channel");
    let (raw, raw_one, ours) = one_connection(&dir)?;
    println!("\n--- flash crowds vs the fluid-model bound");
    let crowds = CROWDS
        .iter()
        .map(|&n| flash_crowd(&dir, n))
        .collect::<Result<Vec<_>>>()?;
    println!("\n--- bytes from peers with two seeders");
    let shares = (0..ROUNDS)
        .map(|_| peer_share(&dir))
        .collect::<Result<Vec<_>>>()?;
    println!("\n--- tracker announces per second");
    let (ours_t, reference_t) = tracker_load()?;

    println!("\n| measurement | result | yardstick | ratio | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| one connection, {} MiB | {:.1} MB/s | raw data channel, two processes {:.1} MB/s | {:.2} | ≥ 0.80 |",
        ONE_SIZE / MIB,
        ours,
        raw,
        ours / raw
    );
    println!(
        "| (reference) | | raw data channel, one process {:.1} MB/s | {:.2} | |",
        raw_one,
        ours / raw_one
    );
    for c in &crowds {
        println!(
            "| flash crowd N={} (F={} MiB, u_s={} MB/s, u={} MB/s) | last done {:.2} s, origin {:.2} F | fluid bound {:.2} s, origin {:.2} F | {:.2} | ≤ 1.30 |",
            c.n,
            CROWD_SIZE / MIB,
            U_S / 1_000_000,
            U / 1_000_000,
            c.last,
            c.origin_bytes as f64 / CROWD_SIZE as f64,
            c.bound,
            // The schedule that meets the bound keeps the origin busy throughout:
            // it sends u_s for the whole bound, which exceeds F once N·u outgrows it.
            (U_S as f64 * c.bound / CROWD_SIZE as f64).max(1.0),
            c.last / c.bound
        );
    }
    let mut s = shares.clone();
    s.sort_by(f64::total_cmp);
    println!(
        "| bytes from peers, 2 seeders, {} MiB (median of {ROUNDS}) | {:.1}% | — | — | ≥ 95% |",
        SHARE_SIZE / MIB,
        100.0 * s[s.len() / 2]
    );
    println!(
        "| tracker, {LOAD_CONNECTIONS} clients | {:.0} announces/s | bittorrent-tracker {:.0}/s | {:.2} | — |",
        ours_t,
        reference_t,
        ours_t / reference_t
    );
    let svg = root().join("docs/swarm-flash-crowd.svg");
    std::fs::write(&svg, plot(&crowds)).map_err(|e| format!("{}: {e}", svg.display()))?;
    println!("\nplot: {}", svg.display());
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn file_of(dir: &Path, name: &str, size: u64) -> Result<std::path::PathBuf> {
    let path = dir.join(name);
    if std::fs::metadata(&path).map(|m| m.len()).ok() != Some(size) {
        crate::bench::write_noise(&path, size)?;
    }
    Ok(path)
}

fn num(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or(f64::NAN)
}

/// Raw channel MB/s (two processes, one process) and seeder→downloader MB/s
/// (medians).
fn one_connection(dir: &Path) -> Result<(f64, f64, f64)> {
    let file = file_of(dir, "one.bin", ONE_SIZE)?;
    let (mut raw, mut raw_one, mut ours) = (Vec::new(), Vec::new(), Vec::new());
    let raw_run = |mode: &[&str]| -> Result<f64> {
        let out = Command::new(root().join("target/release/examples/datachannel_throughput"))
            .args(mode)
            .arg((ONE_SIZE / MIB).to_string())
            .output()
            .map_err(|e| format!("datachannel_throughput: {e}"))?;
        let v: Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("datachannel_throughput printed {:?}: {e}", out.stdout))?;
        Ok(num(&v, "bytes") / num(&v, "seconds") / 1e6)
    };
    for round in 0..ONE_ROUNDS {
        raw.push(raw_run(&["--processes"])?);
        raw_one.push(raw_run(&[])?);

        // The origin is all but closed (64 KiB/s), so the peer carries the file.
        let (_origin, url) = procs::origin(&file, &["--throttle-total", "65536"])?;
        let (_tracker, tracker) = procs::tracker()?;
        let _seeder = procs::seeder(
            &file,
            &tracker,
            &procs::state_dir(&dir.join("one-seeder"), "")?,
        )?;
        let v = procs::get(
            &url,
            &[&tracker],
            &dir.join("one-out"),
            &procs::state_dir(&dir.join("one-leecher"), "")?,
            &[],
            false,
        )?
        .json()?;
        ours.push(num(&v, "from_peers") / num(&v, "peer_seconds") / 1e6);
        println!(
            "round {round}: raw {:.1} MB/s (one process {:.1}), seeder→downloader {:.1} MB/s ({:.1} MiB from peers)",
            raw[round],
            raw_one[round],
            ours[round],
            num(&v, "from_peers") / MIB as f64
        );
        let _ = std::fs::remove_dir_all(dir.join("one-out"));
    }
    Ok((median(raw), median(raw_one), median(ours)))
}

#[derive(Debug, Clone)]
struct Crowd {
    n: usize,
    last: f64,
    bound: f64,
    origin_bytes: u64,
}

fn flash_crowd(dir: &Path, n: usize) -> Result<Crowd> {
    let file = file_of(dir, "crowd.bin", CROWD_SIZE)?;
    let (_origin, url) =
        procs::origin(&file, &["--throttle-total", &U_S.to_string(), "--metalink"])?;
    let (_tracker, tracker) = procs::tracker()?;
    let config = format!("max_upload_bytes_per_sec = {U}\n");
    let start = Instant::now();
    let mut crowd: Vec<Proc> = Vec::new();
    for i in 0..n {
        crowd.push(procs::get(
            &url,
            &[&tracker],
            &dir.join(format!("crowd-out-{i}")),
            &procs::state_dir(&dir.join(format!("crowd-{i}")), &config)?,
            // Everyone stays until the last one is done, as browsers that keep running.
            &["--seed-for", "10m"],
            false,
        )?);
    }
    let mut summaries = Vec::new();
    for p in &mut crowd {
        summaries.push(p.json()?);
    }
    // Read in order, so the clock now shows when the last one finished.
    let last = start.elapsed().as_secs_f64();
    let origin_bytes = procs::origin_bytes(&url)?;
    drop(crowd);
    for i in 0..n {
        let _ = std::fs::remove_dir_all(dir.join(format!("crowd-out-{i}")));
    }
    let f = CROWD_SIZE as f64;
    let bound = (f / U_S as f64).max(n as f64 * f / (U_S as f64 + n as f64 * U as f64));
    let peers: f64 = summaries.iter().map(|s| num(s, "from_peers")).sum();
    println!(
        "N={n}: last done after {last:.2} s (bound {bound:.2} s), origin {:.1} MiB, peers {:.1} MiB",
        origin_bytes as f64 / MIB as f64,
        peers / MIB as f64
    );
    Ok(Crowd {
        n,
        last,
        bound,
        origin_bytes,
    })
}

fn peer_share(dir: &Path) -> Result<f64> {
    let file = file_of(dir, "share.bin", SHARE_SIZE)?;
    let (_origin, url) = procs::origin(&file, &["--throttle", &SHARE_ORIGIN.to_string()])?;
    let (_tracker, tracker) = procs::tracker()?;
    let _s1 = procs::seeder(
        &file,
        &tracker,
        &procs::state_dir(&dir.join("share-s1"), "")?,
    )?;
    let _s2 = procs::seeder(
        &file,
        &tracker,
        &procs::state_dir(&dir.join("share-s2"), "")?,
    )?;
    let v = procs::get(
        &url,
        &[&tracker],
        &dir.join("share-out"),
        &procs::state_dir(&dir.join("share-leecher"), "")?,
        &[],
        false,
    )?
    .json()?;
    let _ = std::fs::remove_dir_all(dir.join("share-out"));
    let peers = num(&v, "from_peers");
    let share = peers / (peers + num(&v, "from_origin"));
    println!(
        "{:.1}% from peers in {:.2} s",
        100.0 * share,
        num(&v, "seconds")
    );
    Ok(share)
}

/// Announces per second: ours, then the reference tracker, under the same load.
fn tracker_load() -> Result<(f64, f64)> {
    let load = |url: &str| -> Result<f64> {
        let out = Command::new(root().join("target/release/examples/announce_load"))
            .args([url, LOAD_SECONDS, LOAD_CONNECTIONS])
            .output()
            .map_err(|e| format!("announce_load: {e}"))?;
        let v: Value = serde_json::from_slice(&out.stdout)
            .map_err(|_| format!("announce_load: {}", String::from_utf8_lossy(&out.stderr)))?;
        Ok(num(&v, "announces") / num(&v, "seconds"))
    };
    let ours = {
        let (_t, url) = procs::tracker()?;
        load(&url)?
    };
    let reference = {
        let (_t, url) = reference_tracker()?;
        load(&url)?
    };
    println!("swarmload-tracker {ours:.0}/s, bittorrent-tracker {reference:.0}/s");
    Ok((ours, reference))
}

fn reference_tracker() -> Result<(Proc, String)> {
    let mut cmd = Command::new("node");
    // Its warnings about clients that hang up when the load ends are not results.
    cmd.arg("tracker-server.mjs")
        .current_dir(root().join("tests/interop"))
        .stderr(std::process::Stdio::null());
    let mut p = Proc::spawn(&mut cmd, "bittorrent-tracker")?;
    let line = p.line()?;
    let url = line
        .strip_prefix("listening on ")
        .ok_or_else(|| format!("bittorrent-tracker printed {line:?}"))?
        .to_string();
    Ok((p, url))
}

/// Completion time of the last downloader and the fluid bound against N, as SVG.
fn plot(crowds: &[Crowd]) -> String {
    let (w, h, m) = (640.0, 400.0, 60.0);
    // Room above the highest point, rounded up to whole 5 s ticks.
    let max_t = (crowds
        .iter()
        .flat_map(|c| [c.last, c.bound])
        .fold(1.0f64, f64::max)
        * 1.1
        / 5.0)
        .ceil()
        * 5.0;
    let x = |n: usize| m + (n as f64 - 1.0) / 7.0 * (w - 2.0 * m);
    let y = |t: f64| h - m - t / max_t * (h - 2.0 * m);
    let line = |pick: &dyn Fn(&Crowd) -> f64| {
        crowds
            .iter()
            .map(|c| format!("{:.1},{:.1}", x(c.n), y(pick(c))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="13">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="24" text-anchor="middle" font-size="15">Flash crowd: completion of the last downloader (F = {} MiB, u_s = {} MB/s, u = {} MB/s)</text>
<line x1="{m}" y1="{}" x2="{}" y2="{}" stroke="black"/>
<line x1="{m}" y1="{m}" x2="{m}" y2="{}" stroke="black"/>
<text x="{}" y="{}" text-anchor="middle">downloaders N</text>
<text x="16" y="{}" transform="rotate(-90 16 {})" text-anchor="middle">seconds</text>
"##,
        w / 2.0,
        CROWD_SIZE / MIB,
        U_S / 1_000_000,
        U / 1_000_000,
        h - m,
        w - m,
        h - m,
        h - m,
        w / 2.0,
        h - 15.0,
        h / 2.0,
        h / 2.0
    );
    for n in CROWDS {
        svg += &format!(
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{n}</text>
"#,
            x(n),
            h - m + 18.0
        );
    }
    for k in 0..=4 {
        let t = max_t * k as f64 / 4.0;
        svg += &format!(
            r##"<text x="{}" y="{:.1}" text-anchor="end">{t:.0}</text><line x1="{m}" y1="{:.1}" x2="{}" y2="{:.1}" stroke="#ddd"/>
"##,
            m - 6.0,
            y(t) + 4.0,
            y(t),
            w - m,
            y(t)
        );
    }
    svg += &format!(
        r##"<polyline points="{}" fill="none" stroke="#888" stroke-dasharray="6 4" stroke-width="2"/>
<polyline points="{}" fill="none" stroke="#1565c0" stroke-width="2.5"/>
"##,
        line(&|c| c.bound),
        line(&|c| c.last)
    );
    for c in crowds {
        svg += &format!(
            r##"<circle cx="{:.1}" cy="{:.1}" r="4" fill="#1565c0"/>
"##,
            x(c.n),
            y(c.last)
        );
    }
    svg += &format!(
        r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#1565c0" stroke-width="2.5"/><text x="{}" y="{}">measured (last to finish)</text>
<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#888" stroke-dasharray="6 4" stroke-width="2"/><text x="{}" y="{}">fluid-model bound</text>
</svg>
"##,
        m + 10.0,
        m + 10.0,
        m + 40.0,
        m + 10.0,
        m + 46.0,
        m + 14.0,
        m + 10.0,
        m + 30.0,
        m + 40.0,
        m + 30.0,
        m + 46.0,
        m + 34.0
    );
    svg
}

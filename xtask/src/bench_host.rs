//! `cargo xtask bench host`: the host as a downloader against the test origin on
//! 127.0.0.1, next to curl fetching the same URL in the same run, printed as a table
//! for docs/benchmarks.md.
//!
//! - 1 GiB, unthrottled origin, no peers: wall time vs `curl -o` (alternating runs,
//!   medians), and vs `curl -o` followed by `openssl dgst -sha256` (download, then
//!   verify: the same guarantee the host gives).
//! - An origin that throttles each connection: speed vs curl's single connection.
//! - Peak RSS (from the kernel's rusage) at 1 GiB and 4 GiB.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use crate::{Result, cargo, root, run};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const ROUNDS: usize = 5;
const THROTTLE: u64 = 4_000_000;
const THROTTLED_SIZE: u64 = 48 * MIB;

/// The test origin as a child process, stopped when dropped.
pub(crate) struct Origin {
    child: Child,
    pub(crate) url: String,
}

impl Origin {
    fn start(file: &Path, throttle: Option<u64>) -> Result<Origin> {
        let args: Vec<String> = match throttle {
            Some(t) => vec!["--throttle".into(), t.to_string()],
            None => Vec::new(),
        };
        Self::start_with(file, &args)
    }

    /// `test-origin FILE ARGS…`.
    pub(crate) fn start_with(file: &Path, args: &[String]) -> Result<Origin> {
        let mut cmd = Command::new(root().join("target/release/test-origin"));
        cmd.arg(file).args(args).stdout(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| format!("test-origin: {e}"))?;
        let mut line = String::new();
        let stdout = child.stdout.take().ok_or("test-origin: no stdout")?;
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| format!("test-origin: {e}"))?;
        let url = line.trim().to_string();
        if !url.starts_with("http://127.0.0.1:") {
            return Err(format!("test-origin printed {url:?}"));
        }
        Ok(Origin { child, url })
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command to its end; returns wall seconds and peak RSS in KiB.
pub(crate) fn measured(cmd: &mut Command) -> Result<(f64, u64)> {
    let start = Instant::now();
    let child = cmd
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let secs = start.elapsed().as_secs_f64();
    if r != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!("{cmd:?} failed (wait status {status})"));
    }
    Ok((secs, usage.ru_maxrss as u64))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub(crate) fn file_of(dir: &Path, name: &str, size: u64) -> Result<PathBuf> {
    let path = dir.join(name);
    if std::fs::metadata(&path).map(|m| m.len()).ok() != Some(size) {
        crate::bench::write_noise(&path, size)?;
    }
    Ok(path)
}

struct Pair {
    ours: f64,
    curl: f64,
    curl_then_sha: f64,
    rss_kib: u64,
}

/// Alternating runs of curl and the host on one URL.
fn compare(url: &str, out: &Path, rounds: usize, verify_yardstick: bool) -> Result<Pair> {
    let host = root().join("target/release/swarmload-host");
    let state = out.with_extension("state");
    let (mut ours, mut curl, mut both) = (Vec::new(), Vec::new(), Vec::new());
    let mut rss = 0;
    for _ in 0..rounds {
        let _ = std::fs::remove_file(out);
        let (c, _) = measured(Command::new("curl").args(["-s", "-o"]).arg(out).arg(url))?;
        curl.push(c);
        if verify_yardstick {
            let start = Instant::now();
            let ok = Command::new("openssl")
                .args(["dgst", "-sha256"])
                .arg(out)
                .stdout(Stdio::null())
                .status()
                .map_err(|e| format!("openssl: {e}"))?
                .success();
            if !ok {
                return Err("openssl dgst failed".into());
            }
            both.push(c + start.elapsed().as_secs_f64());
        }
        let _ = std::fs::remove_file(out);
        let _ = std::fs::remove_dir_all(&state);
        let (o, r) = measured(
            Command::new(&host)
                .args(["get", url, "--no-seed", "-o"])
                .arg(out)
                .arg("--state-dir")
                .arg(&state),
        )?;
        ours.push(o);
        rss = rss.max(r);
    }
    let _ = std::fs::remove_file(out);
    let _ = std::fs::remove_dir_all(&state);
    Ok(Pair {
        ours: median(&mut ours),
        curl: median(&mut curl),
        curl_then_sha: if both.is_empty() {
            0.0
        } else {
            median(&mut both)
        },
        rss_kib: rss,
    })
}

/// The release host and test origin the benchmarks run.
pub(crate) fn build_release() -> Result {
    run(cargo().args([
        "build",
        "--release",
        "-p",
        "swarmload-host",
        "-p",
        "swarmload-tests",
    ]))
}

pub fn host() -> Result {
    build_release()?;
    let dir = root().join("target/bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let out = dir.join("download.out");

    println!("\n--- 1 GiB, unthrottled origin on 127.0.0.1, {ROUNDS} alternating rounds");
    let one = file_of(&dir, "host-1GiB.bin", GIB)?;
    let origin = Origin::start(&one, None)?;
    let g1 = compare(&origin.url, &out, ROUNDS, true)?;
    drop(origin);
    println!(
        "host {:.3} s, curl {:.3} s, curl + openssl {:.3} s, host peak RSS {} KiB",
        g1.ours, g1.curl, g1.curl_then_sha, g1.rss_kib
    );

    println!("\n--- 4 GiB, unthrottled, one round");
    let four = file_of(&dir, "host-4GiB.bin", 4 * GIB)?;
    let origin = Origin::start(&four, None)?;
    let g4 = compare(&origin.url, &out, 1, false)?;
    drop(origin);
    let _ = std::fs::remove_file(&four);
    println!(
        "host {:.3} s, curl {:.3} s, host peak RSS {} KiB",
        g4.ours, g4.curl, g4.rss_kib
    );

    println!(
        "\n--- {} MiB, origin throttled to {} MB/s per connection",
        THROTTLED_SIZE / MIB,
        THROTTLE / 1_000_000
    );
    let small = file_of(&dir, "host-throttled.bin", THROTTLED_SIZE)?;
    let origin = Origin::start(&small, Some(THROTTLE))?;
    let th = compare(&origin.url, &out, 1, false)?;
    drop(origin);
    println!("host {:.2} s, curl {:.2} s", th.ours, th.curl);

    let mbps = |secs: f64, size: u64| size as f64 / secs / 1e6;
    println!("\n## Host benchmarks\n");
    println!("| measurement | host | yardstick (same run) | ratio | target |");
    println!("|---|---:|---|---:|---|");
    println!(
        "| 1 GiB download, unthrottled local origin, no peers (median of {ROUNDS}) | {:.3} s | `curl -o`: {:.3} s | {:.2}x | <= 1.10x |",
        g1.ours,
        g1.curl,
        g1.ours / g1.curl
    );
    println!(
        "| same, against download-then-verify | {:.3} s | `curl -o` + `openssl dgst -sha256`: {:.3} s | {:.2}x | |",
        g1.ours,
        g1.curl_then_sha,
        g1.ours / g1.curl_then_sha
    );
    println!(
        "| {} MiB download, origin throttled to {} MB/s per connection | {:.1} MB/s | `curl -o`: {:.1} MB/s | {:.2}x | >= 3x |",
        THROTTLED_SIZE / MIB,
        THROTTLE / 1_000_000,
        mbps(th.ours, THROTTLED_SIZE),
        mbps(th.curl, THROTTLED_SIZE),
        th.curl / th.ours
    );
    println!(
        "| peak RSS, 1 GiB download | {:.1} MiB | | | <= 64 MiB |",
        g1.rss_kib as f64 / 1024.0
    );
    println!(
        "| peak RSS, 4 GiB download | {:.1} MiB | (4 GiB: host {:.2} s, curl {:.2} s) | | <= 64 MiB |",
        g4.rss_kib as f64 / 1024.0,
        g4.ours,
        g4.curl
    );
    Ok(())
}

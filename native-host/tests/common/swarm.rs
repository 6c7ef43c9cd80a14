//! Real swarms for tests: a `swarmload-tracker` process, seeders and downloaders as
//! `swarmload-host` processes, all on 127.0.0.1 with ICE confined to it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{TempDir, host_bin};

/// Deterministic content of `len` bytes that no two blocks share.
pub fn content(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// The tracker binary: beside the host binary (cargo builds every workspace binary
/// for `cargo test --workspace`); built on demand for a narrower run.
pub fn tracker_bin() -> PathBuf {
    let dir = Path::new(host_bin())
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let bin = dir.join("swarmload-tracker");
    if !bin.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args([
                "build",
                "-p",
                "swarmload-tracker",
                "--bin",
                "swarmload-tracker",
            ])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "the tracker builds");
    }
    bin
}

/// Reads a child's stdout lines until one satisfies `pick`, for at most 60 s.
async fn read_until(child: &mut Child, pick: impl Fn(&str) -> bool) -> String {
    let out = child.stdout.as_mut().expect("stdout piped");
    let mut lines = BufReader::new(out).lines();
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if pick(&line) {
                return Some(line);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(line)) => line,
        _ => panic!("the process did not print what was expected"),
    }
}

/// A running `swarmload-tracker` on 127.0.0.1; killed when dropped.
pub struct TrackerProcess {
    pub child: Child,
    pub url: String,
}

impl TrackerProcess {
    pub async fn start() -> TrackerProcess {
        Self::start_on("127.0.0.1:0").await
    }

    pub async fn start_on(addr: &str) -> TrackerProcess {
        Self::start_with(addr, &[]).await
    }

    /// A tracker on `addr` with extra command-line arguments.
    pub async fn start_with(addr: &str, extra: &[&str]) -> TrackerProcess {
        let mut child = Command::new(tracker_bin())
            .args(["--listen", addr])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the tracker starts");
        let line = read_until(&mut child, |l| l.starts_with("listening on ")).await;
        let url = line.trim_start_matches("listening on ").trim().to_string();
        TrackerProcess { child, url }
    }

    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// A `swarmload-host seed` process; killed when dropped.
pub struct SeederProcess {
    pub child: Child,
    pub sha256: String,
    pub state: TempDir,
}

impl SeederProcess {
    pub async fn start(file: &Path, trackers: &[&str], extra: &[&str]) -> SeederProcess {
        Self::start_with_config(file, trackers, extra, "").await
    }

    /// A seeder whose `config.toml` is `config`.
    pub async fn start_with_config(
        file: &Path,
        trackers: &[&str],
        extra: &[&str],
        config: &str,
    ) -> SeederProcess {
        let state = state_with(config);
        let mut child = host_command(&["seed"], file, trackers, extra, state.path())
            .stderr(Stdio::null())
            .spawn()
            .expect("the seeder starts");
        let line = read_until(&mut child, |l| l.starts_with('{')).await;
        let v: Value = serde_json::from_str(&line).expect("a JSON line");
        let sha256 = v["sha256"].as_str().unwrap_or_default().to_string();
        // Its tracker client announces right after it printed; give it that moment.
        wait_for_log(state.path(), "tracker connected").await;
        SeederProcess {
            child,
            sha256,
            state,
        }
    }

    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// A state directory whose `config.toml` is `config`.
fn state_with(config: &str) -> TempDir {
    let state = TempDir::new("host");
    std::fs::write(state.join("config.toml"), config).unwrap();
    state
}

/// `swarmload-host ARGS PATH --json` on loopback ICE with the trackers, extra
/// arguments and a private state directory; stdout piped, killed when dropped.
fn host_command(
    args: &[&str],
    path: &Path,
    trackers: &[&str],
    extra: &[&str],
    state: &Path,
) -> Command {
    let mut cmd = Command::new(host_bin());
    cmd.args(args)
        .arg(path)
        .args(["--json", "--ice-addr", "127.0.0.1"]);
    for t in trackers {
        cmd.args(["--tracker", t]);
    }
    cmd.args(extra)
        .arg("--state-dir")
        .arg(state)
        .env_remove("SWARMLOAD_HOME")
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Waits (at most 30 s) until the host's log in `state` has a line containing `what`.
pub async fn wait_for_log(state: &Path, what: &str) {
    let log = state.join("host.log");
    for _ in 0..300 {
        if std::fs::read_to_string(&log).is_ok_and(|s| s.contains(what)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} never logged {what:?}", log.display());
}

/// A `swarmload-host get --json` started in the background.
pub struct Leecher {
    pub child: Child,
    pub state: TempDir,
    pub dir: TempDir,
}

impl Leecher {
    pub fn start(url: &str, trackers: &[&str], extra: &[&str]) -> Leecher {
        Self::start_with_config(url, trackers, extra, "")
    }

    /// A download whose `config.toml` is `config`.
    pub fn start_with_config(
        url: &str,
        trackers: &[&str],
        extra: &[&str],
        config: &str,
    ) -> Leecher {
        let state = state_with(config);
        let dir = TempDir::new("leecher-out");
        let mut cmd = host_command(
            &["get", url, "-o"],
            dir.path(),
            trackers,
            extra,
            state.path(),
        );
        let child = cmd
            .stderr(Stdio::piped())
            .spawn()
            .expect("the download starts");
        Leecher { child, state, dir }
    }

    /// The JSON summary, printed as the download completes, while the process goes
    /// on (seeding with `--seed-for`).
    pub async fn completed(&mut self) -> Value {
        let line = read_until(&mut self.child, |l| l.starts_with('{')).await;
        serde_json::from_str(&line).expect("a JSON summary")
    }

    /// Waits for the end (at most `limit`): the JSON summary of a successful run.
    pub async fn finish(self, limit: Duration) -> Summary {
        let Leecher { child, state, dir } = self;
        let out = tokio::time::timeout(limit, child.wait_with_output())
            .await
            .expect("the download ends in time")
            .expect("the download runs");
        let log = std::fs::read_to_string(state.join("host.log")).unwrap_or_default();
        assert!(
            out.status.success(),
            "get failed: {}\n--- log ---\n{}",
            String::from_utf8_lossy(&out.stderr),
            log
        );
        let json: Value = serde_json::from_slice(&out.stdout).expect("a JSON summary");
        let path = PathBuf::from(json["path"].as_str().unwrap_or_default());
        Summary {
            bytes: std::fs::read(&path).expect("the saved file"),
            from_peers: json["from_peers"].as_u64().unwrap_or_default(),
            from_origin: json["from_origin"].as_u64().unwrap_or_default(),
            seconds: json["seconds"].as_f64().unwrap_or_default(),
            peers_banned: json["peers_banned"].as_u64().unwrap_or_default(),
            json,
            log,
            _dir: dir,
            _state: state,
        }
    }
}

pub struct Summary {
    pub bytes: Vec<u8>,
    pub from_peers: u64,
    pub from_origin: u64,
    pub seconds: f64,
    pub peers_banned: u64,
    /// The whole `--json` summary.
    pub json: Value,
    pub log: String,
    _dir: TempDir,
    _state: TempDir,
}

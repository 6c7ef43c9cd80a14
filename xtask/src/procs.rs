//! The release binaries as child processes, for the benchmarks: the test
//! origin, the tracker, seeders and downloads. Every child is killed when its handle
//! is dropped, so nothing is left running whatever way a run ends.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{Result, root};

pub fn release_bin(name: &str) -> PathBuf {
    root().join("target/release").join(name)
}

/// Builds the release binaries the swarm runs use.
pub fn build_release() -> Result {
    crate::run(crate::cargo().args([
        "build",
        "--release",
        "-p",
        "swarmload-host",
        "-p",
        "swarmload-tracker",
        "-p",
        "swarmload-tests",
        "--bins",
    ]))
}

/// A child process, killed and reaped when dropped.
pub struct Proc {
    child: Child,
    lines: Option<std::io::Lines<BufReader<ChildStdout>>>,
    what: String,
}

impl Proc {
    pub fn spawn(cmd: &mut Command, what: &str) -> Result<Proc> {
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{what}: {e}"))?;
        let lines = child.stdout.take().map(|o| BufReader::new(o).lines());
        Ok(Proc {
            child,
            lines,
            what: what.to_string(),
        })
    }

    /// The next line the process prints on stdout.
    pub fn line(&mut self) -> Result<String> {
        match self.lines.as_mut().and_then(Iterator::next) {
            Some(Ok(l)) => Ok(l),
            _ => Err(format!(
                "{} ended without saying what was expected",
                self.what
            )),
        }
    }

    /// The next stdout line, as JSON.
    pub fn json(&mut self) -> Result<Value> {
        let line = self.line()?;
        serde_json::from_str(&line).map_err(|_| format!("{}: not JSON: {line}", self.what))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `test-origin FILE ARGS…`: the process and the file's URL.
pub fn origin(file: &Path, args: &[&str]) -> Result<(Proc, String)> {
    let mut p = Proc::spawn(
        Command::new(release_bin("test-origin"))
            .arg(file)
            .args(args),
        "test-origin",
    )?;
    let url = p.line()?;
    if !url.starts_with("http://127.0.0.1:") {
        return Err(format!("test-origin printed {url:?}"));
    }
    Ok((p, url))
}

/// The origin's count of content bytes served so far.
pub fn origin_bytes(url: &str) -> Result<u64> {
    let base = url
        .find("/files/")
        .map(|i| &url[..i])
        .ok_or("not a test-origin URL")?;
    let out = Command::new("curl")
        .args(["-s", &format!("{base}/stats")])
        .output()
        .map_err(|e| format!("curl: {e}"))?;
    let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("stats: {e}"))?;
    v["body_bytes"]
        .as_u64()
        .ok_or_else(|| "stats: no body_bytes".into())
}

/// `swarmload-tracker` on an ephemeral loopback port: the process and its URL.
pub fn tracker() -> Result<(Proc, String)> {
    let mut p = Proc::spawn(
        Command::new(release_bin("swarmload-tracker"))
            .args(["--listen", "127.0.0.1:0"])
            .stderr(Stdio::null()),
        "swarmload-tracker",
    )?;
    let line = p.line()?;
    let url = line
        .strip_prefix("listening on ")
        .ok_or_else(|| format!("the tracker printed {line:?}"))?
        .trim()
        .to_string();
    Ok((p, url))
}

/// A host's state directory with `config` as its config.toml.
pub fn state_dir(dir: &Path, config: &str) -> Result<PathBuf> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::write(dir.join("config.toml"), config).map_err(|e| e.to_string())?;
    Ok(dir.to_path_buf())
}

/// `swarmload-host seed FILE`, on loopback, once it has hashed the file and
/// announced it.
pub fn seeder(file: &Path, tracker: &str, state: &Path) -> Result<Proc> {
    let mut p = Proc::spawn(
        Command::new(release_bin("swarmload-host"))
            .arg("seed")
            .arg(file)
            .args(["--json", "--ice-addr", "127.0.0.1", "--tracker", tracker])
            .arg("--state-dir")
            .arg(state)
            .env_remove("SWARMLOAD_HOME"),
        "swarmload-host seed",
    )?;
    p.json()?;
    wait_for_log(state, "tracker connected")?;
    Ok(p)
}

fn wait_for_log(state: &Path, what: &str) -> Result {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if std::fs::read_to_string(state.join("host.log")).is_ok_and(|s| s.contains(what)) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("{} never logged {what:?}", state.display()))
}

/// `swarmload-host get URL --json`, saving into `out`; `show` leaves stderr to the
/// terminal (the progress bar).
pub fn get(
    url: &str,
    trackers: &[&str],
    out: &Path,
    state: &Path,
    extra: &[&str],
    show: bool,
) -> Result<Proc> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut cmd = Command::new(release_bin("swarmload-host"));
    cmd.args(["get", url, "--json", "--ice-addr", "127.0.0.1", "-o"])
        .arg(out)
        .arg("--state-dir")
        .arg(state)
        .args(extra)
        .env_remove("SWARMLOAD_HOME");
    for t in trackers {
        cmd.args(["--tracker", t]);
    }
    if !show {
        cmd.stderr(Stdio::null());
    }
    Proc::spawn(&mut cmd, "swarmload-host get")
}

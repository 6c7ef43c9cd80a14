//! Shared by the host's integration tests: temporary directories, the real binary,
//! and its status.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

pub mod member;
pub mod swarm;

use serde_json::Value;

/// A fresh directory under the system temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("swl-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn host_bin() -> &'static str {
    env!("CARGO_BIN_EXE_swarmload-host")
}

/// `swarmload-host ARGS` with a private state dir, run to its end.
pub async fn host(state: &Path, cwd: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(host_bin())
        .args(args)
        .arg("--state-dir")
        .arg(state)
        .current_dir(cwd)
        .env_remove("SWARMLOAD_HOME")
        .output()
        .await
        .unwrap()
}

pub async fn status(state: &Path) -> Value {
    let out = tokio::process::Command::new(host_bin())
        .args(["status", "--json", "--state-dir"])
        .arg(state)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// An origin whose content changes mid-download: `v0`, then `v1` from its second
/// GET on (the first is the download's first range), throttled so the download
/// takes several ranges.
pub fn changing_content(v0: &[u8], v1: &[u8]) -> swarmload_tests::origin::OriginConfig {
    let mut cfg = swarmload_tests::origin::OriginConfig::memory(v0.to_vec());
    cfg.versions
        .push(swarmload_tests::origin::Content::Memory(v1.to_vec().into()));
    cfg.change_after_gets = Some(1);
    cfg.throttle_per_connection = Some(4_000_000);
    cfg
}

//! `cargo xtask demo`: Swarmload as a user meets it, end to end on this machine.
//! Builds the release binaries and the extension, installs what the browser run
//! needs (Chromium, the pinned npm packages), then `tests/e2e/demo.mjs` starts a
//! throttled local origin serving a sample file with `Repr-Digest`, a tracker, two
//! native seeders, and a real Chromium with the extension and the registered native
//! host; it clicks the download link and prints where the bytes came from, the times
//! and speeds, against the origin alone.
//!
//! As root it runs inside a private network namespace (`tests/e2e/run.sh`), so
//! nothing it starts can reach or be reached from outside; otherwise on loopback.
//! Every process it started is gone when it ends, and its files are removed.

use std::process::Command;

use crate::{Result, procs, root, run, tools};

pub fn demo() -> Result {
    tools::ensure_chromium()?;
    tools::ensure_e2e()?;
    println!("building the release binaries and the extension…");
    procs::build_release()?;
    crate::extension::build()?;
    let work = "target/demo";
    let mut cmd = if tools::is_root() {
        let mut c = crate::test::e2e_command("target/release", work)?;
        c.arg("demo.mjs");
        c
    } else {
        let mut c = Command::new("node");
        c.arg("demo.mjs").current_dir(root().join("tests/e2e"));
        crate::test::e2e_env(&mut c, "target/release", work)?;
        c
    };
    let result = run(&mut cmd);
    let _ = std::fs::remove_dir_all(root().join(work));
    result
}

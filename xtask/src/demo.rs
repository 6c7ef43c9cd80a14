//! `cargo xtask demo`: a swarm on this machine, end to end. Builds the release
//! binaries, then starts on 127.0.0.1 a test origin serving a sample file with
//! `Repr-Digest` and throttled like a busy server, a tracker, and two seeders; runs a
//! `swarmload-host get` with its progress bar; then the same download from the origin
//! alone, and prints where the bytes came from and how long each took. Every process
//! it started is gone when it ends.

use std::path::Path;

use serde_json::Value;

use crate::Result;
use crate::procs::{self, build_release};

const MIB: u64 = 1 << 20;
const SIZE: u64 = 64 * MIB;
/// Bytes per second the origin gives each connection.
const ORIGIN_PER_CONNECTION: u64 = 1_500_000;

pub fn demo() -> Result {
    println!("building the release binaries…");
    build_release()?;
    let dir = crate::root().join("target/demo");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let result = run(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run(dir: &Path) -> Result {
    let file = dir.join("sample.iso");
    crate::bench::write_noise(&file, SIZE)?;
    let (_origin, url) = procs::origin(&file, &["--throttle", &ORIGIN_PER_CONNECTION.to_string()])?;
    let (_tracker, tracker) = procs::tracker()?;
    let _s1 = procs::seeder(
        &file,
        &tracker,
        &procs::state_dir(&dir.join("seeder-1"), "")?,
    )?;
    let _s2 = procs::seeder(
        &file,
        &tracker,
        &procs::state_dir(&dir.join("seeder-2"), "")?,
    )?;
    println!(
        "\norigin  {url}  ({:.1} MB/s per connection)\ntracker {tracker}\nseeders 2, each serving {}\n",
        ORIGIN_PER_CONNECTION as f64 / 1e6,
        file.display()
    );

    println!("swarmload-host get {url} --tracker {tracker}");
    let swarm = procs::get(
        &url,
        &[&tracker],
        &dir.join("out-swarm"),
        &procs::state_dir(&dir.join("leecher"), "")?,
        &[],
        true,
    )?
    .json()?;
    let origin_after_swarm = procs::origin_bytes(&url)?;

    println!("\nthe same file from the origin alone: swarmload-host get {url}");
    let alone = procs::get(
        &url,
        &[],
        &dir.join("out-origin"),
        &procs::state_dir(&dir.join("alone"), "")?,
        &[],
        true,
    )?
    .json()?;

    let secs = |v: &Value| v["seconds"].as_f64().unwrap_or(f64::NAN);
    let bytes = |v: &Value, k: &str| v[k].as_u64().unwrap_or(0);
    println!();
    println!(
        "{:<22} {:>9} {:>12} {:>12} {:>12}",
        "", "time", "speed", "from peers", "from origin"
    );
    for (name, v) in [("swarm (2 seeders)", &swarm), ("origin alone", &alone)] {
        println!(
            "{:<22} {:>7.2} s {:>7.1} MB/s {:>8.1} MiB {:>8.1} MiB",
            name,
            secs(v),
            SIZE as f64 / secs(v) / 1e6,
            bytes(v, "from_peers") as f64 / MIB as f64,
            bytes(v, "from_origin") as f64 / MIB as f64,
        );
    }
    let peers = bytes(&swarm, "from_peers") as f64;
    let total = peers + bytes(&swarm, "from_origin") as f64;
    println!(
        "\npeers served {:.1}% of the bytes; the origin sent {:.1} MiB for the swarm download; {:.1}x faster than the origin alone",
        100.0 * peers / total.max(1.0),
        origin_after_swarm as f64 / MIB as f64,
        secs(&alone) / secs(&swarm)
    );
    for v in [&swarm, &alone] {
        if v["sha256"] != swarm["sha256"] {
            return Err("the two downloads differ".into());
        }
    }
    Ok(())
}

//! `cargo xtask bench mirrors`: Metalink/HTTP mirrors (`Link: rel=duplicate`) as extra
//! origin sources. Every server (the origin and each mirror) is a test origin on
//! 127.0.0.1 whose uplink is capped at `UPLINK` for all its connections together, as
//! a busy server's is. The host downloads the same file with 0, 1, 2 and 4 mirrors
//! named; the yardsticks, in the same run, are curl from the origin alone and the
//! fluid bound: size ÷ (servers × `UPLINK`).

use std::process::Command;

use crate::bench_host::{Origin, build_release, file_of, measured};
use crate::{Result, root};

const MIB: u64 = 1 << 20;
const SIZE: u64 = 48 * MIB;
const UPLINK: u64 = 4_000_000;

pub fn mirrors() -> Result {
    build_release()?;
    let dir = root().join("target/bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let file = file_of(&dir, "mirrors.bin", SIZE)?;
    let out = dir.join("mirrors.out");
    let state = dir.join("mirrors.state");
    let host = root().join("target/release/swarmload-host");
    let uplink = vec!["--throttle-total".to_string(), UPLINK.to_string()];

    let origin = Origin::start_with(&file, &uplink)?;
    let _ = std::fs::remove_file(&out);
    let (curl, _) = measured(
        Command::new("curl")
            .args(["-s", "-o"])
            .arg(&out)
            .arg(&origin.url),
    )?;
    drop(origin);

    let mut rows = Vec::new();
    for m in [0usize, 1, 2, 4] {
        let mut mirror_args = uplink.clone();
        mirror_args.push("--no-digest".into());
        let mirrors: Vec<Origin> = (0..m)
            .map(|_| Origin::start_with(&file, &mirror_args))
            .collect::<Result<_>>()?;
        let mut args = uplink.clone();
        for (i, mirror) in mirrors.iter().enumerate() {
            args.push("--link".into());
            args.push(format!("<{}>; rel=duplicate; pri={}", mirror.url, i + 1));
        }
        let origin = Origin::start_with(&file, &args)?;
        let _ = std::fs::remove_file(&out);
        let _ = std::fs::remove_dir_all(&state);
        let (secs, _) = measured(
            Command::new(&host)
                .args(["get", &origin.url, "--no-seed", "-o"])
                .arg(&out)
                .arg("--state-dir")
                .arg(&state),
        )?;
        let bound = SIZE as f64 / ((1 + m) as f64 * UPLINK as f64);
        println!("{m} mirrors: {secs:.2} s (bound {bound:.2} s)");
        rows.push((m, secs, bound));
    }
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_dir_all(&state);

    let mbps = |secs: f64| SIZE as f64 / secs / 1e6;
    println!(
        "\n## Mirrors: {} MiB, every server's uplink capped at {} MB/s\n",
        SIZE / MIB,
        UPLINK / 1_000_000
    );
    println!(
        "| servers | host | speed | vs curl, origin alone ({:.1} MB/s) | vs fluid bound |",
        mbps(curl)
    );
    println!("|---|---:|---:|---:|---:|");
    for (m, secs, bound) in rows {
        println!(
            "| origin + {m} mirrors | {secs:.2} s | {:.1} MB/s | {:.2}x | {:.2} |",
            mbps(secs),
            curl / secs,
            bound / secs
        );
    }
    Ok(())
}

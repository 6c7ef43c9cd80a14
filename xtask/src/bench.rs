//! `cargo xtask bench core`: the core's speed, each figure next to a yardstick
//! measured in the same run, printed as a table for docs/benchmarks.md.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::{Result, cargo, root, run, tools};

const GIB: u64 = 1 << 30;
const ROUNDS: usize = 5;

pub fn core() -> Result {
    tools::ensure_all()?;
    run(cargo().args(["build", "--release", "-p", "swarmload-host"]))?;
    run(cargo().args([
        "build",
        "--release",
        "-p",
        "swarmload-core",
        "--example",
        "engine_throughput",
        "--example",
        "swarm_bench",
    ]))?;

    println!("\n--- both digests of a 1 GiB file vs openssl");
    let (ours, openssl) = digests()?;
    println!("\n--- hashing in wasm, headless Chromium");
    let wasm = wasm_hashing()?;
    println!("\n--- engine throughput, 32 peers, one core");
    let engine = result_lines(
        Command::new(root().join("target/release/examples/engine_throughput")),
        "engine",
    )?;
    println!("\n--- flash crowds vs the fluid-model bound");
    let crowd = capture(&mut Command::new(
        root().join("target/release/examples/swarm_bench"),
    ))?;

    let engine_gbps = engine
        .first()
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or("?");
    let get = |key: &str| {
        wasm.iter()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth_back(1))
            .unwrap_or("?")
            .to_string()
    };
    println!("\n## Core benchmarks\n");
    println!("| measurement | result | yardstick (same run) | ratio | target |");
    println!("|---|---:|---|---:|---|");
    println!(
        "| SHA-256 + BEP 52 root of a 1 GiB page-cached file (`swarmload-host hash`, median of {ROUNDS}) | {ours:.3} s | `openssl dgst -sha256`: {openssl:.3} s | {:.2}x | <= 1.25x |",
        ours / openssl
    );
    println!(
        "| wasm: SHA-256 of the whole file (sha2), fed 16 KiB chunks | {} MB/s | | | >= 250 MB/s |",
        get("wasm-sha256")
    );
    println!(
        "| wasm: BEP 52 leaves + root (4-lane SIMD), fed 16 KiB chunks | {} MB/s | SIMD kernel alone: {} MB/s | | |",
        get("wasm-leaves"),
        get("wasm-simd4")
    );
    println!(
        "| wasm: both digests on one thread (`WasmHasher`), fed 16 KiB chunks | {} MB/s | | | |",
        get("wasm-hash chunk=16384")
    );
    println!(
        "| engine: blocks received, Merkle-checked and scheduled, 32 peers, one core | {engine_gbps} GB/s | | | >= 1 GB/s |"
    );
    println!("\n{}", crowd.join("\n"));
    Ok(())
}

/// Median wall times of our `hash` and openssl over the same page-cached file.
fn digests() -> Result<(f64, f64)> {
    let dir = root().join("target/bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let file = dir.join("hash-1GiB.bin");
    if std::fs::metadata(&file).map(|m| m.len()).ok() != Some(GIB) {
        write_noise(&file, GIB)?;
    }
    // Into the page cache, so both commands read memory, not disk.
    let mut buf = vec![0u8; 1 << 20];
    let mut f = File::open(&file).map_err(|e| e.to_string())?;
    while f.read(&mut buf).map_err(|e| e.to_string())? > 0 {}

    let host = root().join("target/release/swarmload-host");
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for _ in 0..ROUNDS {
        theirs.push(time(
            Command::new("openssl").args(["dgst", "-sha256"]).arg(&file),
        )?);
        ours.push(time(Command::new(&host).arg("hash").arg(&file))?);
    }
    let (o, t) = (median(&mut ours), median(&mut theirs));
    println!("swarmload-host hash: {o:.3} s, openssl dgst -sha256: {t:.3} s");
    Ok((o, t))
}

pub fn write_noise(path: &Path, size: u64) -> Result {
    let mut f = File::create(path).map_err(|e| e.to_string())?;
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut chunk = vec![0u8; 1 << 20];
    for _ in 0..size / chunk.len() as u64 {
        for w in chunk.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            w.copy_from_slice(&state.to_le_bytes());
        }
        f.write_all(&chunk).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn time(cmd: &mut Command) -> Result<f64> {
    let start = Instant::now();
    let status = cmd
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if !status.success() {
        return Err(format!("{cmd:?} failed"));
    }
    Ok(start.elapsed().as_secs_f64())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn capture(cmd: &mut Command) -> Result<Vec<String>> {
    let out = cmd
        .current_dir(root())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?} failed"));
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    print!("{text}");
    Ok(text
        .lines()
        .filter(|l| !l.starts_with("RESULT"))
        .map(str::to_string)
        .collect())
}

/// The text after `RESULT <key> ` on each matching line.
fn result_lines(mut cmd: Command, key: &str) -> Result<Vec<String>> {
    let out = cmd
        .current_dir(root())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    print!("{text}");
    if !out.status.success() {
        return Err(format!("{cmd:?} failed"));
    }
    let prefix = format!("RESULT {key} ");
    Ok(text
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(str::to_string)
        .collect())
}

fn wasm_hashing() -> Result<Vec<String>> {
    let mut cmd = cargo();
    cmd.args([
        "test",
        "--release",
        "-p",
        "swarmload-browser",
        "--target",
        "wasm32-unknown-unknown",
        "--features",
        "wasm-bench",
        "--test",
        "wasm_bench",
        "--",
        "--nocapture",
    ])
    .env("CHROMEDRIVER", tools::CHROMEDRIVER);
    let out = cmd
        .current_dir(root())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "wasm benchmark failed:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let lines: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("RESULT "))
        .map(str::to_string)
        .collect();
    for l in &lines {
        println!("{l}");
    }
    Ok(lines)
}

/// `cargo xtask bench browser`: the native path in a real Chromium (release
/// binaries), inside the same private network namespace as the browser tests.
pub fn browser() -> Result {
    tools::ensure_chromium()?;
    tools::ensure_e2e()?;
    crate::procs::build_release()?;
    crate::extension::build()?;
    run(crate::test::e2e_command("target/release", "target/bench-browser")?.arg("bench.mjs"))
}

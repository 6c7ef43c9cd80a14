//! `cargo xtask …`: the one entry point for building, testing and benchmarking.
//!
//! - `cargo xtask demo`: a real Chromium with the extension and the registered host
//!   downloads from two seeders and a busy origin, against the origin alone.
//! - `cargo xtask install`: the host registered with every browser found, and how to
//!   load the extension.
//! - `cargo xtask dist`: the Chromium zip, the Firefox .xpi and the host's .deb.
//! - `cargo xtask test`: installs what is missing, then fmt, clippy, tests (native
//!   and wasm in headless Chromium) and a short fuzz run.
//! - `cargo xtask bench core`: the core's performance table.
//! - `cargo xtask bench host`: the host as a downloader, against curl.
//! - `cargo xtask bench swarm`: swarms of hosts against raw WebRTC throughput, the
//!   fluid-model bound and the reference tracker.
//! - `cargo xtask bench reach`: how many real-world download shapes get a trusted
//!   digest, before and after Want-Repr-Digest and checksum lists, and in a trusted
//!   group.
//! - `cargo xtask bench mirrors`: Metalink/HTTP mirrors as extra origin sources,
//!   against curl and the fluid bound.
//! - `cargo xtask build`: release host and the wasm package.
//! - `cargo xtask fuzz TARGET SECONDS`: a longer fuzz run of one target.

mod bench;
mod bench_host;
mod bench_mirrors;
mod bench_swarm;
mod demo;
mod dist;
mod extension;
mod install;
mod procs;
mod tools;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

pub type Result<T = ()> = std::result::Result<T, String>;

/// Fuzz targets in `fuzz/fuzz_targets`.
const FUZZ_TARGETS: &[&str] = &[
    "wire_decode",
    "trusted_digest",
    "policy_json",
    "merkle_proof",
    "engine_peer",
    "host_inputs",
    "tracker_message",
    "checksum_list",
    "metalink",
];
/// Seconds each target runs in `cargo xtask test`.
const TEST_FUZZ_SECONDS: u32 = 20;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["test"] => test(),
        ["test", "browser"] => tools::ensure_chromium()
            .and_then(|()| tools::ensure_firefox())
            .and_then(|()| tools::ensure_e2e())
            .and_then(|()| browser_tests(false)),
        ["test", "dist"] => tools::ensure_e2e()
            .and_then(|()| dist::check())
            .and_then(|()| install::check()),
        ["demo"] => demo::demo(),
        ["install"] => install::install(),
        ["dist"] => dist::dist().map(|_| ()),
        ["bench", "core"] => bench::core(),
        ["bench", "host"] => bench_host::host(),
        ["bench", "swarm"] => bench_swarm::swarm(),
        ["bench", "mirrors"] => bench_mirrors::mirrors(),
        ["bench", "browser"] => bench_browser(),
        // The share of real-world download shapes that get a trusted digest
        // (tests/fixtures/reach.json); the same test runs in `cargo xtask test`.
        ["bench", "reach"] => run(cargo().args([
            "test",
            "-p",
            "swarmload-host",
            "--test",
            "reach_fixtures",
            "--",
            "--nocapture",
        ])),
        ["build"] => build(),
        ["fuzz", target, seconds] => seconds
            .parse()
            .map_err(|_| format!("not a number of seconds: {seconds}"))
            .and_then(|s| {
                tools::ensure_fuzz()?;
                fuzz(target, s)
            }),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask demo | install | dist | test | test browser | test dist | bench core | bench host | bench swarm | bench browser | bench reach | bench mirrors | build | fuzz TARGET SECONDS";

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs a command from the workspace root, failing with its description.
pub fn run(cmd: &mut Command) -> Result {
    cmd.current_dir(root());
    let shown = format!("{cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn step(name: &str, f: impl FnOnce() -> Result) -> Result {
    println!("\n==> {name}");
    let start = Instant::now();
    f()?;
    println!("==> {name}: ok ({:.0} s)", start.elapsed().as_secs_f64());
    Ok(())
}

fn test() -> Result {
    let start = Instant::now();
    step("install missing tools", tools::ensure_all)?;
    step("rustfmt", || {
        run(cargo().args(["fmt", "--all", "--", "--check"]))?;
        run(cargo().args(["fmt", "--manifest-path", "fuzz/Cargo.toml", "--", "--check"]))
    })?;
    step("clippy", || {
        run(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))?;
        run(cargo().args([
            "clippy",
            "-p",
            "swarmload-core",
            "--target",
            "wasm32-unknown-unknown",
            "--lib",
            "--test",
            "wasm_browser",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    step("tests", || run(cargo().args(["test", "--workspace"])))?;
    step("wasm tests in headless Chromium", wasm_tests)?;
    step("dist: the zip, the .xpi and the .deb", dist::check)?;
    step("install into a temporary home", install::check)?;
    // The README's first command, as a newcomer runs it.
    step("cargo xtask demo", demo::demo)?;
    step("browser tests (Chromium, extension, native host)", || {
        browser_tests(true)
    })?;
    step("fuzz (short)", || {
        for t in FUZZ_TARGETS {
            fuzz(t, TEST_FUZZ_SECONDS)?;
        }
        Ok(())
    })?;
    println!(
        "\nall checks passed in {:.1} min",
        start.elapsed().as_secs_f64() / 60.0
    );
    Ok(())
}

fn wasm_tests() -> Result {
    run(cargo()
        .args([
            "test",
            "-p",
            "swarmload-core",
            "--target",
            "wasm32-unknown-unknown",
            "--test",
            "wasm_browser",
        ])
        .env("CHROMEDRIVER", tools::CHROMEDRIVER)
        .env("WASM_BINDGEN_TEST_TIMEOUT", "300"))
}

/// The extension in a real Chromium with the registered native host, real seeders,
/// tracker and origin, inside a private network namespace (`tests/e2e/run.sh`).
fn browser_tests(packaged: bool) -> Result {
    run(cargo().args(["build", "--workspace", "--bins"]))?;
    build_extension()?;
    // Mozilla's linter on the Firefox build: an error fails the run.
    run(Command::new("node")
        .arg(root().join("tests/e2e/node_modules/web-ext/bin/web-ext.js"))
        .args(["lint", "--output", "text", "--source-dir"])
        .arg(root().join("target/extension/firefox")))?;
    let artifacts = root().join("target/e2e-artifacts");
    std::fs::create_dir_all(&artifacts).map_err(|e| format!("{}: {e}", artifacts.display()))?;
    let mut cmd = e2e_command("target/debug", "target/e2e")?;
    cmd.env("SWARMLOAD_ARTIFACTS", &artifacts);
    // The packaged Chromium build, which `cargo xtask test` has just made and unpacked.
    if packaged {
        cmd.env(
            "SWARMLOAD_DIST_CHROMIUM",
            root().join(dist::UNPACKED_CHROMIUM),
        );
    }
    run(&mut cmd)?;
    // Each scenario leaves profiles, seeds and downloads (over a GB in all); they
    // are kept only when something failed, to be looked at.
    let _ = std::fs::remove_dir_all(root().join("target/e2e"));
    println!("screenshots: {}", artifacts.display());
    Ok(())
}

/// `tests/e2e/run.sh` with the binaries in `bins`, both builds of the extension,
/// and `work` (emptied first) for its files.
pub(crate) fn e2e_command(bins: &str, work: &str) -> Result<Command> {
    let mut cmd = Command::new(root().join("tests/e2e/run.sh"));
    e2e_env(&mut cmd, bins, work)?;
    Ok(cmd)
}

/// What the browser scripts in `tests/e2e` read: the binaries in `bins`, both builds
/// of the extension, and `work` (emptied first) for their files.
pub(crate) fn e2e_env(cmd: &mut Command, bins: &str, work: &str) -> Result {
    let work = root().join(work);
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    cmd.env("SWARMLOAD_BIN_DIR", root().join(bins))
        .env(
            "SWARMLOAD_EXTENSION",
            root().join("target/extension/chromium"),
        )
        .env(
            "SWARMLOAD_FIREFOX_EXTENSION",
            root().join("target/extension/firefox"),
        )
        .env("SWARMLOAD_E2E_DIR", &work);
    Ok(())
}

/// `cargo xtask bench browser`: the native path in a real Chromium (release
/// binaries), inside the same private network namespace as the browser tests.
fn bench_browser() -> Result {
    tools::ensure_chromium()?;
    tools::ensure_e2e()?;
    procs::build_release()?;
    build_extension()?;
    run(e2e_command("target/release", "target/bench-browser")?.arg("bench.mjs"))
}

fn fuzz(target: &str, seconds: u32) -> Result {
    if !FUZZ_TARGETS.contains(&target) {
        return Err(format!(
            "unknown fuzz target {target}; one of {FUZZ_TARGETS:?}"
        ));
    }
    let corpus = root().join("target/fuzz-corpus").join(target);
    std::fs::create_dir_all(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
    let mut cmd = tools::nightly_cargo();
    cmd.args(["fuzz", "run", "--fuzz-dir", "fuzz"]);
    if !tools::has_nightly() {
        // Sanitizers need nightly; without it the fuzzer still finds panics.
        cmd.args(["--sanitizer", "none"]);
    }
    cmd.arg(target)
        .arg(&corpus)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg("-rss_limit_mb=4096")
        .arg("-print_final_stats=1");
    run(&mut cmd)
}

fn build() -> Result {
    run(cargo().args(["build", "--release", "-p", "swarmload-host"]))?;
    for e in build_extension()? {
        println!("extension: {}", e.display());
    }
    println!("host: target/release/swarmload-host");
    Ok(())
}

/// The wasm core (release) through wasm-bindgen, and both extension builds around it.
pub(crate) fn build_extension() -> Result<Vec<std::path::PathBuf>> {
    tools::ensure_wasm()?;
    run(cargo().args([
        "build",
        "--release",
        "-p",
        "swarmload-core",
        "--target",
        "wasm32-unknown-unknown",
    ]))?;
    let out = root().join("target/wasm-pkg");
    run(Command::new("wasm-bindgen")
        .args(["--target", "web", "--out-dir"])
        .arg(&out)
        .arg(root().join("target/wasm32-unknown-unknown/release/swarmload_core.wasm")))?;
    extension::assemble(&out)
}

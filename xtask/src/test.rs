//! `cargo xtask test` (everything CI runs) and `cargo xtask test quick` (the edit
//! loop), and the stages they share.

use std::process::Command;
use std::time::Instant;

use crate::{Result, cargo, demo, dist, extension, install, root, run, tools};

/// Fuzz targets in `fuzz/fuzz_targets`.
pub const FUZZ_TARGETS: &[&str] = &[
    "wire_decode",
    "trusted_digest",
    "policy_json",
    "merkle_proof",
    "engine_peer",
    "host_inputs",
    "tracker_message",
    "checksum_list",
    "metalink",
    "membership",
    "resolve",
];
/// Seconds each target runs in `cargo xtask test`.
pub const TEST_FUZZ_SECONDS: u32 = 20;
/// TypeScript's compiler, as `tests/e2e/package-lock.json` pins it.
const TSC: &str = "tests/e2e/node_modules/typescript/bin/tsc";

fn step(name: &str, f: impl FnOnce() -> Result) -> Result {
    println!("\n==> {name}");
    let start = Instant::now();
    f()?;
    println!("==> {name}: ok ({:.0} s)", start.elapsed().as_secs_f64());
    Ok(())
}

/// `cargo xtask test`: everything, as CI runs it.
pub fn all() -> Result {
    let start = Instant::now();
    step("install missing tools", tools::ensure_all)?;
    step("rustfmt", fmt_check)?;
    step("extension types", extension_types)?;
    step("clippy", || {
        clippy_native()?;
        // The core's wasm-only code (SIMD hashing), then the browser package.
        run(cargo().args([
            "clippy",
            "-p",
            "swarmload-core",
            "--target",
            "wasm32-unknown-unknown",
            "--lib",
            "--",
            "-D",
            "warnings",
        ]))?;
        run(cargo().args([
            "clippy",
            "-p",
            "swarmload-browser",
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
    step(
        "tests of the patched rtc-sctp and webrtc",
        patched_crates_tests,
    )?;
    step("wasm tests in headless Chromium", wasm_tests)?;
    step("dist: the zip, the .xpi and the .deb", dist::check)?;
    step("install into a temporary home", install::check)?;
    // The README's first command, as a newcomer runs it.
    step("cargo xtask demo", demo::demo)?;
    step("browser tests (Chromium, extension, native host)", || {
        browser_tests(true)
    })?;
    step("network tests (NAT routers, coturn, nginx)", net_tests)?;
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

/// `cargo xtask test quick`: the edit loop's checks (formatting, lints, unit tests),
/// a few minutes on a warm machine; nothing is installed and no browser runs.
pub fn quick() -> Result {
    let start = Instant::now();
    step("rustfmt", fmt_check)?;
    if root().join(TSC).exists() {
        step("extension types", extension_types)?;
    } else {
        println!("\n==> extension types: skipped, no {TSC} (`cargo xtask test` installs it)");
    }
    step("clippy", clippy_native)?;
    step("unit tests", || {
        run(cargo().args(["test", "--workspace", "--lib", "--bins"]))
    })?;
    println!(
        "\nquick checks passed in {:.1} min (`cargo xtask test` runs everything)",
        start.elapsed().as_secs_f64() / 60.0
    );
    Ok(())
}

/// The vendored SCTP stack's own unit tests, its patch's among them
/// (third_party/rtc-sctp/PATCHED.md), and the test of the vendored WebRTC driver's
/// patch (third_party/webrtc/PATCHED.md). Each is outside the workspace, so it has its
/// own lockfile; one upstream SCTP test assumes the 1 s minimum RTO the patch lowers.
fn patched_crates_tests() -> Result {
    run(cargo().args([
        "test",
        "--locked",
        "--manifest-path",
        "third_party/rtc-sctp/Cargo.toml",
        "--target-dir",
        "target/third-party",
        "--lib",
        "--",
        "--skip",
        "public_rtt_reports_measurements_independently_of_backoff",
    ]))?;
    run(cargo().args([
        "test",
        "--locked",
        "--manifest-path",
        "third_party/webrtc/Cargo.toml",
        "--target-dir",
        "target/third-party",
        "--features",
        "runtime-mock",
        "--test",
        "turn_relay_flush",
    ]))
}

fn fmt_check() -> Result {
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    run(cargo().args(["fmt", "--manifest-path", "fuzz/Cargo.toml", "--", "--check"]))
}

/// The extension's JavaScript against its JSDoc types and the browsers' extension
/// API (`extension/tsconfig.json`).
fn extension_types() -> Result {
    run(Command::new("node")
        .arg(root().join(TSC))
        .arg("-p")
        .arg(root().join("extension/tsconfig.json")))
}

fn clippy_native() -> Result {
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))
}

fn wasm_tests() -> Result {
    run(cargo()
        .args([
            "test",
            "-p",
            "swarmload-browser",
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
pub fn browser_tests(packaged: bool) -> Result {
    run(cargo().args(["build", "--workspace", "--bins"]))?;
    extension::build()?;
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

/// Hosts, Chromium and Firefox behind NAT routers, with a real coturn and nginx, in
/// network namespaces the test makes (`tests/e2e/net.sh`, `tests/e2e/nat.test.mjs`).
pub fn net_tests() -> Result {
    run(cargo().args(["build", "--workspace", "--bins"]))?;
    extension::build()?;
    let mut cmd = Command::new(root().join("tests/e2e/net.sh"));
    e2e_env(&mut cmd, "target/debug", "target/e2e-net")?;
    run(&mut cmd)?;
    // Seeds and downloads: kept only when something failed.
    let _ = std::fs::remove_dir_all(root().join("target/e2e-net"));
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

pub fn fuzz(target: &str, seconds: u32) -> Result {
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

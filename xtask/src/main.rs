//! `cargo xtask …`: the one entry point for building, testing and benchmarking.
//!
//! - `cargo xtask demo`: a real Chromium with the extension and the registered host
//!   downloads from two seeders and a busy origin, against the origin alone.
//! - `cargo xtask install`: the host registered with every browser found, and how to
//!   load the extension.
//! - `cargo xtask dist`: the Chromium zip, the Firefox .xpi and the host's .deb.
//! - `cargo xtask test`: installs what is missing, then fmt, the type check of the extension's scripts, clippy, tests (native
//!   and wasm in headless Chromium) and a short fuzz run.
//! - `cargo xtask test quick`: fmt, clippy and the unit tests, for the edit loop.
//! - `cargo xtask test net`: peers behind NAT routers with coturn and nginx, in
//!   network namespaces (`tests/e2e/nat.test.mjs`).
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
mod cmd;
mod demo;
mod dist;
mod extension;
mod install;
#[cfg(test)]
mod module_graph;
mod procs;
mod test;
mod tools;

use std::process::ExitCode;

pub use cmd::{Result, cargo, root, run};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["test"] => test::all(),
        ["test", "quick"] => test::quick(),
        ["test", "browser"] => tools::ensure_chromium()
            .and_then(|()| tools::ensure_firefox())
            .and_then(|()| tools::ensure_e2e())
            .and_then(|()| test::browser_tests(false)),
        ["test", "net"] => tools::ensure_chromium()
            .and_then(|()| tools::ensure_firefox())
            .and_then(|()| tools::ensure_e2e())
            .and_then(|()| tools::ensure_net())
            .and_then(|()| test::net_tests()),
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
        ["bench", "browser"] => bench::browser(),
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
        ["build"] => extension::build_all(),
        ["fuzz", target, seconds] => seconds
            .parse()
            .map_err(|_| format!("not a number of seconds: {seconds}"))
            .and_then(|s| {
                tools::ensure_fuzz()?;
                test::fuzz(target, s)
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

const USAGE: &str = "usage: cargo xtask demo | install | dist | test | test quick | test browser | test net | test dist | bench core | bench host | bench swarm | bench browser | bench reach | bench mirrors | build | fuzz TARGET SECONDS";

//! Installs what `cargo xtask test` needs on a bare machine, and skips what is there.

use std::path::Path;
use std::process::Command;

use crate::{Result, cargo, root, run};

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const FIREFOX: &str = "/usr/bin/firefox-esr";
const CARGO_FUZZ_VERSION: &str = "0.13.2";
const CARGO_DEB_VERSION: &str = "3.8.0";

pub fn ensure_all() -> Result {
    ensure_wasm()?;
    ensure_chromium()?;
    ensure_firefox()?;
    ensure_interop()?;
    ensure_e2e()?;
    ensure_net()?;
    ensure_fuzz()?;
    ensure_cargo_deb()
}

/// What the browser tests drive: npm `playwright-core` and `web-ext` as
/// `tests/e2e/package-lock.json` pins them (never a downloaded browser: Debian's
/// Chromium is used), and `ip` for the test's private network namespace. The same
/// lockfile pins `typescript` and `@types/chrome`, for the extension's type check.
pub fn ensure_e2e() -> Result {
    if output(Command::new("ip").arg("-V")).is_none() {
        apt_install(&["iproute2"])?;
    }
    let dir = crate::root().join("tests/e2e");
    let installed = ["playwright-core", "web-ext", "typescript", "@types/chrome"]
        .iter()
        .all(|p| {
            dir.join("node_modules")
                .join(p)
                .join("package.json")
                .exists()
        });
    if installed {
        return Ok(());
    }
    npm_ci("tests/e2e", "the browser tests")
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `apt-get install` as root, or through `sudo -n` otherwise.
fn apt_install(packages: &[&str]) -> Result {
    let root_user = is_root();
    let apt = |args: &[&str]| {
        let mut cmd = if root_user {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.args(["-n", "apt-get"]);
            c
        };
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        run(&mut cmd)
    };
    apt(&["update"])?;
    let mut args = vec!["install", "-y", "--no-install-recommends"];
    args.extend_from_slice(packages);
    apt(&args)
}

/// The third-party peers of the interoperability tests (npm `bittorrent-tracker`),
/// exactly as `tests/interop/package-lock.json` pins them. `--ignore-scripts`: the
/// package's client side pulls a native module whose install script downloads a
/// prebuilt binary; only the server is used.
pub fn ensure_interop() -> Result {
    let dir = crate::root().join("tests/interop");
    if dir
        .join("node_modules/bittorrent-tracker/package.json")
        .exists()
    {
        return Ok(());
    }
    npm_ci("tests/interop", "the tracker interoperability test")
}

/// `npm ci` of the lockfile in `dir`, without install scripts.
fn npm_ci(dir: &str, needed_for: &str) -> Result {
    if output(Command::new("npm").arg("--version")).is_none() {
        return Err(format!("npm (Node.js) is needed for {needed_for}"));
    }
    crate::run(Command::new("npm").args([
        "ci",
        "--prefix",
        dir,
        "--ignore-scripts",
        "--no-audit",
        "--no-fund",
    ]))
}

fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The wasm32 target and the wasm-bindgen CLI at exactly the version in Cargo.lock.
pub fn ensure_wasm() -> Result {
    let installed =
        output(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if !installed
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }
    let want = locked_version("wasm-bindgen")?;
    let have = output(Command::new("wasm-bindgen").arg("--version")).unwrap_or_default();
    if have.split_whitespace().nth(1) != Some(want.as_str()) {
        println!("installing wasm-bindgen-cli {want} (have: {})", have.trim());
        run(cargo().args([
            "install",
            "--locked",
            "wasm-bindgen-cli",
            "--version",
            &want,
        ]))?;
    }
    Ok(())
}

/// Debian's Chromium and ChromeDriver, for the browser tests.
pub fn ensure_chromium() -> Result {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return Ok(());
    }
    apt_install(&["chromium", "chromium-driver"])
}

/// Debian's Firefox ESR, for the Firefox browser tests (driven by `web-ext run`).
pub fn ensure_firefox() -> Result {
    if Path::new(FIREFOX).exists() {
        return Ok(());
    }
    apt_install(&["firefox-esr"])
}

/// What the network tests run in their namespaces: Debian's coturn (STUN and TURN),
/// nginx (the origin) and iptables (the NAT routers).
pub fn ensure_net() -> Result {
    let missing = [
        "/usr/bin/turnserver",
        "/usr/sbin/nginx",
        "/usr/sbin/iptables",
    ]
    .iter()
    .any(|p| !Path::new(p).exists());
    if !missing {
        return Ok(());
    }
    apt_install(&["coturn", "nginx-light", "iptables"])
}

/// cargo-fuzz at a pinned version.
pub fn ensure_fuzz() -> Result {
    ensure_cargo_subcommand("fuzz", "cargo-fuzz", CARGO_FUZZ_VERSION)
}

/// cargo-deb at a pinned version, for `cargo xtask dist`.
pub fn ensure_cargo_deb() -> Result {
    ensure_cargo_subcommand("deb", "cargo-deb", CARGO_DEB_VERSION)
}

/// `cargo install --locked` of `package` at exactly `version`, unless
/// `cargo SUBCOMMAND --version` already names that version.
fn ensure_cargo_subcommand(subcommand: &str, package: &str, version: &str) -> Result {
    let have = output(cargo().args([subcommand, "--version"])).unwrap_or_default();
    if have.contains(version) {
        return Ok(());
    }
    run(cargo().args(["install", "--locked", package, "--version", version]))
}

/// `cargo` able to run `cargo fuzz`: the nightly toolchain if rustup has one, else
/// the stable one with nightly features unlocked.
pub fn has_nightly() -> bool {
    output(Command::new("rustup").args(["toolchain", "list"]))
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("nightly"))
}

pub fn nightly_cargo() -> Command {
    // Variables the outer `cargo run` set would pin the inner build to stable.
    let clean = |mut c: Command| {
        for var in [
            "CARGO",
            "RUSTC",
            "RUSTDOC",
            "RUSTUP_TOOLCHAIN",
            "RUSTC_WRAPPER",
        ] {
            c.env_remove(var);
        }
        c
    };
    if has_nightly() {
        let mut c = clean(Command::new("cargo"));
        c.arg("+nightly");
        c
    } else {
        let mut c = clean(Command::new("cargo"));
        c.env("RUSTC_BOOTSTRAP", "1");
        c
    }
}

/// The version of a package in the workspace's Cargo.lock.
pub fn locked_version(package: &str) -> Result<String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock"))
        .map_err(|e| format!("cannot read Cargo.lock: {e}"))?;
    let needle = format!("name = \"{package}\"\n");
    let at = lock
        .find(&needle)
        .ok_or_else(|| format!("{package} is not in Cargo.lock"))?;
    lock[at + needle.len()..]
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("version = \""))
        .and_then(|l| l.strip_suffix('"'))
        .map(str::to_string)
        .ok_or_else(|| format!("no version for {package} in Cargo.lock"))
}

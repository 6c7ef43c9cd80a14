//! `cargo xtask dist`: what is shipped, in `target/dist/`.
//!
//! - `swarmload-chromium-VERSION.zip`: the Chromium-family build (Chrome, Chromium,
//!   Edge, Brave), to load unpacked or to upload to a store.
//! - `swarmload-firefox-VERSION.xpi`: the Firefox build, unsigned (addons.mozilla.org
//!   signs it; unsigned it installs in Firefox ESR, Developer Edition and Nightly with
//!   `xpinstall.signatures.required` off, or by enterprise policy).
//! - `swarmload-host_VERSION-1_ARCH.deb`: the native host (cargo-deb) with its
//!   system-scope native-messaging manifests for every browser, pointing at
//!   `/usr/bin/swarmload-host` (`native-host/Cargo.toml`, `[package.metadata.deb]`).
//!
//! `check` is what `cargo xtask test` runs on them.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use crate::{Result, cargo, root, run, tools};

pub const DIST: &str = "target/dist";
/// Where `check` unpacks the Chromium zip for the browser tests to load.
pub const UNPACKED_CHROMIUM: &str = "target/dist/unpacked/chromium";
const VERSION: &str = env!("CARGO_PKG_VERSION");

pub struct Artefacts {
    pub chromium_zip: PathBuf,
    pub firefox_xpi: PathBuf,
    pub deb: PathBuf,
}

pub fn dist() -> Result<Artefacts> {
    tools::ensure_cargo_deb()?;
    crate::extension::build()?;
    let dir = root().join(DIST);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let chromium_zip = dir.join(format!("swarmload-chromium-{VERSION}.zip"));
    zip_dir(&root().join("target/extension/chromium"), &chromium_zip)?;
    let firefox_xpi = dir.join(format!("swarmload-firefox-{VERSION}.xpi"));
    zip_dir(&root().join("target/extension/firefox"), &firefox_xpi)?;
    // cargo-deb builds the host in release itself; the release profile keeps line
    // tables for backtraces, which a package does not need (91 MB against 16).
    run(cargo()
        .args(["deb", "-p", "swarmload-host", "--strip", "--output"])
        .arg(&dir))?;
    let deb = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or("cargo deb wrote no .deb")?;
    println!("\nin {}:", dir.display());
    for p in [&chromium_zip, &firefox_xpi, &deb] {
        let size = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        println!(
            "  {:<40} {:>8.1} MiB",
            p.file_name().unwrap_or_default().to_string_lossy(),
            size as f64 / (1 << 20) as f64
        );
    }
    Ok(Artefacts {
        chromium_zip,
        firefox_xpi,
        deb,
    })
}

/// Every file under `src`, at the archive's root, in a stable order and with fixed
/// times, so the same tree always gives the same archive.
fn zip_dir(src: &Path, out: &Path) -> Result {
    let mut files = Vec::new();
    walk(src, &mut files)?;
    files.sort();
    let file = std::fs::File::create(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut zip = ZipWriter::new(file);
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .unix_permissions(0o644);
    for path in files {
        let name = path
            .strip_prefix(src)
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .replace('\\', "/");
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        zip.start_file(name.as_str(), options)
            .and_then(|()| zip.write_all(&bytes).map_err(Into::into))
            .map_err(|e| format!("{}: {e}", out.display()))?;
    }
    zip.finish()
        .map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(())
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result {
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// Builds the artefacts and checks them:
/// - the `.deb` holds `/usr/bin/swarmload-host` and exactly the manifests that
///   `swarmload-host install --scope system` writes, each pointing at that binary;
/// - the `.xpi` has the Firefox manifest with its add-on id at its root;
/// - the zip unpacks to the Chromium build, into [`UNPACKED_CHROMIUM`], which the
///   browser tests load into a real Chromium.
pub fn check() -> Result {
    let a = dist()?;

    let listing = output(Command::new("dpkg-deb").arg("--contents").arg(&a.deb))?;
    let in_deb: Vec<String> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .map(|p| p.trim_start_matches('.').to_string())
        .collect();
    if !in_deb.iter().any(|p| p == "/usr/bin/swarmload-host") {
        return Err(format!(
            "the .deb has no /usr/bin/swarmload-host:\n{listing}"
        ));
    }
    // What the host itself would write for every browser at system scope.
    let dry = output(
        Command::new(root().join("target/release/swarmload-host")).args([
            "install",
            "--scope",
            "system",
            "--browser",
            "all",
            "--dry-run",
        ]),
    )?;
    let expected: Vec<&str> = dry
        .lines()
        .filter_map(|l| l.strip_prefix("would write "))
        .map(|l| l.trim_end_matches(':'))
        .collect();
    if expected.len() != 5 {
        return Err(format!("install --dry-run listed {expected:?}"));
    }
    let manifests: Vec<&String> = in_deb
        .iter()
        .filter(|p| p.ends_with("/org.swarmload.host.json"))
        .collect();
    for want in &expected {
        if !manifests.iter().any(|p| p == want) {
            return Err(format!("the .deb lacks {want}:\n{listing}"));
        }
    }
    if manifests.len() != expected.len() {
        return Err(format!("the .deb has other manifests: {manifests:?}"));
    }
    let unpacked = root().join("target/dist/deb-contents");
    run(Command::new("dpkg-deb")
        .arg("-x")
        .arg(&a.deb)
        .arg(&unpacked))?;
    for m in &expected {
        let path = unpacked.join(m.trim_start_matches('/'));
        let v: serde_json::Value = serde_json::from_slice(
            &std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?,
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
        if v["path"] != "/usr/bin/swarmload-host" || v["name"] != "org.swarmload.host" {
            return Err(format!("{m} in the .deb: {v}"));
        }
    }
    println!(
        "{}: /usr/bin/swarmload-host and {} manifests, as `install --scope system` writes them",
        a.deb.display(),
        manifests.len()
    );

    let xpi_manifest = read_from_zip(&a.firefox_xpi, "manifest.json")?;
    let v: serde_json::Value = serde_json::from_slice(&xpi_manifest).map_err(|e| e.to_string())?;
    if v["browser_specific_settings"]["gecko"]["id"] != "swarmload@swarmload.org" {
        return Err(format!("the .xpi's manifest: {v}"));
    }
    // Mozilla's linter on the packed add-on, as a store would see it.
    let xpi_dir = root().join("target/dist/unpacked/firefox");
    unzip(&a.firefox_xpi, &xpi_dir)?;
    run(Command::new("node")
        .arg(root().join("tests/e2e/node_modules/web-ext/bin/web-ext.js"))
        .args(["lint", "--output", "text", "--source-dir"])
        .arg(&xpi_dir))?;

    unzip(&a.chromium_zip, &root().join(UNPACKED_CHROMIUM))?;
    println!(
        "{} unpacked into {} (the browser tests load it)",
        a.chromium_zip.display(),
        UNPACKED_CHROMIUM
    );
    // The deb's own build tree; only the artefacts are kept.
    let _ = std::fs::remove_dir_all(&unpacked);
    Ok(())
}

fn output(cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{shown} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("{shown}: {e}"))
}

fn read_from_zip(archive: &Path, name: &str) -> Result<Vec<u8>> {
    let file = std::fs::File::open(archive).map_err(|e| format!("{}: {e}", archive.display()))?;
    let mut zip = ZipArchive::new(file).map_err(|e| format!("{}: {e}", archive.display()))?;
    let mut entry = zip
        .by_name(name)
        .map_err(|e| format!("{}: {name}: {e}", archive.display()))?;
    let mut bytes = Vec::new();
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {name}: {e}", archive.display()))?;
    Ok(bytes)
}

fn unzip(archive: &Path, dir: &Path) -> Result {
    let _ = std::fs::remove_dir_all(dir);
    let file = std::fs::File::open(archive).map_err(|e| format!("{}: {e}", archive.display()))?;
    ZipArchive::new(file)
        .and_then(|mut z| z.extract(dir))
        .map_err(|e| format!("{}: {e}", archive.display()))
}

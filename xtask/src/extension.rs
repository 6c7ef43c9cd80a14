//! Assembling the browser extension: one source tree (`extension/`), two builds.
//!
//! `target/extension/chromium/` (Chrome, Chromium, Edge, Brave: a service worker, the
//! fixed id from the manifest's `"key"`) and `target/extension/firefox/` (a background
//! page, `browser_specific_settings.gecko.id`). Per-browser differences live in
//! `manifest.<browser>.json` and are merged into the shared `manifest.json` here:
//! objects merge key by key, lists are joined, other values are replaced.

use std::path::{Path, PathBuf};

use serde_json::Value;

use std::process::Command;

use crate::{Result, cargo, root, run, tools};

pub const BROWSERS: [&str; 2] = ["chromium", "firefox"];

/// The browser package's source (`swarmload-browser`) inside `extension/`.
const WASM_SOURCE: &str = "wasm-driver";

/// `overlay` merged into `base`.
pub fn merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(b), Value::Array(o)) => {
            for v in o {
                if !b.contains(v) {
                    b.push(v.clone());
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn copy_tree(from: &Path, to: &Path, skip: &dyn Fn(&Path) -> bool) -> Result {
    std::fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    for entry in std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path();
        if skip(&path) {
            continue;
        }
        let dest = to.join(entry.file_name());
        if path.is_dir() {
            copy_tree(&path, &dest, skip)?;
        } else {
            std::fs::copy(&path, &dest).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// Builds both extension trees from `extension/` and the wasm-bindgen output in
/// `wasm_pkg`; returns their directories.
pub fn assemble(wasm_pkg: &Path) -> Result<Vec<PathBuf>> {
    let src = root().join("extension");
    let base = read_json(&src.join("manifest.json"))?;
    let mut out = Vec::new();
    for browser in BROWSERS {
        let dir = root().join("target/extension").join(browser);
        let _ = std::fs::remove_dir_all(&dir);
        // The per-browser manifests are merged below; `wasm-driver/` is the Rust
        // source of the wasm, which arrives built in `wasm/`.
        // The wasm sources, the per-browser manifests (merged below) and the type
        // declarations `tsc` checks the scripts against stay out of the package.
        let not_shipped = |p: &Path| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            p == src.join(WASM_SOURCE)
                || p == src.join("types")
                || name == "tsconfig.json"
                || name.ends_with(".d.ts")
                || (name.starts_with("manifest.") && name.ends_with(".json"))
        };
        copy_tree(&src, &dir, &not_shipped)?;
        let mut manifest = base.clone();
        merge(
            &mut manifest,
            &read_json(&src.join(format!("manifest.{browser}.json")))?,
        );
        let text = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("manifest.json"), text + "\n").map_err(|e| e.to_string())?;
        let wasm = dir.join("wasm");
        std::fs::create_dir_all(&wasm).map_err(|e| e.to_string())?;
        for f in ["swarmload_browser.js", "swarmload_browser_bg.wasm"] {
            std::fs::copy(wasm_pkg.join(f), wasm.join(f))
                .map_err(|e| format!("{}: {e}", wasm_pkg.join(f).display()))?;
        }
        out.push(dir);
    }
    Ok(out)
}

/// `cargo xtask build`: the release host and both extension builds.
pub fn build_all() -> Result {
    run(cargo().args(["build", "--release", "-p", "swarmload-host"]))?;
    for e in build()? {
        println!("extension: {}", e.display());
    }
    println!("host: target/release/swarmload-host");
    Ok(())
}

/// The browser package (the core in wasm, release) through wasm-bindgen, and both extension builds around it.
pub fn build() -> Result<Vec<std::path::PathBuf>> {
    tools::ensure_wasm()?;
    run(cargo().args([
        "build",
        "--release",
        "-p",
        "swarmload-browser",
        "--target",
        "wasm32-unknown-unknown",
    ]))?;
    let out = root().join("target/wasm-pkg");
    run(Command::new("wasm-bindgen")
        .args(["--target", "web", "--out-dir"])
        .arg(&out)
        .arg(root().join("target/wasm32-unknown-unknown/release/swarmload_browser.wasm")))?;
    assemble(&out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_merge_lists_join_values_replace() {
        let mut base = json!({"a": {"x": 1, "y": [1, 2]}, "b": "keep", "c": 1});
        merge(
            &mut base,
            &json!({"a": {"y": [2, 3], "z": true}, "c": 2, "d": null}),
        );
        assert_eq!(
            base,
            json!({"a": {"x": 1, "y": [1, 2, 3], "z": true}, "b": "keep", "c": 2, "d": null})
        );
    }
}

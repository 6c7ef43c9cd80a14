//! `cargo xtask install`: Swarmload for the person at this machine. Builds in
//! release, copies the host and both builds of the extension to a place that
//! outlives `cargo clean` (`~/.local/share/swarmload`, or `$XDG_DATA_HOME`), registers
//! the host with every browser found (`swarmload-host install`, user scope), and
//! prints how to load the extension.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Result, procs, root, run};

/// A browser `swarmload-host install --browser NAME` knows, and how to tell it is on
/// this machine: a program on `PATH`, or its profile directory under `HOME`.
struct Known {
    name: &'static str,
    programs: &'static [&'static str],
    profile: &'static str,
}

const BROWSERS: &[Known] = &[
    Known {
        name: "chrome",
        programs: &["google-chrome", "google-chrome-stable"],
        profile: ".config/google-chrome",
    },
    Known {
        name: "chromium",
        programs: &["chromium", "chromium-browser"],
        profile: ".config/chromium",
    },
    Known {
        name: "edge",
        programs: &["microsoft-edge", "microsoft-edge-stable"],
        profile: ".config/microsoft-edge",
    },
    Known {
        name: "brave",
        programs: &["brave-browser", "brave"],
        profile: ".config/BraveSoftware/Brave-Browser",
    },
    Known {
        name: "firefox",
        programs: &["firefox", "firefox-esr"],
        profile: ".mozilla",
    },
];

pub fn install() -> Result {
    println!("building the release host and the extension…");
    procs::build_release()?;
    crate::extension::build()?;
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .ok_or("HOME is not set")?;
    install_into(&home, &root().join("target/release"))
}

/// The installation itself, with the binaries from `bins`, for the user whose home is
/// `home`. `cargo xtask test` runs it into a temporary home.
pub fn install_into(home: &Path, bins: &Path) -> Result {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|_| std::env::var_os("HOME").as_deref() == Some(home.as_os_str()))
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".local/share"))
        .join("swarmload");
    let bin_dir = data.join("bin");
    std::fs::create_dir_all(&bin_dir).map_err(|e| format!("{}: {e}", bin_dir.display()))?;
    let host = bin_dir.join("swarmload-host");
    // A running host keeps its old file open; replace the name, never the bytes.
    let staged = bin_dir.join(".swarmload-host.new");
    std::fs::copy(bins.join("swarmload-host"), &staged)
        .and_then(|_| std::fs::rename(&staged, &host))
        .map_err(|e| format!("{}: {e}", host.display()))?;
    for build in ["chromium", "firefox"] {
        let to = data.join("extension").join(build);
        let _ = std::fs::remove_dir_all(&to);
        copy_tree(&root().join("target/extension").join(build), &to)?;
    }

    let found: Vec<&Known> = BROWSERS.iter().filter(|b| present(b, home)).collect();
    let names: Vec<&str> = if found.is_empty() {
        println!("no browser found; registering the host with all of them");
        vec!["all"]
    } else {
        found.iter().map(|b| b.name).collect()
    };
    for name in &names {
        run(Command::new(&host)
            .args(["install", "--browser", name])
            .env("HOME", home))?;
    }
    let ext = data.join("extension");
    println!(
        "\nthe native host is {host}, registered with: {browsers}\n\
         (`{host} uninstall` removes the registrations; `{host} doctor` checks them)\n\n\
         Load the extension:\n\
         - Chrome, Chromium, Edge, Brave: open chrome://extensions, switch on Developer mode,\n  \
           choose \"Load unpacked\" and pick {chromium}\n\
         - Firefox: open about:debugging#/runtime/this-firefox, choose \"Load Temporary Add-on\"\n  \
           and pick {firefox}/manifest.json (until a restart; a signed build installs for good)\n",
        host = host.display(),
        browsers = names.join(", "),
        chromium = ext.join("chromium").display(),
        firefox = ext.join("firefox").display(),
    );
    Ok(())
}

fn present(b: &Known, home: &Path) -> bool {
    if home.join(b.profile).is_dir() {
        return true;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| b.programs.iter().any(|p| dir.join(p).is_file()))
}

fn copy_tree(from: &Path, to: &Path) -> Result {
    std::fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    for entry in std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let dest = to.join(path.file_name().unwrap_or_default());
        if path.is_dir() {
            copy_tree(&path, &dest)?;
        } else {
            std::fs::copy(&path, &dest).map_err(|e| format!("{}: {e}", dest.display()))?;
        }
    }
    Ok(())
}

/// What `cargo xtask test` checks of `install_into`, in a temporary home with the
/// release host that `dist` built: the host and the extension are copied, every
/// browser found on this machine has the manifest at its user-scope path pointing at
/// the copied host, and `swarmload-host uninstall` takes the registrations away.
pub fn check() -> Result {
    let home = root().join("target/install-home");
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).map_err(|e| format!("{}: {e}", home.display()))?;
    install_into(&home, &root().join("target/release"))?;
    let data = home.join(".local/share/swarmload");
    let host = data.join("bin/swarmload-host");
    let version = Command::new(&host)
        .arg("--version")
        .output()
        .map_err(|e| format!("{}: {e}", host.display()))?;
    if !version.status.success() {
        return Err(format!("{} does not run", host.display()));
    }
    for build in ["chromium", "firefox"] {
        let m = data.join("extension").join(build).join("manifest.json");
        if !m.is_file() {
            return Err(format!("{} is missing", m.display()));
        }
    }
    let found: Vec<&Known> = BROWSERS.iter().filter(|b| present(b, &home)).collect();
    if found.is_empty() {
        return Err("no browser found on the machine the tests installed".into());
    }
    for b in &found {
        let dir = if b.name == "firefox" {
            home.join(".mozilla/native-messaging-hosts")
        } else {
            home.join(b.profile).join("NativeMessagingHosts")
        };
        let file = dir.join("org.swarmload.host.json");
        let v: serde_json::Value = std::fs::read(&file)
            .map_err(|e| format!("{}: {e}", file.display()))
            .and_then(|b| {
                serde_json::from_slice(&b).map_err(|e| format!("{}: {e}", file.display()))
            })?;
        if v["path"] != host.display().to_string() {
            return Err(format!("{}: {v}", file.display()));
        }
    }
    run(Command::new(&host)
        .args(["uninstall", "--browser", "all"])
        .env("HOME", &home))?;
    let mut left = Vec::new();
    find_manifests(&home, &mut left);
    if !left.is_empty() {
        return Err(format!("uninstall left {left:?}"));
    }
    println!(
        "installed for {} into a temporary home, and uninstalled",
        found.iter().map(|b| b.name).collect::<Vec<_>>().join(", ")
    );
    let _ = std::fs::remove_dir_all(&home);
    Ok(())
}

fn find_manifests(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            find_manifests(&p, out);
        } else if p
            .file_name()
            .is_some_and(|n| n == "org.swarmload.host.json")
        {
            out.push(p);
        }
    }
}

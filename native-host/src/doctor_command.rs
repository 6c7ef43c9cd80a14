//! `swarmload-host doctor`: checks the installation and says in plain words what is
//! right and what to do about what is not: each browser's host manifest (this user's
//! and the system's), this program, the extension ids, `config.toml`, and whether
//! the configured trackers answer. Exits non-zero when something needs fixing.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::config::StateDir;
use crate::install_command::{
    BROWSERS, Browser, CHROMIUM_EXTENSION_ID, FIREFOX_EXTENSION_ID, HOST_NAME, Scope,
};

/// How long a tracker may take to accept a WebSocket connection.
const TRACKER_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// The state directory whose config.toml is checked (default as for `get`).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Also check the host manifest of this Chromium-family profile directory.
    #[arg(long)]
    pub user_data_dir: Option<PathBuf>,
    /// One JSON object: every finding, and whether all is well.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Right.
    Ok,
    /// Worth knowing, nothing broken (a browser not registered, say).
    Note,
    /// Needs fixing.
    Problem,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub verdict: Verdict,
    pub subject: String,
    pub detail: String,
}

fn finding(verdict: Verdict, subject: impl Into<String>, detail: impl Into<String>) -> Finding {
    Finding {
        verdict,
        subject: subject.into(),
        detail: detail.into(),
    }
}

/// What is wrong with one host manifest, or `None` when it is right.
fn manifest_problem(browser: Browser, m: &Value, exe: Option<&Path>) -> Option<String> {
    if m["name"] != HOST_NAME {
        return Some(format!("its name is {}, not {HOST_NAME}", m["name"]));
    }
    if m["type"] != "stdio" {
        return Some(format!("its type is {}, not \"stdio\"", m["type"]));
    }
    let Some(path) = m["path"].as_str().map(Path::new) else {
        return Some("it names no program (\"path\")".into());
    };
    if !path.is_absolute() {
        return Some(format!("{} is not an absolute path", path.display()));
    }
    match std::fs::metadata(path) {
        Err(_) => {
            return Some(format!(
                "it points at {}, which does not exist",
                path.display()
            ));
        }
        Ok(meta) if meta.permissions().mode() & 0o111 == 0 => {
            return Some(format!("{} is not executable", path.display()));
        }
        Ok(_) => {}
    }
    let (field, want) = if browser.is_chromium_family() {
        (
            "allowed_origins",
            format!("chrome-extension://{CHROMIUM_EXTENSION_ID}/"),
        )
    } else {
        ("allowed_extensions", FIREFOX_EXTENSION_ID.to_string())
    };
    let allowed = m[field]
        .as_array()
        .is_some_and(|list| list.iter().any(|v| v.as_str() == Some(want.as_str())));
    if !allowed {
        return Some(format!("its {field} does not list {want}"));
    }
    if let Some(exe) = exe
        && path.canonicalize().ok().as_deref() != Some(exe)
    {
        return Some(format!(
            "it starts {}, not this program ({}); run `swarmload-host install` from the copy the browser should use",
            path.display(),
            exe.display()
        ));
    }
    None
}

fn check_manifest(browser: Browser, where_: &str, file: &Path, exe: Option<&Path>) -> Finding {
    let subject = format!("{} ({where_})", browser.name());
    let text = match std::fs::read(file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return finding(
                Verdict::Note,
                subject,
                format!("not registered: no {}", file.display()),
            );
        }
        Err(e) => {
            return finding(
                Verdict::Problem,
                subject,
                format!("{}: {e}", file.display()),
            );
        }
        Ok(t) => t,
    };
    let m: Value = match serde_json::from_slice(&text) {
        Ok(v) => v,
        Err(e) => {
            return finding(
                Verdict::Problem,
                subject,
                format!(
                    "{} is not valid JSON ({e}); run `swarmload-host install` again",
                    file.display()
                ),
            );
        }
    };
    match manifest_problem(browser, &m, exe) {
        Some(why) => finding(
            Verdict::Problem,
            subject,
            format!("{}: {why}", file.display()),
        ),
        None => finding(
            Verdict::Ok,
            subject,
            format!("{} starts this program", file.display()),
        ),
    }
}

/// Findings about the manifests, this program and the ids (no network).
pub fn installation(home: Option<&Path>, user_data_dir: Option<&Path>) -> Vec<Finding> {
    let mut out = Vec::new();
    let exe = std::env::current_exe().and_then(|p| p.canonicalize());
    match &exe {
        Ok(p) => out.push(finding(
            Verdict::Ok,
            "this program",
            p.display().to_string(),
        )),
        Err(e) => out.push(finding(
            Verdict::Problem,
            "this program",
            format!("its own path is unknown ({e}); manifests cannot point at it"),
        )),
    }
    let exe = exe.ok();
    out.push(finding(
        Verdict::Ok,
        "extension ids",
        format!("Chromium family {CHROMIUM_EXTENSION_ID}, Firefox {FIREFOX_EXTENSION_ID}"),
    ));
    let mut registered = 0;
    if home.is_none() {
        out.push(finding(
            Verdict::Note,
            "this user",
            "HOME is not set: this user's manifests were not checked",
        ));
    }
    for browser in BROWSERS {
        for (scope, label) in [(Scope::User, "this user"), (Scope::System, "all users")] {
            // The system's directories do not depend on HOME.
            let base = match scope {
                Scope::User => match home {
                    Some(h) => h,
                    None => continue,
                },
                Scope::System => Path::new("/"),
            };
            let Ok(dir) = browser.manifest_dir(scope, base) else {
                continue;
            };
            let file = dir.join(format!("{HOST_NAME}.json"));
            #[allow(unused_mut)]
            let mut f = check_manifest(browser, label, &file, exe.as_deref());
            // On Windows the file only counts when the browser's registry key names it.
            #[cfg(windows)]
            if f.verdict == Verdict::Ok
                && crate::install_command::registered_manifest(browser, scope).as_deref()
                    != Some(file.as_path())
            {
                f = finding(
                    Verdict::Problem,
                    f.subject,
                    format!(
                        "{} is there but the browser's registry key does not name it: run `swarmload-host install` again",
                        file.display()
                    ),
                );
            }
            registered += usize::from(f.verdict == Verdict::Ok);
            out.push(f);
        }
    }
    if let Some(profile) = user_data_dir {
        let file = profile
            .join("NativeMessagingHosts")
            .join(format!("{HOST_NAME}.json"));
        let f = check_manifest(Browser::Chromium, "that profile", &file, exe.as_deref());
        registered += usize::from(f.verdict == Verdict::Ok);
        out.push(f);
    }
    if registered == 0 {
        out.push(finding(
            Verdict::Problem,
            "browsers",
            "no browser can start the host: run `swarmload-host install` (or `--scope system` as root)",
        ));
    }
    out
}

/// Whether each configured tracker accepts a WebSocket connection.
async fn trackers(urls: &[String]) -> Vec<Finding> {
    let checks = urls.iter().map(|url| async move {
        let attempt = tokio::time::timeout(
            TRACKER_TIMEOUT,
            tokio_tungstenite::connect_async(url.as_str()),
        )
        .await;
        match attempt {
            Ok(Ok((mut ws, _))) => {
                let _ = ws.close(None).await;
                finding(Verdict::Ok, format!("tracker {url}"), "answers")
            }
            Ok(Err(e)) => finding(
                Verdict::Problem,
                format!("tracker {url}"),
                format!("cannot connect: {e}; downloads still work, from the origin alone"),
            ),
            Err(_) => finding(
                Verdict::Problem,
                format!("tracker {url}"),
                format!(
                    "no answer within {} s; downloads still work, from the origin alone",
                    TRACKER_TIMEOUT.as_secs()
                ),
            ),
        }
    });
    futures_util::future::join_all(checks).await
}

/// Runs every check; returns whether nothing needs fixing.
pub fn run(args: &DoctorArgs) -> Result<bool, Box<dyn std::error::Error>> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut findings = installation(home.as_deref(), args.user_data_dir.as_deref());
    let mut tracker_urls = Vec::new();
    match StateDir::open(args.state_dir.as_deref()) {
        Err(e) => findings.push(finding(Verdict::Problem, "state directory", e.to_string())),
        Ok(state) => {
            let path = state.config_path();
            match state.policy() {
                Ok(policy) => {
                    let detail = if path.exists() {
                        format!("{} is valid", path.display())
                    } else {
                        format!("no {}: the defaults apply", path.display())
                    };
                    findings.push(finding(Verdict::Ok, "configuration", detail));
                    if !policy.enabled {
                        findings.push(finding(
                            Verdict::Note,
                            "configuration",
                            "enabled = false: every download is left to the browser",
                        ));
                    }
                    tracker_urls = policy.trackers.clone();
                }
                Err(e) => findings.push(finding(
                    Verdict::Problem,
                    "configuration",
                    format!("{e}; the host works with the defaults until it is fixed"),
                )),
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    findings.extend(runtime.block_on(trackers(&tracker_urls)));
    let healthy = findings.iter().all(|f| f.verdict != Verdict::Problem);
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "healthy": healthy, "findings": findings })
        );
    } else {
        for f in &findings {
            let mark = match f.verdict {
                Verdict::Ok => "ok  ",
                Verdict::Note => "note",
                Verdict::Problem => "FIX ",
            };
            println!("{mark} {}: {}", f.subject, f.detail);
        }
        println!(
            "{}",
            if healthy {
                "Everything the host needs is in place."
            } else {
                "Some things need fixing (FIX above)."
            }
        );
    }
    Ok(healthy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_for_another_extension_is_named_as_such() {
        let exe = std::env::current_exe().unwrap();
        let m = serde_json::json!({
            "name": HOST_NAME, "type": "stdio", "path": exe,
            "allowed_origins": ["chrome-extension://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/"],
        });
        let why = manifest_problem(Browser::Chrome, &m, None).unwrap();
        assert!(why.contains("allowed_origins"), "{why}");
        let m = serde_json::json!({"name": HOST_NAME, "type": "stdio", "path": "/nowhere/host"});
        let why = manifest_problem(Browser::Firefox, &m, None).unwrap();
        assert!(why.contains("does not exist"), "{why}");
    }
}

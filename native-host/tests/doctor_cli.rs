//! `swarmload-host doctor` in a temporary HOME: it names what is missing or broken
//! (no registration, a manifest pointing nowhere, a bad config key, a tracker that
//! does not answer) and says all is well once everything is in place.

#![cfg(target_os = "linux")]

mod common;

use common::TempDir;
use common::swarm::TrackerProcess;
use serde_json::Value;

fn doctor(home: &TempDir, extra: &[&str]) -> (bool, Value) {
    let out = std::process::Command::new(common::host_bin())
        .env("HOME", home.path())
        .env_remove("SWARMLOAD_HOME")
        .args(["doctor", "--json", "--state-dir"])
        .arg(home.join("state"))
        .args(extra)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(
        report["healthy"],
        out.status.success(),
        "exit status and report agree"
    );
    (out.status.success(), report)
}

fn install(home: &TempDir) {
    let status = std::process::Command::new(common::host_bin())
        .env("HOME", home.path())
        .arg("install")
        .status()
        .unwrap();
    assert!(status.success());
}

/// The details of the findings about `subject` with `verdict`.
fn details(report: &Value, subject: &str, verdict: &str) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["subject"].as_str().unwrap().starts_with(subject) && f["verdict"] == verdict)
        .map(|f| f["detail"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn doctor_names_each_problem_and_then_says_all_is_well() {
    let home = TempDir::new("doctor");
    std::fs::create_dir_all(home.join("state")).unwrap();
    let tracker = TrackerProcess::start().await;
    std::fs::write(
        home.join("state/config.toml"),
        format!("trackers = [\"{}\"]\n", tracker.url),
    )
    .unwrap();

    // Nothing registered: said plainly, with what to do.
    let (ok, report) = doctor(&home, &[]);
    assert!(!ok);
    assert!(details(&report, "browsers", "problem")[0].contains("swarmload-host install"));
    assert_eq!(details(&report, "tracker", "ok"), ["answers"]);

    // Registered for this user: healthy.
    install(&home);
    let (ok, report) = doctor(&home, &[]);
    assert!(ok, "{report:#}");
    assert_eq!(details(&report, "chromium (this user)", "ok").len(), 1);

    // A manifest that points at a program that is gone.
    let chrome = home.join(".config/google-chrome/NativeMessagingHosts/org.swarmload.host.json");
    let mut m: Value = serde_json::from_slice(&std::fs::read(&chrome).unwrap()).unwrap();
    m["path"] = "/nowhere/swarmload-host".into();
    std::fs::write(&chrome, m.to_string()).unwrap();
    let (ok, report) = doctor(&home, &[]);
    assert!(!ok);
    assert!(details(&report, "chrome (this user)", "problem")[0].contains("does not exist"));
    install(&home);

    // A config key that does not exist is named.
    std::fs::write(home.join("state/config.toml"), "cache_max_byte = 5\n").unwrap();
    let (ok, report) = doctor(&home, &[]);
    assert!(!ok);
    assert!(details(&report, "configuration", "problem")[0].contains("cache_max_byte"));

    // A tracker that does not answer.
    let mut gone = TrackerProcess::start().await;
    let url = gone.url.clone();
    gone.kill().await;
    std::fs::write(
        home.join("state/config.toml"),
        format!("trackers = [\"{url}\"]\n"),
    )
    .unwrap();
    let (ok, report) = doctor(&home, &[]);
    assert!(!ok);
    assert!(details(&report, &format!("tracker {url}"), "problem")[0].contains("cannot connect"));
}

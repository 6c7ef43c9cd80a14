//! `swarmload-host install` / `uninstall` into a temporary HOME and profile: the
//! manifests land at each browser's exact path, are valid, point at this executable
//! and name the right extension; `uninstall` leaves nothing behind.

#![cfg(target_os = "linux")]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("swarmload-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn host(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_swarmload-host"));
    c.env("HOME", home);
    c
}

/// Every file under `dir`, relative.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

fn check_manifest(path: &Path, firefox: bool) {
    let m: Value = serde_json::from_slice(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(m["name"], "org.swarmload.host");
    assert_eq!(m["type"], "stdio");
    let exe = Path::new(m["path"].as_str().unwrap());
    assert!(exe.is_absolute(), "{exe:?}");
    let mode = std::fs::metadata(exe).unwrap().permissions().mode();
    assert!(mode & 0o111 != 0, "{exe:?} is not executable");
    assert_eq!(
        exe,
        Path::new(env!("CARGO_BIN_EXE_swarmload-host"))
            .canonicalize()
            .unwrap()
    );
    if firefox {
        assert_eq!(
            m["allowed_extensions"],
            serde_json::json!(["swarmload@swarmload.org"])
        );
    } else {
        assert_eq!(
            m["allowed_origins"],
            serde_json::json!(["chrome-extension://npnpfokgckelonahjkkjnlcbpagfeefp/"])
        );
    }
}

#[test]
fn user_scope_install_for_every_browser_then_uninstall_leaves_nothing() {
    let home = tempdir("install-home");
    let out = host(&home).args(["install"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    for (rel, firefox) in [
        (".config/google-chrome/NativeMessagingHosts", false),
        (".config/chromium/NativeMessagingHosts", false),
        (".config/microsoft-edge/NativeMessagingHosts", false),
        (
            ".config/BraveSoftware/Brave-Browser/NativeMessagingHosts",
            false,
        ),
        (".mozilla/native-messaging-hosts", true),
    ] {
        check_manifest(&home.join(rel).join("org.swarmload.host.json"), firefox);
    }
    // Installing again changes nothing but the files' contents.
    assert!(host(&home).arg("install").status().unwrap().success());
    let out = host(&home).args(["uninstall"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(tree(&home), Vec::<String>::new(), "left behind");
}

#[test]
fn system_scope_install_staged_under_destdir_then_uninstall_leaves_nothing() {
    let home = tempdir("install-system-home");
    let stage = tempdir("install-system-stage");
    let out = host(&home)
        .args(["install", "--scope", "system"])
        .env("DESTDIR", &stage)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    for (dir, firefox) in [
        ("etc/opt/chrome/native-messaging-hosts", false),
        ("etc/chromium/native-messaging-hosts", false),
        ("etc/opt/edge/native-messaging-hosts", false),
        ("etc/brave/native-messaging-hosts", false),
        ("usr/lib/mozilla/native-messaging-hosts", true),
    ] {
        check_manifest(&stage.join(dir).join("org.swarmload.host.json"), firefox);
    }
    assert_eq!(
        tree(&home),
        Vec::<String>::new(),
        "nothing in this user's home"
    );
    let out = host(&home)
        .args(["uninstall", "--scope", "system"])
        .env("DESTDIR", &stage)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(tree(&stage), Vec::<String>::new(), "left behind");
    let _ = std::fs::remove_dir_all(&home);
    let _ = std::fs::remove_dir_all(&stage);
}

#[test]
fn a_profile_install_writes_only_that_profile_and_keeps_what_was_there() {
    let home = tempdir("install-profile-home");
    let profile = home.join("profile");
    let hosts = profile.join("NativeMessagingHosts");
    std::fs::create_dir_all(&hosts).unwrap();
    // Someone else's host in the same directory stays.
    std::fs::write(hosts.join("com.example.other.json"), "{}").unwrap();
    let out = host(&home)
        .args(["install", "--browser", "chromium", "--user-data-dir"])
        .arg(&profile)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    check_manifest(&hosts.join("org.swarmload.host.json"), false);
    assert!(
        !home.join(".config").exists(),
        "only the profile was touched"
    );
    let out = host(&home)
        .args(["uninstall", "--browser", "chromium", "--user-data-dir"])
        .arg(&profile)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        tree(&home),
        [
            "profile",
            "profile/NativeMessagingHosts",
            "profile/NativeMessagingHosts/com.example.other.json"
        ]
    );
}

#[test]
fn a_dry_run_changes_nothing_and_bad_choices_explain_themselves() {
    let home = tempdir("install-dry");
    let out = host(&home)
        .args(["install", "--dry-run", "--browser", "firefox"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("native-messaging-hosts"));
    assert_eq!(tree(&home), Vec::<String>::new());
    let out = host(&home)
        .args([
            "install",
            "--browser",
            "firefox",
            "--user-data-dir",
            "/tmp/x",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Chromium-family"));
    let out = host(&home)
        .args(["install", "--browser", "netscape"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn the_host_manifest_templates_are_what_install_writes() {
    let home = tempdir("install-templates");
    assert!(host(&home).arg("install").status().unwrap().success());
    let exe = Path::new(env!("CARGO_BIN_EXE_swarmload-host"))
        .canonicalize()
        .unwrap();
    let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/host");
    for (template, written) in [
        (
            "org.swarmload.host.chromium.json",
            ".config/chromium/NativeMessagingHosts/org.swarmload.host.json",
        ),
        (
            "org.swarmload.host.firefox.json",
            ".mozilla/native-messaging-hosts/org.swarmload.host.json",
        ),
    ] {
        let text = std::fs::read_to_string(templates.join(template)).unwrap();
        let filled: Value =
            serde_json::from_str(&text.replace("@HOST_PATH@", &exe.display().to_string()))
                .unwrap_or_else(|e| panic!("{template}: {e}"));
        let actual: Value =
            serde_json::from_slice(&std::fs::read(home.join(written)).unwrap()).unwrap();
        assert_eq!(filled, actual, "{template}");
    }
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn the_debian_package_manifests_are_the_templates_for_usr_bin() {
    let manifests = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests");
    for browser in ["chromium", "firefox"] {
        let name = format!("org.swarmload.host.{browser}.json");
        let template = std::fs::read_to_string(manifests.join("host").join(&name)).unwrap();
        let filled: Value =
            serde_json::from_str(&template.replace("@HOST_PATH@", "/usr/bin/swarmload-host"))
                .unwrap();
        let deb: Value =
            serde_json::from_slice(&std::fs::read(manifests.join("deb").join(&name)).unwrap())
                .unwrap();
        assert_eq!(filled, deb, "{name}");
    }
}

//! `swarmload-host install` / `uninstall`: the native-messaging host manifest at
//! each browser's own location, so the extension's `connectNative` finds this
//! binary.
//!
//! A manifest names the host (`org.swarmload.host`), the absolute path of this
//! binary, and who may start it: the Chromium family lists the extension's origin
//! (`allowed_origins`), Firefox its add-on id (`allowed_extensions`). `install`
//! records what it created in a receipt beside the manifests, and `uninstall` removes
//! exactly that: the manifests it wrote and the directories it had to create.
//!
//! On Windows the manifests go under `%LOCALAPPDATA%\Swarmload` (user) or
//! `%ProgramData%\Swarmload` (system), and each browser's registry key names them
//! (`windows_registry`); that part is compiled on Windows only.

#[cfg(windows)]
mod windows_registry;
#[cfg(windows)]
pub use windows_registry::registered_manifest;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;

/// The name the extension passes to `connectNative`.
pub const HOST_NAME: &str = "org.swarmload.host";
/// The Chromium build's id, fixed by the manifest's `"key"` (see docs/extension.md).
pub const CHROMIUM_EXTENSION_ID: &str = "npnpfokgckelonahjkkjnlcbpagfeefp";
/// The Firefox build's `browser_specific_settings.gecko.id`.
pub const FIREFOX_EXTENSION_ID: &str = "swarmload@swarmload.org";
/// What `install` created, so `uninstall` removes exactly that.
const RECEIPT: &str = "org.swarmload.host.installed.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BrowserChoice {
    Chrome,
    Chromium,
    Edge,
    Brave,
    Firefox,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Browser {
    Chrome,
    Chromium,
    Edge,
    Brave,
    Firefox,
}

pub const BROWSERS: [Browser; 5] = [
    Browser::Chrome,
    Browser::Chromium,
    Browser::Edge,
    Browser::Brave,
    Browser::Firefox,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Scope {
    /// The current user only (no privileges needed).
    #[default]
    User,
    /// Every user of the machine (root / administrator).
    System,
}

#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// Which browser(s) to register with.
    #[arg(long, value_enum, default_value = "all")]
    pub browser: BrowserChoice,
    /// `system` writes under `$DESTDIR` when that is set (a staged install).
    #[arg(long, value_enum, default_value = "user")]
    pub scope: Scope,
    /// One browser profile directory (Chromium's `--user-data-dir`): the manifest goes
    /// to its `NativeMessagingHosts/`. Chromium family only.
    #[arg(long)]
    pub user_data_dir: Option<PathBuf>,
    /// Print what would be written or removed, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(
        "--user-data-dir is a Chromium-family profile; Firefox has none (pick a Chromium-family --browser)"
    )]
    UserDataDirForFirefox,
    #[error("no home directory: set HOME")]
    NoHome,
    #[error("the path of this program is unknown: {0}")]
    NoExecutable(std::io::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "on Windows browsers find native-messaging hosts through the registry only; --user-data-dir does not apply"
    )]
    UserDataDirOnWindows,
    #[error("registry key {key}: {source}")]
    Registry { key: String, source: std::io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> InstallError + '_ {
    move |source| InstallError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Browser {
    pub fn is_chromium_family(self) -> bool {
        self != Browser::Firefox
    }

    pub fn name(self) -> &'static str {
        match self {
            Browser::Chrome => "chrome",
            Browser::Chromium => "chromium",
            Browser::Edge => "edge",
            Browser::Brave => "brave",
            Browser::Firefox => "firefox",
        }
    }

    /// The directory this browser reads host manifests from, for `scope`.
    pub fn manifest_dir(self, scope: Scope, home: &Path) -> Result<PathBuf, InstallError> {
        let dir = if cfg!(target_os = "macos") {
            match scope {
                Scope::User => home.join("Library/Application Support").join(match self {
                    Browser::Chrome => "Google/Chrome/NativeMessagingHosts",
                    Browser::Chromium => "Chromium/NativeMessagingHosts",
                    Browser::Edge => "Microsoft Edge/NativeMessagingHosts",
                    Browser::Brave => "BraveSoftware/Brave-Browser/NativeMessagingHosts",
                    Browser::Firefox => "Mozilla/NativeMessagingHosts",
                }),
                Scope::System => PathBuf::from(match self {
                    Browser::Chrome => "/Library/Google/Chrome/NativeMessagingHosts",
                    Browser::Chromium => {
                        "/Library/Application Support/Chromium/NativeMessagingHosts"
                    }
                    Browser::Edge => "/Library/Microsoft/Edge/NativeMessagingHosts",
                    Browser::Brave => {
                        "/Library/Application Support/BraveSoftware/Brave-Browser/NativeMessagingHosts"
                    }
                    Browser::Firefox => "/Library/Application Support/Mozilla/NativeMessagingHosts",
                }),
            }
        } else if cfg!(windows) {
            // Any directory will do: the registry key names the file.
            let base = match scope {
                Scope::User => home.join("AppData").join("Local"),
                Scope::System => std::env::var_os("ProgramData")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData")),
            };
            base.join("Swarmload")
                .join("NativeMessagingHosts")
                .join(self.name())
        } else {
            match scope {
                Scope::User => home.join(match self {
                    Browser::Chrome => ".config/google-chrome/NativeMessagingHosts",
                    Browser::Chromium => ".config/chromium/NativeMessagingHosts",
                    Browser::Edge => ".config/microsoft-edge/NativeMessagingHosts",
                    Browser::Brave => ".config/BraveSoftware/Brave-Browser/NativeMessagingHosts",
                    Browser::Firefox => ".mozilla/native-messaging-hosts",
                }),
                Scope::System => PathBuf::from(match self {
                    Browser::Chrome => "/etc/opt/chrome/native-messaging-hosts",
                    Browser::Chromium => "/etc/chromium/native-messaging-hosts",
                    Browser::Edge => "/etc/opt/edge/native-messaging-hosts",
                    Browser::Brave => "/etc/brave/native-messaging-hosts",
                    Browser::Firefox => "/usr/lib/mozilla/native-messaging-hosts",
                }),
            }
        };
        Ok(dir)
    }
}

/// The host manifest for `browser`, pointing at `binary`.
pub fn manifest(browser: Browser, binary: &Path) -> serde_json::Value {
    let mut m = json!({
        "name": HOST_NAME,
        "description": "Swarmload: peer-to-peer downloads",
        "path": binary.display().to_string(),
        "type": "stdio",
    });
    if browser.is_chromium_family() {
        m["allowed_origins"] = json!([format!("chrome-extension://{CHROMIUM_EXTENSION_ID}/")]);
    } else {
        m["allowed_extensions"] = json!([FIREFOX_EXTENSION_ID]);
    }
    m
}

/// Where one manifest goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub browser: Browser,
    pub dir: PathBuf,
}

impl Target {
    pub fn file(&self) -> PathBuf {
        self.dir.join(format!("{HOST_NAME}.json"))
    }
}

/// The manifest locations `args` select.
pub fn targets(args: &InstallArgs, home: Option<&Path>) -> Result<Vec<Target>, InstallError> {
    let browsers: Vec<Browser> = match args.browser {
        BrowserChoice::All => BROWSERS.to_vec(),
        BrowserChoice::Chrome => vec![Browser::Chrome],
        BrowserChoice::Chromium => vec![Browser::Chromium],
        BrowserChoice::Edge => vec![Browser::Edge],
        BrowserChoice::Brave => vec![Browser::Brave],
        BrowserChoice::Firefox => vec![Browser::Firefox],
    };
    if args.user_data_dir.is_some() && cfg!(windows) {
        return Err(InstallError::UserDataDirOnWindows);
    }
    if let Some(profile) = &args.user_data_dir {
        // One profile: a Chromium-family browser reads its own `NativeMessagingHosts`.
        let browser = match browsers.as_slice() {
            [b] if b.is_chromium_family() => *b,
            [_] => return Err(InstallError::UserDataDirForFirefox),
            _ => Browser::Chromium,
        };
        return Ok(vec![Target {
            browser,
            dir: profile.join("NativeMessagingHosts"),
        }]);
    }
    // A staged system install, as packagers make one: `DESTDIR=/tmp/pkg` puts
    // `/etc/…` under `/tmp/pkg/etc/…` (not on Windows, where the registry is the
    // registration).
    let staging = std::env::var_os("DESTDIR")
        .filter(|d| !d.is_empty() && !cfg!(windows))
        .map(PathBuf::from);
    browsers
        .into_iter()
        .map(|browser| {
            let dir = match args.scope {
                Scope::User => {
                    browser.manifest_dir(Scope::User, home.ok_or(InstallError::NoHome)?)?
                }
                Scope::System => {
                    let dir = browser.manifest_dir(Scope::System, Path::new("/"))?;
                    match &staging {
                        Some(root) => root.join(dir.strip_prefix("/").unwrap_or(&dir)),
                        None => dir,
                    }
                }
            };
            Ok(Target { browser, dir })
        })
        .collect()
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Receipt {
    /// Manifest files written.
    files: Vec<PathBuf>,
    /// Directories created for them, deepest last.
    dirs: Vec<PathBuf>,
    /// Registry keys created (Windows), under the hive of the install's scope.
    #[serde(default)]
    registry: Vec<String>,
}

/// Writes each manifest; returns the files written.
pub fn install(args: &InstallArgs) -> Result<Vec<PathBuf>, InstallError> {
    let binary = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(InstallError::NoExecutable)?;
    let home = dirs::home_dir();
    let mut written = Vec::new();
    for target in targets(args, home.as_deref())? {
        let file = target.file();
        let text = serde_json::to_string_pretty(&manifest(target.browser, &binary))
            .unwrap_or_default()
            + "\n";
        if args.dry_run {
            println!("would write {}:\n{text}", file.display());
            written.push(file);
            continue;
        }
        let mut receipt = read_receipt(&target.dir);
        // The directories this install creates, outermost first.
        let mut missing = Vec::new();
        let mut d = target.dir.as_path();
        while !d.exists() {
            missing.push(d.to_path_buf());
            match d.parent() {
                Some(p) => d = p,
                None => break,
            }
        }
        missing.reverse();
        std::fs::create_dir_all(&target.dir).map_err(io_err(&target.dir))?;
        std::fs::write(&file, text).map_err(io_err(&file))?;
        if !receipt.files.contains(&file) {
            receipt.files.push(file.clone());
        }
        #[cfg(windows)]
        {
            let key = windows_registry::register(target.browser, args.scope, &file).map_err(
                |source| InstallError::Registry {
                    key: windows_registry::key_path(target.browser),
                    source,
                },
            )?;
            if !receipt.registry.contains(&key) {
                receipt.registry.push(key);
            }
        }
        for m in missing {
            if !receipt.dirs.contains(&m) {
                receipt.dirs.push(m);
            }
        }
        write_receipt(&target.dir, &receipt)?;
        println!("{}: {}", target.browser.name(), file.display());
        written.push(file);
    }
    Ok(written)
}

/// Removes what `install` wrote at the locations `args` select; returns the paths
/// removed.
pub fn uninstall(args: &InstallArgs) -> Result<Vec<PathBuf>, InstallError> {
    let home = dirs::home_dir();
    let mut removed = Vec::new();
    let mut created = Vec::new();
    for target in targets(args, home.as_deref())? {
        let receipt_path = target.dir.join(RECEIPT);
        if !receipt_path.exists() {
            // Not installed here by us; a manifest someone else wrote is left alone.
            continue;
        }
        let receipt = read_receipt(&target.dir);
        for key in &receipt.registry {
            if args.dry_run {
                println!("would remove registry key {key}");
                continue;
            }
            #[cfg(windows)]
            windows_registry::unregister(args.scope, key).map_err(|source| {
                InstallError::Registry {
                    key: key.clone(),
                    source,
                }
            })?;
        }
        let mut paths: Vec<PathBuf> = receipt.files.clone();
        paths.push(receipt_path);
        for p in paths {
            if args.dry_run {
                println!("would remove {}", p.display());
            } else if p.exists() {
                std::fs::remove_file(&p).map_err(io_err(&p))?;
            }
            removed.push(p);
        }
        created.extend(receipt.dirs);
    }
    // Created directories, deepest first (one browser's install may have created a
    // parent another's sits in), and only once empty.
    created.sort_by(|a, b| {
        (b.components().count())
            .cmp(&a.components().count())
            .then(a.cmp(b))
    });
    created.dedup();
    for d in created {
        if args.dry_run {
            println!("would remove {} (if empty)", d.display());
            continue;
        }
        let empty = std::fs::read_dir(&d).is_ok_and(|mut it| it.next().is_none());
        if empty {
            std::fs::remove_dir(&d).map_err(io_err(&d))?;
            removed.push(d);
        }
    }
    for p in &removed {
        if !args.dry_run {
            println!("removed {}", p.display());
        }
    }
    Ok(removed)
}

fn read_receipt(dir: &Path) -> Receipt {
    std::fs::read(dir.join(RECEIPT))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn write_receipt(dir: &Path, receipt: &Receipt) -> Result<(), InstallError> {
    let path = dir.join(RECEIPT);
    let text = serde_json::to_string_pretty(receipt).unwrap_or_default();
    std::fs::write(&path, text).map_err(io_err(&path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(browser: BrowserChoice, scope: Scope, profile: Option<&Path>) -> InstallArgs {
        InstallArgs {
            browser,
            scope,
            user_data_dir: profile.map(Path::to_path_buf),
            dry_run: false,
        }
    }

    #[test]
    fn chromium_manifests_name_the_extension_origin_and_firefox_the_add_on() {
        let m = manifest(Browser::Edge, Path::new("/opt/swarmload-host"));
        assert_eq!(m["name"], HOST_NAME);
        assert_eq!(m["type"], "stdio");
        assert_eq!(m["path"], "/opt/swarmload-host");
        assert_eq!(
            m["allowed_origins"],
            json!(["chrome-extension://npnpfokgckelonahjkkjnlcbpagfeefp/"])
        );
        assert!(m.get("allowed_extensions").is_none());
        let f = manifest(Browser::Firefox, Path::new("/opt/swarmload-host"));
        assert_eq!(f["allowed_extensions"], json!([FIREFOX_EXTENSION_ID]));
        assert!(f.get("allowed_origins").is_none());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn each_browser_and_scope_has_its_own_directory() {
        let home = Path::new("/home/u");
        let all = targets(&args(BrowserChoice::All, Scope::User, None), Some(home)).unwrap();
        let dirs: Vec<_> = all.iter().map(|t| t.dir.display().to_string()).collect();
        assert_eq!(
            dirs,
            [
                "/home/u/.config/google-chrome/NativeMessagingHosts",
                "/home/u/.config/chromium/NativeMessagingHosts",
                "/home/u/.config/microsoft-edge/NativeMessagingHosts",
                "/home/u/.config/BraveSoftware/Brave-Browser/NativeMessagingHosts",
                "/home/u/.mozilla/native-messaging-hosts",
            ]
        );
        let sys = targets(
            &args(BrowserChoice::Firefox, Scope::System, None),
            Some(home),
        )
        .unwrap();
        assert_eq!(
            sys[0].file(),
            Path::new("/usr/lib/mozilla/native-messaging-hosts/org.swarmload.host.json")
        );
    }

    #[test]
    fn a_profile_directory_is_for_the_chromium_family_only() {
        let p = Path::new("/tmp/profile");
        let t = targets(&args(BrowserChoice::Chromium, Scope::User, Some(p)), None).unwrap();
        assert_eq!(t[0].dir, p.join("NativeMessagingHosts"));
        assert!(matches!(
            targets(&args(BrowserChoice::Firefox, Scope::User, Some(p)), None),
            Err(InstallError::UserDataDirForFirefox)
        ));
    }
}

//! On Windows a browser finds a native-messaging host through the registry: the
//! default value of `…\NativeMessagingHosts\org.swarmload.host`, under
//! `HKEY_CURRENT_USER` (user scope) or `HKEY_LOCAL_MACHINE` (system scope), is the
//! path of the manifest file.

use std::path::{Path, PathBuf};

use winreg::RegKey;
use winreg::enums::{HKEY_CURRENT_USER, HKEY_LOCAL_MACHINE};

use super::{Browser, HOST_NAME, Scope};

/// The key under the hive that `browser` reads for this host.
pub fn key_path(browser: Browser) -> String {
    let vendor = match browser {
        Browser::Chrome => r"Software\Google\Chrome",
        Browser::Chromium => r"Software\Chromium",
        Browser::Edge => r"Software\Microsoft\Edge",
        Browser::Brave => r"Software\BraveSoftware\Brave-Browser",
        Browser::Firefox => r"Software\Mozilla",
    };
    format!(r"{vendor}\NativeMessagingHosts\{HOST_NAME}")
}

fn hive(scope: Scope) -> RegKey {
    RegKey::predef(match scope {
        Scope::User => HKEY_CURRENT_USER,
        Scope::System => HKEY_LOCAL_MACHINE,
    })
}

/// Points `browser`'s key at `manifest`; returns the key, for the receipt.
pub fn register(browser: Browser, scope: Scope, manifest: &Path) -> std::io::Result<String> {
    let path = key_path(browser);
    let (key, _) = hive(scope).create_subkey(&path)?;
    key.set_value("", &manifest.display().to_string())?;
    Ok(path)
}

/// Removes a key `register` created (absent already is fine).
pub fn unregister(scope: Scope, path: &str) -> std::io::Result<()> {
    match hive(scope).delete_subkey_all(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// The manifest `browser`'s key names, if there is one.
pub fn registered_manifest(browser: Browser, scope: Scope) -> Option<PathBuf> {
    let key = hive(scope).open_subkey(key_path(browser)).ok()?;
    key.get_value::<String, _>("").ok().map(PathBuf::from)
}

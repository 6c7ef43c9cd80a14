//! Where the host keeps its state, and its configuration file.
//!
//! The state directory is `--state-dir`, else `$SWARMLOAD_HOME`, else the platform's
//! data directory (`~/.local/share/swarmload` on Linux). `config.toml` in it holds
//! policy keys (docs/policy.md), read through the core's policy model so that a
//! wrong key is reported by name.

use std::path::{Path, PathBuf};

use swarmload_core::policy::{Policy, PolicyLayer};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no state directory: pass --state-dir or set SWARMLOAD_HOME")]
    NoStateDir,
    #[error("cannot create the state directory {path}: {source}")]
    CreateStateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Policy {
        path: PathBuf,
        source: swarmload_core::policy::PolicyError,
    },
}

/// Longest config file accepted: a policy is a few hundred bytes.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// Resolves and creates the state directory.
    pub fn open(explicit: Option<&Path>) -> Result<StateDir, ConfigError> {
        let root = match explicit {
            Some(p) => p.to_path_buf(),
            None => match std::env::var_os("SWARMLOAD_HOME") {
                Some(h) if !h.is_empty() => PathBuf::from(h),
                _ => dirs::data_dir()
                    .map(|d| d.join("swarmload"))
                    .ok_or(ConfigError::NoStateDir)?,
            },
        };
        for dir in [root.clone(), root.join("partial"), root.join("cache")] {
            std::fs::create_dir_all(&dir)
                .map_err(|source| ConfigError::CreateStateDir { path: dir, source })?;
        }
        Ok(StateDir { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn partial_dir(&self) -> PathBuf {
        self.root.join("partial")
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.root.join("cache")
    }

    pub fn config_path(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    pub fn log_path(&self) -> PathBuf {
        self.root.join("host.log")
    }

    /// The configuration layer from `config.toml`; an absent file is an empty layer.
    pub fn config_layer(&self) -> Result<PolicyLayer, ConfigError> {
        let path = self.config_path();
        let text = match read_bounded(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(PolicyLayer::default()),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        parse_config(&path, &text)
    }

    /// The policy from `config.toml` over the defaults.
    pub fn policy(&self) -> Result<Policy, ConfigError> {
        Ok(Policy::resolve(&[self.config_layer()?]))
    }
}

fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_CONFIG_BYTES} bytes"
        )));
    }
    Ok(text)
}

/// TOML → the JSON shape the policy model reads; the model names bad keys.
pub fn parse_config(path: &Path, text: &str) -> Result<PolicyLayer, ConfigError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        path: path.to_path_buf(),
        message: e.message().to_string()
            + &e.span()
                .map(|s| format!(" (at line {})", line_of(text, s.start)))
                .unwrap_or_default(),
    })?;
    let value = serde_json::to_value(&table).map_err(|e| ConfigError::Syntax {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    PolicyLayer::from_value(value).map_err(|source| ConfigError::Policy {
        path: path.to_path_buf(),
        source,
    })
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Policy, ConfigError> {
        parse_config(Path::new("config.toml"), text).map(|l| Policy::resolve(&[l]))
    }

    #[test]
    fn keys_map_onto_the_policy() {
        let p = parse(
            "trackers = [\"ws://127.0.0.1:8000\"]\nmax_upload_bytes_per_sec = 1000\n\
             upload_enabled = false\n[[ice_servers]]\nurls = [\"stun:10.0.0.1:3478\"]\n",
        )
        .unwrap();
        assert_eq!(p.trackers, vec!["ws://127.0.0.1:8000".to_string()]);
        assert_eq!(p.max_upload_bytes_per_sec, 1000);
        assert!(!p.upload_enabled);
        assert_eq!(
            p.ice_servers[0].urls,
            vec!["stun:10.0.0.1:3478".to_string()]
        );
        assert_eq!(p.min_size_bytes, Policy::default().min_size_bytes);
    }

    #[test]
    fn unknown_and_invalid_keys_are_named() {
        let e = parse("cache_max_byte = 5\n").unwrap_err().to_string();
        assert!(e.contains("cache_max_byte") && e.contains("unknown"), "{e}");
        let e = parse("cache_max_bytes = \"lots\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cache_max_bytes"), "{e}");
        let e = parse("cache_max_bytes = -1\n").unwrap_err().to_string();
        assert!(e.contains("cache_max_bytes"), "{e}");
        let e = parse("trackers = [\"http://x\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("trackers"), "{e}");
        let e = parse("enabled = true\nenabled = false\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
    }
}

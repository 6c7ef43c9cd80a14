//! The one typed policy model. Every source (enterprise policy, the host's config file,
//! the options page) is a [`PolicyLayer`]; layers resolve highest first over the
//! defaults. Errors always name the offending key, so an administrator can fix it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::group_mapping::{GroupKey, MAX_SECRET_BYTES, MIN_SECRET_BYTES};

/// Bounds on list lengths and string sizes, so a hostile or broken policy cannot make
/// us allocate without limit.
const MAX_TRACKERS: usize = 32;
const MAX_ICE_SERVERS: usize = 16;
const MAX_DOMAINS: usize = 10_000;
const MAX_STRING: usize = 2048;
const MAX_GROUP_ID: usize = 256;
const MAX_FALLBACK_DELAY_MS: u64 = 600_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrustMode {
    /// Expected hashes come only from the origin or the user (ARCHITECTURE §3).
    OriginDigest,
    /// Group members who downloaded from the origin may publish URL→hash mappings.
    TrustedGroup,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// The resolved configuration every component obeys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub enabled: bool,
    pub trackers: Vec<String>,
    pub ice_servers: Vec<IceServer>,
    pub min_size_bytes: u64,
    pub allowed_domains: Vec<String>,
    pub blocked_domains: Vec<String>,
    pub upload_enabled: bool,
    /// Whether the extension's own peer (no native host) downloads an eligible file
    /// nobody seeds yet from the origin itself, keeps it in the browser's storage and
    /// seeds it. Off, such a download is left to the browser and nothing is kept.
    pub browser_seeding: bool,
    pub max_upload_bytes_per_sec: u64,
    pub max_download_bytes_per_sec: u64,
    pub cache_max_bytes: u64,
    pub cache_max_age_secs: u64,
    pub group_id: Option<String>,
    pub trust_mode: TrustMode,
    /// The trusted group's shared secret. Never serialized: the effective policy is
    /// shown to the user and logged.
    #[serde(skip_serializing)]
    pub group_secret: Option<String>,
    pub origin_fallback_delay_ms: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            enabled: true,
            trackers: vec![
                "wss://tracker.openwebtorrent.com".into(),
                "wss://tracker.webtorrent.dev".into(),
            ],
            ice_servers: vec![IceServer {
                urls: vec!["stun:stun.l.google.com:19302".into()],
                username: None,
                credential: None,
            }],
            min_size_bytes: 8 * 1024 * 1024,
            allowed_domains: Vec::new(),
            blocked_domains: Vec::new(),
            upload_enabled: true,
            browser_seeding: true,
            max_upload_bytes_per_sec: 0,
            max_download_bytes_per_sec: 0,
            cache_max_bytes: 10 * 1024 * 1024 * 1024,
            cache_max_age_secs: 30 * 24 * 3600,
            group_id: None,
            trust_mode: TrustMode::OriginDigest,
            group_secret: None,
            origin_fallback_delay_ms: 0,
        }
    }
}

/// A policy value that is wrong, with the key it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy key `{key}`: {problem}")]
pub struct PolicyError {
    pub key: String,
    pub problem: String,
}

impl PolicyError {
    fn new(key: &str, problem: impl Into<String>) -> Self {
        PolicyError {
            key: key.to_string(),
            problem: problem.into(),
        }
    }
}

/// The keys one source sets; unset keys fall through to lower layers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PolicyLayer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trackers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ice_servers: Option<Vec<IceServer>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_size_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_domains: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_domains: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub browser_seeding: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_upload_bytes_per_sec: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_download_bytes_per_sec: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_max_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_max_age_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust_mode: Option<TrustMode>,
    #[serde(skip_serializing)]
    pub group_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin_fallback_delay_ms: Option<u64>,
}

/// Every key, for documentation and schema checks.
pub const POLICY_KEYS: &[&str] = &[
    "enabled",
    "trackers",
    "ice_servers",
    "min_size_bytes",
    "allowed_domains",
    "blocked_domains",
    "upload_enabled",
    "browser_seeding",
    "max_upload_bytes_per_sec",
    "max_download_bytes_per_sec",
    "cache_max_bytes",
    "cache_max_age_secs",
    "group_id",
    "trust_mode",
    "group_secret",
    "origin_fallback_delay_ms",
];

fn typed<T: serde::de::DeserializeOwned>(key: &str, value: Value) -> Result<T, PolicyError> {
    serde_json::from_value(value).map_err(|e| PolicyError::new(key, e.to_string()))
}

impl PolicyLayer {
    pub fn from_json(text: &str) -> Result<Self, PolicyError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| PolicyError::new("(document)", format!("not JSON: {e}")))?;
        Self::from_value(value)
    }

    /// Reads a JSON object of policy keys, checking each value's type and bounds.
    pub fn from_value(value: Value) -> Result<Self, PolicyError> {
        let Value::Object(map) = value else {
            return Err(PolicyError::new("(document)", "expected a JSON object"));
        };
        Self::from_map(map)
    }

    fn from_map(map: Map<String, Value>) -> Result<Self, PolicyError> {
        let mut layer = PolicyLayer::default();
        for (key, value) in map {
            let k = key.as_str();
            // `null` leaves a key unset, as if it were absent.
            if value.is_null() && POLICY_KEYS.contains(&k) {
                continue;
            }
            match k {
                "enabled" => layer.enabled = Some(typed(k, value)?),
                "trackers" => layer.trackers = Some(typed(k, value)?),
                "ice_servers" => layer.ice_servers = Some(parse_ice_servers(value)?),
                "min_size_bytes" => layer.min_size_bytes = Some(typed(k, value)?),
                "allowed_domains" => layer.allowed_domains = Some(typed(k, value)?),
                "blocked_domains" => layer.blocked_domains = Some(typed(k, value)?),
                "upload_enabled" => layer.upload_enabled = Some(typed(k, value)?),
                "browser_seeding" => layer.browser_seeding = Some(typed(k, value)?),
                "max_upload_bytes_per_sec" => {
                    layer.max_upload_bytes_per_sec = Some(typed(k, value)?)
                }
                "max_download_bytes_per_sec" => {
                    layer.max_download_bytes_per_sec = Some(typed(k, value)?)
                }
                "cache_max_bytes" => layer.cache_max_bytes = Some(typed(k, value)?),
                "cache_max_age_secs" => layer.cache_max_age_secs = Some(typed(k, value)?),
                "group_id" => layer.group_id = Some(typed(k, value)?),
                "trust_mode" => layer.trust_mode = Some(typed(k, value)?),
                "group_secret" => layer.group_secret = Some(typed(k, value)?),
                "origin_fallback_delay_ms" => {
                    layer.origin_fallback_delay_ms = Some(typed(k, value)?)
                }
                // An empty key is still named, so the error says which key it was.
                "" => return Err(PolicyError::new("\"\"", "unknown key")),
                _ => return Err(PolicyError::new(k, "unknown key")),
            }
        }
        layer.validate()?;
        Ok(layer)
    }

    fn validate(&self) -> Result<(), PolicyError> {
        if let Some(trackers) = &self.trackers {
            validate_trackers(trackers)?;
        }
        if let Some(servers) = &self.ice_servers {
            validate_ice_servers(servers)?;
        }
        for (key, list) in [
            ("allowed_domains", &self.allowed_domains),
            ("blocked_domains", &self.blocked_domains),
        ] {
            if let Some(list) = list {
                validate_domains(key, list)?;
            }
        }
        if let Some(group) = &self.group_id
            && (group.is_empty() || group.len() > MAX_GROUP_ID)
        {
            return Err(PolicyError::new(
                "group_id",
                format!("must be 1 to {MAX_GROUP_ID} bytes"),
            ));
        }
        if let Some(secret) = &self.group_secret
            && !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&secret.len())
        {
            // The length only: the value is a secret.
            return Err(PolicyError::new(
                "group_secret",
                format!("must be {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes (a random string)"),
            ));
        }
        if let Some(delay) = self.origin_fallback_delay_ms
            && delay > MAX_FALLBACK_DELAY_MS
        {
            return Err(PolicyError::new(
                "origin_fallback_delay_ms",
                format!("{delay} is more than the maximum of {MAX_FALLBACK_DELAY_MS}"),
            ));
        }
        Ok(())
    }

    fn apply_to(&self, p: &mut Policy) {
        macro_rules! take {
            ($($field:ident),*) => {
                $( if let Some(v) = &self.$field { p.$field = v.clone(); } )*
            };
        }
        take!(
            enabled,
            trackers,
            ice_servers,
            min_size_bytes,
            allowed_domains,
            blocked_domains,
            upload_enabled,
            browser_seeding,
            max_upload_bytes_per_sec,
            max_download_bytes_per_sec,
            cache_max_bytes,
            cache_max_age_secs,
            trust_mode,
            origin_fallback_delay_ms
        );
        if let Some(g) = &self.group_id {
            p.group_id = Some(g.clone());
        }
        if let Some(g) = &self.group_secret {
            p.group_secret = Some(g.clone());
        }
    }
}

impl Policy {
    /// Resolves layers given highest priority first over the defaults.
    pub fn resolve(layers: &[PolicyLayer]) -> Policy {
        let mut policy = Policy::default();
        for layer in layers.iter().rev() {
            layer.apply_to(&mut policy);
        }
        policy
    }

    /// A complete policy from one JSON document over the defaults.
    pub fn from_json(text: &str) -> Result<Policy, PolicyError> {
        Ok(Policy::resolve(&[PolicyLayer::from_json(text)?]))
    }

    /// The trusted group's keys, when `trust_mode` is `trusted_group` and a secret is
    /// set; a group without a secret acts as `origin_digest`.
    pub fn group_key(&self) -> Option<GroupKey> {
        match (self.trust_mode, &self.group_secret) {
            (TrustMode::TrustedGroup, Some(secret)) => Some(GroupKey::from_secret(secret)),
            _ => None,
        }
    }

    pub fn to_json(&self) -> String {
        // A struct of strings, numbers and lists always serializes.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Whether P2P may be used for a download from `host`: a blocked pattern always
    /// wins; an empty allow list allows every other host.
    pub fn domain_allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if self
            .blocked_domains
            .iter()
            .any(|p| domain_matches(p, &host))
        {
            return false;
        }
        self.allowed_domains.is_empty()
            || self
                .allowed_domains
                .iter()
                .any(|p| domain_matches(p, &host))
    }
}

/// `example.com` matches the host and its subdomains; `*.example.com` only subdomains.
fn domain_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    if let Some(base) = pattern.strip_prefix("*.") {
        host.len() > base.len()
            && host.ends_with(base)
            && host[..host.len() - base.len()].ends_with('.')
    } else {
        host == pattern
            || (host.len() > pattern.len()
                && host.ends_with(pattern.as_str())
                && host[..host.len() - pattern.len()].ends_with('.'))
    }
}

fn parse_ice_servers(value: Value) -> Result<Vec<IceServer>, PolicyError> {
    let key = "ice_servers";
    let Value::Array(items) = value else {
        return Err(PolicyError::new(
            key,
            "expected a list of {urls, username, credential}",
        ));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let Value::Object(mut obj) = item else {
                return Err(PolicyError::new(key, format!("entry {i} is not an object")));
            };
            // WebRTC's RTCIceServer accepts one URL string or a list.
            let urls = match obj.remove("urls") {
                Some(Value::String(s)) => vec![s],
                Some(v @ Value::Array(_)) => typed(key, v)?,
                _ => {
                    return Err(PolicyError::new(key, format!("entry {i} has no `urls`")));
                }
            };
            let username = obj.remove("username").map(|v| typed(key, v)).transpose()?;
            let credential = obj
                .remove("credential")
                .map(|v| typed(key, v))
                .transpose()?;
            if let Some(extra) = obj.keys().next() {
                return Err(PolicyError::new(
                    key,
                    format!("entry {i} has unknown field `{extra}`"),
                ));
            }
            Ok(IceServer {
                urls,
                username,
                credential,
            })
        })
        .collect()
}

fn validate_trackers(trackers: &[String]) -> Result<(), PolicyError> {
    let key = "trackers";
    if trackers.len() > MAX_TRACKERS {
        return Err(PolicyError::new(
            key,
            format!("more than {MAX_TRACKERS} trackers"),
        ));
    }
    for t in trackers {
        if t.len() > MAX_STRING {
            return Err(PolicyError::new(key, "URL too long"));
        }
        let url = url::Url::parse(t).map_err(|e| PolicyError::new(key, format!("{t:?}: {e}")))?;
        if !matches!(url.scheme(), "ws" | "wss") || url.host_str().is_none() {
            return Err(PolicyError::new(
                key,
                format!("{t:?} is not a ws:// or wss:// URL"),
            ));
        }
    }
    Ok(())
}

fn validate_ice_servers(servers: &[IceServer]) -> Result<(), PolicyError> {
    let key = "ice_servers";
    if servers.len() > MAX_ICE_SERVERS {
        return Err(PolicyError::new(
            key,
            format!("more than {MAX_ICE_SERVERS} servers"),
        ));
    }
    for s in servers {
        if s.urls.is_empty() {
            return Err(PolicyError::new(key, "a server has an empty `urls` list"));
        }
        for u in &s.urls {
            let scheme = u.split(':').next().unwrap_or("");
            if u.len() > MAX_STRING || !matches!(scheme, "stun" | "stuns" | "turn" | "turns") {
                return Err(PolicyError::new(
                    key,
                    format!("{u:?} is not a stun:/turn: URL"),
                ));
            }
            if scheme.starts_with("turn") && (s.username.is_none() || s.credential.is_none()) {
                return Err(PolicyError::new(
                    key,
                    format!("{u:?} is a TURN server and needs `username` and `credential`"),
                ));
            }
        }
    }
    Ok(())
}

fn validate_domains(key: &str, list: &[String]) -> Result<(), PolicyError> {
    if list.len() > MAX_DOMAINS {
        return Err(PolicyError::new(
            key,
            format!("more than {MAX_DOMAINS} patterns"),
        ));
    }
    for pattern in list {
        let base = pattern.strip_prefix("*.").unwrap_or(pattern);
        let ok = !base.is_empty()
            && base.len() <= 253
            && !base.starts_with('.')
            && !base.ends_with('.')
            && !base.contains("..")
            && base
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !ok {
            return Err(PolicyError::new(
                key,
                format!("{pattern:?} is not a host pattern like `example.com` or `*.example.com`"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_through_json() {
        let p = Policy::default();
        assert_eq!(Policy::from_json(&p.to_json()), Ok(p));
    }

    #[test]
    fn a_group_secret_makes_a_group_key_only_in_trusted_group_mode_and_is_never_shown() {
        let secret = "0123456789abcdef-group";
        let p = Policy::from_json(&format!(
            r#"{{"trust_mode": "trusted_group", "group_secret": "{secret}"}}"#
        ))
        .unwrap();
        assert!(p.group_key().is_some());
        assert!(!p.to_json().contains(secret));
        let layer = PolicyLayer::from_json(&format!(r#"{{"group_secret": "{secret}"}}"#)).unwrap();
        assert!(!serde_json::to_string(&layer).unwrap().contains(secret));
        let err = PolicyLayer::from_json(r#"{"group_secret": "short-secret"}"#).unwrap_err();
        assert!(!err.to_string().contains("short-secret"), "{err}");
        let origin_only = Policy::resolve(&[layer]);
        assert!(origin_only.group_key().is_none());
        let no_secret = Policy::from_json(r#"{"trust_mode": "trusted_group"}"#).unwrap();
        assert!(no_secret.group_key().is_none());
    }

    #[test]
    fn layers_resolve_highest_first() {
        let enterprise = PolicyLayer::from_json(r#"{"upload_enabled": false}"#).unwrap();
        let user =
            PolicyLayer::from_json(r#"{"upload_enabled": true, "min_size_bytes": 5}"#).unwrap();
        let p = Policy::resolve(&[enterprise, user]);
        assert!(!p.upload_enabled);
        assert_eq!(p.min_size_bytes, 5);
        assert!(p.enabled);
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (r#"{"min_size_bytes": "big"}"#, "min_size_bytes"),
            (r#"{"min_size_bytes": -1}"#, "min_size_bytes"),
            (r#"{"": 1}"#, "\"\""),
            (r#"{"trackers": ["http://x"]}"#, "trackers"),
            (r#"{"trackers": ["not a url"]}"#, "trackers"),
            (
                r#"{"ice_servers": [{"urls": "turn:t.example"}]}"#,
                "ice_servers",
            ),
            (r#"{"ice_servers": [{"urls": "http://x"}]}"#, "ice_servers"),
            (
                r#"{"ice_servers": [{"urls": "stun:x", "bogus": 1}]}"#,
                "ice_servers",
            ),
            (
                r#"{"allowed_domains": ["https://x.com/"]}"#,
                "allowed_domains",
            ),
            (r#"{"blocked_domains": ["a..b"]}"#, "blocked_domains"),
            (r#"{"trust_mode": "everyone"}"#, "trust_mode"),
            (r#"{"group_id": ""}"#, "group_id"),
            (r#"{"group_secret": "short"}"#, "group_secret"),
            (r#"{"group_secret": 7}"#, "group_secret"),
            (
                r#"{"origin_fallback_delay_ms": 99999999}"#,
                "origin_fallback_delay_ms",
            ),
            (r#"{"enable": true}"#, "enable"),
        ];
        for (json, key) in cases {
            let err = Policy::from_json(json).unwrap_err();
            assert_eq!(err.key, key, "{json}: {err}");
            assert!(err.to_string().contains(key));
        }
        assert_eq!(Policy::from_json("[]").unwrap_err().key, "(document)");
        assert_eq!(Policy::from_json("{").unwrap_err().key, "(document)");
    }

    #[test]
    fn ice_servers_accept_a_single_url() {
        let p = Policy::from_json(
            r#"{"ice_servers": [{"urls": "turn:t.example:3478", "username": "u", "credential": "c"}]}"#,
        )
        .unwrap();
        assert_eq!(p.ice_servers[0].urls, vec!["turn:t.example:3478"]);
    }

    #[test]
    fn domain_rules() {
        let p = Policy::from_json(
            r#"{"allowed_domains": ["example.com", "*.cdn.net"], "blocked_domains": ["secret.example.com"]}"#,
        )
        .unwrap();
        assert!(p.domain_allowed("example.com"));
        assert!(p.domain_allowed("dl.example.com"));
        assert!(p.domain_allowed("EU.CDN.NET."));
        assert!(!p.domain_allowed("cdn.net"));
        assert!(!p.domain_allowed("badexample.com"));
        assert!(!p.domain_allowed("secret.example.com"));
        assert!(!p.domain_allowed("x.secret.example.com"));
        assert!(Policy::default().domain_allowed("anything.org"));
    }
}

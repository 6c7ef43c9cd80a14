//! `#[wasm_bindgen]` classes: the incremental hasher and the engine.

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::dto::{JsAction, JsConfig, JsEvent, JsMeta, JsStats, time_from_ms, time_to_ms};
use swarmload_core::content::ContentHasher;
use swarmload_core::engine::Engine;
use swarmload_core::policy::{Policy, PolicyLayer};

fn to_js<T: Serialize>(v: &T) -> Result<JsValue, JsError> {
    serde_wasm_bindgen::to_value(v).map_err(|e| JsError::new(&e.to_string()))
}

#[derive(Serialize)]
struct JsDigests {
    sha256: String,
    repr_digest: String,
    root: Option<String>,
    info_hash: String,
    size: u64,
}

/// Incremental SHA-256 plus BEP 52 root. Feed it in chunks (16 KiB to 1 MiB): one
/// giant call never leaves V8's baseline tier and runs several times slower.
#[wasm_bindgen]
pub struct WasmHasher {
    inner: ContentHasher,
}

#[wasm_bindgen]
impl WasmHasher {
    #[wasm_bindgen(constructor)]
    pub fn new() -> WasmHasher {
        WasmHasher {
            inner: ContentHasher::new(),
        }
    }

    pub fn update(&mut self, chunk: &[u8]) {
        self.inner.update(chunk);
    }

    /// `{sha256, repr_digest, root, info_hash, size}`; `root` is null for no bytes.
    pub fn finish(self) -> Result<JsValue, JsError> {
        let d = self.inner.finish();
        to_js(&JsDigests {
            sha256: d.sha256.to_hex(),
            repr_digest: d.sha256.repr_digest_header(),
            root: (d.size > 0).then(|| d.root.to_hex()),
            info_hash: d.info_hash().to_hex(),
            size: d.size,
        })
    }
}

/// Incremental SHA-256 alone: the whole-file check the browser peer's storage worker
/// computes on its own thread while the page hashes the blocks.
#[wasm_bindgen]
pub struct WasmSha256 {
    inner: sha2::Sha256,
}

#[wasm_bindgen]
impl WasmSha256 {
    #[wasm_bindgen(constructor)]
    pub fn new() -> WasmSha256 {
        WasmSha256 {
            inner: sha2::Digest::new(),
        }
    }

    pub fn update(&mut self, chunk: &[u8]) {
        sha2::Digest::update(&mut self.inner, chunk);
    }

    /// The 32-byte digest.
    pub fn finish(self) -> Vec<u8> {
        sha2::Digest::finalize(self.inner).to_vec()
    }
}

impl Default for WasmSha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl Default for WasmHasher {
    fn default() -> Self {
        Self::new()
    }
}

/// One download (or seed) driven from JavaScript: feed events, drain actions.
#[wasm_bindgen]
pub struct WasmEngine {
    inner: Engine,
}

#[wasm_bindgen]
impl WasmEngine {
    /// `meta`: `{sha256, size, root?}`; `config`: see `JsConfig` (all optional).
    #[wasm_bindgen(constructor)]
    pub fn new(meta: JsValue, config: JsValue) -> Result<WasmEngine, JsError> {
        let meta: JsMeta = serde_wasm_bindgen::from_value(meta)?;
        let config: JsConfig = if config.is_undefined() || config.is_null() {
            JsConfig::default()
        } else {
            serde_wasm_bindgen::from_value(config)?
        };
        let mut config = config.into_config();
        if config.rng_seed == swarmload_core::engine::EngineConfig::default().rng_seed {
            let mut seed = [0u8; 8];
            getrandom::fill(&mut seed).map_err(|e| JsError::new(&e.to_string()))?;
            config.rng_seed = u64::from_le_bytes(seed);
        }
        let inner = Engine::download(meta.into_meta()?, config)?;
        Ok(WasmEngine { inner })
    }

    /// Feeds one event (`{type: "peer_message", peer, data}` and so on).
    pub fn handle(&mut self, now_ms: f64, event: JsValue) -> Result<(), JsError> {
        let event: JsEvent = serde_wasm_bindgen::from_value(event)?;
        self.inner.handle(time_from_ms(now_ms), event.into_event()?);
        Ok(())
    }

    /// The next action, or `undefined` when there is none.
    pub fn poll_action(&mut self) -> Result<JsValue, JsError> {
        match self.inner.poll_action() {
            Some(a) => to_js(&JsAction::from(a)),
            None => Ok(JsValue::UNDEFINED),
        }
    }

    /// When `handle_timeout` is next due, in ms, or `undefined`.
    pub fn poll_timeout(&self) -> Option<f64> {
        self.inner.poll_timeout().map(time_to_ms)
    }

    pub fn handle_timeout(&mut self, now_ms: f64) {
        self.inner.handle_timeout(time_from_ms(now_ms));
    }

    pub fn stats(&self) -> Result<JsValue, JsError> {
        to_js(&JsStats::from(self.inner.stats()))
    }

    /// The swarm's info hash (hex); empty while the content's SHA-256 is unknown.
    pub fn info_hash(&self) -> String {
        self.inner
            .info_hash()
            .map(|h| h.to_hex())
            .unwrap_or_default()
    }
}

/// Validates a policy JSON document; returns the resolved policy or throws an error
/// naming the bad key.
#[wasm_bindgen]
pub fn resolve_policy(json: &str) -> Result<JsValue, JsError> {
    let policy = Policy::from_json(json)?;
    to_js(&policy)
}

/// Resolves policy layers, given as a JSON array of objects highest first (for the
/// extension: enterprise policy, then the options page's settings), over the
/// defaults. Throws an error naming the first bad key.
#[wasm_bindgen]
pub fn resolve_policy_layers(layers_json: &str) -> Result<JsValue, JsError> {
    let layers: Vec<serde_json::Value> = serde_json::from_str(layers_json)?;
    let layers = layers
        .into_iter()
        .map(PolicyLayer::from_value)
        .collect::<Result<Vec<_>, _>>()?;
    to_js(&Policy::resolve(&layers))
}

/// Why a download may not be shared (`"credentials"`, `"domain"`, …), or `undefined`
/// when it may: the same rules the native host applies (`eligibility`).
#[wasm_bindgen]
pub fn ineligible_reason(
    policy_json: &str,
    url: &str,
    header_names: Vec<String>,
    incognito: bool,
    method: Option<String>,
) -> Result<Option<String>, JsError> {
    let policy = Policy::from_json(policy_json)?;
    let Ok(url) = url::Url::parse(url) else {
        return Ok(Some("url".into()));
    };
    let names: Vec<&str> = header_names.iter().map(String::as_str).collect();
    Ok(swarmload_core::eligibility::ineligible(
        &policy,
        &swarmload_core::eligibility::Request {
            url: &url,
            header_names: &names,
            incognito,
            method: method.as_deref(),
        },
    )
    .map(str::to_string))
}

/// The trusted SHA-256 (hex) a response's headers or its URL name, `undefined` when
/// none does; throws on a malformed digest header. The headers are the RFC 9530
/// `Repr-Digest`, `Unencoded-Digest`, the legacy RFC 3230 `Digest` and
/// `Content-Encoding` values, weighed by the core's one rule
/// (`trusted_digest::digest_from_headers`).
#[wasm_bindgen]
pub fn trusted_digest(
    repr_digest: Option<String>,
    unencoded_digest: Option<String>,
    digest: Option<String>,
    content_encoding: Option<String>,
    url: &str,
) -> Result<Option<String>, JsError> {
    use swarmload_core::trusted_digest::{DigestHeaders, digest_from_headers, parse_url_fragment};
    let from_headers = digest_from_headers(DigestHeaders {
        repr: repr_digest.as_deref(),
        unencoded: unencoded_digest.as_deref(),
        content: None,
        legacy: digest.as_deref(),
        content_encoding: content_encoding.as_deref(),
    })?;
    let found = match from_headers {
        Some(h) => Some(h),
        None => parse_url_fragment(url)?,
    };
    Ok(found.map(|h| h.to_hex()))
}

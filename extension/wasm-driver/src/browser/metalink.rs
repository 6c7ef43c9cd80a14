//! The browser-only peer's Metalink/HTTP look-up, by the native host's rules
//! (`native-host/src/origin/metalink.rs`): the probe's `Link: rel=describedby`
//! names a Metalink 4 document, which is read only from the download's own origin
//! (after redirects too), within `metalink::max_bytes`, without credentials and
//! within [`LOOKUP_BUDGET_MS`]; its `sha-256` for the file is the trusted digest.

use super::checksum_lists::LOOKUP_BUDGET_MS;
use super::origin::{Probe, abort_after, fetch_bounded};
use swarmload_core::checksum_file::file_name;
use swarmload_core::content::Hash32;
use swarmload_core::metalink::{describedby, max_bytes, parse, same_origin};

/// The SHA-256 the Metalink the probe's response points at gives, and the
/// document's URL.
pub async fn lookup(p: &Probe) -> Option<(Hash32, String)> {
    let content = url::Url::parse(&p.final_url).ok()?;
    let at = describedby(p.link.as_deref(), &content)?;
    if !same_origin(&at, &content) {
        return None;
    }
    let size = p.size?;
    let abort = abort_after(LOOKUP_BUDGET_MS)?;
    let limit = usize::try_from(max_bytes(size)).ok()?;
    let https_only = content.scheme() == "https";
    let got = fetch_bounded(at.as_str(), &abort.signal(), https_only, limit).await;
    abort.abort();
    let got = got?;
    // A redirect must not lead the trust elsewhere.
    if !same_origin(&url::Url::parse(&got.url).ok()?, &content) {
        return None;
    }
    let text = String::from_utf8(got.body).ok()?;
    let name = file_name(&content).unwrap_or_default();
    let sha256 = parse(&text, &name, size).ok()?.sha256?;
    Some((sha256, at.to_string()))
}

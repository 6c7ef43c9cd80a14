//! One request before the download: size, Range support, validators, the trusted
//! digest the origin publishes, and the file name.

use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode};
use std::sync::Arc;
use swarmload_core::content::Hash32;
use swarmload_core::trusted_digest::{
    DigestError, DigestSource, parse_legacy_digest, parse_repr_digest, parse_url_fragment,
};

use url::Url;

use super::metalink;
use super::response::{header_str, parse_content_range, without_url};
use crate::filename;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginInfo {
    /// The URL asked for (without a fragment), before redirects.
    pub requested: Url,
    /// Where the content is, after redirects (without a fragment).
    pub url: Url,
    pub size: u64,
    pub ranges: bool,
    /// A strong ETag, usable in `If-Range`.
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// The SHA-256 the origin publishes (`Repr-Digest`, `Content-Digest` on a 200,
    /// `Digest`), or a `#sha256=` fragment on the URL.
    pub digest: Option<Hash32>,
    /// Where `digest` came from.
    pub digest_source: Option<DigestSource>,
    pub filename: String,
    /// A Metalink the origin points at (`Link: rel=describedby`).
    pub metalink: Option<Url>,
    /// Other servers with the same bytes (`Link: rel=duplicate`, the Metalink's
    /// `<url>`s), best first, already filtered by `metalink::usable_mirrors`. Used
    /// only when a trusted digest is known.
    pub mirrors: Vec<Url>,
    /// The SHA-256 of every 16 KiB block (the BEP 52 leaf layer), from the origin's
    /// Metalink, for the trusted `digest`.
    pub leaves: Option<Arc<Vec<Hash32>>>,
}

impl OriginInfo {
    /// The value for `If-Range`: a strong ETag, else the date (RFC 9110 §13.1.5).
    pub fn if_range(&self) -> Option<&str> {
        self.etag.as_deref().or(self.last_modified.as_deref())
    }

    /// Whether two responses can be told apart if the content changes.
    pub fn has_validator(&self) -> bool {
        self.etag.is_some() || self.last_modified.is_some()
    }

    /// Whether the URL carries a user name or password (never shared, then).
    pub fn has_credentials(&self) -> bool {
        !self.requested.username().is_empty() || self.requested.password().is_some()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("{0}")]
    Http(String),
    #[error("the origin answered {0}")]
    Status(StatusCode),
    #[error("the origin does not say how large the content is")]
    UnknownSize,
    #[error("the origin's digest header is malformed: {0}")]
    Digest(#[from] DigestError),
    #[error("only http and https URLs can be downloaded")]
    Scheme,
    #[error("the origin's Metalink names SHA-256 {metalink}, its headers {header}")]
    MetalinkConflict { header: Hash32, metalink: Hash32 },
}

/// Asks servers that can compute it to send the SHA-256 (RFC 9530 §4: a preference
/// from 1 to 10, 10 the strongest).
pub const WANT_REPR_DIGEST: (&str, &str) = ("want-repr-digest", "sha-256=10");

/// Asks the origin about `url` with the given extra request headers. HEAD first;
/// where HEAD is refused or says too little, a one-byte ranged GET.
pub async fn probe(
    client: &reqwest::Client,
    url: &Url,
    headers: &HeaderMap,
) -> Result<OriginInfo, ProbeError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ProbeError::Scheme);
    }
    let fragment_digest = parse_url_fragment(url.as_str())?;
    let mut bare = url.clone();
    bare.set_fragment(None);
    let http = |e: reqwest::Error| ProbeError::Http(without_url(e));

    let head = client
        .request(Method::HEAD, bare.clone())
        .headers(headers.clone())
        .header(WANT_REPR_DIGEST.0, WANT_REPR_DIGEST.1)
        .send()
        .await;
    let mut info = match head {
        Ok(r) if r.status() == StatusCode::OK => {
            let h = r.headers();
            let size = header_str(h, "content-length").and_then(|v| v.parse().ok());
            let ranges = header_str(h, "accept-ranges").is_some_and(|v| v.contains("bytes"));
            match size {
                Some(size) if ranges => Some(from_headers(r.url().clone(), h, size, true, true)?),
                _ => None,
            }
        }
        Ok(r)
            if r.status().is_client_error()
                && !matches!(
                    r.status(),
                    StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_IMPLEMENTED
                ) =>
        {
            return Err(ProbeError::Status(r.status()));
        }
        _ => None,
    };
    if info.is_none() {
        // Some servers answer HEAD badly or not at all; a one-byte GET tells the truth.
        let r = client
            .get(bare.clone())
            .headers(headers.clone())
            .header(WANT_REPR_DIGEST.0, WANT_REPR_DIGEST.1)
            .header(header::RANGE, "bytes=0-0")
            .send()
            .await
            .map_err(http)?;
        let status = r.status();
        let final_url = r.url().clone();
        let h = r.headers().clone();
        // The body is not wanted: dropping the response closes the connection.
        drop(r);
        info = Some(match status {
            StatusCode::PARTIAL_CONTENT => {
                let (_, _, total) = header_str(&h, "content-range")
                    .and_then(parse_content_range)
                    .ok_or(ProbeError::UnknownSize)?;
                from_headers(final_url, &h, total, true, false)?
            }
            StatusCode::OK => {
                let size = header_str(&h, "content-length")
                    .and_then(|v| v.parse().ok())
                    .ok_or(ProbeError::UnknownSize)?;
                from_headers(final_url, &h, size, false, true)?
            }
            // An empty file cannot satisfy any range.
            StatusCode::RANGE_NOT_SATISFIABLE
                if header_str(&h, "content-range").is_some_and(|v| v.trim() == "bytes */0") =>
            {
                from_headers(final_url, &h, 0, true, false)?
            }
            s => return Err(ProbeError::Status(s)),
        });
    }
    let mut info = info.ok_or(ProbeError::UnknownSize)?;
    info.requested = bare.clone();
    // The client turns a URL's user and password into an Authorization header and
    // the final URL no longer has them: keep them for the ranges, on the same host
    // only.
    if info.url.host_str() == bare.host_str()
        && info.url.port_or_known_default() == bare.port_or_known_default()
    {
        let _ = info.url.set_username(bare.username());
        let _ = info.url.set_password(bare.password());
    }
    if info.digest.is_none() && fragment_digest.is_some() {
        info.digest = fragment_digest;
        info.digest_source = Some(DigestSource::Explicit);
    }
    if let Some(at) = info.metalink.clone() {
        match metalink::fetch(client, &at, &info.url, headers, &info.filename, info.size).await {
            Ok(m) => {
                if let (Some(header), Some(ml)) = (info.digest, m.sha256)
                    && header != ml
                {
                    return Err(ProbeError::MetalinkConflict {
                        header,
                        metalink: ml,
                    });
                }
                if info.digest.is_none() && m.sha256.is_some() {
                    info.digest = m.sha256;
                    info.digest_source = Some(DigestSource::Metalink);
                }
                // The leaf layer is trusted for the content its document names.
                if m.sha256.is_some() && m.sha256 == info.digest {
                    info.leaves = m.leaves.map(Arc::new);
                    // The header's mirrors keep their order, ahead of the document's.
                    let listed = info
                        .mirrors
                        .drain(..)
                        .map(|u| (u, 0))
                        .chain(m.mirrors)
                        .collect();
                    info.mirrors = metalink::usable_mirrors(listed, &info.url);
                }
            }
            // The Metalink is an extra: without it the download goes on as it would.
            Err(e) => tracing::info!(metalink = %at, "Metalink not used: {e}"),
        }
    }
    Ok(info)
}

fn from_headers(
    mut url: Url,
    h: &HeaderMap,
    size: u64,
    ranges: bool,
    full_response: bool,
) -> Result<OriginInfo, ProbeError> {
    url.set_fragment(None);
    let etag = header_str(h, "etag")
        .map(str::trim)
        // A weak ETag cannot guard a range (RFC 9110 §13.1.5).
        .filter(|e| !e.starts_with("W/"))
        .map(str::to_string);
    let last_modified = header_str(h, "last-modified").map(str::to_string);
    let mut digest = None;
    if let Some(v) = header_str(h, "repr-digest") {
        digest = parse_repr_digest(v)?;
    }
    if digest.is_none()
        && full_response
        && let Some(v) = header_str(h, "content-digest")
    {
        digest = parse_repr_digest(v)?;
    }
    if digest.is_none()
        && let Some(v) = header_str(h, "digest")
    {
        digest = parse_legacy_digest(v)?;
    }
    let filename = filename::choose(header_str(h, "content-disposition"), &url);
    let metalink = metalink::describedby(h, &url);
    let mirrors = metalink::usable_mirrors(metalink::duplicates(h, &url), &url);
    Ok(OriginInfo {
        metalink,
        mirrors,
        leaves: None,
        requested: url.clone(),
        url,
        size,
        ranges,
        etag,
        last_modified,
        digest_source: digest.map(|_| DigestSource::Header),
        digest,
        filename,
    })
}

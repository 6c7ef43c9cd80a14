//! What one request before the download learns of it, read from the response alike
//! by both drivers: size, Range support, validators, the digest the origin
//! publishes in its headers or the URL names, the file name, and where a Metalink
//! and mirrors are. The driver sends the request ([`Asked`]) and hands over what
//! came back; [`read_response`] says what it means, or which request to send next.

use std::sync::Arc;

use url::Url;

use crate::content::Hash32;
use crate::content_range::ContentRange;
use crate::filename;
use crate::metalink;
use crate::trusted_digest::{
    DigestError, DigestHeaders, DigestSource, digest_from_headers, parse_url_fragment,
};

/// Asks servers that can compute it to send the SHA-256 (RFC 9530 §4: a preference
/// from 1 to 10, 10 the strongest). Both probe requests carry it.
pub const WANT_REPR_DIGEST: (&str, &str) = ("want-repr-digest", "sha-256=10");

/// The probe requests, in the order a driver may send them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// `HEAD`: cheapest, but some servers answer it badly.
    Head,
    /// `GET` with `Range: bytes=0-0`: the truth, one byte of it.
    FirstByte,
}

/// A response's headers, as the driver read them: names lower-case, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    pub fn new() -> Headers {
        Headers::default()
    }

    pub fn push(&mut self, name: &str, value: &str) {
        self.0.push((name.to_ascii_lowercase(), value.to_string()));
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name` (a `Link` header may come many times).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl<'a> FromIterator<(&'a str, &'a str)> for Headers {
    fn from_iter<I: IntoIterator<Item = (&'a str, &'a str)>>(iter: I) -> Headers {
        let mut h = Headers::new();
        for (n, v) in iter {
            h.push(n, v);
        }
        h
    }
}

/// What the probe learnt of a URL: the one description of an origin's content that
/// both drivers, the resolver and the download share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The URL asked for (without a fragment), before redirects.
    pub requested: Url,
    /// Where the content is, after redirects (without a fragment).
    pub url: Url,
    pub size: u64,
    pub ranges: bool,
    /// A strong ETag, usable in `If-Range`.
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// The origin's `Content-Type`, which a delivered file keeps.
    pub content_type: Option<String>,
    /// The SHA-256 the origin publishes (`Repr-Digest`, `Content-Digest` on a 200,
    /// `Digest`), a `#sha256=` fragment on the URL, or what the resolver found.
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

impl Probe {
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

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("the origin answered {0}")]
    Status(u16),
    #[error("the origin does not say how large the content is")]
    UnknownSize,
    #[error("the origin's digest header is malformed: {0}")]
    Digest(#[from] DigestError),
    #[error("only http and https URLs can be downloaded")]
    Scheme,
    #[error("the origin's Metalink names SHA-256 {metalink}, its headers {header}")]
    MetalinkConflict { header: Hash32, metalink: Hash32 },
}

/// What a probe response means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeStep {
    /// All the probe learns.
    Known(Box<Probe>),
    /// Too little: send [`Asked::FirstByte`] (also the answer to a `HEAD` that
    /// failed at the network).
    AskFirstByte,
}

/// Checks `requested` can be probed at all, before anything is sent.
pub fn check_url(requested: &Url) -> Result<(), ProbeError> {
    if !matches!(requested.scheme(), "http" | "https") {
        return Err(ProbeError::Scheme);
    }
    parse_url_fragment(requested.as_str())?;
    Ok(())
}

/// Reads the answer to `asked` for `requested` (the URL as given, with any
/// fragment), which ended at `final_url` with `status` and `headers`.
pub fn read_response(
    requested: &Url,
    asked: Asked,
    status: u16,
    final_url: &Url,
    headers: &Headers,
) -> Result<ProbeStep, ProbeError> {
    check_url(requested)?;
    let probe = match asked {
        Asked::Head => match status {
            200 => {
                let size = headers
                    .get("content-length")
                    .and_then(|v| v.trim().parse().ok());
                let ranges = headers
                    .get("accept-ranges")
                    .is_some_and(|v| v.contains("bytes"));
                match size {
                    Some(size) if ranges => from_headers(final_url, headers, size, true, true)?,
                    _ => return Ok(ProbeStep::AskFirstByte),
                }
            }
            // A refused HEAD is not a refused download; other client errors are.
            405 | 501 => return Ok(ProbeStep::AskFirstByte),
            400..=499 => return Err(ProbeError::Status(status)),
            _ => return Ok(ProbeStep::AskFirstByte),
        },
        Asked::FirstByte => match status {
            206 => {
                let total = headers
                    .get("content-range")
                    .and_then(ContentRange::parse)
                    .and_then(ContentRange::with_total)
                    .map(|(_, _, total)| total)
                    .ok_or(ProbeError::UnknownSize)?;
                from_headers(final_url, headers, total, true, false)?
            }
            200 => {
                let size = headers
                    .get("content-length")
                    .and_then(|v| v.trim().parse().ok())
                    .ok_or(ProbeError::UnknownSize)?;
                from_headers(final_url, headers, size, false, true)?
            }
            // An empty file cannot satisfy any range.
            416 if headers
                .get("content-range")
                .is_some_and(|v| v.trim() == "bytes */0") =>
            {
                from_headers(final_url, headers, 0, true, false)?
            }
            s => return Err(ProbeError::Status(s)),
        },
    };
    Ok(ProbeStep::Known(Box::new(finish(requested, probe)?)))
}

/// What the request itself adds: the URL as asked, its credentials, its fragment.
fn finish(requested: &Url, mut probe: Probe) -> Result<Probe, ProbeError> {
    let mut bare = requested.clone();
    bare.set_fragment(None);
    // A client turns a URL's user and password into an Authorization header and the
    // final URL no longer has them: keep them for the ranges, on the same host only.
    if probe.url.host_str() == bare.host_str()
        && probe.url.port_or_known_default() == bare.port_or_known_default()
    {
        let _ = probe.url.set_username(bare.username());
        let _ = probe.url.set_password(bare.password());
    }
    probe.requested = bare;
    if probe.digest.is_none()
        && let Some(d) = parse_url_fragment(requested.as_str())?
    {
        probe.digest = Some(d);
        probe.digest_source = Some(DigestSource::Explicit);
    }
    Ok(probe)
}

fn from_headers(
    final_url: &Url,
    h: &Headers,
    size: u64,
    ranges: bool,
    full_response: bool,
) -> Result<Probe, ProbeError> {
    let mut url = final_url.clone();
    url.set_fragment(None);
    let etag = h
        .get("etag")
        .map(str::trim)
        // A weak ETag cannot guard a range (RFC 9110 §13.1.5).
        .filter(|e| !e.starts_with("W/") && !e.is_empty())
        .map(str::to_string);
    let digest = digest_from_headers(DigestHeaders {
        repr: h.get("repr-digest"),
        unencoded: h.get("unencoded-digest"),
        // Content-Digest is the digest of this response's body: the whole file only
        // on a 200.
        content: h.get("content-digest").filter(|_| full_response),
        legacy: h.get("digest"),
        content_encoding: h.get("content-encoding"),
    })?;
    let links = || h.all("link");
    Ok(Probe {
        filename: filename::choose(h.get("content-disposition"), &url),
        metalink: metalink::describedby(links(), &url),
        mirrors: metalink::usable_mirrors(metalink::duplicates(links(), &url), &url),
        leaves: None,
        requested: url.clone(),
        size,
        ranges,
        etag,
        last_modified: h.get("last-modified").map(str::to_string),
        content_type: h.get("content-type").map(str::to_string),
        digest_source: digest.map(|_| DigestSource::Header),
        digest,
        url,
    })
}

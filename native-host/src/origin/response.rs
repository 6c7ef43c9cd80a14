//! What an origin response says, read alike by the probe, the fetcher and the
//! Metalink and checksum-list look-ups: its `Content-Range` (through the core's one
//! parser), its `Content-Length`, and a client error told without its URL.

use reqwest::header::{self, HeaderMap};
use swarmload_core::content_range::ContentRange;

/// `bytes S-E/TOTAL` → (S, E + 1, TOTAL); the total must be known.
pub fn parse_content_range(v: &str) -> Option<(u64, u64, u64)> {
    ContentRange::parse(v).and_then(ContentRange::with_total)
}

/// A response's `Content-Range` as (first, end, total), if usable.
pub fn content_range(h: &HeaderMap) -> Option<(u64, u64, u64)> {
    h.get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_content_range)
}

/// A response's `Content-Length`, if usable.
pub fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// reqwest errors carry the URL; the caller already names it.
pub fn without_url(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_redirect() {
        "too many redirects"
    } else if e.is_body() || e.is_decode() {
        "connection broke"
    } else {
        "request failed"
    };
    let mut detail = String::new();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    while let Some(s) = src {
        detail = s.to_string();
        src = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_parses_and_rejects_nonsense() {
        assert_eq!(parse_content_range("bytes 0-0/10"), Some((0, 1, 10)));
        assert_eq!(parse_content_range("bytes 5-9/10"), Some((5, 10, 10)));
        assert_eq!(parse_content_range("bytes 5-10/10"), None);
        assert_eq!(parse_content_range("bytes 6-5/10"), None);
        assert_eq!(parse_content_range("bytes */10"), None);
        assert_eq!(parse_content_range("bytes 0-1/*"), None);
        assert_eq!(parse_content_range("items 0-1/5"), None);
    }
}

//! Metalink/HTTP (RFC 6249) as a trusted source of the content's hashes: the origin
//! points at a Metalink 4 document (RFC 5854) with
//! `Link: <file.meta4>; rel=describedby; type="application/metalink4+xml"`, which
//! lists the file's SHA-256 and, in `<pieces length="16384" type="sha-256">`, the
//! SHA-256 of every 16 KiB block: the BEP 52 leaf layer. With the leaf layer known up
//! front, downloaders that start together can check each other's blocks before
//! anyone has the whole file, and share the origin's work instead of each fetching
//! everything.
//!
//! The document is trusted as much as the origin itself, so it is fetched only from
//! the same origin (scheme, host and port) and within a size bound.
//!
//! The header and document parsing is the core's (`swarmload_core::metalink`); here
//! are the fetch and the choice of mirrors.

use std::time::Duration;

use reqwest::header::HeaderMap;
use swarmload_core::metalink::{self as core, same_origin};
pub use swarmload_core::metalink::{MEDIA_TYPE, Metalink, MetalinkError, max_bytes, parse};
use url::Url;

use super::local_network::is_local;

/// How long fetching the document may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Mirrors used at once, besides the origin.
pub const MAX_MIRRORS: usize = 4;

fn link_values(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all("link")
        .iter()
        .filter_map(|v| v.to_str().ok())
}

/// The Metalink a response's `Link` headers point at (see `core::describedby`).
pub fn describedby(headers: &HeaderMap, base: &Url) -> Option<Url> {
    core::describedby(link_values(headers), base)
}

/// The mirrors a response's `Link: rel=duplicate` headers name, with their priority.
pub fn duplicates(headers: &HeaderMap, base: &Url) -> Vec<(Url, u32)> {
    core::duplicates(link_values(headers), base)
}

/// Fetches and reads the Metalink at `at` for the download at `content`.
pub async fn fetch(
    client: &reqwest::Client,
    at: &Url,
    content: &Url,
    headers: &HeaderMap,
    file_name: &str,
    size: u64,
) -> Result<Metalink, MetalinkError> {
    if !same_origin(at, content) {
        return Err(MetalinkError::OtherOrigin(
            at.origin().ascii_serialization(),
        ));
    }
    let limit = max_bytes(size);
    let body = tokio::time::timeout(FETCH_TIMEOUT, async {
        let mut r = client
            .get(at.clone())
            .headers(headers.clone())
            .send()
            .await
            .map_err(|e| MetalinkError::Fetch(super::response::without_url(e)))?;
        if !r.status().is_success() {
            return Err(MetalinkError::Fetch(format!(
                "the origin answered {}",
                r.status()
            )));
        }
        // A redirect must not lead the trust elsewhere.
        if !same_origin(r.url(), content) {
            return Err(MetalinkError::OtherOrigin(
                r.url().origin().ascii_serialization(),
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = r
            .chunk()
            .await
            .map_err(|e| MetalinkError::Fetch(super::response::without_url(e)))?
        {
            if body.len() as u64 + chunk.len() as u64 > limit {
                return Err(MetalinkError::TooLarge(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    })
    .await
    .map_err(|_| MetalinkError::Fetch("timed out".into()))??;
    let text = String::from_utf8(body).map_err(|_| MetalinkError::Xml("not UTF-8".into()))?;
    parse(&text, file_name, size)
}

/// The mirrors a download may use, best first: http(s) only, HTTPS only when the
/// download is HTTPS (a mirror must not reveal what an HTTPS download fetches),
/// never the download's own URL, without credentials, not on this machine or a
/// private network unless the download is too, at most [`MAX_MIRRORS`].
/// The bytes need no trust in the mirror: mirrors are used only when a trusted
/// digest is known, and the whole is checked against it.
pub fn usable_mirrors(mut listed: Vec<(Url, u32)>, download: &Url) -> Vec<Url> {
    listed.sort_by_key(|(_, pri)| *pri);
    let mut out: Vec<Url> = Vec::new();
    for (mut url, _) in listed {
        url.set_fragment(None);
        let scheme_ok = match download.scheme() {
            "https" => url.scheme() == "https",
            _ => matches!(url.scheme(), "http" | "https"),
        };
        // A public origin must not point the host at its own machine or network
        // (by name, redirect too: see `mirrors`).
        if is_local(&url) && !is_local(download) {
            continue;
        }
        if !scheme_ok
            || !url.username().is_empty()
            || url.password().is_some()
            || url.host_str().is_none()
            || &url == download
            || out.contains(&url)
        {
            continue;
        }
        out.push(url);
        if out.len() == MAX_MIRRORS {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(body: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><metalink xmlns="urn:ietf:params:xml:ns:metalink">{body}</metalink>"#
        )
    }

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn duplicate_links_and_metalink_urls_name_mirrors_best_first() {
        let base = Url::parse("https://dl.example/files/x.iso").unwrap();
        let mut h = HeaderMap::new();
        h.append(
            "link",
            r#"<https://m2.example/x.iso>; rel=duplicate; pri=2, <http://plain.example/x.iso>; rel=duplicate; pri=1"#
                .parse()
                .unwrap(),
        );
        h.append(
            "link",
            r#"</mirror/x.iso>; rel="duplicate""#.parse().unwrap(),
        );
        h.append(
            "link",
            r#"<https://m1.example/x.iso>; rel=duplicate; pri=1"#
                .parse()
                .unwrap(),
        );
        h.append(
            "link",
            r#"<x.iso.meta4>; rel=describedby; type="application/metalink4+xml""#
                .parse()
                .unwrap(),
        );
        h.append(
            "link",
            r#"<https://user:pw@m3.example/x.iso>; rel=duplicate"#
                .parse()
                .unwrap(),
        );
        h.append(
            "link",
            r#"<https://dl.example/files/x.iso>; rel=duplicate"#
                .parse()
                .unwrap(),
        );
        let listed = duplicates(&h, &base);
        assert_eq!(listed.len(), 6);
        let usable: Vec<String> = usable_mirrors(listed, &base)
            .iter()
            .map(Url::to_string)
            .collect();
        // The HTTP mirror is dropped for an HTTPS download, as are credentials and
        // the download itself; the rest come by priority.
        assert_eq!(
            usable,
            [
                "https://m1.example/x.iso",
                "https://m2.example/x.iso",
                "https://dl.example/mirror/x.iso"
            ]
        );
        // A public origin cannot send the host to a private address; a local one can.
        let local: Vec<(Url, u32)> = [
            "http://127.0.0.1:8080/x",
            "http://192.168.1.5/x",
            "http://[::1]/x",
            "http://localhost/x",
        ]
        .iter()
        .map(|u| (Url::parse(u).unwrap(), 1))
        .collect();
        let public = Url::parse("http://dl.example/x.iso").unwrap();
        assert!(usable_mirrors(local.clone(), &public).is_empty());
        let lan = Url::parse("http://10.0.0.2/x.iso").unwrap();
        assert_eq!(usable_mirrors(local, &lan).len(), 4);
        let http = Url::parse("http://dl.example/x.iso").unwrap();
        let many: Vec<(Url, u32)> = (0..10)
            .map(|i| (Url::parse(&format!("http://m{i}.example/x")).unwrap(), i))
            .collect();
        assert_eq!(usable_mirrors(many, &http).len(), MAX_MIRRORS);

        let doc = doc(&format!(
            r#"<file name="x.iso"><hash type="sha-256">{A}</hash>
               <url priority="2">https://b.example/x.iso</url>
               <url priority="1">https://a.example/x.iso</url>
               <url>not a url</url></file>"#
        ));
        let ml = parse(&doc, "x.iso", 0).unwrap();
        assert_eq!(
            usable_mirrors(ml.mirrors, &base)
                .iter()
                .map(Url::as_str)
                .collect::<Vec<_>>(),
            ["https://a.example/x.iso", "https://b.example/x.iso"]
        );
    }

    #[test]
    fn link_headers_name_the_metalink() {
        let base = Url::parse("https://dl.example/files/x.iso").unwrap();
        let mut h = HeaderMap::new();
        h.append(
            "link",
            r#"<https://mirror.example/x.iso>; rel=duplicate; pri=1"#
                .parse()
                .unwrap(),
        );
        h.append(
            "link",
            r#"<x.iso.meta4>; rel="describedby"; type="application/metalink4+xml""#
                .parse()
                .unwrap(),
        );
        assert_eq!(
            describedby(&h, &base).unwrap().as_str(),
            "https://dl.example/files/x.iso.meta4"
        );
        let mut other = HeaderMap::new();
        other.append(
            "link",
            r#"<x.torrent>; rel=describedby; type="application/x-bittorrent""#
                .parse()
                .unwrap(),
        );
        assert_eq!(describedby(&other, &base), None);
    }
}

//! Metalink/HTTP (RFC 6249) and Metalink 4 (RFC 5854), the parts both the native host
//! and the browser-only peer read: the `Link` header (`rel=describedby` naming the
//! document, `rel=duplicate` naming mirrors) and the document itself (the file's
//! SHA-256, its 16 KiB piece hashes, its `<url>`s). Fetching is each driver's own.
//!
//! The document is trusted as much as the origin itself, so a driver fetches it only
//! from the same origin (scheme, host and port, [`same_origin`]) and within
//! [`max_bytes`].

use url::Url;

use crate::content::{BLOCK_SIZE, Hash32};
use crate::local_network::is_local;

/// The media type RFC 5854 registers for Metalink 4.
pub const MEDIA_TYPE: &str = "application/metalink4+xml";
/// The document's size bound: room for the leaf layer of the content and its markup.
const BASE_BYTES: u64 = 64 * 1024;
const BYTES_PER_PIECE: u64 = 160;
const MAX_BYTES: u64 = 128 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metalink {
    /// The file's whole SHA-256.
    pub sha256: Option<Hash32>,
    /// SHA-256 of each 16 KiB block, when the document lists pieces of that length
    /// and their count fits the size.
    pub leaves: Option<Vec<Hash32>>,
    /// The document's `<url>` elements, best priority first (RFC 5854 §4.2.16):
    /// where else the same bytes are.
    pub mirrors: Vec<(Url, u32)>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetalinkError {
    #[error("the Metalink is on another origin ({0}); only the download's own origin is trusted")]
    OtherOrigin(String),
    #[error("the Metalink could not be fetched: {0}")]
    Fetch(String),
    #[error("the Metalink is larger than {0} bytes")]
    TooLarge(u64),
    #[error("the Metalink is not valid XML: {0}")]
    Xml(String),
    #[error("the Metalink is not a Metalink 4 document")]
    NotMetalink,
    #[error("the Metalink describes no file named {0:?}")]
    NoSuchFile(String),
    #[error("the Metalink has a malformed hash: {0:?}")]
    BadHash(String),
    #[error("the Metalink says the file has {claimed} bytes, the origin {actual}")]
    SizeMismatch { claimed: u64, actual: u64 },
}

/// The Metalink that a response's `Link` header values point at (rel=describedby,
/// Metalink 4 type), resolved against the response's URL.
pub fn describedby<'a>(values: impl IntoIterator<Item = &'a str>, base: &Url) -> Option<Url> {
    links_with_rel(values, "describedby")
        .find(|l| {
            l.params
                .iter()
                .any(|(k, v)| k == "type" && v.eq_ignore_ascii_case(MEDIA_TYPE))
        })
        .and_then(|l| base.join(&l.target).ok())
}

/// The `Link` header entries whose `rel` includes `rel` (case-insensitive).
fn links_with_rel<'a>(
    values: impl IntoIterator<Item = &'a str>,
    rel: &'a str,
) -> impl Iterator<Item = Link> {
    values
        .into_iter()
        .flat_map(parse_link_header)
        .filter(move |l| {
            l.params.iter().any(|(k, v)| {
                k == "rel"
                    && v.split_ascii_whitespace()
                        .any(|r| r.eq_ignore_ascii_case(rel))
            })
        })
}

#[derive(Debug, PartialEq, Eq)]
struct Link {
    target: String,
    /// Parameter names lower-cased, values unquoted.
    params: Vec<(String, String)>,
}

/// RFC 8288 `Link` values: `<uri>; name=value; name="quoted, value", <uri2>; ...`.
/// Malformed entries are skipped, never an error: the header is optional.
fn parse_link_header(value: &str) -> Vec<Link> {
    let mut out = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        let Some(after) = rest.strip_prefix('<') else {
            return out;
        };
        let Some(end) = after.find('>') else {
            return out;
        };
        let target = after[..end].to_string();
        rest = &after[end + 1..];
        let mut params = Vec::new();
        loop {
            rest = rest.trim_start_matches([' ', '\t']);
            let Some(p) = rest.strip_prefix(';') else {
                break;
            };
            let p = p.trim_start_matches([' ', '\t']);
            let name_end = p.find(['=', ';', ',']).unwrap_or(p.len());
            let name = p[..name_end].trim().to_ascii_lowercase();
            rest = &p[name_end..];
            let mut val = String::new();
            if let Some(v) = rest.strip_prefix('=') {
                let v = v.trim_start_matches([' ', '\t']);
                if let Some(q) = v.strip_prefix('"') {
                    // A quoted string, with backslash escapes.
                    let mut chars = q.char_indices();
                    let mut consumed = q.len();
                    while let Some((i, c)) = chars.next() {
                        match c {
                            '\\' => {
                                if let Some((_, e)) = chars.next() {
                                    val.push(e);
                                }
                            }
                            '"' => {
                                consumed = i + 1;
                                break;
                            }
                            c => val.push(c),
                        }
                    }
                    rest = &q[consumed.min(q.len())..];
                } else {
                    let end = v.find([';', ',']).unwrap_or(v.len());
                    val = v[..end].trim().to_string();
                    rest = &v[end..];
                }
            }
            params.push((name, val));
        }
        out.push(Link { target, params });
    }
}

/// The size bound for the Metalink of content of `size` bytes.
pub fn max_bytes(size: u64) -> u64 {
    (BASE_BYTES + size.div_ceil(BLOCK_SIZE as u64) * BYTES_PER_PIECE).min(MAX_BYTES)
}

/// Whether `a` and `b` share scheme, host and port.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

const NS: &str = "urn:ietf:params:xml:ns:metalink";

/// Reads a Metalink 4 document: the `<file>` named `file_name` (or the only one),
/// its `sha-256` hash and, where listed at 16 KiB, its piece hashes.
pub fn parse(xml: &str, file_name: &str, size: u64) -> Result<Metalink, MetalinkError> {
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(xml, opts)
        .map_err(|e| MetalinkError::Xml(e.to_string()))?;
    let root = doc.root_element();
    if !root.has_tag_name((NS, "metalink")) {
        return Err(MetalinkError::NotMetalink);
    }
    let files: Vec<roxmltree::Node> = root
        .children()
        .filter(|n| n.has_tag_name((NS, "file")))
        .collect();
    let file = match files.as_slice() {
        [only] => *only,
        many => *many
            .iter()
            .find(|f| f.attribute("name") == Some(file_name))
            .ok_or_else(|| MetalinkError::NoSuchFile(file_name.to_string()))?,
    };
    let child = |name: &'static str| file.children().filter(move |n| n.has_tag_name((NS, name)));
    if let Some(claimed) = child("size").next().and_then(|n| n.text()) {
        let claimed: u64 = claimed
            .trim()
            .parse()
            .map_err(|_| MetalinkError::BadHash(claimed.to_string()))?;
        if claimed != size {
            return Err(MetalinkError::SizeMismatch {
                claimed,
                actual: size,
            });
        }
    }
    let is_sha256 = |n: &roxmltree::Node| {
        n.attribute("type")
            .is_some_and(|t| t.eq_ignore_ascii_case("sha-256"))
    };
    let sha256 = child("hash")
        .find(is_sha256)
        .map(|n| hash_of(n.text().unwrap_or_default()))
        .transpose()?;
    let leaves =
        match child("pieces").find(|n| is_sha256(n) && n.attribute("length") == Some("16384")) {
            Some(pieces) => {
                let hashes = pieces
                    .children()
                    .filter(|n| n.has_tag_name((NS, "hash")))
                    .map(|n| hash_of(n.text().unwrap_or_default()))
                    .collect::<Result<Vec<_>, _>>()?;
                let expected = size.div_ceil(BLOCK_SIZE as u64);
                // A layer of the wrong length belongs to other content: not used.
                (hashes.len() as u64 == expected).then_some(hashes)
            }
            None => None,
        };
    let mirrors = child("url")
        .filter_map(|n| {
            let url = Url::parse(n.text()?.trim()).ok()?;
            let pri = n
                .attribute("priority")
                .and_then(|p| p.trim().parse().ok())
                .unwrap_or(DEFAULT_PRIORITY);
            Some((url, pri))
        })
        .take(MAX_LISTED)
        .collect();
    Ok(Metalink {
        sha256,
        leaves,
        mirrors,
    })
}

/// RFC 6249's default `pri` (and the one used where a `<url>` has no priority).
const DEFAULT_PRIORITY: u32 = 999_999;
/// Mirror entries read from one header or document; the rest are ignored.
pub const MAX_LISTED: usize = 64;

/// `Link: <…>; rel=duplicate; pri=N` (RFC 6249 §3.2) among a response's `Link`
/// header values: where else the same bytes are, resolved against the response's
/// URL, with their priority.
pub fn duplicates<'a>(values: impl IntoIterator<Item = &'a str>, base: &Url) -> Vec<(Url, u32)> {
    links_with_rel(values, "duplicate")
        .take(MAX_LISTED)
        .filter_map(|l| {
            let url = base.join(&l.target).ok()?;
            let pri = l
                .params
                .iter()
                .find(|(k, _)| k == "pri")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(DEFAULT_PRIORITY);
            Some((url, pri))
        })
        .collect()
}

fn hash_of(text: &str) -> Result<Hash32, MetalinkError> {
    Hash32::from_hex(text.trim()).map_err(|_| MetalinkError::BadHash(text.trim().to_string()))
}

/// Mirrors used at once, besides the origin.
pub const MAX_MIRRORS: usize = 4;

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
        // (by name and redirect too: the driver's part).
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
        format!(r#"<?xml version="1.0" encoding="UTF-8"?><metalink xmlns="{NS}">{body}</metalink>"#)
    }

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn link_values_name_the_metalink_and_the_mirrors() {
        let base = Url::parse("https://dl.example/files/x.iso").unwrap();
        let values = [
            r#"<https://mirror.example/x.iso>; rel=duplicate; pri=1"#,
            r#"<x.iso.meta4>; rel="describedby"; type="application/metalink4+xml""#,
        ];
        assert_eq!(
            describedby(values, &base).unwrap().as_str(),
            "https://dl.example/files/x.iso.meta4"
        );
        assert_eq!(
            duplicates(values, &base),
            vec![(Url::parse("https://mirror.example/x.iso").unwrap(), 1)]
        );
        let torrent = [r#"<x.torrent>; rel=describedby; type="application/x-bittorrent""#];
        assert_eq!(describedby(torrent, &base), None);
    }

    #[test]
    fn link_header_parsing_survives_nonsense() {
        for v in [
            "",
            "<",
            "<a",
            "<a>;",
            "<a>; =",
            r#"<a>; rel="unterminated"#,
            ";;;,,,<",
        ] {
            let _ = parse_link_header(v);
        }
        let l = parse_link_header(r#"<a>; rel="x, y"; title="q\"uote", <b>;rel=z"#);
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].params[0], ("rel".into(), "x, y".into()));
        assert_eq!(l[0].params[1], ("title".into(), "q\"uote".into()));
        assert_eq!(l[1].target, "b");
    }

    #[test]
    fn pieces_of_16_kib_are_the_leaf_layer() {
        let xml = doc(&format!(
            r#"<file name="x.iso"><size>20000</size><hash type="sha-256">{A}</hash>
            <pieces length="16384" type="sha-256"><hash>{A}</hash><hash>{B}</hash></pieces></file>"#
        ));
        let m = parse(&xml, "x.iso", 20000).unwrap();
        assert_eq!(m.sha256, Some(Hash32::from_hex(A).unwrap()));
        assert_eq!(m.leaves.unwrap().len(), 2);
    }

    #[test]
    fn other_piece_sizes_and_wrong_counts_give_no_leaves() {
        let big = doc(&format!(
            r#"<file name="x"><pieces length="262144" type="sha-256"><hash>{A}</hash></pieces></file>"#
        ));
        assert_eq!(parse(&big, "x", 20000).unwrap().leaves, None);
        let short = doc(&format!(
            r#"<file name="x"><pieces length="16384" type="sha-256"><hash>{A}</hash></pieces></file>"#
        ));
        assert_eq!(parse(&short, "x", 20000).unwrap().leaves, None);
    }

    #[test]
    fn the_named_file_is_chosen_among_several() {
        let xml = doc(&format!(
            r#"<file name="a"><hash type="sha-256">{A}</hash></file>
               <file name="b"><hash type="sha-256">{B}</hash></file>"#
        ));
        assert_eq!(
            parse(&xml, "b", 1).unwrap().sha256,
            Some(Hash32::from_hex(B).unwrap())
        );
        assert_eq!(
            parse(&xml, "c", 1),
            Err(MetalinkError::NoSuchFile("c".into()))
        );
    }

    #[test]
    fn bad_documents_are_typed_errors() {
        assert!(matches!(parse("<x", "f", 1), Err(MetalinkError::Xml(_))));
        assert_eq!(
            parse("<metalink/>", "f", 1),
            Err(MetalinkError::NotMetalink)
        );
        let bad_hash = doc(r#"<file name="f"><hash type="sha-256">zz</hash></file>"#);
        assert!(matches!(
            parse(&bad_hash, "f", 1),
            Err(MetalinkError::BadHash(_))
        ));
        let size = doc(r#"<file name="f"><size>5</size></file>"#);
        assert_eq!(
            parse(&size, "f", 6),
            Err(MetalinkError::SizeMismatch {
                claimed: 5,
                actual: 6
            })
        );
        // No entity expansion (billion laughs): a DTD is refused outright.
        let dtd = r#"<!DOCTYPE m [<!ENTITY a "aaaa">]><metalink xmlns="urn:ietf:params:xml:ns:metalink"/>"#;
        assert!(matches!(parse(dtd, "f", 1), Err(MetalinkError::Xml(_))));
    }

    #[test]
    fn the_size_bound_grows_with_the_content() {
        assert_eq!(max_bytes(0), BASE_BYTES);
        assert!(max_bytes(1 << 30) > 65536 * 100);
        assert_eq!(max_bytes(u64::MAX), MAX_BYTES);
    }

    #[test]
    fn duplicate_links_and_metalink_urls_name_mirrors_best_first() {
        let base = Url::parse("https://dl.example/files/x.iso").unwrap();
        let h: Vec<&str> = vec![
            r#"<https://m2.example/x.iso>; rel=duplicate; pri=2, <http://plain.example/x.iso>; rel=duplicate; pri=1"#,
            r#"</mirror/x.iso>; rel="duplicate""#,
            r#"<https://m1.example/x.iso>; rel=duplicate; pri=1"#,
            r#"<x.iso.meta4>; rel=describedby; type="application/metalink4+xml""#,
            r#"<https://user:pw@m3.example/x.iso>; rel=duplicate"#,
            r#"<https://dl.example/files/x.iso>; rel=duplicate"#,
        ];
        let listed = duplicates(h.iter().copied(), &base);
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
        let h: Vec<&str> = vec![
            r#"<https://mirror.example/x.iso>; rel=duplicate; pri=1"#,
            r#"<x.iso.meta4>; rel="describedby"; type="application/metalink4+xml""#,
        ];
        assert_eq!(
            describedby(h.iter().copied(), &base).unwrap().as_str(),
            "https://dl.example/files/x.iso.meta4"
        );
        let other: Vec<&str> =
            vec![r#"<x.torrent>; rel=describedby; type="application/x-bittorrent""#];
        assert_eq!(describedby(other.iter().copied(), &base), None);
    }
}

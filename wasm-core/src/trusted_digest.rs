//! Where a trusted whole-file SHA-256 comes from: HTTP headers of the origin and the URL
//! a user or page gave us. Every malformed value is a typed error; a value that names
//! no SHA-256 is `Ok(None)`.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use sfv::{BareItem, Dictionary, ListEntry, Parser};

use crate::content::{Hash32, HexError};

/// Where a download's trusted SHA-256 came from, as the popup and `get --json` say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DigestSource {
    /// `Repr-Digest`, `Unencoded-Digest`, `Content-Digest` (on a 200) or `Digest`
    /// from the origin.
    Header,
    /// The origin's Metalink (RFC 6249 `Link: rel=describedby`).
    Metalink,
    /// A checksum list beside the file on the same origin (`SHA256SUMS`, …).
    ChecksumFile,
    /// A mapping published by a member of the same trusted group.
    Group,
    /// Given by the user or page: `--sha256`, or a `#sha256=` URL fragment.
    Explicit,
}

/// Longest header value we parse; real digests are under 200 bytes.
const MAX_HEADER_LEN: usize = 8 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("header value is {0} bytes, more than the {MAX_HEADER_LEN} accepted")]
    TooLong(usize),
    #[error("not a structured-field dictionary: {0}")]
    Syntax(String),
    #[error("the sha-256 member is not a byte sequence")]
    NotByteSequence,
    #[error("a SHA-256 digest is 32 bytes, this one is {0}")]
    WrongLength(usize),
    #[error("the SHA-256 value is not valid base64")]
    Base64,
    #[error("malformed digest entry {0:?}")]
    Entry(String),
    #[error("the header names two different SHA-256 digests")]
    Conflicting,
    #[error("Repr-Digest and Unencoded-Digest name different SHA-256 digests of the same bytes")]
    Disagree,
    #[error("the sha256 URL fragment is not a digest: {0}")]
    Hex(#[from] HexError),
}

/// Parses an RFC 9530 `Repr-Digest` or `Content-Digest` value, e.g.
/// `sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:, sha-512=:...:`.
/// Other algorithms are ignored. `Content-Digest` only describes the representation
/// when the response is a full 200; callers check that.
pub fn parse_repr_digest(value: &str) -> Result<Option<Hash32>, DigestError> {
    if value.len() > MAX_HEADER_LEN {
        return Err(DigestError::TooLong(value.len()));
    }
    let dict: Dictionary = Parser::new(value)
        .parse()
        .map_err(|e| DigestError::Syntax(e.to_string()))?;
    for (key, entry) in &dict {
        if key.as_str() != "sha-256" {
            continue;
        }
        return match entry {
            ListEntry::Item(item) => match &item.bare_item {
                BareItem::ByteSequence(bytes) => to_hash(bytes).map(Some),
                _ => Err(DigestError::NotByteSequence),
            },
            ListEntry::InnerList(_) => Err(DigestError::NotByteSequence),
        };
    }
    Ok(None)
}

/// Parses a legacy RFC 3230 `Digest` value, e.g. `SHA-256=X48E9q...=, MD5=...`.
/// Algorithm names are case-insensitive; the value is base64 (padding optional).
pub fn parse_legacy_digest(value: &str) -> Result<Option<Hash32>, DigestError> {
    if value.len() > MAX_HEADER_LEN {
        return Err(DigestError::TooLong(value.len()));
    }
    let mut found: Option<Hash32> = None;
    for entry in value.split(',') {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let Some((algorithm, encoded)) = entry.split_once('=') else {
            return Err(DigestError::Entry(entry.to_string()));
        };
        if !algorithm.trim().eq_ignore_ascii_case("sha-256") {
            continue;
        }
        let encoded = encoded.trim().trim_matches('"');
        let bytes = STANDARD
            .decode(encoded)
            .or_else(|_| STANDARD_NO_PAD.decode(encoded))
            .map_err(|_| DigestError::Base64)?;
        let hash = to_hash(&bytes)?;
        match found {
            Some(previous) if previous != hash => return Err(DigestError::Conflicting),
            _ => found = Some(hash),
        }
    }
    Ok(found)
}

/// The digest headers of one response, as received (`None`: absent).
#[derive(Debug, Clone, Copy, Default)]
pub struct DigestHeaders<'a> {
    /// RFC 9530 `Repr-Digest`: the selected representation, content coding included.
    pub repr: Option<&'a str>,
    /// `Unencoded-Digest` (whatwg/fetch#1867): the representation before any content
    /// coding, i.e. the bytes a download saves.
    pub unencoded: Option<&'a str>,
    /// RFC 9530 `Content-Digest`: this response's body. Pass it only for a full 200,
    /// whose body is the whole representation.
    pub content: Option<&'a str>,
    /// RFC 3230 `Digest` (legacy): the instance, content coding included.
    pub legacy: Option<&'a str>,
    /// `Content-Encoding`.
    pub content_encoding: Option<&'a str>,
}

/// The SHA-256 of the bytes a download saves, as the origin's headers name it; the
/// one rule both the host and the browser apply. Every header here is the origin's
/// own, trusted alike (`DigestSource::Header`). A content-coded response (gzip, say)
/// is described by `Unencoded-Digest` only: the others are digests of the coded
/// bytes. Otherwise `Repr-Digest` and `Unencoded-Digest` describe the same bytes and
/// must agree; then `Content-Digest`, then `Digest`.
pub fn digest_from_headers(h: DigestHeaders) -> Result<Option<Hash32>, DigestError> {
    let unencoded = h.unencoded.map(parse_repr_digest).transpose()?.flatten();
    let coded = h.content_encoding.is_some_and(|v| {
        v.split(',')
            .map(str::trim)
            .any(|c| !c.is_empty() && !c.eq_ignore_ascii_case("identity"))
    });
    if coded {
        return Ok(unencoded);
    }
    let repr = h.repr.map(parse_repr_digest).transpose()?.flatten();
    match (repr, unencoded) {
        (Some(a), Some(b)) if a != b => return Err(DigestError::Disagree),
        (Some(d), _) | (None, Some(d)) => return Ok(Some(d)),
        (None, None) => {}
    }
    if let Some(d) = h.content.map(parse_repr_digest).transpose()?.flatten() {
        return Ok(Some(d));
    }
    h.legacy
        .map(parse_legacy_digest)
        .transpose()
        .map(Option::flatten)
}

/// Reads `sha256=<64 hex digits>` from a URL's fragment, which may hold other
/// `&`-separated parameters: `https://host/f.iso#sha256=ab12...`.
pub fn parse_url_fragment(url: &str) -> Result<Option<Hash32>, DigestError> {
    let Some((_, fragment)) = url.split_once('#') else {
        return Ok(None);
    };
    for param in fragment.split('&') {
        if let Some((key, value)) = param.split_once('=')
            && key.eq_ignore_ascii_case("sha256")
        {
            return Ok(Some(Hash32::from_hex(value)?));
        }
    }
    Ok(None)
}

fn to_hash(bytes: &[u8]) -> Result<Hash32, DigestError> {
    let array: [u8; 32] = bytes
        .try_into()
        .map_err(|_| DigestError::WrongLength(bytes.len()))?;
    Ok(Hash32(array))
}

#[cfg(test)]
mod tests {
    use super::*;

    // SHA-256 of "hello world\n", checked with `openssl dgst -sha256`.
    const HELLO_B64: &str = "qUiQTy8PR5uPgZdpSzAYSw0u0cHNKh7A+4XSmaGSpEc=";
    const HELLO_HEX: &str = "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447";
    const HELLO_LEGACY: &str = "SHA-256=qUiQTy8PR5uPgZdpSzAYSw0u0cHNKh7A+4XSmaGSpEc=";

    fn hello() -> Hash32 {
        Hash32::from_hex(HELLO_HEX).unwrap()
    }

    #[test]
    fn repr_digest_takes_sha256_and_ignores_others() {
        let v = format!("sha-512=:AAAA:, sha-256=:{HELLO_B64}:, unixsum=30");
        assert_eq!(parse_repr_digest(&v), Ok(Some(hello())));
        assert_eq!(parse_repr_digest("sha-512=:AAAA:"), Ok(None));
        assert_eq!(parse_repr_digest(""), Ok(None));
    }

    #[test]
    fn repr_digest_errors_are_typed() {
        assert!(matches!(
            parse_repr_digest("sha-256=:AAAA:"),
            Err(DigestError::WrongLength(3))
        ));
        assert_eq!(
            parse_repr_digest("sha-256=abc"),
            Err(DigestError::NotByteSequence)
        );
        assert_eq!(
            parse_repr_digest("sha-256=(:AAAA:)"),
            Err(DigestError::NotByteSequence)
        );
        assert!(matches!(
            parse_repr_digest("sha-256=:not base64!:"),
            Err(DigestError::Syntax(_))
        ));
        assert!(matches!(
            parse_repr_digest("SHA-256=:AAAA:"),
            Err(DigestError::Syntax(_))
        ));
        assert!(matches!(
            parse_repr_digest(&"a".repeat(9000)),
            Err(DigestError::TooLong(_))
        ));
    }

    #[test]
    fn legacy_digest() {
        assert_eq!(
            parse_legacy_digest(&format!("SHA-256={HELLO_B64}")),
            Ok(Some(hello()))
        );
        assert_eq!(
            parse_legacy_digest(&format!(
                "md5=HUXZLQLMuI/KZ5KDcJPcOA==, sha-256={HELLO_B64}"
            )),
            Ok(Some(hello()))
        );
        let unpadded = HELLO_B64.trim_end_matches('=');
        assert_eq!(
            parse_legacy_digest(&format!("Sha-256={unpadded}")),
            Ok(Some(hello()))
        );
        assert_eq!(
            parse_legacy_digest("MD5=HUXZLQLMuI/KZ5KDcJPcOA=="),
            Ok(None)
        );
        assert_eq!(
            parse_legacy_digest("SHA-256"),
            Err(DigestError::Entry("SHA-256".into()))
        );
        assert_eq!(parse_legacy_digest("SHA-256=@@@"), Err(DigestError::Base64));
        assert_eq!(
            parse_legacy_digest("SHA-256=AAAA"),
            Err(DigestError::WrongLength(3))
        );
        let other = Hash32([1; 32]).to_base64();
        assert_eq!(
            parse_legacy_digest(&format!("SHA-256={HELLO_B64},SHA-256={other}")),
            Err(DigestError::Conflicting)
        );
    }

    #[test]
    fn url_fragment() {
        let url = format!("https://example.com/a.iso#sha256={HELLO_HEX}");
        assert_eq!(parse_url_fragment(&url), Ok(Some(hello())));
        let url = format!(
            "https://example.com/a.iso#x=1&SHA256={}",
            HELLO_HEX.to_uppercase()
        );
        assert_eq!(parse_url_fragment(&url), Ok(Some(hello())));
        assert_eq!(parse_url_fragment("https://example.com/a.iso"), Ok(None));
        assert_eq!(
            parse_url_fragment("https://example.com/a.iso#top"),
            Ok(None)
        );
        assert!(matches!(
            parse_url_fragment("https://e.com/#sha256=abcd"),
            Err(DigestError::Hex(HexError::Length { .. }))
        ));
    }

    fn b64(h: &Hash32) -> String {
        format!("sha-256=:{}:", STANDARD.encode(h.0))
    }

    #[test]
    fn unencoded_digest_names_the_saved_bytes_alone_and_is_trusted_as_repr_digest() {
        let hello = hello();
        let other = Hash32([7; 32]);
        let with = |h: DigestHeaders| digest_from_headers(h);
        // Alone, it is the digest.
        let only = DigestHeaders {
            unencoded: Some(&b64(&hello)),
            ..Default::default()
        };
        assert_eq!(with(only), Ok(Some(hello)));
        // Without content coding Repr-Digest names the same bytes: agreeing is fine,
        // disagreeing is an error, not a choice.
        let (h, o) = (b64(&hello), b64(&other));
        let agree = DigestHeaders {
            repr: Some(&h),
            unencoded: Some(&h),
            ..Default::default()
        };
        assert_eq!(with(agree), Ok(Some(hello)));
        let disagree = DigestHeaders {
            repr: Some(&o),
            unencoded: Some(&h),
            ..Default::default()
        };
        assert_eq!(with(disagree), Err(DigestError::Disagree));
        // Content-coded: Repr-Digest, Content-Digest and Digest describe the coded
        // bytes, so only Unencoded-Digest names what is saved...
        let coded = DigestHeaders {
            repr: Some(&o),
            unencoded: Some(&h),
            content: Some(&o),
            legacy: Some("SHA-256=BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="),
            content_encoding: Some("gzip"),
        };
        assert_eq!(with(coded), Ok(Some(hello)));
        // ... and without it nothing does (the control: the same Repr-Digest is
        // trusted when the response is not coded).
        let coded_repr_only = DigestHeaders {
            repr: Some(&o),
            content_encoding: Some("gzip"),
            ..Default::default()
        };
        assert_eq!(with(coded_repr_only), Ok(None));
        let identity = DigestHeaders {
            repr: Some(&o),
            content_encoding: Some("identity"),
            ..Default::default()
        };
        assert_eq!(with(identity), Ok(Some(other)));
        // A malformed Unencoded-Digest is a typed error, as a malformed Repr-Digest is.
        let bad = DigestHeaders {
            unencoded: Some("sha-256=:AAAA:"),
            ..Default::default()
        };
        assert_eq!(with(bad), Err(DigestError::WrongLength(3)));
    }

    #[test]
    fn the_header_order_is_repr_then_unencoded_then_content_then_legacy() {
        let hello = hello();
        let h = b64(&hello);
        let content_only = DigestHeaders {
            content: Some(&h),
            legacy: Some("SHA-256=BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="),
            ..Default::default()
        };
        assert_eq!(digest_from_headers(content_only), Ok(Some(hello)));
        let legacy_only = DigestHeaders {
            legacy: Some(HELLO_LEGACY),
            ..Default::default()
        };
        assert_eq!(digest_from_headers(legacy_only), Ok(Some(hello)));
        assert_eq!(digest_from_headers(DigestHeaders::default()), Ok(None));
    }
}

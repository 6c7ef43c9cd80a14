//! Digest header and URL parsers on arbitrary text: typed errors, never a panic,
//! and a parsed digest survives a round trip through its header form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use swarmload_core::trusted_digest::{
    DigestHeaders, digest_from_headers, parse_legacy_digest, parse_repr_digest, parse_url_fragment,
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(Some(h)) = parse_repr_digest(&text) {
        assert_eq!(parse_repr_digest(&h.repr_digest_header()), Ok(Some(h)));
    }
    if let Ok(Some(h)) = parse_legacy_digest(&text) {
        assert_eq!(
            parse_legacy_digest(&format!("SHA-256={}", h.to_base64())),
            Ok(Some(h))
        );
    }
    let _ = parse_url_fragment(&text);
    // The header rule over five fields cut from the input at '\n' (absent when
    // empty): an error or a digest, never a panic.
    let mut fields = text.split('\n').map(|f| (!f.is_empty()).then_some(f));
    let mut next = || fields.next().flatten();
    let _ = digest_from_headers(DigestHeaders {
        repr: next(),
        unencoded: next(),
        content: next(),
        legacy: next(),
        content_encoding: next(),
    });
});

//! Metalink 4 documents and `Link` header values on arbitrary text: typed errors,
//! never a panic; a leaf layer read always fits the size it was read for, and the
//! mirrors listed stay few.
#![no_main]

use libfuzzer_sys::fuzz_target;
use swarmload_core::metalink::{MAX_LISTED, describedby, duplicates, parse};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The first byte picks a size, so leaf layers of several lengths are tried.
    let size = u64::from(data.first().copied().unwrap_or(0)) * 5000;
    if let Ok(m) = parse(&text, "x.iso", size) {
        if let Some(leaves) = &m.leaves {
            assert_eq!(leaves.len() as u64, size.div_ceil(16384));
        }
        assert!(m.mirrors.len() <= MAX_LISTED);
    }
    let base = url::Url::parse("https://dl.example/files/x.iso").expect("a valid base");
    let _ = describedby([text.as_ref()], &base);
    assert!(duplicates([text.as_ref()], &base).len() <= MAX_LISTED);
});

//! The core's digests against independent reference implementations.

mod vectors;

use swarmload_core::content::ContentHasher;

#[test]
fn digests_match_hashlib_and_libtorrent() {
    for v in vectors::vectors() {
        let data = vectors::content(v.size);
        let mut h = ContentHasher::new();
        for chunk in data.chunks(10_000) {
            h.update(chunk);
        }
        let d = h.finish();
        assert_eq!(d.sha256.to_hex(), v.sha256, "size {}", v.size);
        assert_eq!(d.sha256.repr_digest_header(), v.repr_digest);
        assert_eq!(d.root.to_hex(), v.root, "size {}", v.size);
        assert_eq!(d.info_hash().to_hex(), v.info_hash);
    }
}

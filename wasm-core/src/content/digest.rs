//! Fixed-size digests and their text forms.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// A SHA-256 output: a whole-file digest, a Merkle leaf, node or root.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash32(pub [u8; 32]);

/// The 20-byte swarm key used on trackers: the first 20 bytes of a SHA-256.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct InfoHash(pub [u8; 20]);

/// A hex string that is not a digest of the expected length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    #[error("expected {expected} hex digits, found {found}")]
    Length { expected: usize, found: usize },
    #[error("not a hex digit in {0:?}")]
    Digit(String),
}

impl Hash32 {
    pub const ZERO: Hash32 = Hash32([0; 32]);

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits, either case.
    pub fn from_hex(text: &str) -> Result<Self, HexError> {
        let mut out = [0u8; 32];
        decode_hex_exact(text, &mut out)?;
        Ok(Hash32(out))
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// The info hash that names this digest's swarm: its first 20 bytes.
    pub fn info_hash(&self) -> InfoHash {
        let mut out = [0u8; 20];
        out.copy_from_slice(&self.0[..20]);
        InfoHash(out)
    }

    /// The key peers meet under on trackers: the info hash, or inside a policy
    /// `group_id` the first 20 bytes of SHA-256(group_id ‖ sha256), so that
    /// different groups never meet even for the same content.
    pub fn swarm_key(&self, group_id: Option<&str>) -> InfoHash {
        match group_id {
            None => self.info_hash(),
            Some(g) => {
                use sha2::{Digest, Sha256};
                let mut h = Sha256::new();
                h.update(g.as_bytes());
                h.update(self.0);
                Hash32(h.finalize().into()).info_hash()
            }
        }
    }

    /// The `Repr-Digest` header value that announces this digest (RFC 9530).
    pub fn repr_digest_header(&self) -> String {
        format!("sha-256=:{}:", self.to_base64())
    }
}

impl InfoHash {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Result<Self, HexError> {
        let mut out = [0u8; 20];
        decode_hex_exact(text, &mut out)?;
        Ok(InfoHash(out))
    }
}

fn decode_hex_exact(text: &str, out: &mut [u8]) -> Result<(), HexError> {
    if text.len() != out.len() * 2 {
        return Err(HexError::Length {
            expected: out.len() * 2,
            found: text.len(),
        });
    }
    hex::decode_to_slice(text, out).map_err(|_| HexError::Digit(text.to_string()))
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash32({})", self.to_hex())
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHash({})", self.to_hex())
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swarm_keys_separate_groups() {
        let h = Hash32([7; 32]);
        assert_eq!(h.swarm_key(None), h.info_hash());
        let a = h.swarm_key(Some("corp-a"));
        assert_ne!(a, h.info_hash());
        assert_ne!(a, h.swarm_key(Some("corp-b")));
        assert_eq!(a, h.swarm_key(Some("corp-a")));
        use sha2::{Digest, Sha256};
        let mut input = b"corp-a".to_vec();
        input.extend_from_slice(&[7; 32]);
        assert_eq!(a.0[..], Sha256::digest(&input)[..20]);
    }

    #[test]
    fn hex_round_trip_and_errors() {
        let h = Hash32([0xab; 32]);
        assert_eq!(Hash32::from_hex(&h.to_hex()), Ok(h));
        assert_eq!(Hash32::from_hex(&h.to_hex().to_uppercase()), Ok(h));
        assert!(matches!(
            Hash32::from_hex("abc"),
            Err(HexError::Length { .. })
        ));
        assert!(matches!(
            Hash32::from_hex(&"zz".repeat(32)),
            Err(HexError::Digit(_))
        ));
        assert_eq!(h.info_hash().0, [0xab; 20]);
    }

    #[test]
    fn repr_digest_header_of_empty_input() {
        // SHA-256("") from RFC 9530 appendix examples' style, checked with openssl.
        let empty =
            Hash32::from_hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
                .unwrap();
        assert_eq!(
            empty.repr_digest_header(),
            "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
        );
    }
}

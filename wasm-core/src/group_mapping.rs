//! Trusted groups (`trust_mode = trusted_group`): a member that downloaded a file with
//! no published digest from its origin tells the rest of its group, through the
//! group's tracker, which SHA-256 that URL had. The tracker is not trusted with
//! anything: it stores opaque records and cannot tell a real one from a forgery.
//!
//! - **Subject.** A mapping is about one URL as the user asked for it, with the
//!   origin's validators (strong `ETag`, `Last-Modified`) and size. A new version on
//!   the origin changes a validator or the size, so it is a new subject.
//! - **Map id.** The tracker sees `HMAC(lookup key, subject)`, 20 bytes. Without the
//!   group secret nobody can tell which URL an id stands for, nor compute the id of a
//!   URL to look it up.
//! - **Record.** `{sha256, size, mac}`, where `mac = HMAC(mac key, map id ‖ sha256 ‖
//!   size)`. A member uses a record only when its MAC verifies under the group's key,
//!   so a record made without the secret, or copied from another subject or another
//!   group, is refused.
//! - The lookup and MAC keys are derived from the secret with distinct labels, so
//!   neither reveals the other.
//!
//! The whole-file check against the mapping still applies, and a member that uses a
//! mapping checks an origin block against the peers' tree early. A holder of the
//! secret is still trusted as the origin is: it could name other bytes and serve
//! them, and a download that peers completed before that check would take them.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::content::Hash32;

type HmacSha256 = Hmac<Sha256>;

/// The shortest group secret accepted: 128 bits of a random string, at the least.
pub const MIN_SECRET_BYTES: usize = 16;
pub const MAX_SECRET_BYTES: usize = 1024;

/// Bounds on what a subject may hold, so a hostile header cannot make it large.
const MAX_FIELD_BYTES: usize = 8 * 1024;

/// Keys derived from one group's secret.
#[derive(Clone)]
pub struct GroupKey {
    lookup: [u8; 32],
    mac: [u8; 32],
}

impl std::fmt::Debug for GroupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.write_str("GroupKey(..)")
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length.
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

impl GroupKey {
    pub fn from_secret(secret: &str) -> GroupKey {
        GroupKey {
            lookup: hmac(secret.as_bytes(), &[b"swarmload group mapping v1: lookup"]),
            mac: hmac(secret.as_bytes(), &[b"swarmload group mapping v1: mac"]),
        }
    }

    /// The id the tracker files `subject`'s records under.
    pub fn map_id(&self, subject: &Subject) -> MapId {
        let full = hmac(&self.lookup, &[&subject.encode()]);
        let mut id = [0u8; 20];
        id.copy_from_slice(&full[..20]);
        MapId(id)
    }

    /// A record other members will accept for `id`.
    pub fn seal(&self, id: &MapId, sha256: Hash32, size: u64) -> Record {
        Record {
            sha256,
            size,
            mac: hmac(&self.mac, &[&mac_input(id, &sha256, size)]),
        }
    }

    /// The SHA-256 a record names, if it was made with this group's secret for this
    /// id and the subject's size.
    pub fn open(&self, id: &MapId, subject: &Subject, r: &Record) -> Result<Hash32, MappingError> {
        let mut m = <HmacSha256 as KeyInit>::new_from_slice(&self.mac)
            .expect("HMAC accepts any key length");
        m.update(&mac_input(id, &r.sha256, r.size));
        // Constant-time comparison.
        m.verify_slice(&r.mac).map_err(|_| MappingError::Forged)?;
        if r.size != subject.size {
            return Err(MappingError::OtherSize);
        }
        Ok(r.sha256)
    }
}

fn mac_input(id: &MapId, sha256: &Hash32, size: u64) -> Vec<u8> {
    // Fixed-width fields: no two inputs encode alike.
    let mut out = b"record".to_vec();
    out.extend_from_slice(&id.0);
    out.extend_from_slice(&sha256.0);
    out.extend_from_slice(&size.to_be_bytes());
    out
}

/// What a mapping is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The URL the user asked for, without its fragment.
    pub url: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub size: u64,
}

impl Subject {
    /// A subject, or why a download cannot have one: without a strong validator the
    /// origin could serve other bytes under the same URL and size.
    pub fn new(
        url: &url::Url,
        etag: Option<&str>,
        last_modified: Option<&str>,
        size: u64,
    ) -> Result<Subject, NoSubject> {
        let mut url = url.clone();
        url.set_fragment(None);
        let etag = etag.filter(|e| !e.starts_with("W/") && !e.is_empty());
        let last_modified = last_modified.filter(|l| !l.is_empty());
        if etag.is_none() && last_modified.is_none() {
            return Err(NoSubject::NoValidator);
        }
        let url = url.to_string();
        if [Some(url.as_str()), etag, last_modified]
            .iter()
            .flatten()
            .any(|f| f.len() > MAX_FIELD_BYTES)
        {
            return Err(NoSubject::TooLong);
        }
        Ok(Subject {
            url,
            etag: etag.map(str::to_owned),
            last_modified: last_modified.map(str::to_owned),
            size,
        })
    }

    /// Length-prefixed fields, so no two subjects encode alike.
    fn encode(&self) -> Vec<u8> {
        let mut out = b"subject".to_vec();
        for f in [
            Some(self.url.as_str()),
            self.etag.as_deref(),
            self.last_modified.as_deref(),
        ] {
            match f {
                Some(s) => {
                    out.push(1);
                    out.extend_from_slice(&(s.len() as u64).to_be_bytes());
                    out.extend_from_slice(s.as_bytes());
                }
                None => out.push(0),
            }
        }
        out.extend_from_slice(&self.size.to_be_bytes());
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoSubject {
    #[error(
        "the origin sent no strong ETag and no Last-Modified, so a mapping could not tell versions apart"
    )]
    NoValidator,
    #[error("the URL or a validator is too long")]
    TooLong,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("the record was not made with the group's secret for this download")]
    Forged,
    #[error("the record names another size")]
    OtherSize,
}

/// The tracker's name for a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MapId(pub [u8; 20]);

impl MapId {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Option<MapId> {
        let mut out = [0u8; 20];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(MapId(out))
    }
}

/// One published mapping, as the tracker stores and returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub sha256: Hash32,
    pub size: u64,
    pub mac: [u8; 32],
}

impl Record {
    pub fn to_value(&self) -> Value {
        json!({"sha256": self.sha256.to_hex(), "size": self.size, "mac": hex::encode(self.mac)})
    }

    /// `None` unless `v` is exactly `{sha256: 64 hex, size: integer, mac: 64 hex}`.
    pub fn from_value(v: &Value) -> Option<Record> {
        let map = v.as_object()?;
        if map.len() != 3 {
            return None;
        }
        let sha256 = Hash32::from_hex(map.get("sha256")?.as_str()?).ok()?;
        let size = map.get("size")?.as_u64()?;
        let mut mac = [0u8; 32];
        hex::decode_to_slice(map.get("mac")?.as_str()?, &mut mac).ok()?;
        Some(Record { sha256, size, mac })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> Subject {
        let url = url::Url::parse("https://dl.example/app/setup.exe#frag").unwrap();
        Subject::new(&url, Some("\"abc\""), None, 1000).unwrap()
    }

    const H: Hash32 = Hash32([7; 32]);

    #[test]
    fn a_member_opens_what_another_member_sealed() {
        let (a, b) = (
            GroupKey::from_secret("correct horse battery"),
            GroupKey::from_secret("correct horse battery"),
        );
        let s = subject();
        let id = a.map_id(&s);
        assert_eq!(id, b.map_id(&s));
        let r = a.seal(&id, H, 1000);
        let r = Record::from_value(&r.to_value()).unwrap();
        assert_eq!(b.open(&id, &s, &r), Ok(H));
    }

    #[test]
    fn another_group_neither_finds_nor_opens_a_mapping() {
        let (a, c) = (
            GroupKey::from_secret("correct horse battery"),
            GroupKey::from_secret("another group's secret"),
        );
        let s = subject();
        let id = a.map_id(&s);
        assert_ne!(id, c.map_id(&s));
        let r = a.seal(&id, H, 1000);
        assert_eq!(c.open(&id, &s, &r), Err(MappingError::Forged));
        // A record sealed by another group under this group's id is refused too.
        let forged = c.seal(&id, Hash32([9; 32]), 1000);
        assert_eq!(a.open(&id, &s, &forged), Err(MappingError::Forged));
    }

    #[test]
    fn a_record_is_bound_to_its_subject_digest_and_size() {
        let a = GroupKey::from_secret("correct horse battery");
        let s = subject();
        let id = a.map_id(&s);
        let r = a.seal(&id, H, 1000);
        let mut other = s.clone();
        other.etag = Some("\"abd\"".into());
        let other_id = a.map_id(&other);
        assert_ne!(id, other_id);
        assert_eq!(a.open(&other_id, &other, &r), Err(MappingError::Forged));
        let mut changed = r.clone();
        changed.sha256 = Hash32([8; 32]);
        assert_eq!(a.open(&id, &s, &changed), Err(MappingError::Forged));
        let resized = a.seal(&id, H, 999);
        assert_eq!(a.open(&id, &s, &resized), Err(MappingError::OtherSize));
    }

    #[test]
    fn a_subject_needs_a_strong_validator_and_ignores_the_fragment() {
        let url = url::Url::parse("https://dl.example/a.iso").unwrap();
        assert_eq!(
            Subject::new(&url, None, None, 5),
            Err(NoSubject::NoValidator)
        );
        assert_eq!(
            Subject::new(&url, Some("W/\"x\""), None, 5),
            Err(NoSubject::NoValidator)
        );
        assert!(
            Subject::new(
                &url,
                Some("W/\"x\""),
                Some("Tue, 01 Dec 2026 00:00:00 GMT"),
                5
            )
            .is_ok()
        );
        assert_eq!(subject().url, "https://dl.example/app/setup.exe");
        // Field boundaries are part of the encoding.
        let k = GroupKey::from_secret("correct horse battery");
        let x = Subject::new(&url, Some("ab"), Some("c"), 5).unwrap();
        let y = Subject::new(&url, Some("a"), Some("bc"), 5).unwrap();
        assert_ne!(k.map_id(&x), k.map_id(&y));
    }

    #[test]
    fn malformed_records_are_refused() {
        for v in [
            json!(null),
            json!({"sha256": "00", "size": 1, "mac": "00"}),
            json!({"sha256": H.to_hex(), "size": -1, "mac": hex::encode([0u8; 32])}),
            json!({"sha256": H.to_hex(), "size": 1, "mac": hex::encode([0u8; 32]), "x": 1}),
        ] {
            assert_eq!(Record::from_value(&v), None, "{v}");
        }
    }
}

//! Everything the host sends the extension, as types: replies (carrying the
//! request's `id`) and events. Each serializes to one JSON object whose `type` names
//! it (docs/native-messaging.md); nothing is built from loose JSON literals.

use serde::Serialize;
use serde_json::Value;
use swarmload_core::trusted_digest::DigestSource;

use crate::download::Phase;

/// One frame's content.
#[derive(Debug, Serialize)]
pub struct Outgoing {
    /// The request's `id`, on a reply to one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    #[serde(flatten)]
    pub body: Body,
}

impl Outgoing {
    /// An event, or a reply to a request without an id.
    pub fn event(body: Body) -> Outgoing {
        Outgoing { id: None, body }
    }

    pub fn reply(id: Option<Value>, body: Body) -> Outgoing {
        Outgoing { id, body }
    }

    pub fn error(id: Option<Value>, code: &str, message: &str) -> Outgoing {
        Outgoing {
            id,
            body: Body::Error {
                code: code.to_string(),
                message: message.to_string(),
            },
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Body {
    Hello {
        version: &'static str,
        protocol: u32,
        /// The loopback delivery server's base URL.
        delivery: String,
        config_error: Option<String>,
    },
    Policy {
        ok: bool,
        /// The policy in force, all layers resolved.
        effective: Value,
    },
    Resolved(Resolved),
    Started(Started),
    Cancelled {
        download: String,
    },
    Status(Status),
    Progress(Progress),
    Finished(Finished),
    Failed(Failed),
    Error {
        code: String,
        message: String,
    },
}

/// What `resolve` learned: whether the host takes the download, and why not.
#[derive(Debug, Default, Serialize)]
pub struct Resolved {
    pub eligible: bool,
    pub reason: Option<&'static str>,
    pub p2p: bool,
    /// Absent when the download was ruled out before anything was fetched.
    #[serde(flatten)]
    pub probed: Option<Probed>,
}

/// What the probe and the digest look-up found.
#[derive(Debug, Serialize)]
pub struct Probed {
    pub digest_source: Option<DigestSource>,
    pub why_not_p2p: Option<String>,
    pub group_publish: bool,
    pub url: String,
    pub size: u64,
    pub sha256: Option<String>,
    pub filename: String,
    pub ranges: bool,
}

#[derive(Debug, Serialize)]
pub struct Started {
    pub download: String,
    pub delivery_url: String,
    pub size: u64,
    pub filename: String,
    pub sha256: Option<String>,
    pub p2p: bool,
    pub digest_source: Option<DigestSource>,
}

#[derive(Debug, Serialize)]
pub struct Progress {
    pub download: String,
    pub size: u64,
    pub have: u64,
    pub deliverable: u64,
    pub from_peers: u64,
    pub from_origin: u64,
    pub bytes_per_sec: f64,
    pub peers: u32,
    pub phase: Phase,
    pub digest_source: Option<DigestSource>,
}

#[derive(Debug, Serialize)]
pub struct Finished {
    pub download: String,
    pub sha256: String,
    pub size: u64,
    pub from_peers: u64,
    pub from_origin: u64,
    pub group_publish: bool,
}

#[derive(Debug, Serialize)]
pub struct Failed {
    pub download: String,
    pub error: String,
    pub cancelled: bool,
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub active: Vec<Active>,
    pub partial: usize,
    pub cached: usize,
    pub seeding: usize,
    pub cache_bytes: u64,
    pub cache_max_bytes: u64,
    pub items: Vec<CachedItem>,
}

#[derive(Debug, Serialize)]
pub struct Active {
    pub download: String,
    pub url: String,
    pub filename: String,
    pub size: u64,
    pub have: u64,
    pub phase: Phase,
}

#[derive(Debug, Serialize)]
pub struct CachedItem {
    pub sha256: String,
    pub size: u64,
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn frames_carry_their_type_and_the_id_only_on_replies() {
        let v = serde_json::to_value(Outgoing::reply(
            Some(json!(7)),
            Body::Cancelled {
                download: "d1".into(),
            },
        ))
        .unwrap();
        assert_eq!(v, json!({"id": 7, "type": "cancelled", "download": "d1"}));
        let v = serde_json::to_value(Outgoing::event(Body::Failed(Failed {
            download: "d2".into(),
            error: "no".into(),
            cancelled: true,
        })))
        .unwrap();
        assert_eq!(
            v,
            json!({"type": "failed", "download": "d2", "error": "no", "cancelled": true})
        );
        let v = serde_json::to_value(Outgoing::error(None, "bad_json", "not JSON")).unwrap();
        assert_eq!(
            v,
            json!({"type": "error", "code": "bad_json", "message": "not JSON"})
        );
    }

    #[test]
    fn a_resolve_left_to_the_browser_says_only_why() {
        let v = serde_json::to_value(Outgoing::event(Body::Resolved(Resolved {
            eligible: false,
            reason: Some("credentials"),
            ..Resolved::default()
        })))
        .unwrap();
        assert_eq!(
            v,
            json!({"type": "resolved", "eligible": false, "reason": "credentials", "p2p": false})
        );
    }
}

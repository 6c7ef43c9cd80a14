//! Engine events and actions as JavaScript sees them. Times are milliseconds (a JS
//! number, fractional allowed); byte offsets and ids are numbers (exact below 2^53).

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use swarmload_core::content::{Hash32, HexError};
use swarmload_core::engine::{
    Action, ContentMeta, DisconnectReason, EngineConfig, Event, OriginError, PeerId, Stats, Time,
};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JsEvent {
    PeerConnected {
        peer: u64,
    },
    PeerGone {
        peer: u64,
    },
    PeerMessage {
        peer: u64,
        data: ByteBuf,
    },
    OriginData {
        request: u64,
        offset: u64,
        data: ByteBuf,
    },
    OriginEnd {
        request: u64,
    },
    OriginError {
        request: u64,
        kind: OriginErrorKind,
        message: Option<String>,
    },
    BlockRead {
        block: u32,
        data: ByteBuf,
    },
    BlockReadFailed {
        block: u32,
    },
    ContentDigest {
        sha256: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OriginErrorKind {
    Retryable,
    Fatal,
    ContentChanged,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JsAction {
    Send {
        peer: u64,
        data: ByteBuf,
    },
    Disconnect {
        peer: u64,
        reason: String,
        ban: bool,
    },
    FetchOrigin {
        request: u64,
        start: u64,
        end: u64,
    },
    CancelOrigin {
        request: u64,
    },
    /// `leaf` (hex, when computed) is what a driver records to resume later.
    Write {
        block: u32,
        offset: u64,
        data: ByteBuf,
        leaf: Option<String>,
    },
    ReadBlock {
        block: u32,
        offset: u64,
        len: u32,
    },
    Deliverable {
        upto: u64,
    },
    DeliveryReset,
    VerifyContent,
    Completed,
    Failed {
        reason: String,
    },
}

/// Content description passed to `new WasmEngine(meta, config)`.
#[derive(Debug, Clone, Deserialize)]
pub struct JsMeta {
    pub sha256: String,
    pub size: u64,
    #[serde(default)]
    pub root: Option<String>,
}

/// Engine settings from JavaScript; absent fields keep their defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct JsConfig {
    pub origin_enabled: Option<bool>,
    pub origin_connections: Option<u32>,
    pub origin_fallback_delay_ms: Option<u64>,
    pub upload_enabled: Option<bool>,
    pub max_upload_bytes_per_sec: Option<u64>,
    pub max_download_bytes_per_sec: Option<u64>,
    pub rng_seed: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct JsStats {
    pub bytes_from_peers: u64,
    pub bytes_from_origin: u64,
    pub bytes_uploaded: u64,
    pub bytes_wasted: u64,
    pub blocks_have: u32,
    pub blocks_total: u32,
    pub peers_connected: u32,
    pub peers_banned: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DtoError {
    #[error("bad sha256 in event or metadata: {0}")]
    Hash(#[from] HexError),
}

pub fn time_from_ms(ms: f64) -> Time {
    if ms.is_finite() && ms > 0.0 {
        Time::from_micros((ms * 1000.0) as u64)
    } else {
        Time::ZERO
    }
}

pub fn time_to_ms(t: Time) -> f64 {
    t.as_micros() as f64 / 1000.0
}

impl JsEvent {
    pub fn into_event(self) -> Result<Event, DtoError> {
        Ok(match self {
            JsEvent::PeerConnected { peer } => Event::PeerConnected { peer: PeerId(peer) },
            JsEvent::PeerGone { peer } => Event::PeerGone { peer: PeerId(peer) },
            JsEvent::PeerMessage { peer, data } => Event::PeerMessage {
                peer: PeerId(peer),
                data: Bytes::from(data.into_vec()),
            },
            JsEvent::OriginData {
                request,
                offset,
                data,
            } => Event::OriginData {
                request,
                offset,
                data: Bytes::from(data.into_vec()),
            },
            JsEvent::OriginEnd { request } => Event::OriginEnd { request },
            JsEvent::OriginError {
                request,
                kind,
                message,
            } => {
                let message = message.unwrap_or_default();
                Event::OriginError {
                    request,
                    error: match kind {
                        OriginErrorKind::Retryable => OriginError::Retryable(message),
                        OriginErrorKind::Fatal => OriginError::Fatal(message),
                        OriginErrorKind::ContentChanged => OriginError::ContentChanged,
                    },
                }
            }
            JsEvent::BlockRead { block, data } => Event::BlockRead {
                block,
                data: Bytes::from(data.into_vec()),
            },
            JsEvent::BlockReadFailed { block } => Event::BlockReadFailed { block },
            JsEvent::ContentDigest { sha256 } => Event::ContentDigest {
                sha256: Hash32::from_hex(&sha256)?,
            },
        })
    }
}

impl From<Action> for JsAction {
    fn from(a: Action) -> Self {
        match a {
            Action::Send { peer, data } => JsAction::Send {
                peer: peer.0,
                data: ByteBuf::from(data.to_vec()),
            },
            Action::Disconnect { peer, reason } => JsAction::Disconnect {
                peer: peer.0,
                ban: matches!(reason, DisconnectReason::Banned(_)),
                reason: format!("{reason:?}"),
            },
            Action::FetchOrigin { request, range } => JsAction::FetchOrigin {
                request,
                start: range.start,
                end: range.end,
            },
            Action::CancelOrigin { request } => JsAction::CancelOrigin { request },
            Action::Write {
                block,
                offset,
                data,
                leaf,
            } => JsAction::Write {
                block,
                offset,
                data: ByteBuf::from(data.to_vec()),
                leaf: leaf.map(|l| l.to_hex()),
            },
            Action::ReadBlock { block, offset, len } => JsAction::ReadBlock { block, offset, len },
            Action::Deliverable { upto } => JsAction::Deliverable { upto },
            Action::DeliveryReset => JsAction::DeliveryReset,
            Action::VerifyContent => JsAction::VerifyContent,
            Action::Completed => JsAction::Completed,
            Action::Failed { reason } => JsAction::Failed {
                reason: reason.to_string(),
            },
        }
    }
}

impl JsMeta {
    pub fn into_meta(self) -> Result<ContentMeta, DtoError> {
        Ok(ContentMeta {
            sha256: Hash32::from_hex(&self.sha256)?,
            size: self.size,
            root: self.root.as_deref().map(Hash32::from_hex).transpose()?,
            leaves: None,
        })
    }
}

impl JsConfig {
    pub fn into_config(self) -> EngineConfig {
        let mut c = EngineConfig::default();
        if let Some(v) = self.origin_enabled {
            c.origin_enabled = v;
        }
        if let Some(v) = self.origin_connections {
            c.origin_connections = v.clamp(1, 16);
        }
        if let Some(v) = self.origin_fallback_delay_ms {
            c.origin_fallback_delay = std::time::Duration::from_millis(v);
        }
        if let Some(v) = self.upload_enabled {
            c.upload_enabled = v;
        }
        if let Some(v) = self.max_upload_bytes_per_sec {
            c.max_upload_rate = v;
        }
        if let Some(v) = self.max_download_bytes_per_sec {
            c.max_download_rate = v;
        }
        if let Some(v) = self.rng_seed {
            c.rng_seed = v;
        }
        c
    }
}

impl From<&Stats> for JsStats {
    fn from(s: &Stats) -> Self {
        JsStats {
            bytes_from_peers: s.bytes_from_peers,
            bytes_from_origin: s.bytes_from_origin,
            bytes_uploaded: s.bytes_uploaded,
            bytes_wasted: s.bytes_wasted,
            blocks_have: s.blocks_have,
            blocks_total: s.blocks_total,
            peers_connected: s.peers_connected,
            peers_banned: s.peers_banned,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse_from_json_shapes() {
        let e: JsEvent =
            serde_json::from_str(r#"{"type":"peer_message","peer":3,"data":[1,2]}"#).unwrap();
        assert_eq!(
            e.into_event().unwrap(),
            Event::PeerMessage {
                peer: PeerId(3),
                data: Bytes::from_static(&[1, 2])
            }
        );
        let e: JsEvent = serde_json::from_str(
            r#"{"type":"origin_error","request":1,"kind":"retryable","message":"reset"}"#,
        )
        .unwrap();
        assert!(matches!(
            e.into_event().unwrap(),
            Event::OriginError {
                error: OriginError::Retryable(_),
                ..
            }
        ));
        let bad: JsEvent =
            serde_json::from_str(r#"{"type":"content_digest","sha256":"zz"}"#).unwrap();
        assert!(bad.into_event().is_err());
        assert!(serde_json::from_str::<JsEvent>(r#"{"type":"explode"}"#).is_err());
    }

    #[test]
    fn actions_serialize_with_a_type_tag() {
        let a = JsAction::from(Action::FetchOrigin {
            request: 7,
            range: 0..16384,
        });
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"type":"fetch_origin","request":7,"start":0,"end":16384}"#
        );
        assert_eq!(time_to_ms(time_from_ms(1.5)), 1.5);
        assert_eq!(time_from_ms(f64::NAN), Time::ZERO);
    }
}

//! A trusted group's URL→SHA-256 mappings on its trackers (`trust_mode =
//! trusted_group`; the format and its trust rules are in `swarmload_core::group_mapping`
//! and docs/protocol.md). Each request is one short WebSocket exchange of its own, so
//! a tracker that does not know the actions (a plain WebTorrent tracker) costs one
//! refused or unanswered message and nothing else.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use swarmload_core::content::Hash32;
use swarmload_core::group_mapping::{GroupKey, MapId, Subject};
use swarmload_core::policy::Policy;
use swarmload_core::tracker_protocol::{self as protocol, MappingReply};
use tokio_tungstenite::tungstenite::Message;

use crate::origin::OriginInfo;

/// One exchange with one tracker, connection included.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(3);
/// Messages read while waiting for the answer (a tracker may send others first).
const MAX_MESSAGES: usize = 16;

#[derive(Clone, Debug)]
pub struct GroupMappings {
    trackers: Vec<String>,
    key: GroupKey,
}

/// What a look-up found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// The SHA-256 a record made with the group's secret names.
    pub sha256: Option<Hash32>,
    /// Records refused: not made with the group's secret for this download.
    pub refused: usize,
}

impl GroupMappings {
    /// The group's mappings, when the policy is in `trusted_group` mode with a secret
    /// and names trackers.
    pub fn from_policy(policy: &Policy) -> Option<GroupMappings> {
        if !policy.enabled {
            return None;
        }
        GroupMappings::new(policy.trackers.clone(), policy.group_key()?)
    }

    /// `None` without a tracker to publish to.
    pub fn new(trackers: Vec<String>, key: GroupKey) -> Option<GroupMappings> {
        (!trackers.is_empty()).then_some(GroupMappings { trackers, key })
    }

    /// The subject a download's mapping is filed under, or why it can have none.
    pub fn subject(info: &OriginInfo) -> Result<Subject, String> {
        swarmload_core::resolve::group_subject(info)
    }

    pub fn map_id(&self, subject: &Subject) -> MapId {
        self.key.map_id(subject)
    }

    /// Asks every tracker at once; the first record that verifies wins.
    pub async fn lookup(&self, subject: &Subject) -> Lookup {
        let id = self.key.map_id(subject);
        let request = protocol::mapping_get_request(&id);
        let answers = futures_util::future::join_all(
            self.trackers
                .iter()
                .map(|t| exchange(t, request.clone(), id)),
        )
        .await;
        let mut out = Lookup::default();
        let mut conflict = false;
        for answer in answers {
            match answer {
                Ok(MappingReply::Records(_, records)) => {
                    for r in records {
                        match self.key.open(&id, subject, &r) {
                            Ok(sha256) if out.sha256.is_none() => out.sha256 = Some(sha256),
                            Ok(sha256) => conflict |= out.sha256 != Some(sha256),
                            Err(e) => {
                                out.refused += 1;
                                tracing::warn!(map_id = %id.to_hex(), "group mapping refused: {e}");
                            }
                        }
                    }
                }
                Ok(other) => tracing::debug!("group mapping look-up: {other:?}"),
                Err(e) => tracing::debug!("group mapping look-up: {e}"),
            }
        }
        // Two members saw different bytes under the same validators: neither is used.
        if conflict {
            tracing::warn!(map_id = %id.to_hex(), "group mappings disagree: none is used");
            out.sha256 = None;
        }
        out
    }

    /// Tells the group's trackers which SHA-256 `subject` had. Returns how many
    /// stored it; a tracker that refuses the action is no error.
    pub async fn publish(&self, subject: &Subject, sha256: Hash32) -> usize {
        let id = self.key.map_id(subject);
        let record = self.key.seal(&id, sha256, subject.size);
        let request = protocol::mapping_put_request(&id, &record);
        let answers = futures_util::future::join_all(
            self.trackers
                .iter()
                .map(|t| exchange(t, request.clone(), id)),
        )
        .await;
        let stored = answers
            .iter()
            .filter(|a| matches!(a, Ok(MappingReply::Stored(_))))
            .count();
        tracing::info!(map_id = %id.to_hex(), %sha256, stored, of = self.trackers.len(),
            "group mapping published");
        stored
    }
}

/// Sends `request` and waits for the answer about `id`.
async fn exchange(tracker: &str, request: String, id: MapId) -> Result<MappingReply, String> {
    let work = async {
        let (ws, _) = tokio_tungstenite::connect_async(tracker)
            .await
            .map_err(|e| e.to_string())?;
        let (mut sink, mut stream) = ws.split();
        sink.send(Message::text(request))
            .await
            .map_err(|e| e.to_string())?;
        for _ in 0..MAX_MESSAGES {
            match stream.next().await {
                Some(Ok(Message::Text(text))) => match protocol::parse_mapping_reply(&text) {
                    Some(MappingReply::Stored(i) | MappingReply::Records(i, _)) if i != id => {}
                    Some(reply) => {
                        let _ = sink.close().await;
                        return Ok(reply);
                    }
                    None => {}
                },
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("the tracker closed the connection".into()),
            }
        }
        Err("no answer among the tracker's messages".into())
    };
    tokio::time::timeout(EXCHANGE_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| Err("the tracker did not answer in time".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    fn info(requested: &str, url: &str) -> OriginInfo {
        OriginInfo {
            requested: Url::parse(requested).unwrap(),
            url: Url::parse(url).unwrap(),
            size: 10,
            ranges: true,
            etag: Some("\"v1\"".into()),
            last_modified: None,
            content_type: None,
            digest: None,
            digest_source: None,
            filename: "a.bin".into(),
            metalink: None,
            mirrors: Vec::new(),
            leaves: None,
        }
    }

    #[test]
    fn no_mapping_for_credentials_a_downgrade_or_no_validator() {
        assert!(
            GroupMappings::subject(&info(
                "https://a.example/a.bin",
                "https://cdn.example/a.bin"
            ))
            .is_ok()
        );
        assert!(
            GroupMappings::subject(&info("http://a.example/a.bin", "http://a.example/a.bin"))
                .is_ok()
        );
        let downgrade =
            GroupMappings::subject(&info("https://a.example/a.bin", "http://cdn.example/a.bin"));
        assert!(downgrade.unwrap_err().contains("plain HTTP"));
        let creds = GroupMappings::subject(&info(
            "https://u:p@a.example/a.bin",
            "https://a.example/a.bin",
        ));
        assert!(creds.unwrap_err().contains("credentials"));
        let mut bare = info("https://a.example/a.bin", "https://a.example/a.bin");
        bare.etag = None;
        assert!(GroupMappings::subject(&bare).is_err());
    }
}

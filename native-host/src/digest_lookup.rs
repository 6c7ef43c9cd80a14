//! Where a download that its origin sent no digest for may still get a trusted one,
//! while it runs: the origin's checksum lists beside the file, and, in
//! `trusted_group` mode, the group's mapping on its trackers. Both are asked at once;
//! the first answer wins. The download never waits for them.

use std::sync::Arc;

use swarmload_core::content::Hash32;
use swarmload_core::trusted_digest::DigestSource;
use tokio::sync::oneshot;

use crate::origin::OriginInfo;
use crate::origin::checksum_lists::ChecksumLists;
use crate::swarm::group_mappings::GroupMappings;

/// A trusted SHA-256 found after the probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateDigest {
    pub sha256: Hash32,
    pub source: DigestSource,
    /// The checksum list that named it, for `DigestSource::ChecksumFile`.
    pub checksum_list: Option<url::Url>,
}

#[derive(Clone)]
pub struct DigestLookup {
    client: reqwest::Client,
    lists: ChecksumLists,
    group: Option<Arc<GroupMappings>>,
}

impl DigestLookup {
    pub fn new(
        client: reqwest::Client,
        lists: ChecksumLists,
        group: Option<GroupMappings>,
    ) -> DigestLookup {
        DigestLookup {
            client,
            lists,
            group: group.map(Arc::new),
        }
    }

    pub fn group(&self) -> Option<&GroupMappings> {
        self.group.as_deref()
    }

    /// Whether anything may still name `info`'s digest: never for a download that
    /// needed credentials; lists unless its directory had none lately; the group
    /// when the origin gave a validator to file a mapping under.
    pub fn may_find(&self, info: &OriginInfo) -> bool {
        !info.has_credentials()
            && (self.lists.may_have(&info.requested)
                || (self.group.is_some() && GroupMappings::subject(info).is_ok()))
    }

    pub async fn find(&self, info: &OriginInfo) -> Option<LateDigest> {
        let lists = async {
            self.lists
                .lookup(&self.client, info)
                .await
                .map(|f| LateDigest {
                    sha256: f.sha256,
                    source: DigestSource::ChecksumFile,
                    checksum_list: Some(f.list),
                })
        };
        let group = async {
            let group = self.group.as_ref()?;
            let subject = GroupMappings::subject(info).ok()?;
            group
                .lookup(&subject)
                .await
                .sha256
                .map(|sha256| LateDigest {
                    sha256,
                    source: DigestSource::Group,
                    checksum_list: None,
                })
        };
        tokio::pin!(lists, group);
        let (mut lists_done, mut group_done) = (false, false);
        while !(lists_done && group_done) {
            tokio::select! {
                found = &mut lists, if !lists_done => {
                    lists_done = true;
                    if found.is_some() {
                        return found;
                    }
                }
                found = &mut group, if !group_done => {
                    group_done = true;
                    if found.is_some() {
                        return found;
                    }
                }
            }
        }
        None
    }

    /// Runs [`DigestLookup::find`] in the background, for a download's `late_digest`.
    pub fn spawn(&self, info: &OriginInfo) -> oneshot::Receiver<LateDigest> {
        let (tx, rx) = oneshot::channel();
        let (me, info) = (self.clone(), info.clone());
        tokio::spawn(async move {
            if let Some(found) = me.find(&info).await {
                let _ = tx.send(found);
            }
        });
        rx
    }
}

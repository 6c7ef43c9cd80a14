//! Where a download that its origin sent no digest for may still get a trusted one,
//! while it runs: the core's resolver (`swarmload_core::resolve`) asks the origin's
//! checksum lists beside the file and, in `trusted_group` mode, the group's
//! mapping on its trackers, and decides between them. The download never waits for
//! it; the directories it found without lists are remembered across downloads.

use std::sync::{Arc, Mutex};

use reqwest::header::HeaderMap;
use swarmload_core::content::Hash32;
use swarmload_core::resolve::{Budgets, DirectoryMemory, Reason, Resolver, Setup};
use swarmload_core::trusted_digest::DigestSource;
use tokio::sync::oneshot;

use crate::origin::OriginInfo;
use crate::origin::resolving::{Hands, drive, now};
use crate::swarm::group_mappings::GroupMappings;

/// A trusted SHA-256 found after the probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateDigest {
    pub sha256: Hash32,
    pub source: DigestSource,
    /// The checksum list that named it, for `DigestSource::ChecksumFile`.
    pub checksum_list: Option<url::Url>,
}

/// Directories without lists, shared by every look-up of one host process.
pub type SharedMemory = Arc<Mutex<DirectoryMemory>>;

#[derive(Clone)]
pub struct DigestLookup {
    client: reqwest::Client,
    memory: SharedMemory,
    group: Option<Arc<GroupMappings>>,
}

impl DigestLookup {
    pub fn new(
        client: reqwest::Client,
        memory: SharedMemory,
        group: Option<GroupMappings>,
    ) -> DigestLookup {
        DigestLookup {
            client,
            memory,
            group: group.map(Arc::new),
        }
    }

    pub fn group(&self) -> Option<&GroupMappings> {
        self.group.as_deref()
    }

    /// The resolver for `info`, after its probe (whose Metalink was read).
    fn resolver(&self, info: &OriginInfo) -> Resolver {
        let setup = Setup {
            group: self.group.is_some(),
            metalink: false,
            ..Setup::whole(Budgets::BESIDE_DOWNLOAD)
        };
        let memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        Resolver::new(info.clone(), setup, &memory, now())
    }

    /// The digest the lists or the group give, or why there is none.
    pub async fn find(&self, info: &OriginInfo) -> Result<LateDigest, Reason> {
        self.run(self.resolver(info)).await
    }

    /// Drives `resolver` to its end.
    async fn run(&self, resolver: Resolver) -> Result<LateDigest, Reason> {
        let hands = Hands {
            client: &self.client,
            headers: &HeaderMap::new(),
            group: self.group.as_deref(),
            memory: Some(&self.memory),
        };
        let resolution = drive(resolver, hands).await.ok().and_then(|d| d.resolution);
        let Some(resolution) = resolution else {
            return Err(Reason::NoDigest);
        };
        match resolution.found {
            Some(f) => {
                tracing::info!(sha256 = %f.sha256, source = ?f.source, list = ?f.list.as_ref().map(url::Url::as_str), "digest found after the probe");
                Ok(LateDigest {
                    sha256: f.sha256,
                    source: f.source,
                    checksum_list: f.list,
                })
            }
            None => Err(resolution.reason.unwrap_or(Reason::NoDigest)),
        }
    }

    /// Looks in the background, for a download's `late_digest`, when anything may
    /// still name `info`'s digest (the resolver's word); `None` when nothing can.
    pub fn spawn(&self, info: &OriginInfo) -> Option<oneshot::Receiver<LateDigest>> {
        let resolver = self.resolver(info);
        if !resolver.looking() {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        let me = self.clone();
        tokio::spawn(async move {
            match me.run(resolver).await {
                Ok(found) => {
                    let _ = tx.send(found);
                }
                Err(reason) => tracing::info!("no digest after the probe: {reason}"),
            }
        });
        Some(rx)
    }
}

//! What a download is, from its probe: the plan both fronts run.

use std::sync::Arc;

use reqwest::header::HeaderMap;
use swarmload_core::content::Hash32;
use swarmload_core::group_mapping::Subject;
use swarmload_core::policy::Policy;
use swarmload_core::trusted_digest::DigestSource;
use tokio::sync::oneshot;

use crate::digest_lookup::{DigestLookup, LateDigest};
use crate::download::{Connections, Job};
use crate::origin::OriginInfo;
use crate::store::partial::Partial;
use crate::swarm::group_mappings::GroupMappings;
use crate::swarm::peers::SwarmConfig;

/// The digest asked for and the origin's differ: nothing is downloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the origin publishes SHA-256 {origin}, but {given} was asked for")]
pub struct DigestConflict {
    pub origin: Hash32,
    pub given: Hash32,
}

/// The trusted digest: the one given, which must agree with the origin's, else the
/// origin's.
pub fn expected(
    given: Option<Hash32>,
    origin: Option<Hash32>,
) -> Result<Option<Hash32>, DigestConflict> {
    match (given, origin) {
        (Some(given), Some(origin)) if given != origin => Err(DigestConflict { origin, given }),
        (g, o) => Ok(g.or(o)),
    }
}

pub struct Plan {
    pub info: OriginInfo,
    /// The trusted SHA-256, if the user, the page or the origin named one.
    pub expected: Option<Hash32>,
    /// Where `expected` came from.
    pub digest_source: Option<DigestSource>,
    /// A trusted digest still being looked for beside the download.
    pub late_digest: Option<oneshot::Receiver<LateDigest>>,
    /// The swarm the download joins: only content with a trusted digest (or one
    /// being looked for) has one, and a URL with credentials is never shared.
    pub swarm: Option<SwarmConfig>,
    /// What a trusted group member publishes if nothing trusted names the digest.
    pub publish: Option<(GroupMappings, Subject)>,
}

impl Plan {
    /// The plan for `info`, with the digest `given` by the user or the page.
    pub fn new(
        info: OriginInfo,
        given: Option<Hash32>,
        lookup: &DigestLookup,
        swarm: Option<SwarmConfig>,
    ) -> Result<Plan, DigestConflict> {
        let expected = expected(given, info.digest)?;
        let digest_source = match given {
            Some(_) => Some(DigestSource::Explicit),
            None => info.digest_source,
        };
        let late_digest = expected.is_none().then(|| lookup.spawn(&info)).flatten();
        let swarm = swarm
            .filter(|_| (expected.is_some() || late_digest.is_some()) && !info.has_credentials());
        let publish = lookup
            .group()
            .cloned()
            .zip(GroupMappings::subject(&info).ok());
        Ok(Plan {
            info,
            expected,
            digest_source,
            late_digest,
            swarm,
            publish,
        })
    }

    /// The job that downloads it into `partial`.
    pub fn job(
        &mut self,
        client: &reqwest::Client,
        headers: HeaderMap,
        connections: Connections,
        partial: Partial,
        policy: &Policy,
        use_mirrors: bool,
    ) -> Job {
        Job {
            client: client.clone(),
            info: Arc::new(self.info.clone()),
            headers,
            expected: self.expected,
            connections,
            origin_only: self.swarm.is_none(),
            partial,
            policy: policy.clone(),
            late_digest: self.late_digest.take(),
            use_mirrors,
        }
    }
}

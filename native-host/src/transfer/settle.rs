//! After a download succeeded: what becomes of it, for both fronts.

use std::path::Path;

use swarmload_core::policy::Policy;

use crate::config::StateDir;
use crate::download::Finished;
use crate::origin::OriginInfo;
use crate::store::cache::Cache;

/// Admits the verified file at `path` to the seeding cache, unless the policy
/// disables uploads, the URL carried credentials (never shared), or the user asked
/// not to (`wanted`); whether the cache kept it.
pub fn admit(
    state: &StateDir,
    policy: &Policy,
    info: &OriginInfo,
    done: &Finished,
    path: &Path,
    filename: &str,
    wanted: bool,
) -> bool {
    if !wanted || !policy.upload_enabled || info.has_credentials() {
        return false;
    }
    let cache = Cache::new(state, policy.cache_max_bytes, policy.cache_max_age_secs);
    match cache.admit(done.sha256, done.leaves.as_deref(), path, filename) {
        Ok(_) => {
            tracing::info!(sha256 = %done.sha256, "added to the seeding cache");
            true
        }
        Err(e) => {
            tracing::info!("not cached: {e}");
            false
        }
    }
}

/// Whether a trusted group may learn the content's SHA-256 from this download:
/// nothing trusted named it and every byte came from the origin, in this run (a
/// resumed partial's earlier blocks may have come from peers, under a digest that
/// turned out not to hold).
pub fn publishable(done: &Finished, resumed: bool) -> bool {
    done.hashed_from_origin_alone() && !resumed
}

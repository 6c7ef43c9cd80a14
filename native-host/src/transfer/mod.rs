//! One download, whichever front asked for it (`get` on the command line, or the
//! browser's `start`): the rules both follow, so they cannot drift.
//!
//! - [`plan`]: from the probe, what the download is: the trusted digest (the one
//!   given must agree with the origin's), where it came from, whether a look-up
//!   goes on beside it, whether it has a swarm, and the `Job` it runs as;
//! - [`restart`]: after a failure, whether it starts over (a mirror spoiled the
//!   whole: again from the origin alone; the content changed on the origin: again,
//!   a few times) or fails;
//! - [`settle`]: after success, whether the seeding cache takes the file and
//!   whether a trusted group may learn its digest from it.
//!
//! [`Transfer`] holds what every run of one download shares and carries out the
//! three: `plan` from a probe, `job` into a partial, `run` (with the plan's swarm)
//! to a [`Ran`]: done, again, or failed. The fronts only present: `get_command`
//! names the file, draws the progress bar and prints the summary;
//! `native_messaging::session` offers the delivery (and starts over only while it
//! has sent nothing) and reports to the browser.

pub mod plan;
pub mod restart;
pub mod settle;

pub use plan::{DigestConflict, Plan};
pub use restart::{MAX_RESTARTS, Restart, Restarts};

use reqwest::header::HeaderMap;
use swarmload_core::content::Hash32;
use swarmload_core::policy::Policy;
use tokio::sync::watch;

use crate::digest_lookup::DigestLookup;
use crate::download::{
    self, Connections, DownloadError, Finished, Job, NoPeers, PeerSource, Progress,
};
use crate::origin::OriginInfo;
use crate::store::partial::Partial;
use crate::swarm::peers::{Swarm, SwarmConfig};

/// What every run of one download shares, whichever front started it.
pub struct Transfer {
    pub client: reqwest::Client,
    pub lookup: DigestLookup,
    /// The swarm a download with a trusted digest joins.
    pub swarm: Option<SwarmConfig>,
    pub policy: Policy,
    /// Request headers every origin request carries (the browser's, forwarded).
    pub headers: HeaderMap,
    /// The digest the user or the page gave.
    pub given: Option<Hash32>,
    pub connections: Connections,
    pub restarts: Restarts,
}

/// How a run ended.
pub enum Ran {
    Done(Box<Finished>),
    /// It failed, and the download starts over (the front may refuse, and fail).
    Again(Restart, DownloadError),
    Failed(DownloadError),
}

impl Transfer {
    /// The plan for what the probe learnt.
    pub fn plan(&self, info: OriginInfo) -> Result<Plan, DigestConflict> {
        Plan::new(info, self.given, &self.lookup, self.swarm.clone())
    }

    /// The job of the plan's next run, into `partial`.
    pub fn job(&self, plan: &mut Plan, partial: Partial) -> Job {
        plan.job(
            &self.client,
            self.headers.clone(),
            self.connections,
            partial,
            &self.policy,
            self.restarts.use_mirrors(),
        )
    }

    /// Runs `job` with the plan's swarm (if any) to its end.
    pub async fn run(
        &mut self,
        plan: &mut Plan,
        job: Job,
        progress: watch::Sender<Progress>,
        cancel: watch::Receiver<bool>,
    ) -> Ran {
        let had_mirrors = job.use_mirrors && !job.info.mirrors.is_empty();
        let peers: Box<dyn PeerSource> = match plan.swarm.take() {
            Some(cfg) => Box::new(Swarm::new(cfg)),
            None => Box::new(NoPeers),
        };
        match download::run(job, progress, cancel, peers).await {
            Ok(done) => Ran::Done(Box::new(done)),
            Err(e) => match self.restarts.after(&e, had_mirrors) {
                Some(restart) => {
                    tracing::info!(?restart, "starting over: {e}");
                    Ran::Again(restart, e)
                }
                None => Ran::Failed(e),
            },
        }
    }
}

//! The command-line options every swarm-joining command shares (`get`, `seed`).

use std::net::IpAddr;

use swarmload_core::policy::Policy;

use super::peers::SwarmConfig;
use super::rtc::RtcConfig;
use crate::config::{ConfigError, StateDir};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct SwarmArgs {
    /// A WebTorrent tracker (ws:// or wss://) to find peers on; repeatable. Default:
    /// the `trackers` of config.toml; with neither, no tracker is contacted.
    #[arg(long = "tracker", value_name = "URL")]
    pub trackers: Vec<String>,
    /// Gather WebRTC candidates on this local IP address only (default: every
    /// interface).
    #[arg(long, value_name = "IP")]
    pub ice_addr: Option<IpAddr>,
    /// For tests of other peers only: flip a byte of every block sent.
    #[arg(long, hide = true)]
    pub corrupt_uploads: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SwarmArgsError {
    #[error("--tracker {0}: not a ws:// or wss:// URL")]
    Tracker(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl SwarmArgs {
    /// The swarm these options and the policy describe; `None` when no tracker is
    /// named anywhere.
    pub fn config(
        &self,
        state: &StateDir,
        policy: &Policy,
    ) -> Result<Option<SwarmConfig>, SwarmArgsError> {
        let trackers = if self.trackers.is_empty() {
            // Only trackers the user configured: the built-in defaults are public
            // servers, and a command-line download contacts nobody it was not told to.
            state.config_layer()?.trackers.unwrap_or_default()
        } else {
            self.trackers.clone()
        };
        check_urls(&trackers)?;
        if trackers.is_empty() || !policy.enabled {
            return Ok(None);
        }
        let mut rtc = RtcConfig::from_policy(policy);
        if let Some(ip) = self.ice_addr {
            rtc = rtc.confined_to(ip);
        }
        Ok(Some(SwarmConfig {
            trackers,
            rtc,
            group_id: policy.group_id.clone(),
            upload_enabled: policy.upload_enabled,
            corrupt_uploads: self.corrupt_uploads,
        }))
    }

    /// Checks the tracker URLs alone (before anything else is opened).
    pub fn check(&self) -> Result<(), SwarmArgsError> {
        check_urls(&self.trackers)
    }
}

fn check_urls(trackers: &[String]) -> Result<(), SwarmArgsError> {
    for t in trackers {
        let ok = url::Url::parse(t).is_ok_and(|u| matches!(u.scheme(), "ws" | "wss"));
        if !ok {
            return Err(SwarmArgsError::Tracker(t.clone()));
        }
    }
    Ok(())
}

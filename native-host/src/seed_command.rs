//! `swarmload-host seed FILE…`: hash each file, announce it, and serve it in place
//! until interrupted.

use std::path::PathBuf;

use swarmload_core::engine::EngineConfig;

use crate::config::StateDir;
use crate::seeding::{SeedError, Seeder};
use crate::swarm::options::{SwarmArgs, SwarmArgsError};
use crate::swarm::peers::Swarm;

#[derive(clap::Args, Debug)]
pub struct SeedArgs {
    /// The files to share; each is served from where it is, never copied.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub swarm: SwarmArgs,
    /// Where config.toml and the log live (default: $SWARMLOAD_HOME, else the
    /// platform data directory).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Print one JSON object per file (sha256, size, info_hash) instead of a line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedCommandError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Swarm(#[from] SwarmArgsError),
    #[error("no tracker: name one with --tracker, or set `trackers` in config.toml")]
    NoTracker,
    #[error("sharing is switched off by the policy (`upload_enabled = false`)")]
    UploadDisabled,
    #[error(transparent)]
    Seed(#[from] SeedError),
    #[error("cannot start: {0}")]
    Runtime(String),
}

pub fn run(args: SeedArgs) -> Result<(), SeedCommandError> {
    args.swarm.check()?;
    let state = StateDir::open(args.state_dir.as_deref())?;
    crate::logging::init(&state.log_path());
    let policy = state.policy()?;
    let swarm = args
        .swarm
        .config(&state, &policy)?
        .ok_or(SeedCommandError::NoTracker)?;
    if !policy.upload_enabled {
        return Err(SeedCommandError::UploadDisabled);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| SeedCommandError::Runtime(e.to_string()))?;
    runtime.block_on(async move {
        let mut seeders = Vec::new();
        for path in &args.files {
            let cfg = EngineConfig::from_policy(&policy, crate::download::random_seed());
            let peers = Box::new(Swarm::new(swarm.clone()));
            let path2 = path.clone();
            // Hashing a large file takes a while; the runtime's other work goes on.
            let (seeder, seeded) =
                tokio::task::spawn_blocking(move || Seeder::from_file(&path2, cfg, peers))
                    .await
                    .map_err(|e| SeedCommandError::Runtime(e.to_string()))??;
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "file": path.display().to_string(),
                        "sha256": seeded.sha256.to_hex(),
                        "info_hash": seeded.sha256.info_hash().to_hex(),
                        "size": seeded.size,
                    })
                );
            } else {
                println!(
                    "seeding {} ({} bytes, sha256 {})",
                    path.display(),
                    seeded.size,
                    seeded.sha256
                );
            }
            seeders.push(seeder);
        }
        let mut tasks = Vec::new();
        for mut s in seeders {
            tasks.push(tokio::spawn(async move {
                s.serve(shutdown_signal()).await;
                s.leave().await;
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        Ok(())
    })
}

/// Ctrl-C or SIGTERM: leave the swarms cleanly.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

//! `swarmload-host get URL`: download to a file, from peers where a swarm has the
//! content and from the origin for the rest, verified before it gets its name.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use reqwest::header::HeaderMap;
use swarmload_core::content::Hash32;
use swarmload_core::trusted_digest::DigestSource;
use tokio::sync::watch;

use crate::config::StateDir;
use crate::digest_lookup::DigestLookup;
use crate::digest_lookup::SharedMemory;
use crate::download::{self, Connections, DownloadError, PeerSource, Phase, Progress};
use crate::origin::{self, OriginInfo};
use crate::seeding::Seeder;
use crate::store::partial::{self, Partial, PartialRecord};
use crate::swarm::group_mappings::GroupMappings;
use crate::swarm::options::{SwarmArgs, SwarmArgsError};
use crate::swarm::peers::{Swarm, SwarmConfig};
use crate::transfer::{DigestConflict, Ran, Restart, Restarts, Transfer, plan, settle};

#[derive(clap::Args, Debug)]
pub struct GetArgs {
    /// The http(s) URL to download; a `#sha256=HEX` fragment names its digest.
    pub url: String,
    /// Where to save: a file, or a directory to save into under the server's name
    /// (default: the current directory).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// The SHA-256 the content must have (64 hex digits).
    #[arg(long)]
    pub sha256: Option<String>,
    #[command(flatten)]
    pub swarm: SwarmArgs,
    /// After the download, keep serving it to the swarm this long (e.g. `90s`,
    /// `10m`, `1h`); Ctrl-C ends it early.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub seed_for: Option<Duration>,
    /// Print a JSON summary on stdout as the download completes: path, size,
    /// sha256, bytes from peers and from the origin, bytes uploaded, peers banned,
    /// seconds, and the seconds since the first byte from a peer.
    #[arg(long)]
    pub json: bool,
    /// Parallel connections to the origin (1 to 16; default: adaptive, up to 4).
    #[arg(long)]
    pub connections: Option<u32>,
    /// Where partial downloads, the seeding cache and the log live (default:
    /// $SWARMLOAD_HOME, else the platform data directory).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Do not keep the file in the seeding cache.
    #[arg(long)]
    pub no_seed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum GetError {
    #[error("not a URL: {0}")]
    Url(String),
    #[error("--sha256 must be 64 hex digits")]
    Sha256Arg,
    #[error(transparent)]
    Swarm(#[from] SwarmArgsError),
    #[error("--connections must be between 1 and 16")]
    Connections,
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot reach the origin: {0}")]
    Probe(#[from] origin::ProbeError),
    #[error("{0} (--sha256)")]
    DigestConflict(DigestConflict),
    #[error("{0}")]
    Partial(#[from] partial::PartialError),
    #[error("{0}")]
    Download(#[from] DownloadError),
    #[error("the content kept changing on the origin")]
    KeepsChanging,
    #[error("cannot save {path}: {source}")]
    Save {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the HTTP client: {0}")]
    Client(String),
}

const DEFAULT_CONNECTIONS: u32 = 4;

pub fn run(args: GetArgs) -> Result<(), GetError> {
    let url =
        url::Url::parse(&args.url).map_err(|e| GetError::Url(format!("{}: {e}", args.url)))?;
    let given = args
        .sha256
        .as_deref()
        .map(|h| Hash32::from_hex(h).map_err(|_| GetError::Sha256Arg))
        .transpose()?;
    args.swarm.check()?;
    let connections = args.connections;
    if connections.is_some_and(|n| !(1..=16).contains(&n)) {
        return Err(GetError::Connections);
    }
    let state = StateDir::open(args.state_dir.as_deref())?;
    crate::logging::init(&state.log_path());
    let policy = state.policy()?;
    let swarm = args.swarm.config(&state, &policy)?;
    // One thread carries the network, the engine and the file writes; the whole-file
    // hash runs on its own thread. On a small machine fewer threads handing bytes to
    // each other is faster. WebRTC's own tasks (DTLS, SCTP) want a second thread.
    let runtime = match swarm {
        None => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Some(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    }
    .map_err(|e| GetError::Client(e.to_string()))?;
    runtime.block_on(get(args, url, given, connections, state, policy, swarm))
}

async fn get(
    args: GetArgs,
    url: url::Url,
    given: Option<Hash32>,
    connections: Option<u32>,
    state: StateDir,
    policy: swarmload_core::policy::Policy,
    swarm: Option<SwarmConfig>,
) -> Result<(), GetError> {
    let started = std::time::Instant::now();
    let client = origin::client().map_err(|e| GetError::Client(e.to_string()))?;
    // Progress goes where curl's goes, to stderr: stdout stays free for `--json`.
    let interactive = std::io::stderr().is_terminal();
    // The swarm's trackers are the group's: a mapping is published where members meet.
    let group = policy
        .group_key()
        .zip(swarm.as_ref())
        .and_then(|(key, s)| GroupMappings::new(s.trackers.clone(), key));
    let lookup = DigestLookup::new(client.clone(), SharedMemory::default(), group);
    let mut t = Transfer {
        client: client.clone(),
        lookup,
        swarm: swarm.clone(),
        policy: policy.clone(),
        headers: HeaderMap::new(),
        given,
        connections: match connections {
            Some(n) => Connections::Fixed(n),
            None => Connections::Adaptive(DEFAULT_CONNECTIONS),
        },
        restarts: Restarts::default(),
    };
    loop {
        let info = origin::probe(&client, &url, &HeaderMap::new()).await?;
        let expected = plan::expected(given, info.digest).map_err(GetError::DigestConflict)?;
        let dest = match &args.output {
            // An existing directory receives the file under the server's name.
            Some(p) if p.is_dir() => p.join(&info.filename),
            Some(p) => p.clone(),
            None => PathBuf::from(&info.filename),
        };
        let part = part_path(&dest);
        if info.size == 0 {
            return save_empty(&dest, expected);
        }
        // Without a published digest, the origin's checksum lists may give one; the
        // download does not wait for them.
        let mut plan = t.plan(info).map_err(GetError::DigestConflict)?;
        let info = plan.info.clone();
        tracing::info!(url = %info.url, size = info.size, ranges = info.ranges,
            digest = ?expected.map(|d| d.to_hex()), dest = %dest.display(), "download");
        let record = PartialRecord::new(
            &info,
            expected,
            absolute(&part),
            Some(absolute(&dest)),
            info.filename.clone(),
        );
        let (partial, resumed) = Partial::open(&state, record)?;
        let key = partial.key.clone();
        let mut digest_source = plan.digest_source;
        let job = t.job(&mut plan, partial);
        let (progress_tx, progress_rx) = watch::channel(Progress::default());
        let (_cancel_tx, cancel_rx) = watch::channel(false);
        let bar = interactive.then(|| show_progress(progress_rx, &info));
        let ran = t.run(&mut plan, job, progress_tx, cancel_rx).await;
        if let Some(bar) = bar {
            bar.abort();
            let _ = bar.await;
        }
        let lookup = &t.lookup;
        match ran {
            Ran::Done(done) => {
                let list = done.learned.as_ref().and_then(|l| l.checksum_list.clone());
                if let Some(l) = &done.learned {
                    digest_source = digest_source.or(Some(l.source));
                }
                // The whole-file SHA-256 matched: only now does the file get its name.
                std::fs::rename(&done.data_path, &dest).map_err(|source| GetError::Save {
                    path: dest.clone(),
                    source,
                })?;
                settle::admit(
                    &state,
                    &policy,
                    &info,
                    &done,
                    &dest,
                    &info.filename,
                    !args.no_seed,
                );
                let publishable = settle::publishable(&done, resumed);
                done.partial.finish();
                // Nothing trusted named this content: its SHA-256 was computed from
                // the origin's bytes alone, which a trusted group may publish.
                let mut group_published = None;
                if publishable && lookup.group().is_some() {
                    group_published = match plan.publish.as_ref() {
                        Some((group, subject)) => Some(group.publish(subject, done.sha256).await),
                        None => {
                            let why = GroupMappings::subject(&info).err().unwrap_or_default();
                            tracing::info!("no group mapping published: {why}");
                            None
                        }
                    };
                }
                let s = &done.stats;
                if interactive && !args.json {
                    eprintln!(
                        "saved {} ({} bytes, {} from peers, {} from the origin), sha256 {}",
                        dest.display(),
                        info.size,
                        s.bytes_from_peers,
                        s.bytes_from_origin,
                        done.sha256
                    );
                }
                if args.json {
                    // Printed as the download completes; seeding may follow.
                    println!(
                        "{}",
                        serde_json::json!({
                            "path": absolute(&dest).display().to_string(),
                            "size": info.size,
                            "sha256": done.sha256.to_hex(),
                            "from_peers": s.bytes_from_peers,
                            "from_origin": s.bytes_from_origin,
                            "uploaded": s.bytes_uploaded,
                            "peers_banned": s.peers_banned,
                            "seconds": started.elapsed().as_secs_f64(),
                            "peer_seconds": done.peer_time.map(|t| t.as_secs_f64()),
                            "digest_source": digest_source,
                            "checksum_list": list.as_ref().map(|u| u.as_str()),
                            "not_swarmed": not_swarmed(digest_source, &info, lookup.group().is_some()),
                            "group_published": group_published,
                            "mirrors": done.mirrors.iter().map(|(url, bytes, dropped)| serde_json::json!({
                                "url": url.as_str(), "bytes": bytes, "dropped": dropped,
                            })).collect::<Vec<_>>(),
                        })
                    );
                }
                let mut seeder = done.seeder;
                // The download's own swarm never started without a trusted digest;
                // once the group knows the digest, the file is served under it.
                if group_published.is_some_and(|n| n > 0)
                    && args.seed_for.is_some()
                    && policy.upload_enabled
                    && let Some(cfg) = swarm.clone()
                {
                    let engine_cfg = swarmload_core::engine::EngineConfig::from_policy(
                        &policy,
                        download::random_seed(),
                    );
                    let path = dest.clone();
                    let peers: Box<dyn PeerSource> = Box::new(Swarm::new(cfg));
                    let seeded = tokio::task::spawn_blocking(move || {
                        Seeder::from_file(&path, engine_cfg, peers)
                    })
                    .await;
                    match seeded {
                        Ok(Ok((s, _))) => std::mem::replace(&mut seeder, s).leave().await,
                        // The file is saved: not seeding it is no reason to fail.
                        Ok(Err(e)) => tracing::warn!("cannot seed {}: {e}", dest.display()),
                        Err(e) => tracing::warn!("cannot seed {}: {e}", dest.display()),
                    }
                }
                if args.seed_for.is_some() && !policy.upload_enabled {
                    tracing::info!("upload is disabled by policy: not seeding");
                }
                if let Some(d) = args.seed_for.filter(|_| policy.upload_enabled) {
                    tracing::info!(?d, "seeding");
                    if interactive && !args.json {
                        eprintln!("seeding for {}", humantime::format_duration(d));
                    }
                    seeder
                        .serve(async {
                            tokio::select! {
                                _ = tokio::time::sleep(d) => {}
                                _ = crate::seed_command::shutdown_signal() => {}
                            }
                        })
                        .await;
                }
                seeder.leave().await;
                return Ok(());
            }
            Ran::Again(restart, e) => {
                forget_partial(&state, &part, &key, &e);
                match restart {
                    Restart::WithoutMirrors => tracing::warn!(
                        "the whole did not match its digest, and mirrors served part of it: \
                         starting over from the origin alone"
                    ),
                    Restart::ContentChanged => {
                        tracing::info!("the content changed on the origin: starting over")
                    }
                }
            }
            Ran::Failed(e) => {
                tracing::warn!("download failed: {e}");
                forget_partial(&state, &part, &key, &e);
                return Err(if t.restarts.kept_changing(&e) {
                    GetError::KeepsChanging
                } else {
                    e.into()
                });
            }
        }
    }
}

/// After a failure that voids what was stored, the next attempt starts from nothing.
fn forget_partial(state: &StateDir, part: &Path, key: &str, e: &DownloadError) {
    if e.discards_partial() {
        let _ = std::fs::remove_file(part);
        partial::forget(state, key);
    }
}

/// Why a download was not shared with a swarm, or `None` when it could be.
fn not_swarmed(
    source: Option<DigestSource>,
    info: &OriginInfo,
    group: bool,
) -> Option<&'static str> {
    if info.has_credentials() {
        Some("the URL carries credentials: never shared")
    } else if source.is_none() && group {
        Some(
            "no trusted SHA-256: the origin sent no digest header, no Metalink, and no checksum list beside the file names it, and the group had no mapping for it",
        )
    } else if source.is_none() {
        Some(
            "no trusted SHA-256: the origin sent no digest header, no Metalink, and no checksum list beside the file names it",
        )
    } else {
        None
    }
}

/// `PATH.part`, beside the destination, so the final rename stays on one file system.
fn part_path(dest: &Path) -> PathBuf {
    let mut s = dest.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn save_empty(dest: &Path, expected: Option<Hash32>) -> Result<(), GetError> {
    use sha2::Digest;
    let empty = Hash32(sha2::Sha256::digest([]).into());
    if let Some(e) = expected
        && e != empty
    {
        return Err(GetError::Download(DownloadError::Failed(
            swarmload_core::engine::FailReason::DigestMismatch {
                expected: e,
                actual: empty,
            },
        )));
    }
    let part = part_path(dest);
    std::fs::write(&part, [])
        .and_then(|()| std::fs::rename(&part, dest))
        .map_err(|source| GetError::Save {
            path: dest.to_path_buf(),
            source,
        })
}

/// An indicatif bar on stderr: bytes, speed, ETA, and where the bytes came from.
fn show_progress(
    mut rx: watch::Receiver<Progress>,
    info: &OriginInfo,
) -> tokio::task::JoinHandle<()> {
    let bar = ProgressBar::with_draw_target(Some(info.size), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(250));
    tokio::spawn(async move {
        let _clear = ClearOnDrop(bar.clone());
        loop {
            {
                let p = rx.borrow_and_update();
                bar.set_position(p.have_bytes);
                let phase = match p.phase {
                    Phase::Checking => "checking stored blocks · ",
                    Phase::Verifying => "verifying · ",
                    _ => "",
                };
                bar.set_message(format!(
                    "{phase}peers {} · origin {}",
                    indicatif::HumanBytes(p.from_peers),
                    indicatif::HumanBytes(p.from_origin)
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            if rx.changed().await.is_err() {
                return;
            }
        }
    })
}

struct ClearOnDrop(ProgressBar);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

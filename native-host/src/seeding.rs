//! Serving complete content to a swarm: the engine in its seeding state, the peers
//! it talks to, and the file it reads from in place.
//!
//! The engine checks every block it reads against its leaf before the block leaves,
//! so a file changed on disk is never served as good content: the changed blocks
//! are refused to peers from then on.

use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use bytes::Bytes;
use swarmload_core::content::Hash32;
use swarmload_core::engine::{Action, Engine, EngineConfig, EngineError, Event, Stats, Time};
use tokio::sync::mpsc;

use crate::file_digest::{self, FileDigestError};
use crate::peer_source::{EVENT_QUEUE, PeerSource};
use crate::store::cache::CachedContent;

/// How long leaving the swarm may take.
const LEAVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(transparent)]
    Digest(#[from] FileDigestError),
    #[error("{path}: an empty file has nothing to share")]
    Empty { path: PathBuf },
    #[error("{path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Engine { path: PathBuf, source: EngineError },
}

/// What a seeder tells about itself.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub sha256: Hash32,
    pub size: u64,
}

pub struct Seeder {
    engine: Engine,
    peers: Box<dyn PeerSource>,
    events: mpsc::Receiver<Event>,
    file: File,
    epoch: Instant,
}

impl Seeder {
    /// Hashes `path` (both digests, on two threads) and prepares to serve it. The
    /// swarm starts with [`Seeder::serve`].
    pub fn from_file(
        path: &Path,
        cfg: EngineConfig,
        peers: Box<dyn PeerSource>,
    ) -> Result<(Seeder, Seeded), SeedError> {
        let (digests, leaves) = file_digest::digest_file_with_leaves(path)?;
        if digests.size == 0 {
            return Err(SeedError::Empty {
                path: path.to_path_buf(),
            });
        }
        let file = File::open(path).map_err(|source| SeedError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let engine = Engine::seed(digests.sha256, digests.size, leaves, cfg).map_err(|source| {
            SeedError::Engine {
                path: path.to_path_buf(),
                source,
            }
        })?;
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        let mut peers = peers;
        peers.start(digests.sha256, tx);
        peers.completed();
        let seeded = Seeded {
            sha256: digests.sha256,
            size: digests.size,
        };
        Ok((
            Seeder {
                engine,
                peers,
                events: rx,
                file,
                epoch: Instant::now(),
            },
            seeded,
        ))
    }

    /// Serves content from the seeding cache.
    pub fn from_cache(
        content: CachedContent,
        cfg: EngineConfig,
        mut peers: Box<dyn PeerSource>,
    ) -> Result<Seeder, EngineError> {
        let (sha256, size, leaves, file) = content.into_parts();
        let engine = Engine::seed(sha256, size, leaves, cfg)?;
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        peers.start(sha256, tx);
        peers.completed();
        Ok(Seeder {
            engine,
            peers,
            events: rx,
            file,
            epoch: Instant::now(),
        })
    }

    /// Carries on with a finished download's engine and its open connections.
    pub(crate) fn resume(
        engine: Engine,
        peers: Box<dyn PeerSource>,
        events: mpsc::Receiver<Event>,
        file: File,
        epoch: Instant,
    ) -> Seeder {
        Seeder {
            engine,
            peers,
            events,
            file,
            epoch,
        }
    }

    pub fn stats(&self) -> &Stats {
        self.engine.stats()
    }

    /// Serves peers until `stop` resolves.
    pub async fn serve(&mut self, stop: impl std::future::Future<Output = ()>) {
        let epoch = self.epoch;
        let now = move || Time::from_micros(epoch.elapsed().as_micros() as u64);
        let mut local: VecDeque<Event> = VecDeque::new();
        let mut reported = Instant::now();
        tokio::pin!(stop);
        self.engine.handle_timeout(now());
        loop {
            while let Some(action) = self.engine.poll_action() {
                match action {
                    Action::Send { peer, data } => self.peers.send(peer, data),
                    Action::Disconnect { peer, reason } => self.peers.disconnect(peer, &reason),
                    Action::ReadBlock { block, offset, len } => {
                        let mut buf = vec![0u8; len as usize];
                        local.push_back(match self.file.read_exact_at(&mut buf, offset) {
                            Ok(()) => Event::BlockRead {
                                block,
                                data: Bytes::from(buf),
                            },
                            Err(_) => Event::BlockReadFailed { block },
                        });
                    }
                    // Complete content fetches, writes and delivers nothing.
                    _ => {}
                }
            }
            if reported.elapsed() >= std::time::Duration::from_secs(5) {
                reported = Instant::now();
                let s = self.engine.stats();
                self.peers.progress(
                    0,
                    s.bytes_uploaded,
                    s.bytes_from_peers + s.bytes_from_origin,
                );
            }
            if let Some(ev) = local.pop_front() {
                self.engine.handle(now(), ev);
                continue;
            }
            let deadline = self
                .engine
                .poll_timeout()
                .map(|t| tokio::time::Instant::now() + t.since(now()));
            tokio::select! {
                ev = self.events.recv() => match ev {
                    Some(ev) => {
                        self.engine.handle(now(), ev);
                        for _ in 0..64 {
                            match self.events.try_recv() {
                                Ok(ev) => self.engine.handle(now(), ev),
                                Err(_) => break,
                            }
                        }
                    }
                    // No peer source any more: nothing left to serve.
                    None => return,
                },
                _ = sleep_until(deadline) => self.engine.handle_timeout(now()),
                _ = &mut stop => return,
            }
        }
    }

    /// Leaves the swarm cleanly: trackers hear `stopped` and channels close, within
    /// a few seconds at most.
    pub async fn leave(mut self) {
        if let Some(task) = self.peers.leave() {
            let _ = tokio::time::timeout(LEAVE_TIMEOUT, task).await;
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Seeders running in the background (the native-messaging host's), by content.
#[derive(Default)]
pub struct Seeds {
    running: std::sync::Mutex<std::collections::HashMap<Hash32, RunningSeed>>,
}

struct RunningSeed {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Seeds {
    pub fn is_seeding(&self, sha256: &Hash32) -> bool {
        self.lock().contains_key(sha256)
    }

    pub fn count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<Hash32, RunningSeed>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Serves `seeder` until [`Seeds::stop_all`]; content already served is left as
    /// it is (the new seeder leaves its swarm at once).
    pub fn add(&self, sha256: Hash32, mut seeder: Seeder) {
        let mut running = self.lock();
        running.retain(|_, s| !s.task.is_finished());
        if running.contains_key(&sha256) {
            drop(running);
            tokio::spawn(seeder.leave());
            return;
        }
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            seeder
                .serve(async move {
                    let _ = stopped.changed().await;
                })
                .await;
            seeder.leave().await;
        });
        running.insert(sha256, RunningSeed { stop, task });
    }

    /// Stops every seeder; each leaves its swarm (a few seconds at most).
    pub async fn stop_all(&self) {
        let all: Vec<RunningSeed> = self.lock().drain().map(|(_, s)| s).collect();
        for s in &all {
            s.stop.send_replace(true);
        }
        for s in all {
            let _ = tokio::time::timeout(LEAVE_TIMEOUT * 2, s.task).await;
        }
    }
}

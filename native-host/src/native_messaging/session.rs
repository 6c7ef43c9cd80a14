//! One browser session: the policy the extension pushed, resolving URLs, downloads
//! started for the browser and delivered through the loopback server, and their
//! progress.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use swarmload_core::content::Hash32;
use swarmload_core::engine::EngineConfig;
use swarmload_core::policy::{Policy, PolicyLayer};
use swarmload_core::resolve::{HOLD, Reason};
use tokio::sync::{mpsc, watch};

use super::messages::{HeaderEntry, PROTOCOL, Request, Resolve, Start, Target};
use super::outgoing::{
    self, Body, CachedItem, Failed, Finished, Outgoing, Probed, Resolved, Started, Status,
};
use crate::config::StateDir;
use crate::delivery::{self, Delivery};
use crate::digest_lookup::{DigestLookup, SharedMemory};
use crate::download::{self, Connections, Job, Phase, Progress};
use crate::origin::{self, OriginInfo};
use crate::seeding::{Seeder, Seeds};
use crate::store::cache::Cache;
use crate::store::partial::{self, Partial, PartialRecord};
use crate::swarm::group_mappings::GroupMappings;
use crate::swarm::peers::{Swarm, SwarmConfig};
use crate::swarm::rtc::RtcConfig;
use crate::transfer::{Plan, Ran, Restarts, Transfer, settle};
use swarmload_core::group_mapping::Subject;

/// Progress events per download, at most this often.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);
/// A probe that takes longer than this is given up (the browser's own download
/// goes on meanwhile, so waiting long helps no one).
const PROBE_TIMEOUT: Duration = Duration::from_secs(15);
/// A request as the origin is asked it: URL and forwarded headers.
type ProbeKey = (String, Vec<HeaderEntry>);

/// How long a `resolve`'s probe stands in for the `start` that follows it.
const PROBE_REUSE: Duration = Duration::from_secs(30);
/// Probes remembered at once (a page starting many downloads).
const MAX_REMEMBERED_PROBES: usize = 64;
/// Cached content served at once, the most recently used first.
const MAX_CACHE_SEEDS: usize = 64;
/// Names a local IP address to confine WebRTC to (tests, containers, hosts with
/// one allowed interface); unset, every interface is used.
const ICE_ADDR_ENV: &str = "SWARMLOAD_ICE_ADDR";
/// Request headers passed on to the origin; credentials never are.
const FORWARDED: &[&str] = &["user-agent", "referer", "accept-language"];

struct Active {
    cancel: watch::Sender<bool>,
    url: String,
    filename: String,
    progress: watch::Receiver<Progress>,
}

pub struct Session {
    state: StateDir,
    config: PolicyLayer,
    config_error: Option<String>,
    managed: Mutex<Option<PolicyLayer>>,
    /// The options page's settings, under the config file.
    settings: Mutex<Option<PolicyLayer>>,
    /// Recent `resolve` probes, so the `start` that follows one does not ask the
    /// origin again (a round trip or two off the time to the first byte).
    probes: Mutex<HashMap<ProbeKey, (std::time::Instant, OriginInfo)>>,
    client: reqwest::Client,
    delivery: Delivery,
    downloads: Mutex<HashMap<String, Active>>,
    out: mpsc::UnboundedSender<Outgoing>,
    /// What this host serves to swarms while it runs.
    seeds: Seeds,
    /// Held while the cache's seeders are (re)started for a new policy.
    reseeding: tokio::sync::Mutex<()>,
    /// Directories without checksum lists, across this session's downloads.
    checksum_lists: SharedMemory,
}

/// A started download, as its runs share it.
struct Run {
    url: url::Url,
    target: Target,
    key: String,
    filename: String,
    data_path: std::path::PathBuf,
    resumed: bool,
    policy: Policy,
    /// What the delivery and the browser see, across runs.
    progress: watch::Sender<Progress>,
    cancel: watch::Receiver<bool>,
    /// Bytes the delivery has handed to the browser.
    sent: Arc<AtomicU64>,
}

/// Passes one run's progress on to what the delivery and the browser see, its
/// delivery generations after `base`; a failure is not passed on, since a restart
/// may follow (`Session::finish` says when it is final).
async fn forward_progress(
    mut from: watch::Receiver<Progress>,
    to: watch::Sender<Progress>,
    base: u32,
) {
    while from.changed().await.is_ok() {
        let mut p = from.borrow_and_update().clone();
        if p.phase == Phase::Failed {
            continue;
        }
        p.delivery_generation += base;
        to.send_replace(p);
    }
}

/// The swarm downloads and seeds join under `policy`, if it names any tracker.
fn swarm_config(policy: &Policy) -> Option<SwarmConfig> {
    if !policy.enabled || policy.trackers.is_empty() {
        return None;
    }
    let mut rtc = RtcConfig::from_policy(policy);
    if let Some(ip) = std::env::var(ICE_ADDR_ENV)
        .ok()
        .and_then(|v| v.parse::<std::net::IpAddr>().ok())
    {
        rtc = rtc.confined_to(ip);
    }
    Some(SwarmConfig {
        trackers: policy.trackers.clone(),
        rtc,
        group_id: policy.group_id.clone(),
        upload_enabled: policy.upload_enabled,
        corrupt_uploads: false,
    })
}

/// Why a download is left to the browser: the policy applies to the link the user
/// clicked as much as to where it led.
fn ineligible(
    policy: &Policy,
    url: &url::Url,
    link: Option<&url::Url>,
    t: &Target,
) -> Option<&'static str> {
    let names: Vec<&str> = t.headers.iter().map(|h| h.name.as_str()).collect();
    std::iter::once(url).chain(link).find_map(|url| {
        swarmload_core::eligibility::ineligible(
            policy,
            &swarmload_core::eligibility::Request {
                url,
                header_names: &names,
                incognito: t.incognito,
                method: t.method.as_deref(),
            },
        )
    })
}

/// The link the user clicked, when the browser was redirected from it to `url`
/// (a release link to a signed CDN URL, say). It stands where `get` has the URL it
/// was given: the subject of group mappings, where checksum lists are looked for,
/// what is asked again when a signed target expires, and what a download without a
/// digest resumes by. `None` when absent, the same, or not an HTTP(S) URL.
fn link_of(t: &Target, url: &url::Url) -> Option<url::Url> {
    let mut link = url::Url::parse(t.link.as_deref()?).ok()?;
    link.set_fragment(None);
    let mut bare = url.clone();
    bare.set_fragment(None);
    (matches!(link.scheme(), "http" | "https") && link != bare).then_some(link)
}

fn forwarded_headers(headers: &[HeaderEntry]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for h in headers {
        let name = h.name.to_ascii_lowercase();
        if !FORWARDED.contains(&name.as_str()) {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&h.value),
        ) {
            map.insert(n, v);
        }
    }
    map
}

impl Session {
    pub async fn new(
        state: StateDir,
        out: mpsc::UnboundedSender<Outgoing>,
    ) -> Result<Session, String> {
        let (config, config_error) = match state.config_layer() {
            Ok(c) => (c, None),
            Err(e) => {
                // A broken config file is reported, and the defaults serve meanwhile.
                tracing::error!("{e}");
                (PolicyLayer::default(), Some(e.to_string()))
            }
        };
        let client = origin::client().map_err(|e| e.to_string())?;
        let delivery = Delivery::start().await.map_err(|e| e.to_string())?;
        std::fs::create_dir_all(state.root().join("downloads")).map_err(|e| e.to_string())?;
        Ok(Session {
            state,
            config,
            config_error,
            managed: Mutex::new(None),
            settings: Mutex::new(None),
            probes: Mutex::new(HashMap::new()),
            client,
            delivery,
            downloads: Mutex::new(HashMap::new()),
            out,
            seeds: Seeds::default(),
            reseeding: tokio::sync::Mutex::new(()),
            checksum_lists: SharedMemory::default(),
        })
    }

    /// The effective policy: enterprise policy (pushed by the extension) over the
    /// config file over the options page's settings (pushed too) over the defaults.
    fn policy(&self) -> Policy {
        let managed = self
            .managed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let settings = self
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut layers = Vec::new();
        layers.extend(managed);
        layers.push(self.config.clone());
        layers.extend(settings);
        Policy::resolve(&layers)
    }

    /// An event.
    fn send(&self, body: Body) {
        let _ = self.out.send(Outgoing::event(body));
    }

    fn reply(&self, id: &Option<Value>, body: Body) {
        let _ = self.out.send(Outgoing::reply(id.clone(), body));
    }

    fn error(&self, id: &Option<Value>, code: &str, message: &str) {
        let _ = self.out.send(Outgoing::error(id.clone(), code, message));
    }

    /// Cancels every download and leaves every swarm (the browser is gone).
    pub async fn shutdown(&self) {
        {
            let downloads = self.downloads.lock().unwrap_or_else(|e| e.into_inner());
            for d in downloads.values() {
                let _ = d.cancel.send(true);
            }
        }
        self.seeds.stop_all().await;
    }

    /// Serves the seeding cache under the current policy: the seeders of an older
    /// policy (other trackers, another group) leave their swarms first.
    async fn reseed(self: Arc<Self>) {
        let _one_at_a_time = self.reseeding.lock().await;
        self.seeds.stop_all().await;
        let policy = self.policy();
        let Some(swarm) = swarm_config(&policy).filter(|_| policy.upload_enabled) else {
            return;
        };
        let cache = Cache::new(
            &self.state,
            policy.cache_max_bytes,
            policy.cache_max_age_secs,
        );
        let mut entries = cache.list();
        entries.sort_by_key(|e| std::cmp::Reverse(e.last_used_unix));
        entries.truncate(MAX_CACHE_SEEDS);
        for e in entries {
            let Ok(sha256) = Hash32::from_hex(&e.sha256) else {
                continue;
            };
            if self.seeds.is_seeding(&sha256) {
                continue;
            }
            self.serve_cached(sha256, &policy, &swarm).await;
        }
    }

    /// Serves one cached content to the swarm, under `policy`, if it allows it.
    async fn seed_cached(&self, sha256: Hash32, policy: &Policy) {
        let Some(swarm) = swarm_config(policy).filter(|_| policy.upload_enabled) else {
            return;
        };
        if !self.seeds.is_seeding(&sha256) {
            self.serve_cached(sha256, policy, &swarm).await;
        }
    }

    async fn serve_cached(&self, sha256: Hash32, policy: &Policy, swarm: &SwarmConfig) {
        let (state, max, age) = (
            self.state.clone(),
            policy.cache_max_bytes,
            policy.cache_max_age_secs,
        );
        // Opening may index (hash) the whole file: off the async threads.
        let opened =
            tokio::task::spawn_blocking(move || Cache::new(&state, max, age).open(&sha256)).await;
        let content = match opened {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                tracing::info!(%sha256, "not seeding a cache entry: {e}");
                return;
            }
            Err(_) => return,
        };
        let cfg = EngineConfig::from_policy(policy, download::random_seed());
        match Seeder::from_cache(content, cfg, Box::new(Swarm::new(swarm.clone()))) {
            Ok(seeder) => {
                tracing::info!(%sha256, "seeding from the cache");
                self.seeds.add(sha256, seeder);
            }
            Err(e) => tracing::warn!(%sha256, "cannot seed: {e}"),
        }
    }

    pub async fn handle(self: Arc<Self>, id: Option<Value>, request: Request) {
        match request {
            Request::Hello => self.reply(
                &id,
                Body::Hello {
                    version: env!("CARGO_PKG_VERSION"),
                    protocol: PROTOCOL,
                    delivery: format!("http://{}", self.delivery.addr()),
                    config_error: self.config_error.clone(),
                },
            ),
            Request::Policy(p) => match PolicyLayer::from_value(p.policy).and_then(|managed| {
                let settings = p.settings.map(PolicyLayer::from_value).transpose()?;
                Ok((managed, settings))
            }) {
                Ok((layer, settings)) => {
                    *self.managed.lock().unwrap_or_else(|e| e.into_inner()) = Some(layer);
                    *self.settings.lock().unwrap_or_else(|e| e.into_inner()) = settings;
                    // Seeding waits for the extension's policy: an enterprise's
                    // trackers and group must be known before anything is announced.
                    tokio::spawn(self.clone().reseed());
                    let effective: Value =
                        serde_json::from_str(&self.policy().to_json()).unwrap_or(Value::Null);
                    self.reply(
                        &id,
                        Body::Policy {
                            ok: true,
                            effective,
                        },
                    );
                }
                Err(e) => self.error(&id, "bad_policy", &e.to_string()),
            },
            Request::Resolve(r) => self.resolve(id, r).await,
            Request::Start(s) => self.start(id, s).await,
            Request::Cancel(c) => {
                let found = self
                    .downloads
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&c.download);
                match found {
                    Some(d) => {
                        let _ = d.cancel.send(true);
                        self.reply(
                            &id,
                            Body::Cancelled {
                                download: c.download,
                            },
                        );
                    }
                    None => self.error(&id, "unknown_download", "no such active download"),
                }
            }
            Request::Status => self.status(id),
        }
    }

    /// Probes the origin; with `reuse`, takes instead what a `resolve` of the same
    /// request learned moments ago.
    async fn probe(
        &self,
        url: &url::Url,
        headers: &[HeaderEntry],
        reuse: bool,
    ) -> Result<OriginInfo, String> {
        let key = (url.to_string(), headers.to_vec());
        let recent = {
            let mut probes = self.probes.lock().unwrap_or_else(|e| e.into_inner());
            probes.retain(|_, (at, _)| at.elapsed() < PROBE_REUSE);
            if reuse { probes.remove(&key) } else { None }
        };
        if let Some((_, info)) = recent {
            return Ok(info);
        }
        let info = self.probe_origin(url, headers).await?;
        let mut probes = self.probes.lock().unwrap_or_else(|e| e.into_inner());
        if probes.len() < MAX_REMEMBERED_PROBES {
            probes.insert(key, (std::time::Instant::now(), info.clone()));
        }
        Ok(info)
    }

    async fn probe_origin(
        &self,
        url: &url::Url,
        headers: &[HeaderEntry],
    ) -> Result<OriginInfo, String> {
        match tokio::time::timeout(
            PROBE_TIMEOUT,
            origin::probe(&self.client, url, &forwarded_headers(headers)),
        )
        .await
        {
            Ok(Ok(info)) => Ok(info),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the origin did not answer in time".into()),
        }
    }

    /// Where a digest may still come from under `policy`: checksum lists, and the
    /// group's mappings in `trusted_group` mode.
    fn digest_lookup(&self, policy: &Policy) -> DigestLookup {
        DigestLookup::new(
            self.client.clone(),
            self.checksum_lists.clone(),
            GroupMappings::from_policy(policy),
        )
    }

    /// While the browser's item waits on `resolve`: the SHA-256 a checksum list
    /// beside the file or the group's mapping gives, put into `info` (and the probe
    /// `start` reuses). The look-up runs within the resolver's budget in the
    /// background, and the item waits for it at most [`HOLD`], so a site without
    /// lists, or a slow one, holds the download back that long once per directory
    /// (the directory memory learns from the finished look-up). Returns why there
    /// is no digest, if there is none.
    async fn digest_before_start(
        &self,
        url: &url::Url,
        headers: &[HeaderEntry],
        info: &mut OriginInfo,
        lookup: &DigestLookup,
    ) -> Option<String> {
        let found = {
            let (lookup, info) = (lookup.clone(), info.clone());
            tokio::spawn(async move { lookup.find(&info).await })
        };
        let found = match tokio::time::timeout(HOLD, found).await {
            Ok(Ok(found)) => found,
            Ok(Err(_)) => Err(Reason::NoDigest),
            Err(_) => Err(Reason::TooSlow),
        };
        match found {
            Ok(found) => {
                info.digest = Some(found.sha256);
                info.digest_source = Some(found.source);
                let key = (url.to_string(), headers.to_vec());
                let mut probes = self.probes.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(entry) = probes.get_mut(&key) {
                    entry.1 = info.clone();
                }
                None
            }
            Err(reason) => Some(reason.to_string()),
        }
    }

    async fn resolve(&self, id: Option<Value>, r: Resolve) {
        let Ok(url) = url::Url::parse(&r.target.url) else {
            return self.error(&id, "bad_request", "not a URL");
        };
        let policy = self.policy();
        let link = link_of(&r.target, &url);
        if let Some(reason) = ineligible(&policy, &url, link.as_ref(), &r.target) {
            // Nothing is fetched for a download the host will not take.
            return self.reply(
                &id,
                Body::Resolved(Resolved {
                    reason: Some(reason),
                    ..Resolved::default()
                }),
            );
        }
        let mut info = match self.probe(&url, &r.target.headers, false).await {
            Ok(i) => i,
            Err(e) => return self.error(&id, "probe_failed", &e),
        };
        if let Some(link) = link {
            info.requested = link;
        }
        let too_small = info.size < policy.min_size_bytes;
        let lookup = self.digest_lookup(&policy);
        let mut why_not_p2p = None;
        if info.digest.is_none() && !too_small {
            why_not_p2p = Some(
                self.digest_before_start(&url, &r.target.headers, &mut info, &lookup)
                    .await,
            );
        }
        let why_not_p2p = why_not_p2p.flatten();
        // In a trusted group, a download nothing names a digest for is still taken:
        // the host computes its SHA-256 and publishes the mapping for the others.
        let group_publish = !too_small
            && info.digest.is_none()
            && lookup.group().is_some()
            && GroupMappings::subject(&info).is_ok();
        self.reply(
            &id,
            Body::Resolved(Resolved {
                eligible: !too_small,
                reason: too_small.then_some("too_small"),
                p2p: !too_small && info.digest.is_some(),
                probed: Some(Probed {
                    digest_source: info.digest_source,
                    why_not_p2p,
                    group_publish,
                    url: info.url.to_string(),
                    size: info.size,
                    sha256: info.digest.map(|d| d.to_hex()),
                    filename: info.filename.clone(),
                    ranges: info.ranges,
                }),
            }),
        );
    }

    async fn start(self: &Arc<Self>, id: Option<Value>, s: Start) {
        let Ok(url) = url::Url::parse(&s.target.url) else {
            return self.error(&id, "bad_request", "not a URL");
        };
        let policy = self.policy();
        let link = link_of(&s.target, &url);
        if let Some(reason) = ineligible(&policy, &url, link.as_ref(), &s.target) {
            return self.error(&id, "not_eligible", reason);
        }
        let given = match s.sha256.as_deref().map(Hash32::from_hex).transpose() {
            Ok(g) => g,
            Err(_) => return self.error(&id, "bad_request", "sha256 must be 64 hex digits"),
        };
        let mut info = match self.probe(&url, &s.target.headers, true).await {
            Ok(i) => i,
            Err(e) => return self.error(&id, "probe_failed", &e),
        };
        if let Some(link) = link {
            info.requested = link;
        }
        if info.size == 0 {
            return self.error(&id, "not_eligible", "empty");
        }
        let t = Transfer {
            client: self.client.clone(),
            lookup: self.digest_lookup(&policy),
            swarm: swarm_config(&policy),
            policy: policy.clone(),
            headers: forwarded_headers(&s.target.headers),
            given,
            connections: Connections::Adaptive(4),
            restarts: Restarts::default(),
        };
        // Without a published digest, the origin's checksum lists are looked for
        // beside the download, which does not wait for them.
        let mut plan = match t.plan(info) {
            Ok(plan) => plan,
            Err(_) => {
                return self.error(
                    &id,
                    "digest_conflict",
                    "the origin publishes another SHA-256",
                );
            }
        };
        let info = plan.info.clone();
        let expected = plan.expected;
        let filename = s
            .filename
            .as_deref()
            .map(crate::filename::sanitise)
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| info.filename.clone());
        // The same content (or, without a digest, the same link the user clicked:
        // redirects may lead to a new signed URL each time) resumes into one file.
        let identity = match expected {
            Some(d) => format!("sha256:{}", d.to_hex()),
            None => format!("url:{}", info.requested),
        };
        let data_path = self
            .state
            .root()
            .join("downloads")
            .join(format!("{}.part", partial::short_hash(identity.as_bytes())));
        let record = PartialRecord::new(&info, expected, data_path.clone(), None, filename.clone());
        let (partial, resumed) = match Partial::open(&self.state, record) {
            Ok(opened) => opened,
            Err(partial::PartialError::Busy) => {
                return self.error(&id, "busy", "this content is already being downloaded");
            }
            Err(e) => return self.error(&id, "store", &e.to_string()),
        };
        let key = partial.key.clone();
        let file = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&data_path)
        {
            Ok(f) => f,
            Err(e) => return self.error(&id, "store", &e.to_string()),
        };
        let (progress_tx, progress_rx) = watch::channel(Progress {
            size: info.size,
            ..Progress::default()
        });
        let (cancel_tx, cancel_rx) = watch::channel(false);
        let sent = Arc::new(AtomicU64::new(0));
        let delivery_url = match self.delivery.offer(delivery::Source {
            file,
            size: info.size,
            filename: filename.clone(),
            progress: progress_rx.clone(),
            sent: sent.clone(),
        }) {
            Ok(u) => u,
            Err(e) => return self.error(&id, "no_randomness", &e.to_string()),
        };
        self.downloads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                key.clone(),
                Active {
                    cancel: cancel_tx,
                    url: info.url.to_string(),
                    filename: filename.clone(),
                    progress: progress_rx.clone(),
                },
            );
        let job = t.job(&mut plan, partial);
        self.reply(
            &id,
            Body::Started(Started {
                download: key.clone(),
                delivery_url: delivery_url.to_string(),
                size: info.size,
                filename: filename.clone(),
                sha256: expected.map(|d| d.to_hex()),
                p2p: expected.is_some(),
                digest_source: plan.digest_source,
            }),
        );
        tokio::spawn(self.clone().report_progress(key.clone(), progress_rx));
        let run = Run {
            url,
            target: s.target,
            key,
            filename,
            data_path,
            resumed,
            policy,
            progress: progress_tx,
            cancel: cancel_rx,
            sent,
        };
        tokio::spawn(self.clone().run(run, t, plan, job));
    }

    /// Runs a started download to its end, starting over as `transfer::restart`
    /// says while the browser has received nothing of it (its delivery then follows
    /// the new run); otherwise a failure is final, and the browser's download fails
    /// visibly.
    async fn run(self: Arc<Self>, mut r: Run, mut t: Transfer, mut plan: Plan, mut job: Job) {
        loop {
            let (attempt_tx, attempt_rx) = watch::channel(r.progress.borrow().clone());
            let base = r.progress.borrow().delivery_generation;
            let forward = tokio::spawn(forward_progress(attempt_rx, r.progress.clone(), base));
            let ran = t.run(&mut plan, job, attempt_tx, r.cancel.clone()).await;
            let _ = forward.await;
            let e = match ran {
                Ran::Done(done) => {
                    return self.finish(&r, &plan.info, plan.publish.take(), Ok(*done));
                }
                Ran::Failed(e) => return self.finish(&r, &plan.info, None, Err(e)),
                Ran::Again(_, e) => e,
            };
            // What was declared deliverable is void: a delivery that sent none of it
            // follows the next run, one that did breaks (`delivery::stream_body`).
            r.progress.send_modify(|p| {
                p.delivery_generation += 1;
                p.deliverable = 0;
                p.have_bytes = 0;
            });
            if r.sent.load(Ordering::Relaxed) > 0 {
                return self.finish(&r, &plan.info, None, Err(e));
            }
            match self.restart(&r, &t).await {
                Ok((next_plan, next_job)) => {
                    (plan, job) = (next_plan, next_job);
                    // The partial was forgotten: nothing of the next run is resumed.
                    r.resumed = false;
                }
                Err(why) => {
                    tracing::warn!(key = r.key, "cannot start over: {why}");
                    return self.finish(&r, &plan.info, None, Err(e));
                }
            }
        }
    }

    /// The plan and job of the next run: the same file, afresh, from a new probe of
    /// the same size.
    async fn restart(&self, r: &Run, t: &Transfer) -> Result<(Plan, Job), String> {
        partial::forget(&self.state, &r.key);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&r.data_path)
            .map_err(|e| e.to_string())?;
        file.set_len(0).map_err(|e| e.to_string())?;
        let mut info = self.probe_origin(&r.url, &r.target.headers).await?;
        if let Some(link) = link_of(&r.target, &r.url) {
            info.requested = link;
        }
        let size = r.progress.borrow().size;
        if info.size != size {
            return Err(format!(
                "the content is now {} bytes, not {size}",
                info.size
            ));
        }
        let mut plan = t.plan(info).map_err(|e| e.to_string())?;
        let record = PartialRecord::new(
            &plan.info,
            plan.expected,
            r.data_path.clone(),
            None,
            r.filename.clone(),
        );
        let (partial, _resumed) = Partial::open(&self.state, record).map_err(|e| e.to_string())?;
        let job = t.job(&mut plan, partial);
        Ok((plan, job))
    }

    fn finish(
        self: &Arc<Self>,
        r: &Run,
        info: &OriginInfo,
        publish: Option<(GroupMappings, Subject)>,
        result: Result<download::Finished, download::DownloadError>,
    ) {
        let key = r.key.as_str();
        self.downloads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        match result {
            Ok(done) => {
                // Only what the seeding cache admits is served on: a file it cannot
                // hold (over `cache_max_bytes`, say) would otherwise stay on disk,
                // unlinked but open, for as long as the browser runs.
                let kept = settle::admit(
                    &self.state,
                    &r.policy,
                    info,
                    &done,
                    &r.data_path,
                    &r.filename,
                    true,
                );
                // The delivery keeps its own handle on the bytes; the cache its link.
                let _ = std::fs::remove_file(&r.data_path);
                // Nothing trusted named this content: its SHA-256 was computed from
                // the origin's bytes alone, which a trusted group may publish.
                let publish = publish.filter(|_| settle::publishable(&done, r.resumed));
                done.partial.finish();
                // The download's peers go on being served while the browser runs.
                if kept && done.digest_trusted && !self.seeds.is_seeding(&done.sha256) {
                    self.seeds.add(done.sha256, done.seeder);
                } else {
                    tokio::spawn(done.seeder.leave());
                }
                if let Some((group, subject)) = publish.clone() {
                    let (session, sha256) = (self.clone(), done.sha256);
                    tokio::spawn(async move {
                        if group.publish(&subject, sha256).await > 0 && kept {
                            // Its swarm never started without a trusted digest:
                            // serve it from the cache under the digest now known,
                            // as the policy says by then.
                            let _one_at_a_time = session.reseeding.lock().await;
                            session.seed_cached(sha256, &session.policy()).await;
                        }
                    });
                }
                self.send(Body::Finished(Finished {
                    download: key.to_string(),
                    sha256: done.sha256.to_hex(),
                    size: r.progress.borrow().size,
                    from_peers: done.stats.bytes_from_peers,
                    from_origin: done.stats.bytes_from_origin,
                    group_publish: publish.is_some(),
                }));
            }
            Err(e) => {
                r.progress.send_modify(|p| {
                    p.phase = Phase::Failed;
                    p.error = Some(e.to_string());
                });
                let cancelled = matches!(e, download::DownloadError::Cancelled);
                if cancelled || e.discards_partial() {
                    let _ = std::fs::remove_file(&r.data_path);
                    partial::forget(&self.state, key);
                }
                tracing::warn!(key, "download failed: {e}");
                self.send(Body::Failed(Failed {
                    download: key.to_string(),
                    error: e.to_string(),
                    cancelled,
                }));
            }
        }
    }

    async fn report_progress(self: Arc<Self>, key: String, mut rx: watch::Receiver<Progress>) {
        loop {
            let p = rx.borrow_and_update().clone();
            if matches!(p.phase, Phase::Complete | Phase::Failed) {
                return;
            }
            self.send(Body::Progress(outgoing::Progress {
                download: key.clone(),
                size: p.size,
                have: p.have_bytes,
                deliverable: p.deliverable,
                from_peers: p.from_peers,
                from_origin: p.from_origin,
                bytes_per_sec: p.bytes_per_sec.round(),
                peers: p.peers,
                phase: p.phase,
                digest_source: p.digest_learned.map(|l| l.source),
            }));
            tokio::time::sleep(PROGRESS_INTERVAL).await;
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    fn status(&self, id: Option<Value>) {
        let active: Vec<outgoing::Active> = self
            .downloads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, d)| {
                let p = d.progress.borrow();
                outgoing::Active {
                    download: k.clone(),
                    url: d.url.clone(),
                    filename: d.filename.clone(),
                    size: p.size,
                    have: p.have_bytes,
                    phase: p.phase,
                }
            })
            .collect();
        let policy = self.policy();
        let cache = Cache::new(
            &self.state,
            policy.cache_max_bytes,
            policy.cache_max_age_secs,
        );
        let cached = cache.list();
        let partial = partial::list(&self.state);
        self.reply(
            &id,
            Body::Status(Status {
                active,
                partial: partial.len(),
                cached: cached.len(),
                seeding: self.seeds.count(),
                cache_bytes: cached.iter().map(|e| e.size).sum::<u64>(),
                cache_max_bytes: policy.cache_max_bytes,
                items: cached
                    .iter()
                    .rev()
                    .take(200)
                    .map(|e| CachedItem {
                        sha256: e.sha256.clone(),
                        size: e.size,
                        name: e.name.clone(),
                    })
                    .collect(),
            }),
        );
    }
}

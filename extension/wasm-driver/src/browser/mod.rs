//! The browser-only peer: the core's engine driven by the browser's own WebRTC
//! (web-sys), the tracker over a WebSocket, origin ranges through fetch(), and
//! storage the page provides (OPFS). It runs in the extension's offscreen document
//! (Chromium) or background page (Firefox) when no native host is there, and joins
//! the same swarms as native hosts: one wire protocol, one tracker protocol.
//!
//! Everything runs on the page's one thread: every event source (data channel,
//! WebSocket, fetch body, timer, storage) feeds the engine through [`feed`] and then
//! carries out the actions it produced. No JavaScript call made while acting calls
//! back synchronously, so the shared state is never borrowed twice.

mod origin;
mod peer;
mod resolving;
pub mod rtc;
mod swarm;
mod timer;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use bytes::Bytes;
use js_sys::{Promise, Uint8Array};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, spawn_local};
use web_sys::AbortController;

use origin::RangeError;
use peer::Peer;
use rtc::js_err;
use swarmload_core::content::Hash32;
use swarmload_core::engine::{
    Action, ContentMeta, Engine, EngineConfig, Event, OriginError, PeerId,
};
use swarmload_core::membership::ConnId;
use swarmload_core::origin_connections::Climb;
use swarmload_core::policy::Policy;

#[wasm_bindgen]
extern "C" {
    /// Where the content is stored: the page's OPFS file. Writes and reads are
    /// carried out in the order they are made.
    pub type Storage;
    /// May return a promise (awaited: a rejection fails the transfer) or nothing
    /// (the storage then reports failures through `BrowserTransfer.fail`).
    #[wasm_bindgen(method, catch)]
    fn write(this: &Storage, offset: f64, data: Uint8Array) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn read(this: &Storage, offset: f64, len: u32) -> Result<Promise, JsValue>;
    /// Optional: the bytes below `upto` are in their final form; a storage that
    /// hashes them as they come (on another thread) may start on them.
    #[wasm_bindgen(method, catch, js_name = hashTo)]
    fn hash_to(this: &Storage, upto: f64) -> Result<JsValue, JsValue>;
    /// Optional: a promise while the storage has too many writes waiting (the
    /// origin's bodies are not read meanwhile), else nothing.
    #[wasm_bindgen(method, catch)]
    fn room(this: &Storage) -> Result<JsValue, JsValue>;
    /// Optional: the delivery is reset; what was hashed counts no more.
    #[wasm_bindgen(method, catch, js_name = hashReset)]
    fn hash_reset(this: &Storage) -> Result<JsValue, JsValue>;
    /// Optional: resolves to the SHA-256 (32 bytes) of the first `size` bytes
    /// stored. Without it, the page reads the file back and hashes it itself.
    #[wasm_bindgen(method, catch)]
    fn digest(this: &Storage, size: f64) -> Result<Promise, JsValue>;
}

/// Bytes read at a time for the whole-file check.
const VERIFY_CHUNK: u32 = 1 << 20;
/// The most parallel origin ranges the climb may reach (as the host's default).
const MAX_ORIGIN_CONNECTIONS: u32 = 4;

/// Probes `url` (a ranged GET of its first byte, without credentials) and looks
/// for its trusted digest in the core's order: its headers and URL, the Metalink
/// its `Link` header names, checksum lists on the same origin beside `link` (the
/// link the user clicked, before redirects, as the native host does) or else
/// beside `url`; all within `Budgets::HOLDING_DOWNLOAD`.
#[wasm_bindgen]
pub async fn probe_origin(url: String, link: Option<String>) -> Result<JsValue, JsError> {
    let beside = link
        .filter(|l| l.starts_with("https://") || l.starts_with("http://"))
        .and_then(|l| url::Url::parse(&l).ok());
    let report = resolving::probe_and_resolve(&url, beside)
        .await
        .map_err(|e| JsError::new(&e))?;
    serde_wasm_bindgen::to_value(&report).map_err(|e| JsError::new(&e.to_string()))
}

/// What `new BrowserTransfer(options, policy, storage)` takes.
#[derive(Deserialize)]
struct Options {
    url: String,
    sha256: String,
    size: u64,
    #[serde(default)]
    etag: Option<String>,
    /// Whether the origin answers range requests (the probe says); without, the
    /// engine takes the origin as one stream from the start.
    #[serde(default = "yes")]
    ranges: bool,
}

fn yes() -> bool {
    true
}

/// What `BrowserTransfer.seed(options, ...)` takes.
#[derive(Deserialize)]
struct SeedOptions {
    sha256: String,
    size: u64,
}

fn random_seed() -> Result<u64, JsError> {
    let mut seed = [0u8; 8];
    getrandom::fill(&mut seed).map_err(|e| JsError::new(&e.to_string()))?;
    Ok(u64::from_le_bytes(seed))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Phase {
    Downloading,
    Verifying,
    Seeding,
    Failed,
    Stopped,
}

/// What `stats()` returns.
#[derive(Serialize)]
struct Progress {
    phase: Phase,
    size: u64,
    have: u64,
    from_peers: u64,
    from_origin: u64,
    uploaded: u64,
    wasted: u64,
    peers: u32,
    /// Other peers the trackers count in the swarm; `None` before any answered.
    swarm_size: Option<u64>,
    banned: u32,
    bytes_per_sec: f64,
    error: Option<String>,
    info_hash: String,
    busy_ms: f64,
}

pub(crate) struct Shared {
    engine: Engine,
    url: String,
    etag: Option<String>,
    storage: Storage,
    peers: HashMap<u64, Peer>,
    fetches: HashMap<u64, AbortController>,
    swarm: swarm::Swarm,
    phase: Phase,
    error: Option<String>,
    timer: timer::Timer,
    /// How many origin ranges run at once: the core's climb, fed the origin bytes
    /// as they arrive (none for a seed, or an origin without ranges).
    climb: Option<Climb>,
    /// Told (in a later task) whenever what a waiting caller judges by changes: the
    /// phase, the open peers, the swarm's size as the trackers count it, whether
    /// any origin byte arrived.
    on_change: Option<js_sys::Function>,
    last_signal: Option<Signal>,
    /// Settles the promise `done()` returned: with the outcome.
    waiters: Vec<(js_sys::Function, js_sys::Function)>,
    /// Milliseconds spent handling events and acting on them: how busy the page's
    /// thread is with the transfer (against the wall clock, in `stats()`).
    busy_ms: f64,
}

/// What `on_change` listeners judge by: phase, open peers, the trackers' count of
/// others, whether origin bytes arrived.
type Signal = (Phase, usize, Option<u64>, bool);

impl Shared {
    fn new(
        engine: Engine,
        url: String,
        etag: Option<String>,
        storage: Storage,
        swarm: swarm::Swarm,
        phase: Phase,
    ) -> Shared {
        Shared {
            engine,
            url,
            etag,
            storage,
            peers: HashMap::new(),
            fetches: HashMap::new(),
            swarm,
            phase,
            error: None,
            timer: timer::Timer::default(),
            climb: None,
            on_change: None,
            last_signal: None,
            waiters: Vec::new(),
            busy_ms: 0.0,
        }
    }
}

pub(crate) type Handle = Rc<RefCell<Shared>>;
pub(crate) type WeakHandle = Weak<RefCell<Shared>>;

fn now_ms() -> f64 {
    thread_local! {
        static PERF: Option<web_sys::Performance> = web_sys::window().and_then(|w| w.performance());
    }
    PERF.with(|p| match p {
        Some(p) => p.time_origin() + p.now(),
        None => js_sys::Date::now(),
    })
}

fn now() -> swarmload_core::engine::Time {
    crate::dto::time_from_ms(now_ms())
}

/// Gives the engine one event and carries out what it decides.
pub(crate) fn feed(h: &Handle, ev: Event) {
    let t0 = now_ms();
    {
        let mut s = h.borrow_mut();
        if matches!(s.phase, Phase::Failed | Phase::Stopped) {
            return;
        }
        s.engine.handle(now(), ev);
        climb(&mut s);
    }
    act(h);
    h.borrow_mut().busy_ms += now_ms() - t0;
}

/// Gives the climb the origin bytes so far; a new connection count goes to the
/// engine at once (its timeout opens the extra ranges).
fn climb(s: &mut Shared) {
    let t = now();
    let origin_bytes = s.engine.stats().bytes_from_origin;
    if let Some(n) = s.climb.as_mut().and_then(|c| c.tick(t, origin_bytes)) {
        s.engine.set_origin_connections(n);
        s.engine.handle_timeout(t);
    }
}

fn act(h: &Handle) {
    loop {
        let action = {
            let mut s = h.borrow_mut();
            if matches!(s.phase, Phase::Failed | Phase::Stopped) {
                return;
            }
            s.engine.poll_action()
        };
        let Some(action) = action else { break };
        carry_out(h, action);
    }
    arm_timer(h);
    signal_change(h);
}

/// Calls `on_change` when the phase, the open peers or the swarm's size changed. The
/// call comes in a task of its own, so the listener may call back in at once.
pub(crate) fn signal_change(h: &Handle) {
    let listener = {
        let mut s = h.borrow_mut();
        let origin = s.engine.stats().bytes_from_origin > 0;
        let now = (s.phase, s.peers.len(), s.swarm.others(), origin);
        if s.last_signal == Some(now) {
            return;
        }
        s.last_signal = Some(now);
        s.on_change.clone()
    };
    if let Some(f) = listener {
        spawn_local(async move {
            let _ = f.call0(&JsValue::NULL);
        });
    }
}

fn carry_out(h: &Handle, action: Action) {
    match action {
        Action::Send { peer, data } => {
            let mut s = h.borrow_mut();
            if let Some(p) = s.peers.get_mut(&peer.0) {
                p.send(data);
            }
        }
        Action::Disconnect { peer, reason } => {
            let mut s = h.borrow_mut();
            let Some(p) = s.peers.remove(&peer.0) else {
                return;
            };
            let banned = matches!(reason, swarmload_core::engine::DisconnectReason::Banned(_));
            if banned {
                s.swarm.ban(p.remote);
            }
            p.close();
            drop(s);
            swarm::ended(h, ConnId(peer.0));
        }
        Action::FetchOrigin { request, range } => {
            let Ok(abort) = AbortController::new() else {
                feed_later(
                    h,
                    Event::OriginError {
                        request,
                        error: OriginError::Retryable("no AbortController".into()),
                    },
                );
                return;
            };
            let (url, etag) = {
                let mut s = h.borrow_mut();
                s.fetches.insert(request, abort.clone());
                (s.url.clone(), s.etag.clone())
            };
            spawn_local(fetch_range(
                Rc::downgrade(h),
                request,
                range.start,
                range.end,
                url,
                etag,
                abort,
            ));
        }
        Action::CancelOrigin { request } => {
            if let Some(a) = h.borrow_mut().fetches.remove(&request) {
                a.abort();
            }
        }
        Action::Write { offset, data, .. } => {
            let written = h
                .borrow()
                .storage
                .write(offset as f64, Uint8Array::from(&data[..]));
            match written {
                Err(e) => fail(h, format!("the file could not be stored: {}", js_err(e))),
                Ok(v) => {
                    if let Ok(promise) = v.dyn_into::<Promise>() {
                        let weak = Rc::downgrade(h);
                        spawn_local(async move {
                            if let (Err(e), Some(h)) =
                                (JsFuture::from(promise).await, weak.upgrade())
                            {
                                fail(&h, format!("the file could not be stored: {}", js_err(e)));
                            }
                        });
                    }
                }
            }
        }
        Action::ReadBlock { block, offset, len } => {
            let promise = h.borrow().storage.read(offset as f64, len);
            let weak = Rc::downgrade(h);
            spawn_local(async move {
                let ev = match read(promise, len).await {
                    Ok(data) => Event::BlockRead {
                        block,
                        data: Bytes::from(data),
                    },
                    Err(_) => Event::BlockReadFailed { block },
                };
                if let Some(h) = weak.upgrade() {
                    feed(&h, ev);
                }
            });
        }
        // The file is handed over whole at the end; a storage that hashes the
        // final bytes as they come (its worker) hears how far they reach.
        Action::Deliverable { upto } => {
            let _ = h.borrow().storage.hash_to(upto as f64);
        }
        Action::DeliveryReset => {
            let _ = h.borrow().storage.hash_reset();
        }
        Action::VerifyContent => {
            h.borrow_mut().phase = Phase::Verifying;
            let (size, digest) = {
                let s = h.borrow();
                let size = s.engine.size();
                (size, s.storage.digest(size as f64))
            };
            match digest {
                Ok(promise) => spawn_local(stored_digest(Rc::downgrade(h), promise)),
                Err(_) => spawn_local(verify(Rc::downgrade(h), size)),
            }
        }
        Action::Completed => {
            let upload = {
                let mut s = h.borrow_mut();
                s.phase = Phase::Seeding;
                s.engine.config().upload_enabled
            };
            settle(h, Ok(()));
            if upload {
                swarm::completed(h);
            } else {
                stop(h);
            }
        }
        Action::Failed { reason } => fail(h, reason.to_string()),
    }
}

/// Feeds an event from a fresh task (for errors found while acting).
fn feed_later(h: &Handle, ev: Event) {
    let weak = Rc::downgrade(h);
    spawn_local(async move {
        if let Some(h) = weak.upgrade() {
            feed(&h, ev);
        }
    });
}

async fn read(promise: Result<Promise, JsValue>, len: u32) -> Result<Vec<u8>, String> {
    let v = JsFuture::from(promise.map_err(js_err)?)
        .await
        .map_err(js_err)?;
    let data = Uint8Array::new(&v).to_vec();
    if data.len() != len as usize {
        return Err(format!("read {} bytes of {len}", data.len()));
    }
    Ok(data)
}

/// The storage's own SHA-256 of the stored file, given to the engine.
async fn stored_digest(weak: WeakHandle, promise: Promise) {
    let digest = JsFuture::from(promise).await.map_err(js_err).and_then(|v| {
        let bytes = Uint8Array::new(&v).to_vec();
        <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| format!("a digest of {} bytes", bytes.len()))
    });
    let Some(h) = weak.upgrade() else { return };
    match digest {
        Ok(sha256) => feed(
            &h,
            Event::ContentDigest {
                sha256: Hash32(sha256),
            },
        ),
        Err(e) => fail(&h, format!("the stored file could not be checked: {e}")),
    }
}

/// Reads the stored file through and gives the engine its SHA-256.
async fn verify(weak: WeakHandle, size: u64) {
    let mut hasher = Sha256::new();
    let mut at = 0u64;
    while at < size {
        let len = (size - at).min(u64::from(VERIFY_CHUNK)) as u32;
        let Some(promise) = weak
            .upgrade()
            .map(|h| h.borrow().storage.read(at as f64, len))
        else {
            return;
        };
        match read(promise, len).await {
            Ok(data) => hasher.update(&data),
            Err(e) => {
                if let Some(h) = weak.upgrade() {
                    fail(&h, format!("the stored file could not be read back: {e}"));
                }
                return;
            }
        }
        at += u64::from(len);
    }
    if let Some(h) = weak.upgrade() {
        feed(
            &h,
            Event::ContentDigest {
                sha256: Hash32(hasher.finalize().into()),
            },
        );
    }
}

async fn fetch_range(
    weak: WeakHandle,
    request: u64,
    start: u64,
    end: u64,
    url: String,
    etag: Option<String>,
    abort: AbortController,
) {
    let live = |weak: &WeakHandle| -> Option<Handle> {
        let h = weak.upgrade()?;
        let ok = h.borrow().fetches.contains_key(&request);
        ok.then_some(h)
    };
    let outcome = match origin::range(&url, start, end, etag.as_deref(), &abort).await {
        Err(e) => Err(e),
        Ok(body) => {
            let mut at = start;
            loop {
                // Backpressure: no more of the body while the storage is behind.
                let room = live(&weak).and_then(|h| h.borrow().storage.room().ok());
                if let Some(wait) = room.and_then(|v| v.dyn_into::<Promise>().ok()) {
                    let _ = JsFuture::from(wait).await;
                }
                match body.next().await {
                    Ok(Some(mut chunk)) => {
                        let Some(h) = live(&weak) else { return };
                        // A server that ignored the range sends on past it.
                        chunk.truncate((end - at).min(chunk.len() as u64) as usize);
                        let n = chunk.len() as u64;
                        feed(
                            &h,
                            Event::OriginData {
                                request,
                                offset: at,
                                data: Bytes::from(chunk),
                            },
                        );
                        at += n;
                        if at >= end {
                            abort.abort();
                            break Ok(());
                        }
                    }
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(e),
                }
            }
        }
    };
    let Some(h) = live(&weak) else { return };
    h.borrow_mut().fetches.remove(&request);
    let ev = match outcome {
        Ok(()) => Event::OriginEnd { request },
        Err(e) => Event::OriginError {
            request,
            error: match e {
                RangeError::Retryable(m) => OriginError::Retryable(m),
                RangeError::Fatal(m) => OriginError::Fatal(m),
                RangeError::ContentChanged => OriginError::ContentChanged,
            },
        },
    };
    feed(&h, ev);
}

/// Keeps one timeout armed for the engine's next deadline.
fn arm_timer(h: &Handle) {
    let mut s = h.borrow_mut();
    let due = s.engine.poll_timeout();
    let weak = Rc::downgrade(h);
    s.timer.arm(due, now_ms(), move || {
        Closure::new(move || {
            let Some(h) = weak.upgrade() else { return };
            let alive = {
                let mut s = h.borrow_mut();
                s.timer.fired();
                let alive = !matches!(s.phase, Phase::Failed | Phase::Stopped);
                if alive {
                    s.engine.handle_timeout(now());
                }
                alive
            };
            if alive {
                act(&h);
            }
        })
    });
}

fn settle(h: &Handle, outcome: Result<(), String>) {
    signal_change(h);
    let waiters = std::mem::take(&mut h.borrow_mut().waiters);
    for (resolve, reject) in waiters {
        let _ = match &outcome {
            Ok(()) => resolve.call0(&JsValue::NULL),
            Err(e) => reject.call1(&JsValue::NULL, &JsError::new(e).into()),
        };
    }
}

fn fail(h: &Handle, reason: String) {
    {
        let mut s = h.borrow_mut();
        if matches!(s.phase, Phase::Failed | Phase::Stopped) {
            return;
        }
        s.phase = Phase::Failed;
        s.error = Some(reason.clone());
    }
    shutdown(h);
    settle(h, Err(reason));
}

fn stop(h: &Handle) {
    {
        let mut s = h.borrow_mut();
        if matches!(s.phase, Phase::Failed | Phase::Stopped) {
            return;
        }
        s.phase = Phase::Stopped;
    }
    shutdown(h);
    settle(h, Err("stopped".into()));
}

/// Leaves the swarm and lets go of every connection, fetch and timer.
fn shutdown(h: &Handle) {
    {
        let mut s = h.borrow_mut();
        for (_, a) in s.fetches.drain() {
            a.abort();
        }
        for (_, p) in s.peers.drain() {
            p.close();
        }
        s.timer.clear();
    }
    swarm::leave(h);
}

/// One download in the browser, then its seeding while the page lives.
#[wasm_bindgen]
pub struct BrowserTransfer {
    h: Handle,
}

#[wasm_bindgen]
impl BrowserTransfer {
    /// `options`: `{url, sha256, size, etag?, ranges?}`; `policy_json`: the effective policy
    /// (trackers, ICE servers, group, upload and rate limits); `storage`: an object
    /// with `write(offset, bytes)` and `read(offset, len)` returning promises.
    #[wasm_bindgen(constructor)]
    pub fn new(
        options: JsValue,
        policy_json: &str,
        storage: Storage,
    ) -> Result<BrowserTransfer, JsError> {
        let o: Options = serde_wasm_bindgen::from_value(options)?;
        let policy = Policy::from_json(policy_json)?;
        let sha256 = Hash32::from_hex(&o.sha256)?;
        let mut cfg = EngineConfig::from_policy(&policy, random_seed()?);
        cfg.origin_ranges = o.ranges;
        let climb = o.ranges.then(|| Climb::new(MAX_ORIGIN_CONNECTIONS, now()));
        cfg.origin_connections = climb.as_ref().map_or(1, Climb::current);
        let engine = Engine::download(
            ContentMeta {
                sha256,
                size: o.size,
                root: None,
                leaves: None,
            },
            cfg,
        )?;
        let swarm = swarm::Swarm::new(&policy, &sha256, true).map_err(|e| JsError::new(&e))?;
        let mut shared = Shared::new(engine, o.url, o.etag, storage, swarm, Phase::Downloading);
        shared.climb = climb;
        Ok(BrowserTransfer {
            h: Rc::new(RefCell::new(shared)),
        })
    }

    /// Seeds a file kept from an earlier session: `{sha256, size}`, the policy, its
    /// storage, and the leaf layer stored with it (32 bytes per block). The file is
    /// not read through again: every block is checked against its leaf as it is read
    /// to be served (the engine's rule), so a changed byte is never sent.
    pub fn seed(
        options: JsValue,
        policy_json: &str,
        storage: Storage,
        leaves: &[u8],
    ) -> Result<BrowserTransfer, JsError> {
        let o: SeedOptions = serde_wasm_bindgen::from_value(options)?;
        let policy = Policy::from_json(policy_json)?;
        let sha256 = Hash32::from_hex(&o.sha256)?;
        if !leaves.len().is_multiple_of(32) {
            return Err(JsError::new(
                "the stored leaf layer is not a whole number of hashes",
            ));
        }
        let leaves = leaves
            .chunks_exact(32)
            .map(|c| {
                let mut b = [0u8; 32];
                b.copy_from_slice(c);
                Hash32(b)
            })
            .collect();
        let cfg = EngineConfig::from_policy(&policy, random_seed()?);
        let engine = Engine::seed(sha256, o.size, leaves, cfg)?;
        let swarm = swarm::Swarm::new(&policy, &sha256, false).map_err(|e| JsError::new(&e))?;
        let shared = Shared::new(engine, String::new(), None, storage, swarm, Phase::Seeding);
        Ok(BrowserTransfer {
            h: Rc::new(RefCell::new(shared)),
        })
    }

    /// The leaf layer (32 bytes per block) once the download is complete and
    /// verified, to be kept with the file; `undefined` before.
    pub fn leaves(&self) -> Option<Vec<u8>> {
        let s = self.h.borrow();
        let leaves = s.engine.leaf_layer()?;
        Some(leaves.iter().flat_map(|l| l.0).collect())
    }

    /// Starts: the origin at once (as the engine decides), the trackers and the
    /// first offers alongside.
    pub fn start(&self) -> Result<(), JsError> {
        swarm::act(&self.h);
        // The engine starts the origin at once and asks peers as they come.
        let t = now();
        self.h.borrow_mut().engine.handle_timeout(t);
        act(&self.h);
        Ok(())
    }

    /// Resolves once the download is complete and verified; rejects when it failed
    /// or was stopped first.
    pub fn done(&self) -> Promise {
        let h = self.h.clone();
        Promise::new(&mut |resolve, reject| {
            let mut s = h.borrow_mut();
            match s.phase {
                Phase::Seeding => {
                    let _ = resolve.call0(&JsValue::NULL);
                }
                Phase::Failed | Phase::Stopped => {
                    let why = s.error.clone().unwrap_or_else(|| "stopped".into());
                    let _ = reject.call1(&JsValue::NULL, &JsError::new(&why).into());
                }
                _ => s.waiters.push((resolve, reject)),
            }
        })
    }

    pub fn stats(&self) -> Result<JsValue, JsError> {
        let s = self.h.borrow();
        let st = s.engine.stats();
        let p = Progress {
            phase: s.phase,
            size: s.engine.size(),
            have: s.engine.held_bytes(),
            from_peers: st.bytes_from_peers,
            from_origin: st.bytes_from_origin,
            uploaded: st.bytes_uploaded,
            wasted: st.bytes_wasted,
            peers: s.peers.len() as u32,
            swarm_size: s.swarm.others(),
            banned: st.peers_banned,
            bytes_per_sec: s.engine.download_rate(),
            error: s.error.clone(),
            info_hash: s.swarm.info_hash_hex(),
            busy_ms: s.busy_ms,
        };
        serde_wasm_bindgen::to_value(&p).map_err(|e| JsError::new(&e.to_string()))
    }

    /// `listener()` is called whenever the phase, the number of open peers or the
    /// swarm's size as the trackers count it changes (read them with `stats()`).
    pub fn set_on_change(&self, listener: js_sys::Function) {
        self.h.borrow_mut().on_change = Some(listener);
        signal_change(&self.h);
    }

    /// Stops downloading or seeding and leaves the swarm (trackers hear `stopped`).
    pub fn stop(&self) {
        stop(&self.h);
    }

    /// Fails the transfer from outside (the storage could not write, say).
    pub fn fail(&self, reason: &str) {
        fail(&self.h, reason.to_string());
    }
}

/// A channel membership kept becomes an engine peer, named by its connection.
pub(crate) fn add_peer(h: &Handle, conn: ConnId, mut peer: Peer) {
    {
        let mut s = h.borrow_mut();
        if matches!(s.phase, Phase::Failed | Phase::Stopped) {
            peer.close();
            return;
        }
        peer.attach(Rc::downgrade(h), conn.0);
        s.peers.insert(conn.0, peer);
    }
    feed(
        h,
        Event::PeerConnected {
            peer: PeerId(conn.0),
        },
    );
}

/// A peer's channel closed on its own.
pub(crate) fn peer_gone(h: &Handle, id: u64) {
    let gone = h.borrow_mut().peers.remove(&id);
    if let Some(p) = gone {
        p.close();
        feed(h, Event::PeerGone { peer: PeerId(id) });
        swarm::ended(h, ConnId(id));
    }
}

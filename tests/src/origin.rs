//! A real HTTP/1.1 origin on 127.0.0.1 for tests and benchmarks: Range and If-Range,
//! validators, `Repr-Digest`, `Content-Disposition`, redirects, per-connection
//! throttling, counted bytes, and injected faults (a connection dropped mid-body, 500s,
//! content that changes between requests, no Range support at all).

use std::convert::Infallible;
use std::fs::File;
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use futures_util::stream;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What the origin serves.
#[derive(Clone, Debug)]
pub enum Content {
    Memory(Bytes),
    /// A file on disk, read as it is served (for contents too large to hold).
    File(PathBuf),
}

impl Content {
    fn len(&self) -> std::io::Result<u64> {
        match self {
            Content::Memory(b) => Ok(b.len() as u64),
            Content::File(p) => Ok(std::fs::metadata(p)?.len()),
        }
    }

    fn sha256(&self) -> std::io::Result<[u8; 32]> {
        let mut h = Sha256::new();
        match self {
            Content::Memory(b) => h.update(b),
            Content::File(p) => {
                let f = File::open(p)?;
                let mut buf = vec![0u8; 1 << 20];
                let mut off = 0;
                loop {
                    let n = f.read_at(&mut buf, off)?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                    off += n as u64;
                }
            }
        }
        Ok(h.finalize().into())
    }
}

/// A small file served beside the content (a checksum list, say), as `text/plain`.
#[derive(Clone, Debug)]
pub struct ExtraFile {
    pub path: String,
    pub body: Bytes,
    /// Wait this long before answering (a slow server).
    pub delay: Option<Duration>,
}

/// Faults injected into responses.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// The first this many GETs are answered `500 Internal Server Error`.
    pub fail_first_gets: u64,
    /// Drop the connection after this many body bytes of a response ...
    pub drop_after_bytes: Option<u64>,
    /// ... for this many responses (then serve normally).
    pub drop_times: u64,
    /// The content's bodies start only once this path was asked for (at most 30 s
    /// later): a test that needs a side request (a checksum list) answered before the
    /// content ends can be sure of the order, however loaded the machine.
    pub content_waits_for: Option<String>,
    /// Content bodies wait while the origin is held (each at most 30 s): from the
    /// start with this, and whenever [`TestOrigin::hold`] or `GET /_hold` says so,
    /// until [`TestOrigin::release`] or `GET /_release`. A test that needs peers to
    /// meet before the origin could finish holds it until they have.
    pub held: bool,
}

#[derive(Clone, Debug)]
pub struct OriginConfig {
    /// The content's versions: version 0 first, the next one after
    /// `change_after_gets` GETs (each with its own validators).
    pub versions: Vec<Content>,
    pub change_after_gets: Option<u64>,
    /// The path that serves the content; anything else is 404.
    pub path: String,
    /// A path that answers `302 Found` to `path`.
    pub redirect_from: Option<String>,
    /// Redirects hand out signed links (`path?sig=N`) that expire after this many
    /// GETs: a stale signature gets `403`, as with a CDN's short-lived URLs.
    pub signed_redirect_gets: Option<u64>,
    /// A size HEAD claims instead of the true one (a lying or broken server).
    pub head_size: Option<u64>,
    pub ranges: bool,
    pub repr_digest: bool,
    /// `Repr-Digest` only to requests that ask for SHA-256 with `Want-Repr-Digest`,
    /// as a server that computes digests on demand answers.
    pub repr_digest_when_wanted: bool,
    pub etag: bool,
    pub last_modified: bool,
    pub content_disposition: Option<String>,
    /// Bytes per second for each connection; `None` is unthrottled.
    pub throttle_per_connection: Option<u64>,
    /// Bytes per second for all connections together (the server's uplink, as a
    /// busy server shares it); `None` is unthrottled.
    pub throttle_total: Option<u64>,
    /// Publish a Metalink 4 document at `<path>.meta4` (RFC 5854) with the SHA-256
    /// and the 16 KiB piece hashes of version 0, and point at it from every content
    /// response with `Link: rel=describedby` (RFC 6249).
    pub metalink: bool,
    /// More `Link` header values sent with every content response, such as
    /// `<https://mirror/x>; rel=duplicate; pri=1` (RFC 6249 mirrors).
    pub links: Vec<String>,
    /// A path that answers the origin's counters as JSON (`body_bytes`, `gets`,
    /// `unranged_get_bytes`), for a test origin running as its own process.
    pub stats_path: Option<String>,
    /// A path that serves an HTML page linking to the content (`<a download>`), as a
    /// publisher's download page does: what a browser test clicks.
    pub page_path: Option<String>,
    /// Other files the origin serves (GET and HEAD).
    pub extra_files: Vec<ExtraFile>,
    /// Answer a GET of a directory (a path ending in `/`) with an HTML index of the
    /// files in it, as Apache's and nginx's autoindex do.
    pub directory_index: bool,
    pub faults: Faults,
}

impl OriginConfig {
    pub fn new(content: Content) -> Self {
        OriginConfig {
            versions: vec![content],
            change_after_gets: None,
            path: "/files/content.bin".into(),
            redirect_from: None,
            signed_redirect_gets: None,
            head_size: None,
            ranges: true,
            repr_digest: true,
            repr_digest_when_wanted: false,
            etag: true,
            last_modified: true,
            content_disposition: None,
            throttle_per_connection: None,
            throttle_total: None,
            metalink: false,
            links: Vec::new(),
            stats_path: None,
            page_path: None,
            extra_files: Vec::new(),
            directory_index: false,
            faults: Faults::default(),
        }
    }

    pub fn memory(data: impl Into<Bytes>) -> Self {
        OriginConfig::new(Content::Memory(data.into()))
    }
}

/// One request as the origin saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
    pub if_range: Option<String>,
    pub status: u16,
    /// Body bytes actually written for this response.
    pub body_bytes: u64,
    pub authorization: Option<String>,
    /// The request's `Want-Repr-Digest` (RFC 9530).
    pub want_repr_digest: Option<String>,
    pub query: Option<String>,
}

#[derive(Default, Debug)]
pub struct OriginStats {
    body_bytes: AtomicU64,
    gets: AtomicU64,
    requests: Mutex<Vec<Arc<Mutex<RequestRecord>>>>,
}

impl OriginStats {
    /// Body bytes written to all connections so far.
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes.load(Ordering::SeqCst)
    }

    pub fn gets(&self) -> u64 {
        self.gets.load(Ordering::SeqCst)
    }

    /// Requests made so far with `method`.
    pub fn count(&self, method: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method)
            .count()
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        let log = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        log.iter()
            .map(|r| r.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .collect()
    }

    fn record(&self, rec: RequestRecord) -> Arc<Mutex<RequestRecord>> {
        let rec = Arc::new(Mutex::new(rec));
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(rec.clone());
        rec
    }
}

/// Content as served: in memory, or a file mapped read-only so chunks go to the
/// socket without a copy (as a real server's sendfile would), keeping the origin's
/// own cost out of the measurements.
#[derive(Clone)]
enum Source {
    Memory(Bytes),
    Mapped(Arc<memmap2::Mmap>),
}

struct MappedSlice {
    map: Arc<memmap2::Mmap>,
    start: usize,
    end: usize,
}

impl AsRef<[u8]> for MappedSlice {
    fn as_ref(&self) -> &[u8] {
        &self.map[self.start..self.end]
    }
}

impl Source {
    fn open(content: &Content) -> std::io::Result<Source> {
        Ok(match content {
            Content::Memory(b) => Source::Memory(b.clone()),
            Content::File(p) => {
                let f = File::open(p)?;
                // The file is the test's own and is not modified while served.
                let map = unsafe { memmap2::Mmap::map(&f)? };
                Source::Mapped(Arc::new(map))
            }
        })
    }

    fn slice(&self, start: u64, end: u64) -> Bytes {
        match self {
            Source::Memory(b) => b.slice(start as usize..end as usize),
            Source::Mapped(map) => Bytes::from_owner(MappedSlice {
                map: map.clone(),
                start: start as usize,
                end: end as usize,
            }),
        }
    }
}

struct Version {
    source: Source,
    len: u64,
    sha256: [u8; 32],
    etag: String,
    last_modified: String,
}

struct Shared {
    cfg: OriginConfig,
    versions: Vec<Version>,
    stats: Arc<OriginStats>,
    drops_done: AtomicU64,
    uplink: Mutex<Throttle>,
    /// The Metalink document, when published.
    metalink: Option<Bytes>,
    /// Set by `GET /_arm`: the page's `?when=armed` variant then starts the download
    /// (for browsers a test cannot click in, once their extension is ready).
    armed: std::sync::atomic::AtomicBool,
    /// See [`Faults::held`].
    held: Arc<std::sync::atomic::AtomicBool>,
    /// Set by `GET /_hold_ranges`: only ranged bodies wait (a downloader's), not a
    /// browser's own whole-file GET, which a browser may not even show as a download
    /// before its first bytes.
    ranges_held: std::sync::atomic::AtomicBool,
}

/// A running origin; stops when dropped.
pub struct TestOrigin {
    addr: SocketAddr,
    stats: Arc<OriginStats>,
    versions: Vec<[u8; 32]>,
    path: String,
    held: Arc<std::sync::atomic::AtomicBool>,
    _stop: watch::Sender<bool>,
}

impl TestOrigin {
    /// Binds 127.0.0.1 on an ephemeral port and serves on the current tokio runtime.
    pub async fn start(cfg: OriginConfig) -> std::io::Result<TestOrigin> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        Self::serve(listener, cfg)
    }

    /// Serves on an already bound listener.
    pub fn serve(listener: TcpListener, cfg: OriginConfig) -> std::io::Result<TestOrigin> {
        let addr = listener.local_addr()?;
        let mut versions = Vec::new();
        for (i, content) in cfg.versions.iter().enumerate() {
            let sha256 = content.sha256()?;
            versions.push(Version {
                len: content.len()?,
                sha256,
                etag: format!("\"v{i}-{}\"", hex::encode(&sha256[..6])),
                last_modified: httpdate(i),
                source: Source::open(content)?,
            });
        }
        let stats = Arc::new(OriginStats::default());
        let held = Arc::new(std::sync::atomic::AtomicBool::new(cfg.faults.held));
        let shared = Arc::new(Shared {
            cfg: cfg.clone(),
            stats: stats.clone(),
            armed: std::sync::atomic::AtomicBool::new(false),
            held: held.clone(),
            ranges_held: std::sync::atomic::AtomicBool::new(false),
            drops_done: AtomicU64::new(0),
            uplink: Mutex::new(Throttle::new(cfg.throttle_total)),
            metalink: match (cfg.metalink, versions.first()) {
                (true, Some(v)) => Some(metalink_document(&cfg.path, v)),
                _ => None,
            },
            versions,
        });
        let digests = shared.versions.iter().map(|v| v.sha256).collect();
        let (stop, mut stopped) = watch::channel(false);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = stopped.changed() => return,
                };
                let Ok((tcp, _)) = accepted else { continue };
                let _ = tcp.set_nodelay(true);
                let shared = shared.clone();
                let mut stopped = stopped.clone();
                tokio::spawn(async move {
                    // Each connection has its own throttle, shared by the requests it
                    // carries one after another.
                    let bucket = Arc::new(Mutex::new(Throttle::new(
                        shared.cfg.throttle_per_connection,
                    )));
                    let svc = service_fn(move |req| {
                        let shared = shared.clone();
                        let bucket = bucket.clone();
                        async move { Ok::<_, Infallible>(respond(&shared, req, bucket)) }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc);
                    tokio::select! {
                        _ = conn => {}
                        _ = stopped.changed() => {}
                    }
                });
            }
        });
        Ok(TestOrigin {
            addr,
            stats,
            versions: digests,
            path: cfg.path,
            held,
            _stop: stop,
        })
    }

    /// Content bodies wait from now on (see [`Faults::held`]).
    pub fn hold(&self) {
        self.held.store(true, Ordering::SeqCst);
    }

    /// Waiting and later content bodies go on.
    pub fn release(&self) {
        self.held.store(false, Ordering::SeqCst);
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL of the content.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, self.path)
    }

    /// The URL of another path on this origin.
    pub fn url_of(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn stats(&self) -> &OriginStats {
        &self.stats
    }

    /// SHA-256 of version `v`.
    pub fn sha256(&self, v: usize) -> [u8; 32] {
        self.versions[v]
    }

    pub fn sha256_hex(&self, v: usize) -> String {
        hex::encode(self.versions[v])
    }
}

type Body = BoxBody<Bytes, std::io::Error>;

fn empty(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::new()).map_err(|e| match e {}).boxed());
    *r.status_mut() = status;
    r
}

fn header(req: &Request<Incoming>, name: header::HeaderName) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn respond(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    bucket: Arc<Mutex<Throttle>>,
) -> Response<Body> {
    let cfg = &shared.cfg;
    let stats = &shared.stats;
    let path = req.uri().path().to_string();
    let req_query = req.uri().query().map(str::to_string);
    let mut rec = RequestRecord {
        method: req.method().to_string(),
        path: path.clone(),
        range: header(&req, header::RANGE),
        if_range: header(&req, header::IF_RANGE),
        status: 200,
        body_bytes: 0,
        authorization: header(&req, header::AUTHORIZATION),
        want_repr_digest: header(&req, header::HeaderName::from_static("want-repr-digest")),
        query: req.uri().query().map(str::to_string),
    };
    // The current signature of signed links: one per `signed_redirect_gets` GETs.
    let epoch = cfg
        .signed_redirect_gets
        .map(|n| stats.gets.load(Ordering::SeqCst) / n.max(1));
    if cfg.redirect_from.as_deref() == Some(path.as_str()) {
        rec.status = 302;
        stats.record(rec);
        let mut r = empty(StatusCode::FOUND);
        let target = match epoch {
            Some(e) => format!("{}?sig={e}", cfg.path),
            None => cfg.path.clone(),
        };
        if let Ok(v) = HeaderValue::from_str(&target) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        return r;
    }
    if cfg.stats_path.as_deref() == Some(path.as_str()) {
        // Whole-file GETs (no Range) are what a browser's own download makes; the
        // host's requests are ranged.
        let unranged: u64 = stats
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.range.is_none())
            .map(|r| r.body_bytes)
            .sum();
        let body = format!(
            r#"{{"body_bytes": {}, "gets": {}, "unranged_get_bytes": {unranged}}}"#,
            stats.body_bytes(),
            stats.gets()
        );
        return Response::new(Full::new(Bytes::from(body)).map_err(|e| match e {}).boxed());
    }
    if matches!(path.as_str(), "/_hold" | "/_hold_ranges" | "/_release") {
        shared.held.store(path == "/_hold", Ordering::SeqCst);
        shared
            .ranges_held
            .store(path == "/_hold_ranges", Ordering::SeqCst);
        return Response::new(Full::new(Bytes::from("ok")).map_err(|e| match e {}).boxed());
    }
    if cfg.page_path.is_some() && (path == "/_arm" || path == "/_armed") {
        if path == "/_arm" {
            shared.armed.store(true, Ordering::SeqCst);
        }
        let armed = shared.armed.load(Ordering::SeqCst);
        return Response::new(
            Full::new(Bytes::from(if armed { "yes" } else { "no" }))
                .map_err(|e| match e {})
                .boxed(),
        );
    }
    if cfg.directory_index && path.ends_with('/') {
        stats.record(rec);
        // Apache's layout: a table of links, parent first, names relative.
        let mut rows = String::from("<tr><td><a href=\"../\">Parent Directory</a></td></tr>\n");
        let files = std::iter::once(cfg.path.as_str())
            .chain(cfg.extra_files.iter().map(|f| f.path.as_str()));
        for f in files {
            if let Some(name) = f.strip_prefix(path.as_str()).filter(|n| !n.contains('/')) {
                rows.push_str(&format!(
                    "<tr><td><a href=\"{name}\">{name}</a></td><td align=\"right\">2024-05-01 12:00</td></tr>\n"
                ));
            }
        }
        let body = format!(
            "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n<html><head><title>Index of {path}</title></head>\n\
             <body><h1>Index of {path}</h1><table>\n{rows}</table></body></html>\n"
        );
        let mut r = Response::new(Full::new(Bytes::from(body)).map_err(|e| match e {}).boxed());
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html;charset=UTF-8"),
        );
        return r;
    }
    if let Some(extra) = cfg.extra_files.iter().find(|f| f.path == path) {
        stats.record(rec);
        let bytes = if req.method() == Method::HEAD {
            Bytes::new()
        } else {
            extra.body.clone()
        };
        // A slow server: the headers at once, the body after the delay.
        let delay = extra.delay;
        let body = stream::once(async move {
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            Ok::<_, Infallible>(Frame::data(bytes))
        });
        let mut r = Response::new(StreamBody::new(body).map_err(|e| match e {}).boxed());
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        return r;
    }
    if cfg.page_path.as_deref() == Some(path.as_str()) {
        stats.record(rec);
        let name = cfg.path.rsplit('/').next().unwrap_or("content.bin");
        // The link a user clicks: the redirecting one, when there is one.
        let href = cfg.redirect_from.as_deref().unwrap_or(&cfg.path);
        // `?when=armed`: the page itself navigates to the file once `/_arm` was asked.
        let auto = if req_query.as_deref() == Some("when=armed") {
            format!(
                "<script>(async () => {{ while ((await (await fetch('/_armed')).text()) !== 'yes') \
                 await new Promise((r) => setTimeout(r, 100)); location.href = '{href}'; }})();</script>"
            )
        } else {
            String::new()
        };
        let body = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Downloads</title></head>\
             <body><h1>Downloads</h1><p><a id=\"file\" href=\"{href}\" download>{name}</a></p>{auto}</body></html>"
        );
        let mut r = Response::new(Full::new(Bytes::from(body)).map_err(|e| match e {}).boxed());
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        return r;
    }
    if let Some(doc) = &shared.metalink
        && path == format!("{}.meta4", cfg.path)
    {
        stats.record(rec);
        let mut r = Response::new(Full::new(doc.clone()).map_err(|e| match e {}).boxed());
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/metalink4+xml"),
        );
        return r;
    }
    if path != cfg.path {
        rec.status = 404;
        stats.record(rec);
        return empty(StatusCode::NOT_FOUND);
    }
    if let Some(e) = epoch
        && rec.query.as_deref() != Some(format!("sig={e}").as_str())
    {
        rec.status = 403;
        stats.record(rec);
        return empty(StatusCode::FORBIDDEN);
    }
    let is_get = req.method() == Method::GET;
    if !is_get && req.method() != Method::HEAD {
        rec.status = 405;
        stats.record(rec);
        return empty(StatusCode::METHOD_NOT_ALLOWED);
    }
    let gets_before = if is_get {
        stats.gets.fetch_add(1, Ordering::SeqCst)
    } else {
        stats.gets.load(Ordering::SeqCst)
    };
    if is_get && gets_before < cfg.faults.fail_first_gets {
        rec.status = 500;
        stats.record(rec);
        return empty(StatusCode::INTERNAL_SERVER_ERROR);
    }
    let version = match cfg.change_after_gets {
        Some(n) if gets_before >= n => shared.versions.len() - 1,
        _ => 0,
    };
    let v = &shared.versions[version];
    // A Range is honoured only when If-Range (if any) names the current version.
    let if_range_ok = rec
        .if_range
        .as_deref()
        .is_none_or(|t| t == v.etag || t == v.last_modified);
    let range = match (&rec.range, cfg.ranges && if_range_ok) {
        (Some(r), true) => match parse_range(r, v.len) {
            Some(r) => Some(r),
            None => {
                rec.status = 416;
                stats.record(rec);
                let mut resp = empty(StatusCode::RANGE_NOT_SATISFIABLE);
                if let Ok(h) = HeaderValue::from_str(&format!("bytes */{}", v.len)) {
                    resp.headers_mut().insert(header::CONTENT_RANGE, h);
                }
                return resp;
            }
        },
        _ => None,
    };
    let (start, end) = range.unwrap_or((0, v.len));
    rec.status = if range.is_some() { 206 } else { 200 };
    let record = stats.record(rec.clone());
    let drop_at = match cfg.faults.drop_after_bytes {
        Some(n)
            if is_get
                && shared.drops_done.fetch_add(1, Ordering::SeqCst) < cfg.faults.drop_times =>
        {
            Some(n)
        }
        _ => None,
    };
    let body: Body = if is_get {
        body_stream(
            shared.clone(),
            v.source.clone(),
            (start, end),
            range.is_some(),
            drop_at,
            bucket,
            record,
        )
    } else {
        Full::new(Bytes::new()).map_err(|e| match e {}).boxed()
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = if range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let h = resp.headers_mut();
    let mut set = |name: header::HeaderName, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    let length = match cfg.head_size {
        Some(n) if !is_get => n,
        _ => end - start,
    };
    set(header::CONTENT_LENGTH, length.to_string());
    set(header::CONTENT_TYPE, "application/octet-stream".into());
    if cfg.ranges {
        set(header::ACCEPT_RANGES, "bytes".into());
    }
    if range.is_some() {
        set(
            header::CONTENT_RANGE,
            format!("bytes {}-{}/{}", start, end.saturating_sub(1), v.len),
        );
    }
    if cfg.etag {
        set(header::ETAG, v.etag.clone());
    }
    if cfg.last_modified {
        set(header::LAST_MODIFIED, v.last_modified.clone());
    }
    if let Some(cd) = &cfg.content_disposition {
        set(header::CONTENT_DISPOSITION, cd.clone());
    }
    if cfg.metalink {
        let name = cfg.path.rsplit('/').next().unwrap_or_default();
        set(
            header::LINK,
            format!("<{name}.meta4>; rel=describedby; type=\"application/metalink4+xml\""),
        );
    }
    let wanted = rec
        .want_repr_digest
        .as_deref()
        .is_some_and(|w| w.to_ascii_lowercase().contains("sha-256"));
    if cfg.repr_digest && (wanted || !cfg.repr_digest_when_wanted) {
        let b64 = base64::engine::general_purpose::STANDARD.encode(v.sha256);
        set(
            header::HeaderName::from_static("repr-digest"),
            format!("sha-256=:{b64}:"),
        );
    }
    for link in &cfg.links {
        if let Ok(v) = HeaderValue::from_str(link) {
            resp.headers_mut().append(header::LINK, v);
        }
    }
    resp
}

/// A Metalink 4 document for `v`: its size, SHA-256 and 16 KiB piece hashes.
fn metalink_document(path: &str, v: &Version) -> Bytes {
    let name = path.rsplit('/').next().unwrap_or_default();
    let mut pieces = String::new();
    let mut off = 0;
    while off < v.len {
        let end = (off + 16384).min(v.len);
        let block = v.source.slice(off, end);
        pieces.push_str(&format!(
            "<hash>{}</hash>",
            hex::encode(Sha256::digest(&block))
        ));
        off = end;
    }
    Bytes::from(format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<metalink xmlns="urn:ietf:params:xml:ns:metalink">
  <file name="{name}">
    <size>{}</size>
    <hash type="sha-256">{}</hash>
    <pieces length="16384" type="sha-256">{pieces}</pieces>
  </file>
</metalink>
"#,
        v.len,
        hex::encode(v.sha256)
    ))
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` (one range only) → `[start, end)`.
fn parse_range(value: &str, len: u64) -> Option<(u64, u64)> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        (len.saturating_sub(n), len)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            len
        } else {
            b.parse::<u64>().ok()?.saturating_add(1).min(len)
        };
        (start, end)
    };
    (start < end && start < len).then_some((start, end))
}

fn httpdate(version: usize) -> String {
    // Fixed dates, one per version: validators must differ between versions and stay
    // the same between requests.
    format!("Mon, 0{} Jan 2024 00:00:00 GMT", (version % 9) + 1)
}

const CHUNK: u64 = 256 * 1024;

fn body_stream(
    shared: Arc<Shared>,
    source: Source,
    (start, end): (u64, u64),
    ranged: bool,
    drop_at: Option<u64>,
    bucket: Arc<Mutex<Throttle>>,
    record: Arc<Mutex<RequestRecord>>,
) -> Body {
    let state = (start, 0u64);
    let s = stream::unfold(state, move |(pos, sent)| {
        let shared = shared.clone();
        let source = source.clone();
        let bucket = bucket.clone();
        let record = record.clone();
        async move {
            if pos >= end {
                return None;
            }
            if sent == 0 {
                let gate = shared.cfg.faults.content_waits_for.as_ref();
                for _ in 0..3000 {
                    let closed =
                        gate.is_some_and(|g| !shared.stats.requests().iter().any(|r| &r.path == g));
                    let held = shared.held.load(Ordering::SeqCst)
                        || (ranged && shared.ranges_held.load(Ordering::SeqCst));
                    if !closed && !held {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            if drop_at.is_some_and(|d| sent >= d) {
                // Give the connection time to carry what was sent, so the client
                // sees the bytes and then the break, as with a real reset.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let err = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "fault");
                return Some((Err(err), (end, sent)));
            }
            let mut n = CHUNK.min(end - pos);
            if let Some(d) = drop_at {
                n = n.min(d - sent);
            }
            let per_connection = {
                let mut b = bucket.lock().unwrap_or_else(|e| e.into_inner());
                n = b.grant(n);
                b.delay()
            };
            let uplink = {
                let mut b = shared.uplink.lock().unwrap_or_else(|e| e.into_inner());
                n = b.grant(n);
                b.delay()
            };
            let wait = per_connection.max(uplink);
            if let Some(w) = wait {
                tokio::time::sleep(w).await;
            }
            let chunk = source.slice(pos, pos + n);
            shared.stats.body_bytes.fetch_add(n, Ordering::SeqCst);
            record.lock().unwrap_or_else(|e| e.into_inner()).body_bytes += n;
            Some((Ok(Frame::data(chunk)), (pos + n, sent + n)))
        }
    });
    StreamBody::new(s).boxed()
}

/// Per-connection pacing: grants chunk sizes and tells how long to wait before
/// sending them so the connection averages `rate` bytes per second.
struct Throttle {
    rate: Option<u64>,
    start: Instant,
    granted: u64,
}

impl Throttle {
    fn new(rate: Option<u64>) -> Self {
        Throttle {
            rate,
            start: Instant::now(),
            granted: 0,
        }
    }

    /// Caps a chunk to about 1/20 s of transfer, so pacing stays smooth.
    fn grant(&mut self, want: u64) -> u64 {
        let Some(rate) = self.rate else {
            return want;
        };
        // Time spent idle (between requests) earns no credit: no bursts.
        let behind = self.start.elapsed().as_secs_f64() - self.granted as f64 / rate as f64;
        if behind > 0.05 {
            self.start = Instant::now();
            self.granted = 0;
        }
        let n = want.min((rate / 20).max(1024));
        self.granted += n;
        n
    }

    fn delay(&self) -> Option<Duration> {
        let rate = self.rate? as f64;
        let due = Duration::from_secs_f64(self.granted as f64 / rate);
        due.checked_sub(self.start.elapsed())
    }
}

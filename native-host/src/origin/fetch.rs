//! Ranged fetches for the engine: each `FetchOrigin` becomes one task that streams
//! the range in order, retries resets, timeouts and 5xx with backoff (resuming where
//! it broke off), and checks every response against the validators the probe saw, so
//! that bytes of two versions of a file never mix.

use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use swarmload_core::engine::{Event, OriginError};
use tokio::sync::mpsc;

use super::OriginInfo;
use super::mirrors::{Mirrors, Source};
use super::response::{content_length, content_range, without_url};

/// Attempts in a row that move no byte before the engine hears of the failure (it
/// then backs off and asks again, possibly for a different range).
const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// Paces all origin reads together to `max_download_bytes_per_sec`.
pub struct Pacer {
    rate: f64,
    next_free: Mutex<Instant>,
}

impl Pacer {
    pub fn new(bytes_per_sec: u64) -> Option<Arc<Pacer>> {
        (bytes_per_sec > 0).then(|| {
            Arc::new(Pacer {
                rate: bytes_per_sec as f64,
                next_free: Mutex::new(Instant::now()),
            })
        })
    }

    async fn take(&self, n: usize) {
        let start = {
            let mut next = self.next_free.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let start = (*next).max(now);
            *next = start + Duration::from_secs_f64(n as f64 / self.rate);
            start
        };
        tokio::time::sleep_until(start.into()).await;
    }
}

#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    info: Arc<OriginInfo>,
    /// Where ranges are fetched from: the probe's final URL, renewed when a signed
    /// redirect target expires.
    url: Arc<Mutex<url::Url>>,
    headers: HeaderMap,
    pacer: Option<Arc<Pacer>>,
    /// Whether a broken response may be resumed at the byte where it broke. Not
    /// without a validator or a digest: nothing would tell if the rest belongs to
    /// another version.
    resumable: bool,
    /// Other servers with the same bytes; empty unless the digest is trusted.
    mirrors: Arc<Mirrors>,
}

/// Why one attempt ended early.
enum Broke {
    Retry(String),
    Fatal(String),
    Changed,
    /// The engine is gone or cancelled the range.
    Closed,
    /// A mirror failed; `fatal` when it will not do better (another size, no
    /// ranges, refused).
    Mirror {
        mirror: usize,
        fatal: bool,
        why: String,
    },
}

impl Fetcher {
    pub fn new(
        client: reqwest::Client,
        info: Arc<OriginInfo>,
        headers: HeaderMap,
        pacer: Option<Arc<Pacer>>,
        resumable: bool,
        mirrors: Arc<Mirrors>,
    ) -> Self {
        Fetcher {
            client,
            url: Arc::new(Mutex::new(info.url.clone())),
            info,
            headers,
            pacer,
            resumable,
            mirrors,
        }
    }

    fn current_url(&self) -> url::Url {
        self.url.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// After a 401/403/410 from a redirect target: ask the URL the user gave again
    /// (signed download links expire). Same version, new target → retry there.
    async fn renew(&self) -> Result<(), Broke> {
        let resp = self
            .client
            .head(self.info.requested.clone())
            .headers(self.headers.clone())
            .send()
            .await
            .map_err(|e| Broke::Retry(without_url(e)))?;
        if !resp.status().is_success() {
            return Err(Broke::Fatal(format!(
                "the origin answered {}",
                resp.status()
            )));
        }
        if self.changed(resp.headers(), true) {
            return Err(Broke::Changed);
        }
        let mut fresh = resp.url().clone();
        fresh.set_fragment(None);
        *self.url.lock().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    /// Streams `range` to `tx` as `OriginData` events, then `OriginEnd` (or one
    /// `OriginError`). Abort the task to cancel.
    pub fn spawn(
        &self,
        request: u64,
        range: Range<u64>,
        tx: mpsc::Sender<Event>,
    ) -> tokio::task::JoinHandle<()> {
        let f = self.clone();
        tokio::spawn(async move { f.run(request, range, tx).await })
    }

    async fn run(self, request: u64, range: Range<u64>, tx: mpsc::Sender<Event>) {
        let mut pos = range.start;
        let mut failures = 0;
        let error = loop {
            let before = pos;
            let source = self.mirrors.pick();
            let result = self
                .attempt(request, &mut pos, range.end, &tx, source.source())
                .await;
            drop(source);
            match result {
                Ok(()) => {
                    let _ = tx.send(Event::OriginEnd { request }).await;
                    return;
                }
                Err(Broke::Closed) => return,
                // A mirror's trouble is the mirror's: the range goes on elsewhere.
                Err(Broke::Mirror { mirror, fatal, why }) => {
                    self.mirrors.failed(mirror, fatal, &why);
                    // A pause, so a mirror that fails at once is not hammered.
                    tokio::time::sleep(FIRST_BACKOFF).await;
                }
                Err(Broke::Fatal(why)) => break OriginError::Fatal(why),
                Err(Broke::Changed) => break OriginError::ContentChanged,
                Err(Broke::Retry(why)) => {
                    if pos > before {
                        failures = 0;
                    }
                    failures += 1;
                    tracing::debug!(request, pos, failures, "origin attempt failed: {why}");
                    if failures >= ATTEMPTS {
                        break OriginError::Retryable(why);
                    }
                    tokio::time::sleep(FIRST_BACKOFF * 2u32.pow(failures - 1)).await;
                }
            }
        };
        let _ = tx.send(Event::OriginError { request, error }).await;
    }

    /// One request for `[*pos, end)`; advances `*pos` past every byte handed on.
    async fn attempt(
        &self,
        request: u64,
        pos: &mut u64,
        end: u64,
        tx: &mpsc::Sender<Event>,
        source: Source,
    ) -> Result<(), Broke> {
        if let Source::Mirror(i) = source {
            let start = *pos;
            let result = self.attempt_mirror(request, pos, end, tx, i).await;
            self.mirrors.delivered(i, *pos - start);
            return result;
        }
        let info = &self.info;
        if *pos > 0 && !self.resumable {
            return Err(Broke::Fatal(
                "the connection broke, and with no ETag, Last-Modified or digest the \
                 download cannot be resumed safely; run it again"
                    .into(),
            ));
        }
        let url = self.current_url();
        let mut req = self.client.get(url.clone()).headers(self.headers.clone());
        let ranged = info.ranges && (*pos > 0 || end < info.size);
        if ranged {
            req = req.header(header::RANGE, format!("bytes={}-{}", *pos, end - 1));
            if let Some(v) = info.if_range() {
                req = req.header(header::IF_RANGE, v);
            }
        }
        let resp = req.send().await.map_err(|e| Broke::Retry(without_url(e)))?;
        let status = resp.status();
        let h = resp.headers();
        // Bytes to throw away before `*pos` (a full response to a ranged need).
        let mut skip = 0u64;
        match status {
            StatusCode::PARTIAL_CONTENT if ranged => {
                let (s, e, total) = content_range(h)
                    .ok_or_else(|| Broke::Retry("206 without a usable Content-Range".into()))?;
                if total != info.size {
                    return Err(Broke::Changed);
                }
                if s != *pos || e < end {
                    return Err(Broke::Retry(format!(
                        "asked for {}-{}, got {s}-{e}",
                        *pos, end
                    )));
                }
            }
            StatusCode::OK => {
                let len = content_length(h);
                if len.is_some_and(|l| l != info.size) {
                    return Err(Broke::Changed);
                }
                // A ranged request answered in full: If-Range found another version,
                // or the server stopped honouring ranges; validators tell which.
                skip = *pos;
            }
            StatusCode::PRECONDITION_FAILED | StatusCode::RANGE_NOT_SATISFIABLE => {
                return Err(Broke::Changed);
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::GONE
                if url != info.requested =>
            {
                self.renew().await?;
                return Err(Broke::Retry(format!(
                    "{status} from the redirect target; asked the link again"
                )));
            }
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
                return Err(Broke::Retry(format!("the origin answered {s}")));
            }
            s => return Err(Broke::Fatal(format!("the origin answered {s}"))),
        }
        // A full response to a ranged need must prove it is the same version.
        if self.changed(h, skip > 0) {
            return Err(Broke::Changed);
        }
        self.stream(request, resp, skip, pos, end, tx).await
    }

    /// Hands the response's bytes from `*pos` to `end` on, after dropping `skip`.
    async fn stream(
        &self,
        request: u64,
        resp: reqwest::Response,
        mut skip: u64,
        pos: &mut u64,
        end: u64,
        tx: &mpsc::Sender<Event>,
    ) -> Result<(), Broke> {
        let mut body = resp.bytes_stream();
        while *pos < end {
            let chunk = match body.next().await {
                Some(Ok(c)) => c,
                Some(Err(e)) => return Err(Broke::Retry(without_url(e))),
                None => return Err(Broke::Retry("the response ended early".into())),
            };
            let mut chunk: Bytes = chunk;
            if skip > 0 {
                let n = skip.min(chunk.len() as u64);
                skip -= n;
                chunk = chunk.slice(n as usize..);
            }
            let room = (end - *pos).min(chunk.len() as u64) as usize;
            if room == 0 {
                continue;
            }
            let data = chunk.slice(..room);
            if let Some(p) = &self.pacer {
                p.take(data.len()).await;
            }
            let len = data.len() as u64;
            tx.send(Event::OriginData {
                request,
                offset: *pos,
                data,
            })
            .await
            .map_err(|_| Broke::Closed)?;
            *pos += len;
        }
        Ok(())
    }

    /// One request for `[*pos, end)` at mirror `i`. Its validators are its own, so
    /// none is sent or compared: the size must match, and the trusted digest checks
    /// the bytes.
    async fn attempt_mirror(
        &self,
        request: u64,
        pos: &mut u64,
        end: u64,
        tx: &mpsc::Sender<Event>,
        i: usize,
    ) -> Result<(), Broke> {
        let failed = |fatal: bool, why: String| Broke::Mirror {
            mirror: i,
            fatal,
            why,
        };
        let url = self.mirrors.get(i).url.clone();
        let ranged = *pos > 0 || end < self.info.size;
        // The page the user was on is the origin's business, not a mirror's.
        let mut headers = self.headers.clone();
        headers.remove(header::REFERER);
        let client = self
            .mirrors
            .client()
            .ok_or_else(|| failed(true, "no client for mirrors".into()))?;
        let mut req = client.get(url).headers(headers);
        if ranged {
            req = req.header(header::RANGE, format!("bytes={}-{}", *pos, end - 1));
        }
        let resp = req
            .send()
            .await
            .map_err(|e| failed(false, without_url(e)))?;
        if self.info.url.scheme() == "https" && resp.url().scheme() != "https" {
            return Err(failed(true, "it redirected off HTTPS".into()));
        }
        let status = resp.status();
        let h = resp.headers();
        match status {
            StatusCode::PARTIAL_CONTENT if ranged => {
                let (s, e, total) = content_range(h)
                    .ok_or_else(|| failed(true, "206 without a usable Content-Range".into()))?;
                if total != self.info.size {
                    return Err(failed(
                        true,
                        format!("it has {total} bytes, the origin {}", self.info.size),
                    ));
                }
                if s != *pos || e < end {
                    return Err(failed(
                        false,
                        format!("asked for {}-{}, got {s}-{e}", *pos, end),
                    ));
                }
            }
            StatusCode::OK if !ranged => {
                let len = content_length(h);
                if len != Some(self.info.size) {
                    return Err(failed(
                        true,
                        format!("it has {len:?} bytes, the origin {}", self.info.size),
                    ));
                }
            }
            StatusCode::OK => return Err(failed(true, "it does not serve ranges".into())),
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
                return Err(failed(false, format!("it answered {s}")));
            }
            s => return Err(failed(true, format!("it answered {s}"))),
        }
        match self.stream(request, resp, 0, pos, end, tx).await {
            Err(Broke::Retry(why)) => Err(failed(false, why)),
            other => other,
        }
    }

    /// Whether a response names a different version than the probe saw. With
    /// `strict`, a validator the probe saw must be present, not merely not differ.
    fn changed(&self, h: &HeaderMap, strict: bool) -> bool {
        let get = |name: header::HeaderName| h.get(name).and_then(|v| v.to_str().ok());
        let differs = |ours: &Option<String>, theirs: Option<&str>| match (ours, theirs) {
            (Some(o), Some(t)) => o.trim() != t.trim(),
            (Some(_), None) => strict,
            (None, _) => false,
        };
        differs(&self.info.etag, get(header::ETAG))
            || differs(&self.info.last_modified, get(header::LAST_MODIFIED))
    }
}

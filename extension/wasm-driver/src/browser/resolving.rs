//! The browser-only peer's hands for the core's resolver
//! (`swarmload_core::resolve`): the probe's first-byte `GET`, read by the core; then
//! the documents the resolver asks for, through `fetch()` without credentials, and
//! the page's clock. The look-up holds the paused download, so it runs within
//! `Budgets::HOLDING_DOWNLOAD`. What to fetch, in which order and what it means is
//! the core's, as in the native host.

use std::cell::RefCell;

use futures_util::StreamExt;
use futures_util::future::{Either, select};
use futures_util::stream::FuturesUnordered;
use serde::Serialize;
use url::Url;
use wasm_bindgen_futures::JsFuture;
use web_sys::AbortController;

use super::origin::{fetch_bounded, probe_response};
use super::{now, now_ms};
use swarmload_core::resolve::probe::{Asked, ProbeStep};
use swarmload_core::resolve::{
    Action, Budgets, DirectoryMemory, Document, Fetch, NoDocument, Probe, ProbeError, Resolver,
    Setup, read_response,
};
use swarmload_core::trusted_digest::{DigestSource, parse_url_fragment};

thread_local! {
    /// Directories without checksum lists, across this page's downloads.
    static MEMORY: RefCell<DirectoryMemory> = RefCell::new(DirectoryMemory::new());
}

/// What the probe and the look-up learnt of a URL, as the extension reads it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProbeReport {
    pub status: u16,
    pub size: Option<u64>,
    /// The trusted SHA-256 (hex), when one was found.
    pub sha256: Option<String>,
    /// Where the digest came from, named as the host names it (`DigestSource`):
    /// `header`, `explicit` (the URL's `#sha256=`), `metalink` or `checksum_file`.
    pub digest_source: Option<DigestSource>,
    /// The checksum list that gave the digest.
    pub checksum_list: Option<String>,
    /// A malformed digest header, or a Metalink that contradicts the headers, said
    /// plainly.
    pub digest_error: Option<String>,
    /// Why no digest was found.
    pub why_not_p2p: Option<String>,
    pub ranges: bool,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// The origin's `Content-Type`, which the delivered file keeps.
    pub content_type: Option<String>,
}

impl ProbeReport {
    fn of(status: u16, p: &Probe) -> ProbeReport {
        ProbeReport {
            status,
            size: Some(p.size),
            sha256: p.digest.map(|d| d.to_hex()),
            digest_source: p.digest_source,
            ranges: p.ranges,
            etag: p.etag.clone(),
            last_modified: p.last_modified.clone(),
            content_type: p.content_type.clone(),
            ..ProbeReport::default()
        }
    }
}

/// Probes `url` and looks for its digest beside `link` (the link the user clicked,
/// before redirects; `None`: beside `url`).
pub async fn probe_and_resolve(url: &str, link: Option<Url>) -> Result<ProbeReport, String> {
    let requested = Url::parse(url).map_err(|e| e.to_string())?;
    let (status, at, headers) = probe_response(url).await?;
    let probe = match read_response(&requested, Asked::FirstByte, status, &at, &headers) {
        Ok(ProbeStep::Known(p)) => *p,
        // A content of unknown size: the extension leaves it to the browser, but the
        // report still says what the link itself names.
        Err(ProbeError::UnknownSize) => {
            let named = parse_url_fragment(url).ok().flatten();
            return Ok(ProbeReport {
                status,
                sha256: named.map(|d| d.to_hex()),
                digest_source: named.map(|_| DigestSource::Explicit),
                ..ProbeReport::default()
            });
        }
        Ok(ProbeStep::AskFirstByte) | Err(ProbeError::Status(_)) => {
            return Ok(ProbeReport {
                status,
                ..ProbeReport::default()
            });
        }
        Err(e) => {
            return Ok(ProbeReport {
                status,
                digest_error: Some(e.to_string()),
                ..ProbeReport::default()
            });
        }
    };
    let setup = Setup {
        beside: link,
        ..Setup::whole(Budgets::HOLDING_DOWNLOAD)
    };
    let resolver = MEMORY.with(|m| Resolver::new(probe.clone(), setup, &m.borrow(), now()));
    let mut report = ProbeReport::of(status, &probe);
    match drive(resolver).await {
        Err(e) => report.digest_error = Some(e.to_string()),
        Ok((probed, resolution)) => {
            if let Some(p) = probed {
                report = ProbeReport::of(status, &p);
            }
            if let Some(r) = resolution {
                if let Some(f) = r.found {
                    report.sha256 = Some(f.sha256.to_hex());
                    report.digest_source = Some(f.source);
                    report.checksum_list = f.list.map(String::from);
                }
                report.why_not_p2p = r.reason.map(|r| r.to_string());
            }
        }
    }
    Ok(report)
}

/// Runs `r` to its end; every fetch still out then is aborted.
async fn drive(
    mut r: Resolver,
) -> Result<(Option<Probe>, Option<swarmload_core::resolve::Resolution>), ProbeError> {
    let abort = AbortController::new().map_err(|_| ProbeError::UnknownSize)?;
    let signal = abort.signal();
    let (mut probed, mut resolution) = (None, None);
    let mut work = FuturesUnordered::new();
    let outcome = 'drive: loop {
        while let Some(action) = r.poll_action() {
            match action {
                Action::Fetch(f) => {
                    let signal = signal.clone();
                    work.push(async move {
                        let id = f.id.clone();
                        (id, fetch(f, &signal).await)
                    });
                }
                // The browser-only peer belongs to no group.
                Action::LookUpGroup(_) => r.handle_group(None),
                Action::Probed(p) => probed = Some(*p),
                Action::Refused(e) => break 'drive Err(e),
                Action::Done(res) => {
                    MEMORY.with(|m| res.teach(&mut m.borrow_mut(), now()));
                    resolution = Some(res);
                }
            }
        }
        if r.is_done() {
            break Ok((probed.take(), resolution.take()));
        }
        let wait = r
            .poll_timeout()
            .map(|t| crate::dto::time_to_ms(t) - now_ms());
        if work.is_empty() {
            // Nothing is being fetched: only the clock can move the resolver on.
            sleep(wait).await;
            r.handle_timeout(now());
            continue;
        }
        match select(work.next(), Box::pin(sleep(wait))).await {
            Either::Left((Some((id, got)), _)) => r.handle_document(now(), id, got),
            Either::Left((None, _)) | Either::Right(_) => r.handle_timeout(now()),
        }
    };
    abort.abort();
    outcome
}

async fn fetch(f: Fetch, signal: &web_sys::AbortSignal) -> Result<Document, NoDocument> {
    let got = fetch_bounded(f.url.as_str(), signal, f.max_bytes)
        .await
        .ok_or_else(|| NoDocument("no usable answer".into()))?;
    Ok(Document {
        url: Url::parse(&got.url).map_err(|e| NoDocument(e.to_string()))?,
        content_type: got.kind,
        body: got.body,
    })
}

/// Resolves after `ms` (never, for `None`).
async fn sleep(ms: Option<f64>) {
    let Some(ms) = ms else {
        return std::future::pending().await;
    };
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(
                &resolve,
                ms.clamp(0.0, 60_000.0).ceil() as i32,
            );
        }
    });
    let _ = JsFuture::from(promise).await;
}

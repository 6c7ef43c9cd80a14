//! The host's hands for the core's resolver (`swarmload_core::resolve`): it performs
//! the fetches and the group look-up the resolver asks for, each within the budget
//! the resolver gives, and passes the time. What to fetch, in which order, and what
//! the answers mean is the core's.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use reqwest::header::HeaderMap;
use swarmload_core::content::Hash32;
use swarmload_core::engine::Time;
use swarmload_core::resolve::{
    Action, DirectoryMemory, Document, Fetch, FetchId, NoDocument, Probe, ProbeError, Resolution,
    Resolver,
};

use super::response::without_url;
use crate::swarm::group_mappings::GroupMappings;

/// The resolver's clock: one epoch for the whole process, so the directory memory
/// spans downloads.
pub fn now() -> Time {
    Time::from_micros(epoch().elapsed().as_micros() as u64)
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// What a resolver said, once driven to its end.
#[derive(Debug, Default)]
pub struct Driven {
    /// The probe with the Metalink's word.
    pub probe: Option<Probe>,
    /// How the look-up ended, when it looked further.
    pub resolution: Option<Resolution>,
}

/// What the drive needs from the host.
pub struct Hands<'a> {
    pub client: &'a reqwest::Client,
    /// The download's own request headers, for the fetches that take them.
    pub headers: &'a HeaderMap,
    pub group: Option<&'a GroupMappings>,
    /// Learns what the look-up found about directories.
    pub memory: Option<&'a Mutex<DirectoryMemory>>,
}

enum Event {
    Document(FetchId, Result<Document, NoDocument>),
    Group(Option<Hash32>),
}

/// Runs `r` to its end: until it is done, or refuses the download.
pub async fn drive(mut r: Resolver, hands: Hands<'_>) -> Result<Driven, ProbeError> {
    let mut out = Driven::default();
    let mut work = FuturesUnordered::new();
    loop {
        while let Some(action) = r.poll_action() {
            match action {
                Action::Fetch(f) => {
                    let (client, headers) = (hands.client, hands.headers);
                    work.push(futures_util::future::Either::Left(async move {
                        let id = f.id.clone();
                        Event::Document(id, fetch(client, f, headers).await)
                    }));
                }
                Action::LookUpGroup(subject) => {
                    let Some(group) = hands.group else {
                        r.handle_group(None);
                        continue;
                    };
                    work.push(futures_util::future::Either::Right(async move {
                        Event::Group(group.lookup(&subject).await.sha256)
                    }));
                }
                Action::Probed(p) => out.probe = Some(*p),
                Action::Refused(e) => return Err(e),
                Action::Done(res) => {
                    for (list, why) in &res.refused {
                        tracing::info!(%list, "checksum list refused: {why}");
                    }
                    if let Some(m) = hands.memory {
                        res.teach(&mut m.lock().unwrap_or_else(|e| e.into_inner()), now());
                    }
                    out.resolution = Some(res);
                }
            }
        }
        if r.is_done() {
            return Ok(out);
        }
        let wake = r
            .poll_timeout()
            .map(|t| epoch() + Duration::from_micros(t.as_micros()));
        let sleep = async {
            match wake {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            Some(ev) = work.next() => match ev {
                Event::Document(id, got) => r.handle_document(now(), id, got),
                Event::Group(sha256) => r.handle_group(sha256),
            },
            () = sleep => r.handle_timeout(now()),
        }
    }
}

/// One document, as the resolver asked: a 200's body within the bound.
async fn fetch(
    client: &reqwest::Client,
    f: Fetch,
    headers: &HeaderMap,
) -> Result<Document, NoDocument> {
    let no = |why: String| NoDocument(why);
    let mut request = client.get(f.url.clone()).timeout(f.timeout);
    if f.with_request_headers {
        request = request.headers(headers.clone());
    }
    let mut resp = request.send().await.map_err(|e| no(without_url(e)))?;
    if resp.status() != reqwest::StatusCode::OK {
        return Err(no(format!("the origin answered {}", resp.status())));
    }
    if resp
        .content_length()
        .is_some_and(|n| n > f.max_bytes as u64)
    {
        return Err(no(format!("larger than {} bytes", f.max_bytes)));
    }
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let url = resp.url().clone();
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| no(without_url(e)))? {
        if body.len() + chunk.len() > f.max_bytes {
            return Err(no(format!("larger than {} bytes", f.max_bytes)));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Document {
        url,
        content_type,
        body,
    })
}

//! One request before the download, sent here and read by the core
//! (`swarmload_core::resolve::probe`): `HEAD` first, a one-byte ranged `GET` where
//! the core says `HEAD` told too little. Then the Metalink the origin points at,
//! through the core's resolver.

use reqwest::Method;
use reqwest::header::{self, HeaderMap};
use swarmload_core::resolve::probe::{Asked, Headers, ProbeStep, WANT_REPR_DIGEST, check_url};
use swarmload_core::resolve::{Budgets, DirectoryMemory, Resolver, Setup, read_response};
use url::Url;

use super::resolving::{Hands, drive, now};
use super::response::without_url;

/// What the probe learns: the core's one description of an origin's content.
pub use swarmload_core::resolve::Probe as OriginInfo;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("{0}")]
    Http(String),
    #[error(transparent)]
    Origin(#[from] swarmload_core::resolve::ProbeError),
}

/// Asks the origin about `url` with the given extra request headers, and reads the
/// Metalink it points at.
pub async fn probe(
    client: &reqwest::Client,
    url: &Url,
    headers: &HeaderMap,
) -> Result<OriginInfo, ProbeError> {
    check_url(url)?;
    let mut bare = url.clone();
    bare.set_fragment(None);
    let step = match ask(client, &bare, headers, Asked::Head).await {
        Ok((status, at, h)) => read_response(url, Asked::Head, status, &at, &h)?,
        // Some servers answer HEAD badly or not at all; a one-byte GET tells the truth.
        Err(_) => ProbeStep::AskFirstByte,
    };
    let info = match step {
        ProbeStep::Known(p) => *p,
        ProbeStep::AskFirstByte => {
            let (status, at, h) = ask(client, &bare, headers, Asked::FirstByte)
                .await
                .map_err(|e| ProbeError::Http(without_url(e)))?;
            match read_response(url, Asked::FirstByte, status, &at, &h)? {
                ProbeStep::Known(p) => *p,
                ProbeStep::AskFirstByte => {
                    return Err(swarmload_core::resolve::ProbeError::UnknownSize.into());
                }
            }
        }
    };
    let setup = Setup {
        look_further: false,
        ..Setup::whole(Budgets::BESIDE_DOWNLOAD)
    };
    let resolver = Resolver::new(info, setup, &DirectoryMemory::new(), now());
    let hands = Hands {
        client,
        headers,
        group: None,
        memory: None,
    };
    let driven = drive(resolver, hands).await?;
    driven
        .probe
        .ok_or(swarmload_core::resolve::ProbeError::UnknownSize.into())
}

/// Sends one probe request; the status, where it ended, and the headers.
async fn ask(
    client: &reqwest::Client,
    url: &Url,
    headers: &HeaderMap,
    asked: Asked,
) -> Result<(u16, Url, Headers), reqwest::Error> {
    let request = match asked {
        Asked::Head => client.request(Method::HEAD, url.clone()),
        Asked::FirstByte => client.get(url.clone()).header(header::RANGE, "bytes=0-0"),
    };
    let r = request
        .headers(headers.clone())
        .header(WANT_REPR_DIGEST.0, WANT_REPR_DIGEST.1)
        .send()
        .await?;
    let h = r
        .headers()
        .iter()
        .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?)))
        .collect();
    // The body is not wanted: dropping the response closes the connection.
    Ok((r.status().as_u16(), r.url().clone(), h))
}

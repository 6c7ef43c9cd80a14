//! The origin server as a source: what a probe learns about the content, and ranged
//! fetches with retries that never mix two versions of a file.

mod fetch;
pub mod local_network;
pub mod mirrors;
mod probe;
pub mod resolving;
mod response;

pub use fetch::{Fetcher, Pacer};
pub use probe::{OriginInfo, ProbeError, probe};
pub use response::parse_content_range;

use std::time::Duration;

/// A response with no byte for this long counts as a dropped connection.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Redirects followed, at most.
const MAX_REDIRECTS: usize = 10;

/// The HTTP client every origin request uses: rustls, redirects followed (up to 10),
/// no cookies, no proxy magic beyond the environment's.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    builder()
        .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
        .build()
}

/// The client mirrors are asked with. A download from a public origin takes only
/// public mirrors: besides the address check on their URLs (`metalink`), their
/// names must resolve to a public address and their redirects must not lead to a
/// private one.
pub fn mirror_client(public_only: bool) -> Result<reqwest::Client, reqwest::Error> {
    if !public_only {
        return client();
    }
    builder()
        .dns_resolver(std::sync::Arc::new(local_network::PublicOnly))
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if local_network::is_local(attempt.url()) {
                attempt.error("a mirror of a public origin redirected to a private address")
            } else {
                attempt.follow()
            }
        }))
        .build()
}

fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(concat!("swarmload-host/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        // Compressed transfer would change the bytes and break ranges.
        .no_gzip()
        .no_brotli()
        .no_deflate()
        .no_zstd()
        .tcp_nodelay(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use swarmload_tests::origin::{OriginConfig, TestOrigin};

    #[tokio::test]
    async fn the_mirror_client_of_a_public_origin_reaches_no_private_address() {
        let mut cfg = OriginConfig::memory(vec![7u8; 1000]);
        cfg.redirect_from = Some("/go".into());
        let o = TestOrigin::start(cfg).await.unwrap();
        let public_only = mirror_client(true).unwrap();
        // By name.
        let by_name = o.url().replace("127.0.0.1", "localhost");
        let e = public_only.get(&by_name).send().await.unwrap_err();
        assert!(format!("{e:?}").contains("no public address"), "{e:?}");
        // By redirect.
        let e = public_only.get(o.url_of("/go")).send().await.unwrap_err();
        assert!(e.is_redirect(), "{e:?}");
        assert!(format!("{e:?}").contains("private address"), "{e:?}");
        // A private origin's mirrors may be private too.
        let any = mirror_client(false).unwrap();
        let r = any.get(o.url_of("/go")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(any.get(&by_name).send().await.unwrap().status(), 200);
    }
}

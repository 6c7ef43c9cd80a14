//! The origin server as a source: what a probe learns about the content, and ranged
//! fetches with retries that never mix two versions of a file.

pub mod checksum_lists;
mod fetch;
pub mod metalink;
pub mod mirrors;
mod probe;

pub use fetch::{Fetcher, Pacer};
pub use probe::{OriginInfo, ProbeError, parse_content_range, probe};

use std::time::Duration;

/// A response with no byte for this long counts as a dropped connection.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The HTTP client every origin request uses: rustls, redirects followed (up to 10),
/// no cookies, no proxy magic beyond the environment's.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .user_agent(concat!("swarmload-host/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .redirect(reqwest::redirect::Policy::limited(10))
        // Compressed transfer would change the bytes and break ranges.
        .no_gzip()
        .no_brotli()
        .no_deflate()
        .no_zstd()
        .tcp_nodelay(true)
        .build()
}

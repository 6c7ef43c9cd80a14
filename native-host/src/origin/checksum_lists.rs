//! Finding a download's SHA-256 in a checksum list its publisher put beside it
//! (`SHA256SUMS`, `<file>.sha256`, `checksums.txt`, …; the names and formats are in
//! `swarmload_core::checksum_file`).
//!
//! The rules, which make trusting a list the same as trusting the file's origin:
//! - Lists are looked for only in the directory of the URL the download was asked
//!   for, on that URL's own origin (scheme, host and port). A list that redirects
//!   elsewhere is followed only while it stays HTTPS for an HTTPS download.
//! - A list names the file by the exact name the download resolves to (its
//!   `Content-Disposition` name, or the last segment of the URL).
//! - A few names only ([`candidates`](swarmload_core::checksum_file::candidates)),
//!   and the directory's own index page (an HTTP server's autoindex), from which at
//!   most four more lists named like checksum lists are taken
//!   ([`indexed_lists`](swarmload_core::checksum_file::indexed_lists)): each list at
//!   most [`MAX_LIST_BYTES`] and `LIST_TIMEOUT`, the whole look-up at most
//!   [`LOOKUP_TIMEOUT`]; a directory where none was found is not asked again for
//!   [`NEGATIVE_TTL`].
//! - The look-up runs beside the download, which never waits for it: the swarm joins
//!   when the digest arrives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use swarmload_core::checksum_file::{
    MAX_LIST_BYTES, PARENT_LIST, agreed, candidates, directory, file_name, find, indexed_lists,
    is_single_file_list, parent_lists,
};
use swarmload_core::content::Hash32;
use url::Url;

use super::OriginInfo;

/// The longest a whole look-up may take.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one list may take: a name a server stalls on must not cost the others
/// (the look-up waits for every answer before choosing).
const LIST_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a directory without any list is left alone.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(10 * 60);
/// Directories remembered as having no list, at most.
const NEGATIVE_ENTRIES: usize = 4096;

/// A digest found, and the list that gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub sha256: Hash32,
    pub list: Url,
}

/// Remembers directories without lists, across downloads.
#[derive(Debug, Default, Clone)]
pub struct ChecksumLists {
    empty: Arc<Mutex<HashMap<String, Instant>>>,
}

impl ChecksumLists {
    pub fn new() -> Self {
        Self::default()
    }

    /// The SHA-256 a same-origin checksum list gives for the download `info`
    /// describes, if any. Never fails: a list that cannot be read is as good as none.
    pub async fn lookup(&self, client: &reqwest::Client, info: &OriginInfo) -> Option<Found> {
        let dir = directory(&info.requested)?;
        let key = dir.as_str().to_string();
        if self.known_empty(&key) {
            tracing::debug!(%dir, "no checksum list here, as found earlier");
            return None;
        }
        let names = names(info);
        let found = tokio::time::timeout(
            LOOKUP_TIMEOUT,
            search(client, &dir, &names, &info.requested),
        )
        .await;
        match found {
            Ok(Some(f)) => {
                tracing::info!(list = %f.list, sha256 = %f.sha256, "digest from a checksum list");
                Some(f)
            }
            Ok(None) => {
                self.remember_empty(key);
                None
            }
            Err(_) => {
                tracing::info!(%dir, "checksum lists took too long: given up");
                self.remember_empty(key);
                None
            }
        }
    }

    /// Whether a look-up for the file at `url` could find anything: an http(s) URL
    /// whose directory is not known to have no list.
    pub fn may_have(&self, url: &Url) -> bool {
        directory(url).is_some_and(|d| !self.known_empty(d.as_str()))
    }

    fn known_empty(&self, key: &str) -> bool {
        let mut m = self.empty.lock().unwrap_or_else(|e| e.into_inner());
        match m.get(key) {
            Some(t) if t.elapsed() < NEGATIVE_TTL => true,
            Some(_) => {
                m.remove(key);
                false
            }
            None => false,
        }
    }

    fn remember_empty(&self, key: String) {
        let mut m = self.empty.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= NEGATIVE_ENTRIES {
            m.retain(|_, t| t.elapsed() < NEGATIVE_TTL);
            if m.len() >= NEGATIVE_ENTRIES {
                m.clear();
            }
        }
        m.insert(key, Instant::now());
    }
}

/// The names the file goes by: the name the download resolves to, and the URL's
/// own last segment when that differs.
fn names(info: &OriginInfo) -> Vec<String> {
    let mut out = vec![info.filename.clone()];
    if let Some(last) = file_name(&info.requested).filter(|l| !out.contains(l)) {
        out.push(last);
    }
    out
}

/// Fetches the candidate lists and the directory's index together, then the lists
/// the index names that the candidates missed, and takes the most specific one that
/// names the file.
async fn search(
    client: &reqwest::Client,
    dir: &Url,
    names: &[String],
    file: &Url,
) -> Option<Found> {
    let primary = names.first()?;
    let mut lists: Vec<(String, bool)> = Vec::new();
    for name in names {
        for c in candidates(name) {
            let single = is_single_file_list(&c, name);
            if !lists.iter().any(|(n, _)| n == &c) {
                lists.push((c, single));
            }
        }
    }
    let https = dir.scheme() == "https";
    let fetches = lists
        .iter()
        .map(|(name, single)| read_list(client, dir, name, *single, names));
    let index = async {
        let (html, kind) = fetch_body(client, dir, https).await?;
        // Only an HTML page is an index; a text answer is not a directory listing.
        kind.starts_with("text/html").then(|| {
            let tried: Vec<String> = lists.iter().map(|(n, _)| n.clone()).collect();
            indexed_lists(&html, &tried)
        })
    };
    // Mozilla's layout: one SHA256SUMS a few directories up names every file below
    // it by its path from there.
    let above = parent_lists(dir, file);
    let above = above.iter().map(|(parent, path)| {
        read_list(
            client,
            parent,
            PARENT_LIST,
            false,
            std::slice::from_ref(path),
        )
    });
    let (results, indexed, above) = futures_util::future::join3(
        futures_util::future::join_all(fetches),
        index,
        futures_util::future::join_all(above),
    )
    .await;
    let mut found: Vec<Found> = results.into_iter().flatten().collect();
    if let Some(more) = indexed.filter(|m| !m.is_empty()) {
        tracing::debug!(%dir, lists = ?more, "lists named by the directory index");
        let more = more
            .iter()
            .map(|name| read_list(client, dir, name, false, names));
        found.extend(
            futures_util::future::join_all(more)
                .await
                .into_iter()
                .flatten(),
        );
    }
    found.extend(above.into_iter().flatten());
    agreed(found, |f| f.sha256).unwrap_or_else(|e| {
        tracing::warn!(file = %primary, "{e}: none is used");
        None
    })
}

/// The list `name` in `dir`, if it names the file (by any of `names`).
async fn read_list(
    client: &reqwest::Client,
    dir: &Url,
    name: &str,
    single: bool,
    names: &[String],
) -> Option<Found> {
    let url = dir.join(name).ok()?;
    // A joined name cannot leave the directory (no slashes in candidates or indexed
    // names), but check the origin anyway: that is the whole trust rule.
    if url.origin() != dir.origin() {
        return None;
    }
    let (text, _) = fetch_body(client, &url, dir.scheme() == "https").await?;
    for n in names {
        match find(&text, n, single) {
            Ok(Some(sha256)) => return Some(Found { sha256, list: url }),
            Ok(None) => {}
            Err(e) => {
                tracing::info!(list = %url, "checksum list refused: {e}");
                return None;
            }
        }
    }
    None
}

/// The body of one list or index, within the size bound, and its media type;
/// `None` for anything but a 200 with a small enough body, or a redirect that left
/// HTTPS.
async fn fetch_body(
    client: &reqwest::Client,
    url: &Url,
    https_only: bool,
) -> Option<(Vec<u8>, String)> {
    let resp = client
        .get(url.clone())
        .timeout(LIST_TIMEOUT)
        .send()
        .await
        .ok()?;
    if resp.status() != reqwest::StatusCode::OK {
        return None;
    }
    if https_only && resp.url().scheme() != "https" {
        tracing::info!(list = %url, "checksum list redirected off HTTPS: ignored");
        return None;
    }
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_LIST_BYTES as u64)
    {
        return None;
    }
    let kind = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.ok()?;
        if body.len() + chunk.len() > MAX_LIST_BYTES {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    Some((body, kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_without_lists_is_remembered_for_a_while() {
        let c = ChecksumLists::new();
        assert!(!c.known_empty("https://a/"));
        c.remember_empty("https://a/".into());
        assert!(c.known_empty("https://a/"));
        assert!(!c.known_empty("https://b/"));
    }
}

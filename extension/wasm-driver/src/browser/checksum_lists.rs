//! The browser-only peer's look-up of checksum lists beside a download, by the same
//! rules as the native host's (`native-host/src/origin/checksum_lists.rs`; README,
//! "Publishing digests"): the download URL's own directory and origin, a few names
//! (`checksum_file::candidates`), the lists the directory's index page names
//! (`checksum_file::indexed_lists`), `SHA256SUMS` up to three directories up
//! (`checksum_file::parent_lists`); each list at most `MAX_LIST_BYTES`, all of them
//! within [`LOOKUP_BUDGET_MS`], an HTTPS download's lists over HTTPS only, and no
//! credentials sent.

use futures_util::future::join_all;

use super::origin::{abort_after, fetch_bounded};

use swarmload_core::checksum_file::{
    MAX_LIST_BYTES, PARENT_LIST, agreed, candidates, directory, file_name, find, indexed_lists,
    is_single_file_list, parent_lists,
};
use swarmload_core::content::Hash32;

/// How long the look-up may hold the paused download.
pub const LOOKUP_BUDGET_MS: i32 = 1500;

/// The SHA-256 a same-origin checksum list gives for the file at `url`, and the
/// list's URL.
pub async fn lookup(url: &str) -> Option<(Hash32, String)> {
    let base = url::Url::parse(url).ok()?;
    let dir = directory(&base)?;
    let file = file_name(&base)?;
    let abort = abort_after(LOOKUP_BUDGET_MS)?;
    let https_only = dir.scheme() == "https";
    let signal = abort.signal();
    let names = candidates(&file);
    let read = |dir: url::Url, name: String, file: String, single: bool| {
        let signal = &signal;
        async move {
            let list = dir
                .join(&name)
                .ok()
                .filter(|u| u.origin() == dir.origin())?;
            let text = fetch_bounded(list.as_str(), signal, https_only, MAX_LIST_BYTES)
                .await?
                .body;
            match find(&text, &file, single) {
                Ok(Some(h)) => Some((h, list.to_string())),
                _ => None,
            }
        }
    };
    let fetches = names.iter().map(|name| {
        read(
            dir.clone(),
            name.clone(),
            file.clone(),
            is_single_file_list(name, &file),
        )
    });
    let index = async {
        let index = fetch_bounded(dir.as_str(), &signal, https_only, MAX_LIST_BYTES).await?;
        index
            .kind
            .starts_with("text/html")
            .then(|| indexed_lists(&index.body, &names))
    };
    let above = parent_lists(&dir, &base)
        .into_iter()
        .map(|(parent, path)| read(parent, PARENT_LIST.to_string(), path, false));
    let (results, indexed, above) =
        futures_util::future::join3(join_all(fetches), index, join_all(above)).await;
    let mut found: Vec<(Hash32, String)> = results.into_iter().flatten().collect();
    if let Some(more) = indexed {
        let more = more
            .into_iter()
            .map(|name| read(dir.clone(), name, file.clone(), false));
        found.extend(join_all(more).await.into_iter().flatten());
    }
    found.extend(above.into_iter().flatten());
    abort.abort();
    agreed(found, |f| f.0).ok().flatten()
}

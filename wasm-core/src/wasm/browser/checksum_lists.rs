//! The browser-only peer's look-up of checksum lists beside a download, by the same
//! rules as the native host's (`native-host/src/origin/checksum_lists.rs`; README,
//! "Publishing digests"): the download URL's own directory and origin, a few names
//! (`checksum_file::candidates`), the lists the directory's index page names
//! (`checksum_file::indexed_lists`), `SHA256SUMS` up to three directories up
//! (`checksum_file::parent_lists`); each list at most `MAX_LIST_BYTES`, all of them
//! within [`LOOKUP_BUDGET_MS`], an HTTPS download's lists over HTTPS only, and no
//! credentials sent.

use futures_util::future::join_all;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortController, AbortSignal, ReadableStreamDefaultReader, RequestCache, RequestCredentials,
    RequestInit, Response,
};

use crate::checksum_file::{
    MAX_LIST_BYTES, PARENT_LIST, agreed, candidates, directory, file_name, find, indexed_lists,
    is_single_file_list, parent_lists,
};
use crate::content::Hash32;

/// How long the look-up may hold the paused download.
pub const LOOKUP_BUDGET_MS: i32 = 1500;

/// The SHA-256 a same-origin checksum list gives for the file at `url`, and the
/// list's URL.
pub async fn lookup(url: &str) -> Option<(Hash32, String)> {
    let base = url::Url::parse(url).ok()?;
    let dir = directory(&base)?;
    let file = file_name(&base)?;
    let window = web_sys::window()?;
    let abort = AbortController::new().ok()?;
    let stop = abort.clone();
    let timer = Closure::once_into_js(move || stop.abort());
    let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(
        timer.unchecked_ref(),
        LOOKUP_BUDGET_MS,
    );
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
            let (text, _) = fetch_body(list.as_str(), signal, https_only).await?;
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
        let (html, kind) = fetch_body(dir.as_str(), &signal, https_only).await?;
        kind.starts_with("text/html")
            .then(|| indexed_lists(&html, &names))
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

/// A list's or index's body (within the size bound) and its media type.
async fn fetch_body(
    url: &str,
    signal: &AbortSignal,
    https_only: bool,
) -> Option<(Vec<u8>, String)> {
    let init = RequestInit::new();
    init.set_method("GET");
    init.set_credentials(RequestCredentials::Omit);
    init.set_cache(RequestCache::NoStore);
    init.set_signal(Some(signal));
    let window = web_sys::window()?;
    let r: Response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .ok()?
        .unchecked_into();
    if r.status() != 200 || (https_only && !r.url().starts_with("https:")) {
        return None;
    }
    let kind = r
        .headers()
        .get("content-type")
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let declared = r
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_LIST_BYTES) {
        return None;
    }
    let reader: ReadableStreamDefaultReader = r.body()?.get_reader().unchecked_into();
    let mut body = Vec::new();
    loop {
        let chunk = JsFuture::from(reader.read()).await.ok()?;
        let done = js_sys::Reflect::get(&chunk, &JsValue::from_str("done"))
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(true);
        if done {
            return Some((body, kind));
        }
        let value = js_sys::Reflect::get(&chunk, &JsValue::from_str("value")).ok()?;
        let bytes = js_sys::Uint8Array::new(&value);
        if body.len() + bytes.length() as usize > MAX_LIST_BYTES {
            let _ = reader.cancel();
            return None;
        }
        body.extend(bytes.to_vec());
    }
}

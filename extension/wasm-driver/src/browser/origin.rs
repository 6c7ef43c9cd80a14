//! The origin through fetch(): the probe that finds size, validators and a trusted
//! digest, and the ranged GETs the engine asks for. Requests never carry cookies or
//! other credentials (`credentials: "omit"`): what is shared must be public.

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortController, AbortSignal, ReadableStreamDefaultReader, RequestCache, RequestCredentials,
    RequestInit, Response,
};

use super::rtc::js_err;
use swarmload_core::content_range::ContentRange;
use swarmload_core::resolve::Headers;

fn init(headers: &web_sys::Headers, signal: &web_sys::AbortSignal) -> RequestInit {
    let init = RequestInit::new();
    init.set_method("GET");
    init.set_credentials(RequestCredentials::Omit);
    init.set_cache(RequestCache::NoStore);
    init.set_headers_headers(headers);
    init.set_signal(Some(signal));
    init
}

async fn fetch(
    url: &str,
    range: &str,
    want_digest: bool,
) -> Result<(Response, AbortController), String> {
    let window = web_sys::window().ok_or("no window")?;
    let headers = web_sys::Headers::new().map_err(js_err)?;
    headers.set("Range", range).map_err(js_err)?;
    if want_digest {
        // RFC 9530: servers that can compute the digest are asked to send it.
        headers
            .set("Want-Repr-Digest", "sha-256=10")
            .map_err(js_err)?;
    }
    let abort = AbortController::new().map_err(js_err)?;
    let response =
        JsFuture::from(window.fetch_with_str_and_init(url, &init(&headers, &abort.signal())))
            .await
            .map_err(js_err)?;
    Ok((response.unchecked_into(), abort))
}

/// The probe: one ranged GET of the first byte, with `Want-Repr-Digest`; its
/// status, where it ended and its headers, for the core to read
/// (`resolve::read_response`).
pub async fn probe_response(url: &str) -> Result<(u16, url::Url, Headers), String> {
    let (r, abort) = fetch(url, "bytes=0-0", true).await?;
    abort.abort();
    let at = url::Url::parse(&r.url()).map_err(|e| e.to_string())?;
    let mut headers = Headers::new();
    let h = r.headers();
    for name in PROBE_HEADERS {
        if let Ok(Some(v)) = h.get(name) {
            headers.push(name, &v);
        }
    }
    Ok((r.status(), at, headers))
}

/// What the core reads of a probe's response (`fetch()` joins repeated headers
/// with `, `, as HTTP allows for these).
const PROBE_HEADERS: [&str; 12] = [
    "accept-ranges",
    "content-digest",
    "content-disposition",
    "content-length",
    "content-range",
    "content-type",
    "digest",
    "etag",
    "last-modified",
    "link",
    "repr-digest",
    "want-repr-digest",
];

/// Why an origin range failed.
pub enum RangeError {
    /// Worth asking again (network, 5xx).
    Retryable(String),
    /// The file at the URL is no longer the one probed.
    ContentChanged,
    Fatal(String),
}

/// An open ranged GET, read chunk by chunk.
pub struct RangeBody {
    reader: ReadableStreamDefaultReader,
}

/// Starts `GET url` for `start..end`; checks the response is that range of the
/// probed file.
pub async fn range(
    url: &str,
    start: u64,
    end: u64,
    etag: Option<&str>,
    abort: &AbortController,
) -> Result<RangeBody, RangeError> {
    let window = web_sys::window().ok_or(RangeError::Fatal("no window".into()))?;
    let headers = web_sys::Headers::new().map_err(|e| RangeError::Fatal(js_err(e)))?;
    let _ = headers.set("Range", &format!("bytes={start}-{}", end.saturating_sub(1)));
    let promise = window.fetch_with_str_and_init(url, &init(&headers, &abort.signal()));
    let r: Response = JsFuture::from(promise)
        .await
        .map_err(|e| RangeError::Retryable(js_err(e)))?
        .unchecked_into();
    let status = r.status();
    if status >= 500 || status == 429 || status == 408 {
        return Err(RangeError::Retryable(format!("HTTP {status}")));
    }
    let h = r.headers();
    let got_etag = h.get("etag").ok().flatten();
    if let (Some(want), Some(got)) = (etag, got_etag.as_deref())
        && want != got
    {
        return Err(RangeError::ContentChanged);
    }
    match status {
        206 => {
            let at = h
                .get("content-range")
                .ok()
                .flatten()
                .and_then(|v| ContentRange::parse(&v))
                .map(|r| r.start);
            if at != Some(start) {
                return Err(RangeError::Fatal(format!(
                    "asked for bytes from {start}, got {at:?}"
                )));
            }
        }
        200 if start == 0 => {}
        _ => {
            return Err(RangeError::Fatal(format!(
                "HTTP {status} to a range request"
            )));
        }
    }
    let body = r.body().ok_or(RangeError::Retryable("no body".into()))?;
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    Ok(RangeBody { reader })
}

impl RangeBody {
    /// The next chunk, or `None` at the end.
    pub async fn next(&self) -> Result<Option<Vec<u8>>, RangeError> {
        let r = JsFuture::from(self.reader.read())
            .await
            .map_err(|e| RangeError::Retryable(js_err(e)))?;
        let done = js_sys::Reflect::get(&r, &JsValue::from_str("done"))
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(true);
        if done {
            return Ok(None);
        }
        let value = js_sys::Reflect::get(&r, &JsValue::from_str("value"))
            .map_err(|e| RangeError::Retryable(js_err(e)))?;
        Ok(Some(js_sys::Uint8Array::new(&value).to_vec()))
    }
}

/// What [`fetch_bounded`] read.
pub struct Fetched {
    pub body: Vec<u8>,
    /// The media type, lower-cased.
    pub kind: String,
    /// Where the request ended up, after redirects.
    pub url: String,
}

/// A side document's body (a checksum list, an index page, a Metalink), at most
/// `max` bytes, and its media type: `None` for anything but a 200 within the bound.
/// No credentials are sent.
pub async fn fetch_bounded(url: &str, signal: &AbortSignal, max: usize) -> Option<Fetched> {
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
    if r.status() != 200 {
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
    if declared.is_some_and(|n| n > max) {
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
            return Some(Fetched {
                body,
                kind,
                url: r.url(),
            });
        }
        let value = js_sys::Reflect::get(&chunk, &JsValue::from_str("value")).ok()?;
        let bytes = js_sys::Uint8Array::new(&value);
        if body.len() + bytes.length() as usize > max {
            let _ = reader.cancel();
            return None;
        }
        body.extend(bytes.to_vec());
    }
}

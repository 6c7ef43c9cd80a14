// How each recent request was made (method and headers, as webRequest saw them), so
// that a download the browser starts can be judged: a download that was POSTed or
// carried cookies or credentials is never handed to a swarm (ARCHITECTURE §6). The
// host makes the decision from these headers; nothing here is sent anywhere else.

/**
 * @import { Header } from './backend.js'
 * @typedef {{ method: string, headers: Header[] }} SeenRequest how a request was made
 */

const TTL_MS = 120_000;
const LIMIT = 512;

export class RequestLog {
  constructor() {
    /** @type {Map<string, SeenRequest & { at: number }>} */
    this.byUrl = new Map();
    // The URLs each request went through (its redirects), by request id.
    /** @type {Map<string, string[]>} */
    this.hops = new Map();
  }

  // Registers the listener; call at the top level of the background script.
  /** @param {typeof chrome} api */
  listen(api) {
    const extra = api.webRequest.OnSendHeadersOptions?.EXTRA_HEADERS;
    // Chromium shows Cookie only with `extraHeaders`; Firefox shows it always and
    // rejects the option.
    /** @type {`${chrome.webRequest.OnSendHeadersOptions}`[]} */
    const spec = extra ? ['requestHeaders', extra] : ['requestHeaders'];
    api.webRequest.onSendHeaders.addListener(
      (d) => this.record(d),
      { urls: ['http://*/*', 'https://*/*'] },
      spec,
    );
  }

  /** @param {chrome.webRequest.OnSendHeadersDetails} details */
  record(details) {
    const now = Date.now();
    const hops = this.hops.get(details.requestId) ?? [];
    this.hops.delete(details.requestId);
    this.hops.set(details.requestId, [...hops, details.url].slice(-20));
    while (this.hops.size > LIMIT) this.hops.delete(/** @type {string} */ (this.hops.keys().next().value));
    this.byUrl.delete(details.url);
    this.byUrl.set(details.url, {
      method: details.method,
      headers: (details.requestHeaders ?? []).map((h) => ({ name: h.name, value: h.value ?? '' })),
      at: now,
    });
    // Oldest first in a Map: drop what is stale or over the bound.
    for (const [url, e] of this.byUrl) {
      if (this.byUrl.size <= LIMIT && now - e.at < TTL_MS) break;
      this.byUrl.delete(url);
    }
  }

  // What is known about one request, every hop of its redirects included.
  /**
   * @param {string} requestId
   * @param {string} url
   * @returns {SeenRequest | null}
   */
  lookupRequest(requestId, url) {
    return this.lookup(...(this.hops.get(requestId) ?? []), url);
  }

  // What is known about the request(s) behind a download: any hop of a redirect
  // counts (a cookie sent to the first URL makes the whole download private).
  /**
   * @param {...string} urls
   * @returns {SeenRequest | null}
   */
  lookup(...urls) {
    const found = urls.map((u) => this.byUrl.get(u)).filter((e) => e !== undefined);
    if (found.length === 0) return null;
    const method = found.find((e) => e.method !== 'GET')?.method ?? 'GET';
    const headers = [];
    const names = new Set();
    for (const e of found) {
      for (const h of e.headers) {
        const key = h.name.toLowerCase();
        if (!names.has(key)) {
          names.add(key);
          headers.push(h);
        }
      }
    }
    return { method, headers };
  }
}

// Taking a download over before any of its body reaches the browser, where blocking
// webRequest exists: Firefox, and Chromium for extensions installed by enterprise
// policy (elsewhere registering the listener throws, and the download-item path in
// intercept.js does the work alone).
//
// The listener must answer at once (Chromium's blocking listeners are synchronous),
// so it decides from what the response itself says: a GET answered 200, looking like
// a download (an attachment, or a type no tab would show), at least the minimum
// size, the request without cookies or credentials, and a trusted SHA-256 in its
// headers (Repr-Digest, Digest) or URL. Then the request is cancelled and the
// interceptor starts the same transfer it would have started from the download
// item. Anything else passes untouched.

import { headerDigestNow, ineligibleReasonNow } from './policy.js';

/**
 * @import { Interceptor } from './intercept.js'
 * @import { RequestLog, SeenRequest } from './request_log.js'
 * @typedef {chrome.webRequest.OnHeadersReceivedDetails & { originUrl?: string, incognito?: boolean }} ResponseDetails
 *   as Chromium reports a response, and what Firefox adds (`originUrl`, `incognito`)
 * @typedef {{
 *   url: string, seen: SeenRequest, sha256: string, size: number, etag: string | null, ranges: boolean,
 *   content_type: string | null, filename: string,
 * }} Take what the interceptor starts for a request taken before its body
 */

// Content types a tab displays or a page fetches: never taken from the page.
const SHOWN = /^(text\/|image\/|audio\/|video\/|multipart\/|application\/(json|javascript|xml|xhtml\+xml|pdf|wasm|manifest\+json|ld\+json)|application\/[\w.+-]*\+json)/i;
// How long a cancelled request's interrupted download item is recognised as ours.
const TAKEN_MS = 30000;

/**
 * @param {ResponseDetails} details
 * @param {string} name in lower case
 * @returns {string | null}
 */
function header(details, name) {
  const h = details.responseHeaders?.find((x) => x.name.toLowerCase() === name);
  return h ? (h.value ?? '') : null;
}

/**
 * @param {string | null} disposition
 * @param {string} url
 * @returns {string}
 */
export function filenameFrom(disposition, url) {
  if (disposition) {
    const star = /filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)/.exec(disposition);
    if (star) {
      try {
        return decodeURIComponent(star[1].trim());
      } catch {
        // A malformed encoding: the plain form or the URL names it instead.
      }
    }
    const plain = /filename\s*=\s*"?([^";]+)"?/i.exec(disposition);
    if (plain) return plain[1].trim();
  }
  try {
    const last = new URL(url).pathname.split('/').pop();
    return decodeURIComponent(last || '') || 'download';
  } catch {
    return 'download';
  }
}

export class EarlyTakeover {
  /**
   * @param {typeof chrome} api
   * @param {Interceptor} interceptor
   * @param {RequestLog} requests
   */
  constructor(api, interceptor, requests) {
    this.api = api;
    this.interceptor = interceptor;
    this.requests = requests;
    this.active = false;
    // URLs whose request was cancelled here, with when: their interrupted download
    // items are erased quietly.
    /** @type {Map<string, number>} */
    this.taken = new Map();
  }

  // Registers the blocking listener where the browser allows it.
  install() {
    try {
      this.api.webRequest.onHeadersReceived.addListener(
        (d) => this.onHeadersReceived(d),
        { urls: ['http://*/*', 'https://*/*'], types: ['main_frame', 'sub_frame', 'other'] },
        ['blocking', 'responseHeaders'],
      );
      this.active = true;
    } catch (e) {
      console.info('swarmload: no blocking webRequest here; downloads are taken over from their download items', e.message);
    }
    return this.active;
  }

  // Whether `url`'s download item is the remains of a request cancelled here.
  /** @param {string} url */
  wasTaken(url) {
    const at = this.taken.get(url);
    if (at === undefined) return false;
    if (Date.now() - at > TAKEN_MS) {
      this.taken.delete(url);
      return false;
    }
    return true;
  }

  // What to take over, or null. Synchronous.
  /**
   * @param {ResponseDetails} d
   * @returns {Take | null}
   */
  judge(d) {
    const policy = this.interceptor.policy;
    if (!policy?.enabled || d.method !== 'GET' || d.statusCode !== 200 || d.incognito) return null;
    if (this.interceptor.isDelivery(d.url) || this.interceptor.fallbackUrls.has(d.url)) return null;
    if (d.initiator?.startsWith('chrome-extension:') || d.originUrl?.startsWith('moz-extension:')) return null;
    const disposition = header(d, 'content-disposition');
    const type = header(d, 'content-type') ?? '';
    const attachment = /^\s*attachment/i.test(disposition ?? '');
    if (!attachment && SHOWN.test(type)) return null;
    if (!attachment && d.type !== 'other' && !type) return null;
    const size = Number(header(d, 'content-length'));
    if (!Number.isSafeInteger(size) || size < policy.min_size_bytes) return null;
    if (header(d, 'content-encoding')) return null;
    const seen = this.requests.lookupRequest(d.requestId, d.url);
    if (!seen || seen.method !== 'GET') return null;
    const names = seen.headers.map((h) => h.name);
    if (ineligibleReasonNow(policy, d.url, names, Boolean(d.incognito), seen.method)) return null;
    let sha256;
    try {
      const h = { repr: header(d, 'repr-digest'), unencoded: header(d, 'unencoded-digest'), digest: header(d, 'digest'), encoding: header(d, 'content-encoding') };
      sha256 = headerDigestNow(h, d.url);
    } catch {
      return null; // A malformed digest: the download-item path says why.
    }
    if (!sha256) return null;
    return {
      url: d.url,
      seen,
      sha256,
      size,
      etag: header(d, 'etag'),
      ranges: /bytes/i.test(header(d, 'accept-ranges') ?? ''),
      content_type: type || null,
      filename: filenameFrom(disposition, d.url),
    };
  }

  /**
   * @param {ResponseDetails} d
   * @returns {chrome.webRequest.BlockingResponse}
   */
  onHeadersReceived(d) {
    /** @type {Take | null} */
    let take = null;
    try {
      take = this.judge(d);
    } catch (e) {
      console.warn('swarmload: early take-over not judged', e);
    }
    if (!take) return {};
    this.taken.set(d.url, Date.now());
    this.interceptor.takeOverEarly(take);
    return { cancel: true };
  }
}

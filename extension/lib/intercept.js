// Taking ordinary downloads over. For each new browser download:
//
// 1. Anything that may not or cannot go peer-to-peer is left alone: Swarmload
//    disabled, incognito, not http(s) (blob:, data:), smaller than the minimum, a
//    request not seen (so neither its method nor its cookies are known), not a GET.
// 2. Otherwise the browser's item is paused at once, so it pulls no more origin bytes
//    while the host looks at the URL.
// 3. If the host can serve it from a swarm (a trusted SHA-256 is known), the item is
//    cancelled and erased, and the host's loopback delivery URL is downloaded under
//    the same name: the browser's download bar shows the progress and the file lands
//    where the user's downloads always land. If not, the paused item resumes untouched.
//    With no native host (not installed, or not allowed), the browser-only peer
//    (lib/browser_peer.js) takes it instead: it probes the origin itself, downloads
//    from the swarm and the origin into OPFS, and the verified file is handed to the
//    browser's downloads as a blob: URL at the end. With `browser_seeding` (the
//    default) it takes a download nobody seeds yet too, from the origin, and seeds
//    it from then on; the paused item is cancelled only once the peer's first origin
//    bytes (or a peer) arrived. Without, it takes only what a swarm can serve.
// 4. Never lose a download: if anything fails after the original item was cancelled,
//    the original URL is downloaded again by the browser itself.

import { effectivePolicy, ineligibleReason, provisionalPolicy, rememberManagedPolicy } from './policy.js';

/**
 * @import { HostStarted, PeerEvent, PeerFinished, PeerStart, PeerStarted, PeerTransfer, Policy, Swarm } from './backend.js'
 * @import { BrowserPeer } from './browser_peer.js'
 * @import { EarlyTakeover, Take } from './early.js'
 * @import { HostLink } from './host.js'
 * @import { RequestLog, SeenRequest } from './request_log.js'
 * @import { NewTransfer, Transfer, Transfers } from './transfers.js'
 * @typedef {chrome.downloads.DownloadItem & { seenAt: number, policyAt: number, cancelledAt?: number }} Item a download
 *   item, when it was heard of and judged, and when it was given up for a take-over
 * @typedef {Pick<Item, 'url' | 'seenAt' | 'policyAt' | 'startTime' | 'cancelledAt'> & { id: number | null }} Judged
 * @typedef {{
 *   id: number | null, url: string, decision: string, reason: string | null, lag: number, waited: number,
 *   handoff: number | null, at: number,
 * }} Decision `handoff`: ms from hearing of the item to cancelling it (taken over)
 * @typedef {Pick<PeerStart, 'sha256' | 'size' | 'etag' | 'ranges' | 'content_type'> & { digest_source?: Transfer['digest_source'] }} Source
 *   what the browser-only peer starts from: a probe, or a response taken before its body
 */

// How long a paused download waits for the browser-only peer to reach the swarm
// before it resumes in the browser instead: SWARM_WAIT_MS while no tracker has
// counted the swarm, no longer once one counts nobody else in it, and up to
// SWARM_MEET_MS once one counts others (a connection is then likely, only slow:
// a busy machine, a peer that answers late).
const SWARM_WAIT_MS = 3000;
const SWARM_MEET_MS = 10000;
// The browser-only peer's origin waits this much longer, so that a transfer given up
// has fetched nothing.
const ORIGIN_WAIT_MARGIN_MS = 2000;
// With browser seeding, how long the paused item waits for the peer's first origin
// bytes (or a peer) before it resumes instead: an origin that answers the browser
// but not the peer's ranges (a refused range, a CORS-less redirect) gives nothing.
const FIRST_BYTES_MS = 15000;

/**
 * @param {string | null | undefined} path
 * @returns {string}
 */
export function basename(path) {
  const parts = String(path ?? '').split(/[\\/]/);
  return parts[parts.length - 1] ?? '';
}

export class Interceptor {
  /**
   * @param {typeof chrome} api
   * @param {HostLink} host
   * @param {RequestLog} requests
   * @param {Transfers} transfers
   * @param {BrowserPeer} peer
   */
  constructor(api, host, requests, transfers, peer) {
    this.api = api;
    this.host = host;
    this.peer = peer;
    this.requests = requests;
    this.transfers = transfers;
    // URLs the browser downloads again itself (a fallback): not taken over twice.
    /** @type {Set<string>} */
    this.fallbackUrls = new Set();
    // The policy as the host resolved it while it is connected (it also counts its
    // config.toml), else as the extension resolves it; kept current so that a new
    // download is judged, and paused, without waiting for anything.
    /** @type {Policy | null} */
    this.hostPolicy = null;
    /** @type {Policy | null} */
    this.localPolicy = null;
    // What was decided about recent downloads, and why (the popup shows it).
    /** @type {Decision[]} */
    this.decisions = [];
    // The blocking take-over (early.js), where the browser has one.
    /** @type {EarlyTakeover | null} */
    this.early = null;
    // The pending push of the policy to a newly connected host (background.js).
    /** @type {Promise<void> | null} */
    this.policyPush = null;
    this.refreshLocalPolicy();
  }

  // Reads the policy again: at once from what was last known (provisional), and
  // for good once the browser answers for its enterprise policy, which can take
  // seconds while it starts.
  refreshLocalPolicy() {
    this.provisional = true;
    this.quickReady = provisionalPolicy(this.api).then(
      (policy) => {
        if (this.provisional) this.localPolicy = policy;
      },
      () => {},
    );
    this.localReady = effectivePolicy(this.api).then(
      ({ policy, managed }) => {
        this.localPolicy = policy;
        this.provisional = false;
        return rememberManagedPolicy(this.api, managed);
      },
      (e) => console.warn('swarmload: policy not resolved', e),
    );
    return this.localReady;
  }

  get policy() {
    return this.hostPolicy ?? this.localPolicy;
  }

  /** @param {Policy | null} policy */
  setHostPolicy(policy) {
    this.hostPolicy = policy;
  }

  /** @param {string} url */
  isDelivery(url) {
    const origin = this.host.hello?.delivery;
    return Boolean(origin) && url.startsWith(`${origin}/`);
  }

  // Why a download is left to the browser before anything is asked, or null.
  /**
   * @param {chrome.downloads.DownloadItem} item
   * @param {Policy} policy
   */
  skipReason(item, policy) {
    const url = item.finalUrl || item.url;
    if (this.isDelivery(url) || this.isDelivery(item.url)) return 'ours';
    if (this.fallbackUrls.delete(item.url)) return 'fallback';
    if (!policy.enabled) return 'disabled';
    if (item.incognito) return 'incognito';
    if (!/^https?:/i.test(url)) return 'scheme';
    if (item.state !== 'in_progress') return 'state';
    const size = item.totalBytes > 0 ? item.totalBytes : -1;
    if (size >= 0 && size < policy.min_size_bytes) return 'too_small';
    return null;
  }

  /**
   * @param {Judged} item
   * @param {string} decision
   * @param {string | null} [reason]
   */
  decide(item, decision, reason = null) {
    // `lag`: from the download's start to this script hearing of it.
    const lag = item.seenAt - Date.parse(item.startTime);
    const waited = item.policyAt - item.seenAt;
    const handoff = item.cancelledAt ? item.cancelledAt - item.seenAt : null;
    this.decisions.unshift({ id: item.id, url: item.url, decision, reason, lag, waited, handoff, at: Date.now() });
    this.decisions.length = Math.min(this.decisions.length, 20);
    console.info(`swarmload: download ${item.id}: ${decision}${reason ? ` (${reason})` : ''}`);
  }

  /** @param {chrome.downloads.DownloadItem} download */
  async onCreated(download) {
    const item = Object.assign(download, { seenAt: Date.now(), policyAt: 0 });
    if (this.early?.wasTaken(item.url) || this.early?.wasTaken(item.finalUrl)) {
      // The remains of a request cancelled before its body: already taken over.
      await this.api.downloads.erase({ id: item.id }).catch(() => {});
      return;
    }
    // Every millisecond before the pause is origin bytes the browser fetches for
    // nothing: nothing is awaited before it once the policy is known.
    if (!this.policy) await this.quickReady;
    if (!this.policy) await this.localReady;
    item.policyAt = Date.now();
    let policy = this.policy;
    if (!policy) {
      this.decide(item, 'left to the browser', 'no policy');
      return;
    }
    const skip = this.skipReason(item, policy);
    if (skip) {
      if (skip !== 'ours') this.decide(item, 'left to the browser', skip);
      return;
    }
    const seen = this.requests.lookup(item.url, item.finalUrl || item.url);
    if (!seen || seen.method !== 'GET') {
      this.decide(item, 'left to the browser', seen ? `method ${seen.method}` : 'request not seen');
      return;
    }
    try {
      await this.api.downloads.pause(item.id);
    } catch {
      this.decide(item, 'left to the browser', 'finished before it could be paused');
      return;
    }
    if (!this.hostPolicy && this.provisional) {
      // Paused on the policy last known; the browser's own answer decides.
      await this.localReady;
      policy = this.policy;
      const skip2 = policy ? this.skipReason(item, policy) : 'no policy';
      if (skip2) {
        this.decide(item, 'left to the browser', skip2);
        await this.api.downloads.resume(item.id).catch(() => {});
        return;
      }
    }
    /** @type {string | null} */
    let why = null;
    try {
      why = await this.takeOver(item, seen);
    } catch (e) {
      why = e.code ? `${e.code}: ${e.message}` : e.message;
    }
    if (why) {
      this.decide(item, 'left to the browser', why);
      await this.api.downloads.resume(item.id).catch(() => {});
    } else {
      this.decide(item, 'taken over');
    }
  }

  // Hands the download to the host; null once taken over, else why not (the
  // browser's item is then untouched).
  /**
   * @param {Item} item
   * @param {SeenRequest} seen
   * @returns {Promise<string | null>}
   */
  async takeOver(item, seen) {
    if (!(await this.hostReady())) return this.takeOverInBrowser(item, seen);
    const url = item.finalUrl || item.url;
    // `link`: what the user clicked, before redirects (a release link to a signed
    // CDN URL, say). Checksum lists sit beside it, group mappings name it, and the
    // host asks it again when the signed URL expires.
    const resolved = await this.host.request({
      type: 'resolve',
      url,
      link: item.url,
      headers: seen.headers,
      incognito: item.incognito,
      method: seen.method,
    });
    if (!resolved.eligible) return resolved.reason;
    // The host looked for a digest header, a Metalink, a checksum list and, in a
    // trusted group, the group's mapping. With none, a group member still takes the
    // download: it computes the SHA-256 and publishes the mapping for the others.
    if (!resolved.p2p && !resolved.group_publish) {
      return `no trusted digest: ${resolved.why_not_p2p ?? 'none published'}`;
    }
    const started = await this.host.request(
      {
        type: 'start',
        url,
        link: item.url,
        headers: seen.headers,
        filename: basename(item.filename) || resolved.filename,
        sha256: null,
      },
      60000,
    );
    // From here on the browser's item is given up.
    await this.giveUp(item);
    await this.deliverFromHost(started, item.url);
    return null;
  }

  // The browser's item is cancelled and erased: a backend has the download now.
  /** @param {Item} item */
  async giveUp(item) {
    await this.api.downloads.cancel(item.id).catch(() => {});
    item.cancelledAt = Date.now();
    await this.api.downloads.erase({ id: item.id }).catch(() => {});
  }

  // The host's transfer is delivered through the browser's downloads.
  /**
   * @param {HostStarted} started
   * @param {string} originalUrl
   */
  async deliverFromHost(started, originalUrl) {
    /** @type {NewTransfer} */
    const transfer = {
      download: started.download,
      url: originalUrl,
      filename: started.filename,
      size: started.size,
      sha256: started.sha256,
      digest_source: started.digest_source ?? null,
      started: Date.now(),
      browserId: null,
    };
    this.transfers.add(transfer);
    try {
      const id = await this.api.downloads.download({
        url: started.delivery_url,
        filename: started.filename,
        conflictAction: 'uniquify',
        saveAs: false,
      });
      const t = this.transfers.get(started.download);
      if (t) t.browserId = id;
    } catch (e) {
      console.warn('swarmload: the delivery could not start; the browser downloads the original', e);
      this.transfers.failed(started.download, String(e));
      await this.host.request({ type: 'cancel', download: started.download }).catch(() => {});
      await this.restartOriginal(originalUrl);
    }
  }

  // The blocking listener cancelled this request before its body (early.js): the
  // host, or else the browser-only peer, takes it; if neither can, the browser
  // downloads the original after all.
  /** @param {Take} take */
  async takeOverEarly(take) {
    const seenAt = Date.now();
    /** @type {Judged} */
    const decision = { id: null, url: take.url, seenAt, policyAt: seenAt, startTime: new Date().toISOString() };
    try {
      if (await this.hostReady()) {
        const started = await this.host.request(
          { type: 'start', url: take.url, headers: take.seen.headers, filename: take.filename, sha256: take.sha256 },
          60000,
        );
        await this.deliverFromHost(started, take.url);
      } else {
        await this.startInBrowser(take.url, take.url, take, take.filename);
      }
      this.decide(decision, 'taken over before its body');
    } catch (e) {
      this.decide(decision, 'left to the browser', `early take-over failed: ${e.message}`);
      await this.restartOriginal(take.url);
    }
  }

  // Whether the native host is there, and once it is, that it has heard the
  // policy it judges downloads by (the extension's first push).
  /** @returns {Promise<boolean>} */
  async hostReady() {
    if (!this.host.hello) {
      try {
        await this.host.connect();
      } catch {
        return false;
      }
    }
    if (!this.hostPolicy && this.policyPush) await this.policyPush;
    return true;
  }

  // Browser-only: the same rules and the same trust as the host's, then the
  // browser-only peer downloads it. Null once taken over, else why not.
  /**
   * @param {Item} item
   * @param {SeenRequest} seen
   * @returns {Promise<string | null>}
   */
  async takeOverInBrowser(item, seen) {
    const url = item.finalUrl || item.url;
    const policy = this.policy;
    if (!policy) return 'no policy';
    const names = seen.headers.map((h) => h.name);
    const why = await ineligibleReason(policy, url, names, item.incognito, seen.method);
    if (why) return why;
    if (policy.trackers.length === 0) return 'no tracker configured';
    // Checksum lists are looked for beside the link the user clicked.
    const probe = await this.peer.request({ type: 'probe', url, link: item.url });
    if (!probe.sha256) {
      return probe.digest_error
        ? `bad digest: ${probe.digest_error}`
        : `no trusted digest: ${probe.why_not_p2p ?? 'no digest header, no Metalink, no #sha256= in the link, no checksum list beside the file'}`;
    }
    if (probe.size === null || probe.size === undefined) return 'size unknown';
    const filename = basename(item.filename) || basename(new URL(url).pathname) || 'download';
    /** @type {Source} */
    const info = { ...probe, sha256: probe.sha256, size: probe.size };
    if (policy.browser_seeding && policy.upload_enabled) return this.seedInBrowser(item, info, filename, policy);
    // The browser's item stays paused while the peer looks for the swarm, and the
    // peer's origin waits longer still (it fills in at once once a peer came): with
    // no peer by then, the transfer stops, the item simply resumes, and nothing was
    // fetched twice.
    const wait = SWARM_MEET_MS + ORIGIN_WAIT_MARGIN_MS;
    const started = await this.peer.request({
      ...this.startRequest(url, info, filename, policy),
      policy: { ...policy, origin_fallback_delay_ms: Math.max(policy.origin_fallback_delay_ms, wait) },
    });
    const notFound = await this.swarmNotFound(started.download);
    if (notFound) {
      await this.peer.request({ type: 'cancel', download: started.download }).catch(() => {});
      return notFound;
    }
    await this.giveUp(item);
    this.addBrowserTransfer(started, item.url, info, filename);
    return null;
  }

  // The first downloader seeds: the peer takes the download whether or not a swarm
  // exists (the origin at once, peers as they come), and the paused item is
  // cancelled once the peer has its first bytes. Null once taken over, else why not
  // (the item then resumes, and the peer's transfer is gone).
  /**
   * @param {Item} item
   * @param {Source} info
   * @param {string} filename
   * @param {Policy} policy
   * @returns {Promise<string | null>}
   */
  async seedInBrowser(item, info, filename, policy) {
    const url = item.finalUrl || item.url;
    const started = await this.peer.request(this.startRequest(url, info, filename, policy));
    const why = await this.firstBytes(started.download);
    if (why) {
      await this.peer.request({ type: 'cancel', download: started.download }).catch(() => {});
      return why;
    }
    await this.giveUp(item);
    this.addBrowserTransfer(started, item.url, info, filename);
    return null;
  }

  // Null once the browser-only transfer `download` has bytes coming (from the origin
  // or a peer), else why not within FIRST_BYTES_MS.
  /**
   * @param {string} download
   * @returns {Promise<string | null>}
   */
  firstBytes(download) {
    return new Promise((resolve) => {
      let settled = false;
      /** @param {string | null} why */
      const finish = (why) => {
        if (settled) return;
        settled = true;
        this.peer.offEvent(listener);
        clearTimeout(timer);
        resolve(why);
      };
      /** @param {Swarm | PeerTransfer | undefined} t */
      const judge = (t) => {
        if (!t) return finish('the browser-only transfer is gone');
        if (t.phase === 'failed' || t.phase === 'stopped') return finish(`the browser-only transfer failed: ${t.error ?? t.phase}`);
        if (t.from_origin > 0 || t.peers > 0 || t.from_peers > 0 || t.phase !== 'downloading') finish(null);
      };
      /** @param {PeerEvent} ev */
      const listener = (ev) => {
        if (ev.download !== download) return;
        if (ev.type === 'failed') finish(`the browser-only transfer failed: ${ev.error}`);
        else if (ev.type === 'finished') finish(null);
        else if (ev.type === 'swarm') judge(ev);
      };
      const timer = setTimeout(() => finish(`no bytes within ${FIRST_BYTES_MS / 1000} s (origin or peers)`), FIRST_BYTES_MS);
      this.peer.onEvent(listener);
      // The state before the first event (one may have come before the listener).
      this.peer.request({ type: 'status' }).then(
        ({ active }) => judge(active.find((x) => x.download === download)),
        (e) => finish(`the browser peer did not answer: ${e?.message ?? e}`),
      );
    });
  }

  // Null once the browser-only transfer `download` reaches a peer, else why it did
  // not (see SWARM_WAIT_MS). `swarm_size`: the others a tracker counts, once one
  // answered. Judged on the transfer's `swarm` events as they come, and once more as
  // each deadline passes.
  /**
   * @param {string} download
   * @returns {Promise<string | null>}
   */
  swarmNotFound(download) {
    const start = Date.now();
    return new Promise((resolve) => {
      let settled = false;
      /** @type {ReturnType<typeof setTimeout>[]} */
      const timers = [];
      /** @param {string | null} why */
      const finish = (why) => {
        if (settled) return;
        settled = true;
        this.peer.offEvent(listener);
        for (const t of timers) clearTimeout(t);
        resolve(why);
      };
      /** @param {Swarm | PeerTransfer | { phase: 'failed', error: string } | undefined} t */
      const judge = (t) => {
        if (!t || t.phase === 'failed') return finish(`the browser-only transfer failed: ${t?.error ?? 'gone'}`);
        if (t.peers > 0 || t.from_peers > 0 || t.phase === 'seeding') return finish(null);
        const waited = Date.now() - start;
        if (t.swarm_size === 0) return finish('no peer: the trackers count no one else in the swarm');
        if ((t.swarm_size ?? 0) > 0 && waited >= SWARM_MEET_MS) {
          return finish(`no peer within ${SWARM_MEET_MS / 1000} s (the trackers count ${t.swarm_size})`);
        }
        if (!((t.swarm_size ?? 0) > 0) && waited >= SWARM_WAIT_MS) {
          return finish(`no peer within ${SWARM_WAIT_MS / 1000} s (no tracker answered)`);
        }
      };
      /** @param {PeerEvent} ev */
      const listener = (ev) => {
        if (ev.download !== download) return;
        if (ev.type === 'swarm') judge(ev);
        else if (ev.type === 'failed') judge({ phase: 'failed', error: ev.error });
        else if (ev.type === 'finished') finish(null);
      };
      this.peer.onEvent(listener);
      const look = async () => {
        try {
          const { active } = await this.peer.request({ type: 'status' });
          judge(active.find((x) => x.download === download));
        } catch (e) {
          finish(`the browser peer did not answer: ${e?.message ?? e}`);
        }
      };
      // The state before the first event, and again just after each deadline.
      look();
      timers.push(setTimeout(look, SWARM_WAIT_MS + 50), setTimeout(look, SWARM_MEET_MS + 50));
    });
  }

  /**
   * @param {string} url
   * @param {Source} info
   * @param {string} filename
   * @param {Policy} policy
   * @returns {PeerStart}
   */
  startRequest(url, info, filename, policy) {
    return {
      type: 'start',
      url,
      sha256: info.sha256,
      size: info.size,
      etag: info.etag,
      ranges: info.ranges,
      filename,
      content_type: info.content_type,
      policy,
    };
  }

  /**
   * @param {PeerStarted} started
   * @param {string} originalUrl
   * @param {Source} info
   * @param {string} filename
   */
  addBrowserTransfer(started, originalUrl, info, filename) {
    this.transfers.add({
      download: started.download,
      url: originalUrl,
      filename,
      size: info.size,
      sha256: info.sha256,
      digest_source: info.digest_source ?? null,
      started: Date.now(),
      browserId: null,
      mode: 'browser',
    });
  }

  // Starts the browser-only peer on `url` (`info`: sha256, size, etag, ranges,
  // content_type) for a request already cancelled (the blocking take-over).
  /**
   * @param {string} url
   * @param {string} originalUrl
   * @param {Source} info
   * @param {string} filename
   */
  async startInBrowser(url, originalUrl, info, filename) {
    const policy = this.policy;
    if (!policy) throw new Error('no policy');
    const started = await this.peer.request(this.startRequest(url, info, filename, policy));
    this.addBrowserTransfer(started, originalUrl, info, filename);
  }

  // The browser-only peer finished and verified a file: the browser downloads it
  // from its OPFS-backed blob: URL. The transfer counts as done once that download
  // completes (onChanged).
  /** @param {PeerFinished} ev */
  async deliverFromBrowser(ev) {
    const t = this.transfers.get(ev.download);
    if (!t || t.state !== 'active') return;
    t.phase = 'delivering';
    t.finish = ev;
    try {
      t.browserId = await this.api.downloads.download({
        url: ev.blob_url,
        filename: t.filename,
        conflictAction: 'uniquify',
        saveAs: false,
      });
    } catch (e) {
      this.transfers.failed(t.download, `the delivery could not start: ${e}`);
      await this.recover(t);
    }
  }

  // The browser downloads `url` itself, untouched by Swarmload.
  /** @param {string} url */
  async restartOriginal(url) {
    this.fallbackUrls.add(url);
    try {
      await this.api.downloads.download({ url, saveAs: false });
    } catch (e) {
      this.fallbackUrls.delete(url);
      console.error('swarmload: could not restart the original download', e);
    }
  }

  // A transfer failed after the original was cancelled: clear the broken delivery
  // and let the browser fetch the original.
  /** @param {Transfer} transfer */
  async recover(transfer) {
    if (transfer.browserId !== null) {
      await this.api.downloads.cancel(transfer.browserId).catch(() => {});
      await this.api.downloads.erase({ id: transfer.browserId }).catch(() => {});
    }
    await this.restartOriginal(transfer.url);
  }

  // The user's side of a delivery: cancelling it in the browser cancels the host's
  // download; any other interruption falls back to the original.
  /** @param {chrome.downloads.DownloadDelta} delta */
  async onChanged(delta) {
    const t = this.transfers.byBrowserId(delta.id);
    if (!t || t.state !== 'active') return;
    if (delta.state?.current === 'complete' && t.mode === 'browser' && t.finish) {
      await this.transfers.finished(t.finish);
      // The peer lets go of a file it does not keep.
      await this.peer.request({ type: 'delivered', download: t.download }).catch(() => {});
      return;
    }
    if (delta.state?.current !== 'interrupted') return;
    const userCancelled = delta.error?.current === 'USER_CANCELED';
    this.transfers.failed(t.download, userCancelled ? 'cancelled' : delta.error?.current ?? 'interrupted');
    if (t.mode === 'browser') {
      if (userCancelled) await this.peer.request({ type: 'cancel', download: t.download }).catch(() => {});
    } else {
      await this.host.request({ type: 'cancel', download: t.download }).catch(() => {});
    }
    if (!userCancelled) await this.recover(t);
  }
}

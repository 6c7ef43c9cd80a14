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
// 4. Never lose a download: if anything fails after the original item was cancelled,
//    the original URL is downloaded again by the browser itself.

import { effectivePolicy } from './policy.js';

export function basename(path) {
  const parts = String(path ?? '').split(/[\\/]/);
  return parts[parts.length - 1] ?? '';
}

export class Interceptor {
  constructor(api, host, requests, transfers) {
    this.api = api;
    this.host = host;
    this.requests = requests;
    this.transfers = transfers;
    // URLs the browser downloads again itself (a fallback): not taken over twice.
    this.fallbackUrls = new Set();
    this.policy = null;
  }

  // The policy as the host resolved it, when it is connected (it also counts its
  // config.toml); else as the extension resolves it.
  async currentPolicy() {
    if (this.policy) return this.policy;
    return (await effectivePolicy(this.api)).policy;
  }

  setHostPolicy(policy) {
    this.policy = policy;
  }

  isDelivery(url) {
    const origin = this.host.hello?.delivery;
    return Boolean(origin) && url.startsWith(`${origin}/`);
  }

  // Why a download is left to the browser before anything is asked, or null.
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

  async onCreated(item) {
    let policy;
    try {
      policy = await this.currentPolicy();
    } catch (e) {
      console.warn('swarmload: no policy, leaving the download alone', e);
      return;
    }
    const skip = this.skipReason(item, policy);
    if (skip) {
      console.info(`swarmload: download ${item.id} left to the browser (${skip})`);
      return;
    }
    const seen = this.requests.lookup(item.url, item.finalUrl || item.url);
    if (!seen || seen.method !== 'GET') {
      console.info(`swarmload: download ${item.id} left to the browser (request ${seen ? seen.method : 'not seen'})`);
      return;
    }
    try {
      await this.api.downloads.pause(item.id);
    } catch {
      return; // Already finished or gone.
    }
    let taken = false;
    try {
      taken = await this.takeOver(item, seen);
    } catch (e) {
      console.info(`swarmload: download ${item.id} left to the browser (${e.message})`);
    }
    if (!taken) {
      await this.api.downloads.resume(item.id).catch(() => {});
    }
  }

  // Hands the download to the host; false while the browser's item is untouched.
  async takeOver(item, seen) {
    const url = item.finalUrl || item.url;
    const resolved = await this.host.request({
      type: 'resolve',
      url,
      headers: seen.headers,
      incognito: item.incognito,
      method: seen.method,
    });
    if (!resolved.eligible) {
      console.info(`swarmload: download ${item.id} not eligible (${resolved.reason})`);
      return false;
    }
    if (!resolved.p2p) {
      console.info(`swarmload: download ${item.id} has no trusted digest`);
      return false;
    }
    const started = await this.host.request(
      {
        type: 'start',
        url,
        headers: seen.headers,
        filename: basename(item.filename) || resolved.filename,
        sha256: null,
      },
      60000,
    );
    // From here on the browser's item is given up.
    await this.api.downloads.cancel(item.id).catch(() => {});
    await this.api.downloads.erase({ id: item.id }).catch(() => {});
    const transfer = {
      download: started.download,
      url: item.url,
      filename: started.filename,
      size: started.size,
      sha256: started.sha256,
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
      this.transfers.get(started.download).browserId = id;
    } catch (e) {
      console.warn('swarmload: the delivery could not start; the browser downloads the original', e);
      this.transfers.failed(started.download, String(e));
      await this.host.request({ type: 'cancel', download: started.download }).catch(() => {});
      await this.restartOriginal(item.url);
    }
    return true;
  }

  // The browser downloads `url` itself, untouched by Swarmload.
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
  async recover(transfer) {
    if (transfer.browserId !== null) {
      await this.api.downloads.cancel(transfer.browserId).catch(() => {});
      await this.api.downloads.erase({ id: transfer.browserId }).catch(() => {});
    }
    await this.restartOriginal(transfer.url);
  }

  // The user's side of a delivery: cancelling it in the browser cancels the host's
  // download; any other interruption falls back to the original.
  async onChanged(delta) {
    const t = this.transfers.byBrowserId(delta.id);
    if (!t || delta.state?.current !== 'interrupted' || t.state !== 'active') return;
    const userCancelled = delta.error?.current === 'USER_CANCELED';
    this.transfers.failed(t.download, userCancelled ? 'cancelled' : delta.error?.current ?? 'interrupted');
    await this.host.request({ type: 'cancel', download: t.download }).catch(() => {});
    if (!userCancelled) await this.recover(t);
  }
}

// Swarmload's background: a service worker in Chromium, a background page in
// Firefox. Listeners are registered synchronously at the top level so that the
// browser wakes this script for them.

import { BrowserPeer } from './lib/browser_peer.js';
import { EarlyTakeover } from './lib/early.js';
import { HostLink } from './lib/host.js';
import { Interceptor } from './lib/intercept.js';
import { effectivePolicy, loadWasm, localSettings, managedPolicy } from './lib/policy.js';
import { RequestLog } from './lib/request_log.js';
import { Transfers } from './lib/transfers.js';

/**
 * @import { Failed, PeerEvent, PeerStatus, Policy } from './lib/backend.js'
 * @import { Decision } from './lib/intercept.js'
 * @import { Transfer } from './lib/transfers.js'
 * @typedef {{
 *   enabled: boolean, managed_keys: string[], policy_error: string | null, host: { version: string } | null,
 *   decisions: Decision[], transfers: Transfer[], saved_bytes: number, peer: PeerStatus | null, peer_recycles: number,
 * }} State what the popup is told (`{type: 'state'}`)
 */

const api = globalThis.browser ?? globalThis.chrome;

const host = new HostLink(api);
const requests = new RequestLog();
const transfers = new Transfers(api);
const peer = new BrowserPeer(api);
const interceptor = new Interceptor(api, host, requests, transfers, peer);

requests.listen(api);
// Where blocking webRequest exists, downloads are taken over before their body.
const early = new EarlyTakeover(api, interceptor, requests);
interceptor.early = early;
early.install();
loadWasm();
api.downloads.onCreated.addListener((item) => {
  interceptor.onCreated(item);
});
api.downloads.onChanged.addListener((delta) => {
  interceptor.onChanged(delta);
});

// Sends the policy to the host; its answer (which also counts its config.toml)
// becomes what the extension obeys.
async function pushPolicy() {
  const [policy, settings] = await Promise.all([managedPolicy(api), localSettings(api)]);
  try {
    const reply = await host.request({ type: 'policy', policy, settings });
    interceptor.setHostPolicy(reply.effective);
  } catch (e) {
    console.warn('swarmload: policy not pushed', e.message);
  }
}

// A download either backend gave up on (lib/backend.d.ts: both report alike).
/** @param {Failed} ev */
async function onFailed(ev) {
  const t = transfers.failed(ev.download, ev.error);
  if (t && !ev.cancelled) await interceptor.recover(t);
}

host.onEvent(async (ev) => {
  switch (ev.type) {
    case 'host_up':
      // A download must not be resolved by a host that has not heard the
      // enterprise policy yet: the interceptor waits for this push.
      interceptor.policyPush = pushPolicy();
      await interceptor.policyPush;
      break;
    case 'progress':
      transfers.progress(ev);
      break;
    case 'finished':
      // Already delivered as it came (the host's loopback URL).
      await transfers.finished(ev);
      break;
    case 'failed':
      await onFailed(ev);
      break;
    case 'host_gone':
      interceptor.setHostPolicy(null);
      for (const t of transfers.active().filter((t) => t.mode !== 'browser')) {
        transfers.failed(t.download, 'the native host stopped');
        await interceptor.recover(t);
      }
      break;
    default:
      break;
  }
});

// The browser-only peer's events (from the offscreen document in Chromium).
peer.onEvent(async (ev) => {
  switch (ev.type) {
    case 'progress':
      transfers.progress(ev);
      break;
    case 'finished':
      // Verified, now to be delivered (an OPFS-backed blob: URL).
      await interceptor.deliverFromBrowser(ev);
      break;
    case 'failed':
      await onFailed(ev);
      break;
    case 'kept':
      // Remembered so that the next start seeds them again (restoreSeeds).
      await api.storage.local.set({ browser_seeds: ev.kept });
      break;
    case 'recycle':
      // The page spent most of its peer connections: a new one seeds the kept files.
      if (await peer.recycle()) {
        const { peer_recycles: n } = /** @type {{ peer_recycles?: number }} */ (await api.storage.local.get('peer_recycles'));
        await api.storage.local.set({ peer_recycles: (n ?? 0) + 1 });
        await restoreSeeds();
      }
      break;
    default:
      break;
  }
});

// Files the browser-only peer kept in earlier sessions are seeded again as this
// script starts, within the extension's own policy, which may also have turned
// sharing off since (the peer then removes them). With no native host and browser
// seeding on, the peer is made at start even with nothing kept: the first download
// is then handed over within a fraction of a second (the offscreen document, the
// wasm and the storage ready), so the browser's own item takes little from the
// origin before it is cancelled (docs/benchmarks.md). Otherwise nothing is made.
async function restoreSeeds() {
  const { browser_seeds: kept } = /** @type {{ browser_seeds?: number }} */ (await api.storage.local.get('browser_seeds'));
  /** @param {Policy | null} policy */
  const ready = (policy) =>
    policy !== null && !host.hello && policy.enabled && policy.browser_seeding && policy.upload_enabled && policy.trackers.length > 0;
  // The policy last known is there at once, the browser's own answer seconds later
  // at start-up: the page is made on the first, and restores on the second.
  await interceptor.quickReady;
  if (ready(interceptor.localPolicy)) peer.request({ type: 'status' }).catch(() => {});
  await interceptor.localReady;
  const policy = interceptor.localPolicy;
  if (!policy) return;
  if (!kept && !peer.making && !ready(policy)) return;
  try {
    await peer.request({ type: 'restore', policy });
  } catch (e) {
    console.warn('swarmload: kept files not seeded', e?.message ?? e);
  }
}

api.storage.onChanged.addListener((changes, area) => {
  if (area === 'local' && 'peer_connection_budget' in changes) peer.configure().catch(() => {});
  if (area === 'managed' || (area === 'local' && 'settings' in changes)) {
    interceptor.refreshLocalPolicy().then(restoreSeeds);
    if (host.hello) pushPolicy();
  }
});

// The popup and the options page ask for the current state.
api.runtime.onMessage.addListener((message, _sender, reply) => {
  if (message?.target === 'background') {
    peer.dispatch(/** @type {PeerEvent} */ (message));
    return false;
  }
  if (message?.type === 'unshare' || message?.type === 'clear_cache') {
    // The popup's "stop sharing this" and "clear the cache".
    const asked = message.type === 'unshare' ? peer.request({ type: 'unshare', download: String(message.download) }) : peer.request({ type: 'clear_cache' });
    asked.then(reply, (e) => reply({ error: String(e?.message ?? e) }));
    return true;
  }
  if (message?.type !== 'state') return false;
  (async () => {
    const { policy, managed, error } = await effectivePolicy(api);
    const effective = interceptor.hostPolicy ?? policy;
    /** @type {State} */
    const state = {
      enabled: effective.enabled,
      managed_keys: Object.keys(managed),
      policy_error: error,
      host: host.hello ? { version: host.hello.version } : null,
      decisions: interceptor.decisions,
      ...transfers.snapshot(),
      // The browser peer's seeds and storage, when it runs (never made just to ask).
      peer: peer.making ? await peer.request({ type: 'status' }).catch(() => null) : null,
      peer_recycles: /** @type {{ peer_recycles?: number }} */ (await api.storage.local.get('peer_recycles')).peer_recycles ?? 0,
    };
    reply(state);
  })();
  return true;
});

// Connect at start-up: the host seeds what it holds once it has the policy.
host
  .connect()
  .catch((e) => console.info('swarmload: no native host', e.message))
  .finally(restoreSeeds);

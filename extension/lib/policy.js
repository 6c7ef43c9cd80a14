// The policy the extension obeys: enterprise policy (`storage.managed`, set by an
// administrator) over the options page's settings over the defaults, resolved and
// validated by the core's own policy model (wasm), the same one the host uses. When
// the host is connected, its answer (which also counts its config.toml) wins.

import init, { ineligible_reason, resolve_policy_layers, trusted_digest } from '../wasm/swarmload_browser.js';

/**
 * @import { Policy } from './backend.js'
 * @typedef {Record<string, unknown>} PolicyLayer enterprise policy or the options page's settings: some of `Policy`'s keys
 */

/** @type {Promise<void> | null} */
let wasmReady = null;
let wasmLoaded = false;

/** @returns {Promise<void>} */
export function loadWasm() {
  wasmReady ??= init().then(() => {
    wasmLoaded = true;
  });
  return wasmReady;
}

// Synchronous forms, for blocking webRequest listeners (which cannot wait): null
// until the core is loaded, which happens at start-up.
/**
 * @param {Policy} policy
 * @param {string} url
 * @param {string[]} headerNames
 * @param {boolean} incognito
 * @param {string} [method]
 * @returns {string | null}
 */
export function ineligibleReasonNow(policy, url, headerNames, incognito, method) {
  if (!wasmLoaded) return 'starting';
  return ineligible_reason(JSON.stringify(policy), url, headerNames, incognito, method ?? undefined) ?? null;
}

// The trusted SHA-256 a response names (Repr-Digest, Unencoded-Digest, Digest, or the URL's
// #sha256=), or null; throws on a malformed header.
/**
 * @param {{ repr: string | null, unencoded: string | null, digest: string | null, encoding: string | null }} h
 *   the response's Repr-Digest, Unencoded-Digest, Digest and Content-Encoding
 * @param {string} url
 * @returns {string | null}
 */
export function headerDigestNow(h, url) {
  if (!wasmLoaded) return null;
  return trusted_digest(h.repr ?? undefined, h.unencoded ?? undefined, h.digest ?? undefined, h.encoding ?? undefined, url) ?? null;
}

/**
 * @param {typeof chrome} api
 * @returns {Promise<PolicyLayer>}
 */
export async function managedPolicy(api) {
  try {
    return (await api.storage.managed.get(null)) ?? {};
  } catch {
    // No managed storage (Firefox without enterprise policy): nothing is enforced.
    return {};
  }
}

/**
 * @param {typeof chrome} api
 * @returns {Promise<PolicyLayer>}
 */
export async function localSettings(api) {
  const { settings } = /** @type {{ settings?: PolicyLayer }} */ (await api.storage.local.get('settings'));
  return settings ?? {};
}

// Resolves layers (highest first); throws an Error naming the first bad key.
/**
 * @param {PolicyLayer[]} layers
 * @returns {Promise<Policy>}
 */
export async function resolveLayers(layers) {
  await loadWasm();
  return resolve_policy_layers(JSON.stringify(layers));
}

// The enterprise policy as last read, kept in local storage: `storage.managed` can
// take seconds to answer while the browser starts, and a download must be judged
// (and paused) at once.
/**
 * @param {typeof chrome} api
 * @returns {Promise<PolicyLayer>}
 */
export async function lastManagedPolicy(api) {
  const { managed_cache: cached } = /** @type {{ managed_cache?: PolicyLayer }} */ (await api.storage.local.get('managed_cache'));
  return cached ?? {};
}

/**
 * @param {typeof chrome} api
 * @param {PolicyLayer} managed
 */
export async function rememberManagedPolicy(api, managed) {
  // The group's secret stays in managed storage only: local storage is a file in
  // the profile that any backup copies.
  const { group_secret: _secret, ...kept } = managed ?? {};
  await api.storage.local.set({ managed_cache: kept });
}

// Like `effectivePolicy`, from the remembered enterprise policy: quick, but only
// provisional until the real one has been read.
/**
 * @param {typeof chrome} api
 * @returns {Promise<Policy>}
 */
export async function provisionalPolicy(api) {
  const [managed, settings] = await Promise.all([lastManagedPolicy(api), localSettings(api)]);
  try {
    return await resolveLayers([managed, settings]);
  } catch {
    return resolveLayers([managed]);
  }
}

/**
 * @param {typeof chrome} api
 * @returns {Promise<{ policy: Policy, managed: PolicyLayer, settings: PolicyLayer, error: string | null }>}
 */
export async function effectivePolicy(api) {
  const [managed, settings] = await Promise.all([managedPolicy(api), localSettings(api)]);
  try {
    return { policy: await resolveLayers([managed, settings]), managed, settings, error: null };
  } catch (e) {
    // A bad local setting must not unlock anything: enterprise policy alone then.
    return { policy: await resolveLayers([managed]), managed, settings, error: String(e) };
  }
}

// Why a download may not be shared, or null: the host's own rules (the core's
// `eligibility`), for the browser-only peer.
/**
 * @param {Policy} policy
 * @param {string} url
 * @param {string[]} headerNames
 * @param {boolean} incognito
 * @param {string} [method]
 * @returns {Promise<string | null>}
 */
export async function ineligibleReason(policy, url, headerNames, incognito, method) {
  await loadWasm();
  return ineligible_reason(JSON.stringify(policy), url, headerNames, incognito, method ?? undefined) ?? null;
}

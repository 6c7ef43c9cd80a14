// The policy the extension obeys: enterprise policy (`storage.managed`, set by an
// administrator) over the options page's settings over the defaults, resolved and
// validated by the core's own policy model (wasm), the same one the host uses. When
// the host is connected, its answer (which also counts its config.toml) wins.

import init, { resolve_policy_layers } from '../wasm/swarmload_core.js';

let wasmReady = null;

function loadWasm() {
  wasmReady ??= init();
  return wasmReady;
}

export async function managedPolicy(api) {
  try {
    return (await api.storage.managed.get(null)) ?? {};
  } catch {
    // No managed storage (Firefox without enterprise policy): nothing is enforced.
    return {};
  }
}

export async function localSettings(api) {
  const { settings } = await api.storage.local.get('settings');
  return settings ?? {};
}

// Resolves layers (highest first); throws an Error naming the first bad key.
export async function resolveLayers(layers) {
  await loadWasm();
  return resolve_policy_layers(JSON.stringify(layers));
}

export async function effectivePolicy(api) {
  const [managed, settings] = await Promise.all([managedPolicy(api), localSettings(api)]);
  try {
    return { policy: await resolveLayers([managed, settings]), managed, settings, error: null };
  } catch (e) {
    // A bad local setting must not unlock anything: enterprise policy alone then.
    return { policy: await resolveLayers([managed]), managed, settings, error: String(e) };
  }
}

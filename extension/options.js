import { effectivePolicy, resolveLayers } from './lib/policy.js';

/**
 * @import { Policy } from './lib/backend.js'
 * @typedef {{
 *   id: string,
 *   key: keyof Policy,
 *   read(el: HTMLInputElement): Policy[keyof Policy],
 *   show(el: HTMLInputElement, value: Policy[keyof Policy]): void,
 * }} Field
 */

const api = globalThis.browser ?? globalThis.chrome;

// Elements options.html has.
/** @param {string} id */
const element = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
/** @param {string} id */
const input = (id) => /** @type {HTMLInputElement} */ (document.getElementById(id));

// Each control: the policy key it sets, and how it converts.
/** @type {Field[]} */
const FIELDS = [
  { id: 'enabled', key: 'enabled', read: (el) => el.checked, show: (el, /** @type {boolean} */ v) => { el.checked = v; } },
  {
    id: 'trackers',
    key: 'trackers',
    read: (el) => el.value.split('\n').map((s) => s.trim()).filter(Boolean),
    show: (el, /** @type {string[]} */ v) => { el.value = v.join('\n'); },
  },
  {
    id: 'min_size_mb',
    key: 'min_size_bytes',
    read: (el) => Math.round(Number(el.value) * 1e6),
    show: (el, /** @type {number} */ v) => { el.value = String(v / 1e6); },
  },
  { id: 'upload_enabled', key: 'upload_enabled', read: (el) => el.checked, show: (el, /** @type {boolean} */ v) => { el.checked = v; } },
  { id: 'browser_seeding', key: 'browser_seeding', read: (el) => el.checked, show: (el, /** @type {boolean} */ v) => { el.checked = v; } },
  {
    id: 'upload_kbps',
    key: 'max_upload_bytes_per_sec',
    read: (el) => Math.round(Number(el.value) * 1e3),
    show: (el, /** @type {number} */ v) => { el.value = String(v / 1e3); },
  },
  {
    id: 'cache_gb',
    key: 'cache_max_bytes',
    read: (el) => Math.round(Number(el.value) * 1e9),
    show: (el, /** @type {number} */ v) => { el.value = String(v / 1e9); },
  },
];

async function load() {
  const { policy, managed, settings, error } = await effectivePolicy(api);
  for (const f of FIELDS) {
    const el = input(f.id);
    f.show(el, policy[f.key]);
    const locked = f.key in managed;
    el.disabled = locked;
    element(`${f.key}-locked`).hidden = !locked;
  }
  if (error) element('result').textContent = `Saved settings were refused: ${error}`;
  return { managed, settings };
}

element('form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const { managed, settings } = await load.cached;
  const next = { ...settings };
  for (const f of FIELDS) {
    if (f.key in managed) continue;
    next[f.key] = f.read(input(f.id));
  }
  const result = element('result');
  try {
    // The core's policy model validates, naming the key that is wrong.
    await resolveLayers([managed, next]);
  } catch (err) {
    result.textContent = `Not saved: ${err.message ?? err}`;
    return;
  }
  await api.storage.local.set({ settings: next });
  load.cached = load();
  result.textContent = 'Saved.';
});

load.cached = load();

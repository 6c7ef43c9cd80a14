import { effectivePolicy, resolveLayers } from './lib/policy.js';

const api = globalThis.browser ?? globalThis.chrome;

// Each control: the policy key it sets, and how it converts.
const FIELDS = [
  { id: 'enabled', key: 'enabled', read: (el) => el.checked, show: (el, v) => { el.checked = v; } },
  {
    id: 'trackers',
    key: 'trackers',
    read: (el) => el.value.split('\n').map((s) => s.trim()).filter(Boolean),
    show: (el, v) => { el.value = v.join('\n'); },
  },
  {
    id: 'min_size_mb',
    key: 'min_size_bytes',
    read: (el) => Math.round(Number(el.value) * 1e6),
    show: (el, v) => { el.value = v / 1e6; },
  },
  { id: 'upload_enabled', key: 'upload_enabled', read: (el) => el.checked, show: (el, v) => { el.checked = v; } },
  {
    id: 'upload_kbps',
    key: 'max_upload_bytes_per_sec',
    read: (el) => Math.round(Number(el.value) * 1e3),
    show: (el, v) => { el.value = v / 1e3; },
  },
  {
    id: 'cache_gb',
    key: 'cache_max_bytes',
    read: (el) => Math.round(Number(el.value) * 1e9),
    show: (el, v) => { el.value = v / 1e9; },
  },
];

async function load() {
  const { policy, managed, settings, error } = await effectivePolicy(api);
  for (const f of FIELDS) {
    const el = document.getElementById(f.id);
    f.show(el, policy[f.key]);
    const locked = f.key in managed;
    el.disabled = locked;
    document.getElementById(`${f.key}-locked`).hidden = !locked;
  }
  if (error) document.getElementById('result').textContent = `Saved settings were refused: ${error}`;
  return { managed, settings };
}

document.getElementById('form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const { managed, settings } = await load.cached;
  const next = { ...settings };
  for (const f of FIELDS) {
    if (f.key in managed) continue;
    next[f.key] = f.read(document.getElementById(f.id));
  }
  const result = document.getElementById('result');
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

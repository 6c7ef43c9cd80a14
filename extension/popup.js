import { bytes, rate } from './format.js';

/**
 * @import { State } from './background.js'
 * @import { PeerSeed } from './lib/backend.js'
 * @import { Decision } from './lib/intercept.js'
 * @import { Transfer } from './lib/transfers.js'
 */

const api = globalThis.browser ?? globalThis.chrome;

// An element popup.html has.
/** @param {string} id */
const element = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

// A list entry headed by `title`.
/** @param {string} title */
function listItem(title) {
  const li = document.createElement('li');
  const name = document.createElement('div');
  name.className = 'name';
  name.textContent = title;
  li.append(name);
  return li;
}

/** @param {Transfer} t */
function item(t) {
  const li = listItem(t.filename);

  const bar = document.createElement('progress');
  bar.max = t.size || 1;
  bar.value = t.have || 0;
  bar.setAttribute('aria-label', `${t.filename}: ${bytes(t.have)} of ${bytes(t.size)}`);
  li.append(bar);

  // How the bytes so far split between peers and the origin.
  const got = (t.from_peers || 0) + (t.from_origin || 0);
  const split = document.createElement('div');
  split.className = 'split';
  split.setAttribute('aria-hidden', 'true');
  for (const [cls, n] of /** @type {[string, number][]} */ ([['peers', t.from_peers], ['origin', t.from_origin]])) {
    const s = document.createElement('span');
    s.className = cls;
    s.style.width = got ? `${(100 * (n || 0)) / got}%` : '0';
    split.append(s);
  }
  li.append(split);

  const line = document.createElement('div');
  line.className = 'muted';
  const parts = [`${bytes(t.have)} of ${bytes(t.size)}`];
  if (t.state === 'active') parts.push(rate(t.bytes_per_sec), `${t.peers} peer${t.peers === 1 ? '' : 's'}`);
  parts.push(`${bytes(t.from_peers)} from peers, ${bytes(t.from_origin)} from the origin`);
  if (t.state === 'done') parts.push('done');
  if (t.state === 'failed') {
    line.classList.add('state-failed');
    parts.push(t.error === 'cancelled' ? 'cancelled' : 'failed; the browser downloads it instead');
  }
  line.textContent = parts.join(' · ');
  li.append(line);

  const source = document.createElement('div');
  source.className = 'muted';
  source.textContent = t.digest_source
    ? `SHA-256 from ${SOURCES[t.digest_source] ?? t.digest_source}`
    : t.group_publish
      ? 'SHA-256: none published; computed here and shared with your trusted group'
      : t.state === 'active'
        ? 'SHA-256: looking for a checksum list beside the file'
        : 'SHA-256: none published; checked only as one version of the file';
  li.append(source);
  return li;
}

// Where a download's trusted SHA-256 came from (the host's `digest_source`).
/** @type {Record<string, string>} */
const SOURCES = {
  header: "the origin's digest header",
  metalink: "the origin's Metalink",
  checksum_file: 'a checksum list beside the file',
  group: 'your trusted group',
  explicit: 'the link itself',
};

// A download the extension left to the browser, and why.
/** @param {Decision} d */
function decision(d) {
  const li = listItem(d.url.split('/').pop() || d.url);
  const why = document.createElement('div');
  why.className = 'muted';
  why.textContent = `left to the browser: ${d.reason ?? 'not eligible'}`;
  li.append(why);
  return li;
}

// A file the browser peer serves to others, with what it has uploaded.
/** @param {PeerSeed} seed */
function seedItem(seed) {
  const li = listItem(seed.filename);
  const line = document.createElement('div');
  line.className = 'muted';
  const peers = `${seed.peers} peer${seed.peers === 1 ? '' : 's'}`;
  line.textContent = [bytes(seed.size), `${bytes(seed.uploaded)} uploaded`, peers, seed.kept ? 'kept' : 'until delivered'].join(' · ');
  li.append(line);
  const stop = document.createElement('button');
  stop.type = 'button';
  stop.textContent = 'Stop sharing this';
  stop.setAttribute('aria-label', `Stop sharing ${seed.filename}`);
  stop.addEventListener('click', async () => {
    stop.disabled = true;
    await api.runtime.sendMessage({ type: 'unshare', download: seed.download }).catch(() => {});
    refresh();
  });
  li.append(stop);
  return li;
}

/** @param {State['peer']} peer */
function showSeeds(peer) {
  const seeds = peer?.seeds ?? [];
  element('seeds-section').hidden = !peer;
  if (!peer) return;
  const { cache_bytes: cache, used, quota } = peer.storage;
  element('storage').textContent =
    `The cache holds ${bytes(cache)}` + (used !== null && quota !== null ? `; the extension uses ${bytes(used)} of ${bytes(quota)} the browser allows.` : '.');
  element('seeds').replaceChildren(...seeds.map(seedItem));
  /** @type {HTMLButtonElement} */ (element('clear-cache')).disabled = seeds.length === 0;
}

element('clear-cache').addEventListener('click', async () => {
  await api.runtime.sendMessage({ type: 'clear_cache' }).catch(() => {});
  refresh();
});

async function refresh() {
  /** @type {State} */
  let state;
  try {
    state = await api.runtime.sendMessage({ type: 'state' });
  } catch {
    return;
  }
  const status = element('status');
  if (!state.enabled) {
    status.textContent = 'Turned off: every download is left to the browser.';
  } else if (state.host) {
    status.textContent = `Native host ${state.host.version} connected.`;
  } else {
    status.textContent = 'No native host: install swarmload-host for full speed.';
  }
  element('saved').textContent = bytes(state.saved_bytes);
  const list = element('transfers');
  list.replaceChildren(...state.transfers.map(item));
  const left = state.decisions.filter((d) => d.decision === 'left to the browser').slice(0, 5);
  element('left-section').hidden = left.length === 0;
  element('left').replaceChildren(...left.map(decision));
  element('idle').hidden = state.transfers.some((t) => t.state === 'active');
  showSeeds(state.peer);
}

refresh();
setInterval(refresh, 500);

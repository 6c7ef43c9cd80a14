// Transfers the host is carrying out for the browser, as the popup and the toolbar
// badge show them, and the running total of bytes that came from peers instead of
// origins. A transfer is either backend's (`mode: 'browser'`: the browser-only
// peer's); both report it in the same words (backend.d.ts).

/**
 * @import { DigestSource, Finished, Phase, PeerFinished, Progress } from './backend.js'
 * @typedef {{
 *   download: string, url: string, filename: string, size: number, sha256: string | null,
 *   digest_source: DigestSource | null, started: number, browserId: number | null, mode?: 'browser',
 * }} NewTransfer
 * @typedef {NewTransfer & {
 *   have: number, from_peers: number, from_origin: number, bytes_per_sec: number, peers: number,
 *   phase: Phase | 'delivering', state: 'active' | 'done' | 'failed', error: string | null,
 *   group_publish?: boolean, finish?: PeerFinished,
 * }} Transfer
 */

export class Transfers {
  /** @param {typeof chrome} api */
  constructor(api) {
    this.api = api;
    /** @type {Map<string, Transfer>} */
    this.byDownload = new Map();
    this.savedBytes = 0;
    this.loaded = api.storage.local.get('saved_bytes').then(/** @param {{ saved_bytes?: number }} items */ ({ saved_bytes: s }) => {
      this.savedBytes += s ?? 0;
    });
  }

  /** @param {NewTransfer} t */
  add(t) {
    this.byDownload.set(t.download, {
      have: 0,
      from_peers: 0,
      from_origin: 0,
      bytes_per_sec: 0,
      peers: 0,
      phase: 'downloading',
      state: 'active',
      error: null,
      ...t,
    });
    this.#badge();
  }

  /** @param {string} download */
  get(download) {
    return this.byDownload.get(download);
  }

  /** @param {number} id */
  byBrowserId(id) {
    for (const t of this.byDownload.values()) if (t.browserId === id) return t;
    return null;
  }

  active() {
    return [...this.byDownload.values()].filter((t) => t.state === 'active');
  }

  /** @param {Progress} ev */
  progress(ev) {
    const t = this.byDownload.get(ev.download);
    if (!t) return;
    for (const k of /** @type {const} */ (['have', 'from_peers', 'from_origin', 'bytes_per_sec', 'peers', 'phase', 'size'])) {
      // Each key has the same meaning, and type, in both.
      if (ev[k] !== undefined) /** @type {Record<typeof k, unknown>} */ (t)[k] = ev[k];
    }
    // A digest learned on the way (a checksum list) is reported once it is.
    if (ev.digest_source) t.digest_source = ev.digest_source;
  }

  /** @param {Finished} ev */
  async finished(ev) {
    const t = this.byDownload.get(ev.download);
    if (!t) return;
    Object.assign(t, {
      state: 'done',
      have: ev.size,
      from_peers: ev.from_peers,
      from_origin: ev.from_origin,
      group_publish: ev.group_publish === true,
      bytes_per_sec: 0,
      phase: 'complete',
    });
    await this.loaded;
    this.savedBytes += ev.from_peers;
    await this.api.storage.local.set({ saved_bytes: this.savedBytes });
    this.#badge();
  }

  /**
   * @param {string} download
   * @param {string} error
   * @returns {Transfer | null} the transfer, if it was active
   */
  failed(download, error) {
    const t = this.byDownload.get(download);
    if (!t || t.state !== 'active') return null;
    Object.assign(t, { state: 'failed', error, bytes_per_sec: 0 });
    this.#badge();
    return t;
  }

  // What the popup shows: the newest first, finished ones kept for a while.
  snapshot() {
    const list = [...this.byDownload.values()].sort((a, b) => b.started - a.started).slice(0, 20);
    return { transfers: list, saved_bytes: this.savedBytes };
  }

  #badge() {
    const n = this.active().length;
    this.api.action?.setBadgeText({ text: n > 0 ? String(n) : '' }).catch(() => {});
  }
}

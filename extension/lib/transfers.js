// Transfers the host is carrying out for the browser, as the popup and the toolbar
// badge show them, and the running total of bytes that came from peers instead of
// origins.

export class Transfers {
  constructor(api) {
    this.api = api;
    this.byDownload = new Map();
    this.savedBytes = 0;
    this.loaded = api.storage.local.get('saved_bytes').then(({ saved_bytes: s }) => {
      this.savedBytes += s ?? 0;
    });
  }

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

  get(download) {
    return this.byDownload.get(download);
  }

  byBrowserId(id) {
    for (const t of this.byDownload.values()) if (t.browserId === id) return t;
    return null;
  }

  active() {
    return [...this.byDownload.values()].filter((t) => t.state === 'active');
  }

  progress(ev) {
    const t = this.byDownload.get(ev.download);
    if (!t) return;
    for (const k of ['have', 'from_peers', 'from_origin', 'bytes_per_sec', 'peers', 'phase', 'size']) {
      if (ev[k] !== undefined) t[k] = ev[k];
    }
    // A digest learned on the way (a checksum list) is reported once it is.
    if (ev.digest_source) t.digest_source = ev.digest_source;
  }

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

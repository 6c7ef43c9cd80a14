// The browser-only peer's service: runs the core's BrowserTransfer (wasm: the
// browser's WebRTC, the tracker, fetch) for downloads when no native host is there,
// stores them in OPFS, hands each finished, verified file over as an OPFS-backed
// blob: URL, and seeds it while the browser runs, within the upload policy and the
// cache limits. In Chromium it lives in the offscreen document (service workers have
// no RTCPeerConnection); in Firefox in the background page.
//
// Requests: {type: 'probe', url, link} → the probe (checksum lists beside `link`,
// the clicked link, when given); {type: 'start', url, sha256, size,
// etag, filename, policy} → {download}; {type: 'stop', download}; {type: 'status'}.
// Events (through `emit`): {type: 'progress', transfers: [...]}, {type: 'finished',
// download, blob_url, ...}, {type: 'failed', download, error}.

import init, { BrowserTransfer, probe_origin } from '../wasm/swarmload_browser.js';

const PROGRESS_MS = 500;
const HOUSEKEEPING_MS = 60000;

class Storage {
  constructor(worker, name) {
    this.worker = worker;
    this.name = name;
    this.file = null;
  }

  // No promise: a failed write comes back as an error event (WorkerLink.onError).
  write(offset, data) {
    this.worker.post({ op: 'write', name: this.name, offset, data }, [data.buffer]);
  }

  async read(offset, len) {
    if (this.file) return new Uint8Array(await this.file.slice(offset, offset + len).arrayBuffer());
    return this.worker.call({ op: 'read', name: this.name, offset, len });
  }

  // Once complete: the file is let go by the worker and read as a File from then
  // on (the blob: URL the browser downloads, and blocks served to peers).
  async seal() {
    await this.worker.call({ op: 'close', name: this.name });
    const root = await navigator.storage.getDirectory();
    const dir = await root.getDirectoryHandle('swarmload');
    this.file = await (await dir.getFileHandle(this.name)).getFile();
    return this.file;
  }
}

class WorkerLink {
  constructor(url) {
    this.worker = new Worker(url, { type: 'module' });
    this.pending = new Map();
    this.nextId = 1;
    this.onError = () => {};
    this.worker.onmessage = (ev) => {
      const { id, ok, value, error } = ev.data;
      if (id === 0) {
        this.onError(ev.data.name, error);
        return;
      }
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
      if (ok) p.resolve(value);
      else p.reject(new Error(error));
    };
  }

  post(req, transfer = []) {
    this.worker.postMessage({ ...req, id: -1 }, transfer);
  }

  call(req, transfer = []) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id }, transfer);
    });
  }
}

export class PeerService {
  constructor(emit) {
    this.emit = emit;
    this.ready = init();
    this.storage = new WorkerLink(new URL('./storage_worker.js', import.meta.url));
    this.storage.onError = (name, error) => {
      for (const t of this.transfers.values()) if (t.name === name) t.transfer.fail(`the file could not be stored: ${error}`);
    };
    // Seeds from an earlier session are not known any more: start clean.
    this.cleared = this.storage.call({ op: 'clear' }).catch(() => {});
    this.transfers = new Map();
    this.nextId = 1;
    this.progressTimer = null;
    setInterval(() => this.housekeeping(), HOUSEKEEPING_MS);
  }

  async handle(msg) {
    await this.ready;
    switch (msg.type) {
      case 'probe':
        return probe_origin(msg.url, typeof msg.link === 'string' ? msg.link : undefined);
      case 'start':
        return this.start(msg);
      case 'stop':
        this.drop(msg.download);
        return {};
      case 'status':
        return { transfers: this.list() };
      default:
        throw new Error(`unknown request ${msg.type}`);
    }
  }

  async start({ url, sha256, size, etag, ranges, filename, contentType, policy }) {
    await this.cleared;
    this.makeRoom(size, policy.cache_max_bytes);
    const download = `b${this.nextId++}`;
    const name = `${sha256}-${download}`;
    await this.storage.call({ op: 'open', name, size });
    const storage = new Storage(this.storage, name);
    let transfer;
    try {
      transfer = new BrowserTransfer({ url, sha256, size, etag: etag ?? undefined, ranges: ranges !== false }, JSON.stringify(policy), storage);
      transfer.start();
    } catch (e) {
      await this.storage.call({ op: 'remove', name }).catch(() => {});
      throw e;
    }
    const t = { download, name, url, filename, contentType, size, sha256, transfer, storage, started: Date.now(), finishedAt: null, blobUrl: null, policy };
    this.transfers.set(download, t);
    // Whoever waits on this transfer's swarm (the paused item) hears each change of
    // its phase, peers or swarm size as it happens, instead of asking again and again.
    transfer.set_on_change(() => {
      if (this.transfers.get(download) !== t) return;
      const s = transfer.stats();
      this.emit({ type: 'swarm', download, phase: s.phase, peers: s.peers, from_peers: s.from_peers, swarm_size: s.swarm_size ?? null, error: s.error ?? null });
    });
    this.watch(t);
    this.tickProgress();
    return { download, info_hash: transfer.stats().info_hash };
  }

  async watch(t) {
    try {
      await t.transfer.done();
    } catch (e) {
      if (this.transfers.get(t.download) !== t) return;
      this.emit({ type: 'failed', download: t.download, error: String(e?.message ?? e) });
      this.drop(t.download);
      return;
    }
    try {
      const file = await t.storage.seal();
      // The File is OPFS-backed; a Blob made of it stays on disk too. It carries the
      // origin's type, which the browser's download keeps (and names by).
      t.blobUrl = URL.createObjectURL(new Blob([file], { type: t.contentType || 'application/octet-stream' }));
      t.finishedAt = Date.now();
      const s = t.transfer.stats();
      this.emit({ type: 'finished', download: t.download, blob_url: t.blobUrl, size: t.size, from_peers: s.from_peers, from_origin: s.from_origin, filename: t.filename });
    } catch (e) {
      this.emit({ type: 'failed', download: t.download, error: `the finished file could not be opened: ${e?.message ?? e}` });
      this.drop(t.download);
    }
  }

  list() {
    return [...this.transfers.values()].map((t) => ({ download: t.download, ...t.transfer.stats() }));
  }

  tickProgress() {
    if (this.progressTimer) return;
    this.progressTimer = setInterval(() => {
      const active = this.list().filter((s) => s.phase === 'downloading' || s.phase === 'verifying');
      if (active.length === 0) {
        clearInterval(this.progressTimer);
        this.progressTimer = null;
        return;
      }
      this.emit({ type: 'progress', transfers: active });
    }, PROGRESS_MS);
  }

  drop(download) {
    const t = this.transfers.get(download);
    if (!t) return;
    this.transfers.delete(download);
    t.transfer.stop();
    t.transfer.free();
    if (t.blobUrl) URL.revokeObjectURL(t.blobUrl);
    this.storage.call({ op: 'remove', name: t.name }).catch(() => {});
  }

  // Seeds are given up, oldest first, until a new download of `size` fits the cache.
  makeRoom(size, cacheMax) {
    const seeds = [...this.transfers.values()].filter((t) => t.finishedAt !== null).sort((a, b) => a.finishedAt - b.finishedAt);
    let used = [...this.transfers.values()].reduce((n, t) => n + t.size, 0);
    while (used + size > cacheMax && seeds.length > 0) {
      const t = seeds.shift();
      used -= t.size;
      this.drop(t.download);
    }
  }

  // Seeds older than the cache's age limit are given up.
  housekeeping() {
    const now = Date.now();
    for (const t of [...this.transfers.values()]) {
      if (t.finishedAt !== null && now - t.finishedAt > t.policy.cache_max_age_secs * 1000) this.drop(t.download);
    }
  }
}

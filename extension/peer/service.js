// The browser-only peer's service: runs the core's BrowserTransfer (wasm: the
// browser's WebRTC, the tracker, fetch) for downloads when no native host is there,
// stores them in OPFS, hands each finished, verified file over as an OPFS-backed
// blob: URL, and seeds it while the browser runs, within the upload policy and the
// cache limits. In Chromium it lives in the offscreen document (service workers have
// no RTCPeerConnection); in Firefox in the background page.
//
// It answers and reports as the native host does (lib/backend.d.ts: `PeerCalls`,
// `PeerEvent`). Requests: {type: 'probe', url, link} → the probe (checksum lists
// beside `link`, the clicked link, when given); {type: 'start', url, sha256, size,
// etag, ranges, filename, content_type, policy} → {type: 'started', download, ...};
// {type: 'cancel', download} → {type: 'cancelled', download}; {type: 'status'} →
// {type: 'status', active: [...], seeding}. Events (through `emit`): {type:
// 'progress', download, ...} for each running download, {type: 'finished',
// download, blob_url, ...}, {type: 'failed', download, error, cancelled}, and
// {type: 'swarm', download, ...} on each change of its phase, peers or swarm size.

import init, { BrowserTransfer, probe_origin } from '../wasm/swarmload_browser.js';

/**
 * @import { PeerCalls, PeerEvent, PeerStart, PeerTransfer, Policy } from '../lib/backend.js'
 * @typedef {PeerCalls[keyof PeerCalls]['request']} PeerRequest
 * @typedef {PeerCalls[keyof PeerCalls]['reply']} PeerReply
 * @typedef {{ resolve: (value: any) => void, reject: (e: Error) => void }} Pending
 * @typedef {{
 *   download: string, name: string, url: string, filename: string, content_type: string | null | undefined,
 *   size: number, sha256: string, transfer: BrowserTransfer, storage: Storage, started: number,
 *   finishedAt: number | null, blobUrl: string | null, policy: Policy,
 * }} Transfer
 */

const PROGRESS_MS = 500;
const HOUSEKEEPING_MS = 60000;

class Storage {
  /**
   * @param {WorkerLink} worker
   * @param {string} name
   */
  constructor(worker, name) {
    this.worker = worker;
    this.name = name;
    /** @type {File | null} */
    this.file = null;
  }

  // No promise: a failed write comes back as an error event (WorkerLink.onError).
  /**
   * @param {number} offset
   * @param {Uint8Array} data
   */
  write(offset, data) {
    this.worker.post({ op: 'write', name: this.name, offset, data }, [data.buffer]);
  }

  /**
   * @param {number} offset
   * @param {number} len
   * @returns {Promise<Uint8Array>}
   */
  async read(offset, len) {
    if (this.file) return new Uint8Array(await this.file.slice(offset, offset + len).arrayBuffer());
    return this.worker.call({ op: 'read', name: this.name, offset, len });
  }

  // Once complete: the file is let go by the worker and read as a File from then
  // on (the blob: URL the browser downloads, and blocks served to peers).
  /** @returns {Promise<File>} */
  async seal() {
    await this.worker.call({ op: 'close', name: this.name });
    const root = await navigator.storage.getDirectory();
    const dir = await root.getDirectoryHandle('swarmload');
    this.file = await (await dir.getFileHandle(this.name)).getFile();
    return this.file;
  }
}

class WorkerLink {
  /** @param {URL} url */
  constructor(url) {
    this.worker = new Worker(url, { type: 'module' });
    /** @type {Map<number, Pending>} */
    this.pending = new Map();
    this.nextId = 1;
    /** @type {(name: string, error: string) => void} */
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

  /**
   * @param {object} req
   * @param {Transferable[]} [transfer]
   */
  post(req, transfer = []) {
    this.worker.postMessage({ ...req, id: -1 }, transfer);
  }

  /**
   * @param {object} req
   * @param {Transferable[]} [transfer]
   * @returns {Promise<any>} what the operation answers
   */
  call(req, transfer = []) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id }, transfer);
    });
  }
}

export class PeerService {
  /** @param {(event: PeerEvent) => void} emit */
  constructor(emit) {
    this.emit = emit;
    this.ready = init();
    this.storage = new WorkerLink(new URL('./storage_worker.js', import.meta.url));
    this.storage.onError = (name, error) => {
      for (const t of this.transfers.values()) if (t.name === name) t.transfer.fail(`the file could not be stored: ${error}`);
    };
    // Seeds from an earlier session are not known any more: start clean.
    this.cleared = this.storage.call({ op: 'clear' }).catch(() => {});
    /** @type {Map<string, Transfer>} */
    this.transfers = new Map();
    this.nextId = 1;
    /** @type {ReturnType<typeof setInterval> | null} */
    this.progressTimer = null;
    setInterval(() => this.housekeeping(), HOUSEKEEPING_MS);
  }

  /**
   * @param {PeerRequest} msg
   * @returns {Promise<PeerReply>}
   */
  async handle(msg) {
    await this.ready;
    switch (msg.type) {
      case 'probe':
        return probe_origin(msg.url, typeof msg.link === 'string' ? msg.link : undefined);
      case 'start':
        return this.start(msg);
      case 'cancel':
        this.cancel(msg.download);
        return { type: 'cancelled', download: msg.download };
      case 'status': {
        const active = this.list();
        return { type: 'status', active, seeding: active.filter((s) => s.phase === 'seeding').length };
      }
      default:
        throw new Error(`unknown request ${/** @type {{ type: string }} */ (msg).type}`);
    }
  }

  /**
   * @param {PeerStart} start
   * @returns {Promise<PeerCalls['start']['reply']>}
   */
  async start({ url, sha256, size, etag, ranges, filename, content_type, policy }) {
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
    /** @type {Transfer} */
    const t = { download, name, url, filename, content_type, size, sha256, transfer, storage, started: Date.now(), finishedAt: null, blobUrl: null, policy };
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
    return { type: 'started', download, filename, size, sha256, info_hash: transfer.stats().info_hash };
  }

  /** @param {Transfer} t */
  async watch(t) {
    try {
      await t.transfer.done();
    } catch (e) {
      if (this.transfers.get(t.download) !== t) return;
      this.emit({ type: 'failed', download: t.download, error: String(e?.message ?? e), cancelled: false });
      this.drop(t.download);
      return;
    }
    try {
      const file = await t.storage.seal();
      // The File is OPFS-backed; a Blob made of it stays on disk too. It carries the
      // origin's type, which the browser's download keeps (and names by).
      const blobUrl = URL.createObjectURL(new Blob([file], { type: t.content_type || 'application/octet-stream' }));
      t.blobUrl = blobUrl;
      t.finishedAt = Date.now();
      const s = t.transfer.stats();
      this.emit({
        type: 'finished',
        download: t.download,
        blob_url: blobUrl,
        sha256: t.sha256,
        size: t.size,
        from_peers: s.from_peers,
        from_origin: s.from_origin,
        group_publish: false,
        filename: t.filename,
      });
    } catch (e) {
      this.emit({ type: 'failed', download: t.download, error: `the finished file could not be opened: ${e?.message ?? e}`, cancelled: false });
      this.drop(t.download);
    }
  }

  /** @returns {PeerTransfer[]} */
  list() {
    return [...this.transfers.values()].map((t) => ({ download: t.download, ...t.transfer.stats() }));
  }

  tickProgress() {
    if (this.progressTimer) return;
    this.progressTimer = setInterval(() => {
      const running = this.list().filter((s) => s.phase === 'downloading' || s.phase === 'verifying');
      if (running.length === 0) {
        if (this.progressTimer) clearInterval(this.progressTimer);
        this.progressTimer = null;
        return;
      }
      for (const s of running) this.emit({ type: 'progress', ...s });
    }, PROGRESS_MS);
  }

  // A download stopped on request; one not finished yet ends with `failed`
  // (`cancelled: true`), as the host's do.
  /** @param {string} download */
  cancel(download) {
    const t = this.transfers.get(download);
    this.drop(download);
    if (t && t.finishedAt === null) this.emit({ type: 'failed', download, error: 'cancelled', cancelled: true });
  }

  /** @param {string} download */
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
  /**
   * @param {number} size
   * @param {number} cacheMax
   */
  makeRoom(size, cacheMax) {
    const seeds = [...this.transfers.values()]
      .filter(/** @returns {t is Transfer & { finishedAt: number }} */ (t) => t.finishedAt !== null)
      .sort((a, b) => a.finishedAt - b.finishedAt);
    let used = [...this.transfers.values()].reduce((n, t) => n + t.size, 0);
    while (used + size > cacheMax && seeds.length > 0) {
      const t = /** @type {Transfer} */ (seeds.shift());
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

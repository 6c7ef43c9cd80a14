// The browser-only peer's service: runs the core's BrowserTransfer (wasm: the
// browser's WebRTC, the tracker, fetch) for downloads when no native host is there,
// stores them in OPFS, hands each finished, verified file over as an OPFS-backed
// blob: URL, and seeds it. In Chromium it lives in the offscreen document (service
// workers have no RTCPeerConnection); in Firefox in the background page.
//
// The cache: a finished file is kept in OPFS with its leaf layer and a record
// (`NAME`, `NAME.leaves`, `NAME.json`; the record is written last, so a file it
// names is whole), within `cache_max_bytes` and `cache_max_age_secs`, and seeded
// again in the next browser session (`restore`). A kept file is not read through
// again at restore: each block is checked against its stored leaf when it is read
// to be served (the core's rule), which costs nothing for blocks nobody asks for,
// where a re-check at start would read every kept byte at every browser start. A
// file no record names (a download cut off by the browser closing) is removed.
//
// It answers and reports as the native host does (lib/backend.d.ts: `PeerCalls`,
// `PeerEvent`); the requests and events are listed there.

import init, { BrowserTransfer, peer_connections_made, probe_origin, set_peer_connection_budget } from '../wasm/swarmload_browser.js';

/**
 * @import { PeerCalls, PeerEvent, PeerSeed, PeerStart, PeerStatus, PeerTransfer, Policy } from '../lib/backend.js'
 * @typedef {PeerCalls[keyof PeerCalls]['request']} PeerRequest
 * @typedef {PeerCalls[keyof PeerCalls]['reply']} PeerReply
 * @typedef {{ resolve: (value: any) => void, reject: (e: Error) => void }} Pending
 * @typedef {{
 *   download: string, name: string, url: string, filename: string, content_type: string | null | undefined,
 *   size: number, sha256: string, transfer: BrowserTransfer, storage: Storage, started: number,
 *   finishedAt: number | null, blobUrl: string | null, policy: Policy,
 *   kept: boolean, uploadedBefore: number, uploadedSaved: number,
 * }} Transfer
 * @typedef {{ v: 1, sha256: string, size: number, filename: string, content_type: string | null, kept_at: number, uploaded: number }} Record
 *   what `NAME.json` holds about a kept file
 */

const MiB = 1 << 20;
const PROGRESS_MS = 500;
const HOUSEKEEPING_MS = 60000;
// The page asks to be recycled once this share of its peer-connection budget is
// spent (see `recycleDue`).
const RECYCLE_AT = 0.8;
const RECYCLE_CHECK_MS = 1000;
const RECORD = '.json';
const LEAVES = '.leaves';
// Names this page's files apart from an earlier session's.
const SESSION = Date.now().toString(36);

/**
 * @param {Uint8Array | null} bytes
 * @returns {Record | null}
 */
function readRecord(bytes) {
  if (!bytes) return null;
  try {
    const r = JSON.parse(new TextDecoder().decode(bytes));
    const ok =
      r?.v === 1 &&
      typeof r.sha256 === 'string' &&
      /^[0-9a-f]{64}$/.test(r.sha256) &&
      Number.isSafeInteger(r.size) &&
      r.size > 0 &&
      typeof r.filename === 'string' &&
      Number.isFinite(r.kept_at) &&
      Number.isSafeInteger(r.uploaded);
    return ok ? r : null;
  } catch {
    return null;
  }
}

// Reads of a finished file come block by block (16 KiB) as peers ask, and each read
// of an OPFS File is a round trip through the browser's blob system: served that way,
// a seed managed about 3.5 MB/s. So whole chunks are read and the last few kept, for
// every seed together (a bounded 16 MiB): a peer reading in order then costs one
// File read per MiB.
const CHUNK = 1 << 20;
const CHUNKS_KEPT = 16;
/** @type {Map<string, Promise<Uint8Array>>} oldest first */
const chunks = new Map();

/**
 * @param {File} file
 * @param {string} name
 * @param {number} start
 * @returns {Promise<Uint8Array>}
 */
function chunkOf(file, name, start) {
  const key = `${name}:${start}`;
  let chunk = chunks.get(key);
  if (chunk) {
    chunks.delete(key);
  } else {
    chunk = file.slice(start, start + CHUNK).arrayBuffer().then((b) => new Uint8Array(b));
    // A failed read is not kept.
    chunk.catch(() => chunks.delete(key));
  }
  chunks.set(key, chunk);
  while (chunks.size > CHUNKS_KEPT) chunks.delete(/** @type {string} */ (chunks.keys().next().value));
  return chunk;
}

/** @param {string} name */
function forgetChunks(name) {
  for (const key of [...chunks.keys()]) if (key.startsWith(`${name}:`)) chunks.delete(key);
}

// Bytes of writes a download may have waiting in the worker. Origin bodies arrive as
// fast as the network gives them, the worker writes and hashes at its own pace, and
// every write waiting holds its bytes: over HIGH the page stops reading origin bodies
// (`room()`) until the worker is back under LOW.
const QUEUED_HIGH = 32 * MiB;
const QUEUED_LOW = 16 * MiB;

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
    // Bytes posted to the worker and not yet written (its `written` reports).
    this.queued = 0;
    /** @type {(() => void)[]} */
    this.roomWaiters = [];
    worker.storages.set(name, this);
  }

  // No promise: a failed write comes back as an error event (WorkerLink.onError).
  /**
   * @param {number} offset
   * @param {Uint8Array} data
   */
  write(offset, data) {
    this.queued += data.byteLength;
    this.worker.post({ op: 'write', name: this.name, offset, data }, [data.buffer]);
  }

  // Resolves once the worker has room for more writes; undefined when it has now.
  /** @returns {Promise<void> | undefined} */
  room() {
    if (this.queued <= QUEUED_HIGH) return undefined;
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  // The worker wrote `n` more bytes.
  /** @param {number} n */
  written(n) {
    this.queued = Math.max(0, this.queued - n);
    if (this.queued <= QUEUED_LOW) for (const w of this.roomWaiters.splice(0)) w();
  }

  // The file is let go: nothing waits on the worker for it any more.
  forget() {
    this.worker.storages.delete(this.name);
    for (const w of this.roomWaiters.splice(0)) w();
  }

  /**
   * @param {number} offset
   * @param {number} len
   * @returns {Promise<Uint8Array>}
   */
  async read(offset, len) {
    if (!this.file) return this.worker.call({ op: 'read', name: this.name, offset, len });
    const start = offset - (offset % CHUNK);
    if (offset + len > start + CHUNK) return new Uint8Array(await this.file.slice(offset, offset + len).arrayBuffer());
    const chunk = await chunkOf(this.file, this.name, start);
    return chunk.slice(offset - start, offset - start + len);
  }

  // The bytes below `upto` are final: the worker hashes them into the file's SHA-256.
  /** @param {number} upto */
  hashTo(upto) {
    this.worker.post({ op: 'hashTo', name: this.name, upto });
  }

  hashReset() {
    this.worker.post({ op: 'hashReset', name: this.name });
  }

  // The SHA-256 of the stored file, from the worker (only its tail is left to hash).
  /**
   * @param {number} size
   * @returns {Promise<Uint8Array>}
   */
  digest(size) {
    return this.worker.call({ op: 'digest', name: this.name, size });
  }

  // Once complete: the file is let go by the worker and read as a File from then
  // on (the blob: URL the browser downloads, and blocks served to peers).
  /** @returns {Promise<File>} */
  async seal() {
    await this.worker.call({ op: 'close', name: this.name });
    return this.opened();
  }

  // A complete file (kept from an earlier session, or sealed), read as a File.
  /** @returns {Promise<File>} */
  async opened() {
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
    // Storages by file name, which hear how much of their writes the worker did.
    /** @type {Map<string, Storage>} */
    this.storages = new Map();
    this.worker.onmessage = (ev) => {
      const { id, ok, value, error, quota } = ev.data;
      if (id === -2) {
        this.storages.get(ev.data.name)?.written(ev.data.written);
        return;
      }
      if (id === 0) {
        this.onError(ev.data.name, error);
        return;
      }
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
      if (ok) p.resolve(value);
      else p.reject(Object.assign(new Error(error), { quota: Boolean(quota) }));
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
    /** @type {WebAssembly.Memory | null} */
    this.wasmMemory = null;
    this.ready = init().then((exports) => {
      this.wasmMemory = exports.memory;
    });
    this.storage = new WorkerLink(new URL('./storage_worker.js', import.meta.url));
    this.storage.onError = (name, error) => {
      for (const t of this.transfers.values()) if (t.name === name) t.transfer.fail(`the file could not be stored: ${error}`);
    };
    /** @type {Map<string, Transfer>} */
    this.transfers = new Map();
    // Files being opened for a download: not yet a transfer, not an orphan either.
    /** @type {Set<string>} */
    this.opening = new Set();
    this.nextId = 1;
    /** @type {Promise<void> | null} */
    this.restoring = null;
    /** @type {ReturnType<typeof setInterval> | null} */
    this.progressTimer = null;
    // Peer connections this page may make (rtc.rs); null: no limit to watch.
    /** @type {number | null} */
    this.budget = null;
    this.recycleAsked = false;
    setInterval(() => this.housekeeping(), HOUSEKEEPING_MS);
    setInterval(() => this.recycleDue(), RECYCLE_CHECK_MS);
  }

  // Chrome allows about 500 RTCPeerConnections per document over its lifetime: past
  // RECYCLE_AT of the budget the page asks the background to replace it (a new
  // offscreen document, which seeds the kept files again), but only when that loses
  // nothing: no download running or waiting for the browser to take its file, and
  // no peer being served, unless the budget is all spent (no new peer can connect
  // then anyway). What the seeds uploaded is written to their records first.
  async recycleDue() {
    if (this.budget === null || this.recycleAsked) return;
    const made = peer_connections_made();
    if (made < this.budget * RECYCLE_AT) return;
    const all = [...this.transfers.values()];
    if (all.some((t) => t.finishedAt === null || t.blobUrl !== null)) return;
    if (made < this.budget && all.some((t) => t.transfer.stats().peers > 0)) return;
    this.recycleAsked = true;
    for (const t of all) if (t.kept) await this.writeRecord(t).catch(() => {});
    this.emit({ type: 'recycle', download: '', made });
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
        await this.cancel(msg.download);
        return { type: 'cancelled', download: msg.download };
      case 'configure':
        this.budget = msg.peer_connection_budget;
        set_peer_connection_budget(msg.peer_connection_budget);
        return { type: 'configured', peer_connections: peer_connections_made() };
      case 'restore':
        await this.restore(msg.policy);
        return this.status();
      case 'delivered':
        await this.delivered(msg.download);
        return { type: 'delivered', download: msg.download };
      case 'unshare':
        await this.drop(msg.download);
        this.emitKept();
        return this.status();
      case 'clear_cache':
        await this.clearCache();
        return this.status();
      case 'status':
        return this.status();
      case 'hashing':
        // Asked for on its own: the answer waits behind every write queued in the
        // worker, which `status` (polled while downloads run) must not.
        return { type: 'hashing', ...(await this.storage.call({ op: 'stats' })) };
      default:
        throw new Error(`unknown request ${/** @type {{ type: string }} */ (msg).type}`);
    }
  }

  /** @returns {Promise<PeerStatus>} */
  async status() {
    const active = this.list();
    const seeds = this.seeds();
    /** @type {StorageEstimate} */
    let estimate = {};
    try {
      estimate = await navigator.storage.estimate();
    } catch {
      // No estimate: the popup shows the cache's own size only.
    }
    return {
      type: 'status',
      active,
      seeding: active.filter((s) => s.phase === 'seeding').length,
      seeds,
      peer_connections: peer_connections_made(),
      peer_connection_budget: this.budget,
      memory: {
        // Chromium's non-standard `performance.memory`; absent elsewhere.
        js_heap: /** @type {{ memory?: { usedJSHeapSize: number } }} */ (performance).memory?.usedJSHeapSize ?? null,
        wasm: this.wasmMemory?.buffer.byteLength ?? null,
      },
      storage: {
        cache_bytes: [...this.transfers.values()].reduce((n, t) => n + t.size, 0),
        used: estimate.usage ?? null,
        quota: estimate.quota ?? null,
      },
    };
  }

  // What is being seeded, with what each has uploaded (this session and before).
  /** @returns {PeerSeed[]} */
  seeds() {
    return [...this.transfers.values()]
      .filter((t) => t.finishedAt !== null)
      .map((t) => {
        const s = t.transfer.stats();
        return {
          download: t.download,
          sha256: t.sha256,
          filename: t.filename,
          size: t.size,
          uploaded: t.uploadedBefore + s.uploaded,
          peers: s.peers,
          kept: t.kept,
          kept_at: t.finishedAt ?? 0,
          phase: s.phase,
        };
      });
  }

  // Tells the background how many files are kept, so that it restores them at the
  // next start (and does not make the page for nothing when there are none).
  emitKept() {
    const kept = [...this.transfers.values()].filter((t) => t.kept).length;
    this.emit({ type: 'kept', download: '', kept });
  }

  /**
   * @param {PeerStart} start
   * @returns {Promise<PeerCalls['start']['reply']>}
   */
  async start({ url, sha256, size, etag, ranges, filename, content_type, policy }) {
    // Kept seeds are known (and counted against the cache) before room is made.
    await this.restore(policy);
    await this.makeRoom(size, policy.cache_max_bytes);
    const download = `b${SESSION}-${this.nextId++}`;
    const name = `${sha256}-${download}`;
    this.opening.add(name);
    try {
      await this.open(name, size);
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
      const t = {
        download, name, url, filename, content_type, size, sha256, transfer, storage,
        started: Date.now(), finishedAt: null, blobUrl: null, policy, kept: false, uploadedBefore: 0, uploadedSaved: 0,
      };
      this.transfers.set(download, t);
      this.listen(t);
      this.watch(t);
      this.tickProgress();
      return { type: 'started', download, filename, size, sha256, info_hash: transfer.stats().info_hash };
    } finally {
      this.opening.delete(name);
    }
  }

  // Opens the download's file at its full size. A full storage gives up kept seeds,
  // oldest first, rather than the download; with none left, the start fails (and the
  // browser's own item resumes).
  /**
   * @param {string} name
   * @param {number} size
   */
  async open(name, size) {
    for (;;) {
      try {
        await this.storage.call({ op: 'open', name, size });
        return;
      } catch (e) {
        if (!e.quota || !(await this.evictOldest())) throw e;
      }
    }
  }

  /** @returns {Promise<boolean>} whether a seed was given up */
  async evictOldest() {
    const oldest = this.keptOldestFirst()[0];
    if (!oldest) return false;
    await this.drop(oldest.download);
    this.emitKept();
    return true;
  }

  // A finished file the browser is still copying out (its blob URL is live) is not
  // a seed yet: giving it up mid-copy would lose the download and fetch it again.
  /** @returns {(Transfer & { finishedAt: number })[]} */
  keptOldestFirst() {
    return [...this.transfers.values()]
      .filter(
        /** @returns {t is Transfer & { finishedAt: number }} */ (t) => t.finishedAt !== null && t.blobUrl === null,
      )
      .sort((a, b) => a.finishedAt - b.finishedAt);
  }

  // Whoever waits on this transfer's swarm (the paused item) hears each change of
  // its phase, peers, swarm size or first origin bytes as it happens, instead of
  // asking again and again.
  /** @param {Transfer} t */
  listen(t) {
    t.transfer.set_on_change(() => {
      if (this.transfers.get(t.download) !== t) return;
      const s = t.transfer.stats();
      this.emit({
        type: 'swarm',
        download: t.download,
        phase: s.phase,
        peers: s.peers,
        from_peers: s.from_peers,
        from_origin: s.from_origin,
        swarm_size: s.swarm_size ?? null,
        error: s.error ?? null,
      });
    });
  }

  /** @param {Transfer} t */
  async watch(t) {
    try {
      await t.transfer.done();
    } catch (e) {
      if (this.transfers.get(t.download) !== t) return;
      this.emit({ type: 'failed', download: t.download, error: String(e?.message ?? e), cancelled: false });
      await this.drop(t.download);
      return;
    }
    try {
      const file = await t.storage.seal();
      // The File is OPFS-backed; a Blob made of it stays on disk too. It carries the
      // origin's type, which the browser's download keeps (and names by).
      const blobUrl = URL.createObjectURL(new Blob([file], { type: t.content_type || 'application/octet-stream' }));
      t.blobUrl = blobUrl;
      t.finishedAt = Date.now();
      await this.keep(t);
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
      await this.drop(t.download);
    }
  }

  // Keeps a finished file for later sessions (its leaves, then its record) when the
  // policy lets it be shared and it fits the cache; else it is seeded only until
  // delivered (upload on) or not at all.
  /** @param {Transfer} t */
  async keep(t) {
    const p = t.policy;
    if (!p.browser_seeding || !p.upload_enabled || t.size > p.cache_max_bytes) return;
    const leaves = t.transfer.leaves();
    if (!leaves) return;
    try {
      await this.storage.call({ op: 'put', name: t.name + LEAVES, data: leaves }, [leaves.buffer]);
      await this.writeRecord(t);
      t.kept = true;
      this.emitKept();
    } catch (e) {
      // Not kept (storage full, say): still seeded while this page lives.
      console.warn('swarmload: a finished file could not be kept', e);
    }
  }

  /** @param {Transfer} t */
  async writeRecord(t) {
    const uploaded = t.uploadedBefore + t.transfer.stats().uploaded;
    /** @type {Record} */
    const record = {
      v: 1,
      sha256: t.sha256,
      size: t.size,
      filename: t.filename,
      content_type: t.content_type ?? null,
      kept_at: t.finishedAt ?? Date.now(),
      uploaded,
    };
    const data = new TextEncoder().encode(JSON.stringify(record));
    await this.storage.call({ op: 'put', name: t.name + RECORD, data }, [data.buffer]);
    t.uploadedSaved = uploaded;
  }

  // The browser's download of a finished file completed: a file that is not kept
  // is let go now (nothing serves it on), as the host does with one over its cache.
  /** @param {string} download */
  async delivered(download) {
    const t = this.transfers.get(download);
    if (!t) return;
    if (t.blobUrl) URL.revokeObjectURL(t.blobUrl);
    t.blobUrl = null;
    if (!t.kept) await this.drop(download);
  }

  // Finds the files kept in earlier sessions and seeds them within `policy` (its
  // cache size and age, newest first); removes what no record names, what is too
  // old or over the cache, and, when the policy no longer lets the browser share,
  // every seed. Safe to call again: a running transfer is never touched twice.
  /** @param {Policy} policy */
  restore(policy) {
    const run = (this.restoring ?? Promise.resolve()).then(() => this.#restore(policy));
    this.restoring = run.catch((e) => console.warn('swarmload: kept files not restored', e));
    return this.restoring;
  }

  /** @param {Policy} policy */
  async #restore(policy) {
    const sharing = policy.browser_seeding && policy.upload_enabled && policy.trackers.length > 0;
    if (!sharing) {
      for (const t of this.keptOldestFirst()) await this.drop(t.download);
    }
    /** @type {{ name: string, size: number }[]} */
    const files = await this.storage.call({ op: 'list' });
    const sizes = new Map(files.map((f) => [f.name, f.size]));
    const busy = new Set([...this.opening, ...[...this.transfers.values()].map((t) => t.name)]);
    /** @type {{ name: string, record: Record }[]} */
    const found = [];
    for (const f of files) {
      const base = f.name.endsWith(RECORD) ? f.name.slice(0, -RECORD.length) : f.name.endsWith(LEAVES) ? f.name.slice(0, -LEAVES.length) : f.name;
      if (busy.has(base)) continue;
      if (f.name !== base + RECORD) {
        // Content or leaves: kept only beside a record (judged with it below).
        if (!sizes.has(base + RECORD)) await this.remove(f.name);
        continue;
      }
      const record = readRecord(await this.storage.call({ op: 'get', name: f.name }));
      if (!record || sizes.get(base) !== record.size || !sizes.has(base + LEAVES)) await this.removeKept(base);
      else found.push({ name: base, record });
    }
    found.sort((a, b) => b.record.kept_at - a.record.kept_at);
    let used = [...this.transfers.values()].reduce((n, t) => n + t.size, 0);
    const now = Date.now();
    for (const { name, record } of found) {
      const fits = sharing && now - record.kept_at <= policy.cache_max_age_secs * 1000 && used + record.size <= policy.cache_max_bytes;
      if (!fits || !(await this.seedKept(name, record, policy))) {
        await this.removeKept(name);
        continue;
      }
      used += record.size;
    }
    this.emitKept();
  }

  // Seeds a kept file; false when it cannot be (a leaf layer that does not fit it).
  /**
   * @param {string} name
   * @param {Record} record
   * @param {Policy} policy
   */
  async seedKept(name, record, policy) {
    try {
      const leaves = await this.storage.call({ op: 'get', name: name + LEAVES });
      const storage = new Storage(this.storage, name);
      await storage.opened();
      const transfer = BrowserTransfer.seed({ sha256: record.sha256, size: record.size }, JSON.stringify(policy), storage, leaves);
      transfer.start();
      const download = `b${SESSION}-${this.nextId++}`;
      /** @type {Transfer} */
      const t = {
        download, name, url: '', filename: record.filename, content_type: record.content_type, size: record.size,
        sha256: record.sha256, transfer, storage, started: Date.now(), finishedAt: record.kept_at, blobUrl: null, policy,
        kept: true, uploadedBefore: record.uploaded, uploadedSaved: record.uploaded,
      };
      this.transfers.set(download, t);
      return true;
    } catch (e) {
      console.warn(`swarmload: kept file ${name} not seeded`, e);
      return false;
    }
  }

  /** @param {string} name */
  async remove(name) {
    await this.storage.call({ op: 'remove', name }).catch(() => {});
  }

  // Removes a kept file's record first (then it is no longer kept), then the rest.
  /** @param {string} name */
  async removeKept(name) {
    await this.remove(name + RECORD);
    await this.remove(name + LEAVES);
    await this.remove(name);
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
  async cancel(download) {
    const t = this.transfers.get(download);
    await this.drop(download);
    if (t && t.finishedAt === null) this.emit({ type: 'failed', download, error: 'cancelled', cancelled: true });
  }

  // Stops a transfer and removes its files (a kept one's record first).
  /** @param {string} download */
  async drop(download) {
    const t = this.transfers.get(download);
    if (!t) return;
    this.transfers.delete(download);
    t.transfer.stop();
    t.transfer.free();
    if (t.blobUrl) URL.revokeObjectURL(t.blobUrl);
    forgetChunks(t.name);
    t.storage.forget();
    await this.removeKept(t.name);
  }

  // Every seed is given up and its file removed; downloads still running go on.
  async clearCache() {
    for (const t of this.keptOldestFirst()) await this.drop(t.download);
    this.emitKept();
  }

  // Seeds are given up, oldest first, until a new download of `size` fits the cache.
  /**
   * @param {number} size
   * @param {number} cacheMax
   */
  async makeRoom(size, cacheMax) {
    const seeds = this.keptOldestFirst();
    let used = [...this.transfers.values()].reduce((n, t) => n + t.size, 0);
    while (used + size > cacheMax && seeds.length > 0) {
      const t = /** @type {Transfer} */ (seeds.shift());
      used -= t.size;
      await this.drop(t.download);
    }
    this.emitKept();
  }

  // Seeds older than the cache's age limit are given up; what each kept seed has
  // uploaded is written to its record.
  async housekeeping() {
    const now = Date.now();
    for (const t of this.keptOldestFirst()) {
      if (now - t.finishedAt > t.policy.cache_max_age_secs * 1000) {
        await this.drop(t.download);
        this.emitKept();
      } else if (t.kept && t.uploadedBefore + t.transfer.stats().uploaded !== t.uploadedSaved) {
        await this.writeRecord(t).catch(() => {});
      }
    }
  }
}

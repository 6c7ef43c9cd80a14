// OPFS storage for the browser-only peer. A dedicated worker, because only workers
// get synchronous access handles: writes land at their offset at once and are read
// back in order, without holding the file in memory. Requests are handled in the
// order they arrive, so a read always sees the writes made before it.
//
// Request: {id, op, name, ...}; reply: {id, ok: true, value} or {id, ok: false, error,
// quota} (`quota`: the storage is full).
//
// It also computes each download's whole-file SHA-256 on this thread, as the bytes
// become final (`hashTo`, in order, read back from the file), while the page hashes
// the blocks: the two digests then run on two threads, and at the end only the tail
// is left to hash (`digest`).

import init, { WasmSha256 } from '../wasm/swarmload_browser.js';
// Writes (thousands a second) get no reply when they succeed: a failed one is
// reported as {id: 0, name, ok: false, error}.

// The extension is type-checked against the page's lib (lib.dom): what only a
// dedicated worker has is named here.
/**
 * @typedef {{
 *   read(buffer: Uint8Array, options: { at: number }): number,
 *   write(buffer: Uint8Array, options: { at: number }): number,
 *   truncate(size: number): void, flush(): void, close(): void, getSize(): number,
 * }} SyncAccessHandle
 * @typedef {FileSystemFileHandle & { createSyncAccessHandle(): Promise<SyncAccessHandle> }} WorkerFileHandle
 * @typedef {{ op: string, id: number, name: string }} StorageRequest the fields its `op` reads besides
 * @typedef {{
 *   onmessage: ((ev: MessageEvent<StorageRequest>) => void) | null,
 *   postMessage(message: unknown, transfer?: Transferable[]): void,
 * }} WorkerScope
 */
const scope = /** @type {WorkerScope} */ (/** @type {unknown} */ (self));

const DIR = 'swarmload';
/** @type {Map<string, SyncAccessHandle>} */
const handles = new Map();
/** @type {Map<string, { hasher: WasmSha256, at: number }>} the SHA-256 of each file's first `at` bytes, so far */
const hashing = new Map();
const HASH_CHUNK = 1 << 20;
// Written bytes not yet reported to the page, by file (reported every REPORT_EVERY).
/** @type {Map<string, number>} */
const unreported = new Map();
const REPORT_EVERY = 1 << 20;
// Bytes hashed on this thread, and the milliseconds it took (for `stats`).
const hashed = { bytes: 0, ms: 0 };
/** @type {Promise<unknown> | null} */
let wasm = null;
/** @type {Promise<FileSystemDirectoryHandle> | null} */
let dirPromise = null;

/** @returns {Promise<FileSystemDirectoryHandle>} */
function dir() {
  dirPromise ??= navigator.storage.getDirectory().then((root) => root.getDirectoryHandle(DIR, { create: true }));
  return dirPromise;
}

/** @param {string} name */
async function handle(name) {
  const h = handles.get(name);
  if (!h) throw new Error(`${name} is not open`);
  return h;
}

const ops = {
  /** @param {{ name: string, size: number }} req */
  async open({ name, size }) {
    const file = /** @type {WorkerFileHandle} */ (await (await dir()).getFileHandle(name, { create: true }));
    const h = await file.createSyncAccessHandle();
    try {
      // The whole size at once: a full quota shows here, before any byte is fetched.
      h.truncate(size);
    } catch (e) {
      h.close();
      await (await dir()).removeEntry(name).catch(() => {});
      throw e;
    }
    handles.set(name, h);
  },
  /** @param {{ name: string, offset: number, data: Uint8Array }} req */
  async write({ name, offset, data }) {
    const h = await handle(name);
    const n = h.write(data, { at: offset });
    if (n !== data.byteLength) throw quotaError(`wrote ${n} of ${data.byteLength} bytes`);
    // The page counts the bytes waiting here; it hears of them every MiB.
    const done = (unreported.get(name) ?? 0) + n;
    if (done >= REPORT_EVERY) {
      scope.postMessage({ id: -2, name, written: done });
      unreported.delete(name);
    } else {
      unreported.set(name, done);
    }
  },
  /** @param {{ name: string, offset: number, len: number }} req */
  async read({ name, offset, len }) {
    const h = await handle(name);
    const buf = new Uint8Array(len);
    const n = h.read(buf, { at: offset });
    return n === len ? buf : buf.subarray(0, n);
  },
  // Flushes and lets go of the file, so the page can read it as a File.
  /** @param {{ name: string }} req */
  async close({ name }) {
    await ops.hashReset({ name });
    const h = handles.get(name);
    if (!h) return;
    h.flush();
    h.close();
    handles.delete(name);
  },
  /** @param {{ name: string }} req */
  async remove({ name }) {
    await ops.close({ name });
    await (await dir()).removeEntry(name).catch(() => {});
  },
  // Every stored file, with its size.
  async list() {
    const d = await dir();
    /** @type {{ name: string, size: number }[]} */
    const files = [];
    for await (const [name, entry] of d.entries()) {
      if (entry.kind !== 'file') continue;
      const open = handles.get(name);
      const size = open ? open.getSize() : (await /** @type {FileSystemFileHandle} */ (entry).getFile()).size;
      files.push({ name, size });
    }
    return files;
  },
  // A small file (a record, a leaf layer) written whole, flushed before the reply:
  // a record is written last, so a file it names is complete.
  /** @param {{ name: string, data: Uint8Array }} req */
  async put({ name, data }) {
    const file = /** @type {WorkerFileHandle} */ (await (await dir()).getFileHandle(name, { create: true }));
    const h = await file.createSyncAccessHandle();
    try {
      h.truncate(0);
      const n = h.write(data, { at: 0 });
      if (n !== data.byteLength) throw quotaError(`wrote ${n} of ${data.byteLength} bytes`);
      h.flush();
    } finally {
      h.close();
    }
  },
  // Hashes the file's bytes up to `upto` (final from then on) into its SHA-256.
  /** @param {{ name: string, upto: number }} req */
  async hashTo({ name, upto }) {
    wasm ??= init();
    await wasm;
    const h = await handle(name);
    let state = hashing.get(name);
    if (!state) {
      state = { hasher: new WasmSha256(), at: 0 };
      hashing.set(name, state);
    }
    const buf = new Uint8Array(HASH_CHUNK);
    const t0 = performance.now();
    const from = state.at;
    while (state.at < upto) {
      const want = Math.min(HASH_CHUNK, upto - state.at);
      const view = want === HASH_CHUNK ? buf : buf.subarray(0, want);
      const n = h.read(view, { at: state.at });
      if (n !== want) throw new Error(`read ${n} of ${want} bytes at ${state.at} to hash`);
      state.hasher.update(view);
      state.at += want;
    }
    hashed.bytes += state.at - from;
    hashed.ms += performance.now() - t0;
  },
  // What this thread has hashed so far, and how long it took.
  async stats() {
    return { ...hashed };
  },
  // What was hashed counts no more (the bytes are fetched again).
  /** @param {{ name: string }} req */
  async hashReset({ name }) {
    hashing.get(name)?.hasher.free();
    hashing.delete(name);
  },
  // The SHA-256 of the file's first `size` bytes (32 bytes).
  /** @param {{ name: string, size: number }} req */
  async digest({ name, size }) {
    await ops.hashTo({ name, upto: size });
    const state = /** @type {{ hasher: WasmSha256, at: number }} */ (hashing.get(name));
    hashing.delete(name);
    return state.hasher.finish();
  },
  // A small file read whole; null when there is none.
  /** @param {{ name: string }} req */
  async get({ name }) {
    let file;
    try {
      file = await (await dir()).getFileHandle(name);
    } catch {
      return null;
    }
    return new Uint8Array(await (await file.getFile()).arrayBuffer());
  },
};

// A write that stopped short: the disk or the origin's quota is full.
/** @param {string} message */
function quotaError(message) {
  const e = new Error(`${message} (storage full?)`);
  e.name = 'QuotaExceededError';
  return e;
}

let queue = Promise.resolve();
scope.onmessage = (ev) => {
  const req = ev.data;
  queue = queue.then(async () => {
    try {
      // Each op reads the fields it needs from the request.
      const op = /** @type {Record<string, ((req: any) => Promise<unknown>) | undefined>} */ (ops)[req.op];
      if (!op) throw new Error(`unknown storage operation ${req.op}`);
      const value = await op(req);
      // Posted operations (writes, hashing) answer only when they fail.
      if (req.id === -1) return;
      scope.postMessage({ id: req.id, ok: true, value }, value instanceof Uint8Array ? [value.buffer] : []);
    } catch (e) {
      const id = req.id === -1 ? 0 : req.id;
      // Chromium's truncate says "No space available for this operation" (a
      // DOMException not named QuotaExceededError): both mean the storage is full.
      const quota = e?.name === 'QuotaExceededError' || /quota|no space/i.test(String(e?.message));
      scope.postMessage({ id, name: req.name, ok: false, error: String(e?.message ?? e), quota });
    }
  });
};

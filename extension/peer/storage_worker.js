// OPFS storage for the browser-only peer. A dedicated worker, because only workers
// get synchronous access handles: writes land at their offset at once and are read
// back in order, without holding the file in memory. Requests are handled in the
// order they arrive, so a read always sees the writes made before it.
//
// Request: {id, op, name, ...}; reply: {id, ok: true, value} or {id, ok: false, error}.
// Writes (thousands a second) get no reply when they succeed: a failed one is
// reported as {id: 0, name, ok: false, error}.

const DIR = 'swarmload';
const handles = new Map();
let dirPromise = null;

function dir() {
  dirPromise ??= navigator.storage.getDirectory().then((root) => root.getDirectoryHandle(DIR, { create: true }));
  return dirPromise;
}

async function handle(name) {
  const h = handles.get(name);
  if (!h) throw new Error(`${name} is not open`);
  return h;
}

const ops = {
  async open({ name, size }) {
    const file = await (await dir()).getFileHandle(name, { create: true });
    const h = await file.createSyncAccessHandle();
    h.truncate(size);
    handles.set(name, h);
  },
  async write({ name, offset, data }) {
    const h = await handle(name);
    const n = h.write(data, { at: offset });
    if (n !== data.byteLength) throw new Error(`wrote ${n} of ${data.byteLength} bytes (disk full?)`);
  },
  async read({ name, offset, len }) {
    const h = await handle(name);
    const buf = new Uint8Array(len);
    const n = h.read(buf, { at: offset });
    return n === len ? buf : buf.subarray(0, n);
  },
  // Flushes and lets go of the file, so the page can read it as a File.
  async close({ name }) {
    const h = handles.get(name);
    if (!h) return;
    h.flush();
    h.close();
    handles.delete(name);
  },
  async remove({ name }) {
    await ops.close({ name });
    await (await dir()).removeEntry(name).catch(() => {});
  },
  // Removes every stored file (seeds of an earlier session are not tracked).
  async clear() {
    for (const name of [...handles.keys()]) await ops.close({ name });
    const d = await dir();
    const names = [];
    for await (const name of d.keys()) names.push(name);
    for (const name of names) await d.removeEntry(name).catch(() => {});
  },
};

let queue = Promise.resolve();
self.onmessage = (ev) => {
  const req = ev.data;
  queue = queue.then(async () => {
    try {
      const op = ops[req.op];
      if (!op) throw new Error(`unknown storage operation ${req.op}`);
      const value = await op(req);
      if (req.op === 'write') return;
      self.postMessage({ id: req.id, ok: true, value }, value instanceof Uint8Array ? [value.buffer] : []);
    } catch (e) {
      const id = req.op === 'write' ? 0 : req.id;
      self.postMessage({ id, name: req.name, ok: false, error: String(e?.message ?? e) });
    }
  });
};

// The native host (`swarmload-host`) over native messaging: requests carry an id and
// their replies are matched by it; events (`progress`, `finished`, `failed`) and the
// loss of the host go to listeners. See docs/native-messaging.md; what it sends and
// answers is typed in backend.d.ts (`HostCalls`, `HostEvent`).

/**
 * @import { Backend, Hello, HostCalls, HostEvent, ReplyOf, RequestOf } from './backend.js'
 * @typedef {(event: HostEvent) => void} HostListener
 * @typedef {{ resolve: (reply: unknown) => void, reject: (e: Error) => void }} Pending
 */

export const HOST_NAME = 'org.swarmload.host';

/** @implements {Backend<HostCalls, HostEvent>} */
export class HostLink {
  /** @param {typeof chrome} api */
  constructor(api) {
    this.api = api;
    /** @type {chrome.runtime.Port | null} */
    this.port = null;
    /** @type {Hello | null} */
    this.hello = null;
    /** @type {Promise<Hello> | null} */
    this.connecting = null;
    /** @type {Map<number, Pending>} */
    this.pending = new Map();
    this.nextId = 1;
    /** @type {Set<HostListener>} */
    this.listeners = new Set();
  }

  /** @param {HostListener} listener */
  onEvent(listener) {
    this.listeners.add(listener);
  }

  /** @param {HostListener} listener */
  offEvent(listener) {
    this.listeners.delete(listener);
  }

  // Resolves to the host's `hello` once connected; rejects when no host is
  // installed or the browser does not allow it.
  /** @returns {Promise<Hello>} */
  connect() {
    if (this.hello) return Promise.resolve(this.hello);
    if (this.connecting) return this.connecting;
    this.connecting = new Promise((resolve, reject) => {
      let port;
      try {
        port = this.api.runtime.connectNative(HOST_NAME);
      } catch (e) {
        this.connecting = null;
        reject(e);
        return;
      }
      this.port = port;
      port.onMessage.addListener((m) => this.#onMessage(m));
      port.onDisconnect.addListener(() => {
        const why = this.api.runtime.lastError?.message ?? 'the native host went away';
        const err = new Error(why);
        const wasUp = this.hello !== null;
        this.port = null;
        this.hello = null;
        this.connecting = null;
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
        reject(err);
        if (wasUp) this.#emit({ type: 'host_gone', error: why });
      });
      /** @type {Promise<Hello>} */ (this.#send({ type: 'hello' }, 10000)).then(
        (hello) => {
          this.hello = hello;
          this.#emit({ type: 'host_up', hello });
          resolve(hello);
        },
        (e) => {
          this.connecting = null;
          reject(e);
        },
      );
    });
    return this.connecting;
  }

  /**
   * @template {keyof HostCalls} T
   * @param {RequestOf<HostCalls[T]> & { type: T }} message
   * @param {number} [timeoutMs]
   * @returns {Promise<ReplyOf<HostCalls[T]>>}
   */
  async request(message, timeoutMs = 30000) {
    await this.connect();
    // The reply is the host's JSON, typed by what the request was (HostCalls).
    return /** @type {Promise<ReplyOf<HostCalls[T]>>} */ (this.#send(message, timeoutMs));
  }

  /**
   * @param {{ type: string }} message
   * @param {number} timeoutMs
   * @returns {Promise<unknown>}
   */
  #send(message, timeoutMs) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${message.type}: the host did not answer in time`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      try {
        if (!this.port) throw new Error('the native host is not connected');
        this.port.postMessage({ ...message, id });
      } catch (e) {
        this.pending.get(id)?.reject(e);
        this.pending.delete(id);
      }
    });
  }

  /** @param {any} m a frame from the host: a reply, or a `HostEvent` */
  #onMessage(m) {
    if (m && m.id !== undefined && this.pending.has(m.id)) {
      const p = /** @type {Pending} */ (this.pending.get(m.id));
      this.pending.delete(m.id);
      if (m.type === 'error') {
        p.reject(Object.assign(new Error(m.message), { code: m.code }));
      } else {
        p.resolve(m);
      }
      return;
    }
    this.#emit(m);
  }

  /** @param {HostEvent} event */
  #emit(event) {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch (e) {
        console.error('swarmload: event listener failed', e);
      }
    }
  }
}

// The background's link to the browser-only peer (peer/service.js): in Chromium an
// offscreen document made on first use (reason WEB_RTC), reached by runtime
// messages; in Firefox the service runs right here in the background page. What it
// answers and reports is typed in backend.d.ts (`PeerCalls`, `PeerEvent`).

/**
 * @import { Backend, Configure, PeerCalls, PeerEvent, ReplyOf, RequestOf } from './backend.js'
 * @import { PeerService } from '../peer/service.js'
 * @typedef {(event: PeerEvent) => void} PeerListener
 * @typedef {{ ok: true, value: unknown } | { ok: false, error: string }} OffscreenReply
 */

// Peer connections an offscreen document may make before it is replaced (Chrome
// allows about 500 per document; rtc.rs refuses more than this). `storage.local`'s
// `peer_connection_budget` overrides it (the tests scale it down).
const CONNECTION_BUDGET = 480;

/** @implements {Backend<PeerCalls, PeerEvent>} */
export class BrowserPeer {
  /** @param {typeof chrome} api */
  constructor(api) {
    this.api = api;
    /** @type {PeerService | null} */
    this.service = null;
    /** @type {Promise<void> | null} */
    this.making = null;
    /** @type {Set<PeerListener>} */
    this.listeners = new Set();
  }

  /** @param {PeerListener} listener */
  onEvent(listener) {
    this.listeners.add(listener);
  }

  /** @param {PeerListener} listener */
  offEvent(listener) {
    this.listeners.delete(listener);
  }

  // An event from the offscreen document (Chromium), or from the service itself.
  /** @param {PeerEvent} ev */
  dispatch(ev) {
    for (const l of this.listeners) l(ev);
  }

  /** @returns {Promise<void>} */
  async #ensure() {
    if (!this.api.offscreen) {
      // Firefox: the background page has RTCPeerConnection and OPFS itself.
      this.making ??= import('../peer/service.js').then(({ PeerService }) => {
        this.service = new PeerService((ev) => this.dispatch(ev));
      });
      return this.making;
    }
    this.making ??= (async () => {
      const url = this.api.runtime.getURL('offscreen.html');
      const existing = await this.api.runtime.getContexts({ contextTypes: ['OFFSCREEN_DOCUMENT'], documentUrls: [url] });
      if (existing.length === 0) {
        await this.api.offscreen.createDocument({
          url: 'offscreen.html',
          reasons: ['WEB_RTC'],
          justification: 'Downloads from and seeds to peers over WebRTC data channels when no native host is installed.',
        });
        await this.#configure();
      }
    })().catch((e) => {
      this.making = null;
      throw e;
    });
    return this.making;
  }

  /**
   * @template {keyof PeerCalls} T
   * @param {RequestOf<PeerCalls[T]> & { type: T }} msg
   * @returns {Promise<ReplyOf<PeerCalls[T]>>}
   */
  async request(msg) {
    await this.#ensure();
    // The service answers each request type with its reply (PeerCalls).
    if (this.service) return /** @type {ReplyOf<PeerCalls[T]>} */ (await this.service.handle(msg));
    return /** @type {ReplyOf<PeerCalls[T]>} */ (await this.#send(msg));
  }

  // Tells the offscreen document its peer-connection budget (again, when the
  // setting changed). Not in Firefox, whose background page has no such limit.
  async configure() {
    if (!this.api.offscreen || !this.making) return;
    await this.making;
    await this.#configure();
  }

  async #configure() {
    const { peer_connection_budget: budget } = /** @type {{ peer_connection_budget?: number }} */ (
      await this.api.storage.local.get('peer_connection_budget')
    );
    /** @type {Configure} */
    const configure = { type: 'configure', peer_connection_budget: Number(budget) || CONNECTION_BUDGET };
    await this.#send(configure);
  }

  // A request to the offscreen document; its reply as the service gave it.
  /**
   * @param {{ type: keyof PeerCalls } & object} msg
   * @returns {Promise<unknown>}
   */
  async #send(msg) {
    /** @type {OffscreenReply | undefined} */
    const reply = await this.api.runtime.sendMessage({ target: 'offscreen', ...msg });
    if (!reply) throw new Error('the browser peer did not answer');
    if (!reply.ok) throw new Error(reply.error);
    return reply.value;
  }

  // Replaces the offscreen document with a new one, whose peer-connection count
  // starts again (the caller restores the kept seeds in it). False where the peer
  // lives in the background page (Firefox, which has no such per-page limit).
  /** @returns {Promise<boolean>} */
  async recycle() {
    if (!this.api.offscreen) return false;
    await this.making?.catch(() => {});
    this.making = null;
    await this.api.offscreen.closeDocument().catch(() => {});
    await this.#ensure();
    return true;
  }
}

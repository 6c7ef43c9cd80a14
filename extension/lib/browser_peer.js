// The background's link to the browser-only peer (peer/service.js): in Chromium an
// offscreen document made on first use (reason WEB_RTC), reached by runtime
// messages; in Firefox the service runs right here in the background page.

export class BrowserPeer {
  constructor(api) {
    this.api = api;
    this.service = null;
    this.making = null;
    this.listeners = new Set();
  }

  onEvent(listener) {
    this.listeners.add(listener);
  }

  offEvent(listener) {
    this.listeners.delete(listener);
  }

  // An event from the offscreen document (Chromium), or from the service itself.
  dispatch(ev) {
    for (const l of this.listeners) l(ev);
  }

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
      }
    })().catch((e) => {
      this.making = null;
      throw e;
    });
    return this.making;
  }

  async request(msg) {
    await this.#ensure();
    if (this.service) return this.service.handle(msg);
    const reply = await this.api.runtime.sendMessage({ target: 'offscreen', ...msg });
    if (!reply) throw new Error('the browser peer did not answer');
    if (!reply.ok) throw new Error(reply.error);
    return reply.value;
  }
}

// Chromium's offscreen document: home of the browser-only peer, which needs
// RTCPeerConnection (service workers have none). Requests come from the service
// worker as runtime messages addressed to 'offscreen'; events go back to it.

import { PeerService } from './peer/service.js';

/** @import { PeerRequest } from './peer/service.js' */

const api = globalThis.chrome;
const service = new PeerService((ev) => {
  api.runtime.sendMessage({ target: 'background', ...ev }).catch(() => {});
});

api.runtime.onMessage.addListener((message, _sender, reply) => {
  if (message?.target !== 'offscreen') return false;
  service.handle(/** @type {PeerRequest} */ (message)).then(
    (value) => reply({ ok: true, value }),
    (e) => reply({ ok: false, error: String(e?.message ?? e) }),
  );
  return true;
});

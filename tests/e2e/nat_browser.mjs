// Run inside one of the topology's namespaces (`ip netns exec NS node nat_browser.mjs
// NAME PAGE_URL SETTINGS`): an extension-only Chromium (no native host) clicks the
// page's `#file` link and follows the browser peer's transfer to its end. Prints one
// JSON line: the transfer's size, bytes from peers and from the origin, and its
// phase; and the saved file.
//
// SETTINGS (JSON: trackers, ICE servers) are the user's own, saved in the extension's
// storage as its options page does, then the browser is restarted so they are what
// it starts with. Not managed policy: a managed Chromium shows its real addresses to
// WebRTC, while a person's own hides them behind mDNS names where the build has the
// mDNS responder that needs (Debian's Chromium 156 does not: it offers addresses).

import { setTimeout as sleep } from 'node:timers/promises';

import { browser, landedFiles, settledDownloads, stopAll, workDir } from './harness.mjs';

const [name, page, settings] = process.argv.slice(2);

async function status(b) {
  const reply = await b.worker.evaluate(() => chrome.runtime.sendMessage({ target: 'offscreen', type: 'status' }).catch(() => null));
  return reply?.ok ? reply.value : null;
}

async function main() {
  const hostHome = workDir(`${name}-unused-host`);
  const first = await browser({ name, hostHome, registerHost: false });
  const options = await first.context.newPage();
  await options.goto(`chrome-extension://${first.extensionId}/options.html`);
  await options.evaluate((s) => chrome.storage.local.set({ settings: s }), JSON.parse(settings));
  await first.close();
  const b = await browser({ name, hostHome, registerHost: false, keepProfile: true });
  try {
    // The peer's page is made when the extension starts; wait for it to answer.
    for (let i = 0; i < 100 && !(await status(b)); i++) await sleep(100);
    const tab = await b.context.newPage();
    await tab.goto(page);
    await tab.click('#file');
    let s = null;
    const end = Date.now() + 240000;
    while (Date.now() < end) {
      s = (await status(b))?.active?.[0] ?? null;
      if (s && (s.phase === 'seeding' || s.phase === 'failed')) break;
      await sleep(100);
    }
    await settledDownloads(b, { count: 1, timeoutMs: 60000 });
    const files = landedFiles(b.downloads);
    console.log(JSON.stringify({ transfer: s, files }));
  } finally {
    await b.close().catch(() => {});
    stopAll();
  }
}

main().catch((e) => {
  console.log(JSON.stringify({ error: String(e?.stack ?? e) }));
  stopAll();
  process.exit(1);
});

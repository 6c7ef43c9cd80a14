// Swarmload in a real Chromium: the built extension loaded, the real native host
// registered in the profile, real seeders and tracker, a real origin. Each scenario
// asserts on the file that lands in the downloads directory (its SHA-256) and on the
// origin's byte counter. Run by `cargo xtask test` inside a private network
// namespace (run.sh).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';

import {
  BIN,
  EXTENSION,
  ICE_ADDR,
  WORK,
  browser,
  extensionState,
  landedFiles,
  noiseFile,
  origin,
  seeder,
  setChromiumPolicyFile,
  setManagedPolicy,
  settledDownloads,
  sha256,
  start,
  stopAll,
  tracker,
  workDir,
} from './harness.mjs';

const MiB = 1 << 20;
// The Chromium build's id (fixed by its manifest key; docs/extension.md).
const EXTENSION_ID = 'npnpfokgckelonahjkkjnlcbpagfeefp';
const ARTIFACTS = process.env.SWARMLOAD_ARTIFACTS ?? path.join(WORK, 'artifacts');
fs.mkdirSync(ARTIFACTS, { recursive: true });

after(stopAll);

function hostHome(name, trackerUrl) {
  const home = workDir(name);
  const trackers = trackerUrl ? `["${trackerUrl}"]` : '[]';
  fs.writeFileSync(path.join(home, 'config.toml'), `trackers = ${trackers}\n`);
  return home;
}

async function clickDownloadLink(b, pageUrl) {
  const page = await b.context.newPage();
  await page.goto(pageUrl);
  await page.click('#file');
  return page;
}

test('native path: a clicked link arrives correct, mostly from peers', async () => {
  const dir = workDir('native');
  const size = 48 * MiB;
  const file = noiseFile(dir, 'installer.bin', size);
  const want = sha256(file);
  const t0 = Date.now();
  const step = (what) => console.log(`# ${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
  // A busy origin: 500 KB/s per connection.
  const o = await origin(file, ['--throttle', '500000', '--page']);
  const t = await tracker();
  await seeder(file, t.url, 'native-seed-1');
  await seeder(file, t.url, 'native-seed-2');
  step('seeders ready');
  const home = hostHome('native-host', t.url);
  const b = await browser({ name: 'native', hostHome: home });
  step('browser ready');
  try {
    // The origin's ranges (the host's) wait until the host has met a seeder, however
    // slowly that goes on a loaded machine.
    await o.holdRanges();
    await clickDownloadLink(b, o.page);
    step('clicked');
    await hostLogged(home, 'peer connected');
    await o.release();
    step('met a seeder');
    // The popup while the transfer runs (or just after): a person can look at it.
    const popup = await b.context.newPage();
    await popup.setViewportSize({ width: 420, height: 340 });
    await popup.goto(`chrome-extension://${new URL(b.worker.url()).host}/popup.html`);
    await popup.waitForSelector('ul.transfers li', { timeout: 60000 });
    step('popup shows it');
    const items = await settledDownloads(b);
    step('settled');
    await popup.waitForTimeout(700);
    await popup.screenshot({ path: path.join(ARTIFACTS, 'popup-native.png') });
    const popupText = await popup.textContent('body');

    assert.equal(items.length, 1, `one download in the list: ${JSON.stringify(items)}`);
    const [item] = items;
    assert.equal(item.state, 'complete', JSON.stringify(item));
    assert.match(item.url, /^http:\/\/127\.0\.0\.1:\d+\/d\//, 'delivered by the host');
    assert.equal(path.dirname(item.filename), b.downloads);
    assert.equal(path.basename(item.filename), 'installer.bin');
    assert.deepEqual(landedFiles(b.downloads), [item.filename], 'nothing else landed');
    assert.equal(sha256(item.filename), want, 'the right bytes');
    const fromOrigin = await o.bodyBytes();
    assert.ok(fromOrigin < size / 10, `origin served ${fromOrigin} of ${size} bytes`);
    assert.match(popupText, /installer\.bin/);
    assert.match(popupText, /from peers/);
  } finally {
    await b.close();
  }
});

test('browser-only: no native host, the wasm peer downloads from native seeders and seeds', async () => {
  const dir = workDir('browser-only');
  const size = 48 * MiB;
  const file = noiseFile(dir, 'bundle.zip', size);
  const want = sha256(file);
  // A busy origin: 250 KB/s per connection.
  const o = await origin(file, ['--throttle', '250000', '--page']);
  const t = await tracker();
  const seeds = [await seeder(file, t.url, 'bo-seed-1'), await seeder(file, t.url, 'bo-seed-2')];
  // The trackers come from enterprise policy: no host, so the extension alone obeys it.
  setManagedPolicy(EXTENSION_ID, { trackers: [t.url] });
  const b = await browser({ name: 'browser-only', hostHome: workDir('bo-unused'), registerHost: false });
  try {
    await clickDownloadLink(b, o.page);
    const items = await settledDownloads(b, { timeoutMs: 180000 });
    assert.equal(items.length, 1, `one download in the list: ${JSON.stringify(items)}`);
    const [item] = items;
    assert.equal(item.state, 'complete', JSON.stringify(item));
    assert.match(item.url, /^blob:chrome-extension:\/\//, 'delivered from the OPFS-backed blob');
    assert.equal(path.basename(item.filename), 'bundle.zip');
    assert.deepEqual(landedFiles(b.downloads), [item.filename], 'nothing else landed');
    assert.equal(sha256(item.filename), want, 'the right bytes');
    const peerState = await b.worker.evaluate(() => chrome.runtime.sendMessage({ target: 'offscreen', type: 'status' }));
    console.log('# browser peer:', JSON.stringify(peerState));
    const fromOrigin = await o.bodyBytes();
    console.log(`# origin served ${fromOrigin} of ${size} bytes`);
    assert.ok(fromOrigin < size / 10, `origin served ${fromOrigin} of ${size} bytes`);
    const state = await extensionState(b);
    assert.equal(state.host, null, 'no native host was involved');
    assert.equal(state.transfers[0].state, 'done', JSON.stringify(state.transfers[0]));
    assert.ok(state.transfers[0].from_peers > size / 2, JSON.stringify(state.transfers[0]));

    // Seeding: with the native seeders gone and the origin all but closed, a native
    // host fetches the same file from the browser.
    for (const p of seeds) p.kill('SIGKILL');
    const slow = await origin(file, ['--throttle', '50000']);
    const getDir = workDir('bo-leech');
    const get = start(
      path.join(BIN, 'swarmload-host'),
      ['get', slow.url, '--json', '--no-seed', '--ice-addr', ICE_ADDR, '--tracker', t.url, '--state-dir', getDir, '-o', getDir],
      { env: { ...process.env, SWARMLOAD_HOME: undefined } },
    );
    const summary = JSON.parse(await get.line(120000));
    assert.equal(summary.sha256, want);
    assert.equal(sha256(summary.path), want);
    assert.ok(summary.from_peers > size / 2, `the browser served ${summary.from_peers} bytes`);
  } finally {
    setManagedPolicy(EXTENSION_ID, null);
    await b.close();
  }
});

test('browser_seeding off by managed policy, no swarm: the paused download resumes in the browser untouched, nothing is kept', async () => {
  const dir = workDir('bo-alone');
  const size = 16 * MiB;
  const file = noiseFile(dir, 'lonely.iso', size);
  // Paced so the pause always comes before the item finishes on loopback.
  const o = await origin(file, ['--page', '--throttle', '4000000']);
  const t = await tracker();
  // A live tracker that counts no one else; then one that never answers.
  for (const [tracker_, why, name] of [
    [t.url, /the trackers count no one else/, 'bo-alone'],
    ['ws://127.0.0.1:1', /no peer within 3 s \(no tracker answered\)/, 'bo-alone-dead'],
  ]) {
    setManagedPolicy(EXTENSION_ID, { trackers: [tracker_], browser_seeding: false });
    const before = await o.bodyBytes();
    const b = await browser({ name, hostHome: workDir(`${name}-unused`), registerHost: false });
    try {
      await clickDownloadLink(b, o.page);
      const items = await settledDownloads(b, { timeoutMs: 60000 });
      assert.equal(items.length, 1, JSON.stringify(items));
      assert.equal(items[0].url, o.url, "the browser's own download");
      assert.equal(items[0].state, 'complete');
      assert.equal(sha256(items[0].filename), sha256(file));
      const state = await extensionState(b);
      assert.equal(state.transfers.length, 0, 'nothing was taken over');
      assert.match(state.decisions[0]?.reason ?? '', why, JSON.stringify(state.decisions));
      // The peer's origin waited for the swarm too: nothing was fetched twice.
      const fromOrigin = (await o.bodyBytes()) - before;
      assert.ok(fromOrigin < size + 1 * MiB, `origin served ${fromOrigin} bytes for ${size}`);
      // Nothing is seeded or kept.
      assert.deepEqual(state.peer?.seeds ?? [], [], JSON.stringify(state.peer));
      assert.deepEqual(await opfsFiles(b), [], 'nothing kept in the browser');
    } finally {
      setManagedPolicy(EXTENSION_ID, null);
      await b.close();
    }
  }
});

// The names of the files the browser peer holds in OPFS, read in its own document.
async function opfsFiles(b) {
  const page = await b.context.newPage();
  try {
    await page.goto(`chrome-extension://${b.extensionId}/options.html`);
    return await page.evaluate(async () => {
      const root = await navigator.storage.getDirectory();
      let dir;
      try {
        dir = await root.getDirectoryHandle('swarmload');
      } catch {
        return [];
      }
      const names = [];
      for await (const name of dir.keys()) names.push(name);
      return names.sort();
    });
  } finally {
    await page.close();
  }
}

// An extension-only profile downloads `o.page`'s link; returns the landed item and
// the extension's state.
async function extensionOnlyDownload(b, o, want) {
  await clickDownloadLink(b, o.page);
  const items = await settledDownloads(b, { timeoutMs: 180000 });
  assert.equal(items.length, 1, `one download in the list: ${JSON.stringify(items)}`);
  const [item] = items;
  assert.equal(item.state, 'complete', JSON.stringify(item));
  assert.match(item.url, /^blob:chrome-extension:\/\//, 'delivered from the OPFS-backed blob');
  assert.equal(sha256(item.filename), want, 'the right bytes');
  const state = await extensionState(b);
  assert.equal(state.host, null, 'no native host was involved');
  assert.equal(state.transfers[0]?.state, 'done', JSON.stringify(state.transfers));
  return { item, state };
}

// An extension-only swarm about to start: a fresh file nobody has, a tracker named
// by managed policy, an origin serving 4 MB/s per connection, and the first profile.
async function extensionOnlySwarm(name, size, fileName) {
  const file = noiseFile(workDir(name), fileName, size);
  const t = await tracker();
  setManagedPolicy(EXTENSION_ID, { trackers: [t.url] });
  const fast = await origin(file, ['--page', '--throttle', '4000000']);
  const first = await browser({ name: `${name}-first`, hostHome: workDir(`${name}-first-unused`), registerHost: false });
  return { file, want: sha256(file), fast, first };
}

// Another extension-only profile downloads `file` with the origin all but closed.
async function browserLeech(name, file, want) {
  const slow = await origin(file, ['--page', '--throttle', '50000']);
  const b = await browser({ name, hostHome: workDir(`${name}-unused`), registerHost: false });
  try {
    const { state } = await extensionOnlyDownload(b, slow, want);
    return { b, slow, transfer: state.transfers[0] };
  } catch (e) {
    await b.close();
    throw e;
  }
}

test('extension-only swarm: the first Chromium downloads from the origin and seeds; a second profile, and a third after the first restarts, get it from the first (mDNS names only)', async () => {
  const size = 40 * MiB;
  // Nobody has it: the first browser takes it from the origin, in parallel ranges.
  const swarm = await extensionOnlySwarm('eo', size, 'release.tar.xz');
  const { file, want, fast } = swarm;
  let { first } = swarm;
  const others = [];
  try {
    const { state } = await extensionOnlyDownload(first, fast, want);
    assert.equal(state.decisions.find((d) => d.url === fast.url)?.decision, 'taken over', JSON.stringify(state.decisions));
    assert.ok(state.transfers[0].from_origin >= size * 0.9, JSON.stringify(state.transfers[0]));
    const seeds = state.peer?.seeds ?? [];
    assert.equal(seeds.length, 1, JSON.stringify(state.peer));
    assert.equal(seeds[0].sha256, want);
    assert.equal(seeds[0].kept, true, 'kept for later sessions');
    // The origin sent the file about once: the paused item's bytes, then the peer's.
    const firstOrigin = await fast.bodyBytes();
    console.log(`# first download: origin served ${firstOrigin} bytes for ${size}`);
    assert.ok(firstOrigin < size + 8 * MiB, `origin served ${firstOrigin} bytes for ${size}`);

    // A second profile, with the origin all but closed: the first browser serves it.
    for (const [name, restartFirst] of [['eo-second', false], ['eo-third', true]]) {
      if (restartFirst) {
        // Only the first browser may serve the third: the second, a seed too, goes.
        for (const b of others.splice(0)) await b.close();
        await first.close();
        first = await browser({ name: 'eo-first', hostHome: workDir('eo-first-unused-2'), registerHost: false, keepProfile: true });
        // The restarted browser seeds what it kept, without a download of its own.
        const end = Date.now() + 30000;
        let kept = [];
        while (Date.now() < end && kept.length === 0) {
          kept = ((await extensionState(first)).peer?.seeds ?? []).filter((x) => x.sha256 === want);
          if (kept.length === 0) await new Promise((r) => setTimeout(r, 200));
        }
        assert.equal(kept.length, 1, 'the kept file is seeded again after the restart');
      }
      const { b, slow, transfer } = await browserLeech(name, file, want);
      others.push(b);
      const fromPeers = transfer.from_peers;
      console.log(`# ${name}: ${fromPeers} of ${size} bytes from peers; the slow origin sent ${await slow.bodyBytes()}`);
      assert.ok(fromPeers >= size * 0.9, `${name} got ${fromPeers} of ${size} bytes from the first browser`);
      const up = (await extensionState(first)).peer?.seeds?.find((x) => x.sha256 === want);
      assert.ok(up && up.uploaded >= size * 0.9, `the first browser counts its upload: ${JSON.stringify(up)}`);
    }
    // The popup lists the seed with its upload; "Stop sharing this" ends it and
    // removes its files.
    const popup = await first.context.newPage();
    await popup.goto(`chrome-extension://${first.extensionId}/popup.html`);
    const entry = popup.locator('#seeds li', { hasText: 'release.tar.xz' });
    await entry.waitFor({ timeout: 10000 });
    assert.match(await entry.innerText(), /uploaded/);
    assert.match(await popup.locator('#storage').innerText(), /The cache holds/);
    await popup.screenshot({ path: path.join(ARTIFACTS, 'popup-seeding.png') });
    await entry.getByRole('button', { name: /Stop sharing/ }).click();
    await popup.locator('#seeds li').first().waitFor({ state: 'detached', timeout: 10000 });
    assert.deepEqual((await extensionState(first)).peer?.seeds, [], 'no seed left');
    assert.deepEqual(await opfsFiles(first), [], 'its files are gone');
    await popup.close();
  } finally {
    setManagedPolicy(EXTENSION_ID, null);
    for (const b of [first, ...others]) await b.close();
  }
});

test('extension-only, a full storage quota: the kept seed is given up for the new download, which the peer still takes', async () => {
  const { want: olderSum, fast, first } = await extensionOnlySwarm('quota', 24 * MiB, 'older.bin');
  const newer = noiseFile(workDir('quota-newer'), 'newer.bin', 40 * MiB);
  try {
    // The extension's storage may hold 72 MiB: the kept 24 MiB and the new 40 MiB do
    // not fit together (Chromium grants an OPFS file room in powers of two: 32 and 64
    // MiB here), the new one alone does.
    const page = await first.context.newPage();
    await page.goto(`chrome-extension://${first.extensionId}/options.html`);
    const cdp = await first.context.newCDPSession(page);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: `chrome-extension://${first.extensionId}`, quotaSize: 72 * MiB });
    await extensionOnlyDownload(first, fast, olderSum);
    const kept = (await extensionState(first)).peer.seeds.map((x) => x.sha256);
    assert.deepEqual(kept, [olderSum], 'the first file is kept');
    const o = await origin(newer, ['--page', '--throttle', '4000000']);
    await clickDownloadLink(first, o.page);
    const items = await settledDownloads(first, { count: 2, timeoutMs: 120000 });
    const item = items.find((i) => path.basename(i.filename) === 'newer.bin');
    assert.equal(item?.state, 'complete', JSON.stringify(items));
    const why = JSON.stringify((await extensionState(first)).decisions.find((d) => d.url === o.url));
    assert.match(item.url, /^blob:chrome-extension:\/\//, `the peer took it despite the full quota: ${why}`);
    assert.equal(sha256(item.filename), sha256(newer));
    const state = await extensionState(first);
    assert.deepEqual(
      state.peer.seeds.map((x) => x.sha256),
      [sha256(newer)],
      'the older seed was given up to make room',
    );
    assert.ok(!(await opfsFiles(first)).some((n) => n.startsWith(olderSum)), 'its files are gone');
    assert.ok(state.peer.storage.used <= 72 * MiB, JSON.stringify(state.peer.storage));
  } finally {
    setManagedPolicy(EXTENSION_ID, null);
    await first.close();
  }
});

test('offscreen recycling: with a scaled-down peer-connection budget the seeding document is replaced once idle, and the next profile still gets the file from it', async () => {
  const size = 16 * MiB;
  const { file, want, fast, first } = await extensionOnlySwarm('rc', size, 'patch.bin');
  const state = () => extensionState(first);
  // The download makes 12 connections (its offers), each later profile served one
  // more: the budget's 80% (13.6) is passed after the second.
  const budget = 17;
  try {
    // The page made at start hears it at once.
    const page = await first.context.newPage();
    await page.goto(`chrome-extension://${first.extensionId}/options.html`);
    await page.evaluate((n) => chrome.storage.local.set({ peer_connection_budget: n }), budget);
    await page.close();
    const told = Date.now() + 20000;
    while ((await state()).peer?.peer_connection_budget !== budget) {
      assert.ok(Date.now() < told, 'the offscreen document heard its budget');
      await new Promise((r) => setTimeout(r, 100));
    }
    await extensionOnlyDownload(first, fast, want);
    let recycledAfter = null;
    for (let i = 1; i <= 4 && recycledAfter === null; i++) {
      const { b, transfer } = await browserLeech(`rc-leech-${i}`, file, want);
      // Only the first browser seeds for the next one; it is idle once this goes.
      await b.close();
      console.log(`# leech ${i}: ${transfer.from_peers} of ${size} bytes from the first`);
      assert.ok(transfer.from_peers >= size * 0.9, `leech ${i} got ${transfer.from_peers} of ${size} bytes from peers`);
      const now = await state();
      console.log(`# after leech ${i}: ${now.peer?.peer_connections} connections made, ${now.peer_recycles} recycles`);
      if (now.peer_recycles > 0 || now.peer.peer_connections >= budget * 0.8) recycledAfter = i;
    }
    assert.notEqual(recycledAfter, null, 'the budget was nearly spent');
    // Idle with most of its budget spent: replaced, and the new one seeds the kept
    // file once a tracker has answered it.
    const until = Date.now() + 30000;
    let now = await state();
    while (Date.now() < until) {
      const seed = now.peer?.active?.find((x) => x.phase === 'seeding');
      if (now.peer_recycles > 0 && seed && seed.swarm_size !== undefined) break;
      await new Promise((r) => setTimeout(r, 250));
      now = await state();
    }
    assert.equal(now.peer_recycles, 1, 'replaced once');
    assert.ok(now.peer.peer_connections < budget * 0.8, `the new document counts afresh: ${now.peer.peer_connections}`);
    assert.equal(now.peer.seeds.filter((x) => x.sha256 === want).length, 1, 'the kept file is seeded in the new document');
    // And it serves: one more profile gets the file from it.
    const { b, transfer } = await browserLeech('rc-after', file, want);
    await b.close();
    console.log(`# after the recycle: ${transfer.from_peers} of ${size} bytes from the first`);
    assert.ok(transfer.from_peers >= size * 0.9, JSON.stringify(transfer));
    // "Clear the cache" in the popup: every seed goes, and its files.
    const popup = await first.context.newPage();
    await popup.goto(`chrome-extension://${first.extensionId}/popup.html`);
    await popup.locator('#seeds li').first().waitFor({ timeout: 10000 });
    await popup.getByRole('button', { name: 'Clear the cache' }).click();
    await popup.locator('#seeds li').first().waitFor({ state: 'detached', timeout: 10000 });
    assert.deepEqual((await state()).peer?.seeds, [], 'no seed left');
    assert.deepEqual(await opfsFiles(first), [], 'the cache is empty');
    await popup.close();
  } finally {
    setManagedPolicy(EXTENSION_ID, null);
    await first.close();
  }
});

test('blocking webRequest (as force-installed): taken over before the body, from a fast origin', async () => {
  const dir = workDir('early');
  const size = 48 * MiB;
  const file = noiseFile(dir, 'setup.exe', size);
  const want = sha256(file);
  // A fast origin: 50 MB/s per connection.
  const o = await origin(file, ['--page', '--throttle', '50000000']);
  const t = await tracker();
  await seeder(file, t.url, 'early-seed-1');
  await seeder(file, t.url, 'early-seed-2');
  // What ExtensionInstallForcelist grants an MV3 extension (blocking webRequest),
  // granted to the unpacked test build by its id.
  const b = await browser({
    name: 'early',
    hostHome: hostHome('early-host', t.url),
    args: [`--allowlisted-extension-id=${EXTENSION_ID}`],
  });
  try {
    await clickDownloadLink(b, o.page);
    const items = await settledDownloads(b);
    assert.equal(items.length, 1, `only the delivery is listed: ${JSON.stringify(items)}`);
    const [item] = items;
    assert.equal(item.state, 'complete', JSON.stringify(item));
    assert.match(item.url, /^http:\/\/127\.0\.0\.1:\d+\/d\//, 'delivered by the host');
    assert.equal(path.basename(item.filename), 'setup.exe');
    assert.deepEqual(landedFiles(b.downloads), [item.filename], 'nothing else landed');
    assert.equal(sha256(item.filename), want, 'the right bytes');
    const state = await extensionState(b);
    assert.equal(state.decisions[0]?.decision, 'taken over before its body', JSON.stringify(state.decisions));
    const stats = await (await fetch(o.url.replace(/\/files\/.*/, '/stats'))).json();
    // What the origin wrote before the cancelled request's socket closed (tens of
    // milliseconds at its speed); the browser's own download never began.
    assert.ok(stats.unranged_get_bytes < 4 * MiB, `the browser itself fetched ${stats.unranged_get_bytes} origin bytes`);
  } finally {
    await b.close();
  }
});

test('ineligible downloads go through the browser untouched', async () => {
  const dir = workDir('ineligible');
  const small = noiseFile(dir, 'small.bin', 1 * MiB);
  const plain = noiseFile(dir, 'plain.bin', 12 * MiB);
  const t = await tracker();
  const smallOrigin = await origin(small, ['--page']);
  const plainOrigin = await origin(plain, ['--page', '--no-digest']);
  const b = await browser({ name: 'ineligible', hostHome: hostHome('ineligible-host', t.url) });
  try {
    // Too small: never paused, never asked about.
    await clickDownloadLink(b, smallOrigin.page);
    let items = await settledDownloads(b, { count: 1 });
    // No trusted digest: the host is asked, says no, and the paused item resumes.
    await clickDownloadLink(b, plainOrigin.page);
    items = await settledDownloads(b, { count: 2 });
    for (const [f, o] of [
      [small, smallOrigin],
      [plain, plainOrigin],
    ]) {
      const item = items.find((i) => i.url === o.url);
      assert.ok(item, `the browser's own download of ${o.url}: ${JSON.stringify(items)}`);
      assert.equal(item.state, 'complete');
      assert.equal(sha256(item.filename), sha256(f));
      assert.ok((await o.bodyBytes()) >= fs.statSync(f).size, 'the browser fetched it itself');
    }
    assert.equal(landedFiles(b.downloads).length, 2);
  } finally {
    await b.close();
  }
});

test('disabled by enterprise policy: the download is left to the browser', async () => {
  const dir = workDir('disabled');
  const file = noiseFile(dir, 'big.bin', 12 * MiB);
  const t = await tracker();
  await seeder(file, t.url, 'disabled-seed');
  const o = await origin(file, ['--page']);
  setManagedPolicy(EXTENSION_ID, { enabled: false });
  const b = await browser({ name: 'disabled', hostHome: hostHome('disabled-host', t.url) });
  try {
    const managed = await b.worker.evaluate(() => chrome.storage.managed.get(null));
    assert.deepEqual(managed, { enabled: false }, 'the policy reached the extension');
    await clickDownloadLink(b, o.page);
    const items = await settledDownloads(b);
    assert.equal(items.length, 1);
    assert.equal(items[0].url, o.url, "the browser's own download");
    assert.equal(items[0].state, 'complete');
    assert.equal(sha256(items[0].filename), sha256(file));
    assert.ok((await o.bodyBytes()) >= 12 * MiB, 'all of it from the origin, by the browser');
    const state = await extensionState(b);
    assert.equal(state.enabled, false);
    assert.equal(state.transfers.length, 0, 'nothing was taken over');
    assert.equal(state.decisions[0]?.reason, 'disabled', JSON.stringify(state.decisions));
  } finally {
    setManagedPolicy(EXTENSION_ID, null);
    await b.close();
  }
});

test('enterprise policy: blocked and not-allowed domains, and a higher minimum size, are left to the browser', async () => {
  const dir = workDir('policy-rules');
  const file = noiseFile(dir, 'rules.bin', 12 * MiB);
  const t = await tracker();
  await seeder(file, t.url, 'policy-rules-seed');
  // 2 MB/s per connection: the browser's own download lasts seconds, so the
  // extension has always decided before it ends.
  const o = await origin(file, ['--page', '--throttle', '2000000']);
  // Each rule alone, in a fresh browser: the download must go through the browser
  // untouched, for the rule's own reason (`domain` is the host's verdict on the
  // pushed policy; `too_small` the extension's, before any pause).
  try {
    for (const [rule, policy] of [
      ['domain', { blocked_domains: ['127.0.0.1'] }],
      ['domain', { allowed_domains: ['downloads.example.org'] }],
      ['too_small', { min_size_bytes: 64 * MiB }],
    ]) {
      setManagedPolicy(EXTENSION_ID, policy);
      const b = await browser({ name: `policy-${rule}-${Object.keys(policy)[0]}`, hostHome: hostHome(`policy-${Object.keys(policy)[0]}-host`, t.url) });
      try {
        await clickDownloadLink(b, o.page);
        const items = await settledDownloads(b, { timeoutMs: 60000 });
        assert.equal(items.length, 1);
        assert.equal(items[0].url, o.url, `${JSON.stringify(policy)}: the browser's own download`);
        assert.equal(sha256(items[0].filename), sha256(file));
        let state = await extensionState(b);
        for (let i = 0; i < 100 && state.decisions.length === 0; i++) {
          await new Promise((r) => setTimeout(r, 100));
          state = await extensionState(b);
        }
        assert.equal(state.transfers.length, 0, `${JSON.stringify(policy)}: nothing taken over`);
        assert.equal(state.decisions[0]?.reason, rule, `${JSON.stringify(policy)}: ${JSON.stringify(state.decisions)}`);
      } finally {
        await b.close();
      }
    }
  } finally {
    setManagedPolicy(EXTENSION_ID, null);
  }
});

test('the swarm dies mid-download: the download still completes correctly', async () => {
  const dir = workDir('dying');
  const size = 32 * MiB;
  const file = noiseFile(dir, 'image.iso', size);
  const o = await origin(file, ['--throttle', '1000000', '--page']);
  const t = await tracker();
  // Slow seeders, so there is a middle of the download to kill them in.
  const cap = 'max_upload_bytes_per_sec = 1500000\n';
  const seeds = [
    await seeder(file, t.url, 'dying-seed-1', { config: cap }),
    await seeder(file, t.url, 'dying-seed-2', { config: cap }),
  ];
  const b = await browser({ name: 'dying', hostHome: hostHome('dying-host', t.url) });
  try {
    await clickDownloadLink(b, o.page);
    let peers = 0;
    for (let i = 0; i < 300 && peers < 4 * MiB; i++) {
      const s = await extensionState(b);
      peers = s.transfers[0]?.from_peers ?? 0;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(peers >= 4 * MiB, `the swarm delivered ${peers} bytes before dying`);
    for (const p of [...seeds, t.proc]) p.kill('SIGKILL');
    const items = await settledDownloads(b, { timeoutMs: 180000 });
    assert.equal(items.length, 1);
    assert.equal(items[0].state, 'complete', JSON.stringify(items[0]));
    assert.equal(sha256(items[0].filename), sha256(file));
    const s = await extensionState(b);
    assert.equal(s.transfers[0].state, 'done');
    assert.ok(s.transfers[0].from_peers < size, 'the origin finished it');
  } finally {
    await b.close();
  }
});

test('a poisoned seeder is banned and the file is still correct', async () => {
  const dir = workDir('poison');
  const size = 24 * MiB;
  const file = noiseFile(dir, 'tool.tar', size);
  const o = await origin(file, ['--throttle', '500000', '--page']);
  const t = await tracker();
  await seeder(file, t.url, 'poison-bad', { extra: ['--corrupt-uploads'] });
  // The honest seeder is capped so the download lasts long enough for the bad
  // one to be connected and asked, however the connections race.
  await seeder(file, t.url, 'poison-good', { config: 'max_upload_bytes_per_sec = 3000000\n' });
  const home = hostHome('poison-host', t.url);
  const b = await browser({ name: 'poison', hostHome: home });
  try {
    await clickDownloadLink(b, o.page);
    const items = await settledDownloads(b, { timeoutMs: 180000 });
    assert.equal(items.length, 1);
    assert.equal(items[0].state, 'complete', JSON.stringify(items[0]));
    assert.equal(sha256(items[0].filename), sha256(file), 'no corrupt byte reached the file');
    const log = fs.readFileSync(path.join(home, 'host.log'), 'utf8');
    assert.match(log, /failed its Merkle check/, 'the corrupt blocks were caught');
  } finally {
    await b.close();
  }
});

test('the Linux enterprise policy template reaches the extension as written', async () => {
  const template = JSON.parse(fs.readFileSync(path.resolve('../../manifests/policy/linux/swarmload.json'), 'utf8'));
  // Force-installing needs the packed extension from its update URL; the test build
  // is loaded unpacked, so that one policy is left out. Everything else is the file.
  const { ExtensionSettings: _, ...policies } = template;
  setChromiumPolicyFile(policies);
  const b = await browser({ name: 'template', hostHome: hostHome('template-host', null) });
  try {
    const managed = await b.worker.evaluate(() => chrome.storage.managed.get(null));
    assert.deepEqual(managed, template['3rdparty'].extensions[EXTENSION_ID], 'every setting, every value');
    let state = await extensionState(b);
    for (let i = 0; i < 100 && !state.host; i++) {
      await new Promise((r) => setTimeout(r, 100));
      state = await extensionState(b);
    }
    assert.ok(state.host, 'NativeMessagingAllowlist lets the host in');
    assert.deepEqual(state.managed_keys.sort(), Object.keys(managed).sort());
  } finally {
    setChromiumPolicyFile(null);
    await b.close();
  }
});

test('enterprise policy: trackers and group_id: seeders of another group on the same tracker never serve', async () => {
  const size = 16 * MiB;
  const dir = workDir('groups');
  const first = noiseFile(dir, 'first.bin', size);
  const second = noiseFile(dir, 'second.bin', size);
  const t = await tracker();
  const red = 'group_id = "red"\n';
  const blue = 'group_id = "blue"\n';
  await seeder(first, t.url, 'groups-red-1', { config: red });
  await seeder(second, t.url, 'groups-red-2', { config: red });
  await seeder(second, t.url, 'groups-blue-2', { config: blue });
  const o1 = await origin(first, ['--throttle', '2000000', '--page']);
  const o2 = await origin(second, ['--throttle', '500000', '--page']);
  setManagedPolicy(EXTENSION_ID, { trackers: [t.url], group_id: 'blue' });
  // The host's own config names no tracker: only the policy can bring one.
  const b = await browser({ name: 'groups', hostHome: hostHome('groups-host', null) });
  try {
    await clickDownloadLink(b, o1.page);
    await settledDownloads(b, { count: 1, timeoutMs: 180000 });
    let state = await extensionState(b);
    const t1 = state.transfers.find((x) => x.url === o1.url);
    assert.ok(t1, `the host took the first download: ${JSON.stringify(state.decisions)}`);
    assert.equal(t1.state, 'done', JSON.stringify(t1));
    assert.equal(t1.from_peers, 0, "only a red seeder has it: never met from the blue group");
    assert.equal(t1.from_origin, size);

    await clickDownloadLink(b, o2.page);
    const items = await settledDownloads(b, { count: 2, timeoutMs: 180000 });
    state = await extensionState(b);
    const t2 = state.transfers.find((x) => x.url === o2.url);
    assert.ok(t2, JSON.stringify(state.decisions));
    assert.equal(t2.state, 'done', JSON.stringify(t2));
    assert.ok(t2.from_peers > size / 2, `the blue seeder served it, found through the policy's tracker: ${JSON.stringify(t2)}`);
    for (const [f, want] of [['first.bin', first], ['second.bin', second]]) {
      const item = items.find((i) => path.basename(i.filename) === f);
      assert.ok(item, `${f} landed: ${JSON.stringify(items)}`);
      assert.equal(sha256(item.filename), sha256(want));
    }
  } finally {
    setManagedPolicy(EXTENSION_ID, null);
    await b.close();
  }
});

// A native `swarmload-host get` of `url` on `trackerUrl`, after the browser: what
// the browser's host serves to others. Resolves to its --json summary.
async function leech(url, trackerUrl, name, config = '') {
  const state = workDir(name);
  fs.writeFileSync(path.join(state, 'config.toml'), config);
  const p = start(
    path.join(BIN, 'swarmload-host'),
    ['get', url, '--json', '--no-seed', '--ice-addr', ICE_ADDR, '--tracker', trackerUrl, '--state-dir', state, '-o', workDir(`${name}-out`)],
    { env: { ...process.env, SWARMLOAD_HOME: undefined } },
  );
  return JSON.parse(await p.line(180000));
}

function hostStatus(home) {
  const r = spawnSync(path.join(BIN, 'swarmload-host'), ['status', '--json', '--state-dir', home], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('enterprise policy: download and upload caps pace the browser host both ways', async () => {
  const size = 16 * MiB;
  const cap = 2_000_000;
  const dir = workDir('caps');
  const file = noiseFile(dir, 'capped.bin', size);
  const t = await tracker();
  const seed = await seeder(file, t.url, 'caps-seed');
  // Fast for the browser (yet paced enough that the pause always comes before the
  // item finishes); slow for the later downloader, who then relies on peers.
  const fast = await origin(file, ['--page', '--throttle', '8000000']);
  const slow = await origin(file, ['--throttle', '64000']);
  setManagedPolicy(EXTENSION_ID, { trackers: [t.url], max_download_bytes_per_sec: cap, max_upload_bytes_per_sec: cap });
  const home = hostHome('caps-host', null);
  const b = await browser({ name: 'caps', hostHome: home });
  try {
    const clicked = Date.now();
    await clickDownloadLink(b, fast.page);
    const items = await settledDownloads(b, { timeoutMs: 180000 });
    const seconds = (Date.now() - clicked) / 1000;
    assert.equal(sha256(items[0].filename), sha256(file));
    const { transfers } = await extensionState(b);
    assert.equal(transfers[0]?.state, 'done', 'the host downloaded it');
    // Without the cap, the origin's connections and a seeder on loopback deliver this in a second or two.
    assert.ok(seconds >= (0.8 * size) / cap, `${size} bytes in ${seconds} s under a ${cap} B/s download cap`);

    // Now the browser's host is the only peer that has it.
    seed.kill('SIGTERM');
    const got = await leech(slow.url, t.url, 'caps-leech');
    assert.equal(got.sha256, sha256(file));
    assert.ok(got.from_peers > size / 2, `the browser's host served: ${JSON.stringify(got)}`);
    const rate = got.from_peers / got.seconds;
    assert.ok(rate < cap * 1.25, `${rate.toFixed(0)} B/s from a host capped at ${cap}`);
  } finally {
    setManagedPolicy(EXTENSION_ID, null);
    await b.close();
  }
});

test('enterprise policy: upload_enabled off keeps and serves nothing; a cache_max_bytes below the file keeps and serves nothing', async () => {
  const size = 8 * MiB;
  const dir = workDir('noupload');
  const file = noiseFile(dir, 'kept.bin', size);
  const t = await tracker();
  // Paced so the extension always pauses the browser's item before it finishes:
  // unpaced on loopback, 8 MiB can complete before the pause and stay the browser's.
  const page = await origin(file, ['--page', '--throttle', '4000000']);
  const slow = await origin(file, ['--throttle', '1000000']);
  for (const [policy, name] of [
    [{ trackers: [t.url], upload_enabled: false }, 'noupload'],
    [{ trackers: [t.url], cache_max_bytes: MiB }, 'smallcache'],
  ]) {
    setManagedPolicy(EXTENSION_ID, policy);
    const home = hostHome(`${name}-host`, null);
    const b = await browser({ name, hostHome: home });
    try {
      await clickDownloadLink(b, page.page);
      const items = await settledDownloads(b, { timeoutMs: 180000 });
      const done = items.filter((i) => i.state === 'complete');
      assert.equal(sha256(done[done.length - 1].filename), sha256(file));
      const { transfers, decisions } = await extensionState(b);
      assert.equal(transfers[0]?.state, 'done', `${name}: the host downloaded it (${JSON.stringify(decisions)})`);
      // Not sharing, the host keeps no copy for others; sharing, it keeps none
      // bigger than its cache may hold.
      const { cached } = hostStatus(home);
      assert.deepEqual(cached, [], `${name}: nothing kept for sharing`);
      const got = await leech(slow.url, t.url, `${name}-leech`);
      assert.equal(got.sha256, sha256(file));
      assert.equal(got.from_peers, 0, `${name}: the browser's host served nothing`);
    } finally {
      setManagedPolicy(EXTENSION_ID, null);
      await b.close();
    }
  }
});

// Waits (at most 30 s) until the host log in `home` has a line containing `what`.
async function hostLogged(home, what) {
  const log = path.join(home, 'host.log');
  for (let i = 0; i < 300; i++) {
    if (fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes(what)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${log} never logged ${what}`);
}

test('trusted group: the browser host publishes a download no one gives a digest for, and a group member gets it from there', async () => {
  const size = 16 * MiB;
  const dir = workDir('trusted-group');
  const file = noiseFile(dir, 'setup-7.4.exe', size);
  const t = await tracker();
  const secret = 'e2e-group-secret-5c1f0a9b27';
  // No digest header, no Metalink, no checksum list: only the group can name it.
  const o = await origin(file, ['--no-digest', '--throttle', '500000', '--page']);
  setManagedPolicy(EXTENSION_ID, { trackers: [t.url], trust_mode: 'trusted_group', group_secret: secret });
  const home = hostHome('trusted-group-host', null);
  const b = await browser({ name: 'trusted-group', hostHome: home });
  try {
    await clickDownloadLink(b, o.page);
    const items = await settledDownloads(b, { timeoutMs: 180000 });
    assert.equal(items.length, 1, JSON.stringify(items));
    assert.match(items[0].url, /^http:\/\/127\.0\.0\.1:\d+\/d\//, 'delivered by the host');
    assert.equal(sha256(items[0].filename), sha256(file));
    const state = await extensionState(b);
    const tr = state.transfers[0];
    assert.equal(tr?.group_publish, true, JSON.stringify(tr));
    assert.equal(tr.from_origin, size, JSON.stringify(tr));
    const popup = await b.context.newPage();
    await popup.goto(`chrome-extension://${b.extensionId}/popup.html`);
    await popup.waitForSelector('ul.transfers li');
    assert.match(await popup.textContent('body'), /computed here and shared with your trusted group/);
    await popup.screenshot({ path: path.join(ARTIFACTS, 'popup-trusted-group.png') });
    await hostLogged(home, 'group mapping published');
    await hostLogged(home, 'seeding from the cache');

    const member = `trust_mode = "trusted_group"\ngroup_secret = "${secret}"\n`;
    const got = await leech(o.url, t.url, 'trusted-group-member', member);
    assert.equal(got.sha256, sha256(file));
    assert.equal(got.digest_source, 'group', JSON.stringify(got));
    assert.ok(got.from_peers > size / 2, `the browser's host served the group: ${JSON.stringify(got)}`);

    const outsider = 'trust_mode = "trusted_group"\ngroup_secret = "another-group-1f7e3b9d05"\n';
    const other = await leech(o.url, t.url, 'trusted-group-outsider', outsider);
    assert.equal(other.sha256, sha256(file));
    assert.equal(other.digest_source, null, JSON.stringify(other));
    assert.equal(other.from_peers, 0, 'outside the group: no mapping, no swarm');
  } finally {
    setManagedPolicy(EXTENSION_ID, null);
    await b.close();
  }
});

test('no digest header, a release link redirected to a signed URL, a checksum list beside the link: the host reads it while the item waits, renews the expiring URL, and peers serve', async () => {
  const size = 24 * MiB;
  const dir = workDir('sums');
  const file = noiseFile(dir, 'tool-3.1.0-linux-amd64.tar.gz', size);
  const sums = path.join(dir, 'SHA256SUMS');
  fs.writeFileSync(sums, `${sha256(file)}  tool-3.1.0-linux-amd64.tar.gz\n`);
  const t = await tracker();
  await seeder(file, t.url, 'sums-seed-1');
  await seeder(file, t.url, 'sums-seed-2');
  // A busy origin that sends no digest: only its SHA256SUMS names the content. As
  // with a release link, the link the page offers redirects to a signed URL (a new
  // one every two GETs) in another directory: the list is beside the link only, and
  // the host asks the link again whenever the signed URL expires.
  const o = await origin(file, [
    '--no-digest',
    '--throttle',
    '500000',
    '--page',
    '--extra',
    `SHA256SUMS=${sums}`,
    '--signed-redirect',
    '2',
  ]);
  const b = await browser({ name: 'sums', hostHome: hostHome('sums-host', t.url) });
  try {
    await clickDownloadLink(b, o.page);
    const items = await settledDownloads(b, { timeoutMs: 180000 });
    assert.equal(items.length, 1, JSON.stringify(items));
    assert.match(items[0].url, /^http:\/\/127\.0\.0\.1:\d+\/d\//, 'delivered by the host');
    assert.equal(sha256(items[0].filename), sha256(file));
    const state = await extensionState(b);
    const tr = state.transfers[0];
    assert.equal(tr?.digest_source, 'checksum_file', JSON.stringify(tr));
    assert.ok(tr.from_peers > size / 2, `peers served once the list named the swarm: ${JSON.stringify(tr)}`);
    const popup = await b.context.newPage();
    await popup.goto(`chrome-extension://${b.extensionId}/popup.html`);
    await popup.waitForSelector('ul.transfers li');
    assert.match(await popup.textContent('body'), /SHA-256 from a checksum list beside the file/);
    await popup.screenshot({ path: path.join(ARTIFACTS, 'popup-checksum-list.png') });
  } finally {
    await b.close();
  }
});

// Browser-only (no host registered): `file`, served by an origin started with
// `flags` and held by two native seeders, is clicked; the wasm peer must find its
// digest where `source` says and take most of it from the seeders.
async function browserOnlyFromPeers(name, file, size, flags, source) {
  const o = await origin(file, flags);
  const t = await tracker();
  await seeder(file, t.url, `${name}-seed-1`);
  await seeder(file, t.url, `${name}-seed-2`);
  setManagedPolicy(EXTENSION_ID, { trackers: [t.url] });
  const b = await browser({ name, hostHome: workDir(`${name}-unused`), registerHost: false });
  try {
    await clickDownloadLink(b, o.page);
    const items = await settledDownloads(b, { timeoutMs: 180000 });
    assert.equal(items.length, 1, JSON.stringify(items));
    assert.match(items[0].url, /^blob:chrome-extension:\/\//, 'delivered by the browser-only peer');
    assert.equal(sha256(items[0].filename), sha256(file));
    const state = await extensionState(b);
    assert.equal(state.host, null);
    const tr = state.transfers[0];
    assert.equal(tr?.digest_source, source, JSON.stringify({ tr, decisions: state.decisions }));
    assert.ok(tr.from_peers > size / 2, JSON.stringify(tr));
  } finally {
    setManagedPolicy(EXTENSION_ID, null);
    await b.close();
  }
}

test('browser-only, no digest header, a link redirected to a signed URL: the wasm peer reads the checksum list beside the link and downloads from peers', async () => {
  const dir = workDir('bo-sums');
  const size = 24 * MiB;
  const file = noiseFile(dir, 'tool-4.0.0-linux-amd64.tar.gz', size);
  const sums = path.join(dir, 'SHA256SUMS');
  fs.writeFileSync(sums, `${sha256(file)} *tool-4.0.0-linux-amd64.tar.gz\n`);
  // The link redirects to a signed URL in another directory: the list is beside the link.
  const flags = ['--no-digest', '--throttle', '250000', '--page', '--extra', `SHA256SUMS=${sums}`];
  await browserOnlyFromPeers('bo-sums', file, size, [...flags, '--signed-redirect', '1000000'], 'checksum_file');
});

test('browser-only, no digest header, a Metalink named by the Link header: the wasm peer reads its SHA-256 and downloads from peers', async () => {
  const dir = workDir('bo-meta4');
  const size = 24 * MiB;
  const file = noiseFile(dir, 'distro-5.1.iso', size);
  // No digest header and no checksum list: only the Metalink (Link: rel=describedby)
  // names the content.
  const flags = ['--no-digest', '--metalink', '--throttle', '250000', '--page'];
  await browserOnlyFromPeers('bo-meta4', file, size, flags, 'metalink');
});

test('a user-scope install in a fresh HOME: Chromium with the packaged extension reaches the host', async () => {
  // The Chromium zip of `cargo xtask dist`, unpacked (xtask passes it), as a user
  // would load it; the build tree otherwise.
  const extension = process.env.SWARMLOAD_DIST_CHROMIUM ?? EXTENSION;
  const home = workDir('user-home');
  const r = spawnSync(path.join(BIN, 'swarmload-host'), ['install', '--browser', 'chromium'], {
    env: { ...process.env, HOME: home },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const manifest = path.join(home, '.config/chromium/NativeMessagingHosts/org.swarmload.host.json');
  assert.ok(fs.existsSync(manifest), `${manifest} written`);
  // Nothing else could register the host: the system directory is a private, empty
  // tmpfs here (run.sh), and the profile is the default one under this HOME.
  assert.ok(!fs.existsSync('/etc/chromium/native-messaging-hosts'));
  const b = await browser({
    name: 'user-home',
    hostHome: hostHome('user-home-host'),
    registerHost: false,
    home,
    extension,
  });
  try {
    assert.equal(b.extensionId, EXTENSION_ID, 'the packaged build keeps its fixed id');
    let state;
    for (let i = 0; i < 100 && !state?.host; i++) {
      state = await extensionState(b);
      if (!state.host) await new Promise((res) => setTimeout(res, 200));
    }
    assert.ok(state.host?.version, `connectNative reached the host: ${JSON.stringify(state)}`);
  } finally {
    await b.close();
  }
});

// `cargo xtask demo`: Swarmload as a user meets it. A real Chromium with the built
// extension and the registered native host clicks a download link on a busy local
// origin; two native seeders already have the file. Then the same file from the
// origin alone, over one connection as the browser itself fetches it. Prints where
// the bytes came from, the times and speeds, and stops everything it started.
//
// Run by xtask: inside a private network namespace (run.sh) when root, otherwise on
// loopback. Headed when there is a display, headless when there is none.

import fs from 'node:fs';
import path from 'node:path';

import {
  browser,
  extensionState,
  noiseFile,
  origin,
  seeder,
  settledDownloads,
  sha256,
  stopAll,
  tracker,
  workDir,
} from './harness.mjs';

const MiB = 1 << 20;
const SIZE = 64 * MiB;
// Bytes per second the origin gives each connection: a busy server.
const THROTTLE = 4_000_000;

function say(line) {
  console.log(line);
}

async function main() {
  const dir = workDir('demo');
  say(`writing a ${SIZE / MiB} MiB sample file…`);
  const file = noiseFile(dir, 'sample-installer.bin', SIZE);
  const want = sha256(file);
  const o = await origin(file, ['--throttle', String(THROTTLE), '--page']);
  const t = await tracker();
  say(`origin   ${o.url} (${(THROTTLE / 1e6).toFixed(1)} MB/s per connection, sends Repr-Digest)`);
  say(`tracker  ${t.url}`);
  say('seeders  2 native hosts, hashing and announcing…');
  await seeder(file, t.url, 'demo-seed-1');
  await seeder(file, t.url, 'demo-seed-2');

  const home = workDir('demo-host');
  fs.writeFileSync(path.join(home, 'config.toml'), `trackers = ["${t.url}"]\n`);
  const headless = !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY;
  say(`chromium ${headless ? 'headless (no display)' : 'in a window'}, with the extension and the registered native host`);
  const b = await browser({ name: 'demo', hostHome: home, headless });
  try {
    const page = await b.context.newPage();
    await page.goto(o.page);
    say(`\nclicking the download link on ${o.page}`);
    const clicked = Date.now();
    await page.click('#file');
    let items = [];
    let lastLine = 0;
    const end = Date.now() + 300000;
    // Progress, as the popup shows it, until the browser's download list settles.
    for (;;) {
      const s = await extensionState(b);
      const tr = s.transfers[0];
      if (tr) {
        const got = (tr.from_peers ?? 0) + (tr.from_origin ?? 0);
        const line =
          `  ${(got / MiB).toFixed(1).padStart(5)} / ${SIZE / MiB} MiB   ` +
          `${(tr.from_peers / MiB).toFixed(1)} MiB from ${tr.peers} peers, ` +
          `${(tr.from_origin / MiB).toFixed(1)} MiB from the origin`;
        // One line redrawn on a terminal; a line a second into a log.
        if (process.stdout.isTTY) process.stdout.write(`\r${line}   `);
        else if (Date.now() - lastLine >= 1000) {
          console.log(line);
          lastLine = Date.now();
        }
      }
      items = await b.worker.evaluate(() => chrome.downloads.search({}));
      if (items.some((i) => i.state === 'complete') && !items.some((i) => i.state === 'in_progress')) break;
      if (Date.now() > end) throw new Error(`the download did not finish: ${JSON.stringify(items)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    items = await settledDownloads(b);
    const seconds = (Date.now() - clicked) / 1000;
    if (process.stdout.isTTY) process.stdout.write('\n');
    const item = items.find((i) => i.state === 'complete');
    if (sha256(item.filename) !== want) throw new Error(`${item.filename} does not match the original`);
    const tr = (await extensionState(b)).transfers[0];
    if (!tr) throw new Error('the extension left the download to the browser: no swarm was used');
    if (!(tr.from_peers > 0)) throw new Error(`no byte came from a peer: ${JSON.stringify(tr)}`);
    say(`landed   ${item.filename} (SHA-256 matches)`);
    const stats = await (await fetch(`${o.page}stats`)).json();

    say('\nthe same file from the origin alone, over one connection as the browser fetches it…');
    const started = Date.now();
    const r = await fetch(o.url);
    let alone = 0;
    for await (const chunk of r.body) alone += chunk.length;
    const aloneSecs = (Date.now() - started) / 1000;
    if (alone !== SIZE) throw new Error(`the origin sent ${alone} bytes`);

    const row = (name, secs, peers, fromOrigin) =>
      `${name.padEnd(34)} ${secs.toFixed(2).padStart(7)} s ${(SIZE / secs / 1e6).toFixed(1).padStart(7)} MB/s ` +
      `${(peers / MiB).toFixed(1).padStart(8)} MiB ${(fromOrigin / MiB).toFixed(1).padStart(8)} MiB`;
    say('');
    say(`${''.padEnd(34)} ${'time'.padStart(9)} ${'speed'.padStart(12)} ${'from peers'.padStart(12)} ${'from origin'.padStart(12)}`);
    say(row('Chromium + Swarmload (2 seeders)', seconds, tr.from_peers, tr.from_origin));
    say(row('origin alone', aloneSecs, 0, alone));
    say(
      `\npeers served ${((100 * tr.from_peers) / SIZE).toFixed(1)}% of the file, ` +
        `${(aloneSecs / seconds).toFixed(1)}x faster than the origin alone. The origin sent ` +
        `${(stats.body_bytes / MiB).toFixed(1)} MiB in all for the browser's download: ` +
        `${(stats.unranged_get_bytes / MiB).toFixed(1)} MiB to the browser's own request before ` +
        `the extension paused it, the rest to the native host while its peers connected.`,
    );
  } finally {
    await b.close();
  }
}

try {
  await main();
} finally {
  stopAll();
}

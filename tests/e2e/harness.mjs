// The real components of a browser test, as processes: the test origin, the
// tracker, native seeders, and Chromium with the built extension and the registered
// native host. Everything listens on 127.0.0.1 or on the private network namespace
// the test runs in (see run.sh); nothing reaches outside.

import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

import { chromium } from 'playwright-core';

export const BIN = process.env.SWARMLOAD_BIN_DIR ?? path.resolve('../../target/debug');
export const EXTENSION = process.env.SWARMLOAD_EXTENSION ?? path.resolve('../../target/extension/chromium');
export const WORK = process.env.SWARMLOAD_E2E_DIR ?? fs.mkdtempSync('/tmp/swarmload-e2e-');
// The address WebRTC uses: the namespace's veth (Chromium offers no loopback
// candidate), else loopback for native-only runs.
export const ICE_ADDR = process.env.SWARMLOAD_ICE_ADDR ?? '127.0.0.1';
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

const children = new Set();

export function stopAll() {
  for (const c of children) {
    try {
      // A detached child leads its own process group (web-ext and its Firefox).
      if (c.spawnargs && c.detachedGroup) process.kill(-c.pid, 'SIGTERM');
      else c.kill('SIGTERM');
    } catch {}
  }
  children.clear();
}
process.on('exit', stopAll);

// Starts a process; `line()` resolves to its next line of stdout.
export function start(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', opts.stderr ?? 'inherit'], ...opts });
  children.add(child);
  child.on('exit', () => children.delete(child));
  const lines = readline.createInterface({ input: child.stdout });
  const queue = [];
  const waiters = [];
  lines.on('line', (l) => (waiters.length ? waiters.shift()(l) : queue.push(l)));
  child.line = (timeoutMs = 60000) =>
    queue.length
      ? Promise.resolve(queue.shift())
      : Promise.race([
          new Promise((r) => waiters.push(r)),
          // Unreferenced: a pending timeout must not keep the test process alive.
          sleep(timeoutMs, undefined, { ref: false }).then(() => {
            throw new Error(`${cmd} printed nothing in ${timeoutMs} ms`);
          }),
        ]);
  return child;
}

export function workDir(name) {
  const d = path.join(WORK, name);
  fs.rmSync(d, { recursive: true, force: true });
  fs.mkdirSync(d, { recursive: true });
  return d;
}

export function noiseFile(dir, name, size) {
  const p = path.join(dir, name);
  const fd = fs.openSync(p, 'w');
  for (let left = size; left > 0; left -= 1 << 20) {
    fs.writeSync(fd, randomBytes(Math.min(left, 1 << 20)));
  }
  fs.closeSync(fd);
  return p;
}

export function sha256(file) {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

// `test-origin FILE FLAGS…`: its process and the file's URL.
export async function origin(file, flags = []) {
  const p = start(path.join(BIN, 'test-origin'), [file, ...flags]);
  const url = await p.line();
  const base = url.slice(0, url.indexOf('/files/'));
  return {
    proc: p,
    url,
    page: `${base}/`,
    async bodyBytes() {
      const r = await fetch(`${base}/stats`);
      return (await r.json()).body_bytes;
    },
    // Ranged content bodies (a downloader's, not the browser's own GET, which Chrome
    // shows as a download only once its first bytes came) wait, each at most 30 s,
    // from `holdRanges` until `release`.
    async holdRanges() {
      await fetch(`${base}/_hold_ranges`);
    },
    async release() {
      await fetch(`${base}/_release`);
    },
  };
}

export async function tracker() {
  const p = start(path.join(BIN, 'swarmload-tracker'), ['--listen', '127.0.0.1:0'], { stderr: 'ignore' });
  const line = await p.line();
  return { proc: p, url: line.replace('listening on ', '').trim() };
}

export async function waitForLog(stateDir, text, timeoutMs = 60000) {
  const log = path.join(stateDir, 'host.log');
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes(text)) return;
    await sleep(100);
  }
  throw new Error(`${log} never said ${JSON.stringify(text)}`);
}

// `swarmload-host seed FILE`, announced on `trackerUrl`; `config` is its
// config.toml (an upload cap, say).
export async function seeder(file, trackerUrl, name, { extra = [], config = '' } = {}) {
  const state = workDir(name);
  fs.writeFileSync(path.join(state, 'config.toml'), config);
  const p = start(
    path.join(BIN, 'swarmload-host'),
    ['seed', file, '--json', '--ice-addr', ICE_ADDR, '--tracker', trackerUrl, '--state-dir', state, ...extra],
    { env: { ...process.env, SWARMLOAD_HOME: undefined } },
  );
  await p.line(180000); // printed once hashed
  await waitForLog(state, 'tracker connected');
  return p;
}

// Chromium's managed policy directory, private to the test's mount namespace
// (run.sh mounts a tmpfs over /etc/chromium): what an administrator's policy file
// would be, read by the real browser.
export const POLICY_DIR = process.env.SWARMLOAD_POLICY_DIR;

// A whole Chromium policy file (any policies, not only the extension's).
export function setChromiumPolicyFile(policies) {
  if (!POLICY_DIR) throw new Error('no private policy directory (run the tests through run.sh)');
  const file = path.join(POLICY_DIR, 'swarmload-template.json');
  if (policies === null) fs.rmSync(file, { force: true });
  else fs.writeFileSync(file, JSON.stringify(policies));
}

export function setManagedPolicy(extensionId, policy) {
  if (!POLICY_DIR) throw new Error('no private policy directory (run the tests through run.sh)');
  const file = path.join(POLICY_DIR, 'swarmload-test.json');
  if (policy === null) {
    fs.rmSync(file, { force: true });
    return;
  }
  fs.writeFileSync(file, JSON.stringify({ '3rdparty': { extensions: { [extensionId]: policy } } }));
}

// The extension's own view (the message the popup asks), from one of its pages.
export async function extensionState(b) {
  const page = b.statePage ?? (b.statePage = await b.context.newPage());
  if (!page.url().startsWith('chrome-extension://')) {
    await page.goto(`chrome-extension://${b.extensionId}/options.html`);
  }
  return page.evaluate(() => chrome.runtime.sendMessage({ type: 'state' }));
}

// Registers the real host for one Chromium profile, as a user would.
export function installHost(profile) {
  const r = spawnSync(
    path.join(BIN, 'swarmload-host'),
    ['install', '--browser', 'chromium', '--user-data-dir', profile],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`install failed: ${r.stderr}`);
}

let nextPort = 9300;

// Chromium with the extension, its own profile and downloads directory, driven
// over the DevTools protocol. `hostHome` is the native host's state directory
// (SWARMLOAD_HOME in the environment the browser gives the host).
//
// `home`: a HOME for the browser, with its profile where a user's is
// (`~/.config/chromium`), so it finds the native host where a user-scope
// `swarmload-host install` put it. The directory is still named: without
// --user-data-dir, headless Chromium takes a throwaway profile instead of the
// user's. `extension`: another unpacked build to load.
export async function browser({
  name,
  hostHome,
  registerHost = true,
  env = {},
  args = [],
  headless = true,
  home = null,
  extension = EXTENSION,
  keepProfile = false,
}) {
  // `keepProfile`: the profile of an earlier run under `name` (a browser restart).
  const profile = home
    ? path.join(home, '.config', 'chromium')
    : keepProfile
      ? path.join(WORK, `${name}-profile`)
      : workDir(`${name}-profile`);
  const downloads = workDir(`${name}-downloads`);
  fs.mkdirSync(path.join(profile, 'Default'), { recursive: true });
  fs.writeFileSync(
    path.join(profile, 'Default', 'Preferences'),
    JSON.stringify({ download: { default_directory: downloads, prompt_for_download: false } }),
  );
  if (registerHost) installHost(profile);
  const port = nextPort++;
  const proc = start(
    CHROMIUM,
    [
      ...(headless ? ['--headless=new'] : []),
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      `--remote-debugging-port=${port}`,
      `--user-data-dir=${profile}`,
      `--disable-extensions-except=${extension}`,
      `--load-extension=${extension}`,
      ...args,
      'about:blank',
    ],
    {
      stderr: 'ignore',
      env: {
        ...process.env,
        ...(home ? { HOME: home, XDG_CONFIG_HOME: undefined } : {}),
        SWARMLOAD_HOME: hostHome,
        SWARMLOAD_ICE_ADDR: ICE_ADDR,
        ...env,
      },
    },
  );
  let cdp;
  for (let i = 0; i < 100 && !cdp; i++) {
    try {
      cdp = await chromium.connectOverCDP(`http://127.0.0.1:${port}`);
    } catch {
      await sleep(100);
    }
  }
  if (!cdp) throw new Error('Chromium did not start');
  // Playwright routes downloads to its own directory when it connects; give them
  // back to the browser, which saves to the profile's downloads directory.
  const session = await cdp.newBrowserCDPSession();
  await session.send('Browser.setDownloadBehavior', { behavior: 'default' });
  const context = cdp.contexts()[0];
  const worker = context.serviceWorkers()[0] ?? (await context.waitForEvent('serviceworker', { timeout: 20000 }));
  return {
    proc,
    cdp,
    context,
    worker,
    extensionId: new URL(worker.url()).host,
    downloads,
    profile,
    async close() {
      await cdp.close().catch(() => {});
      proc.kill('SIGTERM');
      await once(proc, 'exit').catch(() => {});
    },
  };
}

// Waits until `count` of the browser's downloads are complete and none is still
// running, and returns them all (chrome.downloads items, as the extension sees
// them). An item the extension took over is interrupted, then erased, an instant
// before its delivery appears: interrupted items do not count as settled.
export async function settledDownloads(b, { count = 1, timeoutMs = 120000 } = {}) {
  const end = Date.now() + timeoutMs;
  let items = [];
  while (Date.now() < end) {
    items = await b.worker.evaluate(() => chrome.downloads.search({}));
    const complete = items.filter((i) => i.state === 'complete');
    const running = items.filter((i) => i.state === 'in_progress');
    if (complete.length >= count && running.length === 0) {
      // Settled, unless a take-over is between cancelling and delivering.
      await sleep(300);
      const again = await b.worker.evaluate(() => chrome.downloads.search({}));
      if (again.length === items.length && again.every((i) => i.state !== 'in_progress')) {
        return again;
      }
      continue;
    }
    await sleep(200);
  }
  throw new Error(`downloads did not settle: ${JSON.stringify(items, null, 1)}`);
}

// The files in the downloads directory (no partial .crdownload leftovers allowed).
export function landedFiles(dir) {
  return fs.readdirSync(dir).map((n) => path.join(dir, n));
}

// Firefox (ESR, /usr/bin/firefox-esr) with the Firefox build as a temporary add-on,
// started by Mozilla's `web-ext run` (pinned). Nothing drives the page: the origin's
// page variant `?when=armed` navigates to the file once `arm()` is called, which the
// caller does once the add-on is installed. `home` is the HOME Firefox sees (its
// native-messaging manifests live there when `registerHost`).
export const FIREFOX = process.env.FIREFOX ?? '/usr/bin/firefox-esr';
export const FIREFOX_EXTENSION = process.env.SWARMLOAD_FIREFOX_EXTENSION ?? path.resolve('../../target/extension/firefox');

// `wrap` prefixes the command (`ip netns exec NS`, to run it in a namespace);
// `obfuscate` leaves Firefox's default WebRTC privacy on (host candidates as mDNS
// names).
export async function firefox({ name, hostHome, registerHost = false, startUrl, wrap = [], obfuscate = false }) {
  const home = workDir(`${name}-home`);
  const downloads = workDir(`${name}-downloads`);
  if (registerHost) {
    const r = spawnSync(path.join(BIN, 'swarmload-host'), ['install', '--browser', 'firefox'], {
      encoding: 'utf8',
      env: { ...process.env, HOME: home },
    });
    if (r.status !== 0) throw new Error(`install failed: ${r.stderr}`);
  }
  const prefs = {
    'browser.download.dir': downloads,
    'browser.download.folderList': 2,
    'browser.download.useDownloadDir': true,
    'browser.download.always_ask_before_handling_new_types': false,
    'browser.download.start_downloads_in_tmp_dir': false,
    'browser.download.panel.shown': true,
    // Host candidates as addresses (10.77.0.1 in the test namespace), not mDNS names.
    ...(obfuscate ? {} : { 'media.peerconnection.ice.obfuscate_host_addresses': false }),
    'datareporting.policy.dataSubmissionEnabled': false,
    'browser.shell.checkDefaultBrowser': false,
  };
  const args = [
    path.resolve('node_modules/web-ext/bin/web-ext.js'),
    'run',
    '--no-input',
    '--no-reload',
    '--source-dir',
    FIREFOX_EXTENSION,
    '--firefox',
    FIREFOX,
    '--arg=--headless',
    '--start-url',
    startUrl,
    ...Object.entries(prefs).map(([k, v]) => `--pref=${k}=${v}`),
  ];
  const [cmd, ...pre] = [...wrap, process.execPath];
  const proc = start(cmd, [...pre, ...args], {
    stderr: 'ignore',
    env: { ...process.env, HOME: home, SWARMLOAD_HOME: hostHome, SWARMLOAD_ICE_ADDR: ICE_ADDR, MOZ_HEADLESS: '1' },
    detached: true,
  });
  proc.detachedGroup = true;
  // web-ext says so once the add-on is installed.
  for (;;) {
    const line = await proc.line(120000);
    if (/Installed .* as a temporary add-on/.test(line)) break;
  }
  return {
    proc,
    downloads,
    async close() {
      try {
        process.kill(-proc.pid, 'SIGTERM');
      } catch {
        proc.kill('SIGTERM');
      }
      await once(proc, 'exit').catch(() => {});
    },
  };
}

// Waits until `count` finished files (no `.part`) sit in `dir`, sizes stable.
export async function landedInFirefox(dir, { count = 1, size, timeoutMs = 180000 } = {}) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const names = fs.readdirSync(dir);
    const done = names.filter((n) => !n.endsWith('.part')).map((n) => path.join(dir, n));
    if (names.every((n) => !n.endsWith('.part')) && done.length >= count && done.every((f) => fs.statSync(f).size === size)) {
      await sleep(500);
      if (fs.readdirSync(dir).length === names.length) return done;
    }
    await sleep(200);
  }
  throw new Error(`no finished download in ${dir}: ${JSON.stringify(fs.readdirSync(dir))}`);
}

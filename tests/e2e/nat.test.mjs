// Peers behind NAT routers (topology.mjs), with a real coturn and a real nginx in
// the "wan": the share of a download that came from the peer, for each kind of
// network a home or an office has. Run through net.sh.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, test } from 'node:test';

import { BIN, firefox, landedInFirefox, noiseFile, sha256, start, stopAll, waitForLog, workDir } from './harness.mjs';
import * as topology from './topology.mjs';
import { TURN_PASSWORD, TURN_USER, coturn, nginx, tracker } from './wan_servers.mjs';

const MiB = 1 << 20;
// Large enough that the first seconds (the origin's, before the peer connects) do
// not decide the share; the origin sends 256 KB/s per connection.
const SIZE = 64 * MiB;
const ORIGIN_RATE = 256 * 1024;

afterEach(() => {
  stopAll();
  topology.teardown();
});
after(() => topology.teardown());

// ICE servers, as the policy and config.toml both name them.
const stun = [{ urls: [`stun:${topology.WAN}:3478`] }];
const stun6 = [{ urls: [`stun:[${topology.WAN6}]:3478`] }];
const turnUdp = [{ urls: [`turn:${topology.WAN}:3478?transport=udp`], username: TURN_USER, credential: TURN_PASSWORD }];

// The host's config.toml naming `servers`.
function toml(servers) {
  return servers
    .map((s) => {
      const lines = ['[[ice_servers]]', `urls = ${JSON.stringify(s.urls)}`];
      if (s.username) lines.push(`username = ${JSON.stringify(s.username)}`, `credential = ${JSON.stringify(s.credential)}`);
      return lines.join('\n') + '\n';
    })
    .join('');
}

// `swarmload-host seed FILE` in namespace `ns`, announced on the tracker.
async function seed(ns, file, trackerUrl, name, ice) {
  const state = workDir(name);
  fs.writeFileSync(path.join(state, 'config.toml'), toml(ice));
  const [cmd, args] = topology.inNs(ns, path.join(BIN, 'swarmload-host'), [
    'seed', file, '--json', '--tracker', trackerUrl, '--state-dir', state,
  ]);
  const p = start(cmd, args, { env: { ...process.env, SWARMLOAD_HOME: undefined } });
  await p.line(180000);
  await waitForLog(state, 'tracker connected');
  return { proc: p, state };
}

// `swarmload-host get URL` in namespace `ns`: its JSON summary.
async function get(ns, url, trackerUrl, name, ice) {
  const state = workDir(name);
  fs.writeFileSync(path.join(state, 'config.toml'), toml(ice));
  const out = path.join(state, 'out.bin');
  const [cmd, args] = topology.inNs(ns, path.join(BIN, 'swarmload-host'), [
    'get', url, '--json', '--no-seed', '--tracker', trackerUrl, '--state-dir', state, '-o', out,
  ]);
  const p = start(cmd, args, { env: { ...process.env, SWARMLOAD_HOME: undefined } });
  const summary = JSON.parse(await p.line(300000));
  return { summary, out, state };
}

// The topology `net` with the wan's servers running and a fresh file on nginx.
// (The servers are on the wan's IPv4 address unless the topology is IPv6 only.)
async function world(name, net, size = SIZE, digestHeader = 'Repr-Digest') {
  topology.build(net);
  const ip = net.v4 === false ? topology.WAN6 : topology.WAN;
  const dir = workDir(name);
  const file = noiseFile(dir, `${name}.bin`, size);
  const t = await tracker('wan', ip);
  await coturn('wan', workDir(`${name}-turn`), ip);
  const o = await nginx('wan', workDir(`${name}-nginx`), file, { rate: ORIGIN_RATE, ip, digestHeader });
  return { file, t, o };
}

function assertShare(share, summary, seederState, downloaderState) {
  assert.ok(
    share >= 0.9,
    `${(share * 100).toFixed(1)}% from the peer: ${JSON.stringify(summary)}\n` +
      `--- seeder log\n${tail(seederState)}\n${downloaderState ? `--- downloader log\n${tail(downloaderState)}\n` : ''}` +
      topology.routerState(),
  );
}

/**
 * One case: the topology `net`, a seeder in `seederNs` and a downloader in
 * `downloaderNs`, each with the ICE servers `ice`; at least 90% of the file must come
 * from the peer.
 */
async function nativeCase(name, net, seederNs, downloaderNs, ice, digestHeader) {
  const { file, t, o } = await world(name, net, SIZE, digestHeader);
  const s = await seed(seederNs, file, t.url, `${name}-seeder`, ice);
  const d = await get(downloaderNs, o.url, t.url, `${name}-downloader`, ice);
  assert.equal(sha256(d.out), sha256(file), 'the right bytes');
  const share = d.summary.from_peers / d.summary.size;
  assertShare(share, d.summary, s.state, d.state);
  console.log(`# ${name}: ${(share * 100).toFixed(1)}% from the peer in ${d.summary.seconds.toFixed(1)} s`);
}

/**
 * The same with an extension-only Chromium downloading in `browserNs`, as a person
 * runs it: its trackers and ICE servers its user's own settings, not managed policy
 * (see nat_browser.mjs).
 */
async function browserCase(name, net, seederNs, browserNs, ice, digestHeader) {
  const { file, t, o } = await world(name, net, SIZE, digestHeader);
  const s = await seed(seederNs, file, t.url, `${name}-seeder`, ice);
  const settings = JSON.stringify({ trackers: [t.url], ice_servers: ice });
  const [cmd, args] = topology.inNs(browserNs, process.execPath, ['nat_browser.mjs', name, o.page, settings]);
  const p = start(cmd, args);
  const out = JSON.parse(await p.line(300000));
  assert.ok(!out.error, out.error);
  const x = out.transfer;
  assert.equal(x?.phase, 'seeding', `the browser's transfer: ${JSON.stringify(x)}`);
  assert.equal(out.files.length, 1, `one file saved: ${out.files}`);
  assert.equal(sha256(out.files[0]), sha256(file), 'the right bytes');
  const share = x.from_peers / x.size;
  assertShare(share, x, s.state, null);
  console.log(`# ${name}: ${(share * 100).toFixed(1)}% from the peer`);
}

const ADDON_ID = 'swarmload@swarmload.org';
const FIREFOX_POLICY_DIRS = (process.env.SWARMLOAD_FIREFOX_POLICY_DIRS ?? '').split(':').filter(Boolean);

function setFirefoxPolicy(settings) {
  for (const dir of FIREFOX_POLICY_DIRS) {
    const file = path.join(dir, 'policies.json');
    if (settings === null) fs.rmSync(file, { force: true });
    else fs.writeFileSync(file, JSON.stringify({ policies: { '3rdparty': { Extensions: { [ADDON_ID]: settings } } } }));
  }
}

/**
 * An extension-only Firefox in `browserNs` with its default WebRTC privacy (its host
 * candidates are mDNS names) downloads from a seeder in `seederNs`; returns the
 * share nginx did not serve. `before` runs once the seeder is up.
 */
async function firefoxCase(name, net, seederNs, browserNs, ice, { before = () => {}, size = SIZE } = {}) {
  const { file, t, o } = await world(name, net, size);
  const s = await seed(seederNs, file, t.url, `${name}-seeder`, ice);
  before();
  setFirefoxPolicy({ trackers: [t.url], ice_servers: ice });
  const ff = await firefox({
    name,
    hostHome: workDir(`${name}-unused-host`),
    startUrl: `${o.page}armed.html`,
    wrap: ['ip', 'netns', 'exec', browserNs],
    obfuscate: true,
  });
  try {
    o.arm();
    const [landed] = await landedInFirefox(ff.downloads, { size });
    assert.equal(sha256(landed), sha256(file), 'the right bytes');
  } finally {
    setFirefoxPolicy(null);
    await ff.close();
  }
  const share = 1 - o.bodyBytes() / size;
  console.log(`# ${name}: ${(share * 100).toFixed(1)}% not from the origin`);
  return { share, seederState: s.state };
}

// A workstation firewall on `ns`: no unsolicited UDP in, except mDNS when `mdns`.
function hostFirewall(ns, { mdns }) {
  const rule = (...r) => topology.nsExec(ns, 'iptables', ['-A', 'INPUT', '-i', 'eth0', ...r]);
  if (mdns) rule('-p', 'udp', '--dport', '5353', '-j', 'ACCEPT');
  rule('-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT');
  rule('-p', 'udp', '-j', 'DROP');
}

function tail(state, lines = 40) {
  const log = path.join(state, 'host.log');
  return fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').slice(-lines).join('\n') : '(no log)';
}

test('native↔native, both behind port-preserving ("cone") NATs, STUN configured', async () => {
  await nativeCase('cone-cone', { a: 'cone', b: 'cone' }, 'a1', 'b1', stun);
});

test('native↔native, symmetric NAT to a full-cone NAT, STUN configured', async () => {
  await nativeCase('sym-fullcone', { a: 'full-cone', b: 'symmetric' }, 'a1', 'b1', stun);
});

test('native↔native, symmetric NAT to a port-restricted cone NAT, TURN over UDP configured', async () => {
  await nativeCase('sym-cone-turn', { a: 'cone', b: 'symmetric' }, 'a1', 'b1', turnUdp);
});

test('native↔native, both behind symmetric NATs, TURN over UDP configured', async () => {
  await nativeCase('sym-sym-turn', { a: 'symmetric', b: 'symmetric' }, 'a1', 'b1', turnUdp);
});

// (nginx names the digest in Unencoded-Digest here, not Repr-Digest.)
test('native↔native, two peers on the same LAN: host candidates, no ICE server; the digest from Unencoded-Digest', async () => {
  await nativeCase('same-lan', { a: 'symmetric', b: 'symmetric' }, 'a1', 'a2', [], 'Unencoded-Digest');
});

// Dual-stack homes whose IPv4 NATs are both symmetric, and no TURN: only IPv6,
// routed and merely firewalled, can connect them (the servers are on IPv4).
test('native↔native, dual-stack, symmetric IPv4 NATs and no TURN: the peers connect over IPv6', async () => {
  await nativeCase('dual-stack', { a: 'symmetric', b: 'symmetric', v6: true }, 'a1', 'b1', stun);
});

test('native↔native, IPv6 only: tracker, origin, STUN and peers over IPv6', async () => {
  await nativeCase('v6-only', { v4: false, v6: true }, 'a1', 'b1', stun6);
});

test('Chromium↔native, both behind port-preserving ("cone") NATs, STUN configured', async () => {
  await browserCase('b-cone-cone', { a: 'cone', b: 'cone' }, 'a1', 'b1', stun);
});

test('Chromium↔native, symmetric NAT to a full-cone NAT, STUN configured', async () => {
  await browserCase('b-sym-fullcone', { a: 'full-cone', b: 'symmetric' }, 'a1', 'b1', stun);
});

test('Chromium↔native, both behind symmetric NATs, TURN over UDP configured', async () => {
  await browserCase('b-sym-sym-turn', { a: 'symmetric', b: 'symmetric' }, 'a1', 'b1', turnUdp);
});

test('Chromium↔native, dual-stack, symmetric IPv4 NATs and no TURN: the peers connect over IPv6', async () => {
  await browserCase('b-dual-stack', { a: 'symmetric', b: 'symmetric', v6: true }, 'a1', 'b1', stun);
});

test('Chromium↔native, IPv6 only', async () => {
  await browserCase('b-v6-only', { v4: false, v6: true }, 'a1', 'b1', stun6);
});

test('Chromium↔native, the same LAN: host candidates, no ICE server', async () => {
  await browserCase('b-same-lan', { a: 'symmetric', b: 'symmetric' }, 'a1', 'a2', []);
});

// Firefox hides its host address behind an mDNS name, and the host's firewall
// drops the browser's checks (unsolicited UDP): only the host's own checks, sent once
// it has resolved the name, open the way. (Debian's Chromium offers its addresses:
// it is built without the mDNS responder its obfuscation needs.)
test('Firefox↔native, the same LAN behind a host firewall: the host resolves the browser\'s mDNS name', async () => {
  const { share, seederState } = await firefoxCase('ff-lan-mdns', { a: 'symmetric', b: 'symmetric' }, 'a1', 'a2', [], {
    before: () => hostFirewall('a1', { mdns: true }),
  });
  assert.ok(share >= 0.9, `${(share * 100).toFixed(1)}% from the peer\n${tail(seederState)}`);
});

// The control: the same with mDNS answers dropped too, so the name never resolves
// (a smaller file: it all comes from the origin).
test('Firefox↔native, the same LAN behind a host firewall that drops mDNS: no connection (control)', async () => {
  const { share } = await firefoxCase('ff-lan-no-mdns', { a: 'symmetric', b: 'symmetric' }, 'a1', 'a2', [], {
    before: () => hostFirewall('a1', { mdns: false }),
    size: 8 * MiB,
  });
  assert.ok(share <= 0, `without mDNS no peer should have served: ${(share * 100).toFixed(1)}%`);
});

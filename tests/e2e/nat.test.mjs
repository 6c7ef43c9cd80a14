// Peers behind NAT routers (topology.mjs), with a real coturn and a real nginx in
// the "wan": the share of a download that came from the peer, for each kind of
// network a home or an office has. Run through net.sh.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { BIN, noiseFile, sha256, start, stopAll, workDir } from './harness.mjs';
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

const stun = `[[ice_servers]]\nurls = ["stun:${topology.WAN}:3478"]\n`;
const turnUdp = `[[ice_servers]]\nurls = ["turn:${topology.WAN}:3478?transport=udp"]\nusername = "${TURN_USER}"\ncredential = "${TURN_PASSWORD}"\n`;

async function waitForLog(stateDir, text, timeoutMs = 60000) {
  const log = path.join(stateDir, 'host.log');
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes(text)) return;
    await sleep(100);
  }
  throw new Error(`${log} never said ${JSON.stringify(text)}`);
}

// `swarmload-host seed FILE` in namespace `ns`, announced on the tracker.
async function seed(ns, file, trackerUrl, name, config) {
  const state = workDir(name);
  fs.writeFileSync(path.join(state, 'config.toml'), config);
  const [cmd, args] = topology.inNs(ns, path.join(BIN, 'swarmload-host'), [
    'seed', file, '--json', '--tracker', trackerUrl, '--state-dir', state,
  ]);
  const p = start(cmd, args, { env: { ...process.env, SWARMLOAD_HOME: undefined } });
  await p.line(180000);
  await waitForLog(state, 'tracker connected');
  return { proc: p, state };
}

// `swarmload-host get URL` in namespace `ns`: its JSON summary.
async function get(ns, url, trackerUrl, name, config) {
  const state = workDir(name);
  fs.writeFileSync(path.join(state, 'config.toml'), config);
  const out = path.join(state, 'out.bin');
  const [cmd, args] = topology.inNs(ns, path.join(BIN, 'swarmload-host'), [
    'get', url, '--json', '--no-seed', '--tracker', trackerUrl, '--state-dir', state, '-o', out,
  ]);
  const p = start(cmd, args, { env: { ...process.env, SWARMLOAD_HOME: undefined } });
  const summary = JSON.parse(await p.line(300000));
  return { summary, out, state };
}

/**
 * One case: the topology `net`, a seeder in `seederNs` and a downloader in
 * `downloaderNs`, each with `config`; at least 90% of the file must come from the
 * peer.
 */
async function nativeCase(name, net, seederNs, downloaderNs, config) {
  topology.build(net);
  const dir = workDir(name);
  const file = noiseFile(dir, `${name}.bin`, SIZE);
  const t = await tracker('wan');
  await coturn('wan', workDir(`${name}-turn`));
  const o = await nginx('wan', workDir(`${name}-nginx`), file, { rate: ORIGIN_RATE });
  const s = await seed(seederNs, file, t.url, `${name}-seeder`, config);
  const d = await get(downloaderNs, o.url, t.url, `${name}-downloader`, config);
  assert.equal(sha256(d.out), sha256(file), 'the right bytes');
  const share = d.summary.from_peers / d.summary.size;
  const why = () =>
    `${(share * 100).toFixed(1)}% from the peer: ${JSON.stringify(d.summary)}\n` +
    `--- seeder log\n${tail(s.state)}\n--- downloader log\n${tail(d.state)}\n${topology.routerState()}`;
  assert.ok(share >= 0.9, why());
  console.log(`# ${name}: ${(share * 100).toFixed(1)}% from the peer in ${d.summary.seconds.toFixed(1)} s`);
  return d.summary;
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

test('native↔native, two peers on the same LAN: host candidates, no ICE server', async () => {
  await nativeCase('same-lan', { a: 'symmetric', b: 'symmetric' }, 'a1', 'a2', '');
});

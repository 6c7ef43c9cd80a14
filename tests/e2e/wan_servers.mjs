// The servers of the topology's "wan" namespace, as real processes: the tracker,
// coturn (STUN and TURN) and nginx (the origin).

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

import { BIN, start } from './harness.mjs';
import { WAN, inNs } from './topology.mjs';

// `ip`, as a URL's or a socket address's host part.
export function hostPart(ip) {
  return ip.includes(':') ? `[${ip}]` : ip;
}

export const TURN_USER = 'swarm';
export const TURN_PASSWORD = 'load';

// Waits until something in `ns` listens on `port` (`proto`: "t" for TCP, "u" for UDP).
async function listening(ns, proto, port, timeoutMs = 20000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const r = spawnSync('ip', ['netns', 'exec', ns, 'ss', `-Hln${proto}`], { encoding: 'utf8' });
    if (r.stdout?.split('\n').some((l) => l.includes(`:${port} `))) return;
    await sleep(100);
  }
  throw new Error(`nothing listens on ${proto === 't' ? 'TCP' : 'UDP'} ${port} in ${ns}`);
}

export async function tracker(ns, ip = WAN) {
  const [cmd, args] = inNs(ns, path.join(BIN, 'swarmload-tracker'), ['--listen', `${hostPart(ip)}:0`]);
  const p = start(cmd, args, { stderr: 'ignore' });
  const line = await p.line();
  return { proc: p, url: line.replace('listening on ', '').trim() };
}

/**
 * coturn in `ns` on `ip`:3478 (UDP and TCP) and TLS on 5349 with a self-signed
 * certificate made in `dir`. Long-term credentials TURN_USER/TURN_PASSWORD; relayed
 * addresses on `ip`, ports 50000 to 50100. Its log is `dir/turn.log`.
 */
export async function coturn(ns, dir, ip = WAN) {
  const cert = path.join(dir, 'turn.pem');
  const key = path.join(dir, 'turn.key');
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=turn.test', '-addext', `subjectAltName=IP:${ip}`, '-keyout', key, '-out', cert], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`openssl: ${made.stderr}`);
  const log = path.join(dir, 'turn.log');
  const [cmd, args] = inNs(ns, 'turnserver', [
    '-n', `--listening-ip=${ip}`, `--relay-ip=${ip}`, '--listening-port=3478', '--tls-listening-port=5349',
    '--lt-cred-mech', `--user=${TURN_USER}:${TURN_PASSWORD}`, '--realm=swarmload.test',
    `--cert=${cert}`, `--pkey=${key}`, '--no-dtls', '--no-cli', '--min-port=50000', '--max-port=50100',
    `--log-file=${log}`, '--simple-log', '--verbose', `--pidfile=${path.join(dir, 'turn.pid')}`,
    `--userdb=${path.join(dir, 'turndb')}`, '--no-multicast-peers',
  ]);
  const p = start(cmd, args, { stderr: 'ignore' });
  await listening(ns, 'u', 3478);
  await listening(ns, 't', 3478);
  await listening(ns, 't', 5349);
  return { proc: p, log, cert };
}

/**
 * nginx in `ns` serving `file` at http://IP:PORT/NAME with its SHA-256 in a
 * `digestHeader` (Repr-Digest, or Unencoded-Digest) (and a
 * page at http://IP:PORT/ whose `#file` link names it), each
 * connection limited to `rate` bytes a second (0: unlimited). No file outside `dir`
 * is read or written.
 */
export async function nginx(ns, dir, file, { rate = 0, port = 8080, ip = WAN, digestHeader = 'Repr-Digest' } = {}) {
  const root = path.join(dir, 'www');
  fs.mkdirSync(root, { recursive: true });
  const name = path.basename(file);
  fs.copyFileSync(file, path.join(root, name));
  // The page a browser test clicks: one link to the file. armed.html goes to the
  // file by itself once the test calls `arm()` (for a browser nothing drives).
  fs.writeFileSync(path.join(root, 'index.html'), `<!doctype html><a id="file" href="/${name}" download>${name}</a>\n`);
  fs.writeFileSync(
    path.join(root, 'armed.html'),
    `<!doctype html><script>(async () => { while (!(await fetch('/armed', { cache: 'no-store' })).ok) await new Promise((r) => setTimeout(r, 200)); location.href = '/${name}'; })();</script>\n`,
  );
  const digest = createHash('sha256').update(fs.readFileSync(file)).digest('base64');
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(
    conf,
    `daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log;
events {}
http {
  access_log ${dir}/nginx-access.log;
  client_body_temp_path ${dir}/tmp;
  proxy_temp_path ${dir}/tmp;
  fastcgi_temp_path ${dir}/tmp;
  uwsgi_temp_path ${dir}/tmp;
  scgi_temp_path ${dir}/tmp;
  types { application/octet-stream bin; text/html html; }
  sendfile on;
  # limit_rate is checked between writes: small writes keep the first second at the rate.
  sendfile_max_chunk 32k;
  server {
    listen ${hostPart(ip)}:${port};
    root ${root};
    limit_rate ${rate};
    location = /${name} { add_header ${digestHeader} "sha-256=:${digest}:"; }
  }
}
`,
  );
  fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  const [cmd, args] = inNs(ns, 'nginx', ['-c', conf, '-p', dir, '-e', path.join(dir, 'nginx-error.log')]);
  const p = start(cmd, args, { stderr: 'inherit' });
  await listening(ns, 't', port);
  const log = path.join(dir, 'nginx-access.log');
  return {
    proc: p,
    url: `http://${hostPart(ip)}:${port}/${name}`,
    page: `http://${hostPart(ip)}:${port}/`,
    arm: () => fs.writeFileSync(path.join(root, 'armed'), 'go\n'),
    // Body bytes nginx sent for the file, from its access log (combined format).
    bodyBytes: () =>
      fs
        .readFileSync(log, 'utf8')
        .split('\n')
        .filter((l) => l.includes(`GET /${name} `))
        .reduce((sum, l) => sum + Number(l.split('"')[2].trim().split(' ')[1] ?? 0), 0),
  };
}

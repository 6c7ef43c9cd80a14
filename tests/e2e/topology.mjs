// Two homes behind their own NAT routers, joined by a "wan" that holds the tracker,
// coturn and nginx, all in network namespaces the test makes (run it through
// net.sh, which gives it a private network and mount namespace of its own, so
// nothing here can reach the machine's own networks).
//
//   home A: a1 (192.168.1.2), a2 (192.168.1.3) ─ bridge in rA (NAT, 10.99.1.2) ─┐
//                                                                              wan (10.99.0.1)
//   home B: b1 (192.168.2.2)                   ─ bridge in rB (NAT, 10.99.2.2) ─┘
//
// With IPv6 (dual-stack, or IPv6 only): the homes' prefixes fd01::/64 and fd02::/64
// (a1 fd01::2, a2 fd01::3, b1 fd02::2) are routed, the routers only firewall, and
// the wan's servers are on fd99::1.
//
// A router's NAT is one of:
// - "cone": MASQUERADE keeps the source port where it can (endpoint-independent
//   mapping) but lets in only replies from the address and port a packet went to
//   (a port-restricted cone): hole punching works between two of them;
// - "full-cone": the same, and unsolicited UDP goes to the LAN's first host (a
//   home router's "DMZ host"), so it works with a symmetric NAT too;
// - "symmetric": `--random-fully`, a new port per destination: with a "cone" or
//   another "symmetric" only TURN helps. Like a home router, it drops unsolicited packets on its INPUT
// chain too: without that, the first packet from the other peer leaves a conntrack
// entry that takes the port the outgoing mapping wanted (see PLATFORM.md).

import { spawnSync } from 'node:child_process';

export const WAN = '10.99.0.1';
export const WAN6 = 'fd99::1';

let made = [];

function ip(...args) {
  sh('ip', args);
}

function sh(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error}`);
  return r.stdout;
}

// `cmd args…` run in namespace `ns`.
export function nsExec(ns, cmd, args = []) {
  return sh('ip', ['netns', 'exec', ns, cmd, ...args]);
}

// The argv that runs `cmd args…` in namespace `ns` (for spawn).
export function inNs(ns, cmd, args = []) {
  return ['ip', ['netns', 'exec', ns, cmd, ...args]];
}

function netns(name) {
  ip('netns', 'add', name);
  made.push(name);
  nsExec(name, 'ip', ['link', 'set', 'lo', 'up']);
}

function link(a, aIf, b, bIf) {
  ip('link', 'add', aIf, 'netns', a, 'type', 'veth', 'peer', 'name', bIf, 'netns', b);
  nsExec(a, 'ip', ['link', 'set', aIf, 'up']);
  nsExec(b, 'ip', ['link', 'set', bIf, 'up']);
}

function addr(ns, dev, cidr) {
  // `nodad`: an IPv6 address is usable at once, not after duplicate detection.
  nsExec(ns, 'ip', ['addr', 'add', cidr, 'dev', dev, ...(cidr.includes(':') ? ['nodad'] : [])]);
}

function forwarding(ns, { v4, v6 }) {
  if (v4) nsExec(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  if (v6) nsExec(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']);
}

// Router `r` for home `n` (1 or 2): its WAN link to `wan`, its LAN bridge, and the
// NAT (IPv4) and stateful firewall (both families) a home router has. Over IPv6 a
// home router routes the home's own prefix (fd0n::/64) and translates nothing.
function router(r, n, nat, fam) {
  netns(r);
  link('wan', `w${n}`, r, 'up0');
  nsExec(r, 'ip', ['link', 'add', 'lan', 'type', 'bridge']);
  nsExec(r, 'ip', ['link', 'set', 'lan', 'up']);
  forwarding(r, fam);
  if (fam.v4) {
    addr('wan', `w${n}`, `10.99.${n}.1/24`);
    addr(r, 'up0', `10.99.${n}.2/24`);
    nsExec(r, 'ip', ['route', 'add', 'default', 'via', `10.99.${n}.1`]);
    addr(r, 'lan', `192.168.${n}.1/24`);
    const masq = ['-t', 'nat', '-A', 'POSTROUTING', '-o', 'up0', '-j', 'MASQUERADE'];
    if (nat === 'symmetric') masq.push('--random-fully');
    nsExec(r, 'iptables', masq);
    if (nat === 'full-cone') {
      // A "DMZ host": unsolicited UDP to the router goes to the LAN's first host,
      // port for port, which makes the port-preserving NAT a full cone for it.
      nsExec(r, 'iptables', ['-t', 'nat', '-A', 'PREROUTING', '-i', 'up0', '-p', 'udp', '-j', 'DNAT', '--to-destination', `192.168.${n}.2`]);
      nsExec(r, 'iptables', ['-A', 'FORWARD', '-i', 'up0', '-p', 'udp', '-m', 'conntrack', '--ctstate', 'DNAT', '-j', 'ACCEPT']);
    }
    statefulFirewall(r, 'iptables');
  }
  if (fam.v6) {
    addr('wan', `w${n}`, `fd99:${n}::1/64`);
    addr(r, 'up0', `fd99:${n}::2/64`);
    nsExec(r, 'ip', ['-6', 'route', 'add', 'default', 'via', `fd99:${n}::1`]);
    nsExec('wan', 'ip', ['-6', 'route', 'add', `fd0${n}::/64`, 'via', `fd99:${n}::2`]);
    addr(r, 'lan', `fd0${n}::1/64`);
    statefulFirewall(r, 'ip6tables');
  }
}

// Drops what nobody inside asked for, on INPUT as well as FORWARD (see above).
function statefulFirewall(r, tables) {
  for (const chain of ['INPUT', 'FORWARD']) {
    nsExec(r, tables, ['-A', chain, '-i', 'up0', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT']);
    if (tables === 'ip6tables') {
      // Neighbour discovery is how IPv6 finds the next hop at all.
      nsExec(r, tables, ['-A', chain, '-i', 'up0', '-p', 'ipv6-icmp', '-j', 'ACCEPT']);
    }
    nsExec(r, tables, ['-A', chain, '-i', 'up0', '-j', 'DROP']);
  }
}

// Host `h` on router `r`'s LAN at 192.168.n.k and fd0n::k.
function host(h, r, n, k, fam) {
  netns(h);
  link(r, `to-${h}`, h, 'eth0');
  nsExec(r, 'ip', ['link', 'set', `to-${h}`, 'master', 'lan']);
  if (fam.v4) {
    addr(h, 'eth0', `192.168.${n}.${k}/24`);
    nsExec(h, 'ip', ['route', 'add', 'default', 'via', `192.168.${n}.1`]);
  }
  if (fam.v6) {
    addr(h, 'eth0', `fd0${n}::${k}/64`);
    nsExec(h, 'ip', ['-6', 'route', 'add', 'default', 'via', `fd0${n}::1`]);
  }
}

/**
 * Builds the topology: `a` and `b` are each home's IPv4 NAT (see above);
 * `v4`/`v6` which families it has (IPv4 only by default; both is dual-stack).
 * `udpBlocked` lists routers that pass no UDP out (a firewall that leaves only TCP).
 * Returns the hosts' namespaces: a1 and a2 in home A, b1 in home B, and wan.
 */
export function build({ a = 'cone', b = 'cone', udpBlocked = [], v4 = true, v6 = false } = {}) {
  teardown();
  const fam = { v4, v6 };
  netns('wan');
  forwarding('wan', fam);
  // The rest of the world: a default route to a neighbour that takes packets and
  // answers nothing, so they vanish as they would on the internet. Without it a
  // server's send to a private address (a peer's host candidate) fails at once,
  // and coturn ends the allocation for it.
  nsExec('wan', 'ip', ['link', 'add', 'world', 'type', 'veth', 'peer', 'name', 'world-end']);
  nsExec('wan', 'ip', ['link', 'set', 'world', 'up']);
  nsExec('wan', 'ip', ['link', 'set', 'world-end', 'up']);
  if (v4) {
    addr('wan', 'lo', `${WAN}/32`);
    addr('wan', 'world', '10.99.255.1/30');
    nsExec('wan', 'ip', ['neigh', 'add', '10.99.255.2', 'lladdr', '02:00:00:00:99:02', 'dev', 'world', 'nud', 'permanent']);
    nsExec('wan', 'ip', ['route', 'add', 'default', 'via', '10.99.255.2', 'dev', 'world']);
  }
  if (v6) {
    addr('wan', 'lo', `${WAN6}/128`);
    addr('wan', 'world', 'fd99:ff::1/64');
    nsExec('wan', 'ip', ['-6', 'neigh', 'add', 'fd99:ff::2', 'lladdr', '02:00:00:00:99:02', 'dev', 'world', 'nud', 'permanent']);
    nsExec('wan', 'ip', ['-6', 'route', 'add', 'default', 'via', 'fd99:ff::2', 'dev', 'world']);
  }
  router('rA', 1, a, fam);
  router('rB', 2, b, fam);
  host('a1', 'rA', 1, 2, fam);
  host('a2', 'rA', 1, 3, fam);
  host('b1', 'rB', 2, 2, fam);
  for (const r of udpBlocked) {
    if (v4) nsExec(r, 'iptables', ['-I', 'FORWARD', '-o', 'up0', '-p', 'udp', '-j', 'DROP']);
    if (v6) nsExec(r, 'ip6tables', ['-I', 'FORWARD', '-o', 'up0', '-p', 'udp', '-j', 'DROP']);
  }
  return { a1: 'a1', a2: 'a2', b1: 'b1', wan: 'wan' };
}

// Removes every namespace `build` made (their links and processes' sockets go with
// them; the processes themselves are the caller's to stop first).
export function teardown() {
  for (const ns of made.reverse()) spawnSync('ip', ['netns', 'delete', ns]);
  made = [];
}

// The NAT's drops and translations, and each namespace's UDP counters (receive
// buffer overflows among them), for a failure message.
export function routerState() {
  const udp = (ns) => {
    const lines = spawnSync('ip', ['netns', 'exec', ns, 'cat', '/proc/net/snmp'], { encoding: 'utf8' }).stdout.split('\n');
    return lines.filter((l) => l.startsWith('Udp:')).join('\n');
  };
  const routers = ['rA', 'rB']
    .filter((r) => made.includes(r))
    .map((r) => `${r}:\n${spawnSync('ip', ['netns', 'exec', r, 'iptables', '-vnL'], { encoding: 'utf8' }).stdout}`);
  const counters = made.filter((ns) => !ns.startsWith('r')).map((ns) => `${ns} UDP:\n${udp(ns)}`);
  return [...routers, ...counters].join('\n');
}

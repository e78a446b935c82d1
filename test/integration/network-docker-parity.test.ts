/**
 * A container on the default bridge, kiln beside docker: the same busybox root, the same
 * commands and flags; outputs compared after the addresses, subnet and ID (which differ by
 * design: kiln0 is not docker0) are replaced by placeholders.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dockerAvailable, hasCommand, isRoot, kilnBin, prerequisite } from '../support/env.js';
import { haveBusybox } from '../../harness/busyboxImage.js';
import { busyboxInKilnAndDocker, DOCKER, removeBusyboxFromKilnAndDocker } from '../../harness/dockerImage.js';

const IMAGE = `kiln-netparity-${process.pid}/busybox:latest`;
const ready = isRoot && haveBusybox && hasCommand('nft') && dockerAvailable();
const why = 'needs root, /bin/busybox, nft and a running dockerd (.ci/setup starts one)';

/** Prints the container's address, gateway and hostname first, so the rest can be normalised. */
const IDENTITY = "ip -4 addr show eth0 | awk '/inet / {print $2}'; ip route | awk '/default/ {print $3}'; hostname; echo ---";

const CASES: { name: string; flags: string[]; script: string }[] = [
  { name: 'interfaces, routes, MAC', flags: [], script: 'ls /sys/class/net; ip route; ip link show eth0 | awk \'/ether/ {print $2}\'' },
  { name: '/etc/hosts, /etc/hostname, /etc/resolv.conf', flags: [], script: 'cat /etc/hosts /etc/hostname /etc/resolv.conf' },
  { name: 'sysctls of a namespace of its own', flags: [], script: 'cat /proc/sys/net/ipv4/ping_group_range /proc/sys/net/ipv4/ip_unprivileged_port_start' },
  { name: '--dns, --dns-search, --dns-option, --add-host', flags: ['--dns', '192.0.2.53', '--dns-search', 'example.com', '--dns-option', 'ndots:2', '--add-host', 'db:192.0.2.7', '--add-host', 'gw:host-gateway'], script: 'cat /etc/resolv.conf /etc/hosts' },
  { name: '--hostname', flags: ['--hostname', 'box'], script: 'cat /etc/hosts /etc/hostname' },
];

function hex(n: string): string {
  return n.split('.').map((b) => Number(b).toString(16).padStart(2, '0')).join(':');
}

/** Replaces this container's address, gateway, subnet and ID by placeholders. */
function normalise(out: string): string {
  const [cidr = '', gateway = '', hostname = '', , ...rest] = out.split('\n');
  const [address = ''] = cidr.split('/');
  let text = rest.join('\n');
  const network = gateway.replace(/\.1$/, '.0');
  for (const [from, to] of [[cidr, '<cidr>'], [address, '<address>'], [gateway, '<gateway>'], [network, '<network>'], [hex(address), '<mac-of-address>']] as const) {
    if (from !== '') text = text.split(from).join(to);
  }
  if (/^[0-9a-f]{12}$/.test(hostname)) text = text.split(hostname).join('<id>');
  return text.replace(/<network>\/\d+/g, '<subnet>');
}

describe('network: the default bridge as docker gives it', () => {
  let root: string;
  before(async () => {
    if (ready) root = await busyboxInKilnAndDocker(IMAGE, 'kiln-netparity-');
  });
  after(() => {
    if (ready) removeBusyboxFromKilnAndDocker(IMAGE, root);
  });

  for (const c of CASES) {
    test(c.name, (t) => {
      if (!prerequisite(t, ready, why)) return;
      const args = ['run', '--rm', ...c.flags, IMAGE, 'sh', '-c', `${IDENTITY}; ${c.script}`];
      const k = spawnSync(kilnBin, args, { env: { ...process.env, KILN_ROOT: root }, encoding: 'utf8', timeout: 60_000 });
      const d = spawnSync(DOCKER, args, { encoding: 'utf8', timeout: 60_000 });
      assert.equal(k.status, 0, k.stderr);
      assert.equal(d.status, 0, d.stderr);
      assert.equal(normalise(k.stdout), normalise(d.stdout));
    });
  }
});

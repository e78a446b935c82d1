/** The pure parts of kiln's networking: -p and --add-host parsing, IPv4 math, the /etc files, the hosts block of a user network, kiln's nftables table. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseExposed, parsePublish, describeBinding } from '../../../../engine/runtime/network/ports.js';
import { formatSubnet, hostRoutes, macForAddress, overlaps, parseAddress, parseSubnet } from '../../../../engine/runtime/network/ipv4.js';
import { hostsFileContent, resolvConfContent } from '../../../../engine/runtime/network/etcFiles.js';
import { withPeers } from '../../../../engine/runtime/network/hostsPeers.js';
import { tableScript } from '../../../../engine/runtime/network/firewall.js';
import { parseNetworkChoice } from '../../../../engine/runtime/network/networkMode.js';
import { parseAddHost } from '../../../../engine/cli/networkFlags.js';
import type { EndpointRecord } from '../../../../engine/runtime/network/endpoints.js';

test('-p as docker reads it', () => {
  assert.deepEqual(parsePublish('8080:80'), [{ proto: 'tcp', hostIp: '', hostPort: 8080, containerPort: 80 }]);
  assert.deepEqual(parsePublish('127.0.0.1:8080:80/udp'), [{ proto: 'udp', hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80 }]);
  assert.deepEqual(parsePublish('80'), [{ proto: 'tcp', hostIp: '', hostPort: 0, containerPort: 80 }]);
  assert.deepEqual(parsePublish('127.0.0.1::80'), [{ proto: 'tcp', hostIp: '127.0.0.1', hostPort: 0, containerPort: 80 }]);
  assert.deepEqual(parsePublish('0.0.0.0:9000-9001:80-81').map((p) => `${p.hostPort}:${p.containerPort}`), ['9000:80', '9001:81']);
  assert.throws(() => parsePublish('99999:80'), /^KilnError: Invalid hostPort: 99999$/);
  assert.throws(() => parsePublish('abc'), /Invalid containerPort: abc/);
  assert.throws(() => parsePublish('80/sctpx'), /Invalid proto: sctpx/);
  assert.throws(() => parsePublish('1.2.3:80:80'), /Invalid ip address: 1.2.3/);
  assert.throws(() => parsePublish('9000-9002:80-81'), /Invalid ranges/);
  assert.throws(() => parsePublish('[::1]:80:80'), /IPv4/);
  assert.deepEqual(parseExposed('53/udp'), [{ proto: 'udp', port: 53 }]);
  assert.equal(describeBinding({ proto: 'tcp', hostIp: '', hostPort: 8080, containerPort: 80 }), '80/tcp -> 0.0.0.0:8080');
});

test('--network values and --add-host', () => {
  assert.deepEqual(parseNetworkChoice('default'), { mode: 'bridge' });
  assert.deepEqual(parseNetworkChoice('container:web'), { container: 'web' });
  assert.deepEqual(parseNetworkChoice('my-net'), { network: 'my-net' });
  assert.throws(() => parseNetworkChoice('bad/name'), /invalid network name/);
  assert.deepEqual(parseAddHost('db:10.1.2.3'), { name: 'db', address: '10.1.2.3' });
  assert.deepEqual(parseAddHost('gw:host-gateway'), { name: 'gw', address: 'host-gateway' });
  assert.throws(() => parseAddHost('foo'), /bad format for add-host: "foo"/);
  assert.throws(() => parseAddHost('foo:1.2.3'), /invalid IP address/);
});

test('IPv4 subnets, overlap, docker\'s MAC, the host\'s routes', () => {
  const s = parseSubnet('10.90.0.0/16');
  assert.ok(s);
  assert.equal(formatSubnet(s), '10.90.0.0/16');
  assert.equal(parseSubnet('10.90.0.1/16'), undefined, 'host bits set');
  assert.ok(overlaps(s, parseSubnet('10.90.7.0/24') as NonNullable<typeof s>));
  assert.ok(!overlaps(s, parseSubnet('10.91.0.0/16') as NonNullable<typeof s>));
  assert.equal(macForAddress(parseAddress('172.17.0.2') as number), '02:42:ac:11:00:02');
  const routes = hostRoutes('Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n' +
    'eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\n' +
    'eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n');
  assert.deepEqual(routes.map(formatSubnet), ['192.0.2.0/24']);
});

test('/etc/hosts and resolv.conf on a network of its own, with --add-host and --dns', () => {
  assert.equal(hostsFileContent('own', { hostname: 'abc', address: '10.90.0.2', extraHosts: [{ name: 'db', address: '1.2.3.4' }] }).split('\n').slice(-3).join('|'), '1.2.3.4\tdb|10.90.0.2\tabc|');
  assert.equal(resolvConfContent('own', { dns: ['1.2.3.4'], dnsSearch: ['example.com'] }, 'nameserver 10.0.0.1\noptions ndots:2\n'), 'search example.com\nnameserver 1.2.3.4\noptions ndots:2\n');
  assert.equal(resolvConfContent('own', {}, 'nameserver 127.0.0.53\n', 'nameserver 10.9.9.9\n'), 'nameserver 10.9.9.9\n', 'systemd-resolved: its upstream servers');
  assert.equal(resolvConfContent('own', { loopbackReplacement: ['10.0.2.3'] }, 'nameserver 127.0.0.1\n', ''), 'nameserver 10.0.2.3\n');
});

test('a user network\'s block in /etc/hosts is replaced, what the container wrote is kept', () => {
  const peer = (address: string, name: string): EndpointRecord => ({ network: 'n', address, containerId: name, names: [name, `${name}-id`], veth: 'kv', ports: [], owner: { pid: 1, start: '1' }, created: '' });
  const base = '127.0.0.1\tlocalhost\n10.100.0.2\tme\n';
  const one = withPeers(base, 'n', [peer('10.100.0.3', 'a')]);
  assert.equal(one, `${base}# containers on kiln network n\n10.100.0.3\ta a-id\n# end of kiln network n\n`);
  const edited = one + '5.6.7.8\tmine\n';
  assert.equal(withPeers(edited, 'n', [peer('10.100.0.4', 'b')]), `${base}5.6.7.8\tmine\n# containers on kiln network n\n10.100.0.4\tb b-id\n# end of kiln network n\n`);
  assert.equal(withPeers(one, 'n', []), base);
});

test('kiln\'s nftables table: its own table, networks and ports as elements', () => {
  const script = tableScript([{ bridge: 'kiln0', subnet: '10.90.0.0/16' }], [{ proto: 'tcp', hostIp: '127.0.0.1', hostPort: 8080, containerIp: '10.90.0.2', containerPort: 80 }], false);
  assert.match(script, /^table ip kiln \{/m);
  assert.doesNotMatch(script, /delete table/);
  assert.match(script, /add element ip kiln tcp_addr \{ 127\.0\.0\.1 \. 8080 : 10\.90\.0\.2 \. 80 \}/);
  assert.match(script, /add element ip kiln subnets \{ 10\.90\.0\.0\/16 \}/);
  assert.match(script, /iifname @bridges ip daddr 127\.0\.0\.0\/8 drop/);
  assert.ok(!/\b(iptables|flush ruleset)\b/.test(script), 'touches nothing outside its table');
  assert.match(tableScript([], [], true), /^add table ip kiln\ndelete table ip kiln\n/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MOUNT_DATA_LIMIT, cleanTarget, overlayOptions, planMounts } from '../../../../engine/runtime/mounts.js';
import { DOCKER_DEFAULT_CAPABILITIES, capabilityMask, effectiveCapabilities } from '../../../../engine/runtime/capabilities.js';
import { hostsFileContent, resolvConfContent } from '../../../../engine/runtime/network/etcFiles.js';
import { idMapCovers } from '../../../../engine/runtime/userNamespace.js';

test('overlay options: absolute paths when they fit, index/metacopy/redirect_dir off as root, userxattr rootless', () => {
  const o = overlayOptions(['/s/b', '/s/a'], '/c/u', '/c/w', false, '/c/links');
  assert.deepEqual(o, { data: 'lowerdir=/s/b:/s/a,upperdir=/c/u,workdir=/c/w,index=off,metacopy=off,redirect_dir=off' });
  assert.match(overlayOptions(['/s/a'], '/u', '/w', true, '/l').data, /,userxattr$/);
  assert.throws(() => overlayOptions([], '/u', '/w', false, '/l'), /at least one lower/);
  assert.throws(() => overlayOptions(['/a:b'], '/u', '/w', false, '/l'), /contains/);
});

test('overlay options stay within a page: relative to a shared parent, then short links', () => {
  const hex = (i: number): string => i.toString(16).padStart(64, '0');
  const many = Array.from({ length: 50 }, (_, i) => `/var/lib/kiln/snapshots/sha256/${hex(i)}`);
  const rel = overlayOptions(many, '/u', '/w', false, '/l');
  assert.equal(rel.cwd, '/var/lib/kiln/snapshots/sha256');
  assert.ok(rel.data.length <= MOUNT_DATA_LIMIT);
  assert.ok(rel.data.startsWith(`lowerdir=${hex(0)}:${hex(1)}:`));
  const deep = Array.from({ length: 200 }, (_, i) => `/var/lib/kiln/snapshots/sha256/${hex(i)}`);
  const linked = overlayOptions(deep, '/u', '/w', false, '/l');
  assert.equal(linked.cwd, '/l');
  assert.equal(linked.links?.length, 200);
  assert.deepEqual(linked.links?.[0], ['0', deep[0]]);
  assert.ok(linked.data.length <= MOUNT_DATA_LIMIT);
});

test('default mounts, devices and protections; user binds decide dir or file mount points', () => {
  const plan = planMounts({
    userNamespace: false, ownNetwork: true, etcFiles: { hosts: '/s/hosts', hostname: '/s/hostname', resolvConf: '/s/resolv' },
    user: [{ type: 'bind', source: '/h/dir', target: '/data/', readonly: true }, { type: 'bind', source: '/h/file', target: '/f', readonly: false }, { type: 'tmpfs', target: '/run', size: 1024 }],
    sourceIsDir: (s) => s === '/h/dir',
  });
  assert.deepEqual(plan.mounts.map((m) => m.target), ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/etc/hosts', '/etc/hostname', '/etc/resolv.conf', '/data', '/f', '/run']);
  assert.deepEqual(plan.mounts[9], { source: '/h/dir', target: '/data', bind: true, recursive: true, readonly: true, create: 'dir' });
  assert.equal(plan.mounts[10]?.create, 'file');
  assert.equal(plan.mounts[11]?.data, 'mode=1777,size=1024');
  assert.ok(plan.mounts[2]?.data?.includes('gid=5'));
  assert.deepEqual(plan.devices.map((d) => d.path), ['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty']);
  assert.ok(plan.readonlyPaths.includes('/proc/sysrq-trigger'));
  assert.ok(plan.maskedPaths.includes('/proc/kcore'));
  const rootless = planMounts({ userNamespace: true, ownNetwork: false, etcFiles: { hosts: 'h', hostname: 'n', resolvConf: 'r' }, user: [], sourceIsDir: () => true });
  assert.equal(rootless.mounts[5]?.bind, true, 'rootless without its own netns binds the host /sys');
  assert.ok(rootless.devices.every((d) => d.bindFromHost));
  assert.ok(!rootless.mounts[2]?.data?.includes('gid='));
  // kiln's own user namespace with a subordinate range maps the tty group: devpts takes gid= there.
  const mapped = planMounts({ userNamespace: true, ownNetwork: false, etcFiles: { hosts: 'h', hostname: 'n', resolvConf: 'r' }, user: [], sourceIsDir: () => true, ttyGroupMapped: true });
  assert.equal(mapped.mounts[2]?.data, 'newinstance,ptmxmode=0666,mode=0620,gid=5');
  assert.equal(cleanTarget('/a/../b/'), '/b');
  assert.throws(() => cleanTarget('rel'), /absolute/);
});

test('capabilities: docker\'s default set, add/drop, ALL', () => {
  assert.deepEqual(effectiveCapabilities().slice().sort(), [...DOCKER_DEFAULT_CAPABILITIES].sort());
  assert.equal(capabilityMask(effectiveCapabilities()), String(0xa80425fb));
  assert.ok(effectiveCapabilities(['sys_admin']).includes('SYS_ADMIN'));
  assert.ok(!effectiveCapabilities([], ['CAP_NET_RAW']).includes('NET_RAW'));
  assert.deepEqual(effectiveCapabilities(['NET_BIND_SERVICE'], ['ALL']), ['NET_BIND_SERVICE']);
  assert.equal(effectiveCapabilities(['ALL']).length, 41);
  assert.throws(() => effectiveCapabilities(['BOGUS']), /unknown capability/);
});

test('hosts and resolv.conf as docker writes them', () => {
  assert.match(hostsFileContent('none', { hostname: 'box' }), /^127\.0\.0\.1\tlocalhost\n[\s\S]*127\.0\.0\.1\tbox\n$/);
  assert.equal(hostsFileContent('host', { hostname: 'box' }, '1.2.3.4 h'), '1.2.3.4 h\n');
  assert.equal(resolvConfContent('none', {}, 'nameserver 127.0.0.53\nsearch lan\n'), 'search lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n');
  assert.equal(resolvConfContent('none', {}, 'nameserver 10.0.0.1\n'), 'nameserver 10.0.0.1\n');
  assert.equal(resolvConfContent('host', {}, 'nameserver 127.0.0.53\n'), 'nameserver 127.0.0.53\n');
});

test('id maps: which ids a /proc/PID/gid_map gives a host id', () => {
  const full = '         0       1001          1\n         1     100000      65536\n';
  assert.equal(idMapCovers(full, 0), true);
  assert.equal(idMapCovers(full, 5), true);
  assert.equal(idMapCovers(full, 65536), true);
  assert.equal(idMapCovers(full, 65537), false);
  assert.equal(idMapCovers('0 1001 1\n', 5), false);
  assert.equal(idMapCovers('         0          0 4294967295\n', 5), true);
  assert.equal(idMapCovers('', 0), false);
});

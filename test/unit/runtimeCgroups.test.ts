import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cgroupDirs, detectCgroupLayout, limitWrites } from '../../engine/runtime/cgroups.js';

const HYBRID = [
  '30 25 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
  '32 30 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '33 30 0:29 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
  '34 30 0:30 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');
const COMBINED = '31 30 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n32 30 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n';
const UNIFIED = '30 25 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n';

test('v1 controllers win over an empty unified hierarchy (hybrid hosts)', () => {
  const l = detectCgroupLayout(HYBRID);
  assert.equal(l?.version, 'v1');
  assert.deepEqual(l?.version === 'v1' ? [...l.controllers] : [], [['cpu', '/sys/fs/cgroup/cpu'], ['memory', '/sys/fs/cgroup/memory'], ['pids', '/sys/fs/cgroup/pids']]);
  assert.deepEqual(detectCgroupLayout(UNIFIED), { version: 'v2', mountPoint: '/sys/fs/cgroup' });
  assert.equal(detectCgroupLayout('1 0 0:1 / / rw - ext4 /dev/vda rw\n'), undefined);
});

test('v1: one directory per hierarchy a limit needs (co-mounted controllers share one)', () => {
  const l = detectCgroupLayout(HYBRID);
  assert.ok(l);
  const all = { memoryBytes: 1 << 26, cpus: 1, pids: 10 };
  assert.deepEqual(cgroupDirs(l, 'abc', all), ['/sys/fs/cgroup/memory/kiln/abc', '/sys/fs/cgroup/cpu/kiln/abc', '/sys/fs/cgroup/pids/kiln/abc']);
  assert.deepEqual(cgroupDirs(l, 'abc', { pids: 3 }), ['/sys/fs/cgroup/pids/kiln/abc'], 'only hierarchies a limit needs');
  const c = detectCgroupLayout(COMBINED);
  assert.ok(c);
  assert.deepEqual(cgroupDirs(c, 'x', all), ['/sys/fs/cgroup/memory/kiln/x', '/sys/fs/cgroup/cpu,cpuacct/kiln/x']);
  assert.deepEqual(cgroupDirs({ version: 'v2', mountPoint: '/sys/fs/cgroup' }, 'x'), ['/sys/fs/cgroup/kiln/x']);
});

test('v1 limits: memory then memsw (swap off), CFS quota, pids', () => {
  const l = detectCgroupLayout(HYBRID);
  assert.ok(l);
  const w = limitWrites(l, 'c', { memoryBytes: 64 * 1024 * 1024, cpus: 1.5, pids: 30 }).map((x) => `${x.dir}/${x.file}=${x.value}`);
  assert.deepEqual(w, [
    '/sys/fs/cgroup/memory/kiln/c/memory.limit_in_bytes=67108864',
    '/sys/fs/cgroup/memory/kiln/c/memory.memsw.limit_in_bytes=67108864',
    '/sys/fs/cgroup/memory/kiln/c/memory.swappiness=0',
    '/sys/fs/cgroup/cpu/kiln/c/cpu.cfs_period_us=100000',
    '/sys/fs/cgroup/cpu/kiln/c/cpu.cfs_quota_us=150000',
    '/sys/fs/cgroup/pids/kiln/c/pids.max=30',
  ]);
  assert.deepEqual(limitWrites(l, 'c', {}), []);
});

test('v2 limits: memory.max with swap 0, cpu.max, pids.max', () => {
  const w = limitWrites({ version: 'v2', mountPoint: '/sys/fs/cgroup' }, 'c', { memoryBytes: 1000000, cpus: 0.5, pids: 7 }).map((x) => `${x.file}=${x.value}`);
  assert.deepEqual(w, ['memory.max=1000000', 'memory.swap.max=0', 'cpu.max=50000 100000', 'pids.max=7']);
});

test('a missing v1 controller is a clear error', () => {
  const c = detectCgroupLayout(COMBINED);
  assert.ok(c);
  assert.throws(() => limitWrites(c, 'x', { pids: 3 }), /pids cgroup controller is not mounted/);
});

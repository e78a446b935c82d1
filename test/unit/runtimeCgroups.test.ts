import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cgroupDirs, kilnParents } from '../../engine/runtime/cgroups.js';
import { detectCgroupLayout } from '../../engine/runtime/cgroupLayout.js';
import { limitWrites } from '../../engine/runtime/cgroupLimits.js';
import { ownedCgroupName, ownerGone, ownerOf, thisProcess } from '../../engine/runtime/cgroupOwner.js';
import { DEFAULT_DEVICE_RULES, v1RuleLine } from '../../engine/runtime/deviceRules.js';
import { deviceProgram, deviceProgramInstructions } from '../../engine/runtime/deviceProgram.js';
import { parseDeviceFlag, splitDeviceNumber } from '../../engine/runtime/hostDevices.js';

const HYBRID = [
  '30 25 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
  '32 30 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '33 30 0:29 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
  '34 30 0:30 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');
const HYBRID_WITH_DEVICES = `${HYBRID}\n35 30 0:31 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices`;
const COMBINED = '31 30 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n32 30 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n';
const UNIFIED = '30 25 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n';

test('v1 controllers win over an empty unified hierarchy (hybrid hosts)', () => {
  const l = detectCgroupLayout(HYBRID);
  assert.equal(l?.version, 'v1');
  assert.deepEqual(l?.version === 'v1' ? [...l.controllers] : [], [['cpu', '/sys/fs/cgroup/cpu'], ['memory', '/sys/fs/cgroup/memory'], ['pids', '/sys/fs/cgroup/pids']]);
  assert.deepEqual(detectCgroupLayout(UNIFIED), { version: 'v2', mountPoint: '/sys/fs/cgroup' });
  assert.equal(detectCgroupLayout('1 0 0:1 / / rw - ext4 /dev/vda rw\n'), undefined);
});

test('v1: devices always, one directory per hierarchy a limit needs (co-mounted controllers share one), then the unified one', () => {
  const l = detectCgroupLayout(HYBRID_WITH_DEVICES);
  assert.ok(l);
  const all = { memoryBytes: 1 << 26, cpus: 1, pids: 10 };
  assert.deepEqual(cgroupDirs(l, 'abc', all), [
    '/sys/fs/cgroup/devices/kiln/abc', '/sys/fs/cgroup/memory/kiln/abc', '/sys/fs/cgroup/cpu/kiln/abc', '/sys/fs/cgroup/pids/kiln/abc', '/sys/fs/cgroup/unified/kiln/abc',
  ]);
  assert.deepEqual(cgroupDirs(l, 'abc'), ['/sys/fs/cgroup/devices/kiln/abc', '/sys/fs/cgroup/unified/kiln/abc'], 'no limits: devices and the unified hierarchy');
  const c = detectCgroupLayout(COMBINED);
  assert.ok(c);
  assert.deepEqual(cgroupDirs(c, 'x', all), ['/sys/fs/cgroup/memory/kiln/x', '/sys/fs/cgroup/cpu,cpuacct/kiln/x'], 'a host without the devices controller');
  assert.deepEqual(cgroupDirs({ version: 'v2', mountPoint: '/sys/fs/cgroup' }, 'x'), ['/sys/fs/cgroup/kiln/x']);
  assert.deepEqual(kilnParents(l), ['/sys/fs/cgroup/cpu/kiln', '/sys/fs/cgroup/memory/kiln', '/sys/fs/cgroup/pids/kiln', '/sys/fs/cgroup/devices/kiln', '/sys/fs/cgroup/unified/kiln']);
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

test('cgroup names carry their owner (pid, start time, pid namespace); other names are not kiln\'s', () => {
  const owner = { pid: 4242, startTime: '123456', pidNamespace: '4026531836' };
  const name = ownedCgroupName('abc-1', owner);
  assert.equal(name, 'abc-1@4242.123456.4026531836');
  assert.deepEqual(ownerOf(name), { id: 'abc-1', owner });
  assert.equal(ownerOf('docker'), undefined);
  assert.equal(ownerOf('5f3a9c'), undefined, 'a name without an owner is never swept');
  assert.equal(ownerOf('x@1.2'), undefined);
  const me = thisProcess();
  assert.equal(ownerGone(me), false);
  assert.equal(ownerGone({ ...me, startTime: `${me.startTime}0` }), true, 'a reused pid is not the owner');
  assert.equal(ownerGone({ ...me, pidNamespace: '1' }), false, 'another pid namespace cannot be checked');
});

test('device rules: docker\'s defaults as v1 lines, --device values, dev_t numbers', () => {
  assert.deepEqual(DEFAULT_DEVICE_RULES.map(v1RuleLine), [
    'c *:* m', 'b *:* m', 'c 1:3 rwm', 'c 1:5 rwm', 'c 1:7 rwm', 'c 1:8 rwm', 'c 1:9 rwm', 'c 5:0 rwm', 'c 5:1 rwm', 'c 5:2 rwm', 'c 10:200 rwm', 'c 136:* rwm',
  ]);
  assert.deepEqual(parseDeviceFlag('/dev/fuse'), { host: '/dev/fuse', container: '/dev/fuse', access: 'rwm' });
  assert.deepEqual(parseDeviceFlag('/dev/sda:r'), { host: '/dev/sda', container: '/dev/sda', access: 'r' });
  assert.deepEqual(parseDeviceFlag('/dev/sda:/dev/xvda'), { host: '/dev/sda', container: '/dev/xvda', access: 'rwm' });
  assert.deepEqual(parseDeviceFlag('/dev/sda:/dev/xvda:wr'), { host: '/dev/sda', container: '/dev/xvda', access: 'rw' });
  assert.throws(() => parseDeviceFlag('/dev/sda:/dev/x:rwx'), /invalid device specification/);
  assert.throws(() => parseDeviceFlag('/dev/sda:relative'), /must be absolute/);
  assert.deepEqual(splitDeviceNumber(0x0801n), { major: 8, minor: 1 });
  assert.deepEqual(splitDeviceNumber(0x1001_0000_0302n), { major: 0x1003, minor: 0x100002 });
});

test('device program: one block per rule, each check skips to the next rule, default deny', () => {
  const insns = deviceProgramInstructions([{ type: 'c', major: 1, minor: 3, access: 'rwm' }, { type: 'b', major: '*', minor: '*', access: 'm' }]);
  // 6 loads, rule 1: type, major, minor checks + verdict; rule 2: type, access (3) + verdict; default.
  assert.equal(insns.length, 6 + 5 + 6 + 2);
  const firstRule = insns.slice(6, 11);
  assert.deepEqual(firstRule.map((i) => i.off), [4, 3, 2, 0, 0], 'a failed check jumps past the verdict');
  assert.deepEqual(insns.slice(-2).map((i) => [i.code, i.imm]), [[0xb7, 0], [0x95, 0]]);
  assert.equal(deviceProgram([]).length, (6 + 2) * 8);
  assert.equal(deviceProgramInstructions([{ type: 'a', major: '*', minor: '*', access: 'rwm' }]).length, 6 + 2, 'allow-all ends the program (nothing unreachable)');
});

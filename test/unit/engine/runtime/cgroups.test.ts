import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cgroupDirs, kilnParents } from '../../../../engine/runtime/cgroups.js';
import { detectCgroupLayout } from '../../../../engine/runtime/cgroupLayout.js';
import { cpuWeightOfShares, limitWrites, v2ControllersNeeded } from '../../../../engine/runtime/cgroupLimits.js';
import { ownedCgroupName, ownerGone, ownerOf, thisProcess } from '../../../../engine/runtime/cgroupOwner.js';
import { DEFAULT_DEVICE_RULES, v1RuleLine } from '../../../../engine/runtime/deviceRules.js';
import { deviceProgram, deviceProgramInstructions } from '../../../../engine/runtime/deviceProgram.js';
import { parseDeviceFlag, splitDeviceNumber } from '../../../../engine/runtime/hostDevices.js';

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
  assert.throws(() => limitWrites(c, 'x', { pids: 3 }), /the pids cgroup controller is not available on this host: it is not mounted as a cgroup v1 hierarchy/);
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

const ALL_LIMITS = {
  memoryBytes: 64 << 20, memorySwapBytes: 128 << 20, memoryReservationBytes: 32 << 20,
  cpuQuota: 50_000, cpuPeriod: 100_000, cpuShares: 512, cpusetCpus: '0', cpusetMems: '0',
  blkioWeight: 300, readBps: [{ major: 7, minor: 0, rate: 1 << 20 }], writeBps: [{ major: 7, minor: 0, rate: 2 << 20 }], writeIops: [{ major: 7, minor: 0, rate: 50 }],
  pids: 20, hugetlb: [{ pageSize: '2MB', bytes: 4 << 20 }],
};

test('every controller on v1: runc\'s files and values; hugetlb goes to the unified hierarchy of a hybrid host', () => {
  const base = detectCgroupLayout(`${HYBRID_WITH_DEVICES}\n36 30 0:32 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n37 30 0:33 / /sys/fs/cgroup/blkio rw - cgroup cgroup rw,blkio`);
  assert.ok(base && base.version === 'v1');
  const l = { ...base, offered: new Set(['hugetlb']) };
  const w = limitWrites(l, 'c', ALL_LIMITS).map((x) => `${x.dir}/${x.file}=${x.value}${x.fallbackFile ? ` (else ${x.fallbackFile})` : ''}`);
  assert.deepEqual(w, [
    '/sys/fs/cgroup/memory/kiln/c/memory.soft_limit_in_bytes=33554432',
    '/sys/fs/cgroup/memory/kiln/c/memory.limit_in_bytes=67108864',
    '/sys/fs/cgroup/memory/kiln/c/memory.memsw.limit_in_bytes=134217728',
    '/sys/fs/cgroup/cpu/kiln/c/cpu.cfs_period_us=100000',
    '/sys/fs/cgroup/cpu/kiln/c/cpu.cfs_quota_us=50000',
    '/sys/fs/cgroup/cpu/kiln/c/cpu.shares=512',
    '/sys/fs/cgroup/cpuset/kiln/c/cpuset.mems=0',
    '/sys/fs/cgroup/cpuset/kiln/c/cpuset.cpus=0',
    '/sys/fs/cgroup/blkio/kiln/c/blkio.weight=300 (else blkio.bfq.weight)',
    '/sys/fs/cgroup/blkio/kiln/c/blkio.throttle.read_bps_device=7:0 1048576',
    '/sys/fs/cgroup/blkio/kiln/c/blkio.throttle.write_bps_device=7:0 2097152',
    '/sys/fs/cgroup/blkio/kiln/c/blkio.throttle.write_iops_device=7:0 50',
    '/sys/fs/cgroup/pids/kiln/c/pids.max=20',
    '/sys/fs/cgroup/unified/kiln/c/hugetlb.2MB.max=4194304',
    '/sys/fs/cgroup/unified/kiln/c/hugetlb.2MB.rsvd.max=4194304',
  ]);
  assert.deepEqual(v2ControllersNeeded(l, ALL_LIMITS), ['hugetlb'], 'the hybrid host enables hugetlb in its unified hierarchy');
  assert.throws(() => limitWrites(l, 'c', { netClsClassid: 1 }), /--net-cls-classid needs the cgroup v1 net_cls controller, which this host does not mount/);
  assert.throws(() => limitWrites({ ...l, offered: new Set() }, 'c', { hugetlb: [{ pageSize: '2MB', bytes: 1 }] }),
    /the hugetlb cgroup controller is not available on this host: it is not mounted as a cgroup v1 hierarchy and the cgroup v2 hierarchy at \/sys\/fs\/cgroup\/unified does not offer it/);
  assert.deepEqual(cgroupDirs(l, 'c', {}, true), [
    '/sys/fs/cgroup/devices/kiln/c', '/sys/fs/cgroup/memory/kiln/c', '/sys/fs/cgroup/cpu/kiln/c', '/sys/fs/cgroup/pids/kiln/c', '/sys/fs/cgroup/blkio/kiln/c', '/sys/fs/cgroup/unified/kiln/c',
  ], 'a managed container joins what stats read, where the host has it');
});

test('every controller on v2: one directory, runc\'s fs2 mapping (cpu.weight from shares, one io.max line per device)', () => {
  const l = { version: 'v2' as const, mountPoint: '/sys/fs/cgroup', offered: new Set(['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids']) };
  const w = limitWrites(l, 'c', ALL_LIMITS).map((x) => `${x.file}=${x.value}`);
  assert.deepEqual(w, [
    'memory.low=33554432', 'memory.max=67108864', 'memory.swap.max=67108864',
    'cpu.max=50000 100000', 'cpu.weight=20',
    'cpuset.mems=0', 'cpuset.cpus=0',
    'io.weight=default 300', 'io.max=7:0 rbps=1048576 wbps=2097152 wiops=50',
    'pids.max=20',
    'hugetlb.2MB.max=4194304', 'hugetlb.2MB.rsvd.max=4194304',
  ]);
  assert.deepEqual(limitWrites(l, 'c', { memoryBytes: 1 << 20, memorySwapBytes: -1 }).map((x) => `${x.file}=${x.value}`), ['memory.max=1048576', 'memory.swap.max=max']);
  assert.deepEqual(limitWrites(l, 'c', { cpuPeriod: 50_000 }).map((x) => `${x.file}=${x.value}`), ['cpu.max=max 50000']);
  assert.equal(cpuWeightOfShares(1024), 39, 'runc ≤1.3 maps the default 1024 shares to 39');
  assert.equal(cpuWeightOfShares(2), 1);
  assert.equal(cpuWeightOfShares(262144), 10000);
  assert.throws(() => limitWrites({ ...l, offered: new Set(['hugetlb']) }, 'c', { memoryBytes: 1 << 20 }),
    /the memory cgroup controller is not available on this host: its cgroup v2 hierarchy at \/sys\/fs\/cgroup offers only: hugetlb/);
});

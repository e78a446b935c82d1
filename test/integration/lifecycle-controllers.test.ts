/**
 * Each cgroup controller kiln drives, observed where it acts: the CPUs a process may run on
 * (Cpus_allowed_list, beside docker's), block writes throttled through a loop device the test
 * makes, huge pages beyond the hugetlb limit refused, a fork beyond --pids-limit refused, the
 * limits as the container's own /sys/fs/cgroup shows them, `kiln stats` against the cgroup
 * files, cgroup v2's freezer on the unified hierarchy of this hybrid host; and the clear errors
 * for what the host cannot do.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isRoot, prerequisite } from '../support/env.js';
import { haveBusybox } from '../../harness/busyboxImage.js';
import { openLifecycleBox, until, type LifecycleBox } from '../support/lifecycle.js';
import { humanSize } from '../../engine/units/humanUnits.js';
import { blockBytes } from '../../engine/runtime/lifecycle/containerStats.js';
import { hostCgroupLayout } from '../../engine/runtime/cgroupLayout.js';
import { v1DirOf, v2DirOf } from '../../engine/runtime/lifecycle/containerCgroupDirs.js';
import { freezerOf, isFrozen, setFrozen } from '../../engine/runtime/lifecycle/freezer.js';

const ready = isRoot && haveBusybox;
const why = 'needs root (namespaces, overlayfs, cgroups) and /bin/busybox (busybox-static)';

/** Maps N MiB of 2 MiB huge pages and touches every page. */
const HUGE_MAP_C = `
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
int main(int argc, char **argv) {
  size_t len = strtoul(argv[1], 0, 10) << 20;
  char *p = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
  if (p == MAP_FAILED) { printf("mmap: %s\\n", strerror(errno)); return 1; }
  memset(p, 1, len);
  printf("mapped %s MiB\\n", argv[1]);
  return 0;
}
`;

function lastHostCpu(): number {
  const online = readFileSync('/sys/devices/system/cpu/online', 'utf8').trim();
  return Number(online.split(/[-,]/).pop());
}

function read(path: string): string {
  return readFileSync(path, 'utf8').trim();
}

describe('cgroup controllers, observed', () => {
  let box: LifecycleBox;
  const work: string[] = [];
  before(async () => {
    if (!ready) return;
    const probe = join(process.env.TMPDIR ?? '/tmp', `kiln-hugemap-${process.pid}`);
    writeFileSync(`${probe}.c`, HUGE_MAP_C);
    execFileSync('gcc', ['-static', '-O1', '-o', probe, `${probe}.c`]);
    work.push(probe, `${probe}.c`);
    box = await openLifecycleBox('ctl', { extra: { '/bin/hugemap': probe } });
  });
  after(async () => {
    if (!ready) return;
    await box.dispose();
    for (const f of work) rmSync(f, { force: true });
  });

  test('--cpuset-cpus / --cpuset-mems: the CPUs and memory nodes the process may use, as docker sets them', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const cpu = String(lastHostCpu());
    const args = ['run', '--rm', '--cpuset-cpus', cpu, '--cpuset-mems', '0', box.image, 'grep', '-E', '^(Cpus|Mems)_allowed_list', '/proc/self/status'];
    const k = await box.kiln(args);
    assert.equal(k.code, 0, k.stderr);
    assert.equal(k.stdout, `Cpus_allowed_list:\t${cpu}\nMems_allowed_list:\t0\n`);
    if (box.docker) assert.equal(k.stdout, (await box.dockerCli(args)).stdout, 'the same as docker run');
  });

  test('limits as the container\'s own /sys/fs/cgroup shows them: shares, quota, reservation, swap, pids', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const layout = hostCgroupLayout();
    if (!prerequisite(t, layout?.version === 'v1', 'the file names below are cgroup v1\'s (this host is v1 hybrid); v2 mappings are unit-tested')) return;
    const files = ['cpu/cpu.shares', 'cpu/cpu.cfs_quota_us', 'cpu/cpu.cfs_period_us', 'memory/memory.soft_limit_in_bytes', 'memory/memory.limit_in_bytes', 'memory/memory.memsw.limit_in_bytes', 'pids/pids.max'];
    const r = await box.kiln(['run', '--rm', '--cpu-shares', '512', '--cpus', '0.5', '--memory-reservation', '32m', '-m', '64m', '--memory-swap', '96m', '--pids-limit', '7',
      box.image, 'cat', ...files.map((f) => `/sys/fs/cgroup/${f}`)]);
    if (r.stderr.includes('memsw')) return void t.skip('this kernel keeps no swap accounting (memory.memsw.*)');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['512', '50000', '100000', String(32 << 20), String(64 << 20), String(96 << 20), '7']);
  });

  test('--pids-limit: a fork beyond it fails inside', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const r = await box.kiln(['run', '--rm', '--pids-limit', '4', box.image, 'sh', '-c', 'for i in 1 2 3 4 5 6; do sleep 2 & done; wait']);
    assert.match(r.stdout + r.stderr, /can't fork|Resource temporarily unavailable/);
  });

  test('--device-write-bps: direct writes to a loop device the test made go no faster than the limit', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const backing = join(box.root, 'disk.img');
    writeFileSync(backing, Buffer.alloc(0));
    execFileSync('truncate', ['-s', '16M', backing]);
    const loop = execFileSync('losetup', ['--find', '--show', backing], { encoding: 'utf8' }).trim();
    try {
      const rate = 1 << 20;
      const bytes = 3 << 20;
      const started = process.hrtime.bigint();
      const r = await box.kiln(['run', '--rm', '--device', loop, '--device-write-bps', `${loop}:1mb`, box.image,
        'dd', 'if=/dev/zero', `of=${loop}`, 'bs=256k', `count=${bytes / (256 << 10)}`, 'oflag=direct']);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`^${bytes / (256 << 10)}\\+0 records out$`, 'm'));
      // The throttle lets a first slice through at once; the rest goes at the rate.
      assert.ok(seconds >= (bytes - rate) / rate, `3 MiB at 1 MiB/s took ${seconds.toFixed(2)} s`);

      const name = `blk-${process.pid}`;
      box.kilnNames.add(name);
      assert.equal((await box.kiln(['run', '-d', '--name', name, '--device', loop, '--device-write-bps', `${loop}:1mb`, box.image,
        'sh', '-c', `dd if=/dev/zero of=${loop} bs=256k count=4 oflag=direct 2>/dev/null; sleep 1000`])).code, 0);
      const rec = box.record(name);
      const blkio = v1DirOf(rec?.cgroupDirs, 'blkio') ?? v2DirOf(rec?.cgroupDirs);
      assert.ok(blkio, 'the container has an I/O cgroup');
      const dev = execFileSync('stat', ['-c', '%t:%T', loop], { encoding: 'utf8' }).trim().split(':').map((h) => parseInt(h, 16)).join(':');
      const limitFile = existsSync(join(blkio, 'blkio.throttle.write_bps_device')) ? 'blkio.throttle.write_bps_device' : 'io.max';
      assert.match(read(join(blkio, limitFile)), new RegExp(`^${dev} (wbps=)?${rate}`, 'm'));
      const counters = join(blkio, limitFile === 'io.max' ? 'io.stat' : 'blkio.throttle.io_service_bytes_recursive');
      const fileWritten = (): number => blockBytes(read(counters)).write;
      await until(() => fileWritten() >= 1 << 20); // 1 MiB at 1 MiB/s: about a second
      const shown = (await box.kiln(['stats', '--no-stream', '--format', '{{.BlockIO}}', name])).stdout.trim();
      assert.equal(shown.split(' / ')[1], humanSize(fileWritten()), 'stats shows what the cgroup counted');
      assert.equal((await box.kiln(['rm', '-f', name])).code, 0);
    } finally {
      execFileSync('losetup', ['-d', loop]);
    }
  });

  test('--hugetlb 2MB:4m: huge pages within the limit map, beyond it they do not', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    if (!prerequisite(t, existsSync('/sys/kernel/mm/hugepages/hugepages-2048kB'), 'this kernel has no 2 MiB huge pages')) return;
    const poolFile = '/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages';
    const was = Number(read(poolFile));
    // Enough pages in the host's pool that only the cgroup limit refuses: 8 MiB beyond what is there.
    writeFileSync(poolFile, String(was + 4));
    try {
      if (!prerequisite(t, Number(read(poolFile)) >= was + 4, 'the kernel could not reserve 4 huge pages for the test')) return;
      const within = await box.kiln(['run', '--rm', '--hugetlb', '2MB:4m', box.image, 'hugemap', '4']);
      assert.equal(within.code, 0, within.stderr + within.stdout);
      assert.equal(within.stdout, 'mapped 4 MiB\n');
      const beyond = await box.kiln(['run', '--rm', '--hugetlb', '2MB:4m', box.image, 'hugemap', '8']);
      assert.notEqual(beyond.code, 0);
      assert.doesNotMatch(beyond.stdout, /mapped/);
      // With the reservation limit the mmap itself fails; with the fault limit alone, the first page beyond it is SIGBUS.
      assert.ok(/mmap: Cannot allocate memory/.test(beyond.stdout) || beyond.code === 128 + 7, `exit ${beyond.code}: ${beyond.stdout}`);
    } finally {
      writeFileSync(poolFile, String(was));
    }
  });

  test('stats: the figures of the cgroup files', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const name = `stats-${process.pid}`;
    box.kilnNames.add(name);
    assert.equal((await box.kiln(['run', '-d', '--name', name, '-m', '64m', '--network', 'none', box.image, 'sh', '-c', 'sleep 1000 & sleep 1000 & wait'])).code, 0);
    const rec = box.record(name);
    const pidsDir = v1DirOf(rec?.cgroupDirs, 'pids') ?? v2DirOf(rec?.cgroupDirs);
    assert.ok(pidsDir);
    const r = await box.kiln(['stats', '--no-stream', '--format', '{{.Name}}|{{.MemUsage}}|{{.NetIO}}|{{.PIDs}}', name]);
    assert.equal(r.code, 0, r.stderr);
    const [shownName, mem, net, pids] = r.stdout.trim().split('|');
    assert.equal(shownName, name);
    assert.equal(pids, read(join(pidsDir, 'pids.current')));
    assert.equal(pids, '3');
    assert.match(mem ?? '', / \/ 64MiB$/, 'the limit of memory.limit_in_bytes');
    assert.equal(net, '0B / 0B', 'only loopback in its own network namespace');
    const table = await box.kiln(['stats', '--no-stream']);
    assert.match(table.stdout, /^CONTAINER ID +NAME +CPU % +MEM USAGE \/ LIMIT +MEM % +NET I\/O +BLOCK I\/O +PIDS\n/);
    assert.match(table.stdout, new RegExp(`^${rec?.id.slice(0, 12)} +${name} +\\d+\\.\\d\\d% +\\S+ / 64MiB +\\d+\\.\\d\\d% +0B / 0B +\\S+ / \\S+ +3$`, 'm'));
  });

  test('cgroup v2 freezer: cgroup.freeze in the container\'s unified-hierarchy cgroup stops it, and thawing lets it go on', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const layout = hostCgroupLayout();
    const v2Root = layout?.version === 'v2' ? layout.mountPoint : layout?.unified;
    if (!prerequisite(t, v2Root !== undefined, 'this host mounts no cgroup2 hierarchy')) return;
    const name = `freeze2-${process.pid}`;
    box.kilnNames.add(name);
    // A counter the container bumps every 10 ms: it moves unless every process of the cgroup is frozen.
    assert.equal((await box.kiln(['run', '-d', '--name', name, '--network', 'none', box.image,
      'sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i > /tmp/n; usleep 10000; done'])).code, 0);
    const rec = box.record(name);
    const v2 = v2DirOf(rec?.cgroupDirs);
    assert.ok(v2 !== undefined && existsSync(join(v2, 'cgroup.freeze')), 'the container joined a cgroup2 cgroup with cgroup.freeze');
    // Drive the v2 path even though this host's pause uses the v1 freezer: the freezer found from the v2 directory alone.
    const freezer = freezerOf([v2]);
    assert.deepEqual(freezer, { kind: 'v2', dir: v2 });
    const counter = async (): Promise<number> => Number((await box.kiln(['exec', name, 'cat', '/tmp/n'])).stdout.trim());
    await until(async () => (await counter()) > 0);
    await setFrozen(freezer, true);
    assert.ok(isFrozen(freezer));
    assert.match(read(join(v2, 'cgroup.events')), /^frozen 1$/m, 'the kernel says every process is frozen');
    const procs = read(join(v2, 'cgroup.procs')).split('\n').filter((p) => p !== '');
    assert.ok(procs.length > 0);
    // Read the counter from the host through the container's root: an exec would join the frozen cgroup and hang.
    const counterFile = `/proc/${procs[0]}/root/tmp/n`;
    const frozenAt = read(counterFile);
    await sleep(500); // the loop would count ~50 in this time: showing no progress needs some time to pass
    assert.equal(read(counterFile), frozenAt, 'no progress while frozen');
    await setFrozen(freezer, false);
    assert.ok(!isFrozen(freezer));
    assert.match(read(join(v2, 'cgroup.events')), /^frozen 0$/m);
    await until(() => read(counterFile) !== frozenAt);
    assert.equal((await box.kiln(['rm', '-f', name])).code, 0);
  });

  test('clear errors: a cpuset outside the host\'s CPUs, a controller the host lacks', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const containers = async (): Promise<string> => (await box.kiln(['ps', '-a', '-q', '--no-trunc'])).stdout;
    const before = await containers();
    const cpus = lastHostCpu() + 64;
    const r = await box.kiln(['run', '--rm', '--cpuset-cpus', String(cpus), box.image, 'true']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, new RegExp(`^kiln: Requested CPUs are not available - requested ${cpus}, available: \\S+\\n$`));
    if (box.docker) assert.match((await box.dockerCli(['run', '--rm', '--cpuset-cpus', String(cpus), box.image, 'true'])).stderr, new RegExp(`Requested CPUs are not available - requested ${cpus}`));
    const layout = hostCgroupLayout();
    if (layout?.version === 'v1' && !layout.controllers.has('net_cls')) {
      const n = await box.kiln(['run', '--rm', '--net-cls-classid', '0x10001', box.image, 'true']);
      assert.equal(n.code, 125);
      assert.match(n.stderr, /^kiln: --net-cls-classid needs the cgroup v1 net_cls controller, which this host does not mount/);
    }
    assert.equal(await containers(), before, 'a refused run leaves no container');
  });
});

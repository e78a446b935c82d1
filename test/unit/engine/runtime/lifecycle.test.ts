/**
 * Lifecycle rules without a container: restart policies decided as moby's restart manager
 * decides them, signal names, the attach socket's frames, and the resource flags' checks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRestartPolicy, RestartManager } from '../../../../engine/runtime/lifecycle/restartPolicy.js';
import { signalName } from '../../../../engine/runtime/lifecycle/signals.js';
import { FrameKind, FrameReader, frame, socketPath } from '../../../../engine/runtime/lifecycle/attachFrames.js';
import { parseArgs } from '../../../../engine/cli/args.js';
import { spec as runSpec } from '../../../../engine/cli/run.js';
import { parseClassid, resourceLimits } from '../../../../engine/cli/resourceFlags.js';
import { parseIdList, pageSizeName } from '../../../../engine/runtime/hostResources.js';

test('--restart values, with docker\'s refusals', () => {
  assert.deepEqual(parseRestartPolicy('no'), { name: 'no', maximumRetryCount: 0 });
  assert.deepEqual(parseRestartPolicy('on-failure:3'), { name: 'on-failure', maximumRetryCount: 3 });
  assert.deepEqual(parseRestartPolicy('unless-stopped'), { name: 'unless-stopped', maximumRetryCount: 0 });
  assert.throws(() => parseRestartPolicy('always:2'), /maximum retry count cannot be used with restart policy 'always'/);
  assert.throws(() => parseRestartPolicy('sometimes'), /invalid restart policy/);
  assert.throws(() => parseRestartPolicy('on-failure:x'), /non-negative integer/);
});

test('restart decisions and delays as moby\'s restart manager makes them', () => {
  const never = { canceled: false, stoppedByHand: false };
  const always = new RestartManager(parseRestartPolicy('always'));
  assert.deepEqual([always.decide(0, never, 0), always.decide(0, never, 0), always.decide(1, never, 0)], [100, 200, 400], 'doubling from 100 ms');
  assert.equal(always.decide(0, never, 10_000), 100, 'back to 100 ms after a run of ten seconds');
  assert.equal(always.decide(0, { canceled: true, stoppedByHand: true }, 0), undefined, 'a stop cancels');
  assert.equal(always.decide(0, { canceled: false, stoppedByHand: true }, 0), 200, 'always ignores a kill with another signal');
  const unless = new RestartManager(parseRestartPolicy('unless-stopped'));
  assert.equal(unless.decide(0, { canceled: false, stoppedByHand: true }, 0), undefined, 'unless-stopped does not');
  const onFailure = new RestartManager(parseRestartPolicy('on-failure:2'));
  assert.equal(onFailure.decide(0, never, 0), undefined, 'a clean exit is not a failure');
  assert.ok(onFailure.decide(1, never, 0) !== undefined);
  assert.ok(onFailure.decide(1, never, 0) !== undefined);
  assert.equal(onFailure.decide(1, never, 0), undefined, 'two retries, then no more');
  assert.equal(onFailure.count, 2);
  const limitless = new RestartManager(parseRestartPolicy('on-failure'));
  for (let i = 0; i < 20; i++) assert.ok(limitless.decide(3, never, 0) !== undefined);
  assert.equal(limitless.decide(3, never, 0), 60_000, 'delays stop growing at a minute');
});

test('signal names as docker takes them', () => {
  assert.equal(signalName('TERM'), 'SIGTERM');
  assert.equal(signalName('sigusr1'), 'SIGUSR1');
  assert.equal(signalName('9'), 'SIGKILL');
  assert.throws(() => signalName('SIGNOPE'), /Invalid signal: SIGNOPE/);
});

test('attach frames survive any chunking; long socket paths go through /proc/self/fd', () => {
  const wire = Buffer.concat([frame(FrameKind.Stdout, 'out'), frame(FrameKind.Stderr, Buffer.alloc(70_000, 1)), frame(FrameKind.Exit, '3')]);
  const got: [number, number][] = [];
  const reader = new FrameReader((kind, payload) => got.push([kind, payload.length]));
  for (let i = 0; i < wire.length; i += 7) reader.push(wire.subarray(i, i + 7));
  assert.deepEqual(got, [[FrameKind.Stdout, 3], [FrameKind.Stderr, 70_000], [FrameKind.Exit, 1]]);
  assert.deepEqual(socketPath('/var/lib/kiln/containers/abc', () => 9), { path: '/var/lib/kiln/containers/abc/attach.sock' });
  assert.deepEqual(socketPath(`/tmp/${'x'.repeat(120)}`, () => 9), { path: '/proc/self/fd/9/attach.sock', dirFd: 9 });
});

test('resource flags: docker\'s checks and messages', async () => {
  const limits = (argv: string[]): ReturnType<typeof resourceLimits> => resourceLimits(parseArgs(runSpec, [...argv, 'img']));
  assert.deepEqual(await limits(['-m', '64m', '--memory-swap', '128m', '--memory-reservation', '32m']), { memoryBytes: 64 << 20, memorySwapBytes: 128 << 20, memoryReservationBytes: 32 << 20 });
  assert.deepEqual(await limits(['-m', '64m', '--memory-swap', '-1']), { memoryBytes: 64 << 20, memorySwapBytes: -1 });
  await assert.rejects(limits(['--memory-swap', '1g']), /You should always set the Memory limit when using Memoryswap limit/);
  await assert.rejects(limits(['-m', '64m', '--memory-swap', '32m']), /Minimum memoryswap limit should be larger than memory limit/);
  await assert.rejects(limits(['-m', '64m', '--memory-reservation', '128m']), /Minimum memory limit can not be less than memory reservation limit/);
  await assert.rejects(limits(['--kernel-memory', '64m']), /--kernel-memory is no longer supported/);
  await assert.rejects(limits(['--cpus', '1', '--cpu-period', '50000']), /Conflicting options: Nano CPUs and CPU Period cannot both be set/);
  await assert.rejects(limits(['--cpu-quota', '500']), /CPU cfs quota can not be less than 1ms/);
  await assert.rejects(limits(['--cpu-period', '2000000']), /CPU cfs period can not be less than 1ms \(i.e. 1000\) or larger than 1s/);
  assert.deepEqual(await limits(['--cpu-quota', '50000', '--cpu-period', '100000', '-c', '512']), { cpuPeriod: 100000, cpuQuota: 50000, cpuShares: 512 });
  await assert.rejects(limits(['--cpuset-cpus', '0-4096']), /Requested CPUs are not available - requested 0-4096, available: /);
  await assert.rejects(limits(['--cpuset-cpus', 'x']), /Invalid value x for cpuset cpus/);
  await assert.rejects(limits(['--blkio-weight', '5']), /Range of blkio weight is from 10 to 1000/);
  await assert.rejects(limits(['--device-write-bps', '/dev/null:1mb']), /\/dev\/null is not a block device/);
  await assert.rejects(limits(['--hugetlb', '3MB:10m']), /this host has no 3MB huge pages/);
  assert.equal(parseClassid('0x100001'), 0x100001);
  assert.equal(parseClassid('10:1'), 0x100001, 'tc\'s MAJOR:MINOR, in hex');
  assert.equal(parseIdList('0-2,5')?.size, 4);
  assert.equal(parseIdList('1-0'), undefined);
  assert.equal(pageSizeName(2 * 1024 * 1024), '2MB');
  assert.equal(pageSizeName(1024 ** 3), '1GB');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { binarySize, humanSize } from '../../../../engine/units/humanUnits.js';
import { blockBytes, cpuPercent, hostCpuNs, keyedValues, networkBytes, type StatsSample } from '../../../../engine/runtime/lifecycle/containerStats.js';

test('block IO: blkio service bytes (v1) and io.stat (v2), every device summed', () => {
  assert.deepEqual(blockBytes('7:3 Read 4096\n7:3 Write 1048576\n7:3 Sync 0\n7:3 Total 1052672\n8:0 Read 10\n8:0 Write 0\nTotal 1052682\n'), { read: 4106, write: 1048576 });
  assert.deepEqual(blockBytes('7:3 rbytes=4096 wbytes=1048576 rios=1 wios=4 dbytes=0 dios=0\n8:0 rbytes=10 wbytes=2 rios=1 wios=1\n'), { read: 4106, write: 1048578 });
  assert.deepEqual(blockBytes(''), { read: 0, write: 0 });
});

test('network: the bytes of every interface but loopback', () => {
  const netDev = [
    'Inter-|   Receive                                                |  Transmit',
    ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
    '    lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0',
    '  eth0:    2500      20    0    0    0     0          0         0      700       7    0    0    0     0       0          0',
  ].join('\n');
  assert.deepEqual(networkBytes(netDev), { rx: 2500, tx: 700 });
});

test('CPU %: the container\'s share of the host\'s CPU time, times the CPUs (docker\'s formula)', () => {
  assert.equal(hostCpuNs('cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\n'), 10e9);
  const at = (cpuNs: number, systemNs: number): StatsSample => ({ cpuNs, systemNs, onlineCpus: 2, memoryBytes: 0, memoryLimitBytes: 0, pids: 0, blockReadBytes: 0, blockWriteBytes: 0, netRxBytes: 0, netTxBytes: 0 });
  assert.equal(cpuPercent(at(0, 0), at(1e9, 2e9)), 100, 'one CPU busy of two');
  assert.equal(cpuPercent(at(5, 5), at(5, 5)), 0);
  assert.deepEqual([...keyedValues('usage_usec 1500\nuser_usec 1000\n')], [['usage_usec', 1500], ['user_usec', 1000]]);
});

test('sizes as docker stats prints them: memory in binary units, IO in decimal', () => {
  assert.equal(binarySize(436 * 1024), '436KiB');
  assert.equal(binarySize(64 * 1024 * 1024), '64MiB');
  assert.equal(binarySize(1.199 * 1024 * 1024), '1.199MiB');
  assert.equal(binarySize(0), '0B');
  assert.equal(humanSize(1048576), '1.05MB');
});

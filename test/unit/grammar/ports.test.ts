/** EXPOSE port specs as BuildKit reads them; node:net is loaded only for a spec naming a host IP. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parsePortSpec, PortError } from '../../../grammar/ports.js';
import { repoRoot } from '../../support/env.js';

test('a port, a range, a protocol; a host IP and host port are accepted and dropped', () => {
  assert.deepEqual(parsePortSpec('8080'), ['8080/tcp']);
  assert.deepEqual(parsePortSpec('53/UDP'), ['53/udp']);
  assert.deepEqual(parsePortSpec('8000-8002/sctp'), ['8000/sctp', '8001/sctp', '8002/sctp']);
  assert.deepEqual(parsePortSpec('127.0.0.1:80:80'), ['80/tcp']);
  assert.deepEqual(parsePortSpec('[::1]:81:81/udp'), ['81/udp']);
  assert.deepEqual(parsePortSpec('0.0.0.0::90'), ['90/tcp']);
});

test('a bad host IP, port, range or protocol is a PortError naming it', () => {
  assert.throws(() => parsePortSpec('999.1.1.1:80:80'), (e: unknown) => e instanceof PortError && /invalid IP address: 999\.1\.1\.1/.test(e.message));
  assert.throws(() => parsePortSpec('[::1:80:80'), /invalid IP address \[::1/);
  assert.throws(() => parsePortSpec('70000'), /invalid containerPort: 70000/);
  assert.throws(() => parsePortSpec('90-80'), /invalid containerPort: 90-80/);
  assert.throws(() => parsePortSpec('80/icmp'), /invalid proto: icmp/);
  assert.throws(() => parsePortSpec('1-3:1-2'), /invalid ranges specified/);
});

test('specs without a host IP do not load node:net', () => {
  const ports = join(repoRoot, 'dist', 'grammar', 'ports.js');
  const script = `const { parsePortSpec } = await import(${JSON.stringify(ports)});
    parsePortSpec('8080/udp'); parsePortSpec('8000-8001');
    const before = process.moduleLoadList.includes('NativeModule net');
    parsePortSpec('10.0.0.1:80:80');
    console.log(JSON.stringify([before, process.moduleLoadList.includes('NativeModule net')]));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), [false, true]);
});

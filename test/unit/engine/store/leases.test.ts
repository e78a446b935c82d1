/**
 * Leases and process tags: a hold made while a live collection runs waits for it to end (and a
 * name held twice is safe only when the first hold's wait is over); a collection reads what live
 * leases hold and releases dead ones; tags tell a reused pid from the process that had it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beginCollection, Lease, releaseDeadLeases } from '../../../../engine/store/leases.js';
import { parseTag, processStartTime, selfTag, tagAlive } from '../../../../engine/host/processIdentity.js';

const digest = (c: string): string => `sha256:${c.repeat(64)}`;

test('a process tag is its pid and start time; a reused pid does not pass for the dead process', () => {
  const tag = parseTag(selfTag());
  assert.equal(tag?.pid, process.pid);
  assert.equal(tag?.start, processStartTime(process.pid));
  assert.ok(tagAlive(tag!));
  assert.ok(!tagAlive({ pid: process.pid, start: '1' }), 'same pid, another start time: that process is gone');
  assert.ok(!tagAlive({ pid: 999_999_999, start: undefined }));
  assert.deepEqual(parseTag('123-456-abc'), { pid: 123, start: '456' });
  assert.deepEqual(parseTag('123 token'), { pid: 123, start: undefined });
  assert.equal(parseTag('lease'), undefined);
});

test('a collection sees what live leases hold, releases dead ones, and skips its own', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-leases-'));
  try {
    const mine = new Lease(dir);
    const other = new Lease(dir);
    await mine.hold([digest('a')]);
    await other.hold([digest('b'), 'record:0123']);
    writeFileSync(join(dir, '999999999-1-dead'), `${digest('c')}\n`);
    const c = beginCollection(dir, mine.fileName);
    assert.deepEqual([...c.held].sort(), ['record:0123', digest('b')]);
    assert.ok(!existsSync(join(dir, '999999999-1-dead')), 'a dead lease is released');
    c.end();
    assert.ok(!existsSync(join(dir, '.collecting')));
    other.release();
    mine.release();
    writeFileSync(join(dir, '999999999-1-dead'), `${digest('c')}\n`);
    releaseDeadLeases(dir);
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a hold waits while a live collection runs; a second hold of the same name waits with it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-leases-'));
  try {
    const lease = new Lease(dir);
    const c = beginCollection(dir);
    let first = false;
    let second = false;
    const a = lease.hold([digest('d')]).then(() => { first = true; });
    const b = lease.hold([digest('d')]).then(() => { second = true; });
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(!first && !second, 'neither hold is safe while the collection that may have missed the name runs');
    c.end();
    await Promise.all([a, b]);
    assert.ok(first && second);
    // A marker a dead collector left does not block anyone.
    symlinkSync('999999999-1', join(dir, '.collecting'));
    await lease.hold([digest('e')]);
    lease.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

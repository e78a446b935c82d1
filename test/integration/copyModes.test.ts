/**
 * COPY keeps special mode bits as docker does: setuid on files (also with --chown, since
 * chown clears the bit and the mode must be set after it) and setgid on copied directories
 * (a destination the copy creates is a new 0755 directory, as in BuildKit).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, linkSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../engine/store/store.js';
import { commitBusyboxImage, haveBusybox } from '../../harness/busyboxImage.js';
import { isRoot, kilnBin, prerequisite } from '../support/env.js';
import { makeContext } from '../support/kilnProcess.js';

const base = mkdtempSync(join(tmpdir(), 'kiln-copy-modes-'));
const storeRoot = join(base, 'store');

before(async () => {
  if (!isRoot || !haveBusybox) return;
  await commitBusyboxImage(await Store.open({ root: storeRoot }), 'kiln-test/busybox:latest');
});
after(() => rmSync(base, { recursive: true, force: true }));

test('COPY keeps setuid files (with and without --chown) and setgid directories', (t) => {
  if (!prerequisite(t, isRoot, 'build containers need root') || !prerequisite(t, haveBusybox, 'needs /bin/busybox (busybox-static)')) return;
  const ctx = makeContext(base, 'ctx', [
    'FROM kiln-test/busybox',
    'COPY tool /tool',
    'COPY --chown=1000:1000 tool /owned',
    'COPY . /all/',
    'CMD ["sh", "-c", "stat -c \'%a %u %n\' /tool /owned /all/shared"]',
  ].join('\n') + '\n', { tool: '#!/bin/sh\n', 'shared/keep': 'k\n' }, 1_600_000_000);
  chmodSync(join(ctx, 'tool'), 0o4755);
  chmodSync(join(ctx, 'shared'), 0o2775);
  const env = { ...process.env, KILN_ROOT: storeRoot };
  const built = spawnSync(process.execPath, [kilnBin, 'build', '-q', '-t', 'modes', ctx], { encoding: 'utf8', env });
  assert.equal(built.status, 0, built.stderr);
  const run = spawnSync(process.execPath, [kilnBin, 'run', '--rm', 'modes'], { encoding: 'utf8', env });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout, '4755 0 /tool\n4755 1000 /owned\n2775 0 /all/shared\n');
});

test('a source named twice that holds a hardlinked pair copies, and the pair stays linked', (t) => {
  if (!prerequisite(t, isRoot, 'build containers need root') || !prerequisite(t, haveBusybox, 'needs /bin/busybox (busybox-static)')) return;
  const ctx = makeContext(base, 'twice', [
    'FROM kiln-test/busybox',
    'COPY a a /s/',
    'CMD ["sh", "-c", "stat -c \'%h %n\' /s/one /s/two"]',
  ].join('\n') + '\n', { 'a/one': 'linked\n' }, 1_600_000_000);
  linkSync(join(ctx, 'a', 'one'), join(ctx, 'a', 'two'));
  const env = { ...process.env, KILN_ROOT: storeRoot };
  const built = spawnSync(process.execPath, [kilnBin, 'build', '-q', '-t', 'twice', ctx], { encoding: 'utf8', env });
  assert.equal(built.status, 0, built.stderr);
  const run = spawnSync(process.execPath, [kilnBin, 'run', '--rm', 'twice'], { encoding: 'utf8', env });
  assert.equal(run.stdout, '2 /s/one\n2 /s/two\n', run.stderr);
});

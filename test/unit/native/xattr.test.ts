import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativeBinding } from '../../../native/index.js';
import { hasCommand, prerequisite } from '../../support/env.js';

test('the addon reads extended attributes without following symlinks', (t) => {
  if (!prerequisite(t, hasCommand('setfattr'), 'needs setfattr (Debian package attr) to set test attributes')) return;
  const dir = mkdtempSync(join(tmpdir(), 'kiln-xattr-'));
  try {
    const file = join(dir, 'f');
    writeFileSync(file, '');
    execFileSync('setfattr', ['-n', 'user.kiln', '-v', 'value', file]);
    symlinkSync(file, join(dir, 'link'));
    const native = nativeBinding();
    assert.equal(native.getXattr(file, 'user.kiln')?.toString(), 'value');
    assert.equal(native.getXattr(file, 'user.absent'), null);
    assert.deepEqual(Object.keys(native.listXattrs(file)), ['user.kiln']);
    assert.deepEqual(native.listXattrs(join(dir, 'link')), {}, 'the link itself has none');
    assert.deepEqual(native.listXattrs(join(dir, 'missing')), {});
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

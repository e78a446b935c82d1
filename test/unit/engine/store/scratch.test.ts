/**
 * Scratch dirs at exit: a process's own are removed when it exits — all of them, after one
 * read of the mount table — except one with something still mounted beneath it (removing it
 * would reach into the mount); a dir already gone is no error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRoot } from '../../../support/env.js';

const scratchModule = resolve(fileURLToPath(import.meta.url), '../../../../../engine/store/scratch.js');

test('at exit a process removes its scratch dirs, keeps one with a mount beneath it, and minds none already gone', (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'kiln-scratch-'));
  t.after(() => {
    spawnSync('umount', ['-R', '-l', ...readdirSync(tmp).map((n) => join(tmp, n, 'mnt'))], { stdio: 'ignore' });
    rmSync(tmp, { recursive: true, force: true });
  });
  const script = `
    import { makeScratchDir } from ${JSON.stringify(scratchModule)};
    import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
    import { join } from 'node:path';
    import { spawnSync } from 'node:child_process';
    const dirs = [];
    for (let i = 0; i < 5; i++) dirs.push(await makeScratchDir(${JSON.stringify(tmp)}, 'test'));
    mkdirSync(join(dirs[0], 'deep', 'er'), { recursive: true });
    writeFileSync(join(dirs[0], 'deep', 'er', 'f'), 'x');
    rmSync(dirs[1], { recursive: true });
    if (${isRoot}) {
      mkdirSync(join(dirs[2], 'mnt'));
      if (spawnSync('mount', ['-t', 'tmpfs', 'kiln-scratch-test', join(dirs[2], 'mnt')]).status !== 0) process.exit(3);
    }
    process.stdout.write(JSON.stringify(dirs));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const dirs = JSON.parse(r.stdout) as string[];
  assert.equal(dirs.length, 5);
  const left = dirs.filter((d) => existsSync(d));
  assert.deepEqual(left, isRoot ? [dirs[2]] : [], 'only the dir with a mount beneath it is left');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, linkSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativeBinding } from '../../../native/index.js';
import { listDirectory, type EntryStats } from '../../../engine/host/directoryListing.js';
import { SourceTree } from '../../../engine/context/sourceTree.js';
import { hasCommand, isRoot, prerequisite } from '../../support/env.js';

const FIELDS = ['mode', 'uid', 'gid', 'size', 'ino', 'dev', 'nlink', 'rdev', 'mtimeMs', 'ctimeMs'] as const;

function withDir(run: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-listdir-'));
  try {
    run(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function sameAsLstat(listed: EntryStats, path: string): void {
  const st = lstatSync(path);
  for (const f of FIELDS) assert.equal(listed[f], st[f], `${path}: ${f}`);
  assert.equal(listed.mtime.getTime(), st.mtime.getTime(), `${path}: mtime`);
  for (const is of ['isFile', 'isDirectory', 'isSymbolicLink', 'isFIFO', 'isSocket', 'isCharacterDevice', 'isBlockDevice'] as const) {
    assert.equal(listed[is](), st[is](), `${path}: ${is}`);
  }
}

test('the addon lists a directory with each entry\'s lstat, exactly as node\'s fs gives it', () => {
  withDir((dir) => {
    writeFileSync(join(dir, 'file'), 'some bytes');
    linkSync(join(dir, 'file'), join(dir, 'hardlink'));
    mkdirSync(join(dir, 'sub'));
    symlinkSync('file', join(dir, 'link'));
    symlinkSync('missing', join(dir, 'dangling'));
    writeFileSync(join(dir, 'ünïcode name'), '');
    if (hasCommand('mkfifo')) execFileSync('mkfifo', [join(dir, 'fifo')]);
    const raw = nativeBinding().listDirectory(dir);
    assert.equal(raw.stats.length, raw.count * FIELDS.length);
    const listed = listDirectory(dir);
    const names = listed.map((e) => e.name).sort();
    const expected = ['dangling', 'file', 'hardlink', 'link', 'sub', 'ünïcode name', ...(hasCommand('mkfifo') ? ['fifo'] : [])].sort();
    assert.deepEqual(names, expected, 'every entry, no . or ..');
    for (const e of listed) sameAsLstat(e.stats, join(dir, e.name));
    assert.deepEqual(listDirectory(join(dir, 'sub')), []);
  });
});

test('a directory that cannot be listed throws as node\'s fs does: code, errno, syscall, path', () => {
  withDir((dir) => {
    writeFileSync(join(dir, 'file'), '');
    const missing = join(dir, 'gone');
    assert.throws(() => listDirectory(missing), (e: NodeJS.ErrnoException) => e.code === 'ENOENT' && e.errno === -2 && e.syscall === 'scandir' && e.path === missing);
    assert.throws(() => listDirectory(join(dir, 'file')), (e: NodeJS.ErrnoException) => e.code === 'ENOTDIR');
    assert.throws(() => nativeBinding().listDirectory(missing), (e: NodeJS.ErrnoException) => e.errno === 2, 'the addon itself reports errno');
  });
});

test('an unreadable directory, or one whose entries cannot be stat\'ed, is an error (EACCES), not an empty listing', (t) => {
  // root reads everything: the listing runs as nobody in a child process.
  if (!prerequisite(t, isRoot, 'needs root to run the listing as another user')) return;
  withDir((dir) => {
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, 'closed'), 0o700);
    writeFileSync(join(dir, 'closed', 'f'), '');
    mkdirSync(join(dir, 'listable'));
    writeFileSync(join(dir, 'listable', 'f'), '');
    chmodSync(join(dir, 'listable'), 0o744); // readable, not searchable: the names but no lstat
    const listing = new URL('../../../engine/host/directoryListing.js', import.meta.url).pathname;
    const script = `import { listDirectory } from ${JSON.stringify(listing)};
      for (const d of process.argv.slice(1)) { try { listDirectory(d); console.log('listed'); } catch (e) { console.log(e.code, e.syscall); } }`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, join(dir, 'closed'), join(dir, 'listable')], { uid: 65534, gid: 65534, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['EACCES scandir', 'EACCES lstat']);
  });
});

test('symlink loops are listed as symlinks and never followed by a walk', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-listdir-'));
  try {
    mkdirSync(join(dir, 'a', 'b'), { recursive: true });
    writeFileSync(join(dir, 'a', 'b', 'f'), 'x');
    symlinkSync('..', join(dir, 'a', 'b', 'up'));
    symlinkSync('.', join(dir, 'a', 'self'));
    symlinkSync('loop2', join(dir, 'loop1'));
    symlinkSync('loop1', join(dir, 'loop2'));
    const loop = listDirectory(dir).find((e) => e.name === 'loop1');
    assert.ok(loop?.stats.isSymbolicLink());
    const entries = await new SourceTree(dir, 'build context').walk('', dir);
    assert.deepEqual(entries.map((e) => `${e.rel}${e.stats.isSymbolicLink() ? '@' : ''}`), ['a', 'a/b', 'a/b/f', 'a/b/up@', 'a/self@', 'loop1@', 'loop2@']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a directory removed while the tree is walked is left out, not an error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-listdir-'));
  try {
    for (const d of ['a', 'b']) {
      mkdirSync(join(dir, d, 'deep'), { recursive: true });
      writeFileSync(join(dir, d, 'deep', 'f'), d);
    }
    // The tree's `hidden` check sees each entry as it is listed: the first one it sees removes b,
    // which the walk has listed (and stat'ed) but not yet entered.
    let removed = false;
    const tree = new SourceTree(dir, 'build context', undefined, () => {
      if (!removed) rmSync(join(dir, 'b'), { recursive: true });
      removed = true;
      return false;
    });
    const entries = await tree.walk('', dir);
    assert.deepEqual(entries.map((e) => e.rel), ['a', 'a/deep', 'a/deep/f', 'b']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

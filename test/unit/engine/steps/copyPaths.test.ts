import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { destinationPath, parentsRelative, runCopy } from '../../../../engine/steps/copyFiles.js';
import { DiffTree } from '../../../../engine/layer/diffTree.js';
import { SourceTree } from '../../../../engine/context/sourceTree.js';
import { IgnoreMatcher } from '../../../../engine/context/dockerignore.js';
import { resolveInRoot } from '../../../../engine/context/scopedPath.js';
import { resolveChown } from '../../../../engine/steps/chown.js';

test('destination: trailing slash means a directory; relative paths are under WORKDIR', () => {
  assert.deepEqual(destinationPath('/app/', '/'), { path: '/app', isDir: true });
  assert.deepEqual(destinationPath('app', '/srv'), { path: '/srv/app', isDir: false });
  assert.deepEqual(destinationPath('.', '/srv'), { path: '/srv', isDir: true });
  assert.deepEqual(destinationPath('../x/', '/srv/a'), { path: '/srv/x', isDir: true });
});

test('--parents keeps the path after a /./ pivot', () => {
  assert.equal(parentsRelative('src/./lib/a.js', 'src/lib/a.js'), 'lib/a.js');
  assert.equal(parentsRelative('src/lib/a.js', 'src/lib/a.js'), 'src/lib/a.js');
  assert.equal(parentsRelative('./x/*.txt', 'x/1.txt'), 'x/1.txt');
});

test('sources: wildcards per segment, ignored files do not exist, symlinks stay inside the root', async () => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-ctx-'));
  try {
    await mkdir(join(root, 'src/sub'), { recursive: true });
    await writeFile(join(root, 'src/a.txt'), 'a');
    await writeFile(join(root, 'src/b.txt'), 'b');
    await writeFile(join(root, 'src/sub/c.txt'), 'c');
    await writeFile(join(root, 'secret.key'), 'k');
    await symlink('/etc/passwd', join(root, 'escape'));
    const tree = new SourceTree(root, 'build context', new IgnoreMatcher(['*.key', 'src/b.txt']));
    const star = await tree.match('src/*.txt');
    assert.equal(star.wildcard, true);
    assert.deepEqual(star.matches.map((m) => m.rel), ['src/a.txt']);
    assert.deepEqual((await tree.match('secret.key')).matches, []);
    assert.deepEqual((await tree.match('/../src/a.txt')).matches.map((m) => m.rel), ['src/a.txt']);
    // The absolute symlink resolves inside the context, where /etc/passwd does not exist.
    assert.deepEqual((await tree.match('escape')).matches, []);
    assert.equal(await resolveInRoot(root, 'escape'), join(root, 'etc/passwd'));
    const walked = await tree.walk('src', join(root, 'src'));
    assert.deepEqual(walked.map((e) => e.rel), ['a.txt', 'sub', 'sub/c.txt']);
    const excluded = await tree.walk('src', join(root, 'src'), new IgnoreMatcher(['sub']));
    assert.deepEqual(excluded.map((e) => e.rel), ['a.txt']);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('--chown: numbers, names through passwd and group, unknown names refused', () => {
  const passwd = 'root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n';
  const group = 'root:x:0:\nstaff:x:50:app\napp:x:1001:\n';
  assert.deepEqual(resolveChown('10', passwd, group), { uid: 10, gid: 10 });
  assert.deepEqual(resolveChown('app', passwd, group), { uid: 1000, gid: 1001 });
  assert.deepEqual(resolveChown('app:staff', passwd, group), { uid: 1000, gid: 50 });
  assert.deepEqual(resolveChown('7:8', undefined, undefined), { uid: 7, gid: 8 });
  assert.throws(() => resolveChown('nobody', passwd, group), /unable to find user nobody/);
  assert.throws(() => resolveChown('app:nogroup', passwd, group), /unable to find group nogroup/);
});

test('a directory re-included under an ignored one (logs, !logs/sub) is copied; its ignored parent comes with its own mode, as BuildKit sends it', async () => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-ctx-reinclude-'));
  try {
    await mkdir(join(root, 'logs/sub'), { recursive: true });
    await writeFile(join(root, 'logs/a.log'), 'a');
    await writeFile(join(root, 'logs/sub/c.log'), 'c');
    await chmod(join(root, 'logs'), 0o750);
    const tree = new SourceTree(root, 'build context', new IgnoreMatcher(['logs', '!logs/sub']));
    const layer = new DiffTree();
    const timestamp = new Date(1_700_000_000_000);
    await runCopy({
      sources: ['.'], heredocs: [], dest: '/all/', workdir: '/', tree, resetOwner: true, chown: undefined, chmod: undefined,
      parents: false, exclude: [], view: undefined, layer, timestamp, instruction: 'COPY',
    });
    const logs = layer.get('/all/logs');
    assert.equal(logs?.type, 'directory');
    assert.equal(logs?.mode, 0o750, 'the parent keeps the mode it has in the context');
    assert.equal(logs?.uid, 0, 'and belongs to root like every context file');
    assert.equal(logs?.mtimeMs, (await stat(join(root, 'logs'))).mtime.getTime());
    assert.equal(layer.get('/all/logs/sub/c.log')?.type, 'file');
    assert.equal(layer.get('/all/logs/a.log'), undefined);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstatSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lookupInLayers, readImageFile, rememberingProbe } from '../../../../engine/runtime/imageFiles.js';
import { nativeBinding } from '../../../../native/index.js';
import { hasCommand, isRoot, prerequisite } from '../../../support/env.js';

/** Files of a layer: content for a file, 'dir', 'whiteout', 'opaque' (an opaque dir), or '->target' for a symlink. */
type LayerSpec = Record<string, string>;

async function makeLayer(dir: string, spec: LayerSpec): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [path, what] of Object.entries(spec)) {
    const p = join(dir, path);
    await mkdir(join(p, '..'), { recursive: true });
    if (what === 'dir' || what === 'opaque') {
      await mkdir(p, { recursive: true });
      if (what === 'opaque') execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', p]);
    } else if (what === 'whiteout') execFileSync('mknod', [p, 'c', '0', '0']);
    else if (what.startsWith('->')) await symlink(what.slice(2), p);
    else await writeFile(p, what);
  }
}

/** Bottom layer first, as images list them. */
const LAYERS: LayerSpec[] = [
  { 'etc/passwd': 'base passwd', 'etc/group': 'base group', 'etc/hosts': 'base hosts', 'old/a': 'a', 'old/sub/b': 'b', 'gone/x': 'x', 'filedir': 'a file', 'keep/deep/f': 'deep', 'link': '->etc' },
  { 'etc/passwd': 'second passwd', 'old': 'opaque', 'old/new': 'new', 'gone': 'whiteout', 'filedir': 'dir', 'filedir/inside': 'in', 'keep/other': 'other', 'etc/hosts': 'whiteout' },
  { 'etc/group': 'top group', 'keep/deep': 'whiteout', 'via/link': '->../etc/passwd' },
];

const PATHS = [
  '/', '/etc', '/etc/passwd', '/etc/group', '/etc/hosts', '/etc/missing', '/old', '/old/a', '/old/sub', '/old/sub/b', '/old/new',
  '/gone', '/gone/x', '/filedir', '/filedir/inside', '/keep', '/keep/deep', '/keep/deep/f', '/keep/other', '/nothing/here',
  '/etc/passwd/under-a-file',
];

test('a path looked up in the layer dirs is what a read-only overlay mount of them shows', async (t) => {
  if (!prerequisite(t, isRoot && hasCommand('setfattr') && hasCommand('mknod'), 'needs root (overlay mount, trusted.* xattrs, mknod)')) return;
  const root = await mkdtemp(join(tmpdir(), 'kiln-layered-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const dirs: string[] = [];
  for (const [i, spec] of LAYERS.entries()) {
    const d = join(root, `l${i}`);
    await makeLayer(d, spec);
    dirs.unshift(d); // topmost first
  }
  const merged = join(root, 'merged');
  await mkdir(merged);
  const native = nativeBinding();
  native.mount('overlay', merged, 'overlay', ['ro'], `lowerdir=${dirs.join(':')}`);
  try {
    for (const p of PATHS) {
      let seen: ReturnType<typeof lstatSync> | undefined;
      try { seen = lstatSync(join(merged, p)); } catch { seen = undefined; }
      const found = lookupInLayers(dirs, p);
      if (!seen) {
        assert.equal(found.kind, 'absent', `${p}: absent in the mount`);
        continue;
      }
      assert.equal(found.kind, 'found', `${p}: present in the mount`);
      if (found.kind !== 'found') continue;
      assert.equal(found.stats.isDirectory(), seen.isDirectory(), `${p}: same type`);
      if (seen.isFile()) assert.equal(readFileSync(found.path, 'utf8'), readFileSync(join(merged, p), 'utf8'), `${p}: same content`);
    }
  } finally {
    native.unmount(merged, false);
  }
  assert.equal(lookupInLayers(dirs, '/link').kind, 'symlink');
  assert.equal(lookupInLayers(dirs, '/link/passwd').kind, 'symlink', 'a symlink on the way is not followed on the host');
  assert.equal(lookupInLayers(dirs, '/via/link').kind, 'symlink');
  assert.equal(await readImageFile(dirs, '/etc/passwd'), 'second passwd');
  assert.equal(await readImageFile(dirs, '/etc/group'), 'top group');
  assert.equal(await readImageFile(dirs, '/etc/hosts'), undefined, 'whited out above');
  assert.equal(await readImageFile(dirs, '/via/link'), undefined);
  assert.equal(lookupInLayers([], '/etc/passwd').kind, 'absent');
  // A remembering probe answers as the disk does, the first time and the next.
  const probe = rememberingProbe();
  const brief = (e: ReturnType<typeof lookupInLayers>): string => (e.kind === 'found' ? `found ${e.path} ${e.stats.mode}` : e.kind);
  for (const round of [1, 2]) {
    for (const p of [...PATHS, '/link', '/link/passwd', '/via/link']) assert.equal(brief(lookupInLayers(dirs, p, probe)), brief(lookupInLayers(dirs, p)), `${p}, round ${round}`);
  }
});

test('a remembering probe asks the disk once per path: for dirs that never change (layer snapshots)', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-layered-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const lower = join(root, 'lower');
  const upper = join(root, 'upper');
  await makeLayer(lower, { 'etc/passwd': 'lower passwd' });
  await makeLayer(upper, { 'etc/group': 'upper group' });
  const probe = rememberingProbe();
  const first = lookupInLayers([upper, lower], '/etc/passwd', probe);
  assert.equal(first.kind === 'found' && first.path, join(lower, 'etc/passwd'));
  // Changed behind its back, the probe still answers what it saw: it must only be given dirs that never change.
  await rm(join(lower, 'etc/passwd'));
  await writeFile(join(upper, 'etc/passwd'), 'upper passwd');
  const again = lookupInLayers([upper, lower], '/etc/passwd', probe);
  assert.equal(again.kind === 'found' && again.path, join(lower, 'etc/passwd'));
  const direct = lookupInLayers([upper, lower], '/etc/passwd');
  assert.equal(direct.kind === 'found' && direct.path, join(upper, 'etc/passwd'));
  // A full memory starts again rather than growing.
  const small = rememberingProbe(2);
  for (const p of ['/a', '/b', '/c', '/etc/passwd']) lookupInLayers([upper, lower], p, small);
  const fresh = lookupInLayers([upper, lower], '/etc/passwd', small);
  assert.equal(fresh.kind === 'found' && fresh.path, join(upper, 'etc/passwd'));
});

/**
 * `kiln check`: a healthy store (built images, cache records, snapshots of RUN and COPY layers)
 * checks clean, file by file too; then each kind of damage — a blob whose bytes changed, an image
 * whose config is gone, a tag naming no image, a snapshot edited behind kiln's back, a record
 * that is not JSON, a temp file of a dead writer — is reported (exit 1), repaired by --repair
 * (dropped, or the snapshot unpacked again), and the store checks clean afterwards.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../engine/store/store.js';
import { commitBusyboxImage, haveBusybox } from '../../harness/busyboxImage.js';
import { isRoot, prerequisite } from '../support/env.js';
import { runKiln, type Result } from '../support/kilnProcess.js';

const base = mkdtempSync(join(tmpdir(), 'kiln-check-it-'));
const ready = (t: import('node:test').TestContext): boolean =>
  prerequisite(t, isRoot, 'build containers need root') && prerequisite(t, haveBusybox, 'needs /bin/busybox (busybox-static)');

after(() => rmSync(base, { recursive: true, force: true }));

let n = 0;
/** A fresh store with busybox and one image built from it: a COPY layer and a RUN layer. */
async function builtStore(): Promise<{ root: string; id: string; layers: string[] }> {
  const root = join(base, `store-${++n}`);
  await commitBusyboxImage(await Store.open({ root }), 'kiln-test/busybox:latest');
  const ctx = join(base, `ctx-${n}`);
  mkdirSync(ctx, { recursive: true });
  writeFileSync(join(ctx, 'hello.txt'), 'hello\n');
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM kiln-test/busybox\nCOPY hello.txt /hello.txt\nRUN mkdir -p /data && echo made > /data/made && chmod 0750 /data\n');
  const built = await runKiln(root, ['build', '-q', '-t', 'kiln-test/checked:1', ctx]);
  assert.equal(built.code, 0, built.stderr);
  const id = built.stdout.trim();
  const inspect = await runKiln(root, ['inspect', '-f', '{{json .RootFS.Layers}}', id]);
  // Unpack every layer: the snapshots are part of what is checked.
  const ran = await runKiln(root, ['run', '--rm', id, 'true']);
  assert.equal(ran.code, 0, ran.stderr);
  return { root, id, layers: JSON.parse(inspect.stdout) as string[] };
}

const hex = (d: string): string => d.slice('sha256:'.length);

function lines(r: Result): string[] {
  return r.stdout.split('\n').filter((l) => l !== '');
}

async function checkedClean(root: string, full = true): Promise<void> {
  const r = await runKiln(root, ['check', ...(full ? ['--full'] : [])]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /no problems found/);
}

test('a healthy store checks clean, quick and file by file', async (t) => {
  if (!ready(t)) return;
  const { root } = await builtStore();
  const quick = await runKiln(root, ['check']);
  assert.equal(quick.code, 0, quick.stdout + quick.stderr);
  assert.match(quick.stdout, /^checked \d+ blobs, 2 images, 2 tags, 3 snapshots, \d+ build cache records\nno problems found\n$/);
  await checkedClean(root);
});

test('a blob whose bytes changed: it, the image, the snapshot and the cache records naming it are dropped', async (t) => {
  if (!ready(t)) return;
  const { root, id, layers } = await builtStore();
  const top = layers[layers.length - 1] as string;
  const blob = join(root, 'blobs', 'sha256', hex(top));
  chmodSync(blob, 0o644);
  const bytes = readFileSync(blob);
  bytes[600] = (bytes[600] as number) ^ 0xff;
  writeFileSync(blob, bytes);
  const found = await runKiln(root, ['check']);
  assert.equal(found.code, 1, found.stdout + found.stderr);
  const report = lines(found);
  assert.ok(report.includes(`blob ${top}: its content does not match its digest (it hashes to sha256:${createHash('sha256').update(bytes).digest('hex')})`), found.stdout);
  assert.ok(report.some((l) => l.startsWith(`image ${id} (docker.io/kiln-test/checked:1): its layer ${top} is corrupt`)), found.stdout);
  assert.ok(report.includes(`snapshot ${top}: its layer is corrupt`), found.stdout);
  assert.ok(report.some((l) => /^cache record [0-9a-f]{32}: its layer sha256:[0-9a-f]{64} is corrupt$/.test(l)), found.stdout);
  assert.match(report[report.length - 1] as string, /^\d+ problems found \(kiln check --repair/);
  const repaired = await runKiln(root, ['check', '--repair']);
  assert.equal(repaired.code, 0, repaired.stdout + repaired.stderr);
  assert.match(repaired.stdout, new RegExp(`blob ${top}: .*: removed`));
  assert.match(repaired.stdout, /: removed, with its tags \(pull, load or build it again\)/);
  await checkedClean(root);
  const images = await runKiln(root, ['images', '--format', '{{.Repository}}']);
  assert.equal(images.stdout, 'kiln-test/busybox\n', 'the broken image is gone, busybox stays');
});

test('an image whose config is gone, and a tag naming no image', async (t) => {
  if (!ready(t)) return;
  const { root, id } = await builtStore();
  rmSync(join(root, 'blobs', 'sha256', hex(id)), { force: true });
  const refs = JSON.parse(readFileSync(join(root, 'refs.json'), 'utf8')) as { tags: Record<string, string> };
  refs.tags['docker.io/kiln-test/ghost:1'] = `sha256:${'0'.repeat(64)}`;
  writeFileSync(join(root, 'refs.json'), JSON.stringify(refs));
  const found = await runKiln(root, ['check']);
  assert.equal(found.code, 1);
  assert.ok(lines(found).includes(`image ${id} (docker.io/kiln-test/checked:1): its config blob is missing`), found.stdout);
  assert.ok(lines(found).includes(`tag docker.io/kiln-test/ghost:1: it names image sha256:${'0'.repeat(64)}, which is not in the store`), found.stdout);
  const repaired = await runKiln(root, ['check', '--repair']);
  assert.equal(repaired.code, 0, repaired.stdout + repaired.stderr);
  await checkedClean(root);
  const tags = JSON.parse(readFileSync(join(root, 'refs.json'), 'utf8')) as { tags: Record<string, string> };
  assert.deepEqual(Object.keys(tags.tags), ['docker.io/kiln-test/busybox:latest']);
});

test('a snapshot edited behind kiln\'s back is found by --full and unpacked again by --repair', async (t) => {
  if (!ready(t)) return;
  const { root, layers } = await builtStore();
  const run = layers[layers.length - 1] as string;
  const copy = layers[layers.length - 2] as string;
  const runSnapshot = join(root, 'snapshots', hex(run));
  const copySnapshot = join(root, 'snapshots', hex(copy));
  writeFileSync(join(runSnapshot, 'data', 'made'), 'tampered\n');
  writeFileSync(join(copySnapshot, 'extra'), 'not in the layer\n');
  const quick = await runKiln(root, ['check']);
  assert.equal(quick.code, 0, 'the quick check does not read snapshots file by file');
  const found = await runKiln(root, ['check', '--full']);
  assert.equal(found.code, 1, found.stdout + found.stderr);
  assert.ok(lines(found).some((l) => l.startsWith(`snapshot ${run}: it differs from its layer: data/made: `)), found.stdout);
  assert.ok(lines(found).includes(`snapshot ${copy}: it differs from its layer: extra: not in the layer`), found.stdout);
  const repaired = await runKiln(root, ['check', '--full', '--repair']);
  assert.equal(repaired.code, 0, repaired.stdout + repaired.stderr);
  assert.match(repaired.stdout, /unpacked again from its layer/);
  assert.equal(readFileSync(join(runSnapshot, 'data', 'made'), 'utf8'), 'made\n');
  assert.deepEqual(readdirSync(copySnapshot).sort(), ['hello.txt']);
  await checkedClean(root);
});

test('a cache record that is not JSON, and a temp file of a dead writer', async (t) => {
  if (!ready(t)) return;
  const { root } = await builtStore();
  const records = join(root, 'cache', 'records');
  const shard = readdirSync(records)[0] as string;
  const file = readdirSync(join(records, shard))[0] as string;
  writeFileSync(join(records, shard, file), '{ not json');
  const temp = join(root, 'images', '.x.json.999999999-7.abcdef.tmp');
  writeFileSync(temp, 'half');
  const found = await runKiln(root, ['check']);
  assert.equal(found.code, 1);
  assert.ok(lines(found).includes(`cache record ${file.slice(0, -5)}: it is not a readable record of its key`), found.stdout);
  assert.ok(lines(found).includes(`temp file ${temp}: left by a writer that died`), found.stdout);
  const repaired = await runKiln(root, ['check', '--repair']);
  assert.equal(repaired.code, 0, repaired.stdout + repaired.stderr);
  await checkedClean(root);
});

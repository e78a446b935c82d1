/**
 * kiln image report's reading of layers, on tars made here: entries added, changed and
 * removed (a whiteout of a directory takes its subtree, an opaque marker empties one), the
 * bytes each layer loses to later ones, and the image's file count after every layer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack } from 'tar-stream';
import { analyzeImage } from '../../../../engine/report/imageAnalysis.js';
import type { ImageRecord, Store } from '../../../../engine/store/store.js';

type Item = [name: string, type: 'file' | 'directory' | 'symlink', size?: number];

async function tarOf(items: Item[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => { chunks.push(c as Buffer); });
  const done = new Promise<void>((r) => { p.on('end', () => r()); });
  for (const [name, type, size] of items) {
    if (type === 'file') p.entry({ name, type, size: size ?? 0, mode: 0o644 }, Buffer.alloc(size ?? 0, 0x61));
    else if (type === 'symlink') p.entry({ name, type, linkname: 'target', mode: 0o777 });
    else p.entry({ name, type, mode: 0o755 });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

test('layers classified against the image below them, and what later layers waste', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-image-analysis-'));
  try {
    const layers: Item[][] = [
      [['etc/', 'directory'], ['etc/conf', 'file', 100], ['cache/', 'directory'], ['cache/a', 'file', 30], ['cache/b', 'file', 20], ['data/', 'directory'], ['data/x', 'file', 7], ['bin/sh', 'symlink']],
      [['etc/', 'directory'], ['etc/conf', 'file', 120], ['.wh.cache', 'file'], ['data/', 'directory'], ['data/.wh..wh..opq', 'file'], ['data/y', 'file', 5]],
    ];
    const diffIds: string[] = [];
    for (const [i, items] of layers.entries()) {
      await writeFile(join(dir, `l${i}`), await tarOf(items));
      diffIds.push(`sha256:${String(i).repeat(64)}`);
    }
    const path = (d: string): string => join(dir, `l${diffIds.indexOf(d)}`);
    const store = { blobPath: path, blobs: { size: async (d: string) => (await stat(path(d))).size } } as unknown as Store;
    const record = {
      id: 'sha256:img', tags: ['t:1'],
      config: { os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: diffIds }, history: [{ created_by: 'one' }, { created_by: 'x', empty_layer: true }, { created_by: 'two' }] },
    } as unknown as ImageRecord;
    const r = await analyzeImage(store, record);
    assert.deepEqual(r.layers.map((l) => l.createdBy), ['one', 'two']);
    const [first, second] = r.layers;
    assert.deepEqual(first?.added, { files: 8, bytes: 157 });
    assert.deepEqual(second?.entries, [
      ['etc', 'd', 0, 'u'],
      ['etc/conf', 'f', 120, 'c'],
      ['cache', 'd', 50, 'r'],
      ['data', 'd', 0, 'u'],
      ['data', 'd', 7, 'o'],
      ['data/y', 'f', 5, 'a'],
    ]);
    assert.deepEqual(second?.changed, { files: 1, bytes: 120 });
    assert.deepEqual(second?.removed, { files: 4, bytes: 57 });
    // conf (100), cache with a and b (50), data/x (7) were layer 0's and are gone or replaced.
    assert.equal(first?.wastedLater, 157);
    assert.equal(second?.wastedLater, 0);
    // etc, etc/conf, data, data/y, bin/sh (bin was only implied: not a file of the image).
    assert.equal(r.files, 5);
    assert.equal(r.sizeBytes, 157 + 125);
    assert.deepEqual(r.inefficiencies.filter((i) => i.bytes > 0).map((i) => [i.path, i.bytes]), [['/etc/conf', 220]]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

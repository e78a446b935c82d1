import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CacheIndex } from '../../../cache/recordIndex.js';

const indexModule = pathToFileURL(join(fileURLToPath(import.meta.url), '..', '..', '..', '..', 'cache', 'recordIndex.js')).href;

function key(i: number): string {
  return i.toString(16).padStart(32, '0');
}

test('put then get returns the record; a missing key is undefined', async () => {
  const root = mkdtempSync(join(tmpdir(), 'kiln-index-'));
  const idx = new CacheIndex(root);
  assert.equal(await idx.get(key(1)), undefined);
  await idx.put({ key: key(1), diffIds: ['sha256:aa'], config: { Env: ['A=1'] }, createdAt: new Date().toISOString() });
  const r = await idx.get(key(1));
  assert.deepEqual(r?.diffIds, ['sha256:aa']);
  assert.deepEqual(r?.config, { Env: ['A=1'] });
  assert.equal((await idx.list()).length, 1);
  await idx.remove(key(1));
  assert.equal(await idx.get(key(1)), undefined);
  rmSync(root, { recursive: true });
});

test('four processes writing and reading the same and different keys never see a torn record', async () => {
  const root = mkdtempSync(join(tmpdir(), 'kiln-index-'));
  const script = `
    const { CacheIndex } = await import(${JSON.stringify(indexModule)});
    const idx = new CacheIndex(${JSON.stringify(root)});
    const me = Number(process.argv[1]);
    const key = (i) => i.toString(16).padStart(32, '0');
    let bad = 0;
    for (let round = 0; round < 60; round++) {
      const shared = key(1000 + (round % 5));
      await idx.put({ key: shared, diffIds: ['sha256:' + 'x'.repeat(2000)], config: { by: me, round }, createdAt: '' });
      await idx.put({ key: key(me * 100 + round), diffIds: [], config: { by: me }, createdAt: '' });
      const got = await idx.get(shared);
      if (!got || got.diffIds[0].length !== 2007) bad++;
    }
    process.stdout.write(String(bad));
  `;
  const runs = [1, 2, 3, 4].map(
    (me) =>
      new Promise<string>((resolve, reject) => {
        const p = spawn(process.execPath, ['--input-type=module', '-e', script, String(me)], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        p.stdout.on('data', (d: Buffer) => (out += d.toString()));
        p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`writer exited ${code}`))));
      }),
  );
  const results = await Promise.all(runs);
  assert.deepEqual(results, ['0', '0', '0', '0']);
  const all = await new CacheIndex(root).list();
  assert.equal(all.length, 5 + 4 * 60);
  // No temp files left behind by the atomic writes.
  for (const shard of readdirSync(join(root, 'cache', 'records'))) {
    for (const name of readdirSync(join(root, 'cache', 'records', shard))) assert.match(name, /^[0-9a-f]{32}\.json$/);
  }
  rmSync(root, { recursive: true });
});

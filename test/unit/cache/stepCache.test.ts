import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StepCache, type StepLookup } from '../../../cache/stepCache.js';
import { outsideRacyWindow } from '../../support/racyWindow.js';

/** A context whose files are older than the stat cache's racy window (ctime included). */
async function workspace(): Promise<{ store: string; context: string }> {
  const base = mkdtempSync(join(tmpdir(), 'kiln-stepcache-'));
  const context = join(base, 'ctx');
  mkdirSync(join(context, 'src'), { recursive: true });
  writeFileSync(join(context, 'src', 'a.c'), 'int a;');
  writeFileSync(join(context, 'src', 'b.c'), 'int b;');
  writeFileSync(join(context, 'README'), 'hi');
  const old = Date.now() / 1000 - 60;
  for (const f of ['src/a.c', 'src/b.c', 'README']) utimesSync(join(context, f), old, old);
  await outsideRacyWindow(context);
  return { store: join(base, 'store'), context };
}

/** A three-step recipe: ARG-dependent RUN, COPY src, RUN after it. Returns each step's explanation. */
async function build(ws: { store: string; context: string }, version: string): Promise<string[]> {
  const cache = await StepCache.open({ storeRoot: ws.store, contextDir: ws.context });
  const out: string[] = [];
  let parent = 'sha256:base';
  let parentHit = true;
  const steps: Omit<StepLookup, 'parent' | 'parentHit'>[] = [
    { identity: { stage: '0', index: 1, text: 'RUN echo $VERSION' }, definition: { kind: 'RUN', argv: ['sh', '-c', 'echo $VERSION'] }, env: { VERSION: version }, args: { VERSION: version }, platform: 'linux/amd64' },
    { identity: { stage: '0', index: 2, text: 'COPY src /src' }, definition: { kind: 'COPY', dest: '/src' }, env: {}, args: { VERSION: version }, platform: 'linux/amd64', sources: await cache.sources({ paths: ['src'] }) },
    { identity: { stage: '0', index: 3, text: 'RUN make' }, definition: { kind: 'RUN', argv: ['make'] }, env: {}, args: {}, platform: 'linux/amd64' },
  ];
  for (const s of steps) {
    const r = await cache.lookup({ ...s, parent, parentHit });
    if (r.explanation.status === 'HIT') {
      await cache.remember(r);
      out.push('HIT');
    } else {
      await cache.store(r, { diffIds: [`sha256:${r.key}`], config: {} });
      out.push(`MISS ${r.explanation.reasons.join('; ')}`);
    }
    parent = r.key;
    parentHit = r.explanation.status === 'HIT';
  }
  await cache.close();
  return out;
}

test('first build misses everything, an unchanged rebuild hits everything', async () => {
  const ws = await workspace();
  assert.deepEqual(await build(ws, '1'), Array(3).fill('MISS first build of this step (no earlier record)'));
  assert.deepEqual(await build(ws, '1'), ['HIT', 'HIT', 'HIT']);
  rmSync(join(ws.context, '..'), { recursive: true });
});

test('touching files without changing them keeps every step cached, and reads no bytes', async () => {
  const ws = await workspace();
  await build(ws, '1');
  const now = Date.now() / 1000;
  utimesSync(join(ws.context, 'src', 'a.c'), now, now);
  assert.deepEqual(await build(ws, '1'), ['HIT', 'HIT', 'HIT']);
  const cache = await StepCache.open({ storeRoot: ws.store, contextDir: ws.context });
  await cache.sources({ paths: ['src'] });
  assert.equal(cache.filesHashed, 1, 'only the touched file is read again (its stat changed)');
  rmSync(join(ws.context, '..'), { recursive: true });
});

test('one changed byte misses the COPY and what follows, names the file, and nothing before', async () => {
  const ws = await workspace();
  await build(ws, '1');
  writeFileSync(join(ws.context, 'src', 'b.c'), 'int c;');
  assert.deepEqual(await build(ws, '1'), ['HIT', 'MISS file changed: src/b.c', 'MISS parent step missed']);
  writeFileSync(join(ws.context, 'src', 'new.c'), '');
  assert.deepEqual((await build(ws, '1'))[1], 'MISS file added: src/new.c');
  rmSync(join(ws.context, '..'), { recursive: true });
});

test('a changed ARG is named once, as the ARG, and a file outside the selection changes nothing', async () => {
  const ws = await workspace();
  await build(ws, '1');
  writeFileSync(join(ws.context, 'README'), 'changed');
  const r = await build(ws, '2');
  assert.equal(r[0], 'MISS ARG VERSION changed: "1" → "2"');
  assert.equal(r[1], 'MISS parent step missed; ARG VERSION changed: "1" → "2"');
  assert.equal(r[2], 'MISS parent step missed');
  rmSync(join(ws.context, '..'), { recursive: true });
});

test('--no-cache misses with that reason; the cache survives across StepCache instances (processes)', async () => {
  const ws = await workspace();
  await build(ws, '1');
  const cache = await StepCache.open({ storeRoot: ws.store, contextDir: ws.context, noCache: true });
  const r = await cache.lookup({ identity: { stage: '0', index: 1, text: 'RUN echo $VERSION' }, parent: 'sha256:base', definition: { kind: 'RUN', argv: ['sh', '-c', 'echo $VERSION'] }, env: { VERSION: '1' }, args: { VERSION: '1' }, platform: 'linux/amd64' });
  assert.deepEqual(r.explanation, { status: 'MISS', reasons: ['--no-cache'] });
  rmSync(join(ws.context, '..'), { recursive: true });
});

test('sources: mode and symlink targets count, excluded paths do not, escaping the context is an error', async () => {
  const ws = await workspace();
  const cache = await StepCache.open({ storeRoot: ws.store, contextDir: ws.context });
  const all = await cache.sources({ paths: ['.'] });
  assert.deepEqual(Object.keys(all.files), ['.', 'README', 'src', 'src/a.c', 'src/b.c']);
  const noReadme = await cache.sources({ paths: ['.'], exclude: (p) => p === 'README' });
  assert.notEqual(noReadme.digest, all.digest);
  writeFileSync(join(ws.context, 'README'), 'other');
  assert.equal((await cache.sources({ paths: ['.'], exclude: (p) => p === 'README' })).digest, noReadme.digest);
  await assert.rejects(cache.sources({ paths: ['../x'] }), /outside the build context/);
  await assert.rejects(cache.sources({ paths: ['missing'] }), /not found/);
  rmSync(join(ws.context, '..'), { recursive: true });
});

test('a staged record is invisible until published, and a discarded one leaves no file behind', async () => {
  const ws = await workspace();
  const step: StepLookup = { identity: { stage: '0', index: 1, text: 'RUN true' }, parent: 'sha256:base', definition: { kind: 'RUN', argv: ['true'] }, env: {}, args: {}, platform: 'linux/amd64' };
  const cache = await StepCache.open({ storeRoot: ws.store, contextDir: ws.context });
  const miss = await cache.lookup(step);
  const record = cache.recordOf(miss, { diffIds: ['sha256:layer'], config: {} });
  const discarded = await cache.stage(miss, record);
  for (const f of discarded) await f.discard();
  assert.equal((await cache.lookup(step)).hit, undefined);
  const staged = await cache.stage(miss, record);
  assert.equal((await cache.lookup(step)).hit, undefined, 'not visible before it is published');
  for (const f of staged) await f.publish();
  assert.deepEqual((await cache.lookup(step)).hit?.diffIds, ['sha256:layer']);
  const leftovers = readdirSync(join(ws.store, 'cache'), { recursive: true }).filter((n) => String(n).endsWith('.tmp'));
  assert.deepEqual(leftovers, []);
  await cache.close();
  rmSync(join(ws.context, '..'), { recursive: true });
});

test('the per-file record of a step\'s sources is written again only when they changed, and still names a changed file', async () => {
  const ws = await workspace();
  await build(ws, '1');
  const inputs = join(ws.store, 'cache', 'inputs');
  const filesRecords = (): string[] => readdirSync(inputs).filter((n) => n.endsWith('.files'));
  assert.equal(filesRecords().length, 1, 'one per step with sources');
  const record = join(inputs, filesRecords()[0] as string);
  const before = statSync(record).ino;
  const r = await build(ws, '2');
  assert.equal(r[1], 'MISS parent step missed; ARG VERSION changed: "1" → "2"');
  assert.equal(statSync(record).ino, before, 'the same sources: the record was not written again');
  writeFileSync(join(ws.context, 'src', 'b.c'), 'int c;');
  assert.deepEqual((await build(ws, '2'))[1], 'MISS file changed: src/b.c');
  assert.notEqual(statSync(record).ino, before);
  writeFileSync(join(ws.context, 'src', 'b.c'), 'int d;');
  assert.deepEqual((await build(ws, '2'))[1], 'MISS file changed: src/b.c', 'compared with the record the last build wrote');
  rmSync(join(ws.context, '..'), { recursive: true });
});

test('--explain\'s memory, left empty or cut short (a crash before it reached the disk), is no memory: a miss explains itself as a first build and the record is written again', async () => {
  // These files are written without fsync (they are hints): what a crash may leave of them must
  // read as nothing, never fail a build nor explain a miss with a wrong reason.
  const ws = await workspace();
  await build(ws, '1');
  const inputs = join(ws.store, 'cache', 'inputs');
  const files = readdirSync(inputs);
  assert.ok(files.some((n) => n.endsWith('.json')) && files.some((n) => n.endsWith('.key')) && files.some((n) => n.endsWith('.files')));
  for (const [i, name] of files.entries()) writeFileSync(join(inputs, name), i % 2 === 0 ? '' : '{"identity":{"sta');
  writeFileSync(join(ws.context, 'src', 'b.c'), 'int e;');
  const rebuilt = await build(ws, '2');
  assert.equal(rebuilt[0], 'MISS first build of this step (no earlier record)');
  assert.deepEqual(await build(ws, '3'), ['MISS ARG VERSION changed: "2" → "3"', 'MISS parent step missed; ARG VERSION changed: "2" → "3"', 'MISS parent step missed'], 'remembered again');
  rmSync(join(ws.context, '..'), { recursive: true });
});

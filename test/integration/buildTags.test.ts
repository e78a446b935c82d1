/**
 * Every `-t` of `kiln build` is parsed and checked before the build starts: one bad name among
 * good ones stops the command with a one-line error before any step runs, any layer is written
 * or any name is given. Good names are each stored once, under their normalised reference.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRoot, prerequisite } from '../support/env.js';
import { makeContext, runKiln } from '../support/kilnProcess.js';

const base = mkdtempSync(join(tmpdir(), 'kiln-build-tags-'));
after(() => rmSync(base, { recursive: true, force: true }));
const why = 'kiln build needs root (or a subordinate id range) here';

/** Every file under `dir` (none when it does not exist). */
function filesUnder(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name);
  } catch {
    return [];
  }
}

test('-t ok -t "Bad Tag" fails before any work, naming the bad tag; nothing is built or tagged', async (t) => {
  if (!prerequisite(t, isRoot, why)) return;
  const store = join(base, 'store-bad');
  const ctx = makeContext(base, 'bad', 'FROM scratch\nCOPY a.txt /a.txt\n', { 'a.txt': 'a\n' }, 1_600_000_000);
  const r = await runKiln(store, ['build', '--progress=plain', '-t', 'ok', '-t', 'Bad Tag', ctx]);
  assert.notEqual(r.code, 0);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /invalid reference format "Bad Tag": contains whitespace/);
  assert.doesNotMatch(r.stderr, /#\d+ /, 'no step started');
  assert.deepEqual(filesUnder(join(store, 'blobs')), [], 'no layer or config written');
  const images = await runKiln(store, ['images', '--format', '{{.Repository}}:{{.Tag}}']);
  assert.equal(images.stdout, '', 'no name given');
});

test('good tags are each stored under their normalised name', async (t) => {
  if (!prerequisite(t, isRoot, why)) return;
  const store = join(base, 'store-good');
  const ctx = makeContext(base, 'good', 'FROM scratch\nCOPY a.txt /a.txt\n', { 'a.txt': 'a\n' }, 1_600_000_000);
  const r = await runKiln(store, ['build', '-q', '-t', 'one', '-t', 'docker.io/library/two:v2', '-t', 'localhost:5000/three', ctx]);
  assert.equal(r.code, 0, r.stderr);
  const images = await runKiln(store, ['images', '--format', '{{.Repository}}:{{.Tag}}']);
  assert.deepEqual(images.stdout.trim().split('\n').sort(), ['localhost:5000/three:latest', 'one:latest', 'two:v2']);
});

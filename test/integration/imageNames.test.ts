/**
 * An image's name is parsed where the user gave it, before anything is looked up or made: a bad
 * one given to tag, push, pull, save, rmi, run, history or image report stops the command with one line naming it, a
 * non-zero status, and a store exactly as it was (and no archive file for save) — also when good
 * names come with it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRoot, prerequisite } from '../support/env.js';
import { makeContext, runKiln } from '../support/kilnProcess.js';

const base = mkdtempSync(join(tmpdir(), 'kiln-image-names-'));
const store = join(base, 'store');
after(() => rmSync(base, { recursive: true, force: true }));
const why = 'the image these commands name is built, which needs root (or a subordinate id range) here';
const BAD = 'Bad Name';

/** Every entry under the store with its size and modification time: what a command would change. */
function storeState(): string[] {
  return readdirSync(store, { recursive: true, withFileTypes: true })
    .map((e) => join(e.parentPath, e.name))
    .map((p) => { const st = statSync(p); return `${p} ${st.isDirectory() ? 'dir' : st.size} ${st.mtimeMs}`; })
    .sort();
}

before(async () => {
  if (!isRoot) return;
  const ctx = makeContext(base, 'ctx', 'FROM scratch\nCOPY a.txt /a.txt\n', { 'a.txt': 'a\n' }, 1_600_000_000);
  const r = await runKiln(store, ['build', '-q', '-t', 'ok', '-t', 'other', ctx]);
  assert.equal(r.code, 0, r.stderr);
});

const commands: [string, string[], number?][] = [
  ['tag with a bad source', ['tag', BAD, 'fine']],
  ['tag with a bad target', ['tag', 'ok', BAD]],
  ['push', ['push', BAD]],
  ['pull', ['pull', BAD]],
  ['save with a good name and a bad one', ['save', '-o', join(base, 'out.tar'), 'ok', BAD]],
  ['rmi with a good name and a bad one', ['rmi', 'other', BAD]],
  ['run', ['run', '--rm', BAD], 125],
  ['history', ['history', BAD]],
  ['image report', ['image', 'report', BAD]],
];

for (const [what, args, status] of commands) {
  test(`${what}: one line naming the bad name, a non-zero status, the store unchanged`, async (t) => {
    if (!prerequisite(t, isRoot, why)) return;
    const was = storeState();
    const r = await runKiln(store, args);
    if (status !== undefined) assert.equal(r.code, status, r.stderr);
    else assert.notEqual(r.code, 0, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /invalid reference format "Bad Name": contains whitespace/);
    assert.equal(r.stdout, '');
    assert.deepEqual(storeState(), was);
    assert.equal(existsSync(join(base, 'out.tar')), false, 'no archive written');
  });
}

test('the good names still resolve afterwards: nothing was untagged', async (t) => {
  if (!prerequisite(t, isRoot, why)) return;
  const r = await runKiln(store, ['images', '--format', '{{.Repository}}:{{.Tag}}']);
  assert.deepEqual(r.stdout.trim().split('\n').sort(), ['ok:latest', 'other:latest']);
});

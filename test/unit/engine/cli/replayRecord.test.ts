/**
 * The parts of a build's replay record that decide whether an input is as it was: the `lstat`
 * signature a witness keeps (every change to an entry shows in it), a context's state (the same
 * tree, the same digest; any change anywhere, another), the racy window (a change too close to
 * the build's start could hide a next one), and where a record lives (the command
 * line and working directory name it; another command line never finds it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, utimesSync, writeFileSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { contextState, replayFile, witness, witnessesHold, type Witness } from '../../../../engine/cli/replay/replayRecord.js';
import { changedSince } from '../../../../engine/cli/replay/keepReplay.js';

test('a witness holds until the entry changes in any way a build could read: content, mode, times, the inode, its absence', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-replay-witness-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'a.txt');
  const missing = join(dir, 'later.txt');
  writeFileSync(file, 'one');
  utimesSync(file, 1_000_000, 1_000_000);
  const recorded: Witness[] = [witness(file), witness(missing), witness(dir)];
  assert.equal(recorded[1]?.[1], null);
  assert.ok(witnessesHold(recorded));

  const changes: [string, () => void][] = [
    // Same size, and the mtime put back: the ctime still moves.
    ['rewritten in place, mtime restored', () => { writeFileSync(file, 'two'); utimesSync(file, 1_000_000, 1_000_000); }],
    ['mode changed', () => chmodSync(file, 0o600)],
    ['replaced by another file', () => { writeFileSync(join(dir, 'b.txt'), 'one'); renameSync(join(dir, 'b.txt'), file); }],
    ['a missing path made', () => writeFileSync(missing, '')],
  ];
  for (const [what, change] of changes) {
    const before: Witness[] = [witness(file), witness(missing), witness(dir)];
    change();
    assert.equal(witnessesHold(before), false, what);
  }
});

test('a directory witness changes when an entry is added or removed in it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-replay-dir-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  utimesSync(dir, 1_000_000, 1_000_000);
  const before = [witness(dir)];
  writeFileSync(join(dir, 'new'), '');
  assert.equal(witnessesHold(before), false);
  const after = [witness(dir)];
  rmSync(join(dir, 'new'));
  assert.equal(witnessesHold(after), false);
});

test('an input changed within the racy window before the build began, or while it ran, keeps the build from recording; an older one does not', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-replay-racy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'f');
  writeFileSync(file, 'x');
  const st = lstatSync(file, { bigint: true });
  const changedMs = Number((st.ctimeNs > st.mtimeNs ? st.ctimeNs : st.mtimeNs) / 1_000_000n);
  const none = { entries: 0, digest: '', newestMs: 0, wholeSeconds: false };
  const inputs = { witnesses: [witness(file)], context: none };
  assert.equal(changedSince(inputs, changedMs - 5_000), true, 'changed while the build ran');
  assert.equal(changedSince(inputs, changedMs + 10), true, '10 ms before the build began');
  assert.equal(changedSince(inputs, changedMs + 5_000), false, '5 s before');
  assert.equal(changedSince({ witnesses: [[file, null]], context: none }, 0), false, 'an absent path has no timestamps');
  // The context's newest entry, on a filesystem keeping whole seconds: two seconds are racy.
  const coarse = { witnesses: [], context: { entries: 1, digest: '', newestMs: 7_000, wholeSeconds: true } };
  assert.equal(changedSince(coarse, 8_500), true);
  assert.equal(changedSince(coarse, 9_500), false);
  assert.equal(changedSince({ witnesses: [], context: { ...coarse.context, wholeSeconds: false } }, 7_200), false);
});

test("a context's state: the same for the same tree, another for a rewritten file, an added or removed entry deep down, a mode", (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-replay-context-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'a', 'b'), { recursive: true });
  writeFileSync(join(dir, 'a', 'b', 'f'), 'one');
  writeFileSync(join(dir, 'g'), 'g');
  const first = contextState(dir);
  assert.ok(first !== undefined, 'the addon is built');
  assert.equal(first.entries, 4);
  assert.deepEqual(contextState(dir), first);
  const seen = new Set([first.digest]);
  const changes: [string, () => void][] = [
    ['rewritten, mtime put back', () => { const was = lstatSync(join(dir, 'a', 'b', 'f')); writeFileSync(join(dir, 'a', 'b', 'f'), 'two'); utimesSync(join(dir, 'a', 'b', 'f'), was.atime, was.mtime); }],
    ['added deep down', () => writeFileSync(join(dir, 'a', 'b', 'new'), '')],
    ['removed', () => rmSync(join(dir, 'g'))],
    ['mode', () => chmodSync(join(dir, 'a'), 0o700)],
  ];
  for (const [what, change] of changes) {
    change();
    const now = contextState(dir);
    assert.ok(now !== undefined && !seen.has(now.digest), what);
    seen.add(now.digest);
  }
});

test('a record is named by the working directory and the whole command line', () => {
  const a = replayFile('/store', '/src', ['build', '-t', 'x', '.']);
  assert.equal(a, replayFile('/store', '/src', ['build', '-t', 'x', '.']));
  assert.ok(a.startsWith('/store/cache/replay/') && a.endsWith('.json'));
  assert.notEqual(a, replayFile('/store', '/other', ['build', '-t', 'x', '.']));
  assert.notEqual(a, replayFile('/store', '/src', ['build', '-t', 'x', '-q', '.']));
  assert.notEqual(a, replayFile('/store', '/src', ['build', '-t', 'x.']));
});

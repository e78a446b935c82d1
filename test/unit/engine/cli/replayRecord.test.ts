/**
 * The parts of a build's replay record that decide whether an input is as it was: the `lstat`
 * signature a witness keeps (every change to an entry shows in it), the racy window (a change
 * too close to the recording could hide a next one), and where a record lives (the command
 * line and working directory name it; another command line never finds it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, renameSync, rmSync, utimesSync, writeFileSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { replayFile, witness, witnessesHold, type Witness } from '../../../../engine/cli/replay/replayRecord.js';
import { racy } from '../../../../engine/cli/replay/keepReplay.js';

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

test('an entry changed within the racy window of the recording makes it racy; an older one does not', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-replay-racy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'f');
  writeFileSync(file, 'x');
  const st = lstatSync(file, { bigint: true });
  const changed = st.ctimeNs > st.mtimeNs ? st.ctimeNs : st.mtimeNs;
  const w = [witness(file)];
  assert.equal(racy(w, changed + 10_000_000n), true, '10 ms after the change');
  assert.equal(racy(w, changed + 5_000_000_000n), false, '5 s after the change');
  assert.equal(racy([[file, null]], changed), false, 'an absent path has no timestamps');
  // Whole-second timestamps (a coarse filesystem): two seconds are racy.
  const coarse: Witness[] = [[file, '1:2:33188:0:0:1:7000000000:7000000000']];
  assert.equal(racy(coarse, 8_500_000_000n), true);
  assert.equal(racy(coarse, 9_500_000_000n), false);
});

test('a record is named by the working directory and the whole command line', () => {
  const a = replayFile('/store', '/src', ['build', '-t', 'x', '.']);
  assert.equal(a, replayFile('/store', '/src', ['build', '-t', 'x', '.']));
  assert.ok(a.startsWith('/store/cache/replay/') && a.endsWith('.json'));
  assert.notEqual(a, replayFile('/store', '/other', ['build', '-t', 'x', '.']));
  assert.notEqual(a, replayFile('/store', '/src', ['build', '-t', 'x', '-q', '.']));
  assert.notEqual(a, replayFile('/store', '/src', ['build', '-t', 'x.']));
});

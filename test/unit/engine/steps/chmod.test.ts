import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseChmod } from '../../../../engine/steps/chmod.js';

test('octal modes replace the mode', () => {
  assert.equal(parseChmod('755')(0o600, false), 0o755);
  assert.equal(parseChmod('0644')(0o777, true), 0o644);
  assert.equal(parseChmod('4755')(0, false), 0o4755);
  assert.throws(() => parseChmod('17777'), /invalid chmod/);
});

test('symbolic modes apply to the entry\'s own mode', () => {
  assert.equal(parseChmod('u=rwX,go=rX')(0o600, false), 0o644);
  assert.equal(parseChmod('u=rwX,go=rX')(0o700, false), 0o755);
  assert.equal(parseChmod('u=rwX,go=rX')(0o600, true), 0o755);
  assert.equal(parseChmod('+x')(0o644, false), 0o755);
  assert.equal(parseChmod('a-w')(0o666, false), 0o444);
  assert.equal(parseChmod('g+w,o-r')(0o644, false), 0o660);
  assert.equal(parseChmod('u+s')(0o755, false), 0o4755);
});

test('bad symbolic modes are refused', () => {
  assert.throws(() => parseChmod('u=rwz'), /invalid chmod/);
  assert.throws(() => parseChmod('rw'), /invalid chmod/);
});

test('an octal --chmod also names the mode of directories the copy creates; a symbolic one does not', () => {
  assert.equal(parseChmod('0750').octal, 0o750);
  assert.equal(parseChmod('u+x').octal, undefined);
  assert.throws(() => parseChmod('64a'), /invalid chmod parameter: '64a'. it should be octal string and between 0 and 07777/);
  assert.throws(() => parseChmod('10000'), /between 0 and 07777/);
});

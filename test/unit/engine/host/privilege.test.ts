import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { isIdentityMap, privilege } from '../../../../engine/host/privilege.js';
import { isRoot } from '../../../support/env.js';

test('only the initial user namespace has the identity map', () => {
  assert.equal(isIdentityMap('         0          0 4294967295\n'), true);
  assert.equal(isIdentityMap('0 1001 1\n1 100000 65536\n'), false);
  assert.equal(isIdentityMap('0 1001 1\n'), false);
  assert.equal(isIdentityMap('0 0 65536\n'), false);
});

test('privilege follows the uid and the user namespace this process is in', () => {
  const map = readFileSync('/proc/self/uid_map', 'utf8');
  const expected = !isRoot ? 'unprivileged' : isIdentityMap(map) ? 'host-root' : 'namespace-root';
  assert.equal(privilege(), expected);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { topmostFirst } from '../../../../engine/layer/overlayStack.js';

test('a layer stack as overlay lower dirs: topmost first, a layer that appears twice only at its topmost place', () => {
  assert.deepEqual(topmostFirst(['a', 'b', 'c']), ['c', 'b', 'a']);
  // COPY of the same directory twice gives the same diff twice: overlayfs refuses a repeated lower dir.
  assert.deepEqual(topmostFirst(['base', 'copy', 'copy', 'other']), ['other', 'copy', 'base']);
  assert.deepEqual(topmostFirst(['x', 'y', 'x']), ['x', 'y']);
  assert.deepEqual(topmostFirst([]), []);
});

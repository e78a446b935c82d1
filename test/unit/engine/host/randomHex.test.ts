import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomHex } from '../../../../engine/host/randomHex.js';

test('random names: the asked number of bytes as hex, never the same one twice, across refills of the pool', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const bytes = 1 + (i % 13);
    const hex = randomHex(bytes);
    assert.match(hex, new RegExp(`^[0-9a-f]{${bytes * 2}}$`));
    if (bytes >= 6) {
      assert.ok(!seen.has(hex), `${hex} came twice`);
      seen.add(hex);
    }
  }
  const big = randomHex(4096);
  assert.match(big, /^[0-9a-f]{8192}$/, 'more than the pool holds');
  assert.notEqual(randomHex(16), randomHex(16));
});

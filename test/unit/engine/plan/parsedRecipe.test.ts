import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedParse } from '../../../../engine/plan/parsedRecipe.js';

test('the same text is parsed once; other text, and failures, are parsed every time', async () => {
  const root = mkdtempSync(join(tmpdir(), 'kiln-recipe-'));
  let parses = 0;
  const parse = (text: string) => async () => {
    parses++;
    if (text.includes('bad')) throw new Error('parse error');
    return { stages: [{ text, n: 1 }] };
  };
  assert.deepEqual(await cachedParse(root, 'FROM a', parse('FROM a')), { stages: [{ text: 'FROM a', n: 1 }] });
  assert.deepEqual(await cachedParse(root, 'FROM a', parse('FROM a')), { stages: [{ text: 'FROM a', n: 1 }] });
  assert.equal(parses, 1);
  await cachedParse(root, 'FROM b', parse('FROM b'));
  assert.equal(parses, 2);
  await assert.rejects(cachedParse(root, 'bad', parse('bad')), /parse error/);
  await assert.rejects(cachedParse(root, 'bad', parse('bad')), /parse error/);
  assert.equal(parses, 4);
  rmSync(root, { recursive: true });
});

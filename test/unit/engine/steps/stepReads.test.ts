/**
 * What a step reads from outside its stage (engine/steps/stepReads.ts), the one answer the cache
 * keys a step by and the step reads from: `--from` resolved without expansion, paths expanded by
 * the step's scope once, URLs apart, RUN bind mounts reading the whole source when they name none.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDockerfile } from '../../../../grammar/parser.js';
import { toRecipe } from '../../../../grammar/instructions.js';
import type { Recipe, StageInstruction } from '../../../../grammar/recipe.js';
import { SourceTree } from '../../../../engine/context/sourceTree.js';
import { readSource, stepReads, type ReadScope } from '../../../../engine/steps/stepReads.js';

const recipe = (text: string): Recipe => toRecipe(parseDockerfile(text));
const context = new SourceTree('/ctx', 'build context');
const web = new SourceTree('/web', 'context web');

function scopeOf(r: Recipe, stageIndex: number): ReadScope {
  return { context, namedTrees: new Map([['web', web]]), namedContextNames: new Set(['web']), stageIndex, stages: r.stages };
}

const r = recipe('FROM scratch AS build\nRUN x\nFROM scratch\nCOPY a b\n');
const scope = scopeOf(r, 1);

test('--from names the context, a named context, an earlier stage by name or index, scratch or an image', () => {
  assert.deepEqual(readSource(undefined, scope), { kind: 'tree', tree: context, named: false });
  assert.deepEqual(readSource('web', scope), { kind: 'tree', tree: web, named: true });
  assert.deepEqual(readSource('BUILD', scope), { kind: 'stage', index: 0 });
  assert.deepEqual(readSource('0', scope), { kind: 'stage', index: 0 });
  assert.deepEqual(readSource('1', scope), { kind: 'image', ref: '1' }, 'not an earlier stage');
  assert.deepEqual(readSource('scratch', scope), { kind: 'scratch' });
  assert.deepEqual(readSource('busybox:1', scope), { kind: 'image', ref: 'busybox:1' });
});

const last = (text: string): StageInstruction => {
  const rr = recipe(`FROM scratch AS build\nRUN x\nFROM scratch\n${text}\n`);
  return rr.stages[1]?.instructions.at(-1) as StageInstruction;
};
const word = (vars: Record<string, string>) => (t: string): string => t.replace(/\$(\w+)/g, (_, n: string) => vars[n] ?? '');

test('COPY/ADD: the sources as the step expands them, URLs apart, one selection where they are read', () => {
  const copy = stepReads(last('COPY --parents $SRC b/ /dst/'), word({ SRC: 'a.txt' }), scope);
  assert.deepEqual(copy, { urls: [], selections: [{ source: { kind: 'tree', tree: context, named: false }, paths: ['a.txt', 'b/'], parents: true }] });
  const add = stepReads(last('ADD https://example.com/$F local /d/'), word({ F: 'f.tgz' }), scope);
  assert.deepEqual(add.urls, ['https://example.com/f.tgz']);
  assert.deepEqual(add.selections[0]?.paths, ['local']);
  const fromStage = stepReads(last('COPY --from=build /out /in'), word({}), scope);
  assert.deepEqual(fromStage.selections, [{ source: { kind: 'stage', index: 0 }, paths: ['/out'], parents: false }]);
});

test('RUN: each bind mount in order, the whole source when none is named; other mounts read nothing here', () => {
  const run = stepReads(last('RUN --mount=type=bind,target=/a --mount=type=cache,target=/c --mount=type=bind,from=web,source=$D,target=/b x'), word({ D: 'sub' }), scope);
  assert.deepEqual(run, {
    urls: [],
    selections: [
      { source: { kind: 'tree', tree: context, named: false }, paths: ['.'], parents: false },
      { source: { kind: 'tree', tree: web, named: true }, paths: ['sub'], parents: false },
    ],
  });
  assert.deepEqual(stepReads(last('ENV A=1'), word({}), scope), { urls: [], selections: [] });
});

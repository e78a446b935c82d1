/** RECIPES.md is the recipe list as the recipes say it (WRITE_RECIPE_LIST=1 rewrites it). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../support/env.js';
import { knownDifferences } from './knownDifferences.js';
import { recipeListMarkdown } from './recipeList.js';
import { recipes } from './recipes/index.js';

test('RECIPES.md lists every differential recipe as the recipes describe it', () => {
  const path = join(repoRoot, 'test', 'differential', 'RECIPES.md');
  const rendered = recipeListMarkdown(recipes, knownDifferences);
  if (process.env.WRITE_RECIPE_LIST === '1') writeFileSync(path, rendered);
  assert.ok(existsSync(path), 'RECIPES.md is missing: WRITE_RECIPE_LIST=1 node --test dist/test/differential/recipeList.test.js');
  assert.equal(readFileSync(path, 'utf8'), rendered, 'RECIPES.md is out of date: WRITE_RECIPE_LIST=1 node --test dist/test/differential/recipeList.test.js');
});

test('every known difference names a recipe; every recipe compared with v0.24 has its fixture, and every fixture its recipe', () => {
  const names = new Set(recipes.map((r) => r.name));
  for (const k of Object.keys(knownDifferences)) assert.ok(names.has(k), `knownDifferences names no recipe: ${k}`);
  const fixtures = join(repoRoot, 'test', 'differential', 'fixtures');
  const newer = new Set(recipes.filter((r) => r.oracle === 'buildkit-0.24').map((r) => r.name));
  for (const n of newer) assert.ok(existsSync(join(fixtures, `${n}.json`)), `no fixture for ${n}`);
  for (const f of readdirSync(fixtures)) assert.ok(newer.has(f.replace(/\.json$/, '')), `fixture ${f} belongs to no recipe compared with v0.24`);
});

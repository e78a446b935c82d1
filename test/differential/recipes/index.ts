/** Every recipe of the differential suite, in the order the suite lists them. */
import type { Recipe } from '../recipe.js';
import { addRecipes } from './add.js';
import { cacheRecipes } from './cache.js';
import { copyRecipes } from './copy.js';
import { errorRecipes } from './errors.js';
import { ignoreRecipes } from './ignore.js';
import { metaRecipes } from './meta.js';
import { newerRecipes } from './newer.js';
import { runRecipes } from './run.js';
import { scratchRecipes } from './scratch.js';
import { stageRecipes } from './stages.js';

export const recipes: Recipe[] = [
  ...scratchRecipes,
  ...copyRecipes,
  ...addRecipes,
  ...runRecipes,
  ...metaRecipes,
  ...stageRecipes,
  ...ignoreRecipes,
  ...errorRecipes,
  ...newerRecipes,
  ...cacheRecipes,
];

const names = new Set<string>();
for (const r of recipes) {
  if (names.has(r.name)) throw new Error(`two differential recipes are named ${r.name}`);
  names.add(r.name);
  if (r.crashesDocker !== undefined && r.oracle !== 'buildkit-0.24') throw new Error(`${r.name} crashes docker 20.10: it must be compared with a BuildKit v0.24 fixture`);
}

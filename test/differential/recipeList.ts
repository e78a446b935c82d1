/**
 * The recipe list (RECIPES.md beside the recipes): every recipe with what it checks, where it
 * comes from, and what it is compared with — rendered from the recipes themselves, so the list
 * cannot drift from the suite (recipeList.test.ts compares the two).
 */
import type { Recipe } from './recipe.js';

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function recipeListMarkdown(recipes: readonly Recipe[], known: Readonly<Record<string, string>>): string {
  const out: string[] = [
    '# Differential recipes',
    '',
    'Generated from `recipes/*.ts` (regenerate: `WRITE_RECIPE_LIST=1 node --test dist/test/differential/recipeList.test.js`).',
    'Oracle: `docker` = built by docker 20.10 (BuildKit) at test time; `v0.24` = the BuildKit v0.24 result in `fixtures/`.',
    'Source: `bk:` a BuildKit frontend test it is drawn from, `docs:` the Dockerfile reference, `issue 17` a difference kind, `own` an edge case.',
    '',
    '| recipe | checks | source | oracle | expect | notes |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of recipes) {
    const notes = [r.note, known[r.name] ? `known difference: ${known[r.name]}` : undefined, r.crashesDocker].filter((n) => n !== undefined).join('; ');
    out.push(`| ${r.name} | ${cell(r.checks)} | ${cell(r.source)} | ${r.oracle === 'buildkit-0.24' ? 'v0.24' : 'docker'} | ${r.fails ? 'fails' : 'builds'} | ${cell(notes)} |`);
  }
  return out.join('\n') + '\n';
}

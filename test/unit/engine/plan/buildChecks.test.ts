/**
 * The build checks against BuildKit v0.24's own output: every recipe of test/checks/corpus.json
 * was built with BuildKit v0.24.0 (the Dockerfile frontend's build warnings, in the order it
 * reported them, and the error it stopped with) and checked with its lint request (`docker build
 * --check`'s report); test/checks/oracle.json keeps what it printed. kiln's checks must report
 * the same rules, messages, lines and URLs, and fail the same recipes.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseDockerfile } from '../../../../grammar/parser.js';
import { toRecipe } from '../../../../grammar/instructions.js';
import type { Recipe } from '../../../../grammar/recipe.js';
import { checkBeforeInvalidLine, checkRecipe, type CheckInputs, type CheckReport, type StageBase } from '../../../../engine/plan/checks/checkRecipe.js';
import { CheckConfigError } from '../../../../engine/plan/checks/checkConfig.js';
import { shortForm } from '../../../../engine/plan/checks/findings.js';
import { evaluateGlobalArgs } from '../../../../engine/plan/args.js';
import { planStages } from '../../../../engine/plan/graph.js';
import { automaticArgs } from '../../../../engine/plan/automaticArgs.js';
import { hostPlatform } from '../../../../engine/image/platform.js';
import { shellExpander } from '../../../../engine/plan/shellExpander.js';
import { lintResultText } from '../../../../engine/cli/checkReport.js';
import { repoRoot } from '../../../support/env.js';

export interface CorpusCase {
  name: string;
  dockerfile: string;
  buildArgs?: Record<string, string>;
  target?: string;
  dockerignore?: string;
  files?: Record<string, string>;
}
interface OracleWarning { short: string; detail: string[]; url: string; ranges: [number, number][] }
export interface OracleRecord {
  build: { exit: number; error: string | null; warnings: OracleWarning[] };
  check: { exit: number; stdout: string; stderr: string };
}

export const corpus = JSON.parse(readFileSync(join(repoRoot, 'test/checks/corpus.json'), 'utf8')) as CorpusCase[];
export const oracle = JSON.parse(readFileSync(join(repoRoot, 'test/checks/oracle.json'), 'utf8')) as Record<string, OracleRecord>;

/** The inputs a build of the case gives the checks: its reachable stages, all built on scratch or a stage. */
function inputsFor(c: CorpusCase, recipe: Recipe, allStages: boolean): CheckInputs {
  const buildArgs = new Map(Object.entries(c.buildArgs ?? {}));
  const platform = hostPlatform();
  const expander = shellExpander(recipe.escape);
  const base: Omit<CheckInputs, 'dispatched'> = { buildArgs, target: c.target, buildPlatform: platform, targetPlatform: platform, platformGiven: false, ignorePatterns: (c.dockerignore ?? '').split('\n') };
  let plan;
  try {
    const target = c.target ?? recipe.stages[recipe.stages.length - 1]?.name ?? 'default';
    const globals = evaluateGlobalArgs(recipe.metaArgs, buildArgs, automaticArgs(platform, platform, target), expander);
    plan = planStages(recipe, { globals, ...(c.target ? { target: c.target } : {}), namedContexts: new Set(), expander, dockerfileName: 'Dockerfile' });
  } catch {
    return { ...base, dispatched: [] };
  }
  const dispatched = allStages ? plan.stages.map((_, i) => i) : plan.order;
  const bases = new Map<number, StageBase>();
  for (const i of dispatched) {
    const b = plan.stages[i]?.base;
    if (b?.kind === 'scratch') bases.set(i, { kind: 'scratch' });
    else if (b?.kind === 'stage') bases.set(i, { kind: 'stage', index: b.index });
    else return { ...base, dispatched }; // an image BuildKit could not fetch offline either
  }
  return { ...base, dispatched, bases };
}

export function checkCase(c: CorpusCase, allStages: boolean): CheckReport | { configError: string } | { parseError: string } {
  let recipe: Recipe;
  try {
    recipe = toRecipe(parseDockerfile(c.dockerfile));
  } catch (e) {
    return { parseError: (e as Error).message };
  }
  try {
    const trigger = (text: string) => toRecipe(parseDockerfile(`FROM scratch\n${text}`)).stages[0]?.instructions ?? [];
    return checkRecipe(recipe, inputsFor(c, recipe, allStages), trigger);
  } catch (e) {
    if (e instanceof CheckConfigError) return { configError: e.message };
    throw e;
  }
}

const ruleSet = (message: string): string[] => message.replace(/^.*lint violation found for rules: /, '').split(', ').sort();

for (const c of corpus) {
  test(`build checks as BuildKit v0.24 reports them in a build: ${c.name}`, () => {
    const want = oracle[c.name];
    assert.ok(want, `no oracle record for ${c.name}: record it (see test/checks/README.md)`);
    const got = checkCase(c, false);
    if ('parseError' in got) assert.fail(`kiln cannot parse ${c.name}: ${got.parseError}`);
    if ('configError' in got) {
      assert.equal(`failed to solve: ${got.configError}`, want.build.error);
      assert.deepEqual(want.build.warnings, []);
      return;
    }
    assert.deepEqual(got.findings.map(shortForm), want.build.warnings.map((w) => w.short));
    assert.deepEqual(got.findings.map((f) => [f.description, f.url, f.ranges.map((r) => [r.start, r.end])]),
      want.build.warnings.map((w) => [w.detail[0], w.url, w.ranges]));
    const lintError = want.build.error?.includes('lint violation found for rules: ') ? want.build.error : undefined;
    // BuildKit names the rules in Go's map order, which varies: compare them as a set.
    assert.deepEqual(got.error === undefined ? undefined : ruleSet(got.error), lintError === undefined ? undefined : ruleSet(lintError));
  });
}

for (const c of corpus) {
  test(`kiln build --check reports as BuildKit v0.24's lint request: ${c.name}`, () => {
    const want = oracle[c.name] as OracleRecord;
    const got = checkCase(c, c.target === undefined);
    if ('parseError' in got) assert.fail(`kiln cannot parse ${c.name}: ${got.parseError}`);
    const findings = 'configError' in got ? [] : got.findings;
    assert.equal(lintResultText(findings, 'Dockerfile', c.dockerfile), want.check.stdout);
  });
}

test('an invalid instruction stops the build: the findings of the lines before it are still made (BuildKit testWarningsBeforeError)', () => {
  const text = '\nFROM scratch AS BadStageName\nMAINTAINER me@example.org\nBADCMD\nMAINTAINER again\n';
  const df = parseDockerfile(text);
  assert.throws(() => toRecipe(df), /unknown instruction: BADCMD/);
  assert.deepEqual(checkBeforeInvalidLine(df, 4, new Map()).map(shortForm), [
    "StageNameCasing: Stage name 'BadStageName' should be lowercase (line 2)",
    'MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label (line 3)',
  ]);
  assert.deepEqual(checkBeforeInvalidLine(parseDockerfile(`# check=skip=all\n${text}`), 5, new Map()), []);
});

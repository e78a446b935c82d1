/**
 * The build checks of one recipe, run in BuildKit's order: the Dockerfile as written, the FROM
 * lines over global scope, the base images' platforms, then each stage the build dispatches
 * (every stage for `kiln build --check` without --target). The result is plain data, so a build
 * can remember it and a cached rebuild need not check again.
 */
import { ShellWordExpander } from '../../../grammar/expand.js';
import type { Dockerfile } from '../../../grammar/ast.js';
import type { Recipe, StageInstruction } from '../../../grammar/recipe.js';
import { automaticArgs } from '../automaticArgs.js';
import { formatPlatform, parsePlatform, type Platform } from '../../image/platform.js';
import { CHECK_BUILD_ARG, CheckConfigError, parseCheckConfig, type CheckConfig } from './checkConfig.js';
import { Findings, type CheckFinding } from './findings.js';
import { checkDefaultBaseNames, checkFromLines, globalScope } from './fromChecks.js';
import { checkStage, cloneScope, type StageScope } from './stageChecks.js';
import { instructionChecks, linesOf, syntaxChecks } from './syntaxChecks.js';
import * as rules from './rules.js';
import type { BuildArgs } from '../buildArgs.js';

/** What a stage starts from, as far as the checks care. */
export type StageBase =
  | { kind: 'scratch' }
  | { kind: 'context' }
  | { kind: 'stage'; index: number }
  /** `name`: the base as the FROM line names it (after ARG expansion); `onbuild`: its ONBUILD triggers. */
  | { kind: 'image'; name: string; env: readonly string[]; shell: boolean; platform: Platform; onbuild: readonly string[] };

/** A trigger's text parsed into instructions (the grammar's work, handed in: the checks parse nothing). */
export type TriggerParser = (text: string) => readonly StageInstruction[];

export interface CheckInputs {
  buildArgs: BuildArgs;
  target: string | undefined;
  buildPlatform: Platform;
  targetPlatform: Platform;
  /** false when no --platform was given: a base image of the build machine's platform is then taken as it is. */
  platformGiven: boolean;
  /** Stages whose instructions are checked, by index. */
  dispatched: readonly number[];
  /**
   * What each dispatched stage starts from, by stage index. Absent when the bases are not known
   * (a base image could not be found): then only the checks that need none run.
   */
  bases?: ReadonlyMap<number, StageBase>;
  ignorePatterns: readonly string[];
}

export interface CheckReport {
  findings: CheckFinding[];
  /** With `error=true` and a finding: the error the build stops with. */
  error?: string;
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The check configuration: BUILDKIT_DOCKERFILE_CHECK when given, else the `# check=` directive. */
export function checkConfigOf(recipe: Pick<Recipe, 'directives'>, buildArgs: BuildArgs): CheckConfig {
  const override = buildArgs.get(CHECK_BUILD_ARG);
  const [text, where] = override !== undefined
    ? [override, `failed to parse build-arg:${CHECK_BUILD_ARG}`]
    // BuildKit reads the directive's value up to its first space (parser.ParseDirective).
    : [(recipe.directives.find((d) => d.name === 'check')?.value ?? '').split(' ')[0] as string, 'failed to parse check options'];
  try {
    return parseCheckConfig(text);
  } catch (e) {
    if (e instanceof CheckConfigError) throw new CheckConfigError(`${where}: ${e.message}`);
    throw e;
  }
}

/** BuildKit's defaultArgs: the automatic ARGs, each replaced by a build argument of its name. */
function automaticScope(inputs: CheckInputs, recipe: Recipe): Map<string, string> {
  const stage = inputs.target ?? recipe.stages[recipe.stages.length - 1]?.name ?? '';
  const auto = automaticArgs(inputs.buildPlatform, inputs.targetPlatform, stage === '' ? 'default' : stage);
  auto.set('BUILDOSVERSION', '');
  auto.set('TARGETOSVERSION', '');
  for (const k of auto.keys()) {
    const given = inputs.buildArgs.get(k);
    if (given !== undefined) auto.set(k, given);
  }
  return auto;
}

function envScope(env: readonly string[]): StageScope {
  const map = new Map<string, string>();
  for (const kv of env) {
    const eq = kv.indexOf('=');
    map.set(eq < 0 ? kv : kv.slice(0, eq), eq < 0 ? '' : kv.slice(eq + 1));
  }
  if (!map.has('PATH')) map.set('PATH', DEFAULT_PATH);
  return { env: map, declared: new Set(), shell: false, workdirSet: false };
}

/** InvalidBaseImagePlatform: a base image of another platform than the stage is built for. */
function checkBasePlatforms(recipe: Recipe, inputs: CheckInputs, globals: ReadonlyMap<string, string>, lex: ShellWordExpander, findings: Findings): void {
  for (const i of inputs.dispatched) {
    const base = inputs.bases?.get(i);
    const stage = recipe.stages[i];
    if (base?.kind !== 'image' || !stage) continue;
    let expected = inputs.targetPlatform;
    if (stage.from.platform !== undefined) {
      try { expected = parsePlatform(lex.processWord(stage.from.platform, (n) => globals.get(n))); } catch { continue; }
    } else if (!inputs.platformGiven && base.platform.os === inputs.buildPlatform.os && base.platform.architecture === inputs.buildPlatform.architecture) {
      continue;
    }
    if (expected.os !== base.platform.os || expected.architecture !== base.platform.architecture) {
      findings.report(rules.InvalidBaseImagePlatform, linesOf(stage.from), rules.messages.invalidBaseImagePlatform(base.name, normalized(expected), normalized(base.platform)));
    }
  }
}

/** containerd's Normalize + FormatAll: arm64's default variant v8 is not written. */
function normalized(p: Platform): string {
  const variant = p.architecture === 'arm64' && (p.variant === 'v8' || p.variant === '8') ? undefined : p.variant;
  return formatPlatform({ os: p.os, architecture: p.architecture, ...(variant ? { variant } : {}) });
}

/**
 * The ONBUILD triggers each checked stage inherits, as text: its base image's, or the ONBUILD lines
 * of the stage it is built on. BuildKit dispatches (and so checks) them before the stage's own lines.
 */
export function inheritedTriggers(recipe: Recipe, inputs: CheckInputs): Map<number, readonly string[]> {
  const triggers = new Map<number, readonly string[]>();
  for (const [i, base] of inputs.bases ?? []) {
    if (base.kind === 'image') triggers.set(i, base.onbuild);
    else if (base.kind === 'stage') triggers.set(i, (recipe.stages[base.index]?.instructions ?? []).flatMap((instr) => (instr.kind === 'ONBUILD' ? [instr.expression] : [])));
  }
  return triggers;
}

/**
 * A Dockerfile whose instruction at `line` is invalid: the findings BuildKit makes before it stops
 * there (the parser's and those of each instruction read before that line). Nothing when the
 * configuration itself is bad.
 */
export function checkBeforeInvalidLine(df: Dockerfile, line: number, buildArgs: BuildArgs): CheckFinding[] {
  let findings: Findings;
  try {
    findings = new Findings(checkConfigOf({ directives: df.directives }, buildArgs));
  } catch {
    return [];
  }
  const before = df.instructions.filter((i) => i.range.start.line < line);
  instructionChecks(before, df.warnings.filter((w) => w.range.start.line < line), findings);
  return findings.list;
}

/** Runs every check the configuration enables. Throws CheckConfigError for a bad configuration. */
export function checkRecipe(recipe: Recipe, inputs: CheckInputs, parseTrigger?: TriggerParser): CheckReport {
  const findings = new Findings(checkConfigOf(recipe, inputs.buildArgs));
  const lex = new ShellWordExpander(recipe.escape);
  syntaxChecks(recipe, findings);
  const start = automaticScope(inputs, recipe);
  checkDefaultBaseNames(recipe, start, lex, findings);
  const globals = globalScope(start, recipe.metaArgs, inputs.buildArgs, lex);
  if (globals) {
    checkFromLines(recipe, globals, lex, findings);
    if (inputs.bases) {
      checkBasePlatforms(recipe, inputs, globals.values, lex, findings);
      checkStages(recipe, inputs, inputs.bases, globals.values, findings, parseTrigger);
    }
  }
  const error = findings.violation();
  return { findings: findings.list, ...(error !== undefined ? { error } : {}) };
}

function checkStages(recipe: Recipe, inputs: CheckInputs, bases: ReadonlyMap<number, StageBase>, globals: ReadonlyMap<string, string>, findings: Findings, parseTrigger?: TriggerParser): void {
  const ctx = { findings, escape: recipe.escape, buildArgs: inputs.buildArgs, globals, ignorePatterns: inputs.ignorePatterns };
  const finished = new Map<number, StageScope>();
  const triggers = parseTrigger ? inheritedTriggers(recipe, inputs) : new Map<number, readonly string[]>();
  for (const i of [...inputs.dispatched].sort((a, b) => a - b)) {
    const stage = recipe.stages[i];
    const base = bases.get(i);
    if (!stage || !base) continue;
    let scope: StageScope;
    if (base.kind === 'stage') {
      const parent = finished.get(base.index);
      if (!parent) continue;
      scope = cloneScope(parent);
    } else {
      scope = envScope(base.kind === 'image' ? base.env : []);
      if (base.kind === 'image') scope.shell = base.shell;
    }
    const inherited = (triggers.get(i) ?? []).flatMap((t) => (parseTrigger as TriggerParser)(t));
    if (!checkStage(stage, scope, ctx, inherited)) return;
    finished.set(i, scope);
  }
}

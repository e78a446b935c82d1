/**
 * The checks of FROM lines, which read only global scope: ARGs a FROM uses but nothing declares,
 * a default ARG value that makes the base name invalid, `--platform=$TARGETPLATFORM` (the
 * default anyway) and a constant `--platform`. Global scope is BuildKit's: the automatic platform
 * ARGs (a build argument of the same name replaces one), then the ARGs before the first FROM.
 */
import { ShellWordExpander, type ExpansionResult } from '../../../grammar/expand.js';
import type { ArgInstruction, Recipe } from '../../../grammar/recipe.js';
import { suggestLike } from '../../../grammar/suggest.js';
import { parseReference } from '../../image/reference.js';
import { parsePlatform } from '../../image/platform.js';
import type { Findings } from './findings.js';
import { linesOf } from './syntaxChecks.js';
import * as rules from './rules.js';
import type { BuildArgs } from '../buildArgs.js';

export interface GlobalScope {
  /** Every global ARG with a value, by name. */
  values: Map<string, string>;
  /** The names a FROM may use without a warning: every value above and every meta ARG declared. */
  known: string[];
}

/** BuildKit's buildMetaArgs: the meta ARGs evaluated over `start`; undefined when one cannot be expanded. */
export function globalScope(start: ReadonlyMap<string, string>, metaArgs: readonly ArgInstruction[], buildArgs: BuildArgs, lex: ShellWordExpander): GlobalScope | undefined {
  const values = new Map(start);
  const declared: string[] = [];
  for (const instr of metaArgs) {
    for (const a of instr.args) {
      let value = buildArgs.get(a.key);
      if (value === undefined && a.value !== undefined) {
        try { value = lex.processWord(a.value, (n) => values.get(n)); } catch { return undefined; }
      }
      if (value !== undefined) values.set(a.key, value);
      if (!declared.includes(a.key)) declared.push(a.key);
    }
  }
  return { values, known: [...declared, ...[...values.keys()].filter((k) => !declared.includes(k))] };
}

function expandMatches(lex: ShellWordExpander, text: string, values: ReadonlyMap<string, string>): ExpansionResult | undefined {
  try { return lex.process(text, (n) => values.get(n)); } catch { return undefined; }
}

/** InvalidDefaultArgInFrom: each FROM with the meta ARGs at their defaults (no build arguments). */
export function checkDefaultBaseNames(recipe: Recipe, start: ReadonlyMap<string, string>, lex: ShellWordExpander, findings: Findings): void {
  const defaults = globalScope(start, recipe.metaArgs, new Map(), lex);
  if (!defaults) return;
  for (const stage of recipe.stages) {
    const name = expandMatches(lex, stage.from.image, defaults.values);
    if (!name) return;
    try {
      parseReference(name.result);
    } catch {
      findings.report(rules.InvalidDefaultArgInFrom, linesOf(stage.from), rules.messages.invalidDefaultArgInFrom(stage.from.image));
    }
  }
}

function undeclared(match: ExpansionResult, scope: GlobalScope, at: Parameters<typeof linesOf>[0], findings: Findings): void {
  for (const name of match.unmatched) {
    if (scope.known.includes(name)) continue;
    findings.report(rules.UndefinedArgInFrom, linesOf(at), rules.messages.undefinedArgInFrom(name, suggestLike(name, scope.known, true)));
  }
}

/** The per-FROM checks, stage by stage; stops where the build would stop (an unexpandable word). */
export function checkFromLines(recipe: Recipe, scope: GlobalScope, lex: ShellWordExpander, findings: Findings): void {
  for (const stage of recipe.stages) {
    const from = stage.from;
    const name = expandMatches(lex, from.image, scope.values);
    if (!name) return;
    undeclared(name, scope, from, findings);
    if (name.result === '') return;
    if (from.platform === undefined) continue;
    const platform = expandMatches(lex, from.platform, scope.values);
    if (!platform) return;
    undeclared(platform, scope, from, findings);
    if (platform.matched.size === 1 && platform.unmatched.size === 0 && platform.matched.has('TARGETPLATFORM')
      && platform.result === scope.values.get('TARGETPLATFORM')) {
      findings.report(rules.RedundantTargetPlatform, linesOf(from), rules.messages.redundantTargetPlatform(from.platform));
    }
    if (platform.matched.size === 0 && platform.unmatched.size === 0) constantPlatform(stage.name ?? '', platform.result, from, findings);
    try { parsePlatform(platform.result); } catch { return; }
  }
}

/** A literal --platform is fine in a stage named for it (`AS build-arm64`), and not checked when it does not parse. */
function constantPlatform(stageName: string, value: string, at: Parameters<typeof linesOf>[0], findings: Findings): void {
  let p;
  try { p = parsePlatform(value); } catch { return; }
  if (stageName.includes(p.os) || stageName.includes(p.architecture)) return;
  findings.report(rules.FromPlatformFlagConstDisallowed, linesOf(at), rules.messages.fromPlatformFlagConstDisallowed(value));
}

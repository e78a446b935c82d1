/**
 * The checks that need only the Dockerfile as written, in the order BuildKit runs them while it
 * parses: empty continuation lines, then per instruction MAINTAINER, stage-name casing, FROM/AS
 * casing and definition comments, then stage names (reserved, duplicate) and instruction casing
 * over the whole file.
 */
import type { Instruction } from '../../../grammar/ast.js';
import type { Recipe } from '../../../grammar/recipe.js';
import type { Findings, LineRange } from './findings.js';
import * as rules from './rules.js';

/** An instruction's location as BuildKit gives it: one range per line it spans. */
export function linesOf(i: { range: { start: { line: number }; end: { line: number } } }): LineRange[] {
  const lines: LineRange[] = [];
  for (let l = i.range.start.line; l <= Math.max(i.range.start.line, i.range.end.line); l++) lines.push({ start: l, end: l });
  return lines;
}

/** Every instruction's raw form, in file order (the meta ARGs come before the first FROM). */
function rawInstructions(recipe: Recipe): Instruction[] {
  return [
    ...recipe.metaArgs.map((a) => a.source),
    ...recipe.stages.flatMap((s) => [s.from.source, ...s.instructions.map((i) => i.source)]),
  ];
}

const isLower = (s: string): boolean => s === s.toLowerCase();
const isUpper = (s: string): boolean => s === s.toUpperCase();

function checkFrom(i: Instruction, findings: Findings): void {
  const args = i.args.map((a) => a.value);
  if (args.length === 3 && !isLower(args[2] as string)) {
    findings.report(rules.StageNameCasing, linesOf(i), rules.messages.stageNameCasing(args[2] as string));
  }
  // Mixed-case FROM is ConsistentInstructionCasing's business, not this rule's.
  if (args.length >= 3 && (isLower(i.keyword) || isUpper(i.keyword))) {
    const as = args[1] as string;
    if (isLower(i.keyword) ? !isLower(as) : !isUpper(as)) {
      findings.report(rules.FromAsCasing, linesOf(i), rules.messages.fromAsCasing(i.keyword, as));
    }
  }
  if (args.length === 3) checkDescription('FROM', [(args[2] as string).toLowerCase()], i, findings);
}

/** A comment right above ARG or a named FROM should start with the name it describes. */
function checkDescription(instruction: string, names: string[], i: Instruction, findings: Findings): void {
  const last = i.comments[i.comments.length - 1];
  if (last === undefined || names.length === 0) return;
  if (names.includes(last.split(' ')[0] as string)) return;
  const example = names.length > 1 ? '<arg_key>' : (names[0] as string);
  findings.report(rules.InvalidDefinitionDescription, linesOf(i), rules.messages.invalidDefinitionDescription(instruction, example));
}

function checkInstruction(i: Instruction, findings: Findings): void {
  switch (i.name) {
    case 'MAINTAINER':
      findings.report(rules.MaintainerDeprecated, linesOf(i), rules.messages.maintainerDeprecated());
      return;
    case 'FROM':
      checkFrom(i, findings);
      return;
    case 'ARG':
      checkDescription('ARG', i.args.map((a) => a.value.split('=')[0] as string), i, findings);
      return;
  }
}

function checkStageNames(recipe: Recipe, findings: Findings): void {
  const seen = new Set<string>();
  for (const stage of recipe.stages) {
    if (stage.name === undefined) continue;
    if (stage.name === 'context' || stage.name === 'scratch') {
      findings.report(rules.ReservedStageName, linesOf(stage.from), rules.messages.reservedStageName(stage.name));
    }
    if (seen.has(stage.name)) findings.report(rules.DuplicateStageName, linesOf(stage.from), rules.messages.duplicateStageName(stage.name));
    seen.add(stage.name);
  }
}

/** Each keyword all lower or all upper, and like the majority of the file's keywords. */
function checkCasing(recipe: Recipe, findings: Findings): void {
  const keywords = recipe.stages.flatMap((s) => [s.from.source, ...s.instructions.map((i) => i.source)]);
  let lower = 0;
  let upper = 0;
  for (const i of keywords) {
    if (isLower(i.keyword)) lower++;
    else if (isUpper(i.keyword)) upper++;
  }
  const majorityLower = lower > upper;
  for (const i of keywords) {
    const casing = majorityLower ? (isLower(i.keyword) ? undefined : 'lowercase') : (isUpper(i.keyword) ? undefined : 'uppercase');
    if (casing) findings.report(rules.ConsistentInstructionCasing, linesOf(i), rules.messages.consistentInstructionCasing(i.keyword, casing));
  }
}

/** The checks BuildKit makes as it reads each instruction (and the parser's findings before them). */
export function instructionChecks(instructions: readonly Instruction[], parseWarnings: Recipe['parseWarnings'], findings: Findings): void {
  for (const w of parseWarnings) {
    findings.report(rules.NoEmptyContinuation, [{ start: w.range.start.line, end: w.range.start.line }], rules.messages.noEmptyContinuation());
  }
  for (const i of instructions) checkInstruction(i, findings);
}

export function syntaxChecks(recipe: Recipe, findings: Findings): void {
  instructionChecks(rawInstructions(recipe), recipe.parseWarnings, findings);
  checkStageNames(recipe, findings);
  checkCasing(recipe, findings);
}

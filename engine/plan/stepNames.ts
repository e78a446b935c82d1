/**
 * How BuildKit names a build's steps in its progress: only FROM (of an image), RUN, COPY, ADD
 * and WORKDIR (other than `/`) are steps; each is `[STAGE k/n] TEXT`, STAGE the stage's name,
 * `stage-N` for an unnamed one, or nothing when the Dockerfile has a single stage; n counts the
 * stage's image FROM, its RUN/COPY/ADD/WORKDIR lines and every ONBUILD trigger it inherits;
 * TEXT is the line as written with the stage's variables substituted (quotes kept for RUN).
 */
import { ShellWordExpander } from '../../grammar/expand.js';
import type { Recipe, StageInstruction } from '../../grammar/recipe.js';
import type { Lookup } from './expander.js';
import type { BuildPlan } from './graph.js';

/** Instructions BuildKit shows as steps (WORKDIR only when it is not `/`). */
export function isListed(instr: StageInstruction): boolean {
  return instr.kind === 'RUN' || instr.kind === 'COPY' || instr.kind === 'ADD' || instr.kind === 'WORKDIR';
}

/**
 * Each stage's label in step names. BuildKit drops the label when its list of stages holds one
 * only, and that list also gets an entry for every `COPY --from` that names no stage and for
 * every RUN mount that does not read a stage (a mount without `from` reads "scratch").
 */
export function stageLabels(recipe: Recipe, plan: BuildPlan): string[] {
  const names = new Set(recipe.stages.flatMap((s) => (s.name === undefined ? [] : [s.name])));
  const isStage = (from: string): boolean => names.has(from.toLowerCase());
  const extra = recipe.stages.some((stage) => stage.instructions.some((instr) => {
    if (instr.kind === 'COPY') return instr.from !== undefined && !/^[0-9]+$/.test(instr.from) && !isStage(instr.from);
    if (instr.kind === 'RUN') return instr.mounts.some((m) => !isStage(m.from ?? 'scratch'));
    return false;
  }));
  if (recipe.stages.length === 1 && !extra) return [''];
  return plan.stages.map((p, i) => p.stage.name ?? `stage-${i}`);
}

/** BuildKit's cmdTotal: the steps a stage numbers. */
export function stepTotal(imageBase: boolean, instructions: readonly StageInstruction[], triggers: number): number {
  return (imageBase ? 1 : 0) + instructions.filter(isListed).length + triggers;
}

/** `[label k/n] `, the index padded to the width of n as BuildKit pads it. */
export function stepPrefix(label: string, index: number, total: number): string {
  const width = String(total).length;
  return `[${label === '' ? '' : `${label} `}${String(index).padStart(width)}/${total}] `;
}

const plainLex = new Map<string, ShellWordExpander>();
const runLex = new Map<string, ShellWordExpander>();

function lexer(cache: Map<string, ShellWordExpander>, escape: string, run: boolean): ShellWordExpander {
  let lex = cache.get(escape);
  if (!lex) {
    lex = new ShellWordExpander(escape, run ? { rawQuotes: true, skipUnsetEnv: true } : {});
    cache.set(escape, lex);
  }
  return lex;
}

/**
 * A step's text: `written` (keyword and arguments as in the Dockerfile) run through the shell-word
 * expander in the stage's scope as BuildKit does for its progress names, keyword upper-cased.
 * RUN keeps quotes and unset variables; a secret exposed as a variable shows as `****`.
 */
export function stepText(written: string, instr: StageInstruction, lookup: Lookup, escape: string, secretEnv: readonly string[] = []): string {
  const isRun = instr.kind === 'RUN';
  let text = written;
  if (isRun && isHeredocScript(instr)) text += ` (${heredocSummary(instr.heredocs[0]?.content ?? '')})`;
  const masked = new Set(secretEnv);
  let expanded: string;
  try {
    expanded = lexer(isRun ? runLex : plainLex, escape, isRun).processWord(text, (n) => (masked.has(n) ? '****' : lookup(n)));
  } catch {
    expanded = text;
  }
  const space = expanded.indexOf(' ');
  return space < 0 ? expanded.toUpperCase() : `${expanded.slice(0, space).toUpperCase()}${expanded.slice(space)}`;
}

/** `RUN <<EOF`: the command is one heredoc and nothing else (BuildKit runs its body as the script). */
export function isHeredocScript(instr: StageInstruction): boolean {
  return instr.kind === 'RUN' && instr.heredocs.length === 1 && instr.command.form === 'shell' && /^\s*<<-?["']?[A-Za-z0-9_]+["']?\s*$/.test(instr.command.text);
}

/** BuildKit's summarizeHeredoc: the first line, `...` when there are more. */
function heredocSummary(doc: string): string {
  const lines = doc.trim().replace(/\r\n/g, '\n').split('\n');
  return `${lines[0] ?? ''}${lines.length > 1 ? '...' : ''}`;
}

/** The instruction as the user wrote it, keyword first (BuildKit's Node.Original is the whole line). */
export function instructionText(instr: StageInstruction): string {
  const text = instr.source.original.trim();
  const keyword = instr.source.keyword;
  return text.slice(0, keyword.length).toUpperCase() === keyword.toUpperCase() ? `${keyword.toUpperCase()}${text.slice(keyword.length)}` : `${keyword.toUpperCase()} ${text}`;
}

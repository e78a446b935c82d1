/**
 * BuildKit's steps for what the build's steps read, shown before them: one `[internal] preparing
 * inline document` per heredoc file (COPY/ADD `<<EOF`, a RUN heredoc script with `#!`), then
 * `[internal] load build context` when a step reads the context.
 */
import type { StageInstruction } from '../../grammar/recipe.js';
import type { BuildPlan } from '../plan/graph.js';
import { isHeredocScript } from '../plan/stepNames.js';
import type { Progress } from '../progress/progress.js';

export function showStepSources(plan: BuildPlan, progress: Progress): void {
  const instructions = plan.order.flatMap((i) => plan.stages[i]?.stage.instructions ?? []);
  const documents = instructions.reduce((n, instr) => n + inlineDocuments(instr), 0);
  const names = [...Array<string>(documents).fill('[internal] preparing inline document')];
  if (instructions.some(readsContext)) names.push('[internal] load build context');
  for (const name of names) {
    const step = progress.step(name, 'internal');
    progress.started(step);
    progress.done(step);
  }
}

function inlineDocuments(instr: StageInstruction): number {
  if (instr.kind === 'COPY' || instr.kind === 'ADD') return instr.heredocs.length;
  if (isHeredocScript(instr) && (instr as Extract<StageInstruction, { kind: 'RUN' }>).heredocs[0]?.content.startsWith('#!')) return 1;
  return 0;
}

/** Whether a step reads the build context (COPY/ADD of its files, a RUN bind mount of it). */
function readsContext(instr: StageInstruction): boolean {
  if (instr.kind === 'COPY' || instr.kind === 'ADD') return instr.from === undefined && instr.sources.some((s) => !/^https?:\/\//.test(s));
  if (instr.kind === 'RUN') return instr.mounts.some((m) => m.type === 'bind' && m.from === undefined);
  return false;
}

/**
 * What a step reads from outside its stage, worked out in one place for the two that need it:
 * the cache, which keys the step by it (schedule/cachedStep.ts), and the step, which reads it
 * (steps/fromSource.ts opens it for COPY and RUN mounts). A `--from` (COPY's, a RUN mount's) names a stage, a named context,
 * scratch or an image; it is never expanded (the plan refuses a variable there, as BuildKit
 * does). Paths are the step's words as its own ARG and ENV scope expands them, by the one
 * expansion the steps use too (plan/instructionWords.ts).
 */
import type { Stage, StageInstruction } from '../../grammar/recipe.js';
import { isUrl, type SourceTree } from '../context/sourceTree.js';
import type { WordExpander } from '../plan/expander.js';
import { resolveFromRef } from '../plan/graph.js';
import { copyWords, mountWords } from '../plan/instructionWords.js';
import type { StageState } from './state.js';

/** What `--from` can name, for the step at `stageIndex`. */
export interface ReadScope {
  context: SourceTree;
  namedTrees: ReadonlyMap<string, SourceTree>;
  namedContextNames: ReadonlySet<string>;
  stageIndex: number;
  stages: readonly Stage[];
}

/** Where a step reads: the files of a tree (the build context, or a named context), another stage, an image, scratch. */
export type ReadSource =
  | { kind: 'tree'; tree: SourceTree; named: boolean }
  | { kind: 'stage'; index: number }
  | { kind: 'image'; ref: string }
  | { kind: 'scratch' };

/** One thing a step reads: where, and the paths it selects there (expanded; for a tree). */
export interface ReadSelection {
  source: ReadSource;
  paths: string[];
  /** COPY --parents: the paths keep their parent directories. */
  parents: boolean;
}

export interface StepReads {
  selections: ReadSelection[];
  /** ADD's URL sources, in order. */
  urls: string[];
}

export function readSource(from: string | undefined, scope: ReadScope): ReadSource {
  if (from === undefined) return { kind: 'tree', tree: scope.context, named: false };
  const ref = resolveFromRef(from, scope.stageIndex, scope.stages, scope.namedContextNames);
  if (ref.kind === 'context') return { kind: 'tree', tree: scope.namedTrees.get(ref.name) as SourceTree, named: true };
  return ref;
}

/**
 * What a step reads from outside its stage: COPY/ADD's sources, RUN's bind mounts. `word`
 * expands with the step's scope and may throw (a bad expansion, which the step reports).
 */
export function stepReads(instr: StageInstruction, word: (text: string) => string, scope: ReadScope): StepReads {
  if (instr.kind === 'COPY' || instr.kind === 'ADD') {
    const { sources } = copyWords(instr, word);
    const local = sources.filter((s) => !isUrl(s));
    return { urls: sources.filter(isUrl), selections: [{ source: readSource(instr.from, scope), paths: local, parents: instr.parents }] };
  }
  if (instr.kind === 'RUN') {
    const binds = instr.mounts.filter((m) => m.type === 'bind');
    return { urls: [], selections: binds.map((m) => ({ source: readSource(m.from, scope), paths: [mountWords(m, word).source || '.'], parents: false })) };
  }
  return { urls: [], selections: [] };
}

/**
 * What a step reads, its words expanded with the scope it starts in (the ARGs and ENV of
 * `before`); undefined when a word does not expand or a --from does not resolve: the step
 * reports that itself, with its location, when it runs.
 */
export function readsBefore(instr: StageInstruction, before: StageState, expander: WordExpander, scope: ReadScope): StepReads | undefined {
  const lookup = before.args.lookup(before.config.config?.Env ?? undefined);
  try {
    return stepReads(instr, (text) => expander.word(text, lookup), scope);
  } catch {
    return undefined;
  }
}

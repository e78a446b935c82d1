/**
 * The stage graph: what each stage is built on (scratch, an earlier stage, a named context,
 * or an image), which stages it reads from (`COPY --from`, `RUN --mount from=`), which stage
 * is the target, and the stages the target needs — in an order where dependencies come first.
 * Stages the target does not reach are not built.
 */
import type { Recipe, Stage, StageInstruction } from '../../grammar/recipe.js';
import { KilnError } from '../errors/kilnError.js';
import type { WordExpander } from './expander.js';

export type SourceRef =
  | { kind: 'scratch' }
  | { kind: 'stage'; index: number }
  | { kind: 'context'; name: string }
  | { kind: 'image'; ref: string };

export interface PlannedStage {
  stage: Stage;
  /** The FROM image after global-ARG expansion. */
  baseName: string;
  base: SourceRef;
  /** FROM --platform after expansion, if given. */
  platform: string | undefined;
  /** Indices of stages this one needs finished first. */
  deps: Set<number>;
  /**
   * The stages it reads besides its base (COPY --from, RUN --mount from=, inherited ONBUILD
   * triggers), in the order its steps first read them (triggers run first): a step waits only
   * for what it reads, not for every stage the stage reads.
   */
  reads: number[];
}

export interface BuildPlan {
  stages: PlannedStage[];
  target: number;
  /** Stages to build, dependencies before dependants. */
  order: number[];
}

export interface PlanOptions {
  globals: ReadonlyMap<string, string | undefined>;
  target?: string;
  namedContexts: ReadonlySet<string>;
  expander: WordExpander;
  /** For error locations. */
  dockerfileName: string;
  /**
   * The `--from`/`from=` values of the ONBUILD triggers each stage inherits from its base (by
   * stage index): they read other stages just as the stage's own instructions do.
   */
  triggerFroms?: ReadonlyMap<number, readonly string[]>;
}

function at(file: string, instr: { range: { start: { line: number; column: number } } }) {
  return { file, line: instr.range.start.line, column: instr.range.start.column };
}

/**
 * How a `--from` / `from=` value names its source, seen from stage `current`: a stage name
 * or index before it, a named context, `scratch`, or otherwise an image reference.
 */
export function resolveFromRef(value: string, current: number, stages: readonly Stage[], namedContexts: ReadonlySet<string>): SourceRef {
  if (namedContexts.has(value)) return { kind: 'context', name: value };
  const lower = value.toLowerCase();
  for (let i = 0; i < current; i++) if (stages[i]?.name === lower) return { kind: 'stage', index: i };
  if (/^[0-9]+$/.test(value)) {
    const i = Number(value);
    if (i < current) return { kind: 'stage', index: i };
  }
  if (lower === 'scratch') return { kind: 'scratch' };
  return { kind: 'image', ref: value };
}

/** The `--from`/`from=` values an instruction names (before resolution). */
export function fromValues(instr: StageInstruction): string[] {
  if (instr.kind === 'COPY' && instr.from !== undefined) return [instr.from];
  if (instr.kind === 'RUN') return instr.mounts.filter((m) => m.from !== undefined).map((m) => m.from as string);
  return [];
}

export function planStages(recipe: Recipe, opts: PlanOptions): BuildPlan {
  const { stages } = recipe;
  if (stages.length === 0) throw new KilnError('NO_STAGES', 'the Dockerfile has no FROM instruction', { location: { file: opts.dockerfileName } });
  const lookup = (n: string) => opts.globals.get(n);
  const planned: PlannedStage[] = stages.map((stage, index) => {
    const baseName = opts.expander.word(stage.from.image, lookup);
    if (baseName === '') throw new KilnError('BAD_FROM', `base name (${stage.from.image}) should not be blank`, { location: at(opts.dockerfileName, stage.from) });
    const platform = stage.from.platform === undefined ? undefined : opts.expander.word(stage.from.platform, lookup);
    const deps = new Set<number>();
    // FROM names only earlier stages (by name), a named context, scratch or an image.
    let base: SourceRef;
    const lower = baseName.toLowerCase();
    const earlier = stages.findIndex((s, i) => i < index && s.name === lower);
    if (opts.namedContexts.has(baseName)) base = { kind: 'context', name: baseName };
    else if (earlier >= 0) base = { kind: 'stage', index: earlier };
    else if (lower === 'scratch') base = { kind: 'scratch' };
    else base = { kind: 'image', ref: baseName };
    if (base.kind === 'stage') deps.add(base.index);
    const reads: number[] = [];
    const read = (value: string): void => {
      const ref = resolveFromRef(value, index, stages, opts.namedContexts);
      if (ref.kind !== 'stage') return;
      deps.add(ref.index);
      if (!(base.kind === 'stage' && base.index === ref.index) && !reads.includes(ref.index)) reads.push(ref.index);
    };
    for (const value of opts.triggerFroms?.get(index) ?? []) read(value);
    for (const instr of stage.instructions) {
      for (const value of fromValues(instr)) {
        if (value.includes('$')) {
          throw new KilnError('FROM_EXPANSION', `variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround`, { location: at(opts.dockerfileName, instr) });
        }
        read(value);
      }
    }
    return { stage, baseName, base, platform, deps, reads };
  });

  let target = stages.length - 1;
  if (opts.target !== undefined) {
    const t = opts.target.toLowerCase();
    target = stages.findIndex((s) => s.name === t);
    if (target < 0) {
      const names = stages.map((s) => s.name).filter((n): n is string => n !== undefined);
      throw new KilnError('UNKNOWN_TARGET', `target stage "${opts.target}" could not be found${names.length ? ` (stages: ${names.join(', ')})` : ''}`);
    }
  }

  // Depth-first from the target; dependencies always have smaller indices, so sorting the
  // reached set gives a valid order.
  const reached = new Set<number>();
  const visit = (i: number): void => {
    if (reached.has(i)) return;
    reached.add(i);
    for (const d of planned[i]?.deps ?? []) visit(d);
  };
  visit(target);
  return { stages: planned, target, order: [...reached].sort((a, b) => a - b) };
}

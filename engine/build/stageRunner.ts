/**
 * Runs the stages of a planned build. A stage starts from its FROM (steps/from.ts), the ONBUILD
 * triggers it inherits first; then each instruction is a step — shown as BuildKit lists it,
 * looked up in the build cache, executed on a miss (steps/executor.ts) — and the stage's result
 * is kept for the stages that build on it or read from it. The scheduler calls it through
 * StagePhases (schedule/stageTasks.ts).
 */
import { posix } from 'node:path';
import type { Stage, StageInstruction } from '../../grammar/recipe.js';
import type { BuildOptions } from '../build.js';
import type { SourceTree } from '../context/sourceTree.js';
import type { Platform } from '../image/platform.js';
import { displayReference } from '../image/reference.js';
import { StageArgs } from '../plan/args.js';
import { fromValues, resolveFromRef, type PlannedStage } from '../plan/graph.js';
import { instructionText, isListed, stageLabels, stepPrefix, stepText, stepTotal } from '../plan/stepNames.js';
import type { StepRef } from '../progress/progress.js';
import type { Isolation } from '../runtime/isolation.js';
import type { StagePhases } from '../schedule/stageTasks.js';
import { fromState, stateFromImage } from '../steps/from.js';
import { ensurePath, takeOnbuildTriggers } from '../steps/meta.js';
import type { Snapshotter } from '../steps/snapshotter.js';
import type { LayerStorage, StageState } from '../steps/state.js';
import type { StepEnvironment } from '../steps/stepEnvironment.js';
import { stepExecutor } from '../lateLoading.js';
import { readsBefore } from '../steps/stepReads.js';
import type { PreparedBuild } from './prepare.js';

/** What the build hands the stages: its options, what was prepared, and the step machinery. */
export interface StageRunnerSetup {
  opts: BuildOptions;
  prepared: PreparedBuild;
  storage: LayerStorage;
  snapshotter: () => Promise<Snapshotter>;
  isolation: () => Promise<Isolation>;
  context: SourceTree;
  namedTrees: ReadonlyMap<string, SourceTree>;
}

/** A stage part-way through: what its next step continues from. */
interface StageRun {
  state: StageState;
  instructions: StageInstruction[];
  next: number;
  key: string | undefined;
  parentHit: boolean;
  label: string;
  platform: Platform;
  /** Steps BuildKit numbers in this stage, and how many were shown so far. */
  total: number;
  shown: number;
}

export class StageRunner implements StagePhases<StageState> {
  /** Stage results, shared by every task that reads them (FROM stage, COPY --from, mounts). */
  private readonly results = new Map<number, StageState>();
  private readonly runs = new Map<number, StageRun>();
  private readonly labels: string[];
  private readonly stages: Stage[];
  private readonly namedContextNames: ReadonlySet<string>;

  constructor(private readonly s: StageRunnerSetup) {
    const { plan } = s.prepared;
    this.labels = stageLabels(s.opts.recipe, plan);
    this.stages = plan.stages.map((p) => p.stage);
    this.namedContextNames = new Set(s.prepared.namedDirs.keys());
  }

  async whole(index: number, signal: AbortSignal): Promise<StageState> {
    const run = await this.start(index);
    await this.runSteps(index, run, signal);
    return this.finish(index, run);
  }

  async beforeReads(index: number, signal: AbortSignal): Promise<StageState> {
    const run = await this.start(index);
    this.runs.set(index, run);
    await this.runSteps(index, run, signal, new Set());
    return run.state;
  }

  async readsFrom(index: number, ready: ReadonlySet<number>, signal: AbortSignal): Promise<StageState> {
    const run = this.runs.get(index) as StageRun;
    await this.runSteps(index, run, signal, ready);
    return run.state;
  }

  async afterReads(index: number, signal: AbortSignal): Promise<StageState> {
    const run = this.runs.get(index) as StageRun;
    await this.runSteps(index, run, signal);
    return this.finish(index, run);
  }

  /** A finished stage's result. */
  result(index: number): StageState | undefined {
    return this.results.get(index);
  }

  private freshArgs(): StageArgs {
    return new StageArgs(this.s.prepared.globals, this.s.opts.buildArgs);
  }

  /** The stage's FROM step: its base state, with the ONBUILD triggers it inherits queued before its own instructions. */
  private async start(index: number): Promise<StageRun> {
    const { opts, prepared } = this.s;
    const planned = prepared.plan.stages[index] as PlannedStage;
    const stage = planned.stage;
    const label = stage.name ?? String(index);
    const platform = prepared.platformOf(planned);
    let state: StageState | undefined;
    let failure: unknown;
    try {
      state = await fromState(planned, platform, this.freshArgs(), {
        store: opts.store, storage: this.s.storage, sourceDateEpoch: opts.sourceDateEpoch,
        stageResult: (i) => this.results.get(i),
        namedTree: (name) => this.s.namedTrees.get(name) as SourceTree,
        image: (ref, p) => prepared.images.resolve(ref, p, stage.from),
      });
    } catch (e) {
      failure = e;
    }
    const triggers: StageInstruction[] = [];
    if (state) {
      ensurePath(state);
      for (const t of takeOnbuildTriggers(state)) triggers.push(...(await opts.parseTrigger(t)));
    }
    const imageBase = planned.base.kind === 'image';
    const total = stepTotal(imageBase, stage.instructions, triggers.length);
    const fromStep = imageBase
      ? opts.progress.step(`${stepPrefix(this.labels[index] ?? '', 1, total)}FROM ${displayReference(planned.baseName)}`, label)
      : opts.progress.hidden(`FROM ${planned.baseName}`, label);
    opts.observer?.step(fromStep, { stage: index, position: 0, onbuild: false });
    opts.progress.started(fromStep);
    if (!state) {
      opts.progress.error(fromStep, (failure as Error).message);
      throw failure;
    }
    opts.progress.done(fromStep);
    const instructions: StageInstruction[] = [...triggers, ...stage.instructions];
    return { state, instructions, next: 0, key: opts.cache?.baseKey(planned.base, state), parentHit: true, label, platform, total, shown: imageBase ? 1 : 0 };
  }

  /**
   * Runs the stage's steps from where it stands: to its end, or (`ready` given) up to the first
   * step that reads a stage not in `ready`.
   */
  private async runSteps(index: number, run: StageRun, signal: AbortSignal, ready?: ReadonlySet<number>): Promise<void> {
    const { opts } = this.s;
    const own = this.stages[index]?.instructions ?? [];
    for (; run.next < run.instructions.length; run.next++) {
      const instr = run.instructions[run.next] as StageInstruction;
      if (ready && this.readsUnready(index, instr, ready)) return;
      if (signal.aborted) throw signal.reason;
      const isTrigger = !own.includes(instr);
      const step = this.stepOf(index, run, instr, isTrigger);
      opts.observer?.step(step, { stage: index, position: run.next + 1, instruction: instr, onbuild: isTrigger });
      opts.progress.started(step);
      const layersBefore = run.state.layers.length;
      let hit: boolean;
      try {
        hit = await this.runStep(index, run, instr, step, isTrigger, signal);
      } catch (e) {
        opts.progress.error(step, (e as Error).message);
        throw e;
      }
      opts.observer?.layers(step, run.state.layers.slice(layersBefore).map((l) => l.diffId));
      if (hit) opts.progress.cached(step);
      else opts.progress.done(step);
    }
  }

  /** Whether the step reads a stage (COPY --from, a mount's from=) that is not in `ready`. */
  private readsUnready(index: number, instr: StageInstruction, ready: ReadonlySet<number>): boolean {
    return fromValues(instr).some((value) => {
      const ref = resolveFromRef(value, index, this.stages, this.namedContextNames);
      return ref.kind === 'stage' && !ready.has(ref.index) && ref.index !== this.baseIndex(index);
    });
  }

  private baseIndex(index: number): number | undefined {
    const base = this.s.prepared.plan.stages[index]?.base;
    return base?.kind === 'stage' ? base.index : undefined;
  }

  /** One step: served by the build cache when it has it, else executed; whether it was a hit. */
  private async runStep(index: number, run: StageRun, instr: StageInstruction, step: StepRef, isTrigger: boolean, signal: AbortSignal): Promise<boolean> {
    const { opts, prepared } = this.s;
    const before = run.state;
    // The executor (tar, copy, run) loads only when a step misses the cache.
    const env = this.environment(index, step, signal, run.platform);
    const execute = async (): Promise<StageState> => (await stepExecutor()).executeInstruction(instr, before, env);
    if (!opts.cache || run.key === undefined) {
      run.state = await execute();
      return false;
    }
    const r = await opts.cache.step({
      instr, before, parentKey: run.key, parentHit: run.parentHit, stageLabel: run.label, position: run.next + 1, onbuild: isTrigger, step,
      reads: readsBefore(instr, before, opts.expander, env), execute,
      imageId: async (ref) => (await prepared.images.resolve(ref, run.platform, instr)).id,
    });
    run.state = r.state;
    run.key = r.key;
    run.parentHit = r.hit;
    return r.hit;
  }

  /** The step of an instruction: listed as BuildKit lists it, or hidden (ENV, LABEL, WORKDIR /, …). */
  private stepOf(index: number, run: StageRun, instr: StageInstruction, isTrigger: boolean): StepRef {
    const { opts } = this.s;
    const written = instructionText(instr);
    const lookup = run.state.args.lookup(run.state.config.config?.Env);
    if (!isListed(instr) || (instr.kind === 'WORKDIR' && workdirAfter(run.state, instr, (w) => opts.expander.word(w, lookup)) === '/')) return opts.progress.hidden(written, run.label);
    const secretEnv = instr.kind === 'RUN' ? instr.mounts.flatMap((m) => (m.type === 'secret' && m.env !== undefined ? [m.env] : [])) : [];
    const text = stepText(written, instr, lookup, opts.recipe.escape, secretEnv);
    return opts.progress.step(`${stepPrefix(this.labels[index] ?? '', ++run.shown, run.total)}${isTrigger ? 'ONBUILD ' : ''}${text}`, run.label);
  }

  private finish(index: number, run: StageRun): StageState {
    if (run.key !== undefined) this.s.opts.cache?.finishStage(index, run.key);
    this.results.set(index, run.state);
    return run.state;
  }

  private environment(index: number, step: StepRef, signal: AbortSignal, platform: Platform): StepEnvironment {
    const { opts, prepared } = this.s;
    return {
      storage: this.s.storage, store: opts.store, context: this.s.context, namedTrees: this.s.namedTrees, dockerfileName: opts.dockerfileName,
      expander: opts.expander, sourceDateEpoch: opts.sourceDateEpoch, secrets: opts.secrets, runner: opts.runner,
      entitlements: new Set(opts.entitlements ?? []), snapshotter: this.s.snapshotter, isolation: this.s.isolation, signal, platform,
      buildPlatform: prepared.buildPlatform, stageIndex: index, stages: this.stages, namedContextNames: this.namedContextNames,
      stageResult: async (i: number) => {
        const r = this.results.get(i);
        if (!r) throw new Error(`stage ${i} is not built yet`);
        return r;
      },
      imageState: async (ref, where) => stateFromImage(opts.store, await prepared.images.resolve(ref, platform, where), this.freshArgs(), platform),
      output: (stream, chunk) => opts.progress.output(step, stream, chunk),
    };
  }
}

/** The working directory a WORKDIR line leads to (BuildKit lists no step when it is `/`). */
function workdirAfter(state: StageState, instr: Extract<StageInstruction, { kind: 'WORKDIR' }>, expand: (word: string) => string): string {
  let path = instr.path;
  try { path = expand(instr.path); } catch { /* the step itself reports it */ }
  return posix.resolve('/', state.config.config?.WorkingDir || '/', path);
}

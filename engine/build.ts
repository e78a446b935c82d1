/**
 * `kiln build`'s engine: plans the stages the target needs, runs them on the scheduler
 * (independent stages side by side), executes each instruction as a step, and commits the
 * final image. Parsing, variable expansion, running containers and the cache come in through
 * BuildOptions so each piece stays swappable; progress goes out through Progress events.
 */
import { chmodSync } from 'node:fs';
import { cp, mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Recipe, StageInstruction } from '../grammar/recipe.js';
import { KilnError } from './errors.js';
import { emptyConfig, type HistoryEntry, type ImageConfig } from './image/config.js';
import { IgnoreMatcher } from './context/dockerignore.js';
import { SourceTree } from './context/sourceTree.js';
import { evaluateGlobalArgs, StageArgs } from './plan/args.js';
import type { WordExpander } from './plan/expander.js';
import { fromValues, planStages, type BuildPlan, type PlannedStage, type SourceRef } from './plan/graph.js';
import { automaticArgs, formatPlatform, hostPlatform, parsePlatform, samePlatform, type Platform } from './plan/platform.js';
import type { Progress, StepRef } from './progress/progress.js';
import { runGraph, type GraphTask } from './schedule/scheduler.js';
import { instructionText, type BuildCache } from './buildCache/cachedStep.js';
import type { Store, ImageRecord } from './store/store.js';
import { ensurePath, takeOnbuildTriggers } from './steps/meta.js';
import { epochOf, newestMtime, rfc3339 } from './steps/clock.js';
import type { StepEnvironment } from './steps/executor.js';
import type { ContainerRunner } from './steps/run.js';
import type { LayerRef, LayerStorage, StageState } from './steps/state.js';
import type { DiffTree } from './layer/diffTree.js';

export interface BuildOptions {
  store: Store;
  recipe: Recipe;
  /** How errors name the Dockerfile (`Dockerfile`, `path/to/Dockerfile`). */
  dockerfileName: string;
  contextDir: string;
  ignorePatterns: string[];
  buildArgs: ReadonlyMap<string, string>;
  target?: string;
  /** `--build-context name=path` (a directory) or `name=docker-image://ref`. */
  namedContexts: ReadonlyMap<string, string>;
  /** `--secret id=ID,src=FILE`. */
  secrets: ReadonlyMap<string, string>;
  /** Target platform (`--platform`); the host's by default. */
  platform?: string;
  sourceDateEpoch?: number;
  /** The image the build probably makes again (its tag's image now): see Store.commitImage. */
  likelyImageId?: string;
  progress: Progress;
  expander: WordExpander;
  /** Parses ONBUILD trigger text into instructions. */
  parseTrigger: (text: string) => StageInstruction[] | Promise<StageInstruction[]>;
  runner: ContainerRunner | undefined;
  /** Pulls a base image that is not in the store (undefined: only local images). */
  pull?: (ref: string, platform: Platform) => Promise<ImageRecord>;
  signal?: AbortSignal;
  jobs?: number;
  /** The build cache (absent: every step runs, nothing is recorded). */
  cache?: BuildCache;
  /** Told the plan and which instruction each step is (kiln build --report). */
  observer?: BuildObserver;
}

/** What a report needs beyond progress events: the plan, each step's instruction, its layers. */
export interface BuildObserver {
  planned(plan: BuildPlan): void;
  /** `position` is 0 for the FROM, else 1-based among the stage's instructions (triggers first). */
  step(step: StepRef, where: { stage: number; position: number; instruction?: StageInstruction; onbuild: boolean }): void;
  /** The layers a finished step added to its stage. */
  layers(step: StepRef, diffIds: readonly string[]): void;
}

export interface BuildResult {
  config: ImageConfig;
  record: ImageRecord;
  /** The stages built, by index. */
  built: number[];
}

class StoreLayers implements LayerStorage {
  constructor(private readonly store: Store) {}
  /** Diff dirs become overlay dirs whose root attributes show as the image's `/`: 0755 root. */
  async scratchDir(): Promise<string> {
    const dir = await this.store.scratchDir('build');
    chmodSync(dir, 0o755);
    return dir;
  }
  snapshotDir(diffId: string): Promise<string> {
    return this.store.snapshotDir(diffId);
  }
  async commitLayer(dir: string, whiteouts: 'overlay' | 'none', clampMtime?: number): Promise<LayerRef> {
    // Loaded here, not at the top: a build served wholly from the cache writes no layer.
    const { writeLayer } = await import('./layer/tarWriter.js');
    // The blob lands behind the build (fsync, rename): the next step needs only its digest and snapshot.
    const { diffId } = await writeLayer(this.store, dir, { whiteouts, ...(clampMtime !== undefined ? { sourceDateEpoch: clampMtime } : {}) }, 'behind');
    await this.store.adoptSnapshot(diffId, dir);
    return { diffId };
  }
  async commitTree(tree: DiffTree, clampMtime?: number): Promise<LayerRef> {
    const { writeLayer } = await import('./layer/tarWriter.js');
    const { diffId } = await writeLayer(this.store, tree.root, { whiteouts: 'none', ...(clampMtime !== undefined ? { sourceDateEpoch: clampMtime } : {}) }, 'behind');
    return { diffId };
  }
}

async function stateFromImage(store: Store, record: ImageRecord, args: StageArgs, platform: Platform): Promise<StageState> {
  // The build holds its base images' content until it ends: a prune meanwhile leaves it.
  await store.holdImage(record);
  const config = JSON.parse(JSON.stringify(record.config)) as ImageConfig;
  const layers: LayerRef[] = config.rootfs.diff_ids.map((diffId) => ({ diffId }));
  return { config, layers, args, platform, cmdSetInStage: false };
}

export function cloneState(s: StageState, args: StageArgs): StageState {
  return { config: JSON.parse(JSON.stringify(s.config)) as ImageConfig, layers: [...s.layers], args, platform: s.platform, cmdSetInStage: false };
}

export async function build(opts: BuildOptions): Promise<BuildResult> {
  const { store, recipe } = opts;
  const sde = opts.sourceDateEpoch;
  const storage = new StoreLayers(store);
  const buildPlatform = hostPlatform();
  let targetPlatform: Platform;
  try { targetPlatform = opts.platform ? parsePlatform(opts.platform) : buildPlatform; } catch (e) { throw new KilnError('USAGE', (e as Error).message, { exitCode: 2 }); }

  const namedDirs = new Map<string, string>();
  const namedImages = new Map<string, string>();
  for (const [name, value] of opts.namedContexts) {
    if (value.startsWith('docker-image://')) namedImages.set(name, value.slice('docker-image://'.length));
    else namedDirs.set(name, resolve(value));
  }

  const provisional = recipe.stages.length - 1;
  const targetIndex = opts.target === undefined ? provisional : recipe.stages.findIndex((s) => s.name === opts.target?.toLowerCase());
  const targetStage = recipe.stages[targetIndex]?.name ?? 'default';
  const globals = evaluateGlobalArgs(recipe.metaArgs, opts.buildArgs, automaticArgs(buildPlatform, targetPlatform, targetStage), opts.expander);
  const planOptions = { globals, target: opts.target, namedContexts: new Set(namedDirs.keys()), expander: opts.expander, dockerfileName: opts.dockerfileName };
  let plan: BuildPlan = planStages(recipe, planOptions);
  opts.observer?.planned(plan);

  const context = new SourceTree(resolve(opts.contextDir), 'build context', new IgnoreMatcher(opts.ignorePatterns));
  const namedTrees = new Map([...namedDirs].map(([n, d]) => [n, new SourceTree(d, `context ${n}`)] as const));

  const imageStates = new Map<string, Promise<ImageRecord>>();
  const resolveImage = (ref: string, platform: Platform, where: StageInstruction | PlannedStage['stage']['from']): Promise<ImageRecord> => {
    const aliased = namedImages.get(ref) ?? ref;
    let p = imageStates.get(aliased);
    if (!p) {
      p = (async () => {
        const local = await store.resolveImage(aliased);
        if (local) return local;
        if (opts.pull) return opts.pull(aliased, platform);
        throw new KilnError('IMAGE_NOT_FOUND', `${aliased}: image not found in the store (kiln pull ${aliased}, kiln load -i FILE, or build it with -t ${aliased})`);
      })();
      imageStates.set(aliased, p);
    }
    return p.catch((e: unknown) => {
      if (e instanceof KilnError && e.location?.line === undefined) {
        throw new KilnError(e.code, e.message, { location: { file: opts.dockerfileName, line: where.range.start.line, column: where.range.start.column }, exitCode: e.exitCode });
      }
      throw e;
    });
  };

  // ONBUILD triggers a stage inherits may read other stages (ONBUILD COPY --from=builder …):
  // those stages are dependencies too, known once the bases are. Planning again can reach new
  // stages, whose bases may bring triggers of their own, until nothing new is reached.
  const platformOf = (planned: PlannedStage): Platform => (planned.platform ? parsePlatform(planned.platform) : targetPlatform);
  const triggerFroms = new Map<number, string[]>();
  for (let pending = plan.order; pending.length > 0;) {
    const found = await Promise.all(pending.map(async (i) => [i, await inheritedTriggerFroms(plan.stages[i] as PlannedStage)] as const));
    let grew = false;
    for (const [i, froms] of found) {
      triggerFroms.set(i, froms);
      grew ||= froms.length > 0;
    }
    if (!grew) break;
    plan = planStages(recipe, { ...planOptions, triggerFroms });
    pending = plan.order.filter((i) => !triggerFroms.has(i));
  }
  opts.observer?.planned(plan);

  async function inheritedTriggerFroms(planned: PlannedStage): Promise<string[]> {
    let triggers: string[] = [];
    if (planned.base.kind === 'image') {
      triggers = (await resolveImage(planned.base.ref, platformOf(planned), planned.stage.from)).config.config?.OnBuild ?? [];
    } else if (planned.base.kind === 'stage') {
      triggers = (recipe.stages[planned.base.index]?.instructions ?? []).flatMap((instr) => (instr.kind === 'ONBUILD' ? [instr.expression] : []));
    }
    const froms: string[] = [];
    for (const t of triggers) for (const instr of await opts.parseTrigger(t)) froms.push(...fromValues(instr));
    return froms;
  }

  // Stage results are shared by every task that reads them (FROM stage, COPY --from, mounts).
  const results = new Map<number, StageState>();
  const stepCounter = { n: 0 };
  const total = plan.order.reduce((n, i) => n + 1 + (plan.stages[i]?.stage.instructions.length ?? 0), 0);

  /** A stage part-way through: what its next step continues from. */
  interface StageRun {
    state: StageState;
    instructions: StageInstruction[];
    next: number;
    key: string | undefined;
    parentHit: boolean;
    label: string;
    platform: Platform;
  }
  const runs = new Map<number, StageRun>();

  const startStage = async (index: number): Promise<StageRun> => {
    const planned = plan.stages[index] as PlannedStage;
    const stage = planned.stage;
    const label = stage.name ?? String(index);
    const platform = platformOf(planned);
    const fromStep = opts.progress.step(`[${label} ${++stepCounter.n}/${total}] FROM ${planned.baseName}${stage.name ? ` AS ${stage.name}` : ''}`, label);
    opts.observer?.step(fromStep, { stage: index, position: 0, onbuild: false });
    opts.progress.started(fromStep);
    let state: StageState;
    try {
      state = await baseState(planned.base, planned, platform);
    } catch (e) {
      opts.progress.error(fromStep, (e as Error).message);
      throw e;
    }
    opts.progress.done(fromStep);
    ensurePath(state);
    const triggers = takeOnbuildTriggers(state);
    const instructions: StageInstruction[] = [];
    for (const t of triggers) instructions.push(...(await opts.parseTrigger(t)));
    instructions.push(...stage.instructions);
    return { state, instructions, next: 0, key: opts.cache?.baseKey(planned.base, state), parentHit: true, label, platform };
  };

  /** Runs the stage's steps from where it stands; `untilFrom` stops before the first step reading another stage. */
  const runSteps = async (index: number, run: StageRun, signal: AbortSignal, untilFrom: boolean): Promise<void> => {
    const stage = (plan.stages[index] as PlannedStage).stage;
    const { label, platform } = run;
    for (; run.next < run.instructions.length; run.next++) {
      const instr = run.instructions[run.next] as StageInstruction;
      if (untilFrom && fromValues(instr).length > 0) return;
      if (signal.aborted) throw signal.reason;
      const isTrigger = !stage.instructions.includes(instr);
      const step = opts.progress.step(`[${label} ${++stepCounter.n}/${total}] ${isTrigger ? 'ONBUILD ' : ''}${instructionText(instr)}`, label);
      const position = run.next + 1;
      opts.observer?.step(step, { stage: index, position, instruction: instr, onbuild: isTrigger });
      opts.progress.started(step);
      const layersBefore = run.state.layers.length;
      let hit = false;
      try {
        const before = run.state;
        // The executor (tar, copy, run) loads only when a step misses the cache.
        const execute = async (): Promise<StageState> => (await import('./steps/executor.js')).executeInstruction(instr, before, env(index, step, signal, platform));
        if (opts.cache && run.key !== undefined) {
          const r = await opts.cache.step({
            instr, before, parentKey: run.key, parentHit: run.parentHit, stageIndex: index, stageLabel: label, position, onbuild: isTrigger, step,
            stages: plan.stages.map((s) => s.stage), context, namedTrees, namedContextNames: new Set(namedDirs.keys()), execute,
          });
          run.state = r.state;
          run.key = r.key;
          hit = r.hit;
          run.parentHit = r.hit;
        } else {
          run.state = await execute();
        }
      } catch (e) {
        opts.progress.error(step, (e as Error).message);
        throw e;
      }
      opts.observer?.layers(step, run.state.layers.slice(layersBefore).map((l) => l.diffId));
      if (hit) opts.progress.cached(step);
      else opts.progress.done(step);
    }
  };

  const finishStage = (index: number, run: StageRun): StageState => {
    if (run.key !== undefined) opts.cache?.finishStage(index, run.key);
    results.set(index, run.state);
    return run.state;
  };

  const baseState = async (base: SourceRef, planned: PlannedStage, platform: Platform): Promise<StageState> => {
    const fresh = new StageArgs(globals, opts.buildArgs);
    switch (base.kind) {
      case 'scratch': {
        const cfg = emptyConfig({ os: platform.os, architecture: platform.architecture, ...(platform.variant ? { variant: platform.variant } : {}) });
        cfg.config = {};
        return { config: cfg, layers: [], args: fresh, platform, cmdSetInStage: false };
      }
      case 'stage': {
        const parent = results.get(base.index);
        if (!parent) throw new Error(`stage ${base.index} was not built before stage ${planned.stage.index}`);
        return cloneState(parent, parent.args.fork());
      }
      case 'context': {
        const tree = namedTrees.get(base.name) as SourceTree;
        const dir = await storage.scratchDir();
        await mkdir(dir, { recursive: true });
        await cp(tree.root, dir, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
        const created = rfc3339(sde ?? await newestMtime(dir));
        const layer = await storage.commitLayer(dir, 'none', sde);
        const cfg = emptyConfig({ os: platform.os, architecture: platform.architecture });
        cfg.config = {};
        cfg.created = created;
        cfg.rootfs.diff_ids.push(layer.diffId);
        (cfg.history ??= []).push({ created, created_by: `context ${base.name}`, comment: 'buildkit.dockerfile.v0' });
        return { config: cfg, layers: [layer], args: fresh, platform, cmdSetInStage: false };
      }
      case 'image': {
        const record = await resolveImage(base.ref, platform, planned.stage.from);
        const st = await stateFromImage(store, record, fresh, platform);
        if (!samePlatform({ os: st.config.os, architecture: st.config.architecture, ...(st.config.variant ? { variant: st.config.variant } : {}) }, platform)
          && st.config.architecture !== platform.architecture) {
          opts.progress.note(opts.progress.step(`FROM ${base.ref}`, planned.stage.name ?? String(planned.stage.index)), `image platform ${st.config.os}/${st.config.architecture} does not match ${formatPlatform(platform)}`);
        }
        return st;
      }
    }
  };

  const env = (index: number, step: StepRef, signal: AbortSignal, platform: Platform): StepEnvironment => ({
    storage, store, context, namedTrees, dockerfileName: opts.dockerfileName, expander: opts.expander,
    sourceDateEpoch: sde, secrets: opts.secrets,
    runner: opts.runner, signal, platform, buildPlatform,
    stageIndex: index, stages: plan.stages.map((s) => s.stage), namedContextNames: new Set(namedDirs.keys()),
    stageResult: async (i: number) => {
      const r = results.get(i);
      if (!r) throw new Error(`stage ${i} is not built yet`);
      return r;
    },
    imageState: async (ref: string, where: StageInstruction) => stateFromImage(store, await resolveImage(ref, platform, where), new StageArgs(globals, opts.buildArgs), platform),
    output: (stream, chunk) => opts.progress.output(step, stream, chunk),
  });

  // A stage that reads another one (COPY --from, RUN --mount from=) is two tasks: its steps up to
  // that read wait only for its base; the rest waits for the stages it reads too. So each step
  // waits only for what it depends on, and no task ever waits inside a queue slot.
  const tasks: GraphTask<StageState>[] = [];
  for (const i of plan.order) {
    const planned = plan.stages[i] as PlannedStage;
    const deps = [...planned.deps];
    const baseDeps = planned.base.kind === 'stage' ? [planned.base.index] : [];
    const reads = deps.some((d) => !baseDeps.includes(d));
    if (!reads) {
      tasks.push({
        id: String(i), deps: deps.map(String),
        run: async (signal) => {
          const run = await startStage(i);
          await runSteps(i, run, signal, false);
          return finishStage(i, run);
        },
      });
      continue;
    }
    tasks.push({
      id: `${i}:before-reads`, deps: baseDeps.map(String),
      run: async (signal) => {
        const run = await startStage(i);
        runs.set(i, run);
        await runSteps(i, run, signal, true);
        return run.state;
      },
    });
    tasks.push({
      id: String(i), deps: [`${i}:before-reads`, ...deps.filter((d) => !baseDeps.includes(d)).map(String)],
      run: async (signal) => {
        const run = runs.get(i) as StageRun;
        await runSteps(i, run, signal, false);
        return finishStage(i, run);
      },
    });
  }
  await runGraph(tasks, { ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.jobs ? { jobs: opts.jobs } : {}) });

  const final = results.get(plan.target) as StageState;
  const config = finalConfig(final, sde);
  // Every layer blob is in place and durable before an image names it.
  await store.settleWrites();
  const record = await store.commitImage(config, opts.likelyImageId);
  return { config, record, built: plan.order };
}

/** The committed config: `created` is SOURCE_DATE_EPOCH when set, else the newest input time. */
function finalConfig(state: StageState, sde: number | undefined): ImageConfig {
  const config = JSON.parse(JSON.stringify(state.config)) as ImageConfig;
  config.created = rfc3339(sde ?? epochOf(state.config));
  config.rootfs = { type: 'layers', diff_ids: state.layers.map((l) => l.diffId) };
  const history: HistoryEntry[] = config.history ?? [];
  config.history = history;
  return config;
}

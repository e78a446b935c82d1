/**
 * `kiln build`'s engine: plans the stages the target needs, runs them on the scheduler
 * (independent stages side by side), executes each instruction as a step, and commits the
 * final image. Parsing, variable expansion, running containers and the cache come in through
 * BuildOptions so each piece stays swappable; progress goes out through Progress events.
 */
import { chmodSync } from 'node:fs';
import { cp, mkdir } from 'node:fs/promises';
import { basename, posix, resolve } from 'node:path';
import type { Recipe, StageInstruction } from '../grammar/recipe.js';
import { KilnError } from './errors/kilnError.js';
import { displayReference } from './image/reference.js';
import { emptyConfig, type HistoryEntry, type ImageConfig } from './image/config.js';
import { IgnoreMatcher } from './context/dockerignore.js';
import { SourceTree } from './context/sourceTree.js';
import { ArgExpansionError, evaluateGlobalArgs, StageArgs } from './plan/args.js';
import type { WordExpander } from './plan/expander.js';
import { fromValues, planStages, type BuildPlan, type PlannedStage, type SourceRef } from './plan/graph.js';
import { automaticArgs } from './plan/automaticArgs.js';
import { hostPlatform, parsePlatform, type Platform } from './image/platform.js';
import type { Progress, StepRef } from './progress/progress.js';
import type { CheckInputs, CheckReport } from './plan/checks/checkRecipe.js';
import { checkBases, reportChecks } from './plan/checks/buildChecks.js';
import { instructionText, isHeredocScript, isListed, stageLabels, stepPrefix, stepText, stepTotal } from './plan/stepNames.js';
import { runGraph, type GraphTask } from './schedule/scheduler.js';
import type { BuildCache } from './schedule/cachedStep.js';
import type { Store, ImageRecord } from './store/store.js';
import { ensurePath, takeOnbuildTriggers } from './steps/meta.js';
import { epochOf, newestMtime, rfc3339 } from './steps/clock.js';
import type { StepEnvironment } from './steps/executor.js';
import type { ContainerRunner } from './steps/run.js';
import type { LayerRef, LayerStorage, StageState } from './steps/state.js';
import type { LayerEntry } from './layer/layerEntry.js';
import type { Isolation } from './runtime/isolation.js';
import type { SnapshotterRequest } from './steps/snapshotter.js';
import { chooseSnapshotter } from './steps/snapshotterChoice.js';
import { layerXattrs } from './layer/layerXattrs.js';
import { layerWriter, stepExecutor } from './lateLoading.js';

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
  /** `--snapshotter` (auto: copy under chroot isolation or where overlay mounts are refused). */
  snapshotter?: SnapshotterRequest;
  /** The isolation RUN steps get, settled at the first RUN (runtime/isolation.ts). */
  isolation?: () => Promise<Isolation>;
  /** Entitlements granted to the build (`--allow`), as BuildKit's: only `security.insecure`. */
  entitlements?: readonly string[];
  /** Pulls a base image that is not in the store (undefined: only local images). */
  pull?: (ref: string, platform: Platform) => Promise<ImageRecord>;
  signal?: AbortSignal;
  jobs?: number;
  /** The build cache (absent: every step runs, nothing is recorded). */
  cache?: BuildCache;
  /** The build checks: checks (or recalls the checks of) the recipe for these inputs. Absent: none run. */
  checks?: (inputs: CheckInputs) => Promise<CheckReport>;
  /** Bytes of the Dockerfile and of its .dockerignore, for the steps that say they were read. */
  sourceSizes?: { dockerfile: number; dockerignore: number };
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
    // The blob lands behind the build (fsync, rename): the next step needs only its digest and snapshot.
    const { diffId } = await (await layerWriter()).writeLayer(this.store, dir, { whiteouts, ...(clampMtime !== undefined ? { sourceDateEpoch: clampMtime } : {}) }, 'behind');
    await this.store.adoptSnapshot(diffId, dir);
    return { diffId };
  }
  async commitTree(tree: { readonly root: LayerEntry }, clampMtime?: number, whiteouts: 'overlay' | 'none' = 'none'): Promise<LayerRef> {
    const { diffId } = await (await layerWriter()).writeLayer(this.store, tree.root, { whiteouts, ...(clampMtime !== undefined ? { sourceDateEpoch: clampMtime } : {}) }, 'behind');
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

/** What planning settled before any step runs: shared by a build and by `kiln build --check`. */
interface PreparedBuild {
  plan: BuildPlan;
  globals: Map<string, string | undefined>;
  buildPlatform: Platform;
  targetPlatform: Platform;
  namedDirs: Map<string, string>;
  resolveImage: (ref: string, platform: Platform, where: StageInstruction | PlannedStage['stage']['from']) => Promise<ImageRecord>;
  platformOf: (planned: PlannedStage) => Platform;
  checks: CheckReport | undefined;
}

/**
 * Plans the stages, resolves their base images and runs the build checks, showing BuildKit's first
 * steps: loading the Dockerfile (with the checks' warnings), its .dockerignore, each base image's
 * metadata. `allStages`: check every stage, not only those the target needs (`--check`).
 */
async function prepare(opts: BuildOptions, allStages: boolean, onChecks?: (report: CheckReport) => void): Promise<PreparedBuild> {
  const { store, recipe, progress } = opts;
  const buildPlatform = hostPlatform();
  let targetPlatform: Platform;
  try { targetPlatform = opts.platform ? parsePlatform(opts.platform) : buildPlatform; } catch (e) { throw new KilnError('USAGE', (e as Error).message, { exitCode: 2 }); }
  const definition = progress.step(`[internal] load build definition from ${basename(opts.dockerfileName)}`, 'internal');
  progress.started(definition);
  if (opts.sourceSizes) progress.note(definition, `transferring dockerfile: ${opts.sourceSizes.dockerfile}B done`);

  const namedDirs = new Map<string, string>();
  const namedImages = new Map<string, string>();
  for (const [name, value] of opts.namedContexts) {
    if (value.startsWith('docker-image://')) namedImages.set(name, value.slice('docker-image://'.length));
    else namedDirs.set(name, resolve(value));
  }

  const provisional = recipe.stages.length - 1;
  const targetIndex = opts.target === undefined ? provisional : recipe.stages.findIndex((s) => s.name === opts.target?.toLowerCase());
  const targetStage = recipe.stages[targetIndex]?.name ?? 'default';
  let globals: Map<string, string | undefined>;
  try {
    globals = evaluateGlobalArgs(recipe.metaArgs, opts.buildArgs, automaticArgs(buildPlatform, targetPlatform, targetStage), opts.expander);
  } catch (e) {
    if (!(e instanceof ArgExpansionError)) throw e;
    throw new KilnError('EXPANSION', e.message, { location: { file: opts.dockerfileName, line: e.where.range.start.line, column: e.where.range.start.column } });
  }
  const planOptions = { globals, target: opts.target, namedContexts: new Set(namedDirs.keys()), expander: opts.expander, dockerfileName: opts.dockerfileName };

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
  const platformOf = (planned: PlannedStage): Platform => (planned.platform ? parsePlatform(planned.platform) : targetPlatform);

  // ONBUILD triggers a stage inherits may read other stages (ONBUILD COPY --from=builder …):
  // those stages are dependencies too, known once the bases are. Planning again can reach new
  // stages, whose bases may bring triggers of their own, until nothing new is reached.
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
  // A failure here (a bad FROM, a base image that cannot be found) is reported after the checks
  // that need no base image, as BuildKit reports their warnings before it fails.
  let plan: BuildPlan | undefined;
  let failure: unknown;
  try {
    plan = planStages(recipe, planOptions);
    opts.observer?.planned(plan);
    const triggerFroms = new Map<number, string[]>();
    for (let pending = plan.order; pending.length > 0;) {
      const current: BuildPlan = plan;
      const found = await Promise.all(pending.map(async (i) => [i, await inheritedTriggerFroms(current.stages[i] as PlannedStage)] as const));
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
  } catch (e) {
    failure = e;
  }
  const checked = plan === undefined ? [] : allStages ? plan.stages.map((_, i) => i) : plan.order;
  let checks: CheckReport | undefined;
  if (opts.checks) {
    const inputs: CheckInputs = {
      buildArgs: opts.buildArgs, target: opts.target, buildPlatform, targetPlatform, platformGiven: opts.platform !== undefined,
      dispatched: checked, ignorePatterns: opts.ignorePatterns,
    };
    if (plan !== undefined && failure === undefined) {
      try { inputs.bases = await checkBases(plan, checked, (ref, planned) => resolveImage(ref, platformOf(planned), planned.stage.from)); } catch (e) { failure = e; }
    }
    checks = await reportChecks(opts.checks, inputs, progress, definition, opts.dockerfileName);
    onChecks?.(checks);
  }
  progress.done(definition);
  const ignore = progress.step('[internal] load .dockerignore', 'internal');
  progress.started(ignore);
  if (opts.sourceSizes) progress.note(ignore, `transferring context: ${opts.sourceSizes.dockerignore}B done`);
  progress.done(ignore);
  if (plan !== undefined) await showBaseImages(plan, checked, resolveImage, platformOf, progress);
  if (failure !== undefined || plan === undefined) throw failure;
  return { plan, globals, buildPlatform, targetPlatform, namedDirs, resolveImage, platformOf, checks };
}

/** One `[internal] load metadata for IMAGE` step per base image, in stage order, failing where the image is missing. */
async function showBaseImages(plan: BuildPlan, stages: readonly number[], resolveImage: PreparedBuild['resolveImage'], platformOf: PreparedBuild['platformOf'], progress: Progress): Promise<void> {
  const shown = new Set<string>();
  for (const i of stages) {
    const planned = plan.stages[i] as PlannedStage;
    if (planned.base.kind !== 'image' || shown.has(planned.base.ref)) continue;
    shown.add(planned.base.ref);
    const step = progress.step(`[internal] load metadata for ${displayReference(planned.base.ref)}`, 'internal');
    progress.started(step);
    try {
      await resolveImage(planned.base.ref, platformOf(planned), planned.stage.from);
    } catch (e) {
      progress.error(step, (e as Error).message);
      throw e;
    }
    progress.done(step);
  }
}


/**
 * `kiln build --check`: plans and checks, builds nothing; every stage unless a target is given.
 * A build that could not even start (a base image not found) still has the findings made before.
 */
export async function checkBuild(opts: BuildOptions): Promise<{ report: CheckReport; failure?: unknown }> {
  let report: CheckReport = { findings: [] };
  try {
    await prepare(opts, opts.target === undefined, (r) => { report = r; });
  } catch (failure) {
    return { report, failure };
  }
  return { report };
}

export async function build(opts: BuildOptions): Promise<BuildResult> {
  const { store, recipe } = opts;
  const sde = opts.sourceDateEpoch;
  const storage = new StoreLayers(store);
  const isolation = opts.isolation ?? (async (): Promise<Isolation> => 'namespaces');
  const snapshotter = chooseSnapshotter(opts.snapshotter ?? 'auto', {
    snapshotDir: (d) => storage.snapshotDir(d), scratchDir: () => storage.scratchDir(),
    copies: store.rootfsCopies, xattrs: layerXattrs,
  }, isolation);
  const { plan, globals, buildPlatform, targetPlatform, namedDirs, resolveImage, platformOf, checks } = await prepare(opts, false);
  if (checks?.error !== undefined) throw new KilnError('CHECKS_FAILED', checks.error, { location: { file: opts.dockerfileName } });

  const context = new SourceTree(resolve(opts.contextDir), 'build context', new IgnoreMatcher(opts.ignorePatterns));
  const namedTrees = new Map([...namedDirs].map(([n, d]) => [n, new SourceTree(d, `context ${n}`)] as const));
  const labels = stageLabels(recipe, plan);
  showStepSources(plan, opts.progress);

  // Stage results are shared by every task that reads them (FROM stage, COPY --from, mounts).
  const results = new Map<number, StageState>();

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
  const runs = new Map<number, StageRun>();

  const startStage = async (index: number): Promise<StageRun> => {
    const planned = plan.stages[index] as PlannedStage;
    const stage = planned.stage;
    const label = stage.name ?? String(index);
    const platform = platformOf(planned);
    let state: StageState | undefined;
    let failure: unknown;
    try {
      state = await baseState(planned.base, planned, platform);
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
      ? opts.progress.step(`${stepPrefix(labels[index] ?? '', 1, total)}FROM ${displayReference(planned.baseName)}`, label)
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
  };

  /** The step of an instruction: listed as BuildKit lists it, or hidden (ENV, LABEL, WORKDIR /, …). */
  const stepOf = (index: number, run: StageRun, instr: StageInstruction, isTrigger: boolean): StepRef => {
    const written = instructionText(instr);
    const env = run.state.config.config?.Env;
    const lookup = run.state.args.lookup(env);
    if (!isListed(instr) || (instr.kind === 'WORKDIR' && workdirAfter(run.state, instr, (w) => opts.expander.word(w, lookup)) === '/')) return opts.progress.hidden(written, run.label);
    const secretEnv = instr.kind === 'RUN' ? instr.mounts.flatMap((m) => (m.type === 'secret' && m.env !== undefined ? [m.env] : [])) : [];
    const text = stepText(written, instr, lookup, recipe.escape, secretEnv);
    return opts.progress.step(`${stepPrefix(labels[index] ?? '', ++run.shown, run.total)}${isTrigger ? 'ONBUILD ' : ''}${text}`, run.label);
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
      const step = stepOf(index, run, instr, isTrigger);
      const position = run.next + 1;
      opts.observer?.step(step, { stage: index, position, instruction: instr, onbuild: isTrigger });
      opts.progress.started(step);
      const layersBefore = run.state.layers.length;
      let hit = false;
      try {
        const before = run.state;
        const execute = async (): Promise<StageState> => (await stepExecutor()).executeInstruction(instr, before, env(index, step, signal, platform));
        if (opts.cache && run.key !== undefined) {
          const r = await opts.cache.step({
            instr, before, parentKey: run.key, parentHit: run.parentHit, stageIndex: index, stageLabel: label, position, onbuild: isTrigger, step,
            stages: plan.stages.map((s) => s.stage), context, namedTrees, namedContextNames: new Set(namedDirs.keys()), execute,
            imageId: async (ref) => (await resolveImage(ref, platform, instr)).id,
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
        // BuildKit's empty image: WorkingDir "/" (and the default PATH, added below for every stage).
        cfg.config = { WorkingDir: '/' };
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
        cfg.config = { WorkingDir: '/' };
        cfg.created = created;
        cfg.rootfs.diff_ids.push(layer.diffId);
        (cfg.history ??= []).push({ created, created_by: `context ${base.name}`, comment: 'buildkit.dockerfile.v0' });
        return { config: cfg, layers: [layer], args: fresh, platform, cmdSetInStage: false };
      }
      case 'image': {
        const record = await resolveImage(base.ref, platform, planned.stage.from);
        const st = await stateFromImage(store, record, fresh, platform);
        return st;
      }
    }
  };

  const env = (index: number, step: StepRef, signal: AbortSignal, platform: Platform): StepEnvironment => ({
    storage, store, context, namedTrees, dockerfileName: opts.dockerfileName, expander: opts.expander,
    sourceDateEpoch: sde, secrets: opts.secrets,
    runner: opts.runner, entitlements: new Set(opts.entitlements ?? []), snapshotter, isolation, signal, platform, buildPlatform,
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

/**
 * BuildKit's steps for what the build's steps read, shown before them: one `[internal] preparing
 * inline document` per heredoc file (COPY/ADD `<<EOF`, a RUN heredoc script with `#!`), then
 * `[internal] load build context` when a step reads the context.
 */
function showStepSources(plan: BuildPlan, progress: Progress): void {
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

/** The working directory a WORKDIR line leads to (BuildKit lists no step when it is `/`). */
function workdirAfter(state: StageState, instr: Extract<StageInstruction, { kind: 'WORKDIR' }>, expand: (word: string) => string): string {
  let path = instr.path;
  try { path = expand(instr.path); } catch { /* the step itself reports it */ }
  return posix.resolve('/', state.config.config?.WorkingDir || '/', path);
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

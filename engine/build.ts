/**
 * `kiln build`'s engine, orchestration only: prepares the build (the plan, its base images, the
 * checks: build/prepare.ts and plan/), runs the stages on the scheduler (independent stages side
 * by side: schedule/stageTasks.ts, build/stageRunner.ts), and commits the final image. Parsing,
 * variable expansion, running containers and the cache come in through BuildOptions so each
 * piece stays swappable; progress goes out through Progress events.
 */
import { resolve } from 'node:path';
import type { Recipe, StageInstruction } from '../grammar/recipe.js';
import { KilnError } from './errors/kilnError.js';
import type { HistoryEntry, ImageConfig } from './image/config.js';
import type { Platform } from './image/platform.js';
import { IgnoreMatcher } from './context/dockerignore.js';
import { SourceTree } from './context/sourceTree.js';
import type { WordExpander } from './plan/expander.js';
import type { BuildPlan } from './plan/graph.js';
import type { CheckInputs, CheckReport } from './plan/checks/checkRecipe.js';
import type { Progress, StepRef } from './progress/progress.js';
import { runGraph } from './schedule/scheduler.js';
import { stageTasks } from './schedule/stageTasks.js';
import type { BuildCache } from './schedule/cachedStep.js';
import type { Store, ImageRecord } from './store/store.js';
import { epochOf, rfc3339 } from './steps/clock.js';
import type { ContainerRunner } from './steps/runProcess.js';
import type { StageState } from './steps/state.js';
import type { Isolation } from './runtime/isolation.js';
import type { SnapshotterRequest } from './steps/snapshotter.js';
import { chooseSnapshotter } from './steps/snapshotterChoice.js';
import { layerXattrs } from './layer/layerXattrs.js';
import { prepare } from './build/prepare.js';
import { StageRunner } from './build/stageRunner.js';
import { showStepSources } from './build/stepSources.js';
import { StoreLayers } from './build/storeLayers.js';
import type { BuildArgs } from './plan/buildArgs.js';

export interface BuildOptions {
  store: Store;
  recipe: Recipe;
  /** How errors name the Dockerfile (`Dockerfile`, `path/to/Dockerfile`). */
  dockerfileName: string;
  contextDir: string;
  ignorePatterns: string[];
  buildArgs: BuildArgs;
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
  const { store } = opts;
  const storage = new StoreLayers(store);
  const isolation = opts.isolation ?? (async (): Promise<Isolation> => 'namespaces');
  const snapshotter = chooseSnapshotter(opts.snapshotter ?? 'auto', {
    snapshotDir: (d) => storage.snapshotDir(d), scratchDir: () => storage.scratchDir(),
    copies: store.rootfsCopies, xattrs: layerXattrs,
  }, isolation);
  const prepared = await prepare(opts, false);
  if (prepared.checks?.error !== undefined) throw new KilnError('CHECKS_FAILED', prepared.checks.error, { location: { file: opts.dockerfileName } });
  const { plan } = prepared;
  const context = new SourceTree(resolve(opts.contextDir), 'build context', new IgnoreMatcher(opts.ignorePatterns));
  const namedTrees = new Map([...prepared.namedDirs].map(([n, d]) => [n, new SourceTree(d, `context ${n}`)] as const));
  showStepSources(plan, opts.progress);
  const stages = new StageRunner({ opts, prepared, storage, snapshotter, isolation, context, namedTrees });
  await runGraph(stageTasks(plan, stages), { ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.jobs ? { jobs: opts.jobs } : {}) });
  const config = finalConfig(stages.result(plan.target) as StageState, opts.sourceDateEpoch);
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

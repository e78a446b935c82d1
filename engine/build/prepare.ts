/**
 * What a build settles before any step runs, shared with `kiln build --check`: the plan
 * (plan/planBuild.ts), its base images, the build checks — shown as BuildKit's first steps:
 * loading the Dockerfile (with the checks' warnings), its .dockerignore, each base image's
 * metadata.
 */
import { basename, resolve } from 'node:path';
import type { BuildOptions } from '../build.js';
import { hostPlatform, type Platform } from '../image/platform.js';
import { displayReference } from '../image/reference.js';
import { checkBases, reportChecks } from '../plan/checks/buildChecks.js';
import type { CheckInputs, CheckReport } from '../plan/checks/checkRecipe.js';
import type { BuildPlan, PlannedStage } from '../plan/graph.js';
import { globalArgsOf, planWithTriggers, splitNamedContexts, stagePlatform, targetPlatformOf } from '../plan/planBuild.js';
import type { Progress } from '../progress/progress.js';
import { BaseImages } from './baseImages.js';

export interface PreparedBuild {
  plan: BuildPlan;
  globals: Map<string, string | undefined>;
  buildPlatform: Platform;
  targetPlatform: Platform;
  namedDirs: Map<string, string>;
  images: BaseImages;
  platformOf: (planned: PlannedStage) => Platform;
  checks: CheckReport | undefined;
}

/**
 * Plans the stages, resolves their base images and runs the build checks. `allStages`: check
 * every stage, not only those the target needs (`--check`). A failure to plan (a bad FROM, a
 * base image that cannot be found) is reported after the checks that need no base image, as
 * BuildKit reports their warnings before it fails.
 */
export async function prepare(opts: BuildOptions, allStages: boolean, onChecks?: (report: CheckReport) => void): Promise<PreparedBuild> {
  const { recipe, progress } = opts;
  const buildPlatform = hostPlatform();
  const targetPlatform = targetPlatformOf(opts.platform, buildPlatform);
  const definition = progress.step(`[internal] load build definition from ${basename(opts.dockerfileName)}`, 'internal');
  progress.started(definition);
  if (opts.sourceSizes) progress.note(definition, `transferring dockerfile: ${opts.sourceSizes.dockerfile}B done`);
  const named = splitNamedContexts(opts.namedContexts, (d) => resolve(d));
  const globals = globalArgsOf({ ...opts, buildPlatform, targetPlatform });
  const images = new BaseImages(opts.store, named.images, opts.pull, opts.dockerfileName);
  const platformOf = (planned: PlannedStage): Platform => stagePlatform(planned, targetPlatform);
  const baseOf = (ref: string, planned: PlannedStage) => images.resolve(ref, platformOf(planned), planned.stage.from);
  let plan: BuildPlan | undefined;
  let failure: unknown;
  try {
    const options = { globals, target: opts.target, namedContexts: new Set(named.dirs.keys()), expander: opts.expander, dockerfileName: opts.dockerfileName };
    const sources = {
      imageTriggers: async (ref: string, planned: PlannedStage) => (await baseOf(ref, planned)).config.config?.OnBuild ?? [],
      parseTrigger: opts.parseTrigger,
    };
    plan = await planWithTriggers(recipe, options, sources, (p) => opts.observer?.planned(p));
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
      try { inputs.bases = await checkBases(plan, checked, baseOf); } catch (e) { failure = e; }
    }
    checks = await reportChecks(opts.checks, inputs, progress, definition, opts.dockerfileName);
    onChecks?.(checks);
  }
  progress.done(definition);
  const ignore = progress.step('[internal] load .dockerignore', 'internal');
  progress.started(ignore);
  if (opts.sourceSizes) progress.note(ignore, `transferring context: ${opts.sourceSizes.dockerignore}B done`);
  progress.done(ignore);
  if (plan !== undefined) await showBaseImages(plan, checked, baseOf, progress);
  if (failure !== undefined || plan === undefined) throw failure;
  return { plan, globals, buildPlatform, targetPlatform, namedDirs: named.dirs, images, platformOf, checks };
}

/** One `[internal] load metadata for IMAGE` step per base image, in stage order, failing where the image is missing. */
async function showBaseImages(plan: BuildPlan, stages: readonly number[], baseOf: (ref: string, planned: PlannedStage) => Promise<unknown>, progress: Progress): Promise<void> {
  const shown = new Set<string>();
  for (const i of stages) {
    const planned = plan.stages[i] as PlannedStage;
    if (planned.base.kind !== 'image' || shown.has(planned.base.ref)) continue;
    shown.add(planned.base.ref);
    const step = progress.step(`[internal] load metadata for ${displayReference(planned.base.ref)}`, 'internal');
    progress.started(step);
    try {
      await baseOf(planned.base.ref, planned);
    } catch (e) {
      progress.error(step, (e as Error).message);
      throw e;
    }
    progress.done(step);
  }
}

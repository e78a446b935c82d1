/**
 * Planning a build from what the user asked: `--build-context`s split into directories and
 * images, the target platform, the global ARGs (the automatic platform ones first), and the
 * stage graph — planned again while the ONBUILD triggers the stages inherit reach further
 * stages (`ONBUILD COPY --from=builder …` makes `builder` a dependency, known only once the
 * bases are). Base images come in through a function: planning knows no store.
 */
import type { Recipe, StageInstruction } from '../../grammar/recipe.js';
import { KilnError } from '../errors/kilnError.js';
import { parsePlatform, type Platform } from '../image/platform.js';
import { ArgExpansionError, evaluateGlobalArgs } from './args.js';
import { automaticArgs } from './automaticArgs.js';
import type { WordExpander } from './expander.js';
import { fromValues, planStages, type BuildPlan, type PlannedStage, type PlanOptions } from './graph.js';
import type { BuildArgs } from './buildArgs.js';

/** `--build-context NAME=DIR` and `NAME=docker-image://REF`, apart. */
export interface NamedContexts {
  /** Directories (absolute), by name. */
  dirs: Map<string, string>;
  /** Image references a name stands for. */
  images: Map<string, string>;
}

export function splitNamedContexts(named: ReadonlyMap<string, string>, resolveDir: (path: string) => string): NamedContexts {
  const dirs = new Map<string, string>();
  const images = new Map<string, string>();
  for (const [name, value] of named) {
    if (value.startsWith('docker-image://')) images.set(name, value.slice('docker-image://'.length));
    else dirs.set(name, resolveDir(value));
  }
  return { dirs, images };
}

/** `--platform` (the build platform when not given); a bad one is a usage error. */
export function targetPlatformOf(platform: string | undefined, buildPlatform: Platform): Platform {
  try { return platform ? parsePlatform(platform) : buildPlatform; } catch (e) { throw new KilnError('USAGE', (e as Error).message, { exitCode: 2 }); }
}

/** The platform a stage is built for: its FROM --platform, else the target platform. */
export function stagePlatform(planned: PlannedStage, targetPlatform: Platform): Platform {
  return planned.platform ? parsePlatform(planned.platform) : targetPlatform;
}

export interface GlobalArgInputs {
  recipe: Recipe;
  buildArgs: BuildArgs;
  target?: string | undefined;
  buildPlatform: Platform;
  targetPlatform: Platform;
  expander: WordExpander;
  dockerfileName: string;
}

/** The values FROM lines see: the automatic ARGs (TARGETSTAGE the target's name), then the global ARGs with build args. */
export function globalArgsOf(i: GlobalArgInputs): Map<string, string | undefined> {
  const stages = i.recipe.stages;
  const targetIndex = i.target === undefined ? stages.length - 1 : stages.findIndex((s) => s.name === i.target?.toLowerCase());
  const targetStage = stages[targetIndex]?.name ?? 'default';
  try {
    return evaluateGlobalArgs(i.recipe.metaArgs, i.buildArgs, automaticArgs(i.buildPlatform, i.targetPlatform, targetStage), i.expander);
  } catch (e) {
    if (!(e instanceof ArgExpansionError)) throw e;
    throw new KilnError('EXPANSION', e.message, { location: { file: i.dockerfileName, line: e.where.range.start.line, column: e.where.range.start.column } });
  }
}

/** How planning learns what ONBUILD triggers a stage inherits. */
export interface TriggerSources {
  /** The OnBuild list of the image `ref` a stage is built on. */
  imageTriggers(ref: string, planned: PlannedStage): Promise<string[]>;
  /** Parses a trigger's text into instructions. */
  parseTrigger(text: string): StageInstruction[] | Promise<StageInstruction[]>;
}

/**
 * The stage graph, ONBUILD included: planned once, then again with the `--from` values of the
 * triggers each reached stage inherits, until nothing new is reached. `onPlanned` sees the first
 * plan and the last.
 */
export async function planWithTriggers(recipe: Recipe, options: PlanOptions, sources: TriggerSources, onPlanned?: (plan: BuildPlan) => void): Promise<BuildPlan> {
  let plan = planStages(recipe, options);
  onPlanned?.(plan);
  const triggerFroms = new Map<number, string[]>();
  for (let pending = plan.order; pending.length > 0;) {
    const current: BuildPlan = plan;
    const found = await Promise.all(pending.map(async (i) => [i, await inheritedTriggerFroms(recipe, current.stages[i] as PlannedStage, sources)] as const));
    let grew = false;
    for (const [i, froms] of found) {
      triggerFroms.set(i, froms);
      grew ||= froms.length > 0;
    }
    if (!grew) break;
    plan = planStages(recipe, { ...options, triggerFroms });
    pending = plan.order.filter((i) => !triggerFroms.has(i));
  }
  onPlanned?.(plan);
  return plan;
}

/** The `--from`/`from=` values of the ONBUILD triggers a stage inherits from its base image or stage. */
async function inheritedTriggerFroms(recipe: Recipe, planned: PlannedStage, sources: TriggerSources): Promise<string[]> {
  let triggers: string[] = [];
  if (planned.base.kind === 'image') triggers = await sources.imageTriggers(planned.base.ref, planned);
  else if (planned.base.kind === 'stage') {
    triggers = (recipe.stages[planned.base.index]?.instructions ?? []).flatMap((instr) => (instr.kind === 'ONBUILD' ? [instr.expression] : []));
  }
  const froms: string[] = [];
  for (const t of triggers) for (const instr of await sources.parseTrigger(t)) froms.push(...fromValues(instr));
  return froms;
}

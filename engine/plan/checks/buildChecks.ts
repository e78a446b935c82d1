/**
 * The build's side of the checks: what each checked stage starts from (its base image's ENV,
 * SHELL and platform), and the report shown as BuildKit shows it — every finding a warning of
 * the step that loads the Dockerfile. A bad check configuration is the user's error.
 */
import type { ImageRecord } from '../../store/store.js';
import { KilnError } from '../../errors/kilnError.js';
import type { Progress, StepRef } from '../../progress/progress.js';
import type { BuildPlan, PlannedStage } from '../graph.js';
import { CheckConfigError } from './checkConfig.js';
import type { CheckInputs, CheckReport, StageBase } from './checkRecipe.js';
import { shortForm } from './findings.js';

/** The bases of `stages`, resolving image bases with `image` (already resolved in a build: no new work). */
export async function checkBases(plan: BuildPlan, stages: readonly number[], image: (ref: string, planned: PlannedStage) => Promise<ImageRecord>): Promise<Map<number, StageBase>> {
  const bases = new Map<number, StageBase>();
  for (const i of stages) {
    const planned = plan.stages[i] as PlannedStage;
    const base = planned.base;
    if (base.kind === 'scratch' || base.kind === 'context') bases.set(i, { kind: base.kind });
    else if (base.kind === 'stage') bases.set(i, { kind: 'stage', index: base.index });
    else {
      const config = (await image(base.ref, planned)).config;
      bases.set(i, {
        kind: 'image', name: planned.baseName, env: config.config?.Env ?? [], shell: (config.config?.Shell?.length ?? 0) > 0, onbuild: config.config?.OnBuild ?? [],
        platform: { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) },
      });
    }
  }
  return bases;
}

/** Runs the checks and shows each finding as a warning of `step`. */
export async function reportChecks(run: (inputs: CheckInputs) => Promise<CheckReport>, inputs: CheckInputs, progress: Progress, step: StepRef, dockerfileName: string): Promise<CheckReport> {
  let report: CheckReport;
  try {
    report = await run(inputs);
  } catch (e) {
    if (e instanceof CheckConfigError) {
      progress.error(step, e.message);
      throw new KilnError('BAD_CHECK_CONFIG', e.message, { location: { file: dockerfileName } });
    }
    throw e;
  }
  for (const f of report.findings) {
    progress.warning(step, { rule: f.rule, message: f.message, description: f.description, url: f.url, line: f.ranges[0]?.start ?? 0, text: shortForm(f) });
  }
  return report;
}

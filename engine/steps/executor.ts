/**
 * One instruction applied to a stage: the step of its kind runs on a copy of the stage state —
 * metadata (meta.ts), WORKDIR (workdir.ts), COPY and ADD (copy.ts), RUN (run.ts) — and adds its
 * history entry (and layer). This is the seam a cache wraps: a step is a pure function of its
 * instruction, the stage state before it, and (for COPY/ADD) the selected sources.
 */
import type { StageInstruction } from '../../grammar/recipe.js';
import { copyStep } from './copy.js';
import { metadataStep } from './meta.js';
import { runStep } from './run.js';
import type { StageState } from './state.js';
import type { StepEnvironment } from './stepEnvironment.js';
import { workdirStep } from './workdir.js';

export type { StepEnvironment } from './stepEnvironment.js';

/**
 * The config a step starts from: a copy one level deep (and the history list), enough because
 * steps replace nested values rather than edit them (meta.ts copies Env, Labels, ports and
 * volumes before changing them). A deep copy per step made a long recipe quadratic.
 */
function copyForStep(config: StageState['config']): StageState['config'] {
  return {
    ...config,
    ...(config.config ? { config: { ...config.config } } : {}),
    ...(config.history ? { history: [...config.history] } : {}),
  };
}

export async function executeInstruction(instr: StageInstruction, before: StageState, env: StepEnvironment): Promise<StageState> {
  const state: StageState = { ...before, config: copyForStep(before.config), layers: [...before.layers] };
  switch (instr.kind) {
    case 'WORKDIR': return workdirStep(state, env, instr);
    case 'COPY':
    case 'ADD': return copyStep(state, env, instr);
    case 'RUN': return runStep(state, env, instr);
    default: return metadataStep(state, env, instr);
  }
}

/**
 * What a step leaves in its stage: a history entry as BuildKit writes it (`empty_layer` for a
 * step that made no layer), and for COPY, ADD, RUN and WORKDIR the layer itself.
 */
import { DiffTree } from '../layer/diffTree.js';
import { epochOf, rfc3339 } from './clock.js';
import type { CapturedLayer } from './snapshotter.js';
import type { LayerRef, StageState } from './state.js';
import { stepTime, type StepEnvironment } from './stepEnvironment.js';

const COMMENT = 'buildkit.dockerfile.v0';

export function addHistory(state: StageState, env: StepEnvironment, createdBy: string, emptyLayer: boolean): void {
  const entry: Record<string, unknown> = { created: rfc3339(Math.floor(stepTime(state, env).getTime() / 1000)), created_by: createdBy, comment: COMMENT };
  if (emptyLayer) entry.empty_layer = true;
  (state.config.history ??= []).push(entry);
}

/**
 * Adds a diff as a layer — an empty one too: BuildKit gives every RUN, COPY, ADD and WORKDIR
 * its layer (an empty tar when nothing changed), and history marks none of them empty. The
 * diff is a directory (a RUN's upper dir, adopted as the layer's snapshot) or a tree built in
 * memory (COPY, ADD, WORKDIR: written from its sources, no snapshot until one is needed).
 * `inputs`: the layer holds files brought in (COPY/ADD), whose mtimes are kept and raise the
 * stage's clock; `generated`: files a step made (RUN, WORKDIR), whose mtimes are clamped to
 * the clock.
 */
export async function commitDiff(state: StageState, env: StepEnvironment, diff: CapturedLayer | DiffTree, createdBy: string, kind: 'inputs' | 'generated'): Promise<void> {
  const captured = diff instanceof DiffTree ? undefined : diff;
  let clamp = env.sourceDateEpoch;
  if (clamp === undefined) {
    if (kind === 'generated') clamp = epochOf(state.config);
    else {
      const newest = (diff as DiffTree).newestMtime();
      if (newest > epochOf(state.config)) state.config.created = rfc3339(newest);
    }
  }
  let layer: LayerRef;
  if (captured) {
    // The step's files are the next steps' files: clamped like the tar.
    if (clamp !== undefined) await captured.clamp(clamp);
    layer = typeof captured.diff === 'string'
      ? await env.storage.commitLayer(captured.diff, 'overlay', clamp)
      : await env.storage.commitTree({ root: captured.diff }, clamp, 'overlay');
    await captured.keep([...state.layers, layer]);
  } else {
    layer = await env.storage.commitTree(diff as DiffTree, clamp);
  }
  state.layers = [...state.layers, layer];
  state.config.rootfs = { type: 'layers', diff_ids: state.layers.map((l) => l.diffId) };
  addHistory(state, env, createdBy, false);
}

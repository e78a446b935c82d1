/**
 * The files a step reads from outside its stage by name — `COPY --from=NAME` and
 * `RUN --mount from=NAME`: the build context, a named context, an earlier stage's result, an
 * image, or scratch, as one source tree (a stage or image is opened as a read-only view).
 */
import type { StageInstruction } from '../../grammar/recipe.js';
import { SourceTree } from '../context/sourceTree.js';
import { KilnError } from '../errors/kilnError.js';
import { isWhiteout } from './rootfsView.js';
import type { StageState } from './state.js';
import { readSource } from './stepReads.js';
import { located, type StepEnvironment } from './stepEnvironment.js';

export interface OpenSource {
  tree: SourceTree;
  /** The build context or a named context (whose files belong to root in a COPY). */
  isContext: boolean;
  close: () => Promise<void>;
}

/**
 * Opens what `from` names (the build context when undefined), seen from the step's stage.
 * `flag` is how the step wrote it (`COPY --from`, `--mount from`), for the error naming it.
 */
export async function openSource(state: StageState, env: StepEnvironment, from: string | undefined, where: StageInstruction, flag: string): Promise<OpenSource> {
  const read = readSource(from, env);
  if (read.kind === 'tree') return { tree: read.tree, isContext: true, close: async () => undefined };
  let source: StageState;
  if (read.kind === 'stage') source = await env.stageResult(read.index);
  else if (read.kind === 'scratch') source = { ...state, layers: [] };
  else {
    try {
      source = await env.imageState(read.ref, where);
    } catch (e) {
      if (e instanceof KilnError && e.code === 'IMAGE_NOT_FOUND') {
        const before = env.stages.slice(0, env.stageIndex).map((s, i) => s.name ?? String(i)).join(', ') || 'none before this one';
        throw located(env, where, 'UNKNOWN_FROM', `${flag}=${from}: no stage, named context or image "${from}" (stages: ${before})`);
      }
      throw e;
    }
  }
  const view = await (await env.snapshotter()).openView(source.layers);
  const tree = new SourceTree(view.root, `stage ${from}`, undefined, isWhiteout);
  return { tree, isContext: false, close: () => view.close() };
}

/**
 * WORKDIR: sets the working directory (relative to the one before) and, as BuildKit does, makes
 * it in a layer of its own when the image lacks it — owned by the stage's USER when that user is
 * in the image's /etc/passwd, else by root. `WORKDIR /` makes no layer.
 */
import { posix } from 'node:path';
import type { StageInstruction } from '../../grammar/recipe.js';
import { DiffTree } from '../layer/diffTree.js';
import { resolveChown, type Owner } from './chown.js';
import { CopyWriter } from './copyTree.js';
import type { StageState } from './state.js';
import { addHistory, commitDiff } from './stepCommit.js';
import { stepTime, stepWords, withView, type StepEnvironment } from './stepEnvironment.js';

export async function workdirStep(state: StageState, env: StepEnvironment, instr: Extract<StageInstruction, { kind: 'WORKDIR' }>): Promise<StageState> {
  const path = stepWords(state, env, instr).word(instr.path);
  const c = (state.config.config ??= {});
  const abs = posix.isAbsolute(path) ? posix.normalize(path) : posix.join(c.WorkingDir || '/', path);
  c.WorkingDir = abs;
  const createdBy = `WORKDIR ${abs}`;
  if (abs === '/') { addHistory(state, env, createdBy, true); return state; }
  const tree = new DiffTree();
  await withView(state, env, async (view) => {
    if ((await view.statIn(abs))?.isDirectory()) return;
    let owner: Owner = { uid: 0, gid: 0 };
    if (c.User) {
      try { owner = resolveChown(c.User, await view.readText('/etc/passwd'), await view.readText('/etc/group')); } catch { owner = { uid: 0, gid: 0 }; }
    }
    const writer = new CopyWriter(tree, view, owner, stepTime(state, env));
    await writer.ensureParents(abs + '/x');
  });
  await commitDiff(state, env, tree, createdBy, 'generated');
  return state;
}

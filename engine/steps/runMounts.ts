/**
 * A RUN's `--mount`s made ready on the host before its container starts: a cache directory
 * (persistent, held under its sharing mode, seeded `from=` a stage or context), a tmpfs, a
 * secret (a file staged outside the layer, or an environment variable with `env=`), a bind of
 * the context, a named context or another stage (read-only, or a throw-away copy with `rw`).
 * Option values are expanded in the step's scope, as BuildKit does (all but `from`).
 */
import { readFile, rm } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { promisify } from 'node:util';
import type { MountSpec, RunInstruction } from '../../grammar/recipe.js';
import { mountWords, type MountWords } from '../plan/instructionWords.js';
import type { Isolation } from '../runtime/isolation.js';
import { acquireCacheMount, cacheMountDir } from './cacheMount.js';
import { openSource } from './fromSource.js';
import type { PreparedMount } from './runProcess.js';
import { stageSecretFile } from './secretFile.js';
import type { StageState } from './state.js';
import { located, type StepEnvironment } from './stepEnvironment.js';
import { nodeChildProcess } from '../lateLoading.js';

const execFileAsync = (file: string, args: string[]): Promise<{ stdout: string; stderr: string }> => promisify(nodeChildProcess().execFile)(file, args);

/** The mounts made ready, environment only this step sees, and what to undo when it ends. */
export interface ReadyMounts {
  mounts: PreparedMount[];
  /** Secrets with `env=`: not in the image, not in history. */
  extraEnv: string[];
  /** Run in order when the step ends, whatever its outcome. */
  closers: (() => Promise<void>)[];
}

/** What preparing one mount needs: the step, its stage, and where cleanups go. */
interface MountContext {
  state: StageState;
  env: StepEnvironment;
  instr: RunInstruction;
  isolation: Isolation;
  ready: ReadyMounts;
}

/**
 * Prepares every mount of the step into `ready` (its closers undo what was made, also when a
 * later mount fails: the caller runs them in a finally).
 */
export async function prepareMounts(state: StageState, env: StepEnvironment, instr: RunInstruction, word: (text: string) => string, isolation: Isolation, ready: ReadyMounts): Promise<void> {
  const workdir = state.config.config?.WorkingDir || '/';
  const c: MountContext = { state, env, instr, isolation, ready };
  for (const m of instr.mounts) {
    const words = mountWords(m, word);
    const target = words.target === undefined ? undefined : posix.resolve(workdir, words.target);
    switch (m.type) {
      case 'cache': await cacheMount(c, m, words, target, workdir); break;
      case 'tmpfs':
        if (!target) throw located(env, instr, 'MOUNT', 'tmpfs mount needs a target');
        ready.mounts.push({ type: 'tmpfs', target, ...(m.size !== undefined ? { size: m.size } : {}) });
        break;
      case 'secret': await secretMount(c, m, words, target); break;
      case 'bind': await bindMount(c, m, words, target); break;
      case 'ssh':
        throw located(env, instr, 'MOUNT', 'ssh mounts are not supported');
    }
  }
}

/** The path `source=` names in what `from=` names, for a bind or a cache seed: undefined when nothing matches. */
async function mountSource(c: MountContext, m: MountSpec, source: string): Promise<{ abs: string | undefined; isDirectory: boolean }> {
  const opened = await openSource(c.state, c.env, m.from, c.instr, '--mount from');
  c.ready.closers.push(opened.close);
  const { matches } = await opened.tree.match(source === '' ? '.' : source);
  const hit = matches[0];
  return { abs: hit?.abs, isDirectory: hit?.stats.isDirectory() === true };
}

async function cacheMount(c: MountContext, m: MountSpec, words: MountWords, target: string | undefined, workdir: string): Promise<void> {
  if (!target) throw located(c.env, c.instr, 'MOUNT', 'cache mount needs a target');
  const spec = { ...m, ...(words.id !== undefined ? { id: words.id } : {}) };
  let seed: { key: string; dir: string } | undefined;
  if (m.from !== undefined) {
    const source = words.source;
    const { abs, isDirectory } = await mountSource(c, m, source);
    if (abs === undefined || !isDirectory) throw located(c.env, c.instr, 'MOUNT', `cache mount source "${source}" is not a directory of ${m.from}`);
    seed = { key: `${m.from}:${source}`, dir: abs };
  }
  // Without mounts (chroot) the cache's entries move into the root for the step: one step at a time.
  const sharing = c.isolation === 'chroot' ? 'locked' : m.sharing;
  const held = await acquireCacheMount(await cacheMountDir(c.env.store.root, spec, workdir, seed), sharing, () => c.env.storage.scratchDir());
  c.ready.closers.push(held.release);
  c.ready.mounts.push({ type: 'bind', source: held.dir, target, readonly: m.readonly, cache: true });
}

async function secretMount(c: MountContext, m: MountSpec, words: MountWords, target: string | undefined): Promise<void> {
  const id = words.id ?? posix.basename(target ?? '');
  const file = c.env.secrets.get(id);
  if (file === undefined) {
    if (m.required) throw located(c.env, c.instr, 'SECRET', `secret ${id} not found (pass it with --secret id=${id},src=FILE)`);
    return;
  }
  if (m.env !== undefined) {
    c.ready.extraEnv.push(`${m.env}=${(await readFile(file, 'utf8')).replace(/\n$/, '')}`);
    if (target === undefined) return;
  }
  const staged = await stageSecretFile(file, { mode: m.mode ?? 0o400, uid: m.uid ?? 0, gid: m.gid ?? 0 }, () => c.env.storage.scratchDir());
  c.ready.closers.push(staged.remove);
  c.ready.mounts.push({ type: 'bind', source: staged.path, target: target ?? `/run/secrets/${id}`, readonly: true });
}

async function bindMount(c: MountContext, m: MountSpec, words: MountWords, target: string | undefined): Promise<void> {
  if (!target) throw located(c.env, c.instr, 'MOUNT', 'bind mount needs a target');
  const source = words.source;
  const { abs } = await mountSource(c, m, source);
  if (abs === undefined) throw located(c.env, c.instr, 'MOUNT', `bind mount source "${source}" not found`);
  if (m.readonly) {
    c.ready.mounts.push({ type: 'bind', source: abs, target, readonly: true });
    return;
  }
  // A read-write bind never writes through to its source: the step gets a copy, discarded after.
  const copy = join(await c.env.storage.scratchDir(), 'rw');
  await execFileAsync('cp', ['-a', '--', abs, copy]);
  c.ready.closers.push(() => rm(dirname(copy), { recursive: true, force: true }));
  c.ready.mounts.push({ type: 'bind', source: copy, target, readonly: false });
}

/**
 * One instruction applied to a stage: variables expanded where BuildKit expands them, the
 * step run (metadata, WORKDIR, COPY/ADD, RUN), a history entry added (empty_layer where no
 * layer came of it). This is the seam a cache wraps: a step is a pure function of its
 * instruction, the stage state before it, and (for COPY/ADD) the selected sources.
 */
import { readFile, rm } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { promisify } from 'node:util';
import type { CopyInstruction, Stage, StageInstruction } from '../../grammar/recipe.js';
import type { SourceTree } from '../context/sourceTree.js';
import { isUrl, SourceTree as Tree } from '../context/sourceTree.js';
import { KilnError } from '../errors/kilnError.js';
import type { Store } from '../store/store.js';
import type { Lookup, WordExpander } from '../plan/expander.js';
import { resolveFromRef } from '../plan/graph.js';
import { samePlatform, type Platform } from '../image/platform.js';
import { epochOf, newestMtime, rfc3339 } from './clock.js';
import { parseChmod, type ModeChange } from './chmod.js';
import { resolveChown, UnknownOwnerError, type Owner } from './chown.js';
import { CopySourceError, destinationPath, runCopy } from './copy.js';
import { CopyDestinationError, CopyWriter } from './copyTree.js';
import { download, DownloadError } from './fetchUrl.js';
import * as meta from './meta.js';
import { isWhiteout } from './rootfsView.js';
import { stageSecretFile } from './secretFile.js';
import type { CapturedLayer, RunRoot, Snapshotter, StageView } from './snapshotter.js';
import { runStubs } from './runStubs.js';
import type { Isolation } from '../runtime/isolation.js';
import { acquireCacheMount, cacheMountDir, RunFailedError, runHistoryText, runStep, type ContainerRunner, type PreparedMount } from './run.js';
import type { LayerRef, LayerStorage, StageState } from './state.js';
import { DiffTree } from '../layer/diffTree.js';
import { nodeChildProcess } from '../lateLoading.js';
import { extractArchive, isTarArchive } from './archive.js';

export interface StepEnvironment {
  storage: LayerStorage;
  store: Store;
  context: SourceTree;
  namedTrees: ReadonlyMap<string, SourceTree>;
  namedContextNames: ReadonlySet<string>;
  dockerfileName: string;
  expander: WordExpander;
  /** When set, every time in the image is this (seconds); else the stage's newest input time. */
  sourceDateEpoch: number | undefined;
  secrets: ReadonlyMap<string, string>;
  runner: ContainerRunner | undefined;
  /** How stage views, RUN roots and RUN layers are laid out (overlay or copy), settled at first use. */
  snapshotter: () => Promise<Snapshotter>;
  /** The isolation RUN steps get (settled at the first RUN: a cached build never asks the kernel). */
  isolation: () => Promise<Isolation>;
  /** What `--allow` granted (BuildKit's entitlements). */
  entitlements: ReadonlySet<string>;
  signal: AbortSignal;
  platform: Platform;
  buildPlatform: Platform;
  stageIndex: number;
  stages: readonly Stage[];
  stageResult(index: number): Promise<StageState>;
  imageState(ref: string, where: StageInstruction): Promise<StageState>;
  output(stream: 'stdout' | 'stderr', chunk: Buffer): void;
}

const COMMENT = 'buildkit.dockerfile.v0';
const execFileAsync = (file: string, args: string[]): Promise<{ stdout: string; stderr: string }> => promisify(nodeChildProcess().execFile)(file, args);

function located(env: StepEnvironment, instr: StageInstruction, code: string, message: string, exitCode = 1): KilnError {
  return new KilnError(code, message, { location: { file: env.dockerfileName, line: instr.range.start.line, column: instr.range.start.column }, exitCode });
}

/** Seconds of a config's `created` (0 when absent): the newest input the stage has seen so far. */
/**
 * A step's clock. With SOURCE_DATE_EPOCH, that. Without it, not the wall clock (which would
 * make every build differ) but the newest time among the stage's inputs: the base image's
 * `created`, raised by the mtimes of what COPY/ADD bring in. So an unchanged recipe and
 * context rebuild to the same bytes, and `created` says how new the newest input is.
 */
export function stepTime(state: StageState, env: StepEnvironment): Date {
  return new Date((env.sourceDateEpoch ?? epochOf(state.config)) * 1000);
}


function addHistory(state: StageState, env: StepEnvironment, createdBy: string, emptyLayer: boolean): void {
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
async function commitDiff(state: StageState, env: StepEnvironment, diff: CapturedLayer | DiffTree, createdBy: string, kind: 'inputs' | 'generated'): Promise<void> {
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
  const lookup: Lookup = state.args.lookup(state.config.config?.Env ?? undefined);
  const word = (text: string): string => {
    try { return env.expander.word(text, lookup); } catch (e) { throw located(env, instr, 'EXPANSION', (e as Error).message); }
  };
  const wrap = (fn: () => string): string => {
    try { return fn(); } catch (e) { if (e instanceof KilnError) throw e; throw located(env, instr, 'INVALID_INSTRUCTION', (e as Error).message); }
  };
  switch (instr.kind) {
    case 'ENV': {
      const pairs = instr.pairs.map((p) => ({ key: word(p.key), value: word(p.value) }));
      addHistory(state, env, meta.setEnv(state, pairs), true);
      return state;
    }
    case 'LABEL': {
      const pairs = instr.pairs.map((p) => ({ key: word(p.key), value: word(p.value) }));
      addHistory(state, env, meta.setLabels(state, pairs), true);
      return state;
    }
    case 'ARG': {
      state.args = state.args.fork();
      const parts: string[] = [];
      for (const a of instr.args) {
        let declared;
        try { declared = state.args.declare(a.key, a.value, state.config.config?.Env ?? undefined, env.expander); } catch (e) { throw located(env, instr, 'EXPANSION', (e as Error).message); }
        parts.push(declared.value === undefined ? a.key : `${a.key}=${declared.value}`);
      }
      addHistory(state, env, `ARG ${parts.join(' ')}`, true);
      return state;
    }
    case 'EXPOSE': {
      const ports = instr.ports.flatMap((p) => { try { return env.expander.words(p, lookup); } catch (e) { throw located(env, instr, 'EXPANSION', (e as Error).message); } });
      addHistory(state, env, wrap(() => meta.expose(state, ports)), true);
      return state;
    }
    case 'VOLUME':
      addHistory(state, env, wrap(() => meta.addVolumes(state, instr.paths.map(word))), true);
      return state;
    case 'USER':
      addHistory(state, env, meta.setUser(state, word(instr.user)), true);
      return state;
    case 'STOPSIGNAL':
      addHistory(state, env, wrap(() => meta.setStopSignal(state, word(instr.signal))), true);
      return state;
    case 'HEALTHCHECK':
      addHistory(state, env, meta.setHealthcheck(state, instr), true);
      return state;
    case 'SHELL':
      addHistory(state, env, meta.setShell(state, instr.shell), true);
      return state;
    case 'CMD':
      addHistory(state, env, meta.setCmd(state, instr.command), true);
      return state;
    case 'ENTRYPOINT':
      addHistory(state, env, meta.setEntrypoint(state, instr.command), true);
      return state;
    case 'ONBUILD':
      // Recorded in the config only: BuildKit adds no history entry for ONBUILD.
      meta.addOnbuild(state, instr.expression);
      return state;
    case 'MAINTAINER':
      addHistory(state, env, meta.setMaintainer(state, instr.maintainer), true);
      return state;
    case 'WORKDIR':
      return workdir(state, env, instr, word(instr.path));
    case 'COPY':
    case 'ADD':
      return copyOrAdd(state, env, instr, word);
    case 'RUN':
      return run(state, env, instr, word);
  }
}

async function withView<T>(state: StageState, env: StepEnvironment, fn: (view: StageView) => Promise<T>): Promise<T> {
  const view = await (await env.snapshotter()).openView(state.layers);
  try { return await fn(view); } finally { await view.close(); }
}

async function workdir(state: StageState, env: StepEnvironment, instr: StageInstruction, path: string): Promise<StageState> {
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
  void instr;
  return state;
}

/** The tree COPY --from reads, and whether it is the build context. */
async function sourceFor(state: StageState, env: StepEnvironment, instr: CopyInstruction): Promise<{ tree: SourceTree; isContext: boolean; close: () => Promise<void> }> {
  if (instr.from === undefined) return { tree: env.context, isContext: true, close: async () => undefined };
  const ref = resolveFromRef(instr.from, env.stageIndex, env.stages, env.namedContextNames);
  if (ref.kind === 'context') return { tree: env.namedTrees.get(ref.name) as SourceTree, isContext: true, close: async () => undefined };
  let from: StageState;
  if (ref.kind === 'stage') from = await env.stageResult(ref.index);
  else if (ref.kind === 'scratch') from = { ...state, layers: [] };
  else {
    try {
      from = await env.imageState(ref.ref, instr);
    } catch (e) {
      if (e instanceof KilnError && e.code === 'IMAGE_NOT_FOUND') {
        throw located(env, instr, 'UNKNOWN_FROM', `COPY --from=${instr.from}: no stage, named context or image "${instr.from}" (stages: ${env.stages.slice(0, env.stageIndex).map((s, i) => s.name ?? String(i)).join(', ') || 'none before this one'})`);
      }
      throw e;
    }
  }
  const view = await (await env.snapshotter()).openView(from.layers);
  const tree = new Tree(view.root, `stage ${instr.from}`, undefined, isWhiteout);
  return { tree, isContext: false, close: () => view.close() };
}

async function copyOrAdd(state: StageState, env: StepEnvironment, instr: CopyInstruction, word: (t: string) => string): Promise<StageState> {
  const sources = instr.sources.map(word);
  const dest = word(instr.dest);
  const chownSpec = instr.chown === undefined ? undefined : word(instr.chown);
  const chmodSpec = instr.chmod === undefined ? undefined : word(instr.chmod);
  const checksum = instr.checksum === undefined ? undefined : word(instr.checksum);
  let chmod: ModeChange | undefined;
  if (chmodSpec !== undefined) {
    try { chmod = parseChmod(chmodSpec); } catch (e) { throw located(env, instr, 'INVALID_CHMOD', (e as Error).message); }
  }
  const lookup = state.args.lookup(state.config.config?.Env ?? undefined);
  const heredocs = instr.heredocs.map((h) => ({ heredoc: h, content: h.expand ? env.expander.raw(h.content, lookup) : h.content }));
  const urls = sources.filter(isUrl);
  if (instr.kind === 'COPY' && urls.length > 0) throw located(env, instr, 'COPY_URL', 'source can\'t be a URL for COPY');
  const git = sources.find((s) => isGitSource(s));
  if (git !== undefined) throw located(env, instr, 'ADD_GIT', `${instr.kind} of a git repository (${git}) is not supported by kiln; clone it into the context and COPY it`);
  if (checksum !== undefined && (urls.length !== 1 || sources.length !== 1)) throw located(env, instr, 'ADD_CHECKSUM', 'checksum can\'t be specified for non-HTTP(S) sources');
  const createdBy = copyHistoryText(instr, sources, dest, chownSpec, chmodSpec);
  const workdirPath = state.config.config?.WorkingDir || '/';
  const layer = new DiffTree();
  // Downloads and unpacked archives stay on disk until the layer has been written from them.
  const temps: string[] = [];
  const scratch = async (): Promise<string> => {
    const d = await env.storage.scratchDir();
    temps.push(d);
    return d;
  };
  const src = await sourceFor(state, env, instr);
  try {
    // --link copies onto nothing (an independent layer), but --chown names still come from the image.
    const image = await (await env.snapshotter()).openView(state.layers);
    const view = instr.link ? undefined : image;
    try {
      let owner: Owner | undefined;
      if (chownSpec !== undefined) {
        try {
          owner = resolveChown(chownSpec, await image.readText('/etc/passwd'), await image.readText('/etc/group'));
        } catch (e) {
          if (e instanceof UnknownOwnerError) throw located(env, instr, 'UNKNOWN_USER', e.message);
          throw e;
        }
      }
      for (const url of urls) {
        let dl;
        try { dl = await download(url, await scratch(), checksum); } catch (e) {
          if (e instanceof DownloadError) throw located(env, instr, 'ADD_DOWNLOAD', e.message);
          throw e;
        }
        const { path: destPath, isDir: saysDir } = destinationPath(dest, workdirPath);
        const writer = new CopyWriter(layer, view, owner ?? { uid: 0, gid: 0 }, stepTime(state, env), chmod?.octal ?? 0o755);
        // Without a trailing slash the file goes into the destination only if that is a directory already.
        const made = layer.get(destPath);
        const isDir = saysDir || (made ? made.type === 'directory' : (await view?.statIn(destPath))?.isDirectory() === true);
        // A download is unpacked only when asked (--unpack), never by default.
        if (instr.unpack === true && await isTarArchive(dl.path)) {
          await extractArchive(dl.path, destPath, writer, owner, await scratch());
        } else {
          const target = isDir ? posix.join(destPath, dl.name) : destPath;
          await writer.ensureParents(target);
          await writer.writeFromPath(target, dl.path, chmod ? chmod(0o600, false) : 0o600, owner ?? { uid: 0, gid: 0 }, dl.mtime ?? stepTime(state, env));
        }
      }
      const local = sources.filter((s) => !isUrl(s));
      if (local.length > 0 || heredocs.length > 0) {
        await runCopy({
          sources: local, heredocs, dest, workdir: workdirPath, tree: src.tree, resetOwner: src.isContext,
          chown: owner, chmod, parents: instr.parents, exclude: instr.exclude, view, layer,
          timestamp: stepTime(state, env), instruction: instr.kind,
          ...(instr.kind === 'ADD' && instr.unpack !== false ? {
            unpack: async (m, destDir, writer) => {
              if (!await isTarArchive(m.abs)) return false;
              await extractArchive(m.abs, destDir, writer, owner, await scratch());
              return true;
            },
          } : {}),
        });
      }
    } finally {
      await image.close();
    }
    // Written while the sources are still there (a COPY --from view is still mounted).
    await commitDiff(state, env, layer, createdBy, 'inputs');
  } catch (e) {
    if (e instanceof CopySourceError) throw located(env, instr, 'COPY_SOURCE', e.message);
    if (e instanceof CopyDestinationError) throw located(env, instr, 'COPY_DESTINATION', e.message);
    throw e;
  } finally {
    await src.close();
    for (const d of temps) await rm(d, { recursive: true, force: true });
  }
  return state;
}

/**
 * A COPY/ADD history line as BuildKit writes it: the keyword, `--parents`, `--chown` and
 * `--chmod` as expanded, the sources, heredoc sources as `<<NAME`, the destination as expanded
 * (an empty one leaves its space), then ` # buildkit`.
 */
function copyHistoryText(instr: CopyInstruction, sources: string[], dest: string, chown: string | undefined, chmod: string | undefined): string {
  const words: string[] = [instr.kind];
  if (instr.parents) words.push('--parents');
  if (chown !== undefined && chown !== '') words.push(`--chown=${chown}`);
  if (chmod !== undefined && chmod !== '') words.push(`--chmod=${chmod}`);
  words.push(...sources, ...instr.heredocs.map((h) => `<<${h.name}`), dest);
  return `${words.join(' ')} # buildkit`;
}

/** Git sources BuildKit's ADD clones (kiln does not). */
function isGitSource(source: string): boolean {
  return /^git@[^:]+:/.test(source) || /^(git|ssh):\/\//.test(source) || (/^https?:\/\//.test(source) && /\.git(#.*)?$/.test(source));
}

async function run(state: StageState, env: StepEnvironment, instr: Extract<StageInstruction, { kind: 'RUN' }>, word: (t: string) => string): Promise<StageState> {
  if (instr.security === 'insecure' && !env.entitlements.has('security.insecure')) {
    throw located(env, instr, 'RUN_INSECURE', 'RUN --security=insecure needs the security.insecure entitlement: build with --allow security.insecure');
  }
  if (!env.runner) throw located(env, instr, 'NO_RUNTIME', 'RUN needs the container runtime, which is not available in this build of kiln');
  if (!samePlatform(state.platform, env.buildPlatform) && state.platform.architecture !== env.buildPlatform.architecture) {
    throw located(env, instr, 'PLATFORM', `cannot RUN for ${state.platform.os}/${state.platform.architecture} on a ${env.buildPlatform.architecture} machine (no emulation)`);
  }
  const workdirPath = state.config.config?.WorkingDir || '/';
  const mounts: PreparedMount[] = [];
  const extraEnv: string[] = [];
  const closers: (() => Promise<void>)[] = [];
  // Most steps need no script dir: made on first use, removed only if made.
  const made: string[] = [];
  const onDemand = (): (() => Promise<string>) => {
    let dir: Promise<string> | undefined;
    return () => (dir ??= env.storage.scratchDir().then((d) => { made.push(d); return d; }));
  };
  const scriptDir = onDemand();
  const isolation = await env.isolation();
  try {
    for (const m of instr.mounts) {
      const target = m.target === undefined ? undefined : posix.resolve(workdirPath, word(m.target));
      switch (m.type) {
        case 'cache': {
          if (!target) throw located(env, instr, 'MOUNT', 'cache mount needs a target');
          const spec = { ...m, ...(m.id !== undefined ? { id: word(m.id) } : {}) };
          let seed: { key: string; dir: string } | undefined;
          if (m.from !== undefined) {
            const src = await sourceFor(state, env, { ...instr, kind: 'COPY', from: m.from } as unknown as CopyInstruction);
            closers.push(src.close);
            const source = m.source === undefined ? '' : word(m.source);
            const { matches } = await src.tree.match(source === '' ? '.' : source);
            const hit = matches[0];
            if (!hit || !hit.stats.isDirectory()) throw located(env, instr, 'MOUNT', `cache mount source "${source}" is not a directory of ${m.from}`);
            seed = { key: `${m.from}:${source}`, dir: hit.abs };
          }
          // Without mounts (chroot) the cache's entries move into the root for the step: one step at a time.
          const sharing = isolation === 'chroot' ? 'locked' : m.sharing;
          const held = await acquireCacheMount(await cacheMountDir(env.store.root, spec, workdirPath, seed), sharing, () => env.storage.scratchDir());
          closers.push(held.release);
          mounts.push({ type: 'bind', source: held.dir, target, readonly: m.readonly, cache: true });
          break;
        }
        case 'tmpfs':
          if (!target) throw located(env, instr, 'MOUNT', 'tmpfs mount needs a target');
          mounts.push({ type: 'tmpfs', target, ...(m.size !== undefined ? { size: m.size } : {}) });
          break;
        case 'secret': {
          const id = m.id !== undefined ? word(m.id) : posix.basename(target ?? '');
          const file = env.secrets.get(id);
          if (file === undefined) {
            if (m.required) throw located(env, instr, 'SECRET', `secret ${id} not found (pass it with --secret id=${id},src=FILE)`);
            break;
          }
          if (m.env !== undefined) {
            extraEnv.push(`${m.env}=${(await readFile(file, 'utf8')).replace(/\n$/, '')}`);
            if (target === undefined) break;
          }
          const staged = await stageSecretFile(file, { mode: m.mode ?? 0o400, uid: m.uid ?? 0, gid: m.gid ?? 0 }, () => env.storage.scratchDir());
          closers.push(staged.remove);
          mounts.push({ type: 'bind', source: staged.path, target: target ?? `/run/secrets/${id}`, readonly: true });
          break;
        }
        case 'bind': {
          if (!target) throw located(env, instr, 'MOUNT', 'bind mount needs a target');
          let tree: SourceTree = env.context;
          if (m.from !== undefined) {
            const fake = { ...instr, kind: 'COPY', from: m.from } as unknown as CopyInstruction;
            const src = await sourceFor(state, env, fake);
            closers.push(src.close);
            tree = src.tree;
          }
          const source = m.source === undefined ? '' : word(m.source);
          const { matches } = await tree.match(source === '' ? '.' : source);
          const hit = matches[0];
          if (!hit) throw located(env, instr, 'MOUNT', `bind mount source "${source}" not found`);
          if (m.readonly) {
            mounts.push({ type: 'bind', source: hit.abs, target, readonly: true });
            break;
          }
          // A read-write bind never writes through to its source: the step gets a copy, discarded after.
          const copy = join(await env.storage.scratchDir(), 'rw');
          await execFileAsync('cp', ['-a', '--', hit.abs, copy]);
          closers.push(() => rm(dirname(copy), { recursive: true, force: true }));
          mounts.push({ type: 'bind', source: copy, target, readonly: false });
          break;
        }
        case 'ssh':
          throw located(env, instr, 'MOUNT', 'ssh mounts are not supported');
      }
    }
    // BuildKit's default for RUN is a network namespace of its own with outbound access.
    const network = instr.network === 'none' || instr.network === 'host' ? instr.network : 'bridge';
    if (network === 'none' && isolation === 'chroot') {
      throw located(env, instr, 'RUN_NETWORK', 'RUN --network=none needs a network namespace, which chroot isolation does not have (the kernel refused namespaces here)');
    }
    let argv: string[] = [];
    let root: RunRoot | undefined;
    try {
      ({ argv, root } = await runStep({
        instr, state, scriptDir, mounts, network,
        prepareRoot: async (wanted) => {
          const snapshotter = await env.snapshotter();
          const { stubs, mounts: remaining } = runStubs(isolation, snapshotter.kind, wanted);
          return { root: await snapshotter.prepareRun(state.layers, stubs), mounts: remaining };
        },
        runner: env.runner as ContainerRunner, extraEnv, onOutput: env.output, signal: env.signal, insecure: instr.security === 'insecure',
      }));
    } catch (e) {
      if (e instanceof RunFailedError) {
        const tail = e.tail.length ? `\n${e.tail.map((l) => `  > ${l}`).join('\n')}` : '';
        throw located(env, instr, 'RUN_FAILED', `${e.message}${tail}`, e.exitCode);
      }
      if (e instanceof KilnError && e.location === undefined) throw located(env, instr, e.code, e.message, e.exitCode);
      throw e;
    }
    try {
      const createdBy = `RUN ${state.args.historyPrefix(state.config.config?.Env ?? undefined)}${runHistoryText(argv)} # buildkit`;
      await commitDiff(state, env, await root.capture(), createdBy, 'generated');
    } finally {
      await root.discard();
    }
    return state;
  } finally {
    for (const c of closers) await c();
    for (const d of made) await rm(d, { recursive: true, force: true });
  }
}

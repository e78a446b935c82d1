/**
 * COPY and ADD as steps: their words expanded in the stage's scope, their sources opened (the
 * build context, a named context, another stage or an image: fromSource.ts), `--chown` names
 * resolved in the destination image, the files written into a layer built in memory
 * (copyFiles.ts; ADD's URLs and archives: add.ts), and the layer committed with BuildKit's
 * history line. `--link` copies onto nothing: an independent layer.
 */
import { rm } from 'node:fs/promises';
import type { CopyInstruction } from '../../grammar/recipe.js';
import { isUrl } from '../context/sourceTree.js';
import { DiffTree } from '../layer/diffTree.js';
import { copyWords, type CopyWords } from '../plan/instructionWords.js';
import { addUrls, isGitSource, unpackArchives } from './add.js';
import { parseChmod, type ModeChange } from './chmod.js';
import { resolveChown, UnknownOwnerError, type Owner } from './chown.js';
import { CopySourceError, runCopy } from './copyFiles.js';
import { CopyDestinationError } from './copyTree.js';
import { DownloadError } from './fetchUrl.js';
import { openSource } from './fromSource.js';
import type { StageView } from './snapshotter.js';
import type { StageState } from './state.js';
import { commitDiff } from './stepCommit.js';
import { located, stepTime, stepWords, type StepEnvironment } from './stepEnvironment.js';

export async function copyStep(state: StageState, env: StepEnvironment, instr: CopyInstruction): Promise<StageState> {
  const { word, lookup } = stepWords(state, env, instr);
  const words = copyWords(instr, word);
  let chmod: ModeChange | undefined;
  if (words.chmod !== undefined) {
    try { chmod = parseChmod(words.chmod); } catch (e) { throw located(env, instr, 'INVALID_CHMOD', (e as Error).message); }
  }
  const heredocs = instr.heredocs.map((h) => ({ heredoc: h, content: h.expand ? env.expander.raw(h.content, lookup) : h.content }));
  refuseSources(env, instr, words);
  const layer = new DiffTree();
  // Downloads and unpacked archives stay on disk until the layer has been written from them.
  const temps: string[] = [];
  const scratch = async (): Promise<string> => {
    const d = await env.storage.scratchDir();
    temps.push(d);
    return d;
  };
  const src = await openSource(state, env, instr.from, instr, 'COPY --from');
  try {
    // --link copies onto nothing (an independent layer), but --chown names still come from the image.
    const image = await (await env.snapshotter()).openView(state.layers);
    const view = instr.link ? undefined : image;
    try {
      const owner = await chownOwner(env, instr, image, words.chown);
      const workdir = state.config.config?.WorkingDir || '/';
      const timestamp = stepTime(state, env);
      await addUrls(words.sources.filter(isUrl), { dest: words.dest, workdir, layer, view, owner, chmod, checksum: words.checksum, unpack: instr.unpack, timestamp, scratch });
      const local = words.sources.filter((s) => !isUrl(s));
      if (local.length > 0 || heredocs.length > 0) {
        await runCopy({
          sources: local, heredocs, dest: words.dest, workdir, tree: src.tree, resetOwner: src.isContext,
          chown: owner, chmod, parents: instr.parents, exclude: instr.exclude, view, layer, timestamp, instruction: instr.kind,
          ...(instr.kind === 'ADD' && instr.unpack !== false ? { unpack: unpackArchives(owner, scratch) } : {}),
        });
      }
    } finally {
      await image.close();
    }
    // Written while the sources are still there (a COPY --from view is still mounted).
    await commitDiff(state, env, layer, copyHistoryText(instr, words), 'inputs');
  } catch (e) {
    if (e instanceof CopySourceError) throw located(env, instr, 'COPY_SOURCE', e.message);
    if (e instanceof CopyDestinationError) throw located(env, instr, 'COPY_DESTINATION', e.message);
    if (e instanceof DownloadError) throw located(env, instr, 'ADD_DOWNLOAD', e.message);
    throw e;
  } finally {
    await src.close();
    for (const d of temps) await rm(d, { recursive: true, force: true });
  }
  return state;
}

/** Sources BuildKit refuses before it reads anything: a URL in COPY, a git repository, a checksum of a non-URL. */
function refuseSources(env: StepEnvironment, instr: CopyInstruction, words: CopyWords): void {
  const urls = words.sources.filter(isUrl);
  if (instr.kind === 'COPY' && urls.length > 0) throw located(env, instr, 'COPY_URL', 'source can\'t be a URL for COPY');
  const git = words.sources.find((s) => isGitSource(s));
  if (git !== undefined) throw located(env, instr, 'ADD_GIT', `${instr.kind} of a git repository (${git}) is not supported by kiln; clone it into the context and COPY it`);
  if (words.checksum !== undefined && (urls.length !== 1 || words.sources.length !== 1)) throw located(env, instr, 'ADD_CHECKSUM', 'checksum can\'t be specified for non-HTTP(S) sources');
}

/** `--chown` resolved in the destination image's /etc/passwd and /etc/group. */
async function chownOwner(env: StepEnvironment, instr: CopyInstruction, image: StageView, spec: string | undefined): Promise<Owner | undefined> {
  if (spec === undefined) return undefined;
  try {
    return resolveChown(spec, await image.readText('/etc/passwd'), await image.readText('/etc/group'));
  } catch (e) {
    if (e instanceof UnknownOwnerError) throw located(env, instr, 'UNKNOWN_USER', e.message);
    throw e;
  }
}

/**
 * A COPY/ADD history line as BuildKit writes it: the keyword, `--parents`, `--chown` and
 * `--chmod` as expanded, the sources, heredoc sources as `<<NAME`, the destination as expanded
 * (an empty one leaves its space), then ` # buildkit`.
 */
function copyHistoryText(instr: CopyInstruction, w: CopyWords): string {
  const words: string[] = [instr.kind];
  if (instr.parents) words.push('--parents');
  if (w.chown !== undefined && w.chown !== '') words.push(`--chown=${w.chown}`);
  if (w.chmod !== undefined && w.chmod !== '') words.push(`--chmod=${w.chmod}`);
  words.push(...w.sources, ...instr.heredocs.map((h) => `<<${h.name}`), w.dest);
  return `${words.join(' ')} # buildkit`;
}

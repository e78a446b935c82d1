/**
 * What the machine refuses, named by its cause: a filesystem out of space (or quota), a
 * read-only filesystem, a permission denied, a path that is not there. Each becomes one clear
 * line — naming the place (the store's filesystem, a file kiln was asked to write, a path it
 * was given to read) and, for space, how much is free and how much was needed where known — with
 * an exit code of its own (the README's table). Anything else passes through unchanged: an
 * error kiln cannot name is a bug, and is reported as one.
 */
import { readFileSync, realpathSync, statfsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { KilnError } from './kilnError.js';
import { humanSize as size } from '../units/humanUnits.js';

/** Exit codes by cause (sysexits.h's where one fits); 1 stays a user's mistake, 70 a bug. */
export const EXIT_CODES = {
  badArchive: 65,
  missingPath: 66,
  readOnly: 73,
  noSpace: 74,
  permission: 77,
} as const;

/** Where kiln was reading or writing when the kernel refused. */
export type Place =
  | { kind: 'store'; root: string }
  | { kind: 'output'; path: string }
  | { kind: 'input'; path: string };

export interface RefusalContext {
  place: Place;
  /** What was being written ("a layer", "the archive"), said with the cause. */
  what?: string;
  /** Bytes the write needed in all, when known (an archive's size, a blob's). */
  neededBytes?: number;
  /** Bytes written before the refusal, when the whole is not known: it needed more than that. */
  writtenBytes?: number;
}

type Cause = 'noSpace' | 'readOnly' | 'permission' | 'missingPath';

const CAUSES: Record<string, Cause> = {
  ENOSPC: 'noSpace',
  EDQUOT: 'noSpace',
  EROFS: 'readOnly',
  EACCES: 'permission',
  EPERM: 'permission',
  ENOENT: 'missingPath',
  ENOTDIR: 'missingPath',
};

/** The cause an error from a file operation names, if it is one kiln names. */
export function refusalCause(err: unknown): Cause | undefined {
  if (err instanceof KilnError) return undefined;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === undefined ? undefined : CAUSES[code];
}

/** A refusal the kernel gave a system call (not a stream's or a parser's own error). */
export function isSystemRefusal(err: unknown): boolean {
  return refusalCause(err) !== undefined && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}

/** The refusal a program's message names (cp's "No space left on device"), as an errno error. */
export function causeInMessage(text: string): NodeJS.ErrnoException {
  const known: [RegExp, string][] = [[/No space left on device/, 'ENOSPC'], [/Disk quota exceeded/, 'EDQUOT'], [/Read-only file system/, 'EROFS'], [/Permission denied/, 'EACCES']];
  const hit = known.find(([re]) => re.test(text));
  return Object.assign(new Error(text.trim()), hit ? { code: hit[1], syscall: 'write' } : {});
}

/** The nearest existing ancestor of `path` (itself when it exists), resolved. */
function existingAncestor(path: string): string {
  for (let p = resolve(path); ; p = dirname(p)) {
    try {
      return realpathSync(p);
    } catch {
      if (dirname(p) === p) return p;
    }
  }
}

/** The mount point of the filesystem holding `path`. */
export function mountPointOf(path: string): string {
  const real = existingAncestor(path);
  let best = '/';
  let info = '';
  try { info = readFileSync('/proc/self/mountinfo', 'utf8'); } catch { return best; }
  for (const line of info.split('\n')) {
    const m = line.split(' ')[4]?.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
    if (m !== undefined && (real === m || real.startsWith(m === '/' ? '/' : `${m}/`)) && m.length > best.length) best = m;
  }
  return best;
}

/** "a layer needed more than 8.4MB; 1.2MB of 12.6MB is free": the need, and the room now. */
function room(path: string, ctx: RefusalContext): string {
  const what = ctx.what ?? 'the write';
  const need = ctx.neededBytes !== undefined ? `${what} needed ${size(ctx.neededBytes)}` : ctx.writtenBytes !== undefined ? `${what} needed more than ${size(ctx.writtenBytes)}` : `${what} did not fit`;
  try {
    const st = statfsSync(existingAncestor(path));
    return `${need}; ${size(st.bavail * st.bsize)} of ${size(st.blocks * st.bsize)} is free`;
  } catch {
    return need; // statfs refused: the mount point alone still says where
  }
}

function errPath(err: unknown): string | undefined {
  const p = (err as NodeJS.ErrnoException).path;
  return typeof p === 'string' ? p : undefined;
}

/**
 * The refusal `err` is, as a KilnError naming the place and cause; `err` itself when it is not
 * a refusal kiln names (then it is a bug, or already a KilnError).
 */
export function refusal(err: unknown, ctx: RefusalContext): unknown {
  const cause = refusalCause(err);
  if (cause === undefined) return err;
  const { place } = ctx;
  const exitCode = EXIT_CODES[cause];
  const options = (file: string | undefined) => ({ exitCode, cause: err, ...(file !== undefined ? { location: { file } } : {}) });
  if (place.kind === 'store') {
    const where = `${mountPointOf(place.root)} (store ${place.root})`;
    const doing = ctx.what !== undefined ? ` (writing ${ctx.what})` : '';
    switch (cause) {
      case 'noSpace':
        return new KilnError('NO_SPACE', `no space left on the store's filesystem ${where}: ${room(place.root, ctx)}`, options(undefined));
      case 'readOnly':
        return new KilnError('READ_ONLY', `the store's filesystem is read-only: ${where}${doing}`, options(undefined));
      case 'permission':
        return new KilnError('PERMISSION_DENIED', `permission denied in the store: ${errPath(err) ?? place.root}${doing}`, options(undefined));
      case 'missingPath':
        return err; // kiln's own files vanishing under it is not the user's doing
    }
  }
  const path = place.path;
  switch (cause) {
    case 'noSpace':
      return new KilnError('NO_SPACE', `no space left on its filesystem ${mountPointOf(path)}: ${room(path, ctx)}`, options(path));
    case 'readOnly':
      return new KilnError('READ_ONLY', `read-only filesystem ${mountPointOf(path)}`, options(path));
    case 'permission': {
      const denied = errPath(err);
      return new KilnError('PERMISSION_DENIED', `permission denied${denied !== undefined && resolve(denied) !== resolve(path) ? `: ${denied}` : ''}`, options(path));
    }
    case 'missingPath': {
      const missing = errPath(err) ?? path;
      const what = place.kind === 'output' && resolve(missing) !== resolve(path) ? `no such directory: ${dirname(resolve(path))}` : 'no such file or directory';
      return new KilnError('PATH_NOT_FOUND', what, options(path));
    }
  }
}

/**
 * For an error that reached the CLI unnamed: a refusal of a file operation, named by where its
 * path is (the store, or a path the user gave); the store when the error has no path (kiln's
 * writes through descriptors are all in the store, or wrapped where they are not).
 */
export function refusalAtTop(err: unknown, storeRoot: string): unknown {
  const cause = refusalCause(err);
  if (cause === undefined || typeof (err as NodeJS.ErrnoException).syscall !== 'string') return err;
  const path = errPath(err);
  const root = resolve(storeRoot);
  if (path === undefined || resolve(path) === root || resolve(path).startsWith(`${root}/`)) return refusal(err, { place: { kind: 'store', root } });
  return refusal(err, { place: { kind: cause === 'missingPath' ? 'input' : 'output', path } });
}

/**
 * mkdir -p of a directory kiln was asked to write into, refusals named. (A recursive mkdir says
 * ENOENT where the kernel said EROFS or EACCES: the components are made one by one to hear it.)
 */
export async function makeOutputDir(path: string): Promise<void> {
  try {
    await mkdir(path, { recursive: true });
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw refusal(err, { place: { kind: 'output', path } });
  }
  const missing: string[] = [];
  for (let p = resolve(path); ; p = dirname(p)) {
    try {
      await mkdir(p);
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') break;
      if (code !== 'ENOENT' || dirname(p) === p) throw refusal(err, { place: { kind: 'output', path } });
      missing.unshift(p);
    }
  }
  for (const p of missing) {
    try { await mkdir(p); } catch (err) { if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw refusal(err, { place: { kind: 'output', path } }); }
  }
}

/**
 * A build's replay record: everything a build read that could change its result, as it was, and
 * what the build answered. When a later `kiln build` with the same command line, environment and
 * working directory finds every input as recorded, the answer is the same: the image is in the
 * store under the same tags, and the build printed what is recorded. bin/kiln checks this before
 * it loads the build (replayBuild.ts), so an unchanged rebuild costs Node's start, a few
 * `lstat`s and one listing per context directory instead of the build's code and its cache walk.
 *
 * What a record covers (a build that read anything else keeps none, see keepReplay.ts):
 * - the command line, every environment variable and the working directory, compared exactly;
 * - the Dockerfile and its ignore files by `lstat` (device, inode, mode, owner, size, mtime and
 *   ctime in nanoseconds: a write changes ctime, which no one can set), and every entry of the
 *   context by the same numbers as its directory's listing gives them (contextState);
 * - the store's tags and digests (`refs.json`), byte for byte: base images resolve through them,
 *   and the build's own tags must still name its image;
 * - the image's record and config, and each build cache record the build hit (a pruned record
 *   means a real build, as it would mean a rebuilt step).
 * Timestamps are only as fine as the kernel's clock tick: an entry changed within a moment of
 * being recorded could change again unseen (git's "racily clean" index), so such a build keeps
 * no record (see keepReplay.ts).
 */
import { lstatSync, readFileSync, type BigIntStats } from 'node:fs';
import { listedCtimeMs, listedIsDirectory, listedMtimeMs, readDirectory, type NativeListing } from '../../host/directoryListing.js';
import { join } from 'node:path';

export const REPLAY_FORMAT = 1;

/** A path and its `lstat` signature when recorded; null: it did not exist. */
export type Witness = [path: string, signature: string | null];

/** One write the build made to standard output (1) or error (2): text, or bytes in base64. */
export type OutputChunk = [fd: 1 | 2, encoding: 'utf8' | 'base64', data: string];

export interface ReplayRecord {
  format: typeof REPLAY_FORMAT;
  /** The id of the kiln bundle that wrote it: another kiln may build differently. */
  kiln: string;
  cwd: string;
  argv: string[];
  env: Record<string, string>;
  /** Whether standard error was a terminal (it picks the progress view); null: it did not matter (-q). */
  terminal: boolean | null;
  witness: Witness[];
  /** The context directory, and every entry under it summed up (contextState). */
  context: { dir: string; entries: number; digest: string };
  /** refs.json as the build left it (null: there was none). */
  refs: string | null;
  /** The image built: `sha256:HEX`. */
  image: string;
  /** The build cache records the build was answered from. */
  records: string[];
  output: OutputChunk[];
}

/**
 * A 64-bit running hash (two 32-bit FNV-1a lanes): names a record's file and sums up a context's
 * entries. Not a defence against anyone: a collision between two states of one's own files, or
 * two command lines (compared exactly anyway), is what it need not survive.
 */
export class RunningHash {
  private a = 0x811c9dc5;
  private b = 0x01000193 ^ 0x5bd1e995;

  text(t: string): this {
    let { a, b } = this;
    for (let i = 0; i < t.length; i++) {
      const c = t.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 15);
    }
    this.a = a;
    this.b = b;
    return this;
  }

  words(w: Uint32Array): this {
    let { a, b } = this;
    for (let i = 0; i < w.length; i++) {
      const c = w[i] as number;
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 15);
    }
    this.a = a;
    this.b = b;
    return this;
  }

  hex(): string {
    return (this.a >>> 0).toString(16).padStart(8, '0') + (this.b >>> 0).toString(16).padStart(8, '0');
  }
}

/** Where the record of a build started with `argv` in `cwd` lives (the record itself holds both, compared exactly). */
export function replayFile(storeRoot: string, cwd: string, argv: readonly string[]): string {
  return join(storeRoot, 'cache', 'replay', `${new RunningHash().text(`${cwd}\0${argv.join('\0')}`).hex()}.json`);
}

/** A build cache record's file (cache/recordIndex.ts keeps them there). */
export function cacheRecordFile(storeRoot: string, key: string): string {
  return join(storeRoot, 'cache', 'records', key.slice(0, 2), `${key}.json`);
}

/** What of an `lstat` changes when anything about the entry does. */
export function signature(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.mode}:${st.uid}:${st.gid}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

/** `path` as it is now. */
export function witness(path: string): Witness {
  const st = lstatSync(path, { bigint: true, throwIfNoEntry: false });
  return [path, st === undefined ? null : signature(st)];
}

/** Whether a witnessed path was, when witnessed, of the file type `type` (S_IFDIR, S_IFLNK, …); false when it did not exist. */
export function witnessedType(w: Witness, type: number): boolean {
  return w[1] !== null && (Number(w[1].split(':')[2]) & 0o170000) === type;
}

/** Whether every recorded path is as it was. */
export function witnessesHold(witnesses: readonly Witness[]): boolean {
  for (const [path, was] of witnesses) {
    let now: string | null;
    try {
      now = witness(path)[1];
    } catch {
      return false; // ENOTDIR, EACCES: not as recorded
    }
    if (now !== was) return false;
  }
  return true;
}

/** The store's refs.json as text (store/refs.ts); null when there is none. */
export function readRefs(storeRoot: string): string | null {
  try {
    return readFileSync(join(storeRoot, 'refs.json'), 'utf8');
  } catch {
    return null;
  }
}

/** What the context holds, summed up: its entries' names and lstat numbers, in walk order. */
export interface ContextState {
  entries: number;
  digest: string;
  /** The latest mtime or ctime of any entry (ms), and whether every one was a whole second (a coarse filesystem). */
  newestMs: number;
  wholeSeconds: boolean;
}

/** One directory's listing summed up: what contextState folds in, and the subdirectories it goes on to. */
export interface ListingSummary {
  digest: string;
  count: number;
  newestMs: number;
  wholeSeconds: boolean;
  subdirectories: string[];
}

/** A listing summed up as it is read, its arrays not kept. */
export function summarize(listing: NativeListing): ListingSummary {
  const hash = new RunningHash().text(`${listing.names}\0`).words(new Uint32Array(listing.stats.buffer, listing.stats.byteOffset, listing.stats.length * 2));
  let newestMs = 0;
  let wholeSeconds = true;
  let names: string[] | undefined;
  const subdirectories: string[] = [];
  for (let i = 0; i < listing.count; i++) {
    const m = listedMtimeMs(listing, i);
    const c = listedCtimeMs(listing, i);
    newestMs = Math.max(newestMs, m, c);
    if (m % 1000 !== 0 || c % 1000 !== 0) wholeSeconds = false;
    if (listedIsDirectory(listing, i)) {
      names ??= listing.names.split('\0');
      subdirectories.push(names[i] as string);
    }
  }
  return { digest: hash.hex(), count: listing.count, newestMs, wholeSeconds, subdirectories };
}

/**
 * Every entry under `root` (not `root` itself): each directory's path and the digest of its
 * listing (names and lstat numbers, one addon call per directory, no object per entry) folded
 * into one hash, the directories in the order they are listed. The same tree listed twice gives
 * the same digest (a directory's order changes only when it does, and then its own times change
 * too). Undefined where the addon is not built (node's fs lists too slowly for this to pay).
 * `known` gives a directory's listing summed up already, if there is one (a build's own walks
 * read most).
 */
export function contextState(root: string, known: (abs: string) => ListingSummary | undefined = () => undefined): ContextState | undefined {
  const hash = new RunningHash();
  let entries = 0;
  let newestMs = 0;
  let wholeSeconds = true;
  const pending = [''];
  while (pending.length > 0) {
    const rel = pending.pop() as string;
    const abs = rel === '' ? root : `${root}/${rel}`;
    let dir = known(abs);
    if (dir === undefined) {
      const listing = readDirectory(abs).native;
      if (listing === undefined) return undefined;
      dir = summarize(listing);
    }
    hash.text(`${rel}\0${dir.digest}\0`);
    entries += dir.count;
    newestMs = Math.max(newestMs, dir.newestMs);
    if (dir.count > 0 && !dir.wholeSeconds) wholeSeconds = false;
    for (const name of dir.subdirectories) pending.push(rel === '' ? name : `${rel}/${name}`);
  }
  return { entries, digest: hash.hex(), newestMs, wholeSeconds };
}

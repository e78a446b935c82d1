/**
 * The content digest of exactly the sources a COPY/ADD selects: for every file, directory
 * and symlink under them, its path, type, permission bits, owner, size and bytes (or link
 * target) — never its mtime, so touching a file without changing it keeps the cache.
 * File bytes are hashed only when the stat cache does not already know them, and a selection
 * whose walk reads exactly what an earlier one read takes that walk's digest (digestMemo.ts).
 */
import { closeSync, createReadStream, lstatSync, openSync, readFileSync, readlinkSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../engine/errors/kilnError.js';
import { readFoundDirectory, type DirectoryRead, type EntryStats } from '../engine/host/directoryListing.js';
import type { DigestMemo } from './digestMemo.js';
import { digestBytes, digestString, loadHasher, StreamDigest } from './hasher.js';
import { fingerprintOf, ListingFingerprint } from './listingFingerprint.js';
import { RACY_WINDOW_MS, type StatCache } from './statCache.js';

export interface SourceSelection {
  /** Paths relative to `root`, already wildcard-expanded; a directory means all of it. */
  paths: string[];
  /**
   * Excluded entries (.dockerignore, COPY --exclude), by path relative to `root`. For a
   * directory, true prunes its whole subtree: return false for a directory that has
   * re-included children.
   */
  exclude?: (relPath: string, isDirectory: boolean) => boolean;
  /**
   * What `exclude` leaves out, named: one name, one set of rules. A selection with `exclude`
   * and no name is walked whole every time (its digest is not remembered).
   */
  excludeRules?: string;
  /**
   * Where what the walk reads is kept for a copy that follows (the source tree's; none by
   * default): `read` reads a directory met in the walk by its host path (one gone by now lists
   * as empty), `keepBytes` is handed each small file's bytes the walk read to hash them.
   */
  keep?: {
    read(abs: string): DirectoryRead;
    keepBytes(abs: string, bytes: Buffer): void;
  };
}

export interface SourcesDigest {
  /** 32 hex characters over every (path, entry digest) pair, in path order. */
  digest: string;
  /** Per-entry digests by path relative to the root: what --explain compares. */
  files: Record<string, string>;
}

/** Files at most this big are read in one go; bigger ones are streamed. */
const READ_WHOLE_LIMIT = 1 << 20;
/** How much of a streamed file is hashed at a time. */
const BIG_CHUNK = 1 << 20;

function fileType(st: EntryStats): string {
  if (st.isFile()) return 'f';
  if (st.isDirectory()) return 'd';
  if (st.isSymbolicLink()) return 'l';
  if (st.isFIFO()) return 'p';
  if (st.isCharacterDevice()) return 'c';
  if (st.isBlockDevice()) return 'b';
  return 's';
}

function normalise(rel: string): string {
  const parts: string[] = [];
  for (const p of rel.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (parts.length === 0) throw new KilnError('COPY_OUTSIDE_CONTEXT', `source path "${rel}" is outside the build context`);
      parts.pop();
      continue;
    }
    parts.push(p);
  }
  return parts.join('/');
}

function inOrder(paths: readonly string[]): boolean {
  for (let i = 1; i < paths.length; i++) if ((paths[i - 1] as string) > (paths[i] as string)) return false;
  return true;
}

/**
 * A small file's bytes, read with the size its listing gave (open, read, close: readFileSync
 * also asks fstat for it); one that has grown since is read whole.
 */
function readListedFile(abs: string, size: number): Buffer {
  const fd = openSync(abs, 'r');
  try {
    // One byte more than the listing said, to see whether the file has grown. A regular file
    // reads short only at its end: one read says it all (readFileSync too reads once).
    const buf = Buffer.allocUnsafe(size + 1);
    const got = readSync(fd, buf, 0, buf.length, null);
    return got <= size ? buf.subarray(0, got) : readFileSync(abs);
  } finally {
    closeSync(fd);
  }
}

/** A file too big to read at once: hashed as a stream once the walk is done. */
interface BigFile {
  rel: string;
  abs: string;
  st: EntryStats;
  /** Its place among the walk's digests. */
  at: number;
}

type Keep = NonNullable<SourceSelection['keep']>;

/** The host path of entry `name` of the directory at `dir`, or of `dir` itself when no name is given. */
function entryPath(dir: string, name: string | undefined): string {
  if (name === undefined) return dir;
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** Entry digests by path, in the order a walk found them (two arrays: no object per entry). */
interface Found {
  paths: string[];
  digests: string[];
}

/** One selection's walk: what it leaves out, how it lists a directory, where digests go. */
interface Walk extends Found {
  exclude: SourceSelection['exclude'];
  read: (abs: string) => DirectoryRead;
  keep: Keep | undefined;
  /** Files too big to read at once: hashed as streams once the walk is done (or at once, with `bigNow`). */
  big: BigFile[];
  bigNow: boolean;
  /** What the walk read, for the digest memo (none when the selection's digest is not remembered). */
  fingerprint: ListingFingerprint | undefined;
  /** An entry changed after this moment (ms) may still be changing within one clock tick. */
  settledBefore: number;
  /** One was met: the digest is not remembered. */
  unsettled: boolean;
}

/** Each path once, at its first place, with its last digest (selections may overlap). */
function distinct(found: Found): Found {
  const byPath = new Map<string, string>();
  found.paths.forEach((p, i) => byPath.set(p, found.digests[i] as string));
  return { paths: [...byPath.keys()], digests: [...byPath.values()] };
}

/** How much of the list of digests is hashed at a time. */
const LINES_CHUNK = 1 << 16;

/**
 * The digest of every `path NUL digest LF` line in path order, hashed a piece at a time: the
 * whole text of a large context (and its UTF-8 copy in the hasher's memory) is megabytes of
 * fresh memory, which costs more than the hashing.
 */
function linesDigest(found: Found): string {
  const { paths, digests } = found;
  const order = pathOrder(paths);
  const d = new StreamDigest();
  let text = '';
  for (let k = 0; k < paths.length; k++) {
    const i = order === undefined ? k : (order[k] as number);
    text += `${paths[i] as string}\0${digests[i] as string}\n`;
    if (text.length >= LINES_CHUNK) {
      d.update(text);
      text = '';
    }
  }
  d.update(text);
  return d.digest();
}

/** The per-path record of what a walk found (what --explain compares), in path order. */
function foundRecord(found: Found): Record<string, string> {
  const order = pathOrder(found.paths);
  const record: Record<string, string> = {};
  for (let k = 0; k < found.paths.length; k++) {
    const i = order === undefined ? k : (order[k] as number);
    record[found.paths[i] as string] = found.digests[i] as string;
  }
  return record;
}

/**
 * The positions of `paths` in path order; undefined when they are in order already. A walk
 * visits each directory's entries in name order, which is path order unless a name has a
 * character below '/' ('a.txt' sorts before 'a/b').
 */
function pathOrder(paths: readonly string[]): number[] | undefined {
  if (inOrder(paths)) return undefined;
  return paths.map((_, i) => i).sort((a, b) => ((paths[a] as string) < (paths[b] as string) ? -1 : 1));
}

/** A file's, directory's or other entry's metadata as its digest covers it. */
function entryHeader(st: EntryStats): string {
  const isDir = st.isDirectory();
  return `${fileType(st)} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${isDir ? 0 : st.size}`;
}

/**
 * A SourcesDigest whose per-path record is built when first asked for: a cache hit needs only
 * the digest, and a 20,000-entry object cost more than the rest of the hit.
 */
export function lazySourcesDigest(digest: string, files: () => Record<string, string>): SourcesDigest {
  let built: Record<string, string> | undefined;
  return {
    digest,
    get files(): Record<string, string> {
      built ??= files();
      return built;
    },
  };
}

/**
 * Whether an entry last changed before `before` (ms): long enough ago that a change now would
 * move its times. A filesystem that keeps whole seconds ticks once a second.
 */
export function settledBefore(st: Pick<EntryStats, 'mtimeMs' | 'ctimeMs'>, before: number): boolean {
  const newest = Math.max(st.mtimeMs, st.ctimeMs);
  const wholeSeconds = st.mtimeMs % 1000 === 0 && st.ctimeMs % 1000 === 0;
  return newest <= (wholeSeconds ? before - 1000 : before);
}

/** How a selection is named in its listings' fingerprint: its paths and what it leaves out. */
function selectionName(paths: readonly string[], selection: SourceSelection): string | undefined {
  if (selection.exclude !== undefined && selection.excludeRules === undefined) return undefined;
  return JSON.stringify([paths, selection.excludeRules ?? null]);
}

export class SourceHasher {
  /** Files whose bytes were read this run (the rest came from the stat cache). */
  bytesHashed = 0;
  filesHashed = 0;

  /** `memo`: where digests are remembered against their walks' fingerprints (none: every selection is walked whole). */
  constructor(private readonly root: string, private readonly statCache: StatCache, private readonly memo?: DigestMemo) {}

  async hash(selection: SourceSelection): Promise<SourcesDigest> {
    await loadHasher();
    const paths = selection.paths.map(normalise);
    const { keep } = selection;
    const read = keep ? (d: string): DirectoryRead => keep.read(d) : readFoundDirectory;
    const name = this.memo === undefined ? undefined : selectionName(paths, selection);
    if (name !== undefined) {
      // What the full walk would read, listed and nothing more: when an earlier walk read the
      // same, its digest stands, and the per-path record is made only if someone asks for it.
      const fingerprint = fingerprintOf(this.root, paths, name, { read, ...(selection.exclude ? { exclude: selection.exclude } : {}) });
      const known = fingerprint === undefined ? undefined : this.memo?.get(fingerprint);
      if (known !== undefined) return lazySourcesDigest(known, () => foundRecord(this.walkNow(selection, paths, read)));
    }
    const walk = this.walkOf(selection, read, name === undefined ? undefined : new ListingFingerprint(name), false);
    this.visitAll(selection, paths, walk);
    for (const b of walk.big) walk.digests[b.at] = await this.bigFileDigest(b);
    const found = paths.length > 1 ? distinct(walk) : walk;
    const digest = linesDigest(found);
    const fingerprint = walk.unsettled || this.statCache.hasRacy ? undefined : walk.fingerprint?.digest();
    if (fingerprint !== undefined) this.memo?.remember(fingerprint, digest);
    return lazySourcesDigest(digest, () => foundRecord(found));
  }

  private walkOf(selection: SourceSelection, read: (abs: string) => DirectoryRead, fingerprint: ListingFingerprint | undefined, bigNow: boolean): Walk {
    return {
      exclude: selection.exclude, read, keep: selection.keep, paths: [], digests: [], big: [], bigNow, fingerprint,
      settledBefore: Date.now() - RACY_WINDOW_MS, unsettled: false,
    };
  }

  /** The selected paths walked, into `walk`. */
  private visitAll(selection: SourceSelection, paths: readonly string[], walk: Walk): void {
    paths.forEach((rel, i) => {
      const abs = rel === '' ? this.root : join(this.root, rel);
      let st: EntryStats;
      try {
        st = lstatSync(abs);
      } catch {
        throw new KilnError('COPY_SOURCE_MISSING', `source "${selection.paths[i] as string}" not found in the build context`);
      }
      walk.fingerprint?.selected(rel, st);
      this.visit(rel, abs, undefined, st, walk);
    });
  }

  /** The selection walked whole at once, big files too (for a record asked of a remembered digest). */
  private walkNow(selection: SourceSelection, paths: readonly string[], read: (abs: string) => DirectoryRead): Found {
    const walk = this.walkOf(selection, read, undefined, true);
    this.visitAll(selection, paths, walk);
    return paths.length > 1 ? distinct(walk) : walk;
  }

  /**
   * Every entry's digest under one selected path, into the walk, in one synchronous pass (a
   * walk is thousands of tiny calls; a promise for each cost more than the calls). Files too
   * big to read at once are left to `big`. The entry is `name` in the directory at `at` (or at
   * `at` itself when no name is given): its path is made only when it is read or listed.
   */
  private visit(rel: string, at: string, name: string | undefined, st: EntryStats, walk: Walk): void {
    const isDir = st.isDirectory();
    if (rel !== '' && walk.exclude?.(rel, isDir)) return;
    if (!isDir && !settledBefore(st, walk.settledBefore)) walk.unsettled = true;
    if (st.isFile()) {
      const known = this.statCache.lookup(rel, st);
      walk.paths.push(rel);
      if (known !== undefined) walk.digests.push(known);
      else if (st.size <= READ_WHOLE_LIMIT) {
        const abs = entryPath(at, name);
        const bytes = readListedFile(abs, st.size);
        walk.keep?.keepBytes(abs, bytes);
        walk.digests.push(this.fileDigest(rel, st, Date.now(), digestBytes(bytes)));
      } else if (walk.bigNow) {
        walk.digests.push(this.bigFileDigestNow({ rel, abs: entryPath(at, name), st, at: walk.digests.length }));
      } else {
        walk.big.push({ rel, abs: entryPath(at, name), st, at: walk.digests.length });
        walk.digests.push(''); // its place, filled in once it is read
      }
      return;
    }
    const header = entryHeader(st);
    if (isDir) {
      walk.paths.push(rel === '' ? '.' : rel);
      walk.digests.push(digestString(header));
      const abs = entryPath(at, name);
      // An entry removed while we walked is not part of this build (the listing leaves it out).
      const read = walk.read(abs);
      walk.fingerprint?.directory(rel, read);
      const children = read.entries().sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const child of children) this.visit(rel === '' ? child.name : `${rel}/${child.name}`, abs, child.name, child.stats, walk);
      return;
    }
    const body = st.isSymbolicLink() ? readlinkSync(entryPath(at, name)) : `${st.rdev}`;
    walk.paths.push(rel);
    walk.digests.push(digestString(`${header} ${body}`));
  }

  private async bigFileDigest(b: BigFile): Promise<string> {
    const startedAt = Date.now();
    const d = new StreamDigest();
    for await (const chunk of createReadStream(b.abs, { highWaterMark: BIG_CHUNK })) d.update(chunk as Buffer);
    return this.fileDigest(b.rel, b.st, startedAt, d.digest());
  }

  /** bigFileDigest, a piece at a time without waiting on anything. */
  private bigFileDigestNow(b: BigFile): string {
    const startedAt = Date.now();
    const d = new StreamDigest();
    const fd = openSync(b.abs, 'r');
    try {
      const buf = Buffer.allocUnsafe(BIG_CHUNK);
      for (let got = readSync(fd, buf, 0, BIG_CHUNK, null); got > 0; got = readSync(fd, buf, 0, BIG_CHUNK, null)) d.update(buf.subarray(0, got));
    } finally {
      closeSync(fd);
    }
    return this.fileDigest(b.rel, b.st, startedAt, d.digest());
  }

  /**
   * A file's entry digest (header and content), remembered in the stat cache. The cache keeps
   * the whole entry digest: everything in the header is in the metadata it checks (a chmod or
   * chown changes ctime and mode), so a hit costs neither a read nor a hash.
   */
  private fileDigest(rel: string, st: EntryStats, startedAt: number, content: string): string {
    this.filesHashed++;
    this.bytesHashed += st.size;
    const entry = digestString(`${entryHeader(st)} ${content}`);
    this.statCache.store(rel, st, entry, startedAt);
    return entry;
  }
}

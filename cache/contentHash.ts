/**
 * The content digest of exactly the sources a COPY/ADD selects: for every file, directory
 * and symlink under them, its path, type, permission bits, owner, size and bytes (or link
 * target) — never its mtime, so touching a file without changing it keeps the cache.
 * File bytes are hashed only when the stat cache does not already know them.
 */
import { closeSync, createReadStream, lstatSync, openSync, readFileSync, readlinkSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../engine/errors/kilnError.js';
import { listFoundDirectory, type EntryStats, type ListedEntry } from '../engine/host/directoryListing.js';
import { digestBytes, digestString, loadHasher, StreamDigest } from './hasher.js';
import type { StatCache } from './statCache.js';

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
   * Where what the walk reads is kept for a copy that follows (the source tree's; none by
   * default): `list` lists a directory met in the walk by its host path (one gone by now lists
   * as empty), `keepBytes` is handed each small file's bytes the walk read to hash them.
   */
  keep?: {
    list(abs: string): ListedEntry[];
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
}

type Keep = NonNullable<SourceSelection['keep']>;

/** One selection's walk: what it leaves out, how it lists a directory, where digests go. */
interface Walk {
  exclude: SourceSelection['exclude'];
  list: (abs: string) => ListedEntry[];
  keep: Keep | undefined;
  out: Map<string, string>;
  /** Files too big to read at once: hashed as streams once the walk is done. */
  big: BigFile[];
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

export class SourceHasher {
  /** Files whose bytes were read this run (the rest came from the stat cache). */
  bytesHashed = 0;
  filesHashed = 0;

  constructor(private readonly root: string, private readonly statCache: StatCache) {}

  async hash(selection: SourceSelection): Promise<SourcesDigest> {
    await loadHasher();
    const files = new Map<string, string>();
    const big: BigFile[] = [];
    for (const raw of selection.paths) {
      const rel = normalise(raw);
      const abs = rel === '' ? this.root : join(this.root, rel);
      let st: EntryStats;
      try {
        st = lstatSync(abs);
      } catch {
        throw new KilnError('COPY_SOURCE_MISSING', `source "${raw}" not found in the build context`);
      }
      this.visit(rel, abs, st, { exclude: selection.exclude, list: selection.keep ? (d) => (selection.keep as Keep).list(d) : listFoundDirectory, keep: selection.keep, out: files, big });
    }
    for (const b of big) files.set(b.rel, await this.bigFileDigest(b));
    // The walk visits each directory's entries in name order, which is path order unless a name
    // has a character below '/' ('a.txt' sorts before 'a/b'): sorted only then.
    const paths = [...files.keys()];
    if (!inOrder(paths)) paths.sort();
    const lines = paths.map((p) => `${p}\0${files.get(p) as string}\n`);
    return lazySourcesDigest(digestString(lines.join('')), () => {
      const record: Record<string, string> = {};
      for (const p of paths) record[p] = files.get(p) as string;
      return record;
    });
  }

  /**
   * Every entry's digest under one selected path, into `out`, in one synchronous pass (a walk
   * is thousands of tiny calls; a promise for each cost more than the calls). Files too big
   * to read at once are left to `big`.
   */
  private visit(rel: string, abs: string, st: EntryStats, walk: Walk): void {
    const { out } = walk;
    const isDir = st.isDirectory();
    if (rel !== '' && walk.exclude?.(rel, isDir)) return;
    if (st.isFile()) {
      const known = this.statCache.lookup(rel, st);
      if (known !== undefined) out.set(rel, known);
      else if (st.size <= READ_WHOLE_LIMIT) {
        const bytes = readListedFile(abs, st.size);
        walk.keep?.keepBytes(abs, bytes);
        out.set(rel, this.fileDigest(rel, st, Date.now(), digestBytes(bytes)));
      } else {
        out.set(rel, ''); // its place, filled in once it is read
        walk.big.push({ rel, abs, st });
      }
      return;
    }
    const header = entryHeader(st);
    if (isDir) {
      out.set(rel === '' ? '.' : rel, digestString(header));
      // An entry removed while we walked is not part of this build (the listing leaves it out).
      // Sorted in place: a listing kept for the copy is walked in any order there.
      const children = walk.list(abs).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const { name, stats } of children) {
        const childRel = rel === '' ? name : `${rel}/${name}`;
        this.visit(childRel, abs === '/' ? `/${name}` : `${abs}/${name}`, stats, walk);
      }
      return;
    }
    const body = st.isSymbolicLink() ? readlinkSync(abs) : `${st.rdev}`;
    out.set(rel, digestString(`${header} ${body}`));
  }

  private async bigFileDigest(b: BigFile): Promise<string> {
    const startedAt = Date.now();
    const d = new StreamDigest();
    for await (const chunk of createReadStream(b.abs, { highWaterMark: 1 << 20 })) d.update(chunk as Buffer);
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

/**
 * The content digest of exactly the sources a COPY/ADD selects: for every file, directory
 * and symlink under them, its path, type, permission bits, owner, size and bytes (or link
 * target) — never its mtime, so touching a file without changing it keeps the cache.
 * File bytes are hashed only when the stat cache does not already know them.
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync, createReadStream } from 'node:fs';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../engine/errors/kilnError.js';
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
}

export interface SourcesDigest {
  /** 32 hex characters over every (path, entry digest) pair, in path order. */
  digest: string;
  /** Per-entry digests by path relative to the root: what --explain compares. */
  files: Record<string, string>;
}

/** Files at most this big are read in one go; bigger ones are streamed. */
const READ_WHOLE_LIMIT = 1 << 20;

function fileType(st: Stats): string {
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

export class SourceHasher {
  /** Files whose bytes were read this run (the rest came from the stat cache). */
  bytesHashed = 0;
  filesHashed = 0;

  constructor(private readonly root: string, private readonly statCache: StatCache) {}

  async hash(selection: SourceSelection): Promise<SourcesDigest> {
    await loadHasher();
    const files = new Map<string, string>();
    for (const raw of selection.paths) {
      const rel = normalise(raw);
      const abs = rel === '' ? this.root : join(this.root, rel);
      let st: Stats;
      try {
        st = lstatSync(abs);
      } catch {
        throw new KilnError('COPY_SOURCE_MISSING', `source "${raw}" not found in the build context`);
      }
      await this.visit(rel, abs, st, selection.exclude, files);
    }
    const paths = [...files.keys()].sort();
    const lines = paths.map((p) => `${p}\0${files.get(p) as string}\n`);
    return { digest: digestString(lines.join('')), files: Object.fromEntries(paths.map((p) => [p, files.get(p) as string])) };
  }

  private async visit(
    rel: string,
    abs: string,
    st: Stats,
    exclude: SourceSelection['exclude'],
    out: Map<string, string>,
  ): Promise<void> {
    const isDir = st.isDirectory();
    if (rel !== '' && exclude?.(rel, isDir)) return;
    const type = fileType(st);
    const header = `${type} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${isDir ? 0 : st.size}`;
    if (isDir) {
      out.set(rel === '' ? '.' : rel, digestString(header));
      const names = readdirSync(abs).sort();
      for (const name of names) {
        const childRel = rel === '' ? name : `${rel}/${name}`;
        const childAbs = join(abs, name);
        let childSt: Stats;
        try {
          childSt = lstatSync(childAbs);
        } catch {
          continue; // removed while we walked: it is not part of this build
        }
        await this.visit(childRel, childAbs, childSt, exclude, out);
      }
      return;
    }
    if (st.isFile()) {
      out.set(rel, await this.fileDigest(rel, abs, st, header));
      return;
    }
    const body = st.isSymbolicLink() ? readlinkSync(abs) : `${st.rdev}`;
    out.set(rel, digestString(`${header} ${body}`));
  }

  /**
   * A file's entry digest (header and content). The stat cache keeps the whole entry
   * digest: everything in the header is in the metadata it checks (a chmod or chown
   * changes ctime and mode), so a hit costs neither a read nor a hash.
   */
  private async fileDigest(rel: string, abs: string, st: Stats, header: string): Promise<string> {
    const known = this.statCache.lookup(rel, st);
    if (known) return known;
    const startedAt = Date.now();
    let hash: string;
    if (st.size <= READ_WHOLE_LIMIT) {
      hash = digestBytes(readFileSync(abs));
    } else {
      const d = new StreamDigest();
      for await (const chunk of createReadStream(abs, { highWaterMark: 1 << 20 })) d.update(chunk as Buffer);
      hash = d.digest();
    }
    this.filesHashed++;
    this.bytesHashed += st.size;
    const entry = digestString(`${header} ${hash}`);
    this.statCache.store(rel, st, entry, startedAt);
    return entry;
  }
}

/**
 * Remembers each file's content hash against its metadata (size, mtime, ctime, inode),
 * so a rebuild with nothing changed reads directory entries and inodes, never file bytes.
 *
 * One cache file per build-context directory, in a compact binary form that loads in a
 * few milliseconds for tens of thousands of entries:
 *   "KSC1" u32:count, then per entry: u16:pathLength path(utf8) f64:size f64:mtimeMs
 *   f64:ctimeMs f64:ino 16 bytes:hash
 * Saved atomically (temp + rename); two builds saving at once is harmless (last one wins,
 * both are correct).
 *
 * Racy entries: file timestamps come from a coarse kernel clock, so a file rewritten with
 * the same size within one tick of being hashed keeps its mtime. An entry whose mtime is
 * that close to the moment it was hashed is used for this build but not persisted; the
 * next build hashes that file again (as git does with "racily clean" entries).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomicSync } from './atomicWrite.js';

const MAGIC = 0x4b534331; // "KSC1"
const HASH_BYTES = 16;
/** Wider than any kernel timestamp tick (4 ms at HZ=250, 10 ms at HZ=100). */
const RACY_WINDOW_MS = 100;

export interface StatEntry {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  /** 32 hex characters. */
  hash: string;
}

export class StatCache {
  private readonly entries = new Map<string, StatEntry>();
  private readonly racy = new Set<string>();
  private dirty = false;
  /** Entries looked up or stored during this process: only these are kept on save. */
  private readonly seen = new Set<string>();

  private constructor(readonly file: string | undefined) {}

  /** An empty cache that is never saved (for --no-cache runs and tests). */
  static inMemory(): StatCache {
    return new StatCache(undefined);
  }

  /** Loads `file` if it exists and is readable; a missing or damaged file is an empty cache. */
  static load(file: string): StatCache {
    const cache = new StatCache(file);
    let buf: Buffer;
    try {
      buf = readFileSync(file);
    } catch {
      return cache;
    }
    try {
      cache.decode(buf);
    } catch {
      cache.entries.clear(); // damaged: start over, it is only a cache
    }
    return cache;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The remembered hash of `path`, if its metadata is exactly what it was. */
  lookup(path: string, st: Stats): string | undefined {
    const e = this.entries.get(path);
    this.seen.add(path);
    if (!e) return undefined;
    if (e.size !== st.size || e.mtimeMs !== st.mtimeMs || e.ctimeMs !== st.ctimeMs || e.ino !== st.ino) return undefined;
    return e.hash;
  }

  store(path: string, st: Stats, hash: string, hashedAtMs: number = Date.now()): void {
    this.entries.set(path, { size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino, hash });
    this.seen.add(path);
    if (Math.max(st.mtimeMs, st.ctimeMs) > hashedAtMs - RACY_WINDOW_MS) this.racy.add(path);
    else this.racy.delete(path);
    this.dirty = true;
  }

  /**
   * Writes the cache if anything changed. Entries of files this build did not look at are
   * kept (another Dockerfile may copy them), unless `onlySeen` asks to forget them.
   */
  save(options: { onlySeen?: boolean } = {}): void {
    if (!this.file || (!this.dirty && !options.onlySeen)) return;
    mkdirSync(dirname(this.file), { recursive: true });
    writeFileAtomicSync(this.file, this.encode(options.onlySeen === true));
    this.dirty = false;
  }

  private encode(onlySeen: boolean): Buffer {
    const paths: Buffer[] = [];
    const kept: StatEntry[] = [];
    let total = 8;
    for (const [path, e] of this.entries) {
      if (this.racy.has(path) || (onlySeen && !this.seen.has(path))) continue;
      const p = Buffer.from(path, 'utf8');
      if (p.length > 0xffff) continue;
      paths.push(p);
      kept.push(e);
      total += 2 + p.length + 32 + HASH_BYTES;
    }
    const buf = Buffer.allocUnsafe(total);
    buf.writeUInt32BE(MAGIC, 0);
    buf.writeUInt32BE(kept.length, 4);
    let off = 8;
    for (let i = 0; i < kept.length; i++) {
      const p = paths[i] as Buffer;
      const e = kept[i] as StatEntry;
      buf.writeUInt16BE(p.length, off);
      off += 2;
      p.copy(buf, off);
      off += p.length;
      buf.writeDoubleBE(e.size, off);
      buf.writeDoubleBE(e.mtimeMs, off + 8);
      buf.writeDoubleBE(e.ctimeMs, off + 16);
      buf.writeDoubleBE(e.ino, off + 24);
      off += 32;
      buf.write(e.hash, off, HASH_BYTES, 'hex');
      off += HASH_BYTES;
    }
    return buf;
  }

  private decode(buf: Buffer): void {
    if (buf.length < 8 || buf.readUInt32BE(0) !== MAGIC) throw new Error('not a stat cache');
    const count = buf.readUInt32BE(4);
    let off = 8;
    for (let i = 0; i < count; i++) {
      const len = buf.readUInt16BE(off);
      off += 2;
      const path = buf.toString('utf8', off, off + len);
      off += len;
      const entry: StatEntry = {
        size: buf.readDoubleBE(off),
        mtimeMs: buf.readDoubleBE(off + 8),
        ctimeMs: buf.readDoubleBE(off + 16),
        ino: buf.readDoubleBE(off + 24),
        hash: buf.toString('hex', off + 32, off + 32 + HASH_BYTES),
      };
      off += 32 + HASH_BYTES;
      if (off > buf.length) throw new Error('truncated stat cache');
      this.entries.set(path, entry);
    }
  }
}

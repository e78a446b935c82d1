/**
 * Remembers each file's digest against its metadata (size, mtime, ctime, inode, mode), so a
 * rebuild with nothing changed reads directory entries and inodes, never file bytes.
 *
 * One cache file per build-context directory, laid out to load in a few milliseconds for
 * tens of thousands of entries (numbers in one typed array, all text in one string):
 *   "KSC2" u32:count u32:textBytes u32:0, count × 5 f64 (size, mtimeMs, ctimeMs, ino, mode,
 *   native byte order: the file never leaves this machine), count × u16 path length (UTF-16
 *   units), then UTF-8 text: each path followed by its 32-hex-digit digest.
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
import { writeFileAtomicSync } from '../engine/store/atomicFile.js';

const MAGIC = 0x4b534332; // "KSC2"
const HASH_CHARS = 32;
const HEADER = 16;
const NUMBERS = 5;
/** Wider than any kernel timestamp tick (4 ms at HZ=250, 10 ms at HZ=100). */
export const RACY_WINDOW_MS = 100;

export interface StatEntry {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  mode: number;
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
    if (e.size !== st.size || e.mtimeMs !== st.mtimeMs || e.ctimeMs !== st.ctimeMs || e.ino !== st.ino || e.mode !== st.mode) return undefined;
    return e.hash;
  }

  store(path: string, st: Stats, hash: string, hashedAtMs: number = Date.now()): void {
    this.entries.set(path, { size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino, mode: st.mode, hash });
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
    const kept: [string, StatEntry][] = [];
    for (const [path, e] of this.entries) {
      if (this.racy.has(path) || (onlySeen && !this.seen.has(path)) || path.length > 0xffff || e.hash.length !== HASH_CHARS) continue;
      kept.push([path, e]);
    }
    const numbers = new Float64Array(kept.length * NUMBERS);
    const lengths = new Uint16Array(kept.length);
    const text: string[] = [];
    kept.forEach(([path, e], i) => {
      numbers.set([e.size, e.mtimeMs, e.ctimeMs, e.ino, e.mode], i * NUMBERS);
      lengths[i] = path.length;
      text.push(path, e.hash);
    });
    const textBytes = Buffer.from(text.join(''), 'utf8');
    const header = Buffer.alloc(HEADER);
    header.writeUInt32BE(MAGIC, 0);
    header.writeUInt32BE(kept.length, 4);
    header.writeUInt32BE(textBytes.length, 8);
    return Buffer.concat([header, Buffer.from(numbers.buffer), Buffer.from(lengths.buffer), textBytes]);
  }

  private decode(buf: Buffer): void {
    if (buf.length < HEADER || buf.readUInt32BE(0) !== MAGIC) throw new Error('not a stat cache');
    const count = buf.readUInt32BE(4);
    const textBytes = buf.readUInt32BE(8);
    const numbersEnd = HEADER + count * NUMBERS * 8;
    const lengthsEnd = numbersEnd + count * 2;
    if (buf.length !== lengthsEnd + textBytes) throw new Error('truncated stat cache');
    // Typed arrays need aligned offsets: copy the two tables out (cheap next to decoding text).
    const numbers = new Float64Array(buf.buffer.slice(buf.byteOffset + HEADER, buf.byteOffset + numbersEnd));
    const lengths = new Uint16Array(buf.buffer.slice(buf.byteOffset + numbersEnd, buf.byteOffset + lengthsEnd));
    const text = buf.toString('utf8', lengthsEnd);
    let pos = 0;
    for (let i = 0; i < count; i++) {
      const len = lengths[i] as number;
      const path = text.slice(pos, pos + len);
      const hash = text.slice(pos + len, pos + len + HASH_CHARS);
      pos += len + HASH_CHARS;
      const n = i * NUMBERS;
      this.entries.set(path, {
        size: numbers[n] as number,
        mtimeMs: numbers[n + 1] as number,
        ctimeMs: numbers[n + 2] as number,
        ino: numbers[n + 3] as number,
        mode: numbers[n + 4] as number,
        hash,
      });
    }
    if (pos !== text.length) throw new Error('damaged stat cache');
  }
}

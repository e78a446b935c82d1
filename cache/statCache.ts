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
 * Loading decodes nothing per entry: lookups come in the order the last build made them (the
 * file is saved in that order), so each is matched against the next entry in place; a path
 * out of that order builds an index of every path once.
 *
 * Racy entries: file timestamps come from a coarse kernel clock, so a file rewritten with
 * the same size within one tick of being hashed keeps its mtime. An entry whose mtime is
 * that close to the moment it was hashed is used for this build but not persisted; the
 * next build hashes that file again (as git does with "racily clean" entries).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomicSync } from '../engine/store/atomicFile.js';
import type { EntryStats } from '../engine/host/directoryListing.js';

const MAGIC = 0x4b534332; // "KSC2"
const HASH_CHARS = 32;
const HEADER = 16;
const NUMBERS = 5;
/** Wider than any kernel timestamp tick (4 ms at HZ=250, 10 ms at HZ=100). */
export const RACY_WINDOW_MS = 100;
/** How many entries past the expected one a lookup tries before it asks the index. */
const LOOK_AHEAD = 8;

/** The metadata an entry is checked against. */
type CheckedStats = Pick<EntryStats, 'size' | 'mtimeMs' | 'ctimeMs' | 'ino' | 'mode'>;

export interface StatEntry {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  mode: number;
  /** 32 hex characters. */
  hash: string;
}

/** The entries as the file held them, left in place: entry i's path is text[starts[i], +lengths[i]], its digest right after. */
interface Loaded {
  count: number;
  numbers: Float64Array;
  lengths: Uint16Array;
  starts: Uint32Array;
  text: string;
}

export class StatCache {
  private loaded: Loaded | undefined;
  /** The file load() named is still to be read. */
  private unread = false;
  /** The loaded entry the next lookup most likely asks for. */
  private cursor = 0;
  /** Every loaded path's position, built on the first lookup out of order. */
  private index: Map<string, number> | undefined;
  /** Loaded entries looked up (1) and replaced by a store() (2). */
  private marks = new Uint8Array(0);
  private replaced = 0;
  /** Entries stored by this process: they win over loaded ones. */
  private readonly stored = new Map<string, StatEntry>();
  /** What this process looked up or stored, in order (a loaded position or a stored path): the order save() writes. */
  private readonly order: (number | string)[] = [];
  private readonly racy = new Set<string>();
  private dirty = false;

  private constructor(readonly file: string | undefined) {}

  /** An empty cache that is never saved (for --no-cache runs and tests). */
  static inMemory(): StatCache {
    return new StatCache(undefined);
  }

  /**
   * The cache in `file`, read when first used (a rebuild whose digests all come from the
   * digest memo never reads it); a missing, unreadable or damaged file is an empty cache.
   */
  static load(file: string): StatCache {
    const cache = new StatCache(file);
    cache.unread = true;
    return cache;
  }

  /** Reads the file load() named, once. */
  private read(): void {
    if (!this.unread) return;
    this.unread = false;
    let buf: Buffer;
    try {
      buf = readFileSync(this.file as string);
    } catch {
      return;
    }
    try {
      this.loaded = decode(buf);
      this.marks = new Uint8Array(this.loaded.count);
    } catch {
      this.loaded = undefined; // damaged: start over, it is only a cache
    }
  }

  get size(): number {
    this.read();
    return (this.loaded?.count ?? 0) - this.replaced + this.stored.size;
  }

  /**
   * Whether an entry stored by this process is racy (not to be persisted): a digest the cache
   * served may then be of bytes the file held a moment before it was last changed.
   */
  get hasRacy(): boolean {
    return this.racy.size > 0;
  }

  /** The remembered hash of `path`, if its metadata is exactly what it was. */
  lookup(path: string, st: CheckedStats): string | undefined {
    this.read();
    if (this.stored.size > 0) {
      const e = this.stored.get(path);
      if (e) {
        this.order.push(path);
        return e.size === st.size && e.mtimeMs === st.mtimeMs && e.ctimeMs === st.ctimeMs && e.ino === st.ino && e.mode === st.mode ? e.hash : undefined;
      }
    }
    const at = this.position(path);
    if (at < 0) return undefined;
    const l = this.loaded as Loaded;
    this.marks[at] |= 1;
    this.order.push(at);
    const n = at * NUMBERS;
    const { numbers: v } = l;
    if (v[n] !== st.size || v[n + 1] !== st.mtimeMs || v[n + 2] !== st.ctimeMs || v[n + 3] !== st.ino || v[n + 4] !== st.mode) return undefined;
    const hashAt = (l.starts[at] as number) + (l.lengths[at] as number);
    return l.text.slice(hashAt, hashAt + HASH_CHARS);
  }

  store(path: string, st: CheckedStats, hash: string, hashedAtMs: number = Date.now()): void {
    this.read();
    const at = this.stored.has(path) ? -1 : this.position(path);
    if (at >= 0 && ((this.marks[at] as number) & 2) === 0) {
      this.marks[at] |= 2;
      this.replaced++;
    }
    this.stored.set(path, { size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino, mode: st.mode, hash });
    this.order.push(path);
    if (Math.max(st.mtimeMs, st.ctimeMs) > hashedAtMs - RACY_WINDOW_MS) this.racy.add(path);
    else this.racy.delete(path);
    this.dirty = true;
  }

  /** The loaded entry for `path` (-1: none): one at or just past the cursor when it is there, else by the index. */
  private position(path: string): number {
    const l = this.loaded;
    if (!l) return -1;
    // The next entry, or one a few further on (a file removed since, another step's entries in between).
    for (let c = this.cursor, end = Math.min(l.count, c + LOOK_AHEAD); c < end; c++) {
      if (l.lengths[c] === path.length && l.text.startsWith(path, l.starts[c])) {
        this.cursor = c + 1;
        return c;
      }
    }
    this.index ??= indexPaths(l);
    const at = this.index.get(path);
    if (at === undefined) return -1;
    this.cursor = at + 1;
    return at;
  }

  /**
   * Writes the cache if anything changed. Entries of files this build did not look at are
   * kept (another Dockerfile may copy them), unless `onlySeen` asks to forget them.
   */
  save(options: { onlySeen?: boolean } = {}): void {
    if (!this.file || (!this.dirty && !options.onlySeen)) return;
    this.read();
    mkdirSync(dirname(this.file), { recursive: true });
    writeFileAtomicSync(this.file, this.encode(options.onlySeen === true));
    this.dirty = false;
  }

  /** Every entry to keep, as [path, entry]: in the order this process used them, then the loaded ones it did not. */
  private kept(onlySeen: boolean): [string, StatEntry][] {
    const l = this.loaded;
    const out: [string, StatEntry][] = [];
    const written = new Uint8Array(l?.count ?? 0);
    const writtenPaths = new Set<string>();
    const take = (path: string, e: StatEntry): void => {
      if (!this.racy.has(path) && path.length <= 0xffff && e.hash.length === HASH_CHARS) out.push([path, e]);
    };
    const takeLoaded = (at: number): void => {
      if (written[at] || ((this.marks[at] as number) & 2)) return;
      written[at] = 1;
      take(...loadedEntry(l as Loaded, at));
    };
    for (const o of this.order) {
      if (typeof o === 'number') takeLoaded(o);
      else if (!writtenPaths.has(o)) {
        writtenPaths.add(o);
        take(o, this.stored.get(o) as StatEntry);
      }
    }
    if (!onlySeen) for (let at = 0; at < written.length; at++) takeLoaded(at);
    return out;
  }

  private encode(onlySeen: boolean): Buffer {
    const kept = this.kept(onlySeen);
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
}

function decode(buf: Buffer): Loaded {
  if (buf.length < HEADER || buf.readUInt32BE(0) !== MAGIC) throw new Error('not a stat cache');
  const count = buf.readUInt32BE(4);
  const textBytes = buf.readUInt32BE(8);
  const numbersEnd = HEADER + count * NUMBERS * 8;
  const lengthsEnd = numbersEnd + count * 2;
  if (buf.length !== lengthsEnd + textBytes) throw new Error('truncated stat cache');
  // Typed arrays need aligned offsets: the two tables are read in place where they are (a file
  // read whole has a buffer of its own), copied out where they are not.
  const at = buf.byteOffset;
  const numbers = (at + HEADER) % 8 === 0
    ? new Float64Array(buf.buffer, at + HEADER, count * NUMBERS)
    : new Float64Array(buf.buffer.slice(at + HEADER, at + numbersEnd));
  const lengths = (at + numbersEnd) % 2 === 0
    ? new Uint16Array(buf.buffer, at + numbersEnd, count)
    : new Uint16Array(buf.buffer.slice(at + numbersEnd, at + lengthsEnd));
  const text = buf.toString('utf8', lengthsEnd);
  const starts = new Uint32Array(count);
  let pos = 0;
  for (let i = 0; i < count; i++) {
    starts[i] = pos;
    pos += (lengths[i] as number) + HASH_CHARS;
  }
  if (pos !== text.length) throw new Error('damaged stat cache');
  return { count, numbers, lengths, starts, text };
}

function indexPaths(l: Loaded): Map<string, number> {
  const index = new Map<string, number>();
  for (let i = 0; i < l.count; i++) index.set(l.text.slice(l.starts[i], (l.starts[i] as number) + (l.lengths[i] as number)), i);
  return index;
}

function loadedEntry(l: Loaded, at: number): [string, StatEntry] {
  const start = l.starts[at] as number;
  const end = start + (l.lengths[at] as number);
  const n = at * NUMBERS;
  const v = l.numbers;
  return [l.text.slice(start, end), { size: v[n] as number, mtimeMs: v[n + 1] as number, ctimeMs: v[n + 2] as number, ino: v[n + 3] as number, mode: v[n + 4] as number, hash: l.text.slice(end, end + HASH_CHARS) }];
}

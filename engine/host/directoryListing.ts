/**
 * One directory's entries with their lstat, as a walk of a build context (or a stage's files)
 * needs them. Through the native addon it is one call per directory, each entry stat'ed
 * relative to the open directory: a 20,000-file walk through node's readdirSync and lstatSync
 * spent most of its time resolving whole paths and building Stats objects. Where the addon is
 * not built, the same answer comes from node's fs. Either way an entry removed between the
 * listing and its lstat is left out: it is not part of the tree any more.
 */
import { lstatSync, readdirSync } from 'node:fs';
import { getSystemErrorName } from 'node:util';
import { nativeBinding } from '../../native/index.js';

/** What a walk reads of an entry's lstat: the part of fs.Stats it uses (fs.Stats is one). */
export interface EntryStats {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly ino: number;
  readonly dev: number;
  readonly nlink: number;
  readonly rdev: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  /** As fs.Stats gives it: the milliseconds rounded. */
  readonly mtime: Date;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
}

export interface ListedEntry {
  name: string;
  stats: EntryStats;
}

const S_IFMT = 0o170000;

/**
 * An entry's lstat from the addon's numbers (native/src/directory.cc: ten per entry, in this
 * order), read where the addon left them. An object holding ten numbers of its own costs ten
 * boxed doubles besides: for a 20,000-file context that was megabytes of fresh memory a walk
 * had to touch, and a no-op rebuild's walk is mostly that and the lstats.
 */
class ListedStats implements EntryStats {
  constructor(private readonly numbers: Float64Array, private readonly at: number) {}

  get mode(): number { return this.numbers[this.at] as number; }
  get uid(): number { return this.numbers[this.at + 1] as number; }
  get gid(): number { return this.numbers[this.at + 2] as number; }
  get size(): number { return this.numbers[this.at + 3] as number; }
  get ino(): number { return this.numbers[this.at + 4] as number; }
  get dev(): number { return this.numbers[this.at + 5] as number; }
  get nlink(): number { return this.numbers[this.at + 6] as number; }
  get rdev(): number { return this.numbers[this.at + 7] as number; }
  get mtimeMs(): number { return this.numbers[this.at + 8] as number; }
  get ctimeMs(): number { return this.numbers[this.at + 9] as number; }

  get mtime(): Date {
    return new Date(Math.round(this.mtimeMs));
  }

  private get type(): number { return (this.numbers[this.at] as number) & S_IFMT; }
  isFile(): boolean { return this.type === 0o100000; }
  isDirectory(): boolean { return this.type === 0o040000; }
  isSymbolicLink(): boolean { return this.type === 0o120000; }
  isFIFO(): boolean { return this.type === 0o010000; }
  isSocket(): boolean { return this.type === 0o140000; }
  isCharacterDevice(): boolean { return this.type === 0o020000; }
  isBlockDevice(): boolean { return this.type === 0o060000; }
}

const FIELDS = 10;

type NativeList = (path: string) => { names: string; count: number; stats: Float64Array };

let native: NativeList | undefined | null;

function nativeList(): NativeList | undefined {
  if (native === undefined) {
    try {
      native = nativeBinding().listDirectory;
    } catch {
      native = null; // not built here: node's fs answers
    }
  }
  return native ?? undefined;
}

/** The addon's error as node's fs would throw it (with `code`), so callers need not know which answered. */
function asFsError(err: unknown): unknown {
  const e = err as NodeJS.ErrnoException;
  if (typeof e.errno === 'number' && e.code === undefined) {
    e.code = getSystemErrorName(-e.errno);
    e.errno = -e.errno;
  }
  return err;
}

/**
 * One directory read, before any entry is made of it: as the addon gives it, a string of names
 * and an array of numbers. Kept between two walks it is a few objects however many entries it
 * has; entries kept are objects the collector copies until they are old.
 */
export interface DirectoryRead {
  entries(): ListedEntry[];
  /** The listing as the addon gave it; none where node's fs listed the directory. */
  readonly native?: NativeListing;
}

/**
 * One directory as the addon lists it: the names joined by NUL in the directory's order, and
 * ten numbers per name (mode, uid, gid, size, ino, dev, nlink, rdev, mtimeMs, ctimeMs).
 */
export interface NativeListing {
  readonly names: string;
  readonly count: number;
  readonly stats: Float64Array;
}

/** Whether entry `i` of an addon listing is a directory (read from its numbers, no object made). */
export function listedIsDirectory(listing: NativeListing, i: number): boolean {
  return ((listing.stats[i * FIELDS] as number) & S_IFMT) === 0o040000;
}

/** Entry `i`'s mtime and ctime (ms) in an addon listing. */
export function listedMtimeMs(listing: NativeListing, i: number): number {
  return listing.stats[i * FIELDS + 8] as number;
}

export function listedCtimeMs(listing: NativeListing, i: number): number {
  return listing.stats[i * FIELDS + 9] as number;
}

/** What the addon gave for one directory. */
class NativeRead implements DirectoryRead, NativeListing {
  constructor(readonly names: string, readonly count: number, readonly stats: Float64Array) {}

  get native(): NativeListing {
    return this;
  }

  entries(): ListedEntry[] {
    if (this.count === 0) return [];
    const names = this.names.split('\0');
    const s = this.stats;
    const out: ListedEntry[] = new Array(names.length);
    for (let i = 0, n = 0; i < names.length; i++, n += FIELDS) out[i] = { name: names[i] as string, stats: new ListedStats(s, n) };
    return out;
  }
}

/**
 * The directory at `abs` read: its entries (no `.` or `..`), in the order the directory gives
 * them, each with its lstat. Throws as readdirSync does when the directory cannot be read.
 */
export function readDirectory(abs: string): DirectoryRead {
  const list = nativeList();
  if (list === undefined) {
    const entries = listWithFs(abs);
    return { entries: () => [...entries] };
  }
  try {
    const r = list(abs);
    const read = new NativeRead(r.names, r.count, r.stats);
    watcher?.(abs, read);
    return read;
  } catch (err) {
    throw asFsError(err);
  }
}

/** Told every addon listing this process reads, once watchListings() named it. */
let watcher: ((abs: string, listing: NativeListing) => void) | undefined;

/**
 * From now on, `watch` is told every addon listing this process reads (the directory's path as
 * asked): a build that may leave a replay record sums up each listing its own walks read as they
 * read it, instead of listing every directory a second time at its end.
 */
export function watchListings(watch: (abs: string, listing: NativeListing) => void): void {
  watcher = watch;
}

/**
 * A directory found in a walk, read: nothing when it is gone (or no longer a directory) by the
 * time the walk gets to it — what was removed while the tree was walked is not part of it.
 */
export function readFoundDirectory(abs: string): DirectoryRead {
  try {
    return readDirectory(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { entries: () => [] };
    throw err;
  }
}

/** The entries of the directory at `abs`, each with its lstat (readDirectory). */
export function listDirectory(abs: string): ListedEntry[] {
  return readDirectory(abs).entries();
}

/** The entries of a directory found in a walk; none when it is gone by now (readFoundDirectory). */
export function listFoundDirectory(abs: string): ListedEntry[] {
  return readFoundDirectory(abs).entries();
}

function listWithFs(abs: string): ListedEntry[] {
  const out: ListedEntry[] = [];
  const dir = abs === '/' ? '' : abs;
  for (const name of readdirSync(abs)) {
    const stats = lstatSync(`${dir}/${name}`, { throwIfNoEntry: false });
    if (stats !== undefined) out.push({ name, stats });
  }
  return out;
}

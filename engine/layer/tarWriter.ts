/**
 * Deterministic layer tars from a diff dir on disk or a tree built in memory (LayerEntry),
 * streamed (never whole in memory) and hashed into the store as they are written, so the blob
 * digest is the diff_id.
 *
 * The tar is a pure function of the tree: depth-first walk with each directory's children sorted
 * byte-wise, names relative (`dir/`, `dir/file`), numeric uid/gid and no user/group names, mtimes
 * in whole seconds clamped to SOURCE_DATE_EPOCH when given, USTAR headers with PAX records only
 * when a name, link, id or xattr needs them, hard links kept (first path carries the content),
 * sockets skipped. With whiteouts 'overlay' the dir is an overlay upper dir: 0:0 char devices
 * become `.wh.NAME` and opaque dirs gain a `.wh..wh..opq` entry.
 */
import { open } from 'node:fs/promises';
import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, type BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../errors/kilnError.js';
import type { Store } from '../store/store.js';
import { devMajor, devMinor } from '../host/deviceNumbers.js';
import type { LayerEntry, LayerEntryType } from './layerEntry.js';
import { readXattrsTree } from '../host/specialFiles.js';
import { paxHeaderBlocks, ustarSafeName } from './paxHeader.js';
import { END_OF_ARCHIVE, fitsUstar, headerBlocks, padding, writeUstarHeader, type TarHeader } from './tarHeader.js';
import { nativeBinding } from '../../native/index.js';

export interface LayerOptions {
  /** Clamp every mtime to this (seconds since the epoch); SOURCE_DATE_EPOCH. */
  sourceDateEpoch?: number;
  /** 'overlay': the dir is an overlay upper dir whose whiteouts become OCI whiteouts. */
  whiteouts: 'overlay' | 'none';
  /** Record security.capability (and read overlay opaque marks). Default: whiteouts === 'overlay'. */
  xattrs?: boolean;
}

export interface LayerResult {
  /** `sha256:<hex>` of the tar = its blob digest in the store. */
  diffId: string;
  size: number;
  /** Things the tar could not represent (xattr values PAX cannot carry), for the caller to report. */
  warnings: string[];
}

const OPAQUE_XATTRS = ['trusted.overlay.opaque', 'user.overlay.opaque'];
const KEPT_XATTRS = ['security.capability'];

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function needsPax(s: string): boolean {
  // Non-ASCII needs a PAX path; the header encoder handles the length split/prefix itself.
  return /[^\x00-\x7f]/.test(s);
}

/** The tar is handed out in chunks of at least this size (the ingest writes each at once)… */
const CHUNK = 1024 * 1024;
/** …gathered in buffers this big, so an entry started below CHUNK still fits. */
const CHUNK_ROOM = 2 * CHUNK;
/** Chunks handed back by readers kept for reuse at most (a reader holds a few at a time). */
const MAX_FREE_CHUNKS = 4;
/** What the current chunk is before the first byte needs one, and after the last chunk is sealed. */
const NO_CHUNK = Buffer.alloc(0);

/**
 * Chunk memory handed back by the readers of every layer tar this process writes, for the next
 * one: a build's every RUN step writes a layer, most of a few kilobytes, and a fresh 2 MiB chunk
 * for each cost a page-faulting allocation and, as external memory, a full garbage collection
 * every few steps. `madeChunks` holds the memory a TarOutput allocated: only that is taken back.
 */
const freeChunks: Buffer[] = [];
const madeChunks = new WeakSet<ArrayBufferLike>();

/**
 * Where the tar's bytes go, read as an async iterable (the blob store's ingest). Entries are
 * written into megabyte chunks (a small file is read straight into its place in one); the
 * writer waits while a few chunks are unread, and learns when the reader has stopped.
 */
class TarOutput implements AsyncIterable<Buffer> {
  private chunk: Buffer = NO_CHUNK;
  private used = 0;
  private readonly ready: Buffer[] = [];
  private ended = false;
  private failure: Error | undefined;
  private stopped = false;
  private wakeReader: (() => void) | undefined;
  private wakeWriter: (() => void) | undefined;

  /** `n` bytes at the end of the current chunk, for the caller to fill completely. */
  room(n: number): { buf: Buffer; off: number } {
    if (this.used + n > this.chunk.length) {
      this.seal();
      this.chunk = n > CHUNK_ROOM ? Buffer.allocUnsafe(n) : this.freshChunk();
    }
    const off = this.used;
    this.used += n;
    return { buf: this.chunk, off };
  }

  push(b: Buffer): void {
    if (b.length === 0) return;
    const { buf, off } = this.room(b.length);
    b.copy(buf, off);
  }

  /** Hands the current chunk to the reader. */
  private seal(): void {
    if (this.used === 0) return;
    this.ready.push(this.chunk.subarray(0, this.used));
    this.chunk = NO_CHUNK;
    this.used = 0;
    this.wake();
  }

  /**
   * Room for the next chunk: one the reader is done with, else new. A big file's data is read
   * into these too (writeFileEntry), so a 100 MiB file reuses a few megabytes instead of
   * faulting in 100 MiB of fresh memory.
   */
  freshChunk(): Buffer {
    const again = freeChunks.pop();
    if (again !== undefined) return again;
    const chunk = Buffer.allocUnsafe(CHUNK_ROOM);
    madeChunks.add(chunk.buffer);
    return chunk;
  }

  /**
   * The reader is done with a chunk it was handed (it is written and hashed): its memory takes
   * the next one, this tar's or a later one's, whose pages are then already there. Memory no
   * TarOutput made is left alone.
   */
  release(chunk: Uint8Array): void {
    const memory = chunk.buffer;
    if (!madeChunks.has(memory) || freeChunks.length >= MAX_FREE_CHUNKS || freeChunks.some((f) => f.buffer === memory)) return;
    freeChunks.push(Buffer.from(memory, 0, CHUNK_ROOM));
  }

  /** Called after each entry: hands over a full chunk, and waits while the reader is a few chunks behind. */
  async keepPace(): Promise<void> {
    if (this.used >= CHUNK) this.seal();
    if (this.stopped) throw new Error('the layer tar is no longer being read');
    while (this.ready.length >= 4 && !this.stopped) await new Promise<void>((r) => { this.wakeWriter = r; });
  }

  /** Hands a chunk to the reader as it is (after what was gathered): a big file's data. */
  async write(data: Buffer): Promise<void> {
    this.seal();
    this.ready.push(data);
    this.wake();
    await this.keepPace();
  }

  end(): void {
    this.seal();
    this.ended = true;
    this.wake();
  }

  fail(err: Error): void {
    this.failure = err;
    this.wake();
  }

  private wake(): void {
    const r = this.wakeReader;
    this.wakeReader = undefined;
    r?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        const chunk = this.ready.shift();
        if (chunk) {
          const w = this.wakeWriter;
          this.wakeWriter = undefined;
          w?.();
          yield chunk;
          continue;
        }
        if (this.failure) throw this.failure;
        if (this.ended) return;
        await new Promise<void>((r) => { this.wakeReader = r; });
      }
    } finally {
      this.stopped = true;
      const w = this.wakeWriter;
      this.wakeWriter = undefined;
      w?.();
    }
  }
}

interface Walker {
  out: TarOutput;
  opts: LayerOptions;
  /** Hard-link key → the path that carries the file. */
  hardlinks: Map<unknown, string>;
  warnings: string[];
}

function clampTime(w: Walker, mtimeMs: number): Date {
  // Whole seconds; times before 1970 become 0 (USTAR has no negative times).
  let secs = Math.max(0, Math.floor(mtimeMs / 1000));
  if (w.opts.sourceDateEpoch !== undefined && secs > w.opts.sourceDateEpoch) secs = w.opts.sourceDateEpoch;
  return new Date(secs * 1000);
}

type EntryHeader = TarHeader & { binaryPax?: Record<string, Buffer> };

/** Returns the header to encode, after writing a hand-made PAX header when one is needed. */
function prepareHeader(w: Walker, header: EntryHeader): EntryHeader {
  if (header.binaryPax) {
    // The header encoder writes PAX values as UTF-8 text: write this entry's PAX header here, with
    // every record it needs, and encode a plain USTAR header that needs none.
    const records: Record<string, string | Buffer> = { ...(header.pax ?? {}), ...header.binaryPax, path: header.name };
    if (header.linkname) records.linkpath = header.linkname;
    const mtime = Math.floor(header.mtime.getTime() / 1000);
    w.out.push(paxHeaderBlocks(header.name, mtime, records));
    const plain: EntryHeader = { ...header, name: ustarSafeName(header.name), linkname: header.linkname ? ustarSafeName(header.linkname) : '' };
    delete plain.pax;
    delete plain.binaryPax;
    if (plain.uid > 0o777777) plain.uid = 0;
    if (plain.gid > 0o777777) plain.gid = 0;
    return plain;
  }
  return header;
}

/** An entry whose data (a file's bytes) is in hand: its header blocks, the data, the padding. */
async function addEntry(w: Walker, given: EntryHeader, body?: Buffer): Promise<void> {
  const header = prepareHeader(w, given);
  if (header.type !== 'file') header.size = 0;
  else header.size = body?.length ?? 0;
  for (const block of headerBlocks(header)) w.out.push(block);
  if (body && body.length > 0) {
    w.out.push(body);
    w.out.push(padding(body.length));
  }
  await w.out.keepPace();
}

/** File-type bits in the header's mode, as lstat gives them (only 07777 is written). */
const TYPE_BITS: Record<LayerEntryType, number> = {
  directory: 0o040000, file: 0o100000, symlink: 0o120000, 'character-device': 0o020000,
  'block-device': 0o060000, fifo: 0o010000, socket: 0o140000, whiteout: 0o020000,
};

function baseHeader(name: string, e: LayerEntry, mtime: Date): EntryHeader {
  const { uid, gid } = e;
  const h: EntryHeader = {
    name,
    mode: TYPE_BITS[e.type] | e.mode,
    uid,
    gid,
    mtime,
    size: 0,
    type: 'file',
    linkname: '',
    devmajor: 0,
    devminor: 0,
  };
  const pax: Record<string, string> = {};
  if (uid > 0o777777) pax.uid = String(uid);
  if (gid > 0o777777) pax.gid = String(gid);
  if (Object.keys(pax).length > 0) h.pax = pax;
  return h;
}

function withXattrs(attrs: ReadonlyMap<string, Buffer> | undefined, h: EntryHeader): void {
  if (!attrs) return;
  for (const name of KEPT_XATTRS) {
    const v = attrs.get(name);
    if (!v || v.length === 0) continue;
    // PAX records are UTF-8 text in the header encoder; a value that is not valid UTF-8 cannot ride in one.
    const text = v.toString('utf8');
    if (Buffer.from(text, 'utf8').equals(v)) h.pax = { ...(h.pax ?? {}), [`SCHILY.xattr.${name}`]: text };
    else h.binaryPax = { ...(h.binaryPax ?? {}), [`SCHILY.xattr.${name}`]: v };
  }
}

function finishPax(h: EntryHeader): void {
  if (needsPax(h.name) || needsPax(h.linkname)) h.pax = { ...(h.pax ?? {}) };
  if (h.pax) h.pax = Object.fromEntries(Object.entries(h.pax).sort(([a], [b]) => byteOrder(a, b)));
}

/**
 * A character of a pair that encodes one above U+FFFF: only where a name has one does the order
 * of JavaScript's string comparison (UTF-16 units) differ from the order of UTF-8 bytes.
 */
const SURROGATE = /[\uD800-\uDFFF]/;

/** A directory's entries depth-first, each directory's children in byte order of their names. */
async function writeChildren(w: Walker, dir: LayerEntry, rel: string): Promise<void> {
  const children = [...dir.children()];
  if (children.some(([name]) => SURROGATE.test(name))) children.sort(([a], [b]) => byteOrder(a, b));
  else children.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [name, entry] of children) await writeNode(w, entry, rel === '' ? name : `${rel}/${name}`);
}

/** A `.wh.` marker entry: an empty root-owned 0600 file at the epoch, as docker writes them. */
async function addWhiteoutMarker(w: Walker, name: string, e: LayerEntry): Promise<void> {
  const h = baseHeader(name, e, new Date(0));
  h.mode = 0o100600;
  h.uid = 0;
  h.gid = 0;
  delete h.pax;
  finishPax(h);
  await addEntry(w, h);
}

async function writeNode(w: Walker, e: LayerEntry, rel: string): Promise<void> {
  if (e.type === 'whiteout') {
    await addWhiteoutMarker(w, rel, e);
    return;
  }
  const h = baseHeader(rel, e, clampTime(w, e.mtimeMs));
  if (e.type === 'directory') {
    h.type = 'directory';
    h.name = `${rel}/`; // Go's tar writer and GNU tar name directories with a trailing slash
    const attrs = e.xattrs();
    withXattrs(attrs, h);
    finishPax(h);
    await addEntry(w, h);
    if (w.opts.whiteouts === 'overlay' && attrs && OPAQUE_XATTRS.some((x) => attrs.get(x)?.toString() === 'y')) {
      await addWhiteoutMarker(w, `${rel}/.wh..wh..opq`, e);
    }
    await writeChildren(w, e, rel);
    return;
  }
  if (e.type === 'socket') return;
  if (e.linkKey !== undefined) {
    const first = w.hardlinks.get(e.linkKey);
    if (first !== undefined) {
      h.type = 'link';
      h.linkname = first;
      finishPax(h);
      await addEntry(w, h);
      return;
    }
    w.hardlinks.set(e.linkKey, rel);
  }
  if (e.type === 'symlink') {
    h.type = 'symlink';
    h.linkname = e.linkname;
    finishPax(h);
    await addEntry(w, h);
    return;
  }
  if (e.type === 'character-device' || e.type === 'block-device') {
    h.type = e.type;
    h.devmajor = e.devmajor;
    h.devminor = e.devminor;
    finishPax(h);
    await addEntry(w, h);
    return;
  }
  if (e.type === 'fifo') {
    h.type = 'fifo';
    finishPax(h);
    await addEntry(w, h);
    return;
  }
  h.type = 'file';
  h.size = e.size;
  withXattrs(e.xattrs(), h);
  finishPax(h);
  const content = e.content();
  if (typeof content !== 'string' && content.length !== h.size) throw new KilnError('FILE_CHANGED', `${rel} changed size while it was being archived`);
  if (h.size <= SMALL_FILE) {
    await addSmallFile(w, h, content);
    return;
  }
  if (typeof content !== 'string') {
    await addEntry(w, h, content);
    return;
  }
  await writeFileEntry(w, content, h);
}

/** Files up to this size are read in one call; larger ones stream. */
const SMALL_FILE = 512 * 1024;

/** A source that is gone since it was listed is a changed source, reported as such (not a crash). */
function vanished(path: string, err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new KilnError('FILE_CHANGED', `${path} was removed while it was being archived`, { cause: err });
  return err;
}

/**
 * A small file's entry: header blocks, then its bytes — in hand, or read from `content`'s path
 * straight into their place in the output (open, read, close: its size is known, so no fstat
 * as readFileSync does) —, then padding.
 */
async function addSmallFile(w: Walker, h: EntryHeader, content: string | Buffer): Promise<void> {
  const header = prepareHeader(w, h);
  // Most headers are one USTAR block, written in place; the others are copied in.
  const blocks = fitsUstar(header) ? undefined : headerBlocks(header);
  const { size } = h;
  const pad = padding(size).length;
  let head = 512;
  if (blocks) head = blocks.reduce((n, b) => n + b.length, 0);
  const { buf, off } = w.out.room(head + size + pad);
  let at = off;
  if (blocks) for (const b of blocks) at += b.copy(buf, at);
  else {
    writeUstarHeader(buf, at, header);
    at += 512;
  }
  if (typeof content === 'string') readInto(content, buf, at, size);
  else buf.set(content, at);
  buf.fill(0, at + size, at + size + pad);
  await w.out.keepPace();
}

/** Reads the `size` bytes of the file at `path` into `buf` at `at`. */
function readInto(path: string, buf: Buffer, at: number, size: number): void {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw vanished(path, err);
  }
  try {
    let got = 0;
    while (got < size) {
      const n = readSync(fd, buf, at + got, size - got, null);
      if (n === 0) break;
      got += n;
    }
    if (got !== size) throw new KilnError('FILE_CHANGED', `${path} changed size while it was being archived`);
  } finally {
    closeSync(fd);
  }
}

/** A big file, streamed: its header, then its bytes a megabyte at a time, then the padding. */
async function writeFileEntry(w: Walker, abs: string, h: EntryHeader): Promise<void> {
  const header = prepareHeader(w, h);
  for (const block of headerBlocks(header)) w.out.push(block);
  const fd = await open(abs, 'r').catch((err: unknown) => { throw vanished(abs, err); });
  try {
    let left = header.size;
    while (left > 0) {
      const buf = w.out.freshChunk();
      const { bytesRead } = await fd.read(buf, 0, Math.min(buf.length, left), null);
      if (bytesRead === 0) throw new KilnError('FILE_CHANGED', `${abs} shrank while it was being archived`);
      left -= bytesRead;
      await w.out.write(buf.subarray(0, bytesRead));
    }
  } finally {
    await fd.close();
  }
  w.out.push(padding(header.size));
}

type XattrsOf = (abs: string) => Map<string, Buffer> | undefined;

/**
 * A directory on disk as a layer entry (a diff dir, an overlay upper dir). Metadata calls are
 * synchronous on purpose: each takes microseconds, while a round trip through libuv's thread
 * pool per call made a 20,000-file tree take seconds, mostly waiting.
 */
function diskEntry(abs: string, st: BigIntStats, opts: LayerOptions, xattrsOf: XattrsOf | undefined): LayerEntry {
  const type: LayerEntryType = st.isDirectory() ? 'directory' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink'
    : st.isCharacterDevice() ? (opts.whiteouts === 'overlay' && st.rdev === 0n ? 'whiteout' : 'character-device')
      : st.isBlockDevice() ? 'block-device' : st.isFIFO() ? 'fifo' : 'socket';
  return {
    type,
    mode: Number(st.mode) & 0o7777,
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtimeMs: Number(st.mtimeMs),
    size: Number(st.size),
    get linkname() { return type === 'symlink' ? readlinkSync(abs) : ''; },
    devmajor: devMajor(st.rdev),
    devminor: devMinor(st.rdev),
    linkKey: type !== 'directory' && st.nlink > 1n ? `${st.dev}:${st.ino}` : undefined,
    *children() {
      for (const name of readdirSync(abs)) {
        const child = join(abs, name);
        const entry = diskEntry(child, lstatSync(child, { bigint: true }), opts, xattrsOf);
        yield [entry.type === 'whiteout' ? `.wh.${name}` : name, entry] as const;
      }
    },
    content: () => abs,
    xattrs: () => xattrsOf?.(abs),
  };
}

/**
 * Reads the wanted xattrs per path: in-process through the native addon when it is built (one
 * listxattr per file), otherwise with one getfattr over the whole tree.
 */
async function xattrReader(dir: string, names: readonly string[]): Promise<(abs: string) => Map<string, Buffer> | undefined> {
  try {
    const native = nativeBinding();
    return (abs) => {
      let all: Record<string, Buffer>;
      try {
        all = native.listXattrs(abs);
      } catch {
        return undefined; // a filesystem without xattr support has none to record
      }
      const picked = new Map<string, Buffer>();
      for (const n of names) if (all[n] !== undefined) picked.set(n, all[n] as Buffer);
      return picked.size > 0 ? picked : undefined;
    };
  } catch {
    const pattern = `^(${names.map((x) => x.replace(/\./g, '\\.')).join('|')})$`;
    const tree = await readXattrsTree(dir, pattern);
    return (abs) => tree.get(abs);
  }
}

/**
 * The layer tar of a directory on disk, or of a tree built in memory, as a stream of bytes
 * (entries for the root's contents, not the root itself).
 */
export function layerTar(from: string | LayerEntry, opts: LayerOptions): AsyncIterable<Buffer> {
  const out = new TarOutput();
  const warnings: string[] = [];
  const produce = async (): Promise<void> => {
    let root: LayerEntry;
    if (typeof from === 'string') {
      const wantXattrs = opts.xattrs ?? opts.whiteouts === 'overlay';
      const names = [...KEPT_XATTRS, ...(opts.whiteouts === 'overlay' ? OPAQUE_XATTRS : [])];
      const xattrs = wantXattrs ? await xattrReader(from, names) : undefined;
      root = diskEntry(from, lstatSync(from, { bigint: true }), opts, xattrs);
    } else root = from;
    const w: Walker = { out, opts, hardlinks: new Map(), warnings };
    await writeChildren(w, root, '');
    w.out.push(END_OF_ARCHIVE);
    w.out.end();
  };
  produce().catch((err: unknown) => out.fail(err as Error));
  return Object.assign(out, { warnings });
}

/** A layer tar whose reader may hand its chunks back once written (IngestOptions.release). */
type LayerTar = AsyncIterable<Buffer> & { warnings: string[]; release(chunk: Uint8Array): void };

/**
 * Streams the deterministic tar of a directory or an in-memory tree into the store; returns its
 * diff_id and size. With `behind`, the blob's fsync and rename run on the store's write queue
 * (Store.ingestBlobBehind).
 */
export async function writeLayer(store: Store, from: string | LayerEntry, opts: LayerOptions, land: 'now' | 'behind' = 'now'): Promise<LayerResult> {
  const tar = layerTar(from, opts) as LayerTar;
  const ingest = { what: 'a layer', release: (chunk: Uint8Array) => tar.release(chunk) };
  const { digest, size } = await (land === 'behind' ? store.ingestBlobBehind(tar, ingest) : store.ingestBlob(tar, ingest));
  return { diffId: digest, size, warnings: tar.warnings };
}

export { sourceDateEpochFromEnv } from './sourceDateEpoch.js';

/**
 * Deterministic layer tars from a diff dir, streamed (never whole in memory) and hashed into the
 * store as they are written, so the blob digest is the diff_id.
 *
 * The tar is a pure function of the tree: depth-first walk with each directory's children sorted
 * byte-wise, names relative (`dir/`, `dir/file`), numeric uid/gid and no user/group names, mtimes
 * in whole seconds clamped to SOURCE_DATE_EPOCH when given, USTAR headers with PAX records only
 * when a name, link, id or xattr needs them, hard links kept (first path carries the content),
 * sockets skipped. With whiteouts 'overlay' the dir is an overlay upper dir: 0:0 char devices
 * become `.wh.NAME` and opaque dirs gain a `.wh..wh..opq` entry.
 */
import { open } from 'node:fs/promises';
import { lstatSync, readdirSync, readFileSync, readlinkSync, type BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { pack as tarPack, type Header, type Pack } from 'tar-stream';
import { KilnError } from '../errors.js';
import type { Store } from '../store/store.js';
import { readXattrsTree } from './specialFiles.js';
import { paxHeaderBlocks, ustarSafeName } from './paxHeader.js';

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

function devMajor(rdev: bigint): number {
  return Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
}

function devMinor(rdev: bigint): number {
  return Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
}

function needsPax(s: string): boolean {
  // Non-ASCII needs a PAX path; tar-stream handles the length split/prefix itself.
  return /[^\x00-\x7f]/.test(s);
}

interface Walker {
  pack: Pack;
  opts: LayerOptions;
  hardlinks: Map<string, string>;
  /** The xattrs kiln records (or reads overlay marks from) of a path; undefined when not wanted. */
  xattrs: ((abs: string) => Map<string, Buffer> | undefined) | undefined;
  warnings: string[];
}

function clampTime(w: Walker, mtimeMs: bigint): Date {
  // Whole seconds; times before 1970 become 0 (USTAR has no negative times).
  let secs = Math.max(0, Number(mtimeMs / 1000n));
  if (w.opts.sourceDateEpoch !== undefined && secs > w.opts.sourceDateEpoch) secs = w.opts.sourceDateEpoch;
  return new Date(secs * 1000);
}

type EntryHeader = Header & { pax?: Record<string, string> | null; binaryPax?: Record<string, Buffer> };

/** Returns the header to hand tar-stream, after writing a hand-made PAX header when one is needed. */
function prepareHeader(w: Walker, header: EntryHeader): EntryHeader {
  if (header.binaryPax) {
    // tar-stream writes PAX values as UTF-8 text: write this entry's PAX header ourselves, with
    // every record it needs, and hand tar-stream a plain USTAR header that needs none.
    const records: Record<string, string | Buffer> = { ...(header.pax ?? {}), ...header.binaryPax, path: header.name };
    if (header.linkname) records.linkpath = header.linkname;
    const mtime = Math.floor(header.mtime.getTime() / 1000);
    (w.pack as unknown as { push(b: Buffer): boolean }).push(paxHeaderBlocks(header.name, mtime, records));
    const plain: EntryHeader = { ...header, name: ustarSafeName(header.name), linkname: header.linkname ? ustarSafeName(header.linkname) : '' };
    delete plain.pax;
    delete plain.binaryPax;
    if (plain.uid > 0o777777) plain.uid = 0;
    if (plain.gid > 0o777777) plain.gid = 0;
    return plain;
  }
  return header;
}

function addEntry(w: Walker, given: EntryHeader, body?: Buffer): Promise<void> {
  const header = prepareHeader(w, given);
  return new Promise((resolve, reject) => {
    const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
    // A regular file entry without a body would wait for one: give empty files an empty body.
    if (body || header.type === 'file') w.pack.entry(header, body ?? Buffer.alloc(0), cb);
    else w.pack.entry(header, cb);
  });
}

function baseHeader(name: string, st: BigIntStats, mtime: Date): Header & { pax?: Record<string, string> | null } {
  const uid = Number(st.uid);
  const gid = Number(st.gid);
  const h: Header & { pax?: Record<string, string> | null } = {
    name,
    // The file-type bits keep tar-stream from defaulting a mode of 0 to 0644; only 07777 is written.
    mode: Number(st.mode),
    uid,
    gid,
    mtime,
    size: 0,
    type: 'file',
    linkname: '',
    uname: '',
    gname: '',
    devmajor: 0,
    devminor: 0,
  };
  const pax: Record<string, string> = {};
  if (uid > 0o777777) pax.uid = String(uid);
  if (gid > 0o777777) pax.gid = String(gid);
  if (Object.keys(pax).length > 0) h.pax = pax;
  return h;
}

function withXattrs(w: Walker, abs: string, h: Header & { pax?: Record<string, string> | null }): void {
  const attrs = w.xattrs?.(abs);
  if (!attrs) return;
  for (const name of KEPT_XATTRS) {
    const v = attrs.get(name);
    if (!v || v.length === 0) continue;
    // PAX records are UTF-8 text in tar-stream; a value that is not valid UTF-8 cannot ride in one.
    const text = v.toString('utf8');
    if (Buffer.from(text, 'utf8').equals(v)) h.pax = { ...(h.pax ?? {}), [`SCHILY.xattr.${name}`]: text };
    else (h as EntryHeader).binaryPax = { ...((h as EntryHeader).binaryPax ?? {}), [`SCHILY.xattr.${name}`]: v };
  }
}

function finishPax(h: Header & { pax?: Record<string, string> | null }): void {
  if (needsPax(h.name) || needsPax(h.linkname)) h.pax = { ...(h.pax ?? {}) };
  if (h.pax) h.pax = Object.fromEntries(Object.entries(h.pax).sort(([a], [b]) => byteOrder(a, b)));
}

// Metadata calls are synchronous on purpose: each takes microseconds, while a round trip through
// libuv's thread pool per call made a 20,000-file tree take seconds, mostly waiting.
async function walkDir(w: Walker, abs: string, rel: string): Promise<void> {
  const names = readdirSync(abs).sort(byteOrder);
  type Child = { name: string; emitted: string; st: BigIntStats };
  const children: Child[] = [];
  for (const name of names) {
    const st = lstatSync(join(abs, name), { bigint: true });
    let emitted = name;
    if (w.opts.whiteouts === 'overlay' && st.isCharacterDevice() && st.rdev === 0n) emitted = `.wh.${name}`;
    children.push({ name, emitted, st });
  }
  children.sort((a, b) => byteOrder(a.emitted, b.emitted));
  for (const c of children) await writeNode(w, join(abs, c.name), rel === '' ? c.emitted : `${rel}/${c.emitted}`, c.st, c.emitted !== c.name);
}

/** A `.wh.` marker entry: an empty root-owned 0600 file at the epoch, as docker writes them. */
async function addWhiteoutMarker(w: Walker, name: string, st: BigIntStats): Promise<void> {
  const h = baseHeader(name, st, new Date(0));
  h.mode = 0o100600;
  h.uid = 0;
  h.gid = 0;
  delete h.pax;
  finishPax(h);
  await addEntry(w, h);
}

async function writeNode(w: Walker, abs: string, rel: string, st: BigIntStats, whiteout: boolean): Promise<void> {
  const mtime = clampTime(w, st.mtimeMs);
  if (whiteout) {
    await addWhiteoutMarker(w, rel, st);
    return;
  }
  const h = baseHeader(rel, st, mtime);
  if (st.isDirectory()) {
    h.type = 'directory';
    h.name = `${rel}/`; // Go's tar writer and GNU tar name directories with a trailing slash
    withXattrs(w, abs, h);
    finishPax(h);
    await addEntry(w, h);
    const attrs = w.xattrs?.(abs);
    if (w.opts.whiteouts === 'overlay' && attrs && OPAQUE_XATTRS.some((x) => attrs.get(x)?.toString() === 'y')) {
      await addWhiteoutMarker(w, `${rel}/.wh..wh..opq`, st);
    }
    await walkDir(w, abs, rel);
    return;
  }
  if (st.isSocket()) return;
  if (st.nlink > 1n) {
    const key = `${st.dev}:${st.ino}`;
    const first = w.hardlinks.get(key);
    if (first !== undefined) {
      h.type = 'link';
      h.linkname = first;
      finishPax(h);
      await addEntry(w, h);
      return;
    }
    w.hardlinks.set(key, rel);
  }
  if (st.isSymbolicLink()) {
    h.type = 'symlink';
    h.linkname = readlinkSync(abs);
    finishPax(h);
    await addEntry(w, h);
    return;
  }
  if (st.isCharacterDevice() || st.isBlockDevice()) {
    h.type = st.isCharacterDevice() ? 'character-device' : 'block-device';
    h.devmajor = devMajor(st.rdev);
    h.devminor = devMinor(st.rdev);
    finishPax(h);
    await addEntry(w, h);
    return;
  }
  if (st.isFIFO()) {
    h.type = 'fifo';
    finishPax(h);
    await addEntry(w, h);
    return;
  }
  h.type = 'file';
  h.size = Number(st.size);
  withXattrs(w, abs, h);
  finishPax(h);
  if (h.size <= SMALL_FILE) {
    const body = readFileSync(abs);
    if (body.length !== h.size) throw new KilnError('FILE_CHANGED', `${abs} changed size while it was being archived`);
    await addEntry(w, h, body);
    return;
  }
  await writeFileEntry(w, abs, h);
}

/** Files up to this size are read in one call; larger ones stream. */
const SMALL_FILE = 512 * 1024;

async function writeFileEntry(w: Walker, abs: string, h: EntryHeader): Promise<void> {
  const fd = await open(abs, 'r');
  try {
    await new Promise<void>((resolve, reject) => {
      const sink = w.pack.entry(prepareHeader(w, h), (err) => (err ? reject(err) : resolve()));
      const pump = async (): Promise<void> => {
        let left = h.size;
        while (left > 0) {
          const buf = Buffer.allocUnsafe(Math.min(1024 * 1024, left));
          const { bytesRead } = await fd.read(buf, 0, buf.length, null);
          if (bytesRead === 0) throw new KilnError('FILE_CHANGED', `${abs} shrank while it was being archived`);
          left -= bytesRead;
          const chunk = bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
          if (!sink.write(chunk)) await new Promise<void>((r) => sink.once('drain', () => r()));
        }
        (sink as unknown as { end(): void }).end();
      };
      pump().catch((err: unknown) => {
        sink.destroy(err as Error);
        reject(err);
      });
    });
  } finally {
    await fd.close();
  }
}

/**
 * Reads the wanted xattrs per path: in-process through the native addon when it is built (one
 * listxattr per file), otherwise with one getfattr over the whole tree.
 */
async function xattrReader(dir: string, names: readonly string[]): Promise<(abs: string) => Map<string, Buffer> | undefined> {
  try {
    const { nativeBinding } = await import('../../native/index.js');
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

/** The layer tar of `dir` as a stream of bytes (entries for the dir's contents, not the dir itself). */
export function layerTar(dir: string, opts: LayerOptions): AsyncIterable<Buffer> {
  const pack = tarPack();
  const warnings: string[] = [];
  const produce = async (): Promise<void> => {
    const wantXattrs = opts.xattrs ?? opts.whiteouts === 'overlay';
    const names = [...KEPT_XATTRS, ...(opts.whiteouts === 'overlay' ? OPAQUE_XATTRS : [])];
    const xattrs = wantXattrs ? await xattrReader(dir, names) : undefined;
    const w: Walker = { pack, opts, hardlinks: new Map(), xattrs, warnings };
    await walkDir(w, dir, '');
    pack.finalize();
  };
  const producing = produce().catch((err: unknown) => {
    pack.destroy(err as Error);
  });
  void producing;
  const out = pack as unknown as AsyncIterable<Buffer> & { warnings: string[] };
  out.warnings = warnings;
  return out;
}

/** Streams the deterministic tar of `dir` into the store; returns its diff_id and size. */
export async function writeLayer(store: Store, dir: string, opts: LayerOptions): Promise<LayerResult> {
  const tar = layerTar(dir, opts) as AsyncIterable<Buffer> & { warnings: string[] };
  const { digest, size } = await store.ingestBlob(tar);
  return { diffId: digest, size, warnings: tar.warnings };
}

export { sourceDateEpochFromEnv } from './sourceDateEpoch.js';

/**
 * Safe extraction of tar streams: layer tars into snapshot dirs, and archives for ADD.
 * Every entry name is checked (no `..`, nothing written through a symlink, hard links only to
 * files already extracted inside the destination). Whiteouts are handled one of three ways:
 *   overlay  `.wh.NAME` → a 0:0 char device, `.wh..wh..opq` → trusted.overlay.opaque=y on the dir
 *            (the form overlayfs reads from a lower dir: a snapshot)
 *   apply    delete what they name from the destination (flattening layers into a root fs)
 *   keep     ordinary files (ADD of an arbitrary archive)
 */
import { open } from 'node:fs/promises';
import { createReadStream, chmodSync, closeSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, readdirSync, rmSync, symlinkSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { extract as tarExtract, type Extract, type Header } from 'tar-stream';
import { decompress, type Compression } from './compression.js';
import { feedTar } from './feedTar.js';
import { canOwnFiles, privilege } from '../host/privilege.js';
import { entryComponents, hostile, linkComponents } from './entryPath.js';
import { writeNewFileSync } from '../store/atomicFile.js';
import { makeNodes, setXattrs, type SpecialNode, type XattrSet } from '../host/specialFiles.js';

export type WhiteoutMode = 'overlay' | 'apply' | 'keep';

export interface ExtractOptions {
  whiteouts: WhiteoutMode;
  /** Names the archive in error messages. */
  source?: string;
  /** Give entries the tar's uid/gid (default: only when running as root, who can). */
  owners?: boolean;
  /** Give every entry this owner instead (ADD --chown). */
  chown?: { uid: number; gid: number };
  /** Where the disk cannot hold owners (no chown allowed): told each entry's owner instead. */
  recordOwner?: (rel: string, uid: number, gid: number) => void;
  /** Apply SCHILY.xattr.* records (default: when running as root). */
  xattrs?: boolean;
  /** Which xattr name prefix overlay whiteouts use: trusted (root) or user (userxattr mounts). */
  overlayXattrPrefix?: 'trusted' | 'user';
}

export interface ExtractResult {
  entries: number;
  compression: Compression;
}

interface DeferredDir {
  path: string;
  mode: number;
  mtime: Date;
  uid: number;
  gid: number;
}

const OPAQUE = '.wh..wh..opq';
const WH = '.wh.';

/** Extracts a (possibly compressed) tar archive into `dest`, which must exist. A Node Readable is an AsyncIterable too. */
export async function extractArchive(input: AsyncIterable<Uint8Array | string>, dest: string, opts: ExtractOptions): Promise<ExtractResult> {
  const source = opts.source ?? 'archive';
  const { compression, stream } = await decompress(input, { what: source });
  const entries = await extractTar(stream, dest, opts);
  return { entries, compression };
}

/** extractArchive of a file on disk (ADD of a local archive). */
export function extractArchiveFile(path: string, dest: string, opts: ExtractOptions): Promise<ExtractResult> {
  return extractArchive(createReadStream(path), dest, { source: path, ...opts });
}

// Metadata calls are synchronous on purpose: each takes microseconds, and a thread-pool round
// trip per call made extracting many small files many times slower.
function lstatOrUndefined(p: string): Stats | undefined {
  return lstatSync(p, { throwIfNoEntry: false });
}

/** Files up to this size are gathered in memory and written with one call. */
const SMALL_FILE = 512 * 1024;

/** One entry of a tar stream as tar-stream yields it: its header, then its bytes. */
type Entry = Extract extends AsyncIterable<infer E> ? E : never;

/** Extracts an uncompressed tar stream into `dest`; returns how many entries it held. */
export async function extractTar(input: AsyncIterable<Uint8Array>, dest: string, opts: ExtractOptions): Promise<number> {
  const extraction = new TarExtraction(dest, opts);
  const extractor = tarExtract();
  const feeding = feedTar(input, extractor);
  try {
    for await (const entry of extractor) await extraction.add(entry);
  } finally {
    await feeding;
  }
  await extraction.finish();
  return extraction.count;
}

/** An entry's place and attributes, as its header and the options give them. */
interface EntryTarget {
  /** Its path's components below `dest` (none: the archive root). */
  parts: string[];
  rel: string;
  abs: string;
  uid: number;
  gid: number;
  mode: number;
  mtime: Date;
}

/**
 * One extraction: entries written as they come; device nodes, whiteout nodes, xattrs and the
 * directories' attributes gathered and applied at the end (finish).
 */
class TarExtraction {
  count = 0;
  private readonly source: string;
  /** Give entries their owners: root of the host or of a user namespace (its mapped ids), unless --chown. */
  private readonly owners: boolean;
  private readonly chowning: boolean;
  private readonly applyXattrs: boolean;
  /** Root of a user namespace may not set trusted.* attributes: its overlays mount with userxattr and read user.overlay.* markers. */
  private readonly prefix: 'trusted' | 'user';
  private readonly created = new Set<string>();
  private readonly knownDirs = new Set<string>(['']);
  private readonly dirs: DeferredDir[] = [];
  private readonly nodes: SpecialNode[] = [];
  private readonly nodeAttrs: { path: string; mode: number; uid: number; gid: number; mtime: Date }[] = [];
  private readonly xattrs: XattrSet[] = [];
  private readonly opaque: string[] = [];

  constructor(private readonly dest: string, private readonly opts: ExtractOptions) {
    this.source = opts.source ?? 'archive';
    this.owners = opts.chown === undefined && (opts.owners ?? canOwnFiles());
    this.chowning = this.owners || opts.chown !== undefined;
    this.applyXattrs = opts.xattrs ?? canOwnFiles();
    this.prefix = opts.overlayXattrPrefix ?? (privilege() === 'host-root' ? 'trusted' : 'user');
  }

  async add(entry: Entry): Promise<void> {
    const h: Header = entry.header;
    this.count++;
    const parts = entryComponents(this.source, h.name);
    const rel = parts.join('/');
    const t: EntryTarget = {
      parts, rel, abs: parts.length === 0 ? this.dest : join(this.dest, rel),
      uid: this.opts.chown?.uid ?? h.uid ?? 0, gid: this.opts.chown?.gid ?? h.gid ?? 0,
      mode: (h.mode ?? 0o644) & 0o7777, mtime: h.mtime ?? new Date(0),
    };
    if (this.opts.whiteouts !== 'keep' && (parts[parts.length - 1] ?? '').startsWith(WH)) {
      entry.resume();
      this.whiteout(t, h.name);
      return;
    }
    if (parts.length > 0) this.ensureParents(parts, h.name);
    if (this.applyXattrs) this.gatherXattrs(t.abs, h);
    switch (h.type) {
      case 'directory': entry.resume(); this.directory(t); break;
      case 'file':
      case 'contiguous-file': await this.file(t, entry, h); break;
      case 'symlink': entry.resume(); this.symlink(t, h); break;
      case 'link': entry.resume(); this.hardLink(t, h); break;
      case 'character-device':
      case 'block-device':
      case 'fifo': entry.resume(); this.device(t, h); break;
      default:
        // pax globals, GNU sparse/volume headers…: nothing to create
        entry.resume();
    }
    if (parts.length > 0) this.created.add(rel);
    if (parts.length > 0 && this.opts.recordOwner && lstatOrUndefined(t.abs) !== undefined) this.opts.recordOwner(rel, t.uid, t.gid);
  }

  /** Makes sure every parent of the entry exists as a real directory (never a symlink). */
  private ensureParents(parts: string[], name: string): void {
    for (let i = 1; i < parts.length; i++) {
      const rel = parts.slice(0, i).join('/');
      if (this.knownDirs.has(rel)) continue;
      const abs = join(this.dest, rel);
      const st = lstatOrUndefined(abs);
      if (!st) {
        mkdirSync(abs, { mode: 0o755 });
      } else if (st.isSymbolicLink()) {
        throw hostile(this.source, name, `it would be written through the symbolic link "${rel}"`);
      } else if (!st.isDirectory()) {
        throw hostile(this.source, name, `"${rel}" is not a directory`);
      }
      this.knownDirs.add(rel);
    }
  }

  /** `.wh.NAME` and `.wh..wh..opq`: overlay's form (a 0:0 device, the opaque mark), or what they name deleted. */
  private whiteout(t: EntryTarget, name: string): void {
    const base = t.parts[t.parts.length - 1] ?? '';
    this.ensureParents(t.parts, name);
    const parentRel = t.parts.slice(0, -1).join('/');
    const parentAbs = parentRel === '' ? this.dest : join(this.dest, parentRel);
    if (base === OPAQUE) {
      if (this.opts.whiteouts === 'overlay') this.opaque.push(parentAbs);
      else {
        for (const child of readdirSync(parentAbs)) {
          const childRel = parentRel === '' ? child : `${parentRel}/${child}`;
          if (!this.created.has(childRel)) rmSync(join(parentAbs, child), { recursive: true, force: true });
        }
      }
      return;
    }
    if (base.startsWith(`${WH}${WH}`)) return; // aufs-internal (.wh..wh.plnk …): no meaning here
    const victim = base.slice(WH.length);
    if (victim === '' || victim === '..' || victim === '.') throw hostile(this.source, name, 'whiteout names nothing');
    const victimRel = parentRel === '' ? victim : `${parentRel}/${victim}`;
    if (this.opts.whiteouts === 'overlay') {
      removeExisting(join(parentAbs, victim), false);
      this.nodes.push({ path: join(parentAbs, victim), kind: 'c', major: 0, minor: 0 });
      this.nodeAttrs.push({ path: join(parentAbs, victim), mode: 0o600, uid: 0, gid: 0, mtime: t.mtime });
    } else if (!this.created.has(victimRel)) {
      rmSync(join(parentAbs, victim), { recursive: true, force: true });
    }
  }

  private gatherXattrs(abs: string, h: Header): void {
    if (!h.pax || typeof h.pax !== 'object') return;
    for (const [k, v] of Object.entries(h.pax as Record<string, string>)) {
      if (!k.startsWith('SCHILY.xattr.')) continue;
      const name = k.slice('SCHILY.xattr.'.length);
      // Only what images legitimately carry: file capabilities and user attributes. trusted.*
      // (overlay's own marks among them) and other security.* from an archive are not applied.
      if (name !== 'security.capability' && !(name.startsWith('user.') && !name.startsWith('user.overlay.'))) continue;
      // PAX values reach us decoded as UTF-8; a value that was not valid UTF-8 is damaged, and a
      // damaged capability set must not be applied.
      if (v.includes('\uFFFD')) continue;
      this.xattrs.push({ path: abs, name, value: Buffer.from(v, 'utf8') });
    }
  }

  private directory(t: EntryTarget): void {
    if (t.parts.length > 0) {
      removeExisting(t.abs, true);
      if (!lstatOrUndefined(t.abs)) mkdirSync(t.abs, { mode: 0o755 });
      this.knownDirs.add(t.rel);
    }
    this.dirs.push({ path: t.abs, mode: t.mode, mtime: t.mtime, uid: t.uid, gid: t.gid });
  }

  private async file(t: EntryTarget, entry: Entry, h: Header): Promise<void> {
    if (t.parts.length === 0) throw hostile(this.source, h.name, 'a file in place of the archive root');
    removeExisting(t.abs, false);
    if ((h.size ?? 0) <= SMALL_FILE) await writeSmallFile(t.abs, entry);
    else await writeLargeFile(t.abs, entry);
    this.setAttributes(t.abs, t);
  }

  private symlink(t: EntryTarget, h: Header): void {
    if (t.parts.length === 0) throw hostile(this.source, h.name, 'a link in place of the archive root');
    removeExisting(t.abs, false);
    symlinkSync(h.linkname ?? '', t.abs);
    if (this.chowning) lchownSync(t.abs, t.uid, t.gid);
    lutimesSync(t.abs, t.mtime, t.mtime);
  }

  private hardLink(t: EntryTarget, h: Header): void {
    if (t.parts.length === 0) throw hostile(this.source, h.name, 'a link in place of the archive root');
    const target = linkComponents(this.source, h.name, h.linkname ?? '');
    for (let i = 1; i < target.length; i++) {
      const st = lstatOrUndefined(join(this.dest, target.slice(0, i).join('/')));
      if (st?.isSymbolicLink()) throw hostile(this.source, h.name, `hard link through the symbolic link "${target.slice(0, i).join('/')}"`);
    }
    const targetAbs = join(this.dest, target.join('/'));
    const st = lstatOrUndefined(targetAbs);
    if (!st) throw hostile(this.source, h.name, `hard link to "${h.linkname}", which the archive has not created`);
    if (st.isDirectory()) throw hostile(this.source, h.name, 'hard link to a directory');
    if (targetAbs !== t.abs) {
      removeExisting(t.abs, false);
      linkSync(targetAbs, t.abs);
    }
    // The link's own header applies to the file both names share, as docker's and
    // BuildKit's unpacking does (owner, then mode, then times).
    this.setAttributes(t.abs, t);
  }

  private device(t: EntryTarget, h: Header): void {
    if (t.parts.length === 0) throw hostile(this.source, h.name, 'a device in place of the archive root');
    if (h.type !== 'fifo' && privilege() !== 'host-root') {
      // The kernel refuses mknod of a device outside the initial user namespace (EPERM; only
      // 0:0 whiteouts are allowed). Like moby's and containers/storage's rootless extraction,
      // skip it: the layer blob keeps it, and a container's /dev is a tmpfs of its own anyway.
      return;
    }
    removeExisting(t.abs, false);
    const kind = h.type === 'fifo' ? 'p' : h.type === 'block-device' ? 'b' : 'c';
    this.nodes.push({ path: t.abs, kind, major: h.devmajor ?? 0, minor: h.devminor ?? 0 });
    this.nodeAttrs.push({ path: t.abs, mode: t.mode, uid: t.uid, gid: t.gid, mtime: t.mtime });
  }

  /** Owner (when kept or given), mode, then times. */
  private setAttributes(path: string, a: { uid: number; gid: number; mode: number; mtime: Date }): void {
    if (this.chowning) lchownSync(path, a.uid, a.gid);
    chmodSync(path, a.mode);
    lutimesSync(path, a.mtime, a.mtime);
  }

  /** The nodes (devices, fifos, overlay whiteouts), the opaque marks and xattrs, then the directories' attributes. */
  async finish(): Promise<void> {
    if (this.nodes.length > 0) {
      await makeNodes(this.nodes);
      for (const n of this.nodeAttrs) this.setAttributes(n.path, n);
    }
    if (this.opaque.length > 0) await setXattrs(this.opaque.map((path) => ({ path, name: `${this.prefix}.overlay.opaque`, value: Buffer.from('y') })));
    await setXattrs(this.xattrs);
    // Directories last, deepest first: children no longer touch their mtime, and a read-only
    // directory mode no longer blocks writing into it.
    this.dirs.sort((a, b) => b.path.length - a.path.length);
    for (const d of this.dirs) this.setAttributes(d.path, d);
  }
}

function removeExisting(abs: string, keepDir: boolean): void {
  const st = lstatOrUndefined(abs);
  if (!st) return;
  if (st.isDirectory()) {
    if (keepDir) return;
    rmSync(abs, { recursive: true, force: true });
  } else {
    unlinkSync(abs);
  }
}

/** A small file gathered in memory and written with one call. */
async function writeSmallFile(abs: string, entry: Entry): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of entry) chunks.push(chunk as Buffer);
  writeNewFileSync(abs, chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks), 0o600);
}

async function writeLargeFile(abs: string, entry: Entry): Promise<void> {
  const fd = await open(abs, 'wx', 0o600);
  try {
    for await (const chunk of entry) {
      const buf = chunk as Buffer;
      let off = 0;
      while (off < buf.length) off += (await fd.write(buf, off, buf.length - off)).bytesWritten;
    }
  } finally {
    await fd.close();
  }
}

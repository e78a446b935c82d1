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
import { extract as tarExtract, type Header } from 'tar-stream';
import { decompress, type Compression } from './compression.js';
import { feedTar } from './feedTar.js';
import { canOwnFiles, privilege } from '../host/privilege.js';
import { entryComponents, hostile, linkComponents } from './entryPath.js';
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

/** Extracts an uncompressed tar stream into `dest`; returns how many entries it held. */
export async function extractTar(input: AsyncIterable<Uint8Array>, dest: string, opts: ExtractOptions): Promise<number> {
  const source = opts.source ?? 'archive';
  // Root of a user namespace may chown to its mapped ids and set file capabilities, but not
  // trusted.* attributes: its overlays mount with userxattr and read user.overlay.* markers.
  const owners = opts.chown === undefined && (opts.owners ?? canOwnFiles());
  const applyXattrs = opts.xattrs ?? canOwnFiles();
  const prefix = opts.overlayXattrPrefix ?? (privilege() === 'host-root' ? 'trusted' : 'user');
  const created = new Set<string>();
  const knownDirs = new Set<string>(['']);
  const dirs: DeferredDir[] = [];
  const nodes: SpecialNode[] = [];
  const nodeAttrs: { path: string; mode: number; uid: number; gid: number; mtime: Date }[] = [];
  const xattrs: XattrSet[] = [];
  const opaque: string[] = [];
  let count = 0;

  /** Makes sure every parent of rel exists as a real directory (never a symlink). */
  const ensureParents = (parts: string[], name: string): void => {
    for (let i = 1; i < parts.length; i++) {
      const rel = parts.slice(0, i).join('/');
      if (knownDirs.has(rel)) continue;
      const abs = join(dest, rel);
      const st = lstatOrUndefined(abs);
      if (!st) {
        mkdirSync(abs, { mode: 0o755 });
      } else if (st.isSymbolicLink()) {
        throw hostile(source, name, `it would be written through the symbolic link "${rel}"`);
      } else if (!st.isDirectory()) {
        throw hostile(source, name, `"${rel}" is not a directory`);
      }
      knownDirs.add(rel);
    }
  };

  const removeExisting = (abs: string, keepDir: boolean): void => {
    const st = lstatOrUndefined(abs);
    if (!st) return;
    if (st.isDirectory()) {
      if (keepDir) return;
      rmSync(abs, { recursive: true, force: true });
    } else {
      unlinkSync(abs);
    }
  };

  const extractor = tarExtract();
  const feeding = feedTar(input, extractor);

  try {
    for await (const entry of extractor) {
      const h: Header = entry.header;
      count++;
      const parts = entryComponents(source, h.name);
      const rel = parts.join('/');
      const abs = parts.length === 0 ? dest : join(dest, rel);
      const base = parts[parts.length - 1] ?? '';
      const uid = opts.chown?.uid ?? h.uid ?? 0;
      const gid = opts.chown?.gid ?? h.gid ?? 0;
      const mode = (h.mode ?? 0o644) & 0o7777;
      const mtime = h.mtime ?? new Date(0);

      if (opts.whiteouts !== 'keep' && base.startsWith(WH)) {
        entry.resume();
        ensureParents(parts, h.name);
        const parentRel = parts.slice(0, -1).join('/');
        const parentAbs = parentRel === '' ? dest : join(dest, parentRel);
        if (base === OPAQUE) {
          if (opts.whiteouts === 'overlay') opaque.push(parentAbs);
          else {
            for (const child of readdirSync(parentAbs)) {
              const childRel = parentRel === '' ? child : `${parentRel}/${child}`;
              if (!created.has(childRel)) rmSync(join(parentAbs, child), { recursive: true, force: true });
            }
          }
          continue;
        }
        if (base.startsWith(`${WH}${WH}`)) continue; // aufs-internal (.wh..wh.plnk …): no meaning here
        const victim = base.slice(WH.length);
        if (victim === '' || victim === '..' || victim === '.') throw hostile(source, h.name, 'whiteout names nothing');
        const victimRel = parentRel === '' ? victim : `${parentRel}/${victim}`;
        if (opts.whiteouts === 'overlay') {
          removeExisting(join(parentAbs, victim), false);
          nodes.push({ path: join(parentAbs, victim), kind: 'c', major: 0, minor: 0 });
          nodeAttrs.push({ path: join(parentAbs, victim), mode: 0o600, uid: 0, gid: 0, mtime });
        } else if (!created.has(victimRel)) {
          rmSync(join(parentAbs, victim), { recursive: true, force: true });
        }
        continue;
      }

      if (parts.length > 0) ensureParents(parts, h.name);
      if (applyXattrs && h.pax && typeof h.pax === 'object') {
        for (const [k, v] of Object.entries(h.pax as Record<string, string>)) {
          if (!k.startsWith('SCHILY.xattr.')) continue;
          const name = k.slice('SCHILY.xattr.'.length);
          // Only what images legitimately carry: file capabilities and user attributes. trusted.*
          // (overlay's own marks among them) and other security.* from an archive are not applied.
          if (name !== 'security.capability' && !(name.startsWith('user.') && !name.startsWith('user.overlay.'))) continue;
          // PAX values reach us decoded as UTF-8; a value that was not valid UTF-8 is damaged, and a
          // damaged capability set must not be applied.
          if (v.includes('\uFFFD')) continue;
          xattrs.push({ path: abs, name, value: Buffer.from(v, 'utf8') });
        }
      }

      switch (h.type) {
        case 'directory': {
          entry.resume();
          if (parts.length > 0) {
            removeExisting(abs, true);
            if (!lstatOrUndefined(abs)) mkdirSync(abs, { mode: 0o755 });
            knownDirs.add(rel);
          }
          dirs.push({ path: abs, mode, mtime, uid, gid });
          break;
        }
        case 'file':
        case 'contiguous-file': {
          if (parts.length === 0) throw hostile(source, h.name, 'a file in place of the archive root');
          removeExisting(abs, false);
          if ((h.size ?? 0) <= SMALL_FILE) {
            const chunks: Buffer[] = [];
            for await (const chunk of entry) chunks.push(chunk as Buffer);
            const buf = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
            const fd = openSync(abs, 'wx', 0o600);
            try {
              let off = 0;
              while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
            } finally {
              closeSync(fd);
            }
          } else {
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
          if (owners || opts.chown) lchownSync(abs, uid, gid);
          chmodSync(abs, mode);
          lutimesSync(abs, mtime, mtime);
          break;
        }
        case 'symlink': {
          entry.resume();
          if (parts.length === 0) throw hostile(source, h.name, 'a link in place of the archive root');
          removeExisting(abs, false);
          symlinkSync(h.linkname ?? '', abs);
          if (owners || opts.chown) lchownSync(abs, uid, gid);
          lutimesSync(abs, mtime, mtime);
          break;
        }
        case 'link': {
          entry.resume();
          if (parts.length === 0) throw hostile(source, h.name, 'a link in place of the archive root');
          const target = linkComponents(source, h.name, h.linkname ?? '');
          for (let i = 1; i < target.length; i++) {
            const st = lstatOrUndefined(join(dest, target.slice(0, i).join('/')));
            if (st?.isSymbolicLink()) throw hostile(source, h.name, `hard link through the symbolic link "${target.slice(0, i).join('/')}"`);
          }
          const targetAbs = join(dest, target.join('/'));
          const st = lstatOrUndefined(targetAbs);
          if (!st) throw hostile(source, h.name, `hard link to "${h.linkname}", which the archive has not created`);
          if (st.isDirectory()) throw hostile(source, h.name, 'hard link to a directory');
          if (targetAbs !== abs) {
            removeExisting(abs, false);
            linkSync(targetAbs, abs);
          }
          // The link's own header applies to the file both names share, as docker's and
          // BuildKit's unpacking does (owner, then mode, then times).
          if (owners || opts.chown) lchownSync(abs, uid, gid);
          chmodSync(abs, mode);
          lutimesSync(abs, mtime, mtime);
          break;
        }
        case 'character-device':
        case 'block-device':
        case 'fifo': {
          entry.resume();
          if (parts.length === 0) throw hostile(source, h.name, 'a device in place of the archive root');
          if (h.type !== 'fifo' && privilege() !== 'host-root') {
            // The kernel refuses mknod of a device outside the initial user namespace (EPERM; only
            // 0:0 whiteouts are allowed). Like moby's and containers/storage's rootless extraction,
            // skip it: the layer blob keeps it, and a container's /dev is a tmpfs of its own anyway.
            break;
          }
          removeExisting(abs, false);
          const kind = h.type === 'fifo' ? 'p' : h.type === 'block-device' ? 'b' : 'c';
          nodes.push({ path: abs, kind, major: h.devmajor ?? 0, minor: h.devminor ?? 0 });
          nodeAttrs.push({ path: abs, mode, uid, gid, mtime });
          break;
        }
        default:
          // pax globals, GNU sparse/volume headers…: nothing to create
          entry.resume();
      }
      if (parts.length > 0) created.add(rel);
      if (parts.length > 0 && opts.recordOwner && lstatOrUndefined(abs) !== undefined) opts.recordOwner(rel, uid, gid);
    }
  } finally {
    await feeding;
  }

  if (nodes.length > 0) {
    await makeNodes(nodes);
    for (const n of nodeAttrs) {
      if (owners || opts.chown) lchownSync(n.path, n.uid, n.gid);
      chmodSync(n.path, n.mode);
      lutimesSync(n.path, n.mtime, n.mtime);
    }
  }
  if (opaque.length > 0) await setXattrs(opaque.map((path) => ({ path, name: `${prefix}.overlay.opaque`, value: Buffer.from('y') })));
  await setXattrs(xattrs);
  // Directories last, deepest first: children no longer touch their mtime, and a read-only
  // directory mode no longer blocks writing into it.
  dirs.sort((a, b) => b.path.length - a.path.length);
  for (const d of dirs) {
    if (owners || opts.chown) lchownSync(d.path, d.uid, d.gid);
    chmodSync(d.path, d.mode);
    lutimesSync(d.path, d.mtime, d.mtime);
  }
  return count;
}

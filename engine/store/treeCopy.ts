/**
 * A faithful copy of a directory tree on the same filesystem, for the copy snapshotter (a RUN
 * step's root, a stage's flattened root): every entry with its type, mode, owner (when kiln may
 * chown), times, hard links among the tree's files, device nodes and FIFOs, and the extended
 * attributes a layer can carry. File data is cloned (reflink) where the filesystem can, and copied
 * where it cannot. Never a hard link to the source: a RUN step running as root could write through
 * one into a lower layer's file (docker's and buildah's vfs copy for the same reason).
 */
import { chmodSync, constants, copyFileSync, lchownSync, lstatSync, lutimesSync, mkdirSync, readdirSync, readlinkSync, symlinkSync, linkSync, type BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { canOwnFiles } from '../host/privilege.js';
import { devMajor, devMinor } from '../host/deviceNumbers.js';
import { makeNodes, setXattrs, type SpecialNode, type XattrSet } from '../host/specialFiles.js';
import { nativeBinding } from '../../native/index.js';

/** Extended attributes a copy keeps (the ones a layer records, and the user's own). */
function keptXattr(name: string): boolean {
  return name === 'security.capability' || name.startsWith('user.');
}

interface PendingTimes { path: string; atime: Date; mtime: Date }

/** Copies the contents of `source` into the existing empty directory `dest` (and `dest`'s own attributes). */
export async function copyTree(source: string, dest: string): Promise<void> {
  const copy = new TreeCopy();
  copy.walk(source, dest);
  await copy.finish(source, dest);
}

/**
 * One copy under way: the hard links it has seen, and what waits for the walk's end (device
 * nodes, made in one batch; extended attributes; directory times, which every entry made
 * inside a directory would change).
 */
class TreeCopy {
  private readonly owners = canOwnFiles();
  private readonly links = new Map<string, string>();
  private readonly nodes: SpecialNode[] = [];
  private readonly nodeAttrs: { path: string; st: BigIntStats }[] = [];
  private readonly xattrs: XattrSet[] = [];
  private readonly dirTimes: PendingTimes[] = [];
  private readonly native = xattrReader();

  walk(from: string, to: string): void {
    for (const name of readdirSync(from)) this.entry(join(from, name), join(to, name));
  }

  /** Device nodes, their attributes, extended attributes, then directory times, deepest first and `dest`'s last. */
  async finish(source: string, dest: string): Promise<void> {
    if (this.nodes.length > 0) await makeNodes(this.nodes);
    for (const { path, st } of this.nodeAttrs) {
      this.attrs(path, st);
      this.setTimes(path, st);
    }
    // Attributes last: setting security.capability needs the owner final, and file times are
    // changed by nothing after this (directory times last of all, deepest first).
    await setXattrs(this.xattrs);
    const root = lstatSync(source, { bigint: true });
    this.attrs(dest, root);
    this.dirTimes.push({ path: dest, ...times(root) });
    for (const d of this.dirTimes) lutimesSync(d.path, d.atime, d.mtime);
  }

  private entry(src: string, dst: string): void {
    const st = lstatSync(src, { bigint: true });
    if (st.isDirectory()) this.directory(src, dst, st);
    else if (this.linkedToEarlier(dst, st)) return;
    else if (st.isSymbolicLink()) this.symlink(src, dst, st);
    else if (st.isFile()) this.file(src, dst, st);
    else if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO()) this.deferNode(dst, st);
    // else a socket: not part of a filesystem image
  }

  private directory(src: string, dst: string, st: BigIntStats): void {
    mkdirSync(dst, { mode: 0o700 });
    this.walk(src, dst);
    this.attrs(dst, st);
    this.keepXattrs(src, dst);
    this.dirTimes.push({ path: dst, ...times(st) });
  }

  /** A second name of a file already copied becomes a hard link to the copy. */
  private linkedToEarlier(dst: string, st: BigIntStats): boolean {
    if (st.nlink <= 1n) return false;
    const key = `${st.dev}:${st.ino}`;
    const first = this.links.get(key);
    if (first !== undefined) { linkSync(first, dst); return true; }
    this.links.set(key, dst);
    return false;
  }

  private symlink(src: string, dst: string, st: BigIntStats): void {
    symlinkSync(readlinkSync(src), dst);
    if (this.owners) lchownSync(dst, Number(st.uid), Number(st.gid));
    this.setTimes(dst, st);
  }

  private file(src: string, dst: string, st: BigIntStats): void {
    copyFileSync(src, dst, constants.COPYFILE_FICLONE);
    this.attrs(dst, st);
    this.keepXattrs(src, dst);
    this.setTimes(dst, st);
  }

  private deferNode(dst: string, st: BigIntStats): void {
    this.nodes.push({ path: dst, kind: st.isFIFO() ? 'p' : st.isCharacterDevice() ? 'c' : 'b', major: devMajor(st.rdev), minor: devMinor(st.rdev) });
    this.nodeAttrs.push({ path: dst, st });
  }

  private attrs(path: string, st: BigIntStats): void {
    if (this.owners) lchownSync(path, Number(st.uid), Number(st.gid));
    chmodSync(path, Number(st.mode) & 0o7777);
  }

  private setTimes(path: string, st: BigIntStats): void {
    const t = times(st);
    lutimesSync(path, t.atime, t.mtime);
  }

  private keepXattrs(from: string, to: string): void {
    if (!this.native) return;
    let all: Record<string, Buffer>;
    try { all = this.native.listXattrs(from); } catch { return; }
    for (const [name, value] of Object.entries(all)) if (keptXattr(name)) this.xattrs.push({ path: to, name, value });
  }
}

function times(st: BigIntStats): { atime: Date; mtime: Date } {
  return { atime: new Date(Number(st.atimeMs)), mtime: new Date(Number(st.mtimeNs / 1_000_000n)) };
}

/** The addon's xattr listing; without the addon, extended attributes are not copied. */
function xattrReader(): { listXattrs(path: string): Record<string, Buffer> } | undefined {
  try {
    return nativeBinding();
  } catch {
    return undefined;
  }
}

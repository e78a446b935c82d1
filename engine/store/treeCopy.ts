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
  const owners = canOwnFiles();
  const links = new Map<string, string>();
  const nodes: SpecialNode[] = [];
  const nodeAttrs: { path: string; st: BigIntStats }[] = [];
  const xattrs: XattrSet[] = [];
  const dirTimes: PendingTimes[] = [];
  let native: { listXattrs(path: string): Record<string, Buffer> } | undefined;
  try {
    native = nativeBinding();
  } catch {
    native = undefined; // no addon: extended attributes are not copied
  }
  const keepXattrs = (from: string, to: string): void => {
    if (!native) return;
    let all: Record<string, Buffer>;
    try { all = native.listXattrs(from); } catch { return; }
    for (const [name, value] of Object.entries(all)) if (keptXattr(name)) xattrs.push({ path: to, name, value });
  };
  const attrs = (path: string, st: BigIntStats, isLink: boolean): void => {
    if (owners) lchownSync(path, Number(st.uid), Number(st.gid));
    if (!isLink) chmodSync(path, Number(st.mode) & 0o7777);
  };
  const times = (st: BigIntStats): { atime: Date; mtime: Date } => ({ atime: new Date(Number(st.atimeMs)), mtime: new Date(Number(st.mtimeNs / 1_000_000n)) });

  const walk = (from: string, to: string): void => {
    for (const name of readdirSync(from)) {
      const src = join(from, name);
      const dst = join(to, name);
      const st = lstatSync(src, { bigint: true });
      if (st.isDirectory()) {
        mkdirSync(dst, { mode: 0o700 });
        walk(src, dst);
        attrs(dst, st, false);
        keepXattrs(src, dst);
        dirTimes.push({ path: dst, ...times(st) });
        continue;
      }
      const key = `${st.dev}:${st.ino}`;
      if (st.nlink > 1n) {
        const first = links.get(key);
        if (first !== undefined) { linkSync(first, dst); continue; }
        links.set(key, dst);
      }
      if (st.isSymbolicLink()) {
        symlinkSync(readlinkSync(src), dst);
        if (owners) lchownSync(dst, Number(st.uid), Number(st.gid));
        const t = times(st);
        lutimesSync(dst, t.atime, t.mtime);
        continue;
      }
      if (st.isFile()) {
        copyFileSync(src, dst, constants.COPYFILE_FICLONE);
      } else if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO()) {
        nodes.push({ path: dst, kind: st.isFIFO() ? 'p' : st.isCharacterDevice() ? 'c' : 'b', major: devMajor(st.rdev), minor: devMinor(st.rdev) });
        nodeAttrs.push({ path: dst, st });
        continue;
      } else {
        continue; // a socket is not part of a filesystem image
      }
      attrs(dst, st, false);
      keepXattrs(src, dst);
      const t = times(st);
      lutimesSync(dst, t.atime, t.mtime);
    }
  };
  walk(source, dest);
  if (nodes.length > 0) await makeNodes(nodes);
  for (const { path, st } of nodeAttrs) {
    attrs(path, st, false);
    const t = times(st);
    lutimesSync(path, t.atime, t.mtime);
  }
  // Attributes last: setting security.capability needs the owner final, and file times are
  // changed by nothing after this (directory times last of all, deepest first).
  await setXattrs(xattrs);
  const root = lstatSync(source, { bigint: true });
  attrs(dest, root, false);
  dirTimes.push({ path: dest, ...times(root) });
  for (const d of dirTimes) lutimesSync(d.path, d.atime, d.mtime);
}

/**
 * The layer a RUN step made, found by comparing trees instead of reading an overlay upper dir
 * (the copy snapshotter): the step's root after it ran, against its parent stack's root and the
 * identity (inode, ctime) each entry of the step's root had just before the command started.
 * It yields exactly what kiln's overlay path writes from an upper dir:
 *
 * - an entry whose inode or ctime changed, or that is new, is in the layer whole, as overlayfs
 *   copies up anything written, chmod-ed, chown-ed, touched or relinked;
 * - a directory is in the layer when anything below it is (overlay copies parents up);
 * - a path of the parent stack that is gone becomes a whiteout (`.wh.NAME`);
 * - a directory made where the parent stack had something (removed and made again, or a file
 *   replaced by a directory) is opaque (`.wh..wh..opq`), as overlayfs marks a directory made
 *   over a whiteout; everything in it is in the layer.
 *
 * Mount points the runtime needed (stubs) are left out both ways. One difference remains: when
 * a step writes through one name of a file the parent stack hard-links, overlayfs (index=off)
 * copies up that name alone, while here every name of the inode shows the change.
 */
import { lstatSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { devMajor, devMinor } from '../host/deviceNumbers.js';
import type { LayerEntry, LayerEntryType } from './layerEntry.js';

/**
 * What identifies an entry across a step: its inode (with its birth time, where the filesystem
 * keeps one: a freed inode number is soon given to the next new file), the last change to it,
 * and what a change of link count alone leaves as it was.
 */
export interface Identity { ino: bigint; birthNs: bigint; ctimeNs: bigint; nlink: bigint; attrs: string }

function identityOf(st: BigIntStats): Identity {
  return { ino: st.ino, birthNs: st.birthtimeNs, ctimeNs: st.ctimeNs, nlink: st.nlink, attrs: `${st.mode}:${st.uid}:${st.gid}:${st.size}:${st.mtimeNs}` };
}

/** The same inode as before the step (not a new one that got a freed number). */
function sameInode(id: Identity, st: BigIntStats): boolean {
  return id.ino === st.ino && id.birthNs === st.birthtimeNs && (st.mode & 0o170000n) === (BigInt(id.attrs.split(':')[0] as string) & 0o170000n);
}

/**
 * Whether overlayfs would have copied the entry up. Any change to the inode does — except a name
 * of it removed elsewhere (unlink changes the link count and ctime of the names that stay, which
 * overlayfs never copies up for that).
 */
function touchedBy(id: Identity, st: BigIntStats): boolean {
  if (id.ctimeNs === st.ctimeNs) return false;
  const after = identityOf(st);
  return !(st.nlink < id.nlink && after.attrs === id.attrs);
}

/** Calls `visit` with the relative path (`a/b`) and lstat of every entry under `root` (not `root` itself), parents first. */
export function visitTree(root: string, visit: (rel: string, st: BigIntStats) => void): void {
  const walk = (abs: string, rel: string): void => {
    for (const name of readdirSync(abs)) {
      const childAbs = join(abs, name);
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(childAbs, { bigint: true });
      visit(childRel, st);
      if (st.isDirectory()) walk(childAbs, childRel);
    }
  };
  walk(root, '');
}

/** Relative path (`a/b`) → identity, for every entry under `root` (not `root` itself). */
export function recordIdentities(root: string): Map<string, Identity> {
  const ids = new Map<string, Identity>();
  visitTree(root, (rel, st) => ids.set(rel, identityOf(st)));
  return ids;
}

type XattrReader = (abs: string) => ReadonlyMap<string, Buffer> | undefined;
/** The owner the layer records for an entry (the disk's, unless kiln keeps owners elsewhere). */
export type OwnerOf = (st: BigIntStats) => { uid: number; gid: number };
const diskOwner: OwnerOf = (st) => ({ uid: Number(st.uid), gid: Number(st.gid) });

/** A node of the layer: an entry of the step's root, or a whiteout. */
class DiffEntry implements LayerEntry {
  readonly kids = new Map<string, DiffEntry>();

  constructor(
    private readonly abs: string,
    private readonly st: BigIntStats | undefined,
    private readonly opaque: boolean,
    private readonly readXattrs: XattrReader,
    private readonly ownerOf: OwnerOf = diskOwner,
  ) {}

  get type(): LayerEntryType {
    const st = this.st;
    if (st === undefined) return 'whiteout';
    return st.isDirectory() ? 'directory' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink'
      : st.isCharacterDevice() ? 'character-device' : st.isBlockDevice() ? 'block-device' : st.isFIFO() ? 'fifo' : 'socket';
  }
  get mode(): number { return Number(this.st?.mode ?? 0n) & 0o7777; }
  get uid(): number { return this.st ? this.ownerOf(this.st).uid : 0; }
  get gid(): number { return this.st ? this.ownerOf(this.st).gid : 0; }
  get mtimeMs(): number { return Number(this.st?.mtimeMs ?? 0n); }
  get size(): number { return Number(this.st?.size ?? 0n); }
  get linkname(): string { return this.st?.isSymbolicLink() ? readlinkSync(this.abs) : ''; }
  get devmajor(): number { return this.st ? devMajor(this.st.rdev) : 0; }
  get devminor(): number { return this.st ? devMinor(this.st.rdev) : 0; }
  get linkKey(): unknown {
    const st = this.st;
    return st && !st.isDirectory() && st.nlink > 1n ? `${st.dev}:${st.ino}` : undefined;
  }
  children(): Iterable<readonly [string, LayerEntry]> { return this.kids; }
  content(): string { return this.abs; }
  xattrs(): ReadonlyMap<string, Buffer> | undefined {
    const found = this.st ? this.readXattrs(this.abs) : undefined;
    if (!this.opaque) return found;
    return new Map([...(found ?? []), ['trusted.overlay.opaque', Buffer.from('y')]]);
  }
}


export interface TreeDiffInput {
  /** The parent stack's root (unchanged by the step). */
  before: string;
  /** The step's root after the command. */
  after: string;
  /** recordIdentities(after) taken just before the command ran. */
  identities: ReadonlyMap<string, Identity>;
  /** Relative paths of mount points and files kiln put there for the run: not the step's doing. */
  stubs: ReadonlySet<string>;
  /** The extended attributes a layer records, of an entry of `after`. */
  xattrs: XattrReader;
  /** Owners, where the disk does not hold them (default: the disk's). */
  ownerOf?: OwnerOf;
}

export interface TreeDiff {
  root: LayerEntry;
  /** Nothing changed: the step makes an empty layer. */
  empty: boolean;
  /** Relative paths of the entries of `after` in the layer (for clamping their times). */
  included: string[];
}

export function diffTrees(input: TreeDiffInput): TreeDiff {
  const included: string[] = [];
  const node = (rel: string, opaque: boolean): DiffEntry => {
    const abs = join(input.after, rel);
    included.push(rel);
    return new DiffEntry(abs, lstatSync(abs, { bigint: true }), opaque, input.xattrs, input.ownerOf);
  };
  /** Everything under a new directory is new. */
  const whole = (entry: DiffEntry, rel: string): void => {
    for (const name of readdirSync(join(input.after, rel))) {
      const childRel = `${rel}/${name}`;
      if (input.stubs.has(childRel)) continue;
      const child = node(childRel, false);
      entry.kids.set(name, child);
      if (child.type === 'directory') whole(child, childRel);
    }
  };
  /** The changes inside a directory both trees have (the same directory); true when any. */
  const compare = (dir: DiffEntry, rel: string): boolean => {
    const afterAbs = rel === '' ? input.after : join(input.after, rel);
    const beforeAbs = rel === '' ? input.before : join(input.before, rel);
    const present = new Set<string>();
    let changed = false;
    for (const name of readdirSync(afterAbs)) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      present.add(name);
      if (input.stubs.has(childRel)) continue;
      const st = lstatSync(join(afterAbs, name), { bigint: true });
      const id = input.identities.get(childRel);
      const before = lstatSync(join(beforeAbs, name), { bigint: true, throwIfNoEntry: false });
      if (id === undefined || !sameInode(id, st) || before === undefined) {
        const fresh = node(childRel, st.isDirectory() && before !== undefined);
        dir.kids.set(name, fresh);
        if (st.isDirectory()) whole(fresh, childRel);
        changed = true;
        continue;
      }
      const touched = touchedBy(id, st);
      if (st.isDirectory() && before.isDirectory()) {
        const sub = new DiffEntry(join(afterAbs, name), st, false, input.xattrs, input.ownerOf);
        const at = included.length;
        included.push(childRel);
        if (compare(sub, childRel) || touched) {
          dir.kids.set(name, sub);
          changed = true;
        } else {
          included.splice(at, 1);
        }
        continue;
      }
      if (touched) {
        dir.kids.set(name, node(childRel, false));
        changed = true;
      }
    }
    for (const name of readdirSync(beforeAbs)) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      if (present.has(name) || input.stubs.has(childRel)) continue;
      dir.kids.set(`.wh.${name}`, new DiffEntry(join(afterAbs, name), undefined, false, input.xattrs));
      changed = true;
    }
    return changed;
  };
  const root = new DiffEntry(input.after, lstatSync(input.after, { bigint: true }), false, input.xattrs, input.ownerOf);
  const empty = !compare(root, '');
  return { root, empty, included };
}

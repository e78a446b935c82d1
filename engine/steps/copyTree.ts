/**
 * Writing copied entries into a layer: files, directories and symlinks with their modes, owners
 * and mtimes; hardlinks kept within one copy; parent directories that already exist in the image
 * given their existing attributes so the layer does not change them. The layer is a DiffTree in
 * memory: a file's bytes stay in its source until the layer tar is written, so a COPY reads each
 * source once and creates no file on disk. Source metadata calls are synchronous on purpose: a
 * copy is thousands of tiny calls, and a thread-pool round trip for each one cost seconds.
 */
import { lstatSync, readdirSync, readlinkSync, statSync, type Stats } from 'node:fs';
import { join, posix } from 'node:path';
import { DiffNode, type DiffTree, type NodeAttrs } from '../layer/diffTree.js';
import type { EntryStats } from '../host/directoryListing.js';
import { devMajor, devMinor } from '../host/deviceNumbers.js';
import type { ModeChange } from './chmod.js';
import type { Owner } from './chown.js';
import type { StageView } from './snapshotter.js';
import { imageOwner } from '../store/ownerLedger.js';

/** A destination the copy cannot make: a directory where the image (or this copy) has a file. */
export class CopyDestinationError extends Error {}

export interface EntryAttrs {
  /** A fixed owner (`--chown`, or 0:0 for context files); undefined keeps the source's. */
  owner: Owner | undefined;
  chmod: ModeChange | undefined;
}

function attrsOf(stats: EntryStats, mode: number, owner: Owner): NodeAttrs {
  return { mode, uid: owner.uid, gid: owner.gid, mtimeMs: stats.mtime.getTime() };
}

/** Tracks hardlinked inodes within one copy so they stay linked in the layer. */
export class CopyWriter {
  private readonly inodes = new Map<string, string>();
  /**
   * Directories this writer made or gave attributes: their mtime is the one it chose, even when
   * an archive unpacked into them names them too (as if their times were set after everything).
   */
  private readonly timed = new Set<DiffNode>();

  constructor(
    readonly tree: DiffTree,
    /** The destination image as it is, for existing parents; undefined for `--link`. */
    private readonly view: StageView | undefined,
    /** Owner and mtime for directories the copy has to create. */
    private readonly newDirOwner: Owner,
    private readonly newDirTime: Date,
    /** Their mode: 0755, or an octal --chmod's. */
    private readonly newDirMode = 0o755,
  ) {}

  /**
   * `imagePath` with every symlink on the way followed inside the image root, as an archive
   * unpacked in a chroot follows them: this layer's symlinks first, then the image's. Paths in
   * `keep` are taken as they are (an archive's own directory entry replaces a symlink there).
   */
  resolvePath(imagePath: string, keep: ReadonlySet<string> = new Set()): string {
    let rest = imagePath.split('/').filter((p) => p !== '' && p !== '.');
    let resolved: string[] = [];
    for (let hops = 0; rest.length > 0;) {
      const name = rest.shift() as string;
      if (name === '..') { resolved.pop(); continue; }
      const candidate = '/' + [...resolved, name].join('/');
      const link = keep.has(candidate) ? undefined : this.symlinkAt(candidate);
      if (link === undefined) { resolved.push(name); continue; }
      if (++hops > 40) throw new Error(`${imagePath}: too many levels of symbolic links`);
      if (link.startsWith('/')) resolved = [];
      rest = [...link.split('/').filter((p) => p !== '' && p !== '.'), ...rest];
    }
    return '/' + resolved.join('/');
  }

  /** The target of a symlink at `imagePath` (whose parents are resolved already), if it is one. */
  private symlinkAt(imagePath: string): string | undefined {
    const node = this.tree.get(imagePath);
    if (node) return node.type === 'symlink' ? node.linkname : undefined;
    if (!this.view) return undefined;
    try {
      const host = join(this.view.root, imagePath);
      return lstatSync(host).isSymbolicLink() ? readlinkSync(host) : undefined;
    } catch { return undefined; }
  }

  /** Whether this copy already made `imagePath` a directory. */
  async hasDir(imagePath: string): Promise<boolean> {
    return this.tree.get(imagePath)?.type === 'directory';
  }

  /** Makes sure every ancestor of `imagePath` exists in the layer. */
  async ensureParents(imagePath: string): Promise<void> {
    const parts = imagePath.split('/').filter((p) => p !== '');
    let cur = '';
    for (let i = 0; i < parts.length - 1; i++) {
      cur += '/' + parts[i];
      await this.ensureDir(cur, undefined);
    }
  }

  /**
   * A directory at `imagePath`: created if needed, with the existing image directory's
   * attributes, else `attrsFrom` (a copied source dir), else the defaults for new dirs.
   */
  async ensureDir(imagePath: string, source: { stats: EntryStats; attrs: EntryAttrs } | undefined): Promise<void> {
    const existing = this.tree.get(imagePath);
    if (existing?.type === 'directory') {
      if (source) this.applyDirAttrs(existing, source);
      return;
    }
    const lower = this.view ? await this.view.statIn(imagePath) : undefined;
    // A file where a directory must go (ADD a.txt b.tar /dest unpacking into the file a.txt
    // became) fails, as BuildKit's mkdir does; a symlink this copy made is still replaced.
    if (existing?.type === 'file' || (existing === undefined && lower !== undefined && !lower.isDirectory())) {
      throw new CopyDestinationError(`mkdir ${imagePath}: not a directory`);
    }
    const dir = this.tree.put(imagePath, DiffNode.directory({ mode: 0o755, uid: 0, gid: 0, mtimeMs: 0 }));
    this.timed.add(dir);
    if (source) { this.applyDirAttrs(dir, source); return; }
    if (lower?.isDirectory()) dir.setAttrs(attrsOf(lower, lower.mode & 0o7777, imageOwner(lower)));
    else dir.setAttrs({ mode: this.newDirMode, uid: this.newDirOwner.uid, gid: this.newDirOwner.gid, mtimeMs: this.newDirTime.getTime() });
  }

  private applyDirAttrs(dir: DiffNode, source: { stats: EntryStats; attrs: EntryAttrs }): void {
    const { stats, attrs } = source;
    const mode = attrs.chmod ? attrs.chmod(stats.mode & 0o7777, true) : stats.mode & 0o7777;
    dir.setAttrs(attrsOf(stats, mode, attrs.owner ?? imageOwner(stats)));
    this.timed.add(dir);
  }

  /**
   * Copies one non-directory entry (file or symlink) from `srcPath` to `imagePath`. `bytes`: a
   * file's content already read (by the step's cache key), which the layer then need not read.
   */
  async copyEntry(srcPath: string, stats: EntryStats, imagePath: string, attrs: EntryAttrs, bytes?: Buffer): Promise<void> {
    this.tree.remove(imagePath);
    const owner = attrs.owner ?? imageOwner(stats);
    if (stats.isSymbolicLink()) {
      this.tree.put(imagePath, DiffNode.symlink(attrsOf(stats, 0o777, owner), readlinkSync(srcPath)));
      return;
    }
    if (stats.isSocket()) {
      // BuildKit copies a socket as a stub: an empty regular file with the socket's permissions.
      const mode = attrs.chmod ? attrs.chmod(stats.mode & 0o7777, false) : stats.mode & 0o7777;
      this.tree.put(imagePath, DiffNode.file(attrsOf(stats, mode, owner), Buffer.alloc(0), 0));
      return;
    }
    if (stats.isFIFO() || stats.isCharacterDevice() || stats.isBlockDevice()) {
      const type = stats.isFIFO() ? 'fifo' : stats.isBlockDevice() ? 'block-device' : 'character-device';
      const mode = attrs.chmod ? attrs.chmod(stats.mode & 0o7777, false) : stats.mode & 0o7777;
      const { rdev } = lstatSync(srcPath, { bigint: true });
      this.tree.put(imagePath, DiffNode.special(type, attrsOf(stats, mode, owner), devMajor(rdev), devMinor(rdev)));
      return;
    }
    if (!stats.isFile()) return;
    if (stats.nlink > 1) {
      const key = `${stats.dev}:${stats.ino}`;
      const first = this.inodes.get(key);
      // A source named twice lands on the same path again, after the removal above: the first
      // copy is gone then, and this one takes its place.
      const linked = first !== undefined && first !== imagePath ? this.tree.get(first) : undefined;
      if (linked && linked.type !== 'directory') {
        this.tree.put(imagePath, linked);
        return;
      }
      this.inodes.set(key, imagePath);
    }
    const mode = attrs.chmod ? attrs.chmod(stats.mode & 0o7777, false) : stats.mode & 0o7777;
    this.tree.put(imagePath, DiffNode.file(attrsOf(stats, mode, owner), bytes ?? srcPath, stats.size));
  }

  /** A file copied from a host path with the attributes given (ADD's downloads: read when the layer is written). */
  async writeFromPath(imagePath: string, srcPath: string, mode: number, owner: Owner, mtime: Date): Promise<void> {
    this.tree.remove(imagePath);
    this.tree.put(imagePath, DiffNode.file({ mode, uid: owner.uid, gid: owner.gid, mtimeMs: mtime.getTime() }, srcPath, statSync(srcPath).size));
  }

  /** A file with given content (heredoc sources). */
  async writeFile(imagePath: string, content: Buffer, mode: number, owner: Owner, mtime: Date): Promise<void> {
    this.tree.remove(imagePath);
    this.tree.put(imagePath, DiffNode.file({ mode, uid: owner.uid, gid: owner.gid, mtimeMs: mtime.getTime() }, content, content.length));
  }

  /**
   * Takes a tree unpacked on disk (an ADD archive, extracted into its own scratch dir) into the
   * layer at `destDir`. `listed` holds the image paths the archive has entries for: those take
   * the unpacked attributes; directories it only implies keep the ones the layer gave them. A
   * directory this writer made keeps its mtime either way. Files stay on disk until the layer
   * tar is written.
   */
  async takeUnpacked(hostDir: string, destDir: string, listed: ReadonlySet<string>): Promise<void> {
    const inodes = new Map<string, DiffNode>();
    const adoptDirAttrs = (dir: DiffNode, st: Stats): void => {
      const mtimeMs = this.timed.has(dir) ? dir.mtimeMs : st.mtime.getTime();
      dir.setAttrs({ mode: st.mode & 0o7777, ...imageOwner(st), mtimeMs });
    };
    // `named`: the path as the archive names it (for `listed`); `image`: where it lands, a
    // directory the archive only implies followed through a symlink the image has there.
    const walk = (host: string, named: string, image: string): void => {
      for (const name of readdirSync(host)) {
        const hostPath = join(host, name);
        const namedPath = posix.join(named, name);
        let imagePath = posix.join(image, name);
        const st = lstatSync(hostPath);
        const a: NodeAttrs = { mode: st.mode & 0o7777, ...imageOwner(st), mtimeMs: st.mtime.getTime() };
        if (st.isDirectory()) {
          if (!listed.has(namedPath)) imagePath = this.resolvePath(imagePath, listed);
          const existing = this.tree.get(imagePath);
          if (existing?.type === 'directory') {
            if (listed.has(namedPath)) adoptDirAttrs(existing, st);
          } else {
            this.tree.remove(imagePath);
            this.tree.put(imagePath, DiffNode.directory(a));
          }
          walk(hostPath, namedPath, imagePath);
          continue;
        }
        if (st.isSocket()) continue;
        this.tree.remove(imagePath);
        const key = st.nlink > 1 ? `${st.dev}:${st.ino}` : undefined;
        const known = key === undefined ? undefined : inodes.get(key);
        if (known) { this.tree.put(imagePath, known); continue; }
        let node: DiffNode;
        if (st.isFile()) node = DiffNode.file(a, hostPath, st.size);
        else if (st.isSymbolicLink()) node = DiffNode.symlink(a, readlinkSync(hostPath));
        else {
          const type = st.isFIFO() ? 'fifo' : st.isBlockDevice() ? 'block-device' : 'character-device';
          const { rdev } = lstatSync(hostPath, { bigint: true });
          node = DiffNode.special(type, a, devMajor(rdev), devMinor(rdev));
        }
        if (key !== undefined) inodes.set(key, node);
        this.tree.put(imagePath, node);
      }
    };
    walk(hostDir, destDir, destDir);
    const top = this.tree.get(destDir);
    if (listed.has(destDir) && top?.type === 'directory' && top !== this.tree.root) adoptDirAttrs(top, lstatSync(hostDir));
  }
}

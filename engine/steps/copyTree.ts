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
import { devMajor, devMinor } from '../layer/layerEntry.js';
import type { ModeChange } from './chmod.js';
import type { Owner } from './chown.js';
import type { StageView } from './snapshotter.js';

export interface EntryAttrs {
  /** A fixed owner (`--chown`, or 0:0 for context files); undefined keeps the source's. */
  owner: Owner | undefined;
  chmod: ModeChange | undefined;
}

function attrsOf(stats: Stats, mode: number, owner: Owner): NodeAttrs {
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
  ) {}

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
  async ensureDir(imagePath: string, source: { stats: Stats; attrs: EntryAttrs } | undefined): Promise<void> {
    const existing = this.tree.get(imagePath);
    if (existing?.type === 'directory') {
      if (source) this.applyDirAttrs(existing, source);
      return;
    }
    const dir = this.tree.put(imagePath, DiffNode.directory({ mode: 0o755, uid: 0, gid: 0, mtimeMs: 0 }));
    this.timed.add(dir);
    if (source) { this.applyDirAttrs(dir, source); return; }
    const lower = this.view ? await this.view.statIn(imagePath) : undefined;
    if (lower?.isDirectory()) dir.setAttrs(attrsOf(lower, lower.mode & 0o7777, lower));
    else dir.setAttrs({ mode: 0o755, uid: this.newDirOwner.uid, gid: this.newDirOwner.gid, mtimeMs: this.newDirTime.getTime() });
  }

  private applyDirAttrs(dir: DiffNode, source: { stats: Stats; attrs: EntryAttrs }): void {
    const { stats, attrs } = source;
    const mode = attrs.chmod ? attrs.chmod(stats.mode & 0o7777, true) : stats.mode & 0o7777;
    dir.setAttrs(attrsOf(stats, mode, attrs.owner ?? stats));
    this.timed.add(dir);
  }

  /** Copies one non-directory entry (file or symlink) from `srcPath` to `imagePath`. */
  async copyEntry(srcPath: string, stats: Stats, imagePath: string, attrs: EntryAttrs): Promise<void> {
    this.tree.remove(imagePath);
    const owner = attrs.owner ?? stats;
    if (stats.isSymbolicLink()) {
      this.tree.put(imagePath, DiffNode.symlink(attrsOf(stats, 0o777, owner), readlinkSync(srcPath)));
      return;
    }
    if (!stats.isFile()) return; // devices, fifos and sockets are not copied
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
    this.tree.put(imagePath, DiffNode.file(attrsOf(stats, mode, owner), srcPath, stats.size));
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
      dir.setAttrs({ mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtimeMs });
    };
    const walk = (host: string, image: string): void => {
      for (const name of readdirSync(host)) {
        const hostPath = join(host, name);
        const imagePath = posix.join(image, name);
        const st = lstatSync(hostPath);
        const a: NodeAttrs = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtimeMs: st.mtime.getTime() };
        if (st.isDirectory()) {
          const existing = this.tree.get(imagePath);
          if (existing?.type === 'directory') {
            if (listed.has(imagePath)) adoptDirAttrs(existing, st);
          } else {
            this.tree.remove(imagePath);
            this.tree.put(imagePath, DiffNode.directory(a));
          }
          walk(hostPath, imagePath);
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
    walk(hostDir, destDir);
    const top = this.tree.get(destDir);
    if (listed.has(destDir) && top?.type === 'directory' && top !== this.tree.root) adoptDirAttrs(top, lstatSync(hostDir));
  }
}

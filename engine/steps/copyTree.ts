/**
 * Writing copied entries into a layer's diff dir: files, directories and symlinks with their
 * modes, owners and mtimes; hardlinks kept within one copy; parent directories that already
 * exist in the image given their existing attributes so the layer does not change them.
 * File system calls are synchronous on purpose: a copy is thousands of tiny calls, and a
 * thread-pool round trip for each one made a 20,000-file COPY ten times slower.
 */
const SMALL_FILE = 64 * 1024;
const lstatOrUndefined = (p: string): Stats | undefined => lstatSync(p, { throwIfNoEntry: false });
import {
  chmodSync as chmod, copyFileSync as copyFile, constants, lchownSync as lchown, linkSync as link, lstatSync, lutimesSync as lutimes,
  mkdirSync as mkdir, readFileSync, readlinkSync as readlink, rmSync as rm, symlinkSync as symlink, utimesSync as utimes, writeFileSync as writeFile, type Stats,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { ModeChange } from './chmod.js';
import type { Owner } from './chown.js';
import type { RootfsView } from './rootfsView.js';

export interface EntryAttrs {
  /** A fixed owner (`--chown`, or 0:0 for context files); undefined keeps the source's. */
  owner: Owner | undefined;
  chmod: ModeChange | undefined;
}

/** Tracks hardlinked inodes within one copy so they stay linked in the layer. */
export class CopyWriter {
  private readonly inodes = new Map<string, string>();
  /** Directory mtimes to set once their children are written (writing a child changes them). */
  private readonly dirTimes = new Map<string, { atime: Date; mtime: Date }>();

  constructor(
    readonly diffDir: string,
    /** The destination image as it is, for existing parents; undefined for `--link`. */
    private readonly view: RootfsView | undefined,
    /** Owner and mtime for directories the copy has to create. */
    private readonly newDirOwner: Owner,
    private readonly newDirTime: Date,
  ) {}

  private host(imagePath: string): string {
    return join(this.diffDir, imagePath);
  }

  /** Whether this copy already made `imagePath` a directory. */
  async hasDir(imagePath: string): Promise<boolean> {
    return lstatOrUndefined(this.host(imagePath))?.isDirectory() === true;
  }

  /** Makes sure every ancestor of `imagePath` exists in the diff dir. */
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
    const hostPath = this.host(imagePath);
    const existing = lstatOrUndefined(hostPath);
    if (existing?.isDirectory()) {
      if (source) await this.applyDirAttrs(hostPath, source);
      return;
    }
    if (existing) rm(hostPath, { recursive: true, force: true });
    mkdir(hostPath);
    if (source) { await this.applyDirAttrs(hostPath, source); return; }
    const lower = this.view ? await this.view.statIn(imagePath) : undefined;
    if (lower?.isDirectory()) {
      lchown(hostPath, lower.uid, lower.gid);
      chmod(hostPath, lower.mode & 0o7777);
      this.dirTimes.set(hostPath, { atime: lower.atime, mtime: lower.mtime });
    } else {
      lchown(hostPath, this.newDirOwner.uid, this.newDirOwner.gid);
      chmod(hostPath, 0o755);
      this.dirTimes.set(hostPath, { atime: this.newDirTime, mtime: this.newDirTime });
    }
  }

  private async applyDirAttrs(hostPath: string, source: { stats: Stats; attrs: EntryAttrs }): Promise<void> {
    const { stats, attrs } = source;
    const mode = attrs.chmod ? attrs.chmod(stats.mode & 0o7777, true) : stats.mode & 0o7777;
    const owner = attrs.owner ?? { uid: stats.uid, gid: stats.gid };
    // Owner first: chown clears setuid/setgid bits, so the mode is set after it.
    lchown(hostPath, owner.uid, owner.gid);
    chmod(hostPath, mode);
    this.dirTimes.set(hostPath, { atime: stats.atime, mtime: stats.mtime });
  }

  /** Sets the directory times, deepest first, after everything is written. */
  async finish(): Promise<void> {
    const dirs = [...this.dirTimes.keys()].sort((a, b) => b.length - a.length);
    for (const d of dirs) {
      const t = this.dirTimes.get(d) as { atime: Date; mtime: Date };
      utimes(d, t.atime, t.mtime);
    }
  }

  /** Copies one non-directory entry (file or symlink) from `srcPath` to `imagePath`. */
  async copyEntry(srcPath: string, stats: Stats, imagePath: string, attrs: EntryAttrs): Promise<void> {
    const hostPath = this.host(imagePath);
    const existing = lstatOrUndefined(hostPath);
    if (existing) rm(hostPath, { recursive: true, force: true });
    const owner = attrs.owner ?? { uid: stats.uid, gid: stats.gid };
    if (stats.isSymbolicLink()) {
      symlink(readlink(srcPath), hostPath);
      lchown(hostPath, owner.uid, owner.gid);
      lutimes(hostPath, stats.atime, stats.mtime);
      return;
    }
    if (!stats.isFile()) return; // devices, fifos and sockets are not copied
    if (stats.nlink > 1) {
      const key = `${stats.dev}:${stats.ino}`;
      const first = this.inodes.get(key);
      // A source named twice lands on the same path again, after the removal above: the
      // first copy is gone then, and this one takes its place.
      if (first !== undefined && first !== hostPath && lstatOrUndefined(first)) {
        link(first, hostPath);
        return;
      }
      this.inodes.set(key, hostPath);
    }
    // Small files: one read and one write beat copyfile's extra probing; big ones are copied by the kernel.
    if (stats.size <= SMALL_FILE) writeFile(hostPath, readFileSync(srcPath));
    else copyFile(srcPath, hostPath, constants.COPYFILE_FICLONE);
    const mode = attrs.chmod ? attrs.chmod(stats.mode & 0o7777, false) : stats.mode & 0o7777;
    lchown(hostPath, owner.uid, owner.gid);
    chmod(hostPath, mode);
    utimes(hostPath, stats.atime, stats.mtime);
  }

  /** A file copied from a host path with the attributes given (ADD's downloads: streamed, never held in memory). */
  async writeFromPath(imagePath: string, srcPath: string, mode: number, owner: Owner, mtime: Date): Promise<void> {
    const hostPath = this.host(imagePath);
    rm(hostPath, { recursive: true, force: true });
    copyFile(srcPath, hostPath, constants.COPYFILE_FICLONE);
    lchown(hostPath, owner.uid, owner.gid);
    chmod(hostPath, mode);
    utimes(hostPath, mtime, mtime);
  }

  /** A file with given content (heredoc sources, downloads are written elsewhere and copied). */
  async writeFile(imagePath: string, content: Buffer, mode: number, owner: Owner, mtime: Date): Promise<void> {
    const hostPath = this.host(imagePath);
    rm(hostPath, { recursive: true, force: true });
    mkdir(dirname(hostPath), { recursive: true });
    writeFile(hostPath, content, { mode });
    lchown(hostPath, owner.uid, owner.gid);
    chmod(hostPath, mode);
    utimes(hostPath, mtime, mtime);
  }
}

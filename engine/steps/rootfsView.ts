/**
 * A read-only view of a stage's root filesystem as one directory: the single layer itself,
 * or a read-only overlay mount of the stack. COPY reads its sources and destination checks
 * through it, and `--chown` names resolve against its /etc/passwd. Mounts are tracked so an
 * interrupted build leaves none behind.
 */
import { mkdir, readFile, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { closeSync, constants, openSync, type Stats } from 'node:fs';
import { KilnError } from '../errors/kilnError.js';
import { MOUNT_DATA_LIMIT } from '../runtime/mounts.js';
import { nativeBinding } from '../../native/index.js';
import { resolveInRoot } from '../context/scopedPath.js';
import type { LayerRef } from './state.js';
import { inUserNamespace } from '../host/privilege.js';
import type { EntryStats } from '../host/directoryListing.js';
import { earlierTeardowns } from '../runtime/mountTeardown.js';
import { topmostFirst } from '../layer/overlayStack.js';
import { isKernelRefusal, kernelRefused } from '../runtime/isolation.js';

const liveMounts = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const m of liveMounts) {
      try { nativeBinding().unmount(m, true); } catch { /* already gone */ }
    }
  });
}

/** An overlay whiteout as a single-layer view shows it: a 0:0 character device. */
export function isWhiteout(st: EntryStats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/** Where a view's directories come from: each layer's snapshot, and an empty dir when there are no layers. */
export interface ViewDirs {
  snapshotDir(diffId: string): Promise<string>;
  scratchDir(): Promise<string>;
}

/**
 * The `lowerdir=` option for a stack of layers. Mount options must fit in one page: a deep
 * stage's snapshot paths do not (about 45 layers of the store's paths). Then each layer is
 * named by a descriptor open on it, `/proc/self/fd/N`, which the kernel resolves when it
 * mounts, so the descriptors can close right after: room for about 220 layers, more than
 * docker allows an image (127).
 */
function lowerDirOption(lowerDirs: readonly string[]): { option: string; close: () => void } {
  const plain = `lowerdir=${lowerDirs.join(':')}`;
  if (plain.length <= MOUNT_DATA_LIMIT) return { option: plain, close: () => undefined };
  const fds: number[] = [];
  const close = (): void => { for (const fd of fds.splice(0)) closeSync(fd); };
  try {
    for (const d of lowerDirs) fds.push(openSync(d, constants.O_RDONLY | constants.O_DIRECTORY));
  } catch (e) {
    close();
    throw e;
  }
  const option = `lowerdir=${fds.map((fd) => `/proc/self/fd/${fd}`).join(':')}`;
  if (option.length > MOUNT_DATA_LIMIT) {
    close();
    throw new KilnError('TOO_MANY_LAYERS', `the stage has ${lowerDirs.length} layers, more than one overlay mount can stack`);
  }
  return { option, close };
}

/**
 * A directory read as an image's root: paths resolve inside it (symlinks included), and a
 * whiteout left by a single-layer view reads as absent. RootfsView adds the mount; the copy
 * snapshotter's views are plain directories.
 */
export class DirectoryView {
  constructor(readonly root: string) {}

  /** Host path of an image path, symlinks resolved inside the view. */
  resolve(path: string, followFinal = true): Promise<string> {
    return resolveInRoot(this.root, path, followFinal);
  }

  async statIn(path: string): Promise<Stats | undefined> {
    try {
      const st = await stat(await this.resolve(path));
      return isWhiteout(st) ? undefined : st;
    } catch { return undefined; }
  }

  async readText(path: string): Promise<string | undefined> {
    try { return await readFile(await this.resolve(path), 'utf8'); } catch { return undefined; }
  }

  async close(): Promise<void> {
    // a directory of the store: nothing to undo
  }
}

export class RootfsView extends DirectoryView {
  private constructor(
    root: string,
    private readonly mounted: boolean,
    /** The layers' snapshot dirs, topmost first (overlay lower dirs); empty for no layers. */
    readonly lowerDirs: readonly string[],
  ) {
    super(root);
  }

  static async open(layers: readonly LayerRef[], dirs: ViewDirs): Promise<RootfsView> {
    if (layers.length === 0) return new RootfsView(await dirs.scratchDir(), false, []);
    const lowerDirs: string[] = [];
    for (const diffId of topmostFirst(layers.map((l) => l.diffId))) lowerDirs.push(await dirs.snapshotDir(diffId));
    if (lowerDirs.length === 1) return new RootfsView(lowerDirs[0] as string, false, lowerDirs);
    const target = join(await dirs.scratchDir(), 'merged');
    await mkdir(target);
    await earlierTeardowns(); // a RUN's upper dir below must be free of its container's mount
    installExitHook();
    liveMounts.add(target);
    const lower = lowerDirOption(lowerDirs);
    try {
      // mount(2) through the addon: spawning mount(8) cost a process start per view.
      // In a user namespace (rootless build) opaque markers are user.overlay.* (userxattr).
      nativeBinding().mount('overlay', target, 'overlay', ['ro'], `${lower.option}${inUserNamespace() ? ',userxattr' : ''}`);
    } catch (e) {
      liveMounts.delete(target);
      if (isKernelRefusal(e)) throw kernelRefused("an overlay mount of the stage's layers", e, '--snapshotter copy works here (or auto)');
      throw new Error(`cannot mount a view of the stage's layers: ${(e as Error).message}`);
    } finally {
      lower.close();
    }
    return new RootfsView(target, true, lowerDirs);
  }

  override async close(): Promise<void> {
    if (!this.mounted) return;
    const native = nativeBinding();
    try { native.unmount(this.root, false); } catch { native.unmount(this.root, true); }
    liveMounts.delete(this.root);
    await rmdir(this.root).catch(() => undefined);
  }

}

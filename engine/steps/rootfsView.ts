/**
 * A read-only view of a stage's root filesystem as one directory: the single layer itself,
 * or a read-only overlay mount of the stack. COPY reads its sources and destination checks
 * through it, and `--chown` names resolve against its /etc/passwd. Mounts are tracked so an
 * interrupted build leaves none behind.
 */
import { mkdir, readFile, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Stats } from 'node:fs';
import { nativeBinding } from '../../native/index.js';
import { resolveInRoot } from '../context/scopedPath.js';
import type { LayerRef } from './state.js';
import { inUserNamespace } from '../runtime/privilege.js';

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
export function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/** Where a view's directories come from: each layer's snapshot, and an empty dir when there are no layers. */
export interface ViewDirs {
  snapshotDir(diffId: string): Promise<string>;
  scratchDir(): Promise<string>;
}

export class RootfsView {
  private constructor(
    readonly root: string,
    private readonly mounted: boolean,
    /** The layers' snapshot dirs, topmost first (overlay lower dirs); empty for no layers. */
    readonly lowerDirs: readonly string[],
  ) {}

  static async open(layers: readonly LayerRef[], dirs: ViewDirs): Promise<RootfsView> {
    if (layers.length === 0) return new RootfsView(await dirs.scratchDir(), false, []);
    const lowerDirs: string[] = [];
    for (const l of [...layers].reverse()) lowerDirs.push(await dirs.snapshotDir(l.diffId));
    if (lowerDirs.length === 1) return new RootfsView(lowerDirs[0] as string, false, lowerDirs);
    const target = join(await dirs.scratchDir(), 'merged');
    await mkdir(target);
    const lower = lowerDirs.join(':');
    installExitHook();
    liveMounts.add(target);
    try {
      // mount(2) through the addon: spawning mount(8) cost a process start per view.
      // In a user namespace (rootless build) opaque markers are user.overlay.* (userxattr).
      nativeBinding().mount('overlay', target, 'overlay', ['ro'], `lowerdir=${lower}${inUserNamespace() ? ',userxattr' : ''}`);
    } catch (e) {
      liveMounts.delete(target);
      throw new Error(`cannot mount a view of the stage's layers: ${(e as Error).message}`);
    }
    return new RootfsView(target, true, lowerDirs);
  }

  async close(): Promise<void> {
    if (!this.mounted) return;
    const native = nativeBinding();
    try { native.unmount(this.root, false); } catch { native.unmount(this.root, true); }
    liveMounts.delete(this.root);
    await rmdir(this.root).catch(() => undefined);
  }

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
}

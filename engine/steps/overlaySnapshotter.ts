/**
 * The overlay snapshotter: each layer extracted once in the form overlayfs reads from a lower dir
 * (store/snapshots.ts); a stage view is a read-only overlay of the stack (rootfsView.ts), a RUN
 * root an overlay with a fresh upper dir, and that upper dir, whiteouts and opaque marks as
 * overlayfs left them, is the step's layer (and then that layer's snapshot).
 *
 * Under a RUN root's layers lies one more lower dir holding the runtime's mount points (/proc,
 * /dev, /sys, the /etc files): where a layer lacks one, the runtime finds it there instead of
 * making it in the upper dir, where it would have to be taken out again before the layer is
 * written (and /etc copied up and back for it). The layers above hide it wherever they have
 * the path, as they hide each other.
 */
import { chmodSync, closeSync, lstatSync, lutimesSync, mkdirSync, openSync, readdirSync } from 'node:fs';
import { rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { RUNTIME_DIRS, RUNTIME_FILES } from './runStubs.js';
import { releaseScratchDir } from '../store/scratch.js';
import { RootfsView, type ViewDirs } from './rootfsView.js';
import { StageFiles } from './stageFiles.js';
import type { CapturedLayer, RunRoot, Snapshotter, StageView } from './snapshotter.js';
import type { LayerRef } from './state.js';

/** Lowers every mtime newer than `seconds` to it (children before their directory). */
export function clampTreeMtimes(dir: string, seconds: number): void {
  const limit = new Date(seconds * 1000);
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      if (lstatSync(p).mtimeMs > seconds * 1000) lutimesSync(p, limit, limit);
    }
  };
  walk(dir);
}

/** Fills a dir with the runtime's mount points: empty dirs and files, 0755 and 0644 whatever the umask. */
function makeMountPoints(dir: string): void {
  for (const d of RUNTIME_DIRS) {
    mkdirSync(join(dir, d));
    chmodSync(join(dir, d), 0o755);
  }
  for (const f of RUNTIME_FILES) {
    if (mkdirSync(join(dir, dirname(f)), { recursive: true }) !== undefined) chmodSync(join(dir, dirname(f)), 0o755);
    closeSync(openSync(join(dir, f), 'wx'));
    chmodSync(join(dir, f), 0o644);
  }
}

/**
 * The overlay's work dir once the step is done, removed behind the next steps: overlayfs leaves
 * it holding one empty `work` dir, and two rmdirs on the thread pool take it away for a
 * fraction of a recursive removal's cost (a dozen round trips and their callbacks, on the main
 * thread between two steps); the two take the kernel about 0.3 ms here (a CPU profile), too
 * long to wait for there. Anything else in it is removed recursively (and, like every scratch
 * dir, at exit if still there; once gone, the exit has nothing to do for it).
 */
function removeWorkDir(workDir: string): void {
  void rmdir(join(workDir, 'work'))
    .then(() => rmdir(workDir))
    .catch(() => rm(workDir, { recursive: true, force: true }))
    .then(() => releaseScratchDir(workDir), () => undefined);
}

export class OverlaySnapshotter implements Snapshotter {
  readonly kind = 'overlay' as const;
  /** The lower dir of mount points, made once for the build (a scratch dir: removed at exit). */
  private mountPoints: Promise<string> | undefined;

  constructor(private readonly dirs: ViewDirs) {}

  private mountPointLower(): Promise<string> {
    return (this.mountPoints ??= this.dirs.scratchDir().then((dir) => { makeMountPoints(dir); return dir; }));
  }

  openView(layers: readonly LayerRef[]): Promise<StageView> {
    return RootfsView.open(layers, this.dirs);
  }

  async prepareRun(layers: readonly LayerRef[]): Promise<RunRoot> {
    // Read from the layers' dirs: no view is mounted unless a path goes through a symlink.
    const files = await StageFiles.open(layers, this.dirs);
    const upperDir = await this.dirs.scratchDir();
    const workDir = await this.dirs.scratchDir();
    // Also the lower dir overlay needs for a stage with no layer yet.
    const lowerDirs = [...files.lowerDirs, await this.mountPointLower()];
    let adopted = false;
    const captured: CapturedLayer = {
      diff: upperDir,
      get empty() { return readdirSync(upperDir).length === 0; },
      // The dir becomes the layer's snapshot, which later COPY --from reads: clamped like the tar.
      clamp: async (seconds) => clampTreeMtimes(upperDir, seconds),
      keep: async () => { adopted = true; }, // the store adopted the upper dir as the layer's snapshot
    };
    return {
      rootfs: { kind: 'overlay', lowerDirs, upperDir, workDir },
      files,
      watch: () => undefined,
      capture: async () => captured,
      discard: async () => {
        await files.close();
        if (!adopted) await rm(upperDir, { recursive: true, force: true });
        removeWorkDir(workDir);
      },
    };
  }
}

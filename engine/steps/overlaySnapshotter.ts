/**
 * The overlay snapshotter: each layer extracted once in the form overlayfs reads from a lower dir
 * (store/snapshots.ts); a stage view is a read-only overlay of the stack (rootfsView.ts), a RUN
 * root an overlay with a fresh upper dir, and that upper dir, whiteouts and opaque marks as
 * overlayfs left them, is the step's layer (and then that layer's snapshot).
 */
import { lstatSync, lutimesSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
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

export class OverlaySnapshotter implements Snapshotter {
  readonly kind = 'overlay' as const;

  constructor(private readonly dirs: ViewDirs) {}

  openView(layers: readonly LayerRef[]): Promise<StageView> {
    return RootfsView.open(layers, this.dirs);
  }

  async prepareRun(layers: readonly LayerRef[]): Promise<RunRoot> {
    // Read from the layers' dirs: no view is mounted unless a path goes through a symlink.
    const files = await StageFiles.open(layers, this.dirs);
    const upperDir = await this.dirs.scratchDir();
    const workDir = await this.dirs.scratchDir();
    // Overlay needs a lower dir: a stage with no layer yet gets an empty one.
    const emptyLower = files.lowerDirs.length === 0 ? await this.dirs.scratchDir() : undefined;
    const lowerDirs = emptyLower !== undefined ? [emptyLower] : [...files.lowerDirs];
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
        // Nothing waits for the overlay's work dir to go: removed in the background (and, like
        // every scratch dir, at exit if still there).
        void rm(workDir, { recursive: true, force: true }).catch(() => undefined);
        if (emptyLower !== undefined) await rm(emptyLower, { recursive: true, force: true });
      },
    };
  }
}

/** What a stage is between steps: its image config, its layer stack and its declared ARGs. */
import type { ImageConfig } from '../image/config.js';
import type { LayerEntry } from '../layer/layerEntry.js';
import type { StageArgs } from '../plan/args.js';
import type { Platform } from '../image/platform.js';

/**
 * A layer of a stage. Its files as a directory (overlay form, usable as a lower dir) come from
 * `LayerStorage.snapshotDir(diffId)` when something needs them: a COPY's layer is only a blob
 * until a later step, COPY --from or `kiln run` reads it.
 */
export interface LayerRef {
  /** `sha256:…` of the uncompressed layer tar. */
  diffId: string;
}

export interface StageState {
  config: ImageConfig;
  /** Bottom-most first, one per non-empty history entry. */
  layers: LayerRef[];
  args: StageArgs;
  platform: Platform;
  /** CMD was set in this stage: a later ENTRYPOINT keeps it. */
  cmdSetInStage: boolean;
}

/** Where steps put new layers: the store, behind a small port so steps don't know it. */
export interface LayerStorage {
  /** A fresh empty directory on the store's filesystem, removed when the build ends. */
  scratchDir(): Promise<string>;
  /** The layer's files in overlay form, extracted from its blob the first time they are needed. */
  snapshotDir(diffId: string): Promise<string>;
  /** Turns a filled diff dir into a stored layer (mtimes clamped to `clampMtime` seconds when given); the dir is moved in as its snapshot. */
  commitLayer(dir: string, whiteouts: 'overlay' | 'none', clampMtime?: number): Promise<LayerRef>;
  /**
   * Writes a layer built in memory (COPY's tree, or a RUN's captured changes, whose whiteouts
   * are overlay's) to the store, mtimes clamped as above; no snapshot dir is made for it.
   */
  commitTree(tree: { readonly root: LayerEntry }, clampMtime?: number, whiteouts?: 'overlay' | 'none'): Promise<LayerRef>;
}

/** What a stage is between steps: its image config, its layer stack and its declared ARGs. */
import type { ImageConfig } from '../image/config.js';
import type { StageArgs } from '../plan/args.js';
import type { Platform } from '../plan/platform.js';

export interface LayerRef {
  /** `sha256:…` of the uncompressed layer tar. */
  diffId: string;
  /** The layer's files in overlay form, usable as an overlay lower dir. */
  dir: string;
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
  /** Turns a filled diff dir into a stored layer (mtimes clamped to `clampMtime` seconds when given); the dir is moved in as its snapshot. */
  commitLayer(dir: string, whiteouts: 'overlay' | 'none', clampMtime?: number): Promise<LayerRef>;
}

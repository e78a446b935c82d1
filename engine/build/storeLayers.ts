/**
 * Where a build's steps put their layers: the store, behind the small LayerStorage port the
 * steps know (steps/state.ts). Blobs land behind the build (fsync, rename): the next step needs
 * only a layer's digest and snapshot. The tar writer loads on the first layer (lateLoading.ts):
 * a build served wholly from the cache writes none.
 */
import { chmodSync } from 'node:fs';
import type { LayerEntry } from '../layer/layerEntry.js';
import { layerWriter } from '../lateLoading.js';
import type { LayerRef, LayerStorage } from '../steps/state.js';
import type { Store } from '../store/store.js';

export class StoreLayers implements LayerStorage {
  constructor(private readonly store: Store) {}
  /** Diff dirs become overlay dirs whose root attributes show as the image's `/`: 0755 root. */
  async scratchDir(): Promise<string> {
    const dir = await this.store.scratchDir('build');
    chmodSync(dir, 0o755);
    return dir;
  }
  snapshotDir(diffId: string): Promise<string> {
    return this.store.snapshotDir(diffId);
  }
  async commitLayer(dir: string, whiteouts: 'overlay' | 'none', clampMtime?: number): Promise<LayerRef> {
    const { diffId } = await (await layerWriter()).writeLayer(this.store, dir, { whiteouts, ...(clampMtime !== undefined ? { sourceDateEpoch: clampMtime } : {}) }, 'behind');
    await this.store.adoptSnapshot(diffId, dir);
    return { diffId };
  }
  async commitTree(tree: { readonly root: LayerEntry }, clampMtime?: number, whiteouts: 'overlay' | 'none' = 'none'): Promise<LayerRef> {
    const { diffId } = await (await layerWriter()).writeLayer(this.store, tree.root, { whiteouts, ...(clampMtime !== undefined ? { sourceDateEpoch: clampMtime } : {}) }, 'behind');
    return { diffId };
  }
}

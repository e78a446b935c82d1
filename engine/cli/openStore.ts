/**
 * The store a CLI verb works on: --root (global flag, passed as KILN_ROOT) or the default,
 * handed the layer unpacker it makes snapshots with (the store knows no layer format).
 */
import { Store } from '../store/store.js';
import type { LayerUnpacker } from '../store/layerUnpacker.js';
import { layerExtraction } from '../lateLoading.js';

/** layer/extract.ts's extractTar, loaded when a snapshot is first made (most commands make none). */
export const unpackLayer: LayerUnpacker = async (blob, dest, opts) => (await layerExtraction()).extractTar(blob, dest, opts);

export function openStore(): Promise<Store> {
  return Store.open({ unpackLayer });
}

/**
 * `kiln system df`: the store measured as docker measures its own — images, the build cache
 * (records and the layers only they keep), snapshots, and blobs nothing references — each with
 * what a prune would reclaim.
 */
import type { Store } from '../engine/store/store.js';
import { DEFAULT_UNUSED_MS, treeSize } from './prune.js';
import { CacheIndex } from './recordIndex.js';

export interface DiskUsageRow {
  type: string;
  total: number;
  /** Things in use: tagged images, records used in the last 48 h, referenced layers. */
  active: number;
  size: number;
  reclaimable: number;
}

/** The rows of `kiln system df`. */
export async function diskUsage(store: Store): Promise<DiskUsageRow[]> {
  const index = new CacheIndex(store.root);
  const images = await store.listImages();
  const imageLayers = new Set<string>();
  const taggedLayers = new Set<string>();
  for (const img of images) {
    for (const d of img.config.rootfs.diff_ids) {
      imageLayers.add(d);
      if (img.tags.length > 0) taggedLayers.add(d);
    }
  }
  const records = await index.list();
  const cacheLayers = new Set<string>();
  const now = Date.now();
  let recordsSize = 0;
  let activeRecords = 0;
  for (const r of records) {
    recordsSize += r.size;
    if (now - r.lastUsed.getTime() <= DEFAULT_UNUSED_MS) activeRecords++;
    for (const d of r.diffIds) cacheLayers.add(d);
  }
  const blobSize = new Map<string, number>();
  for (const d of await store.blobs.list()) blobSize.set(d, await store.blobs.size(d).catch(() => 0));
  const sum = (ids: Iterable<string>): number => [...ids].reduce((n, d) => n + (blobSize.get(d) ?? 0), 0);

  const imagesSize = sum(imageLayers);
  const danglingOnly = [...imageLayers].filter((d) => !taggedLayers.has(d));
  const cacheOnly = [...cacheLayers].filter((d) => !imageLayers.has(d));
  const unreferenced = [...blobSize.keys()].filter((d) => !imageLayers.has(d) && !cacheLayers.has(d) && !images.some((i) => i.id === d));

  let snapshotsSize = 0;
  let snapshotsReclaimable = 0;
  const snapshots = await store.snapshots.list();
  let activeSnapshots = 0;
  for (const s of snapshots) {
    // A snapshot is its layer unpacked: the layer's (uncompressed) size is its apparent size
    // within a few percent, and costs one stat instead of a walk of every file.
    const size = blobSize.get(s) ?? (await treeSize(store.snapshots.path(s)));
    snapshotsSize += size;
    if (imageLayers.has(s) || cacheLayers.has(s)) activeSnapshots++;
    else snapshotsReclaimable += size;
  }
  return [
    { type: 'Images', total: images.length, active: images.filter((i) => i.tags.length > 0).length, size: imagesSize, reclaimable: sum(danglingOnly) },
    { type: 'Build Cache', total: records.length, active: activeRecords, size: sum(cacheOnly) + recordsSize, reclaimable: sum(cacheOnly) + recordsSize },
    { type: 'Snapshots', total: snapshots.length, active: activeSnapshots, size: snapshotsSize, reclaimable: snapshotsReclaimable },
    { type: 'Unreferenced blobs', total: unreferenced.length, active: 0, size: sum(unreferenced), reclaimable: sum(unreferenced) },
  ];
}

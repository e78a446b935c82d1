/**
 * Pruning the build cache and what it alone keeps alive, and measuring the store for
 * `kiln system df`. Records go first; then the store's gc removes every blob and snapshot
 * that neither an image nor a remaining record needs. All of it is one collection (under the
 * store's lock): records and content that running operations hold (their leases) stay.
 */
import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Store } from '../engine/store/store.js';
import { CacheIndex } from './recordIndex.js';
import { recordLeaseName } from '../engine/store/leases.js';
import { liveWritersTemp, sweepDeadTemps } from '../engine/store/atomicFile.js';

export interface PruneOptions {
  /** Every cache record, not only stale ones. */
  all?: boolean;
  /** Without --all: records not used for this long go (default 48 hours). */
  unusedForMs?: number;
}

export interface PruneResult {
  removedRecords: number;
  removedBlobs: string[];
  removedSnapshots: string[];
  reclaimedBytes: number;
}

export const DEFAULT_UNUSED_MS = 48 * 3600_000;

export async function pruneCache(store: Store, options: PruneOptions = {}): Promise<PruneResult> {
  // One collection: records and what only they keep are decided on one view of the leases.
  return store.withCollection(async (collection) => {
    const index = new CacheIndex(store.root);
    const now = Date.now();
    const unusedFor = options.unusedForMs ?? DEFAULT_UNUSED_MS;
    let removedRecords = 0;
    let recordBytes = 0;
    const keep: string[] = [];
    for (const info of await index.list()) {
      const leased = collection.held.has(recordLeaseName(info.key));
      const missing = await Promise.all(info.diffIds.map(async (d) => !(await store.hasBlob(d))));
      const stale = now - info.lastUsed.getTime() > unusedFor;
      if (!leased && (options.all || stale || missing.some(Boolean))) {
        await index.remove(info.key);
        removedRecords++;
        recordBytes += info.size;
      } else {
        keep.push(...info.layers);
      }
    }
    if (options.all) {
      // --explain's memory and the stat caches go too: a clean slate. Files only: a build may be
      // writing beside them, into these very dirs.
      for (const dir of ['inputs', 'stat']) recordBytes += await removeFilesUnder(join(store.root, 'cache', dir));
    }
    // Temp files of dead writers anywhere under cache/ (records, parsed recipes, …), and of
    // atomic writes of image records and refs.
    await sweepDeadTempsUnder(join(store.root, 'cache'));
    for (const dir of [store.root, join(store.root, 'images')]) await sweepDeadTemps(dir);
    // Snapshot sizes are measured before gc removes them, so the report can include them.
    const gcOptions = { keepBlobs: keep, ...(options.all ? { graceMs: 0 } : {}) };
    const planned = await store.collect(collection, { ...gcOptions, dryRun: true });
    const snapshotBytes = new Map<string, number>();
    for (const s of planned.removedSnapshots) snapshotBytes.set(s, await treeSize(store.snapshots.path(s)));
    for (const c of planned.removedRootfs) snapshotBytes.set(`rootfs:${c}`, await treeSize(join(store.rootfsCopies.dir, c.slice(7))));
    const done = await store.collect(collection, gcOptions);
    let reclaimed = done.reclaimedBytes + recordBytes;
    for (const s of done.removedSnapshots) reclaimed += snapshotBytes.get(s) ?? 0;
    for (const c of done.removedRootfs) reclaimed += snapshotBytes.get(`rootfs:${c}`) ?? 0;
    // The copy snapshotter's whole roots are snapshots too, to whoever reads the report.
    return { removedRecords, removedBlobs: done.removedBlobs, removedSnapshots: [...done.removedSnapshots, ...done.removedRootfs], reclaimedBytes: reclaimed };
  });
}

/**
 * Removes the files under `dir` (not the dirs: a writer may be about to create a file in one),
 * leaving the temp files of live writers, which are about to be renamed into place. Returns the
 * bytes removed. Files appearing or going meanwhile are fine.
 */
async function removeFilesUnder(dir: string): Promise<number> {
  let removed = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      removed += await removeFilesUnder(path);
      continue;
    }
    if (liveWritersTemp(e.name)) continue;
    const st = await lstat(path).catch(() => undefined);
    await rm(path, { force: true });
    removed += st?.size ?? 0;
  }
  return removed;
}

/** Temp files of cache writers (records, parsed recipes, …) that were killed mid-write, in `dir` and below. */
async function sweepDeadTempsUnder(dir: string): Promise<void> {
  await sweepDeadTemps(dir);
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) if (e.isDirectory()) await sweepDeadTempsUnder(join(dir, e.name));
}

/** Apparent size of everything under `path` (0 when it does not exist). */
export async function treeSize(path: string): Promise<number> {
  let st;
  try {
    st = await lstat(path);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const name of await readdir(path).catch(() => [] as string[])) total += await treeSize(join(path, name));
  return total;
}

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

/** Sizes as docker prints them: decimal units, three significant digits ("12.3MB"). */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : Number(v.toPrecision(3))}${units[i]}`;
}

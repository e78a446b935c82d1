/**
 * Pruning the build cache and what it alone keeps alive (`kiln prune`; what `kiln system df`
 * counts as reclaimable is in diskUsage.ts). Records go first, by their file's age alone; then
 * the store's gc removes every blob and snapshot that neither an image nor a remaining record
 * needs. The kept records are read (for the layers they keep, and to drop those whose own layers
 * are gone) only when the store holds something no image nor lease holds: with 1,000 images and
 * 10,000 records that is 10,000 file reads a prune with nothing to take need not make. All of it
 * is one collection (under the store's lock): records and content that running operations hold
 * (their leases) stay.
 */
import { lstat, readdir, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Store } from '../engine/store/store.js';
import { CacheIndex, type RecordFileEntry } from './recordIndex.js';
import { recordLeaseName } from '../engine/store/leases.js';
import { liveWritersTemp } from '../engine/store/atomicFile.js';

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
    const leased = (e: RecordFileEntry): boolean => collection.held.has(recordLeaseName(e.key));
    let removedRecords = 0;
    let recordBytes = 0;
    const dropRecord = async (e: RecordFileEntry): Promise<void> => {
      await index.remove(e.key);
      removedRecords++;
      recordBytes += e.size;
    };
    // A record's age and size are its file's (the listing's lstat): one that goes is never read.
    const kept: RecordFileEntry[] = [];
    for (const e of index.entries()) {
      if (!leased(e) && (options.all || now - e.lastUsedMs > unusedFor)) await dropRecord(e);
      else kept.push(e);
    }
    if (options.all) {
      // --explain's memory, the stat caches and the builds' replay records go too: a clean slate. Files only: a build may be
      // writing beside them, into these very dirs.
      for (const dir of ['inputs', 'stat', 'replay']) recordBytes += await removeFilesUnder(join(store.root, 'cache', dir));
    }
    // Temp files of dead writers anywhere under cache/ (records, parsed recipes, …), and of
    // atomic writes of image records and refs.
    for (const path of await Store.deadWritersTemps(store.root)) await unlink(path).catch(() => undefined);
    const held = await store.heldContent(collection);
    const gcOptions = options.all ? { graceMs: 0 } : {};
    let planned = await store.planAgainst(held, gcOptions);
    if (planned.unheld > 0) {
      // Content no image nor running operation holds: what the kept records need of it stays.
      // Only then are they read (a store whose images hold everything reads none of its 10,000).
      const keep = await keptLayers(store, index, kept.filter((e) => !leased(e)), dropRecord);
      for (const e of kept) if (leased(e)) keep.push(...(index.read(e)?.layers ?? []));
      planned = await store.planAgainst(held, { ...gcOptions, keepBlobs: keep });
    }
    // Snapshot sizes are measured before gc removes them, so the report can include them.
    let reclaimed = planned.reclaimedBytes + recordBytes;
    for (const s of planned.removedSnapshots) reclaimed += await treeSize(store.snapshots.path(s));
    for (const c of planned.removedRootfs) reclaimed += await treeSize(join(store.rootfsCopies.dir, c.slice(7)));
    const done = await store.removeCollected(planned);
    // The copy snapshotter's whole roots are snapshots too, to whoever reads the report.
    return { removedRecords, removedBlobs: done.removedBlobs, removedSnapshots: [...done.removedSnapshots, ...done.removedRootfs], reclaimedBytes: reclaimed };
  });
}

/**
 * The layers the kept records need, reading each; a record one of whose own layers is gone
 * (a hit on it would be a miss) is dropped instead.
 */
async function keptLayers(store: Store, index: CacheIndex, records: RecordFileEntry[], drop: (e: RecordFileEntry) => Promise<void>): Promise<string[]> {
  // Records share layers: each blob's presence is asked once (10,000 records, a few hundred layers).
  const present = new Map<string, Promise<boolean>>();
  const has = (d: string): Promise<boolean> => {
    let known = present.get(d);
    if (known === undefined) present.set(d, (known = store.hasBlob(d)));
    return known;
  };
  const keep: string[] = [];
  for (const e of records) {
    const info = index.read(e);
    if (info === undefined) continue;
    if ((await Promise.all(info.diffIds.map(has))).includes(false)) await drop(e);
    else keep.push(...info.layers);
  }
  return keep;
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

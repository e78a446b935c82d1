/**
 * The build cache carried between machines (`--cache-to` / `--cache-from`): which records go,
 * the file that lists them, and what an imported record must be before the index takes it.
 * Moving the bytes is the carrier's business (a registry artifact, see the registry's
 * cacheArtifact.ts): this side never knows where they go.
 *
 * Export takes the records this build made or used, read from the index itself: a record is
 * written, or its time bumped on a hit, when a build touches it, so the records touched since
 * the build started are this build's. That is mode=max; kiln has no per-step record of which
 * steps end in the final image, so mode=min exports the same set.
 */
import { KilnError } from '../engine/errors/kilnError.js';
import type { Store } from '../engine/store/store.js';
import { isCacheRecord, isLayerDigest, type CacheRecord } from './record.js';
import type { CacheIndex } from './recordIndex.js';

/** What moves an exchange file and the layers it names, both ways. */
export interface CacheCarrier {
  /** Where the cache goes or comes from, for messages. */
  readonly name: string;
  /** Sends the file and the layers (from the store), in order. */
  send(file: Buffer, diffIds: readonly string[]): Promise<void>;
  /** The file and how many layers travel with it; undefined when there is no cache there yet. */
  receiveFile(): Promise<{ bytes: Buffer; layers: number } | undefined>;
  /** Brings the layers into the store, verified: diffIds[i] is the i-th layer sent. */
  receiveLayers(diffIds: readonly string[]): Promise<void>;
}

interface ExchangeFile {
  kilnCacheVersion: 1;
  records: CacheRecord[];
  /** The layers that travel with the file, in order. */
  diffIds: string[];
}

/** File times are compared with this much slack (coarse timestamps, clock steps). */
const CLOCK_SLACK_MS = 1000;

/** Sends `records` and their layers. Sorted, so what is sent is a function of the cache, not of step order. */
export async function sendRecords(records: readonly CacheRecord[], carrier: CacheCarrier): Promise<void> {
  const diffIds: string[] = [];
  for (const r of records) {
    if (!isCacheRecord(r)) throw new KilnError('BAD_CACHE_RECORD', `cannot export a malformed cache record (key ${String((r as { key?: unknown }).key)})`);
    for (const d of r.diffIds) if (!diffIds.includes(d)) diffIds.push(d);
  }
  const sorted = [...records].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const file: ExchangeFile = { kilnCacheVersion: 1, records: sorted, diffIds };
  await carrier.send(Buffer.from(JSON.stringify(file), 'utf8'), diffIds);
}

/**
 * The records at the carrier's end, their layers verified into the store. None when there is no
 * cache there yet (the first build): `--cache-from` is a hint. Records whose layers did not
 * travel with them are dropped.
 */
export async function receiveRecords(carrier: CacheCarrier): Promise<CacheRecord[]> {
  const received = await carrier.receiveFile();
  if (!received) return [];
  let file: ExchangeFile;
  try {
    file = JSON.parse(received.bytes.toString('utf8')) as ExchangeFile;
  } catch {
    throw new KilnError('NOT_A_CACHE', `the cache config of ${carrier.name} is not JSON`);
  }
  if (file.kilnCacheVersion !== 1 || !Array.isArray(file.records) || !Array.isArray(file.diffIds) || file.diffIds.length !== received.layers || !file.diffIds.every(isLayerDigest)) {
    throw new KilnError('NOT_A_CACHE', `${carrier.name} has a cache config kiln does not understand (version ${String(file.kilnCacheVersion)})`);
  }
  await carrier.receiveLayers(file.diffIds);
  const have = new Set(file.diffIds);
  return file.records.filter(isCacheRecord).filter((r) => r.diffIds.every((d) => have.has(d)));
}

/** `--cache-from`: the carrier's records into the index (layers first, so no record names a missing layer). */
export async function importRecords(index: CacheIndex, carrier: CacheCarrier): Promise<number> {
  const records = await receiveRecords(carrier);
  for (const r of records) await index.put(r);
  return records.length;
}

/**
 * `--cache-to`: the records of `keys` sent. Keys the index no longer has, or whose layers left
 * the store, are skipped; returns how many went.
 */
export async function exportRecords(store: Store, index: CacheIndex, keys: readonly string[], carrier: CacheCarrier): Promise<number> {
  const records: CacheRecord[] = [];
  for (const key of new Set(keys)) {
    const r = await index.get(key);
    if (!r) continue;
    let complete = true;
    for (const d of r.diffIds) if (!(await store.hasBlob(d))) complete = false;
    if (complete) records.push(r);
  }
  await sendRecords(records, carrier);
  return records.length;
}

/** The keys of the records a build that started at `started` made or used. */
export async function keysUsedSince(index: CacheIndex, started: Date): Promise<string[]> {
  const since = started.getTime() - CLOCK_SLACK_MS;
  return (await index.list()).filter((r) => r.lastUsed.getTime() >= since).map((r) => r.key);
}

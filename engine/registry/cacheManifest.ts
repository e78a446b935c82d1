/**
 * A build cache shared through a registry (`--cache-to type=registry,ref=R` /
 * `--cache-from type=registry,ref=R`). The cache travels as an OCI artifact: an image manifest
 * with `artifactType` KILN_CACHE_ARTIFACT, whose config blob (KILN_CACHE_CONFIG) lists the
 * cache records and whose layers are the records' layers (gzip, as any pushed layer). Importing
 * downloads and verifies the layers into the store (skipping ones it has) and returns the
 * records for the cache index. Which records to export (mode=min: those of the final image;
 * mode=max: every step) is the caller's choice; these functions move what they are given.
 */
import { KilnError } from '../errors.js';
import { RegistryClient } from './client.js';
import { fetchLayers, fetchManifest, fetchSmallBlob, type ResolvedImage } from './pull.js';
import { pushManifest, type PushOptions, type PushResult } from './push.js';
import type { PullOptions } from './pull.js';
import { familiarReference, parseReference } from '../image/reference.js';
import type { Store } from '../store/store.js';
import type { CacheIndex } from '../../cache/index.js';

export const KILN_CACHE_ARTIFACT = 'application/vnd.kiln.build-cache.v1';
export const KILN_CACHE_CONFIG = 'application/vnd.kiln.build-cache.config.v1+json';

/**
 * One cache record as it travels: the same shape as the cache index's record (cache/index.ts),
 * so records round-trip unchanged. `config`/`history` are opaque here.
 */
export interface CacheRecordForExport {
  /** The step's cache key. */
  key: string;
  /** Layers the step added, in order (blob digest == diff_id in the store). */
  diffIds: string[];
  /** What the build needs to continue from this step (opaque JSON). */
  config: Record<string, unknown>;
  history?: Record<string, unknown>;
  createdAt: string;
}

interface CacheConfigFile {
  kilnCacheVersion: 1;
  records: CacheRecordForExport[];
  /** The manifest's layers, in order: layers[i] is the gzip of diffIds[i]. */
  diffIds: string[];
}

const KEY_SHAPE = /^[0-9a-f]{16,128}$/;
const DIGEST_SHAPE = /^sha256:[0-9a-f]{64}$/;

function checkRecord(r: unknown): r is CacheRecordForExport {
  const x = r as Partial<CacheRecordForExport> | null;
  return Boolean(
    x && typeof x === 'object' && typeof x.key === 'string' && KEY_SHAPE.test(x.key) &&
      Array.isArray(x.diffIds) && x.diffIds.every((d) => typeof d === 'string' && DIGEST_SHAPE.test(d)) &&
      x.config !== null && typeof x.config === 'object' && !Array.isArray(x.config) && typeof x.createdAt === 'string',
  );
}

/** Exports records and their layers to `refText` (a tag). Layers the registry has are not re-sent. */
export async function exportCache(store: Store, records: readonly CacheRecordForExport[], refText: string, opts: PushOptions = {}): Promise<PushResult> {
  const ref = parseReference(refText);
  const diffIds: string[] = [];
  for (const r of records) {
    if (!checkRecord(r)) throw new KilnError('BAD_CACHE_RECORD', `cannot export a malformed cache record (key ${String((r as { key?: unknown }).key)})`);
    for (const d of r.diffIds) if (!diffIds.includes(d)) diffIds.push(d);
  }
  // Sorted records make the artifact a function of the cache, not of the order steps finished.
  const sorted = [...records].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const file: CacheConfigFile = { kilnCacheVersion: 1, records: sorted, diffIds };
  const configBytes = Buffer.from(JSON.stringify(file), 'utf8');
  return pushManifest(store, ref, { configBytes, configMediaType: KILN_CACHE_CONFIG, diffIds, artifactType: KILN_CACHE_ARTIFACT }, opts);
}

/**
 * Imports the cache artifact at `refText`: every layer verified into the store, and the records
 * returned for the caller to put into its cache index. A cache ref that does not exist yet (first
 * build) gives no records, not an error: `--cache-from` is a hint.
 */
export async function importCache(store: Store, refText: string, opts: Omit<PullOptions, 'platform'> & { missingIsEmpty?: boolean } = {}): Promise<CacheRecordForExport[]> {
  const ref = parseReference(refText);
  const subject = familiarReference(ref);
  const client = new RegistryClient(ref.domain, subject, opts);
  let fetched;
  try {
    fetched = await fetchManifest(client, ref, ref.digest ?? ref.tag ?? 'latest', subject);
  } catch (e) {
    if (e instanceof KilnError && e.code === 'IMAGE_NOT_FOUND' && opts.missingIsEmpty !== false) return [];
    throw e;
  }
  if (fetched.kind !== 'manifest' || fetched.manifest.config.mediaType !== KILN_CACHE_CONFIG) {
    throw new KilnError('NOT_A_CACHE', `${subject} is not a kiln build cache (its manifest's config is ${fetched.kind === 'manifest' ? fetched.manifest.config.mediaType : 'an index'})`);
  }
  const manifest = fetched.manifest;
  const configBytes = await fetchSmallBlob(client, ref, manifest.config, 'the cache config', subject);
  let file: CacheConfigFile;
  try {
    file = JSON.parse(configBytes.toString('utf8')) as CacheConfigFile;
  } catch {
    throw new KilnError('NOT_A_CACHE', `the cache config of ${subject} is not JSON`);
  }
  if (file.kilnCacheVersion !== 1 || !Array.isArray(file.records) || !Array.isArray(file.diffIds) || file.diffIds.length !== manifest.layers.length || !file.diffIds.every((d) => typeof d === 'string' && DIGEST_SHAPE.test(d))) {
    throw new KilnError('NOT_A_CACHE', `${subject} has a cache config kiln does not understand (version ${String(file.kilnCacheVersion)})`);
  }
  const image: ResolvedImage = {
    ref,
    manifestDigest: fetched.digest,
    topDigest: fetched.digest,
    manifest,
    configBytes,
    config: {},
    diffIds: file.diffIds,
  };
  await fetchLayers(store, client, image, opts);
  const records = file.records.filter(checkRecord);
  const have = new Set(file.diffIds);
  return records.filter((r) => r.diffIds.every((d) => have.has(d)));
}

/**
 * `--cache-from type=registry,ref=R` for the build: imports R's records into the cache index
 * (layers first, so an indexed record never names a missing layer). Returns how many.
 */
export async function importCacheIntoIndex(store: Store, index: CacheIndex, refText: string, opts: Omit<PullOptions, 'platform'> = {}): Promise<number> {
  const records = await importCache(store, refText, opts);
  for (const r of records) await index.put(r);
  return records.length;
}

/**
 * `--cache-to type=registry,ref=R` for the build: exports the records of `keys` (the build's
 * steps: all of them for mode=max, those of the final image for mode=min). Keys the index no
 * longer has, or whose layers left the store, are skipped; returns what was exported.
 */
export async function exportCacheFromIndex(store: Store, index: CacheIndex, keys: readonly string[], refText: string, opts: PushOptions = {}): Promise<{ exported: number; result: PushResult }> {
  const records: CacheRecordForExport[] = [];
  for (const key of new Set(keys)) {
    const r = await index.get(key);
    if (!r) continue;
    let complete = true;
    for (const d of r.diffIds) if (!(await store.hasBlob(d))) complete = false;
    if (complete) records.push(r);
  }
  return { exported: records.length, result: await exportCache(store, records, refText, opts) };
}

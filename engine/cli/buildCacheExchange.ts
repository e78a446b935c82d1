/**
 * What `kiln build --cache-from/--cache-to type=registry,…` do around a build: import every
 * --cache-from into the store's cache index before the build, and export the records this build
 * made or used after it. The cache decides what goes (cache/exchange.ts); the registry carries it
 * (registry/cacheArtifact.ts).
 */
import { exportRecords, importRecords, keysUsedSince } from '../../cache/exchange.js';
import { CacheIndex } from '../../cache/recordIndex.js';
import { registryCacheCarrier, type CacheArtifactOptions } from '../registry/cacheArtifact.js';
import type { RegistryCacheSpec } from '../registry/cacheSpec.js';
import type { Store } from '../store/store.js';

export async function importBuildCaches(store: Store, specs: readonly RegistryCacheSpec[], opts: CacheArtifactOptions = {}): Promise<number> {
  const index = new CacheIndex(store.root);
  let total = 0;
  for (const spec of specs) total += await importRecords(index, registryCacheCarrier(store, spec.ref, opts));
  return total;
}

export async function exportBuildCache(store: Store, spec: RegistryCacheSpec, buildStarted: Date, opts: CacheArtifactOptions = {}): Promise<number> {
  const index = new CacheIndex(store.root);
  return exportRecords(store, index, await keysUsedSince(index, buildStarted), registryCacheCarrier(store, spec.ref, opts));
}

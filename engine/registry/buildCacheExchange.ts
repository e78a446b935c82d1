/**
 * What `kiln build --cache-from/--cache-to type=registry,…` do around a build, in terms the build
 * command can call directly: import every --cache-from into the store's cache index before the
 * build, and export the records this build made or used after it. "Made or used" is read from
 * the index itself: a record is written, or its time bumped on a hit, when a build touches it,
 * so the records touched since the build started are this build's. That is mode=max; kiln has no
 * per-step record of which steps end in the final image, so mode=min exports the same set.
 */
import { CacheIndex } from '../../cache/index.js';
import type { Store } from '../store/store.js';
import { exportCacheFromIndex, importCacheIntoIndex } from './cacheManifest.js';
import type { RegistryCacheSpec } from './cacheSpec.js';
import type { PushOptions } from './push.js';

/** File times are compared with this much slack (coarse timestamps, clock steps). */
const CLOCK_SLACK_MS = 1000;

export async function importBuildCaches(store: Store, specs: readonly RegistryCacheSpec[], opts: Omit<PushOptions, 'chunkBytes'> = {}): Promise<number> {
  const index = new CacheIndex(store.root);
  let total = 0;
  for (const spec of specs) total += await importCacheIntoIndex(store, index, spec.ref, opts);
  return total;
}

export async function exportBuildCache(store: Store, spec: RegistryCacheSpec, buildStarted: Date, opts: PushOptions = {}): Promise<number> {
  const index = new CacheIndex(store.root);
  const since = buildStarted.getTime() - CLOCK_SLACK_MS;
  const keys = (await index.list()).filter((r) => r.lastUsed.getTime() >= since).map((r) => r.key);
  const { exported } = await exportCacheFromIndex(store, index, keys, spec.ref, opts);
  return exported;
}

/**
 * `kiln check` on the build cache: every record readable, named by its own key, and every layer
 * it names (those it added and its stage's whole rootfs) in the store and sound. A broken record
 * is dropped by the repair (the step runs again on the next build).
 */
import type { Finding } from '../engine/store/check.js';
import type { Store } from '../engine/store/store.js';
import { CacheIndex } from './recordIndex.js';
import { recordLayers } from './record.js';

export async function checkRecords(store: Store, badBlobs: ReadonlySet<string>): Promise<{ findings: Finding[]; records: number }> {
  const index = new CacheIndex(store.root);
  const findings: Finding[] = [];
  const keys = await index.keys();
  for (const key of keys) {
    const drop = async (): Promise<string> => { await index.remove(key); return 'removed (the step runs again on the next build)'; };
    const record = await index.peek(key);
    if (!record || !record.diffIds.every((d) => typeof d === 'string')) {
      findings.push({ subject: `cache record ${key}`, problem: 'it is not a readable record of its key', repair: drop });
      continue;
    }
    for (const diffId of recordLayers(record)) {
      const why = badBlobs.has(diffId) ? 'corrupt' : !(await store.hasBlob(diffId)) ? 'missing' : undefined;
      if (why === undefined) continue;
      findings.push({ subject: `cache record ${key}`, problem: `its layer ${diffId} is ${why}`, repair: drop });
      break;
    }
  }
  return { findings, records: keys.length };
}

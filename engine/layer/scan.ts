/**
 * Reads a layer tar to the end without extracting it, refusing what no honest layer holds:
 * `..` in names, hard links to paths outside the layer or not yet seen. Used when loading an
 * archive, before anything reaches the store.
 */
import { extract as tarExtract } from 'tar-stream';
import { KilnError } from '../errors/kilnError.js';
import { isSystemRefusal } from '../errors/refusal.js';
import { feedTar } from './feedTar.js';
import { entryComponents, hostile, linkComponents } from './entryPath.js';

export async function scanLayerTar(input: AsyncIterable<Uint8Array>, source: string): Promise<number> {
  const extractor = tarExtract();
  const feeding = feedTar(input, extractor, { drainAfterClose: true });
  const seen = new Set<string>();
  let count = 0;
  try {
    for await (const entry of extractor) {
      const h = entry.header;
      count++;
      const parts = entryComponents(source, h.name);
      if (h.type === 'link') {
        const target = linkComponents(source, h.name, h.linkname ?? '').join('/');
        if (!seen.has(target)) throw hostile(source, h.name, `hard link to "${h.linkname}", which comes nowhere before it in the layer`);
      }
      seen.add(parts.join('/'));
      entry.resume();
    }
  } catch (err) {
    // A write the input's producer made (a layer unpacked to disk as it is read) may be refused:
    // that is the disk's doing, not the layer's.
    if (err instanceof KilnError || isSystemRefusal(err)) throw err;
    throw new KilnError('BAD_LAYER', `${source}: not a valid tar (${(err as Error).message})`, { cause: err });
  } finally {
    await feeding;
  }
  return count;
}

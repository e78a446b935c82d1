/**
 * The headers of a layer tar, one after another, read as a stream: contents are skipped, never
 * held, so a layer of any size passes through in bounded memory.
 */
import { createReadStream } from 'node:fs';
import { extract as tarExtract } from 'tar-stream';
import { KilnError } from '../errors.js';
import { feedTar } from '../layer/feedTar.js';

export interface TarEntryHeader {
  /** Cleaned, relative, no trailing slash. */
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'link' | 'other';
  size: number;
  mode: number;
  uid: number;
  gid: number;
  linkname?: string;
}

/** `./a//b/` → `a/b`; `.` and `/` → ''. */
export function cleanPath(name: string): string {
  const parts: string[] = [];
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') parts.pop();
    else parts.push(p);
  }
  return parts.join('/');
}

function typeOf(t: string | null | undefined): TarEntryHeader['type'] {
  if (t === 'file' || t === 'contiguous-file') return 'file';
  if (t === 'directory' || t === 'symlink' || t === 'link') return t;
  return 'other';
}

export async function* layerEntries(blobPath: string, source: string): AsyncGenerator<TarEntryHeader> {
  const extractor = tarExtract();
  const feeding = feedTar(createReadStream(blobPath, { highWaterMark: 1 << 20 }), extractor);
  try {
    for await (const entry of extractor) {
      const h = entry.header;
      entry.resume();
      yield {
        path: cleanPath(h.name),
        type: typeOf(h.type),
        size: h.size ?? 0,
        mode: h.mode ?? 0,
        uid: h.uid ?? 0,
        gid: h.gid ?? 0,
        ...(h.linkname ? { linkname: h.linkname } : {}),
      };
    }
  } catch (err) {
    if (err instanceof KilnError) throw err;
    throw new KilnError('BAD_LAYER', `${source}: cannot read the layer (${(err as Error).message})`, { cause: err });
  } finally {
    extractor.destroy();
    await feeding;
  }
}

/**
 * An image's root filesystem as one plain directory: its layers applied in order, whiteouts
 * deleting what lower layers made. What `--output type=local,dest=DIR` writes.
 */
import { createReadStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import type { ImageConfig } from '../image/config.js';
import type { Store } from '../store/store.js';
import { extractTar } from './extract.js';

export async function flattenImage(store: Store, config: ImageConfig, dest: string, opts: { owners?: boolean } = {}): Promise<void> {
  await mkdir(dest, { recursive: true });
  for (const diffId of config.rootfs.diff_ids) {
    await extractTar(createReadStream(store.blobPath(diffId)), dest, {
      whiteouts: 'apply',
      source: `layer ${diffId}`,
      ...(opts.owners !== undefined ? { owners: opts.owners } : {}),
    });
  }
}

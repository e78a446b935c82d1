/** Small images made straight into a store (no build): one layer per given file map. */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { emptyConfig } from '../../engine/image/config.js';
import { writeLayer } from '../../engine/layer/tarWriter.js';
import type { ImageRecord, Store } from '../../engine/store/store.js';

export type LayerFiles = Record<string, string | Buffer>;

export async function layerFromFiles(store: Store, files: LayerFiles): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-layer-'));
  try {
    for (const [name, content] of Object.entries(files)) {
      await mkdir(dirname(join(dir, name)), { recursive: true });
      await writeFile(join(dir, name), content);
    }
    return (await writeLayer(store, dir, { whiteouts: 'none', sourceDateEpoch: 0 })).diffId;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function makeImage(store: Store, layers: LayerFiles[], opts: { tag?: string; architecture?: string; cmd?: string[] } = {}): Promise<ImageRecord> {
  const diffIds: string[] = [];
  for (const files of layers) diffIds.push(await layerFromFiles(store, files));
  const config = emptyConfig(opts.architecture ? { architecture: opts.architecture, os: 'linux' } : {});
  config.rootfs.diff_ids = diffIds;
  config.config = { Cmd: opts.cmd ?? ['/bin/sh'], Env: ['PATH=/usr/bin:/bin'] };
  config.history = diffIds.map((_, i) => ({ created_by: `layer ${i}`, created: '1970-01-01T00:00:00Z' }));
  const record = await store.commitImage(config);
  if (opts.tag) await store.tag(record.id, opts.tag);
  return record;
}

export function randomContent(bytes: number): Buffer {
  return randomBytes(bytes);
}

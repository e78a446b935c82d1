/**
 * What a network test file starts from: a store of its own holding the busybox test image, and
 * an "outside host" (a network namespace of its own, harness/outsideHost.ts) to reach.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commitBusyboxImage } from '../../harness/busyboxImage.js';
import { makeOutsideHost, type OutsideHost } from '../../harness/outsideHost.js';
import { Store } from '../../engine/store/store.js';

export interface NetworkFixture {
  /** The store (KILN_ROOT). */
  root: string;
  outside: OutsideHost;
  close(): Promise<void>;
}

export async function networkFixture(label: string, image: string): Promise<NetworkFixture> {
  const root = await mkdtemp(join(tmpdir(), `kiln-${label}-store-`));
  await commitBusyboxImage(await Store.open({ root }), image);
  const outside = await makeOutsideHost();
  return {
    root,
    outside,
    close: async () => {
      outside.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

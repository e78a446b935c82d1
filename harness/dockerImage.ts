/** The busybox root filesystem (busyboxImage.ts) imported into docker under a tag, for tests and benches that run the same image in both. */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commitBusyboxImage, makeBusyboxRootfs } from './busyboxImage.js';
import { Store } from '../engine/store/store.js';

export const DOCKER = '/usr/bin/docker';

/** `docker import` of the busybox root; `changes` as for `docker import --change`. */
export async function importBusyboxIntoDocker(tag: string, changes: readonly string[] = []): Promise<void> {
  const rootfs = await makeBusyboxRootfs();
  try {
    const tar = spawn('tar', ['-C', rootfs, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const imp = spawn(DOCKER, ['import', ...changes.flatMap((c) => ['--change', c]), '-', tag], { stdio: ['pipe', 'ignore', 'inherit'] });
    tar.stdout.pipe(imp.stdin);
    const code = await new Promise<number | null>((resolve) => imp.on('close', resolve));
    if (code !== 0) throw new Error(`docker import of ${tag} failed (exit ${code})`);
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
  }
}

/** A kiln store of its own holding the busybox image under `tag`, and the same image imported into docker under that tag. */
export async function busyboxInKilnAndDocker(tag: string, storePrefix: string): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), storePrefix));
  await commitBusyboxImage(await Store.open({ root }), tag);
  await importBusyboxIntoDocker(tag);
  return root;
}

/** Undoes busyboxInKilnAndDocker: the store and docker's copy of the tag. */
export function removeBusyboxFromKilnAndDocker(tag: string, root: string): void {
  rmSync(root, { recursive: true, force: true });
  spawnSync(DOCKER, ['rmi', tag], { stdio: 'ignore' });
}

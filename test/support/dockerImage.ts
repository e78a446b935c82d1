/** The busybox root filesystem (busyboxImage.ts) imported into docker under a tag, for tests and benches that run the same image in both. */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { makeBusyboxRootfs } from './busyboxImage.js';

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

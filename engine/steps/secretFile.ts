/**
 * A secret as a RUN step sees it (`--mount=type=secret`): a copy of the source with the mount's
 * mode, uid and gid (BuildKit's defaults 0400 root:root), so the step can read it as the user it
 * runs as and the host file keeps its own attributes. The copy lives in memory-backed /dev/shm
 * when there is one (a secret is never written to the store's disk), in a 0700 directory of its
 * own, and goes when the step ends.
 */
import { canOwnFiles } from '../host/privilege.js';
import { statfsSync } from 'node:fs';
import { chmod, chown, copyFile, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';

const TMPFS_MAGIC = 0x01021994;

export interface SecretFileOptions { mode: number; uid: number; gid: number }

function memoryBacked(dir: string): boolean {
  try { return statfsSync(dir).type === TMPFS_MAGIC; } catch { return false; }
}

/** Copies `source` for a step; `fallbackDir` makes a private directory when /dev/shm is not tmpfs. */
export async function stageSecretFile(source: string, opts: SecretFileOptions, fallbackDir: () => Promise<string>): Promise<{ path: string; remove: () => Promise<void> }> {
  const dir = memoryBacked('/dev/shm') ? await mkdtemp('/dev/shm/kiln-secret-') : await fallbackDir();
  const remove = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    await chmod(dir, 0o700);
    const path = join(dir, 'secret');
    await copyFile(source, path);
    if (canOwnFiles()) await chown(path, opts.uid, opts.gid);
    await chmod(path, opts.mode);
    return { path, remove };
  } catch (e) {
    await remove();
    throw e;
  }
}

/**
 * RUN --mount=type=cache directories: one per id (or target) under the store, kept across
 * builds, made with the mount's mode and owner or seeded from a `from=` directory; and their
 * `sharing` modes (shared, locked across every build using the store, private).
 */
import { chmod, chown, mkdir, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { promisify } from 'node:util';
import type { MountSpec } from '../../grammar/recipe.js';
import { StoreLock } from '../store/lock.js';
import { canOwnFiles } from '../host/privilege.js';
import { nodeChildProcess } from '../lateLoading.js';

const execFileAsync = (file: string, args: string[]): Promise<{ stdout: string; stderr: string }> => promisify(nodeChildProcess().execFile)(file, args);

/**
 * Directory for a cache mount id: persistent across builds, one per id; mode and owner set when
 * it is made. A cache with `from=` starts as a copy of that directory (`seed.dir`), and is a
 * cache of its own for each seed (`seed.key` names it: the stage or context and the path).
 */
export async function cacheMountDir(storeRoot: string, mount: MountSpec, workdir: string, seed?: { key: string; dir: string }): Promise<string> {
  const target = mount.target === undefined ? '' : posix.resolve(workdir || '/', mount.target);
  const id = (mount.id ?? target) + (seed ? `\0${seed.key}` : '');
  const dir = join(storeRoot, 'cache-mounts', Buffer.from(id).toString('hex').slice(0, 200));
  const made = await mkdir(dir, { recursive: true, mode: 0o755 });
  if (made !== undefined) {
    if (seed) await execFileAsync('cp', ['-a', '--', `${seed.dir}/.`, dir]);
    else {
      await chmod(dir, mount.mode ?? 0o755);
      // A kiln that may not chown (owners kept in ledgers) leaves it its own: a cache is no layer.
      if (canOwnFiles()) await chown(dir, mount.uid ?? 0, mount.gid ?? 0);
    }
  }
  return dir;
}

const cacheLocks = new Map<string, StoreLock>();
const privateInUse = new Set<string>();

/**
 * The `sharing` mode of a cache mount: `shared` lets every step use the dir at once; `locked`
 * makes steps take turns — those of every build using the store, as BuildKit's daemon-wide lock
 * does, through a lock file beside the dir; `private` gives a step a fresh empty dir when
 * another step of this build holds the cache.
 */
export async function acquireCacheMount(dir: string, sharing: MountSpec['sharing'], scratch: () => Promise<string>): Promise<{ dir: string; release: () => Promise<void> }> {
  if (sharing === 'locked') {
    let lock = cacheLocks.get(dir);
    if (!lock) cacheLocks.set(dir, (lock = new StoreLock(`${dir}.lock`)));
    return { dir, release: await lock.hold() };
  }
  if (sharing === 'private') {
    if (privateInUse.has(dir)) {
      const fresh = await scratch();
      return { dir: fresh, release: () => rm(fresh, { recursive: true, force: true }) };
    }
    privateInUse.add(dir);
    return { dir, release: async () => { privateInUse.delete(dir); } };
  }
  return { dir, release: async () => undefined };
}

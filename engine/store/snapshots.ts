/**
 * Snapshots: each layer extracted once into snapshots/<hex of diff_id>/, in the form overlayfs
 * reads from a lower dir (whiteouts as 0:0 char devices, opaque dirs by xattr). A snapshot is
 * built in a temp dir and renamed into place, so a reader sees a whole one or none; two processes
 * extracting the same layer both succeed and one copy is kept.
 */
import { existsSync, renameSync, statSync } from 'node:fs';
import { chmod, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { KilnError } from '../errors/kilnError.js';
import { refusal } from '../errors/refusal.js';
import { hexOf, type BlobStore } from './blobs.js';
import { canOwnFiles, privilege } from '../host/privilege.js';
import { tempPrefix } from './scratch.js';
import type { LayerUnpacker } from './layerUnpacker.js';

/** Renames a dir into place unless the target already exists (then the source is discarded). */
export async function renameDirInto(source: string, target: string): Promise<boolean> {
  try {
    await rename(source, target);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTEMPTY') {
      await rm(source, { recursive: true, force: true });
      return false;
    }
    throw err;
  }
}

export class SnapshotStore {
  readonly dir: string;
  private readonly tmpDir: string;
  private readonly blobs: BlobStore;
  private readonly inFlight = new Map<string, Promise<string>>();

  /**
   * `unpack`: makes a snapshot's files from its layer blob; `hold`: takes a layer into the
   * store's lease before its snapshot is looked at or made (see leases.ts).
   */
  constructor(dir: string, tmpDir: string, blobs: BlobStore, private readonly unpack: LayerUnpacker, private readonly hold: (names: string[]) => Promise<void> = async () => undefined) {
    this.dir = dir;
    this.tmpDir = tmpDir;
    this.blobs = blobs;
  }

  path(diffId: string): string {
    return join(this.dir, hexOf(diffId));
  }

  /** A sync stat: asked for every layer of a stage before each RUN, where a thread-pool round trip per layer added up. */
  async has(diffId: string): Promise<boolean> {
    try {
      return statSync(this.path(diffId)).isDirectory();
    } catch {
      return false;
    }
  }

  /**
   * Beside a snapshot an unprivileged kiln extracted (every file owned by the user: it cannot
   * chown). Root of kiln's own user namespace can give files their owners, and does not build on
   * such a snapshot: a RUN step's copy-up would record the wrong owner.
   */
  private flatMarker(diffId: string): string {
    return `${this.path(diffId)}.owners-flattened`;
  }

  async get(diffId: string): Promise<string> {
    const target = this.path(diffId);
    await this.hold([diffId]);
    if (await this.has(diffId)) {
      if (privilege() !== 'namespace-root' || !existsSync(this.flatMarker(diffId))) return target;
      await this.remove(diffId);
    }
    let pending = this.inFlight.get(diffId);
    if (!pending) {
      pending = this.create(diffId).finally(() => this.inFlight.delete(diffId));
      this.inFlight.set(diffId, pending);
    }
    return pending;
  }

  private async create(diffId: string): Promise<string> {
    const tmp = await this.unpackAside(diffId);
    try {
      if (!canOwnFiles()) await writeFile(this.flatMarker(diffId), '');
      return await this.adopt(diffId, tmp);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw refusal(err, { place: { kind: 'store', root: dirname(this.dir) } });
    }
  }

  /** The layer unpacked afresh into a new dir under the store's tmp (the caller adopts or removes it). */
  async unpackAside(diffId: string): Promise<string> {
    if (!(await this.blobs.has(diffId))) throw new KilnError('LAYER_MISSING', `layer ${diffId} is not in the store`);
    const place = { kind: 'store' as const, root: dirname(this.dir) };
    const what = `the files of layer ${diffId}`;
    let tmp: string;
    try {
      tmp = await mkdtemp(join(this.tmpDir, tempPrefix('snapshot')));
    } catch (err) {
      throw refusal(err, { place, what });
    }
    try {
      await chmod(tmp, 0o755); // the layer root; a root entry in the tar may set it otherwise
      await this.unpack(await this.blobs.open(diffId), tmp, { whiteouts: 'overlay', source: `layer ${diffId}` });
      return tmp;
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw refusal(err, { place, what });
    }
  }

  /** Whether an unprivileged kiln made the snapshot (its files all the user's: owners not kept). */
  flattened(diffId: string): boolean {
    return existsSync(this.flatMarker(diffId));
  }

  /**
   * No fsync here, by choice: syncing a freshly extracted tree forces the whole of it to disk
   * (seconds for a big layer) and a snapshot is a cache, rebuilt from its verified blob. The
   * rename still makes it appear whole or not at all to other processes.
   */
  async adopt(diffId: string, dir: string): Promise<string> {
    const target = this.path(diffId);
    await this.hold([diffId]);
    await renameDirInto(dir, target);
    return target;
  }

  /**
   * adopt() for a build step's dir, which the next step waits for: one sync rename (a
   * thread-pool one queues behind the fsyncs the build writes behind its steps). False when the
   * snapshot was there already (the same layer made before): `dir` is then the caller's to remove.
   */
  async adoptNow(diffId: string, dir: string): Promise<boolean> {
    await this.hold([diffId]);
    try {
      renameSync(dir, this.path(diffId));
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'ENOTEMPTY') return false;
      throw err;
    }
  }

  async list(): Promise<string[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    return names.filter((n) => /^[0-9a-f]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }

  /** Removes a snapshot: renamed aside first, so no reader ever sees a half-deleted one. */
  async remove(diffId: string): Promise<void> {
    const target = this.path(diffId);
    const aside = join(this.tmpDir, `${tempPrefix('deleting')}${hexOf(diffId)}`);
    await rm(this.flatMarker(diffId), { force: true });
    try {
      await rename(target, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    await rm(aside, { recursive: true, force: true });
  }
}

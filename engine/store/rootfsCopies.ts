/**
 * The copy snapshotter's side of the store (docker's and buildah's `vfs`): for a stack of layers,
 * one directory holding the whole root filesystem they make — rootfs/<hex of the chain id>/, the
 * OCI chain id of the diff_ids. It is made from its parent stack's directory, copied, with the top
 * layer's tar applied (whiteouts delete, opaque dirs empty); a RUN step's finished root is adopted
 * as its new stack's directory instead. Nothing is mounted: this is what runs where overlayfs
 * cannot (an unprivileged container, a filesystem overlay refuses). Made in tmp/ and renamed into
 * place, so a reader sees a whole one or none. Where kiln may not chown, each directory has an
 * owner ledger beside it (ownerLedger.ts), written before the directory is renamed into place.
 */
import { chmodSync, lstatSync, mkdirSync } from 'node:fs';
import { mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { nodeCrypto } from '../host/nodeCrypto.js';
import { KilnError } from '../errors/kilnError.js';
import { hexOf, type BlobStore } from './blobs.js';
import { tempPrefix } from './scratch.js';
import { renameDirInto } from './snapshots.js';
import { copyTree } from './treeCopy.js';
import { OwnerLedger, ledgerFileOf, ownersInLedgers } from './ownerLedger.js';
import type { LayerUnpacker } from './layerUnpacker.js';

/** The OCI chain id of a stack of layers (bottom first): the first diff_id, then sha256 of "parent child". */
export function chainId(diffIds: readonly string[]): string {
  let chain = diffIds[0] as string;
  for (const d of diffIds.slice(1)) chain = `sha256:${nodeCrypto().createHash('sha256').update(`${chain} ${d}`).digest('hex')}`;
  return chain;
}

/** The lease name that holds a stack's directory. */
export function chainLeaseName(diffIds: readonly string[]): string {
  return `rootfs:${chainId(diffIds)}`;
}

export class RootfsCopies {
  private readonly inFlight = new Map<string, Promise<string>>();

  constructor(
    readonly dir: string,
    private readonly tmpDir: string,
    private readonly blobs: BlobStore,
    /** Applies a layer blob onto a copy of its parent's root. */
    private readonly unpack: LayerUnpacker,
    private readonly hold: (names: string[]) => Promise<void>,
  ) {}

  path(diffIds: readonly string[]): string {
    return join(this.dir, hexOf(chainId(diffIds)));
  }

  /** An empty root (a stage FROM scratch). */
  private empty(): string {
    const dir = join(this.dir, 'empty');
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    chmodSync(dir, 0o755);
    return dir;
  }

  /** The root filesystem of the stack (read-only to the caller: copy it to change it). */
  async get(diffIds: readonly string[]): Promise<string> {
    if (diffIds.length === 0) return this.empty();
    await this.hold([chainLeaseName(diffIds)]);
    const target = this.path(diffIds);
    if (lstatSync(target, { throwIfNoEntry: false })?.isDirectory()) return target;
    const key = chainId(diffIds);
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.create(diffIds).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  /** Where the disk cannot hold owners: each root's owners in a ledger beside it. */
  readonly ledgered = ownersInLedgers();

  /** The owners of a stack's root, when they are kept in a ledger (undefined: on disk). */
  ownersOf(rootDir: string): OwnerLedger | undefined {
    return this.ledgered ? OwnerLedger.of(rootDir) : undefined;
  }

  /** A new directory in tmp/ holding a copy of the stack's root, for a RUN step to change. */
  async copyOf(diffIds: readonly string[]): Promise<string> {
    const source = await this.get(diffIds);
    const tmp = await mkdtemp(join(this.tmpDir, tempPrefix('rootfs')));
    try {
      await copyTree(source, tmp);
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
    return tmp;
  }

  private async create(diffIds: readonly string[]): Promise<string> {
    const top = diffIds[diffIds.length - 1] as string;
    if (!(await this.blobs.has(top))) throw new KilnError('LAYER_MISSING', `layer ${top} is not in the store`);
    const parent = diffIds.slice(0, -1);
    const tmp = await this.copyOf(parent);
    try {
      const owners = this.ownersOf(await this.get(parent))?.copy();
      await this.unpack(await this.blobs.open(top), tmp, {
        whiteouts: 'apply', source: `layer ${top}`,
        ...(owners ? { recordOwner: (rel: string, uid: number, gid: number) => owners.set(rel, { uid, gid }) } : {}),
      });
      owners?.prune(tmp);
      return await this.adopt(diffIds, tmp, owners);
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
  }

  /** Moves a finished root (on the store's filesystem) in as the stack's directory. */
  async adopt(diffIds: readonly string[], dir: string, owners?: OwnerLedger): Promise<string> {
    await this.hold([chainLeaseName(diffIds)]);
    const target = this.path(diffIds);
    if (owners) await owners.save(target);
    await renameDirInto(dir, target);
    return target;
  }

  /** Chain ids of the stacks kept. */
  async list(): Promise<string[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    return names.filter((n) => /^[0-9a-f]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }

  /** Removes a stack's directory (renamed aside first: no reader sees half of one). */
  async remove(chain: string): Promise<void> {
    const aside = join(this.tmpDir, `${tempPrefix('deleting')}${hexOf(chain)}`);
    try {
      await rename(join(this.dir, hexOf(chain)), aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    await rm(aside, { recursive: true, force: true });
    await rm(ledgerFileOf(join(this.dir, hexOf(chain))), { force: true });
  }
}

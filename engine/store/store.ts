/**
 * The image store: one root directory holding
 *   blobs/sha256/<hex>     immutable content (configs, uncompressed layer tars, manifests)
 *   blobs/ingest/          blobs being written (hashed, fsynced, then renamed into sha256/)
 *   images/<hex>.json      one record per image (its ID is the config digest)
 *   refs.json              tags and repo digests → image IDs
 *   snapshots/<hex>/       a layer (by diff_id) extracted in overlay form, ready as a lower dir
 *   snapshots/<hex>.owners-flattened  beside one an unprivileged kiln made (all files the user's)
 *   rootfs/<hex>/          the copy snapshotter's whole root of a stack of layers (by chain id)
 *   tmp/                   in-flight writes and scratch dirs (same filesystem: renames are atomic)
 *   leases/                what running operations hold (see leases.ts): collection skips it
 *   lock                   the cross-process lock for read-modify-write of records and refs
 * Every write lands by rename; bad input leaves nothing behind. Each open store holds a lease:
 * what it writes, and what its caller says it uses (hold), is kept from collection until
 * release() or the process's end.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { KilnError } from '../errors/kilnError.js';
import { refusal } from '../errors/refusal.js';
import { defaultStoreRoot } from './storeRoot.js';
import { configProblem, imageIdOf, serializeConfig, type ImageConfig } from '../image/config.js';
import { fullName, normalizeTag, fullReference, withDefaultTag, type ImageReference } from '../image/reference.js';
import { imageArgumentOrUndefined, type ImageArgument } from '../image/imageArgument.js';
import { deadWritersTemps, writeFileAtomic } from './atomicFile.js';
import { BlobStore, hexOf, type BlobInfo, type IngestOptions } from './blobs.js';
import { StoreLock } from './lock.js';
import { RefsFile } from './refs.js';
import { beginCollection, Lease, releaseDeadLeases } from './leases.js';
import { makeScratchDir, releaseScratchDir, removeScratchDir, removeScratchDirBehind, sweepStaleTemps } from './scratch.js';
import { SnapshotStore } from './snapshots.js';
import { NO_UNPACKER, type LayerUnpacker } from './layerUnpacker.js';
import { chainId, RootfsCopies } from './rootfsCopies.js';
import { WriteBehind, type BehindWrite } from './writeBehind.js';

export type { BlobInfo, IngestOptions } from './blobs.js';

export interface ImageRecord {
  /** `sha256:<hex>` of the config bytes. */
  id: string;
  config: ImageConfig;
  configSize: number;
  /** Full references (`docker.io/library/busybox:latest`), sorted. */
  tags: string[];
  /** `docker.io/library/busybox@sha256:<manifest digest>` for images that came from a registry. */
  repoDigests: string[];
  /** When this store first recorded the image (RFC 3339). */
  added: string;
}

interface StoredRecord {
  id: string;
  added: string;
}

export interface StoreOptions {
  root?: string;
  /** Makes snapshots and root copies from layer blobs (layer/extract.ts's extractTar): without it, a store makes none. */
  unpackLayer?: LayerUnpacker;
}

export interface GcOptions {
  /** Leave anything younger than this alone (a concurrent build may be about to use it). Default 10 minutes. */
  graceMs?: number;
  /** Blobs the caller still needs (e.g. layers a build cache points at). */
  keepBlobs?: Iterable<string>;
}

/** What a collection may not take: names held by the leases of running operations. */
export interface Collection {
  held: ReadonlySet<string>;
}

export interface GcResult {
  removedBlobs: string[];
  removedSnapshots: string[];
  /** Whole roots of layer stacks the copy snapshotter kept (by chain id). */
  removedRootfs: string[];
  reclaimedBytes: number;
}

/** What a collection found to take, and how much of the store nothing held, whatever its age. */
export interface GcPlan extends GcResult {
  /** Blobs, snapshots and copied roots no image, lease nor keepBlobs holds (the grace period aside). */
  unheld: number;
}

/** What images and running operations hold: digests (blobs and snapshots) and copied roots' chain ids. */
export interface HeldContent {
  digests: ReadonlySet<string>;
  chains: ReadonlySet<string>;
}

export { defaultStoreRoot } from './storeRoot.js';

/** Where blobs are written before they are renamed into blobs/sha256/. */
const INGEST_DIR = 'blobs/ingest';

export class Store {
  readonly root: string;
  readonly blobs: BlobStore;
  readonly snapshots: SnapshotStore;
  readonly rootfsCopies: RootfsCopies;
  readonly lock: StoreLock;
  private readonly refs: RefsFile;
  private readonly imagesDir: string;
  private readonly tmpDir: string;
  private readonly behind = new WriteBehind();
  private readonly layerSizes = new Map<string, number>();
  private readonly leasesDir: string;
  private readonly lease: Lease;

  private constructor(root: string, unpack: LayerUnpacker) {
    this.root = root;
    this.tmpDir = join(root, 'tmp');
    this.leasesDir = join(root, 'leases');
    this.lease = new Lease(this.leasesDir);
    const hold = (names: string[]): Promise<void> => this.lease.hold(names);
    // Blob temp files apart from the scratch dirs: fsyncing a new file on ext4 without a journal
    // also writes out its directory's blocks, and a RUN step's upper dir, renamed out of tmp/
    // into snapshots/ as the layer's snapshot, waited for those writes.
    this.blobs = new BlobStore(root, join(root, INGEST_DIR), this.behind, hold);
    this.snapshots = new SnapshotStore(join(root, 'snapshots'), this.tmpDir, this.blobs, unpack, hold);
    this.rootfsCopies = new RootfsCopies(join(root, 'rootfs'), this.tmpDir, this.blobs, unpack, hold);
    this.lock = new StoreLock(join(root, 'lock'));
    this.refs = new RefsFile(join(root, 'refs.json'));
    this.imagesDir = join(root, 'images');
  }

  static async open(opts: StoreOptions = {}): Promise<Store> {
    const root = resolve(opts.root ?? defaultStoreRoot());
    try {
      // Sync: every verb opens the store, and these are a few calls that find the dirs there.
      for (const d of ['blobs/sha256', INGEST_DIR, 'images', 'snapshots', 'rootfs', 'tmp']) mkdirSync(join(root, d), { recursive: true, mode: 0o700 });
    } catch (err) {
      const named = refusal(err, { place: { kind: 'store', root } });
      if (named !== err) throw named;
      const e = err as NodeJS.ErrnoException;
      throw new KilnError('STORE', `cannot use ${root} as the image store: ${e.code ?? e.message} (set --root or KILN_ROOT to a writable directory)`, { cause: err });
    }
    await sweepStaleTemps(join(root, 'tmp'));
    await sweepStaleTemps(join(root, INGEST_DIR));
    // A dead lease is a kiln killed mid-operation: what it was writing atomically (a cache
    // record, an image record, the refs) may be a temp file beside its target.
    if (releaseDeadLeases(join(root, 'leases')) > 0) {
      for (const path of await Store.deadWritersTemps(root)) await unlink(path).catch(() => undefined);
    }
    return new Store(root, opts.unpackLayer ?? NO_UNPACKER);
  }

  /**
   * Temp files of atomic writes whose writers died, outside tmp/ and the blobs' ingest dir (which
   * every open sweeps): beside the refs, the image records and anything under cache/.
   */
  static async deadWritersTemps(root: string): Promise<string[]> {
    return [
      ...(await deadWritersTemps(root)),
      ...(await deadWritersTemps(join(root, 'images'))),
      ...(await deadWritersTemps(join(root, 'cache'), true)),
    ];
  }

  // ---- leases

  /**
   * Holds blobs and snapshots (by digest) and cache records (`record:KEY`) for this store's
   * user until release(): a collection in any process leaves them. Resolves once it is safe
   * to look at them (a collection that began before may have removed some: check after).
   */
  hold(names: Iterable<string>): Promise<void> {
    return this.lease.hold(names);
  }

  /** Holds an image's config and layers (a build's base, a container's image, a save's images). */
  async holdImage(image: ImageRecord): Promise<void> {
    await this.lease.hold([image.id, ...image.config.rootfs.diff_ids]);
    // Found, then removed (rmi, then prune) before the hold: gone, as if never found.
    if (!(await this.blobs.has(image.id))) throw new KilnError('IMAGE_NOT_FOUND', `No such image: ${image.id} (it was removed meanwhile)`, { location: { file: image.id } });
  }

  /** Ends this store's lease: what it held may be collected again. */
  release(): void {
    this.lease.release();
  }

  /**
   * Runs `fn` as the store's one collection at a time: under the lock, announced to holders,
   * with what the leases of running operations hold (this store's own lease excepted).
   */
  withCollection<T>(fn: (c: Collection) => Promise<T>): Promise<T> {
    return this.lock.withLock(async () => {
      const c = beginCollection(this.leasesDir, this.lease.fileName);
      try {
        return await fn({ held: c.held });
      } finally {
        c.end();
      }
    });
  }

  // ---- blobs

  ingestBlob(source: AsyncIterable<Uint8Array | string>, opts: IngestOptions = {}): Promise<BlobInfo> {
    return this.blobs.ingest(source, opts);
  }

  /** Ingests a blob whose fsync and rename run behind (see BlobStore.ingestBehind); settleWrites() waits for them. */
  ingestBlobBehind(source: AsyncIterable<Uint8Array | string>, opts: IngestOptions = {}): Promise<BlobInfo> {
    return this.blobs.ingestBehind(source, opts);
  }

  /** Queues a write published after the blobs and writes queued so far (a cache record after its layers). */
  writeBehind(write: BehindWrite): void {
    void this.behind.add(write);
  }

  /** Waits for every write queued behind; throws the first that failed. */
  settleWrites(): Promise<void> {
    return this.behind.settle();
  }

  blobPath(digest: string): string {
    return this.blobs.path(digest);
  }

  hasBlob(digest: string): Promise<boolean> {
    return this.blobs.has(digest);
  }

  // ---- scratch

  /** A fresh temp dir inside the store (same filesystem), removed when this process exits. */
  scratchDir(label = 'scratch'): Promise<string> {
    return makeScratchDir(this.tmpDir, label);
  }

  releaseScratchDir(dir: string): void {
    releaseScratchDir(dir);
  }

  removeScratchDir(dir: string): Promise<void> {
    return removeScratchDir(dir);
  }

  withLock<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.withLock(fn);
  }

  // ---- snapshots

  /** The layer's overlay-ready dir, extracted from its blob on first use. */
  snapshotDir(diffId: string): Promise<string> {
    return this.snapshots.get(diffId);
  }

  /** Moves `dir` (already in overlay form, on the store's filesystem) in as diffId's snapshot. */
  async adoptSnapshot(diffId: string, dir: string): Promise<string> {
    if (await this.snapshots.adoptNow(diffId, dir)) releaseScratchDir(dir);
    // A duplicate of a snapshot already there goes behind the caller (what is left at exit, the exit sweep takes).
    else removeScratchDirBehind(dir);
    return this.snapshots.path(diffId);
  }

  // ---- images

  /**
   * Stores a config (canonical bytes) as an image. Every layer blob must already be in the store.
   * `likelyId`: the image this commit probably repeats (what the build's tag names now). When
   * its config has exactly these bytes, it is that image, known without hashing them.
   */
  async commitImage(config: ImageConfig, likelyId?: string): Promise<ImageRecord> {
    const bytes = serializeConfig(config);
    if (likelyId !== undefined) {
      const existing = await this.existingRecord(likelyId);
      let stored: Buffer | undefined;
      try { stored = readFileSync(this.blobs.path(likelyId)); } catch { stored = undefined; }
      if (existing !== undefined && stored !== undefined && stored.equals(bytes)) {
        return this.toRecord(likelyId, config, bytes.length, existing.added, await this.refs.read());
      }
    }
    return this.commitImageBytes(bytes);
  }

  /** The image ID a tag names, if any. */
  async taggedId(name: string | ImageReference): Promise<string | undefined> {
    return (await this.refs.read()).tags[tagKey(name)];
  }

  /** Stores config bytes exactly as given (a loaded or pulled image keeps its ID). */
  async commitImageBytes(bytes: Buffer, opts: { source?: string } = {}): Promise<ImageRecord> {
    let parsed: unknown;
    const where = opts.source ? `${opts.source}: ` : '';
    try {
      parsed = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new KilnError('BAD_CONFIG', `${where}image config is not valid JSON`);
    }
    const problem = configProblem(parsed);
    if (problem) throw new KilnError('BAD_CONFIG', `${where}invalid image config: ${problem}`);
    const config = parsed as ImageConfig;
    // Held before they are checked, so no collection removes one between the check and the record.
    await this.hold(config.rootfs.diff_ids);
    for (const diffId of config.rootfs.diff_ids) {
      if (!(await this.blobs.has(diffId))) throw new KilnError('LAYER_MISSING', `${where}layer ${diffId} is not in the store`);
    }
    const id = imageIdOf(bytes);
    // A rebuild that changed nothing commits an image the store already holds: read it back
    // without taking the lock or writing (and fsyncing) anything.
    const existing = await this.existingRecord(id);
    if (existing !== undefined) return this.toRecord(id, config, bytes.length, existing.added, await this.refs.read());
    return this.lock.withLock(async () => {
      await this.blobs.ingestBytes(bytes, { expectedDigest: id });
      const recordPath = join(this.imagesDir, `${hexOf(id)}.json`);
      let added: string;
      try {
        added = (JSON.parse(await readFile(recordPath, 'utf8')) as StoredRecord).added;
      } catch {
        added = new Date().toISOString();
        const record: StoredRecord = { id, added };
        await writeFileAtomic(recordPath, `${JSON.stringify(record)}\n`);
      }
      const refs = await this.refs.read();
      return this.toRecord(id, config, bytes.length, added, refs);
    });
  }

  /** The image's record when both it and its config blob are stored (images are never half-stored). */
  private async existingRecord(id: string): Promise<StoredRecord | undefined> {
    if (!(await this.blobs.has(id))) return undefined;
    try {
      return JSON.parse(await readFile(join(this.imagesDir, `${hexOf(id)}.json`), 'utf8')) as StoredRecord;
    } catch {
      return undefined;
    }
  }

  private toRecord(id: string, config: ImageConfig, configSize: number, added: string, refs: { tags: Record<string, string>; digests: Record<string, string> }): ImageRecord {
    const names = namesOf(refs, id);
    return { id, config, configSize, tags: names?.tags ?? [], repoDigests: names?.repoDigests ?? [], added };
  }

  async readConfigBytes(id: string): Promise<Buffer> {
    return readFileSync(this.blobs.path(id));
  }

  /**
   * The image with this exact ID, or undefined. Its record and config are small files, read
   * with sync calls: every verb that names an image comes here first.
   */
  async getImage(id: string, refs?: { tags: Record<string, string>; digests: Record<string, string> }): Promise<ImageRecord | undefined> {
    let stored: StoredRecord;
    try {
      stored = JSON.parse(readFileSync(join(this.imagesDir, `${hexOf(id)}.json`), 'utf8')) as StoredRecord;
    } catch {
      return undefined;
    }
    let bytes: Buffer;
    try {
      bytes = await this.readConfigBytes(id);
    } catch {
      return undefined;
    }
    return this.toRecord(id, JSON.parse(bytes.toString('utf8')) as ImageConfig, bytes.length, stored.added, refs ?? (await this.refs.read()));
  }

  async listImageIds(): Promise<string[]> {
    const names = await readdir(this.imagesDir).catch(() => [] as string[]);
    return names.filter((n) => /^[0-9a-f]{64}\.json$/.test(n)).map((n) => `sha256:${n.slice(0, 64)}`);
  }

  async listImages(): Promise<ImageRecord[]> {
    const refs = await this.refs.read();
    namesByImage(refs); // every image's names at once, for the records below
    const out: ImageRecord[] = [];
    for (const id of await this.listImageIds()) {
      const rec = await this.getImage(id, refs);
      if (rec) out.push(rec);
    }
    return out;
  }

  /**
   * Finds an image the way docker does: a tag (`busybox` ≡ `docker.io/library/busybox:latest`),
   * a `name@sha256:` repo digest, a full ID, or an unambiguous ID prefix (4+ hex digits). Text
   * (a name that may also be a container's) is read as an argument; text that names no image finds none.
   */
  async resolveImage(name: string | ImageArgument): Promise<ImageRecord | undefined> {
    const arg = typeof name === 'string' ? imageArgumentOrUndefined(name) : name;
    if (arg === undefined) return undefined;
    const refs = await this.refs.read();
    if (arg.id !== undefined) return this.getImage(arg.id, refs);
    const parsed = arg.reference && withDefaultTag(arg.reference);
    if (parsed) {
      if (parsed.digest !== undefined) {
        const id = refs.digests[`${fullName(parsed)}@${parsed.digest}`];
        if (id) return this.getImage(id, refs);
      } else {
        const id = refs.tags[fullReference(parsed)];
        if (id) return this.getImage(id, refs);
      }
    }
    if (arg.idPrefix !== undefined) {
      const prefix = arg.idPrefix;
      const matches = (await this.listImageIds()).filter((id) => id.slice(7).startsWith(prefix));
      if (matches.length > 1) throw new KilnError('AMBIGUOUS_ID', `image ID prefix "${arg.text}" is ambiguous (${matches.length} images match)`, { location: { file: arg.text } });
      if (matches.length === 1) return this.getImage(matches[0] as string, refs);
    }
    return undefined;
  }

  /** resolveImage, or a KilnError saying the image is not in the store. */
  async requireImage(name: string | ImageArgument): Promise<ImageRecord> {
    const rec = await this.resolveImage(name);
    const text = typeof name === 'string' ? name : name.text;
    if (!rec) throw new KilnError('IMAGE_NOT_FOUND', `No such image: ${text}`, { location: { file: text } });
    return rec;
  }

  /** Points a tag at an image; returns the image ID the tag pointed at before, if another. */
  async tag(id: string, name: string | ImageReference): Promise<string | undefined> {
    const key = tagKey(name);
    // Re-tagging with the tag it already has (every cached rebuild does) changes nothing.
    if ((await this.refs.read()).tags[key] === id) return undefined;
    return this.lock.withLock(async () => {
      if (!(await this.getImage(id))) throw new KilnError('IMAGE_NOT_FOUND', `No such image: ${id}`, { location: { file: id } });
      let previous: string | undefined;
      await this.refs.update((r) => {
        previous = r.tags[key];
        r.tags[key] = id;
      });
      return previous !== id ? previous : undefined;
    });
  }

  /** Removes a tag; returns the image ID it pointed at, or undefined when there was no such tag. */
  async untag(name: string): Promise<string | undefined> {
    const key = normalizeTag(name);
    return this.lock.withLock(async () => {
      let previous: string | undefined;
      const current = await this.refs.read();
      if (!(key in current.tags)) return undefined;
      await this.refs.update((r) => {
        previous = r.tags[key];
        delete r.tags[key];
      });
      return previous;
    });
  }

  /** Every tag and repo digest, as stored. */
  refsData(): Promise<{ tags: Record<string, string>; digests: Record<string, string> }> {
    return this.refs.read();
  }

  /** Removes one tag or repo digest exactly as stored (`kiln check --repair` of a dangling one). */
  async dropRef(name: string): Promise<void> {
    await this.lock.withLock(() => this.refs.update((r) => {
      delete r.tags[name];
      delete r.digests[name];
    }));
  }

  /** Records that `ref`'s repository holds the image at `digest` (a push's or a pull's manifest). */
  async addRepoDigest(id: string, ref: ImageReference, digest: string): Promise<void> {
    const key = `${fullName(ref)}@${digest}`;
    await this.lock.withLock(() => this.refs.update((r) => { r.digests[key] = id; }));
  }

  /** Drops the image record and every tag and repo digest that points at it. Blobs stay until gc. */
  async removeImage(id: string): Promise<void> {
    await this.lock.withLock(async () => {
      await this.refs.update((r) => {
        for (const [k, v] of Object.entries(r.tags)) if (v === id) delete r.tags[k];
        for (const [k, v] of Object.entries(r.digests)) if (v === id) delete r.digests[k];
      });
      await unlink(join(this.imagesDir, `${hexOf(id)}.json`)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    });
  }

  /** Sum of the image's layer blob sizes (what docker shows as SIZE). */
  async imageSize(rec: ImageRecord): Promise<number> {
    let total = 0;
    for (const d of new Set(rec.config.rootfs.diff_ids)) {
      // A blob's size never changes (its name is its content): images sharing layers, as most
      // of a store's do, ask once per layer (`kiln images` over 1,000 images asked 1,000 times).
      let size = this.layerSizes.get(d);
      if (size === undefined) {
        size = await this.blobs.size(d).catch(() => undefined);
        if (size !== undefined) this.layerSizes.set(d, size);
      }
      total += size ?? 0;
    }
    return total;
  }

  /**
   * Removes blobs and snapshots no image record, lease (nor keepBlobs) refers to, older than the
   * grace period. Holds the lock, so it never races a commit.
   */
  gc(opts: GcOptions = {}): Promise<GcResult> {
    return this.withCollection((c) => this.collect(c, opts));
  }

  /** gc's work, inside withCollection. */
  async collect(collection: Collection, opts: GcOptions = {}): Promise<GcResult> {
    return this.removeCollected(await this.planCollection(collection, opts));
  }

  /**
   * What a collection would take, removing nothing: blobs and snapshots no image, lease nor
   * keepBlobs refers to, and copied roots of stacks no image has, each older than the grace
   * period.
   */
  async planCollection(collection: Collection, opts: GcOptions = {}): Promise<GcPlan> {
    return this.planAgainst(await this.heldContent(collection), opts);
  }

  /**
   * What images and the leases of running operations hold: what no collection takes. Every
   * image's config is read once (a store of 1,000 images spends much of its prune there).
   */
  async heldContent(collection: Collection): Promise<HeldContent> {
    const digests = new Set<string>();
    const chains = new Set<string>();
    for (const name of collection.held) {
      digests.add(name);
      if (name.startsWith('rootfs:')) chains.add(name.slice('rootfs:'.length));
    }
    for (const id of await this.listImageIds()) {
      digests.add(id);
      let diffIds: string[];
      try {
        diffIds = (JSON.parse((await this.readConfigBytes(id)).toString('utf8')) as ImageConfig).rootfs.diff_ids;
      } catch {
        continue; // a record whose config is gone protects nothing
      }
      // A stack's whole root stays while an image has that stack or a prefix of it.
      for (let n = 1; n <= diffIds.length; n++) {
        digests.add(diffIds[n - 1] as string);
        chains.add(chainId(diffIds.slice(0, n)));
      }
    }
    return { digests, chains };
  }

  /** planCollection's plan, against what `held` names (and keepBlobs) instead of reading it again. */
  async planAgainst(held: HeldContent, opts: GcOptions = {}): Promise<GcPlan> {
    const grace = opts.graceMs ?? 10 * 60_000;
    const keep = new Set<string>(opts.keepBlobs ?? []);
    const live = (d: string): boolean => held.digests.has(d) || keep.has(d);
    const now = Date.now();
    const result: GcPlan = { removedBlobs: [], removedSnapshots: [], removedRootfs: [], reclaimedBytes: 0, unheld: 0 };
    for (const digest of await this.blobs.list()) {
      if (live(digest)) continue;
      result.unheld++;
      const st = await stat(this.blobs.path(digest)).catch(() => undefined);
      if (!st || now - Math.max(st.mtimeMs, st.ctimeMs) < grace) continue;
      result.removedBlobs.push(digest);
      result.reclaimedBytes += st.size;
    }
    for (const diffId of await this.snapshots.list()) {
      if (live(diffId)) continue;
      result.unheld++;
      const st = await stat(this.snapshots.path(diffId)).catch(() => undefined);
      if (!st || now - st.ctimeMs < grace) continue;
      result.removedSnapshots.push(diffId);
    }
    for (const chain of await this.rootfsCopies.list()) {
      if (held.chains.has(chain)) continue;
      result.unheld++;
      const st = await stat(join(this.rootfsCopies.dir, chain.slice(7))).catch(() => undefined);
      if (!st || now - st.ctimeMs < grace) continue;
      result.removedRootfs.push(chain);
    }
    return result;
  }

  /** Removes what planCollection found, inside the same collection; returns it as done. */
  async removeCollected(plan: GcResult): Promise<GcResult> {
    for (const digest of plan.removedBlobs) await this.blobs.remove(digest);
    for (const diffId of plan.removedSnapshots) await this.snapshots.remove(diffId);
    for (const chain of plan.removedRootfs) await this.rootfsCopies.remove(chain);
    return plan;
  }
}

/** The key of a tag in the refs: a name parsed where the user gave it is not parsed again. */
function tagKey(name: string | ImageReference): string {
  return typeof name === 'string' ? normalizeTag(name) : fullReference(name);
}

/**
 * The tags and digests of a refs file grouped by the image each names, sorted; worked out once
 * per refs read, which is parsed fresh and never changed after (listing 1,000 images scanned
 * every tag once per image before: quadratic).
 */
const groupedNames = new WeakMap<object, Map<string, { tags: string[]; repoDigests: string[] }>>();

/**
 * One image's tags and digests: from the grouping when a listing made one for these refs, else
 * one pass over them (a build's commit names one image: grouping a store's 1,000 tags for it
 * cost a no-op rebuild 5 ms).
 */
function namesOf(refs: { tags: Record<string, string>; digests: Record<string, string> }, id: string): { tags: string[]; repoDigests: string[] } | undefined {
  const grouped = groupedNames.get(refs);
  if (grouped !== undefined) return grouped.get(id);
  const naming = (names: Record<string, string>): string[] => Object.keys(names).filter((n) => names[n] === id).sort();
  return { tags: naming(refs.tags), repoDigests: naming(refs.digests) };
}

function namesByImage(refs: { tags: Record<string, string>; digests: Record<string, string> }): Map<string, { tags: string[]; repoDigests: string[] }> {
  const grouped = groupedNames.get(refs);
  if (grouped !== undefined) return grouped;
  const byId = new Map<string, { tags: string[]; repoDigests: string[] }>();
  const entry = (id: string): { tags: string[]; repoDigests: string[] } => {
    const found = byId.get(id);
    if (found !== undefined) return found;
    const made = { tags: [], repoDigests: [] };
    byId.set(id, made);
    return made;
  };
  for (const [name, id] of Object.entries(refs.tags)) entry(id).tags.push(name);
  for (const [name, id] of Object.entries(refs.digests)) entry(id).repoDigests.push(name);
  for (const e of byId.values()) { e.tags.sort(); e.repoDigests.sort(); }
  groupedNames.set(refs, byId);
  return byId;
}

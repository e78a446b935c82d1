/**
 * `kiln check` on the store itself: every blob against its digest, every image's record →
 * config → layers chain, every tag and repo digest against its image, every snapshot against its
 * layer (with `full`: the layer unpacked afresh and compared file by file), and what dead writers
 * left behind. Each problem is a Finding with the repair that drops what is broken (a corrupt
 * blob, an image that lost a layer, a dangling tag) or makes it again (a snapshot, unpacked anew
 * from its verified blob). Checking only reads; the repairs that change records and tags take
 * the store lock as every writer does.
 */
import { createReadStream } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { configProblem, imageIdOf, type ImageConfig } from '../image/config.js';
import { nodeCrypto } from '../host/nodeCrypto.js';
import { hexOf } from './blobs.js';
import { Store } from './store.js';
import { treeDifference } from './treeDifference.js';

export interface Finding {
  /** What is broken: `blob sha256:…`, `image sha256:… (busybox:latest)`, `snapshot sha256:…`. */
  subject: string;
  problem: string;
  /** Drops or remakes it; says what was done. */
  repair: () => Promise<string>;
}

export interface StoreCheck {
  findings: Finding[];
  /** Blobs that are missing or do not match their digest: what else names them is broken too. */
  badBlobs: ReadonlySet<string>;
  counts: { blobs: number; images: number; tags: number; snapshots: number };
}

async function digestOf(path: string): Promise<string> {
  const hash = nodeCrypto().createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

async function checkBlobs(store: Store, findings: Finding[], bad: Set<string>): Promise<number> {
  const blobs = await store.blobs.list();
  for (const digest of blobs) {
    let got: string;
    try {
      got = await digestOf(store.blobPath(digest));
    } catch (err) {
      got = `unreadable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
    }
    if (got === digest) continue;
    bad.add(digest);
    findings.push({ subject: `blob ${digest}`, problem: `its content does not match its digest (it hashes to ${got})`, repair: async () => { await store.blobs.remove(digest); return 'removed'; } });
  }
  return blobs.length;
}

/** The image's chain, from its record to its config to every layer: the first break, if any. */
async function imageBreak(store: Store, id: string, bad: ReadonlySet<string>): Promise<string | undefined> {
  let record: { id?: unknown };
  try {
    record = JSON.parse(await readFile(join(store.root, 'images', `${hexOf(id)}.json`), 'utf8')) as { id?: unknown };
  } catch {
    return 'its record is not readable JSON';
  }
  if (record.id !== id) return `its record names ${String(record.id)}`;
  if (bad.has(id)) return 'its config blob is corrupt';
  let bytes: Buffer;
  try {
    bytes = await store.readConfigBytes(id);
  } catch {
    return 'its config blob is missing';
  }
  if (imageIdOf(bytes) !== id) return 'its config blob does not match the image ID';
  let config: unknown;
  try {
    config = JSON.parse(bytes.toString('utf8'));
  } catch {
    return 'its config is not JSON';
  }
  const problem = configProblem(config);
  if (problem) return `its config is invalid: ${problem}`;
  for (const diffId of (config as ImageConfig).rootfs.diff_ids) {
    if (bad.has(diffId)) return `its layer ${diffId} is corrupt`;
    if (!(await store.hasBlob(diffId))) return `its layer ${diffId} is missing`;
  }
  return undefined;
}

async function checkImages(store: Store, findings: Finding[], bad: ReadonlySet<string>): Promise<{ images: number; tags: number }> {
  const ids = await store.listImageIds();
  const refs = await store.refsData();
  const names = (id: string): string => {
    const n = [...Object.entries(refs.tags), ...Object.entries(refs.digests)].filter(([, v]) => v === id).map(([k]) => k);
    return n.length > 0 ? ` (${n.join(', ')})` : '';
  };
  const broken = new Set<string>();
  for (const id of ids) {
    const why = await imageBreak(store, id, bad);
    if (why === undefined) continue;
    broken.add(id);
    findings.push({ subject: `image ${id}${names(id)}`, problem: why, repair: async () => { await store.removeImage(id); return 'removed, with its tags (pull, load or build it again)'; } });
  }
  const known = new Set(ids);
  const all = [...Object.entries(refs.tags).map(([k, v]) => ['tag', k, v] as const), ...Object.entries(refs.digests).map(([k, v]) => ['repo digest', k, v] as const)];
  for (const [what, name, id] of all) {
    if (known.has(id)) continue;
    findings.push({ subject: `${what} ${name}`, problem: `it names image ${id}, which is not in the store`, repair: async () => { await store.dropRef(name); return 'removed'; } });
  }
  return { images: ids.length, tags: all.length };
}

async function checkSnapshots(store: Store, findings: Finding[], bad: ReadonlySet<string>, full: boolean): Promise<number> {
  const snapshots = await store.snapshots.list();
  const remake = (diffId: string) => async (): Promise<string> => {
    await store.snapshots.remove(diffId);
    if (bad.has(diffId) || !(await store.hasBlob(diffId))) return 'removed (its layer is not in the store to unpack again)';
    await store.snapshotDir(diffId);
    return 'unpacked again from its layer';
  };
  for (const diffId of snapshots) {
    if (bad.has(diffId) || !(await store.hasBlob(diffId))) {
      findings.push({ subject: `snapshot ${diffId}`, problem: `its layer is ${bad.has(diffId) ? 'corrupt' : 'not in the store'}`, repair: remake(diffId) });
      continue;
    }
    if (!full) continue;
    const fresh = await store.snapshots.unpackAside(diffId);
    try {
      const diff = await treeDifference(fresh, store.snapshots.path(diffId), { ignoreOwners: store.snapshots.flattened(diffId) });
      if (diff !== undefined) findings.push({ subject: `snapshot ${diffId}`, problem: `it differs from its layer: ${diff}`, repair: remake(diffId) });
    } finally {
      await rm(fresh, { recursive: true, force: true });
    }
  }
  return snapshots.length;
}

async function checkLeftovers(store: Store, findings: Finding[]): Promise<void> {
  for (const path of await Store.deadWritersTemps(store.root)) {
    findings.push({ subject: `temp file ${path}`, problem: 'left by a writer that died', repair: async () => { await rm(path, { force: true }); return 'removed'; } });
  }
}

/** Checks the store; with `full`, every snapshot file by file against its layer. */
export async function checkStore(store: Store, opts: { full?: boolean } = {}): Promise<StoreCheck> {
  const findings: Finding[] = [];
  const bad = new Set<string>();
  const blobs = await checkBlobs(store, findings, bad);
  const { images, tags } = await checkImages(store, findings, bad);
  const snapshots = await checkSnapshots(store, findings, bad, opts.full ?? false);
  await checkLeftovers(store, findings);
  return { findings, badBlobs: bad, counts: { blobs, images, tags, snapshots } };
}

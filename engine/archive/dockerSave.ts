/**
 * Writes images as the archive `docker save` (25+) writes, streamed: an OCI image layout
 * (`oci-layout`, `index.json`, `blobs/sha256/…` with the config, an OCI manifest and each layer
 * as an uncompressed tar named by its diff_id) plus docker's `manifest.json` and `repositories`.
 * Both of docker's image stores, podman and skopeo read it. The `oci` variant leaves out the two
 * docker files. Every entry has mtime 0 and fixed modes, so equal images give equal bytes.
 */
import { open } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { KilnError } from '../errors/kilnError.js';
import { sha256Digest } from '../image/config.js';
import { familiarName, familiarReference, fullReference, parseReference } from '../image/reference.js';
import type { ImageArgument } from '../image/imageArgument.js';
import { END_OF_ARCHIVE, headerBlocks, padding, type TarHeader } from '../layer/tarHeader.js';
import { hexOf } from '../store/blobs.js';
import type { ImageRecord, Store } from '../store/store.js';
import { ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST } from '../image/mediaTypes.js';
import type { Descriptor, DockerManifestItem, OciIndex, OciManifest } from './archiveManifest.js';

export interface SaveItem {
  image: ImageRecord;
  /** Full tag references to record for this image (`docker.io/library/busybox:latest`); [] for none. */
  tags: string[];
}

export type ArchiveLayout = 'docker' | 'oci';

const EPOCH = new Date(0);

/**
 * A layer is read and written a mebibyte at a time: in the small chunks of a stream (64 KiB
 * read, 16 KiB through a tar packer) a 100 MiB layer took thousands of thread-pool round trips
 * each way, and the save waited on them rather than on the disk.
 */
const CHUNK = 1024 * 1024;

function fileHeader(name: string, size: number, mode = 0o644): TarHeader {
  return { name, size, mode, mtime: EPOCH, type: 'file', uid: 0, gid: 0, linkname: '', devmajor: 0, devminor: 0 };
}

function dirHeader(name: string): TarHeader {
  return { ...fileHeader(name, 0, 0o755), type: 'directory' };
}

/**
 * The archive's output: writes wait for room, and the output's own failure (no space, a closed
 * pipe) is what a write throws, so that is what the user hears about.
 */
class ArchiveOutput {
  private failure: Error | undefined;
  private readonly onError = (err: Error): void => { this.failure ??= err; };

  constructor(private readonly out: Writable) {
    out.on('error', this.onError);
  }

  async put(chunk: Buffer): Promise<void> {
    if (chunk.length === 0) return;
    if (!this.out.write(chunk)) await drained(this.out);
    if (this.failure) throw this.failure;
    if (this.out.destroyed) throw new KilnError('WRITE_FAILED', 'the output closed before the archive was written');
  }

  /** The output's failure when there was one, else `err`. */
  explain(err: unknown): unknown {
    return this.failure ?? err;
  }

  detach(): void {
    this.out.off('error', this.onError);
  }
}

async function putEntry(o: ArchiveOutput, header: TarHeader, body?: Buffer): Promise<void> {
  for (const block of headerBlocks(header)) await o.put(block);
  if (body) {
    await o.put(body);
    await o.put(padding(body.length));
  }
}

/** A blob as one file entry, read a chunk ahead of the write so the two overlap. */
async function putFile(o: ArchiveOutput, name: string, path: string, size: number): Promise<void> {
  for (const block of headerBlocks(fileHeader(name, size, 0o444))) await o.put(block);
  const file = await open(path, 'r');
  const readChunk = async (): Promise<Buffer> => {
    const buf = Buffer.allocUnsafe(CHUNK);
    const { bytesRead } = await file.read(buf, 0, CHUNK, null);
    return buf.subarray(0, bytesRead);
  };
  let next = readChunk();
  try {
    let written = 0;
    for (;;) {
      const chunk = await next;
      written += chunk.length;
      if (chunk.length === 0 || written > size) break;
      next = readChunk();
      await o.put(chunk);
    }
    if (written !== size) throw new KilnError('BLOB_CHANGED', `blob ${path} changed size while it was being saved`);
  } finally {
    await next.catch(() => undefined);
    await file.close();
  }
  await o.put(padding(size));
}

/** Waits for 'drain' (or the end of the stream), leaving no listeners behind. */
function drained(out: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      out.off('drain', done);
      out.off('close', done);
      out.off('error', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
    out.on('error', done);
  });
}

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

/** Builds the per-image OCI manifest and the archive's index and docker manifest. */
async function describe(store: Store, items: readonly SaveItem[], layout: ArchiveLayout) {
  const blobs = new Map<string, { path?: string; bytes?: Buffer; size: number }>();
  const index: OciIndex = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
  const dockerManifest: DockerManifestItem[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  for (const { image, tags } of items) {
    const configBytes = await store.readConfigBytes(image.id);
    blobs.set(image.id, { bytes: configBytes, size: configBytes.length });
    const layers: Descriptor[] = [];
    for (const diffId of image.config.rootfs.diff_ids) {
      if (!(await store.hasBlob(diffId))) throw new KilnError('LAYER_MISSING', `image ${image.id}: layer ${diffId} is missing from the store`);
      const size = await store.blobs.size(diffId);
      blobs.set(diffId, { path: store.blobPath(diffId), size });
      layers.push({ mediaType: OCI_LAYER, digest: diffId, size });
    }
    const manifest: OciManifest = { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: image.id, size: configBytes.length }, layers };
    const manifestBytes = json(manifest);
    const manifestDigest = sha256Digest(manifestBytes);
    blobs.set(manifestDigest, { bytes: manifestBytes, size: manifestBytes.length });
    const desc = { mediaType: OCI_MANIFEST, digest: manifestDigest, size: manifestBytes.length };
    if (tags.length === 0) index.manifests.push(desc);
    for (const t of tags) {
      const ref = parseReference(t, { defaultTag: false });
      index.manifests.push({ ...desc, annotations: { [ANNOTATION_CONTAINERD_NAME]: fullReference(ref), [ANNOTATION_REF_NAME]: ref.tag ?? 'latest' } });
      const top = image.config.rootfs.diff_ids[image.config.rootfs.diff_ids.length - 1];
      if (top !== undefined && ref.tag !== undefined) (repositories[familiarName(ref)] ??= {})[ref.tag] = hexOf(top);
    }
    if (layout === 'docker') {
      const layerSources: Record<string, Descriptor> = {};
      for (const l of layers) layerSources[l.digest] = l;
      dockerManifest.push({
        Config: `blobs/sha256/${hexOf(image.id)}`,
        RepoTags: tags.length > 0 ? tags.map((t) => familiarReference(parseReference(t))) : null,
        Layers: layers.map((l) => `blobs/sha256/${hexOf(l.digest)}`),
        LayerSources: layerSources,
      });
    }
  }
  return { blobs, index, dockerManifest, repositories };
}

/** Streams the archive for `items` into `out` (not ended: the caller owns it). */
export async function writeArchive(store: Store, items: readonly SaveItem[], out: Writable, layout: ArchiveLayout): Promise<void> {
  if (items.length === 0) throw new KilnError('NOTHING_TO_SAVE', 'no images to save');
  const { blobs, index, dockerManifest, repositories } = await describe(store, items, layout);
  const o = new ArchiveOutput(out);
  try {
    await putEntry(o, dirHeader('blobs/'));
    await putEntry(o, dirHeader('blobs/sha256/'));
    for (const digest of [...blobs.keys()].sort()) {
      const b = blobs.get(digest)!;
      const name = `blobs/sha256/${hexOf(digest)}`;
      if (b.bytes) await putEntry(o, fileHeader(name, b.size, 0o444), b.bytes);
      else await putFile(o, name, b.path!, b.size);
    }
    const small: [string, Buffer][] = [['index.json', json(index)]];
    if (layout === 'docker') small.push(['manifest.json', json(dockerManifest)]);
    small.push(['oci-layout', json({ imageLayoutVersion: '1.0.0' })]);
    if (layout === 'docker' && Object.keys(repositories).length > 0) small.push(['repositories', json(repositories)]);
    for (const [name, bytes] of small) await putEntry(o, fileHeader(name, bytes.length), bytes);
    await o.put(END_OF_ARCHIVE);
  } catch (err) {
    throw o.explain(err);
  } finally {
    o.detach();
  }
}

/** Bytes the archive of `items` takes, near enough to say how much room a save needs. */
export async function archiveBytes(store: Store, items: readonly SaveItem[]): Promise<number> {
  const entry = (size: number): number => 512 + Math.ceil(size / 512) * 512;
  const seen = new Set<string>();
  let total = 1024 + 10 * 1024; // the end of the archive, the index, manifests and small files
  for (const { image } of items) {
    for (const d of [image.id, ...image.config.rootfs.diff_ids]) {
      if (seen.has(d)) continue;
      seen.add(d);
      total += entry(await store.blobs.size(d).catch(() => 0));
    }
  }
  return total;
}

export function writeDockerArchive(store: Store, items: readonly SaveItem[], out: Writable): Promise<void> {
  return writeArchive(store, items, out, 'docker');
}

export function writeOciArchive(store: Store, items: readonly SaveItem[], out: Writable): Promise<void> {
  return writeArchive(store, items, out, 'oci');
}

/**
 * What `kiln save NAME…` means, as docker has it: `name:tag` saves that tag; a bare name saves
 * every tag of that repository; an ID saves the image with no tags. The same image named twice
 * is written once, with all the tags asked for.
 */
export async function resolveSaveItems(store: Store, names: readonly ImageArgument[]): Promise<SaveItem[]> {
  const byId = new Map<string, SaveItem>();
  const add = (image: ImageRecord, tags: string[]): void => {
    const item = byId.get(image.id) ?? { image, tags: [] };
    for (const t of tags) if (!item.tags.includes(t)) item.tags.push(t);
    byId.set(image.id, item);
  };
  const all = await store.listImages();
  for (const name of names) {
    const ref = name.reference;
    if (ref && ref.tag === undefined && ref.digest === undefined) {
      const repo = `${ref.domain}/${ref.path}:`;
      const matches = all.flatMap((img) => img.tags.filter((t) => t.startsWith(repo)).map((t) => [img, t] as const));
      if (matches.length > 0) {
        for (const [img, t] of matches) add(img, [t]);
        continue;
      }
    }
    const image = await store.requireImage(name);
    const tagged = ref && ref.digest === undefined && !image.id.slice(7).startsWith(name.text.replace(/^sha256:/, '')) ? [fullReference({ ...ref, tag: ref.tag ?? 'latest' })] : [];
    add(image, tagged.filter((t) => image.tags.includes(t)));
  }
  const items = [...byId.values()];
  // Held while the archive is written: an rmi and prune meanwhile leave the content.
  for (const item of items) await store.holdImage(item.image);
  return items;
}

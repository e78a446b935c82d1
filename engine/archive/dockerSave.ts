/**
 * Writes images as the archive `docker save` (25+) writes, streamed: an OCI image layout
 * (`oci-layout`, `index.json`, `blobs/sha256/…` with the config, an OCI manifest and each layer
 * as an uncompressed tar named by its diff_id) plus docker's `manifest.json` and `repositories`.
 * Both of docker's image stores, podman and skopeo read it. The `oci` variant leaves out the two
 * docker files. Every entry has mtime 0 and fixed modes, so equal images give equal bytes.
 */
import { createReadStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { pack as tarPack, type Header, type Pack } from 'tar-stream';
import { KilnError } from '../errors/kilnError.js';
import { sha256Digest } from '../image/config.js';
import { familiarName, familiarReference, fullReference, parseReference } from '../image/reference.js';
import type { ImageArgument } from '../image/imageArgument.js';
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

function entry(p: Pack, header: Header, body?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
    if (header.type === 'directory') p.entry(header, cb);
    else p.entry(header, body ?? Buffer.alloc(0), cb);
  });
}

function fileHeader(name: string, size: number, mode = 0o644): Header {
  return { name, size, mode: 0o100000 | mode, mtime: EPOCH, type: 'file', uid: 0, gid: 0, uname: '', gname: '', linkname: '', devmajor: 0, devminor: 0 };
}

async function streamFile(p: Pack, name: string, path: string, size: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const sink = p.entry(fileHeader(name, size, 0o444), (err) => (err ? reject(err) : resolve()));
    (async () => {
      let written = 0;
      for await (const chunk of createReadStream(path)) {
        written += (chunk as Buffer).length;
        if (!sink.write(chunk as Buffer)) await new Promise<void>((r) => sink.once('drain', () => r()));
      }
      if (written !== size) throw new KilnError('BLOB_CHANGED', `blob ${path} changed size while it was being saved`);
      (sink as unknown as { end(): void }).end();
    })().catch((err: unknown) => {
      sink.destroy(err as Error);
      reject(err);
    });
  });
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
  const p = tarPack();
  const producing = (async () => {
    const dir = (name: string): Header => ({ ...fileHeader(name, 0), mode: 0o40755, type: 'directory' });
    await entry(p, dir('blobs/'));
    await entry(p, dir('blobs/sha256/'));
    for (const digest of [...blobs.keys()].sort()) {
      const b = blobs.get(digest)!;
      if (b.bytes) await entry(p, fileHeader(`blobs/sha256/${hexOf(digest)}`, b.size, 0o444), b.bytes);
      else await streamFile(p, `blobs/sha256/${hexOf(digest)}`, b.path!, b.size);
    }
    const small: [string, Buffer][] = [['index.json', json(index)]];
    if (layout === 'docker') small.push(['manifest.json', json(dockerManifest)]);
    small.push(['oci-layout', json({ imageLayoutVersion: '1.0.0' })]);
    if (layout === 'docker' && Object.keys(repositories).length > 0) small.push(['repositories', json(repositories)]);
    for (const [name, bytes] of small) await entry(p, fileHeader(name, bytes.length), bytes);
    p.finalize();
  })().catch((err: unknown) => { p.destroy(err as Error); throw err; });
  // The output's own failure (no space, a closed pipe) is what the user must hear about, not the
  // tar stream's complaint that its entry was cut short.
  let outFailure: Error | undefined;
  const onOutError = (err: Error): void => { outFailure ??= err; };
  out.on('error', onOutError);
  try {
    for await (const chunk of p as unknown as AsyncIterable<Buffer>) {
      if (!out.write(chunk)) await drained(out);
      if (outFailure) throw outFailure;
      if (out.destroyed) throw new KilnError('WRITE_FAILED', 'the output closed before the archive was written');
    }
    await producing;
  } catch (err) {
    p.destroy();
    await producing.catch(() => undefined); // settled, so its failure is never left unhandled
    throw outFailure ?? err;
  } finally {
    out.off('error', onOutError);
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

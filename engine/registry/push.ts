/**
 * `kiln push`: layers (stored uncompressed) go up gzip-compressed on the fly, as docker and
 * BuildKit push them: registries, CDNs and every client expect gzip, and it roughly halves what
 * travels for typical layers. Before compressing anything kiln asks the registry whether it
 * already has a known compressed form (HEAD), then tries a cross-repository mount from a
 * repository of the same registry it is known to be in; only then does it compress and upload.
 * The config follows, and the manifest goes last, so a tag never names missing blobs.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { gzipLevelFor } from './gzipLevel.js';
import PQueue from 'p-queue';
import { KilnError } from '../errors/kilnError.js';
import { repositoryScope } from './auth.js';
import { BlobSources, type CompressedVariant } from './blobSources.js';
import { RegistryClient, type RegistryClientOptions } from './client.js';
import { sha256Digest, type Descriptor } from './manifest.js';
import { OCI_CONFIG, OCI_LAYER, OCI_LAYER_GZIP, OCI_MANIFEST, layerCompression } from '../image/mediaTypes.js';
import { familiarReference, fullReference, parseReference, type ImageReference } from '../image/reference.js';
import type { ImageArgument } from '../image/imageArgument.js';
import type { Store } from '../store/store.js';
import { shortDigest, type ProgressCallback } from './transferProgress.js';
import { blobExists, mountBlob, uploadBytes, uploadStream } from './upload.js';
import { nodeZlib } from '../lateLoading.js';

/** docker's default --max-concurrent-uploads. */
const DEFAULT_CONCURRENCY = 5;

export interface PushOptions extends RegistryClientOptions {
  onProgress?: ProgressCallback;
  concurrency?: number;
  /** Chunk size of chunked uploads (default UPLOAD_CHUNK_BYTES); a layer that compresses to less goes up in one request. */
  chunkBytes?: number;
}

export type LayerOutcome = 'exists' | 'mounted' | 'uploaded';

export interface PushResult {
  /** Digest of the manifest the registry now has under the tag. */
  digest: string;
  size: number;
  manifest: Buffer;
  layers: { diffId: string; descriptor: Descriptor; outcome: LayerOutcome }[];
}

function preferred(variants: CompressedVariant[], ref: ImageReference): CompressedVariant[] {
  const rank = (v: CompressedVariant): number => (v.sources.some((s) => s.registry === ref.domain && s.repository === ref.path) ? 0 : v.sources.some((s) => s.registry === ref.domain) ? 1 : v.mediaType === OCI_LAYER_GZIP ? 2 : 3);
  return variants.filter((v) => layerCompression(v.mediaType) !== undefined).sort((a, b) => rank(a) - rank(b));
}

/** Pushes one stored layer; returns the descriptor the manifest lists for it. */
async function pushLayer(store: Store, client: RegistryClient, ref: ImageReference, diffId: string, sources: BlobSources, onProgress: ProgressCallback | undefined, chunkBytes: number | undefined): Promise<{ descriptor: Descriptor; outcome: LayerOutcome }> {
  const here = { registry: ref.domain, repository: ref.path };
  const path = store.blobPath(diffId);
  const rawSize = (await stat(path)).size;
  const known = preferred(await sources.lookup(diffId), ref);
  // The uncompressed form is a candidate too: another tool may have pushed it that way.
  const candidates: CompressedVariant[] = [...known, { digest: diffId, size: rawSize, mediaType: OCI_LAYER, sources: [] }];
  for (const v of candidates) {
    if (await blobExists(client, ref, v.digest)) {
      onProgress?.({ digest: v.digest, status: 'exists', total: v.size });
      await sources.record(diffId, v, here);
      return { descriptor: { mediaType: v.mediaType, digest: v.digest, size: v.size }, outcome: 'exists' };
    }
  }
  let session: string | undefined;
  mounting: for (const v of known) {
    for (const s of v.sources) {
      if (s.registry !== ref.domain || s.repository === ref.path) continue;
      const mounted = await mountBlob(client, ref, v.digest, s.repository);
      if (mounted === true) {
        onProgress?.({ digest: v.digest, status: 'mounted', total: v.size, message: `mounted from ${s.repository}` });
        await sources.record(diffId, v, here);
        return { descriptor: { mediaType: v.mediaType, digest: v.digest, size: v.size }, outcome: 'mounted' };
      }
      session = mounted;
      break mounting;
    }
  }
  const id = shortDigest(diffId);
  onProgress?.({ digest: diffId, status: 'uploading', current: 0, total: rawSize });
  const source = createReadStream(path, { highWaterMark: 1 << 20 });
  // Level 1 compresses text nearly as well as the default 6 at several times the speed (a push
  // is CPU-bound on small machines); incompressible layers are stored (see gzipLevel.ts).
  const gzip = nodeZlib().createGzip({ level: await gzipLevelFor(path, rawSize) });
  source.on('error', (e) => gzip.destroy(e));
  let read = 0;
  let lastReport = 0;
  source.on('data', (c) => {
    read += c.length;
    if (read - lastReport >= 1 << 20) {
      lastReport = read;
      onProgress?.({ digest: diffId, status: 'uploading', current: read, total: rawSize });
    }
  });
  source.pipe(gzip);
  let result;
  try {
    result = await uploadStream(client, ref, gzip, { ...(session === undefined ? {} : { session }), ...(chunkBytes === undefined ? {} : { chunkBytes }) });
  } catch (e) {
    source.destroy();
    gzip.destroy();
    if (e instanceof KilnError) throw e;
    throw new KilnError('PUSH_FAILED', `uploading layer ${id} of ${client.subject} failed: ${(e as Error).message}`, { cause: e });
  }
  onProgress?.({ digest: diffId, status: 'done', current: rawSize, total: rawSize, message: `${result.mode} upload, ${result.size} bytes compressed` });
  const variant = { digest: result.digest, size: result.size, mediaType: OCI_LAYER_GZIP };
  await sources.record(diffId, variant, here);
  return { descriptor: variant, outcome: 'uploaded' };
}

export interface ManifestContent {
  configBytes: Buffer;
  configMediaType?: string;
  /** Stored layers, in manifest order. */
  diffIds: readonly string[];
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** Pushes an image given by its config bytes (whose rootfs.diff_ids name stored layers) under `ref`. */
export async function pushImageContent(store: Store, ref: ImageReference, configBytes: Buffer, opts: PushOptions = {}): Promise<PushResult> {
  const subject = familiarReference(ref);
  let config: { rootfs?: { diff_ids?: unknown } };
  try {
    config = JSON.parse(configBytes.toString('utf8')) as typeof config;
  } catch {
    throw new KilnError('BAD_CONFIG', `the stored config of ${subject} is not JSON`);
  }
  const diffIds = Array.isArray(config.rootfs?.diff_ids) ? (config.rootfs?.diff_ids as string[]) : [];
  return pushManifest(store, ref, { configBytes, diffIds }, opts);
}

/**
 * Pushes layers, then the config, then an OCI manifest naming them under `ref`'s tag (or
 * digest). Images and cache artifacts both go through here.
 */
export async function pushManifest(store: Store, ref: ImageReference, content: ManifestContent, opts: PushOptions = {}): Promise<PushResult> {
  const subject = familiarReference(ref);
  const { configBytes, diffIds } = content;
  const extra = content;
  for (const d of diffIds) {
    if (!(await store.hasBlob(d))) throw new KilnError('LAYER_MISSING', `layer ${d} of ${subject} is not in the store; it cannot be pushed`);
  }
  const client = new RegistryClient(ref.domain, subject, opts);
  const sources = new BlobSources(store.root);
  const queue = new PQueue({ concurrency: opts.concurrency ?? DEFAULT_CONCURRENCY });
  const pushes = diffIds.map((d) => queue.add(() => pushLayer(store, client, ref, d, sources, opts.onProgress, opts.chunkBytes)) as Promise<{ descriptor: Descriptor; outcome: LayerOutcome }>);
  const settled = await Promise.allSettled(pushes);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  const layers = settled.map((r, i) => ({ diffId: diffIds[i] as string, ...(r as PromiseFulfilledResult<{ descriptor: Descriptor; outcome: LayerOutcome }>).value }));

  const configDigest = sha256Digest(configBytes);
  if (!(await blobExists(client, ref, configDigest))) await uploadBytes(client, ref, configBytes, configDigest);
  const manifestJson: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    ...(extra.artifactType ? { artifactType: extra.artifactType } : {}),
    config: { mediaType: extra.configMediaType ?? OCI_CONFIG, digest: configDigest, size: configBytes.length },
    // Fixed key order: the manifest digest must not depend on how a descriptor was found.
    layers: layers.map(({ descriptor: d }) => ({ mediaType: d.mediaType, digest: d.digest, size: d.size })),
    ...(extra.annotations ? { annotations: extra.annotations } : {}),
  };
  const manifest = Buffer.from(JSON.stringify(manifestJson), 'utf8');
  const digest = sha256Digest(manifest);
  const target = ref.tag ?? ref.digest ?? 'latest';
  if (ref.digest && ref.digest !== digest && !ref.tag) {
    throw new KilnError('DIGEST_MISMATCH', `cannot push ${subject}: the image's manifest digest is ${digest}, not the one named`);
  }
  const response = await client.request(`/v2/${ref.path}/manifests/${target}`, {
    method: 'PUT',
    scopes: [repositoryScope(ref.path, ['pull', 'push'])],
    headers: { 'content-type': OCI_MANIFEST },
    body: manifest,
  });
  if (response.status !== 201 && response.status !== 200) throw await client.failure(response, 'putting the manifest');
  await response.body?.cancel();
  const announced = response.headers.get('docker-content-digest');
  if (announced && announced !== digest) {
    throw new KilnError('DIGEST_MISMATCH', `registry ${client.host} recorded manifest ${announced} for ${subject}, kiln sent ${digest}`);
  }
  return { digest, size: manifest.length, manifest, layers };
}

/**
 * `kiln push REF`: the image the store has under REF (a tag, or an ID with REF naming the
 * destination) goes to the registry REF names. Returns the manifest digest.
 */
export async function pushImage(store: Store, name: string | ImageReference, opts: PushOptions & { source?: string | ImageArgument } = {}): Promise<PushResult> {
  const ref = typeof name === 'string' ? parseReference(name) : name;
  const record = await store.requireImage(opts.source ?? (typeof name === 'string' ? name : { text: fullReference(ref), reference: ref }));
  await store.holdImage(record);
  const configBytes = await store.readConfigBytes(record.id);
  opts.onProgress?.({ status: 'resolving', message: `pushing ${familiarReference(ref)} (image ${shortDigest(record.id)})` });
  const result = await pushImageContent(store, ref, configBytes, opts);
  await store.addRepoDigest(record.id, ref, result.digest);
  return result;
}

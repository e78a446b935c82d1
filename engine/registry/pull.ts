/**
 * `kiln pull` and `FROM` of a missing image: resolve the manifest (choosing the platform from
 * an index), fetch and verify the config, download the layers in parallel (hashing the
 * compressed bytes against the manifest and the decompressed bytes against the config's
 * diff_ids while streaming), store them uncompressed, and commit the image with the config
 * bytes unchanged so its ID is the registry's config digest.
 */
import { pipeline } from 'node:stream/promises';
import PQueue from 'p-queue';
import { KilnError } from '../errors/kilnError.js';
import { repositoryScope } from './auth.js';
import { BlobSources } from './blobSources.js';
import { RegistryClient, bodyStream, type RegistryClientOptions } from './client.js';
import { decompressor } from './decompress.js';
import { parseManifest, sha256Digest, type Descriptor, type FetchedManifest, type ImageManifest } from './manifest.js';
import { MANIFEST_ACCEPT, layerCompression } from '../image/mediaTypes.js';
import { formatPlatform, hostPlatform, parsePlatform, platformMatches, type Platform } from '../image/platform.js';
import { familiarReference, fullReference, parseReference, withDigest, type ImageReference } from '../image/reference.js';
import type { ImageRecord, Store } from '../store/store.js';
import { shortDigest, type ProgressCallback } from './transferProgress.js';
import { VerifyingStream, digestMismatch } from './verifyingStream.js';

/** distribution refuses manifests over 4 MiB; configs are small JSON too. */
const MANIFEST_LIMIT = 4 * 1024 * 1024;
const CONFIG_LIMIT = 32 * 1024 * 1024;
/** docker's default --max-concurrent-downloads. */
const DEFAULT_CONCURRENCY = 3;
const DOWNLOAD_ATTEMPTS = 3;
const ATTESTATION_REFERENCE_TYPE = 'attestation-manifest';

export interface PullOptions extends RegistryClientOptions {
  /** `os/arch[/variant]`; default this machine's. */
  platform?: Platform | string;
  onProgress?: ProgressCallback;
  concurrency?: number;
}

/** A manifest resolved for one platform, with its config: everything but the layers. */
export interface ResolvedImage {
  ref: ImageReference;
  /** Digest of the manifest (not the index) the image was pulled by. */
  manifestDigest: string;
  /** Digest of what the tag pointed at (the index for a multi-platform image). */
  topDigest: string;
  manifest: ImageManifest;
  configBytes: Buffer;
  config: { os?: string; architecture?: string; variant?: string; rootfs?: { diff_ids?: string[] } };
  diffIds: string[];
}

/** Reads a response body into memory, refusing one over `limit` bytes (manifests, configs). */
async function readLimited(response: Response, limit: number, what: string, subject: string): Promise<Buffer> {
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel();
    throw new KilnError('BAD_MANIFEST', `${what} of ${subject} is ${declared} bytes, over the ${limit}-byte limit`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of bodyStream(response)) {
    total += (chunk as Buffer).length;
    if (total > limit) throw new KilnError('BAD_MANIFEST', `${what} of ${subject} is over the ${limit}-byte limit`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** GET a manifest by tag or digest and verify its bytes against the digest asked for or announced. */
export async function fetchManifest(client: RegistryClient, ref: ImageReference, reference: string, subject: string): Promise<FetchedManifest> {
  const response = await client.request(`/v2/${ref.path}/manifests/${reference}`, {
    scopes: [repositoryScope(ref.path, ['pull'])],
    headers: { accept: MANIFEST_ACCEPT },
  });
  if (response.status === 404) {
    const details = await RegistryClient.errorDetail(response);
    const words = details.map((d) => d.message || d.code).filter(Boolean).join('; ');
    throw new KilnError('IMAGE_NOT_FOUND', `image not found: ${subject}: manifest unknown in ${client.host}${words ? ` (${words})` : ''}`);
  }
  if (!response.ok) throw await client.failure(response, 'fetching the manifest');
  const bytes = await readLimited(response, MANIFEST_LIMIT, 'the manifest', subject);
  const actual = sha256Digest(bytes);
  const announced = response.headers.get('docker-content-digest');
  if (reference.includes(':') && reference.startsWith('sha256:') && actual !== reference) {
    throw digestMismatch({ digest: reference, what: `the manifest of ${subject}`, subject }, actual);
  }
  if (announced && announced.startsWith('sha256:') && announced !== actual) {
    throw digestMismatch({ digest: announced, what: `the manifest of ${subject} (Docker-Content-Digest)`, subject }, actual);
  }
  return parseManifest(bytes, response.headers.get('content-type'), actual, subject);
}

function isAttestation(d: Descriptor): boolean {
  return d.annotations?.['vnd.docker.reference.type'] === ATTESTATION_REFERENCE_TYPE || (d.platform?.os === 'unknown' && d.platform?.architecture === 'unknown');
}

/** The index entry for `wanted`: exact variant first, then any variant of the same os/arch. */
export function selectPlatform(manifests: readonly Descriptor[], wanted: Platform): Descriptor | undefined {
  const candidates = manifests.filter((d) => d.platform && !isAttestation(d) && platformMatches(wanted, d.platform));
  if (wanted.variant === undefined) {
    // Prefer an entry without a variant (arm64 vs arm64/v8 are the same) before any other.
    return candidates.find((d) => !d.platform?.variant) ?? candidates[0];
  }
  return candidates[0];
}

/** Fetches a blob small enough to hold in memory (a config), verified. */
export async function fetchSmallBlob(client: RegistryClient, ref: ImageReference, desc: Descriptor, what: string, subject: string): Promise<Buffer> {
  if (desc.size > CONFIG_LIMIT) throw new KilnError('BAD_MANIFEST', `${what} of ${subject} claims ${desc.size} bytes, over the ${CONFIG_LIMIT}-byte limit`);
  const response = await client.request(`/v2/${ref.path}/blobs/${desc.digest}`, { scopes: [repositoryScope(ref.path, ['pull'])] });
  if (response.status === 404) {
    await response.body?.cancel();
    throw new KilnError('BLOB_UNKNOWN', `${what} ${desc.digest} of ${subject} is missing from ${client.host}`);
  }
  if (!response.ok) throw await client.failure(response, `fetching ${what}`);
  const bytes = await readLimited(response, CONFIG_LIMIT, what, subject);
  const actual = sha256Digest(bytes);
  if (actual !== desc.digest || bytes.length !== desc.size) throw digestMismatch({ digest: desc.digest, size: desc.size, what: `${what} of ${subject}`, subject }, actual);
  return bytes;
}

/** Resolves a reference to one platform's manifest and config, verifying both. */
export async function resolveImage(client: RegistryClient, ref: ImageReference, opts: { platform?: Platform | string; onProgress?: ProgressCallback } = {}): Promise<ResolvedImage> {
  const subject = familiarReference(ref);
  const explicit = opts.platform !== undefined;
  const wanted = typeof opts.platform === 'string' ? parsePlatform(opts.platform) : (opts.platform ?? hostPlatform());
  opts.onProgress?.({ status: 'resolving', message: `resolving ${subject}` });
  const top = await fetchManifest(client, ref, ref.digest ?? ref.tag ?? 'latest', subject);
  let fetched = top;
  if (top.kind === 'index') {
    const entry = selectPlatform(top.index.manifests, wanted);
    if (!entry) {
      const available = top.index.manifests.filter((d) => d.platform && !isAttestation(d)).map((d) => formatPlatform(d.platform as Platform));
      throw new KilnError('NO_MATCHING_PLATFORM', `no manifest for platform ${formatPlatform(wanted)} in ${subject}${available.length ? ` (it has: ${[...new Set(available)].join(', ')})` : ''}`);
    }
    fetched = await fetchManifest(client, withDigest(ref, entry.digest), entry.digest, subject);
    if (fetched.kind !== 'manifest') throw new KilnError('UNSUPPORTED_MANIFEST', `${subject}: the ${formatPlatform(wanted)} entry is itself an index; nested indexes are not supported`);
  }
  if (fetched.kind !== 'manifest') throw new Error('unreachable: index handled above');
  const manifest = fetched.manifest;
  const configBytes = await fetchSmallBlob(client, ref, manifest.config, 'the image config', subject);
  let config: ResolvedImage['config'];
  try {
    config = JSON.parse(configBytes.toString('utf8')) as ResolvedImage['config'];
  } catch {
    throw new KilnError('BAD_CONFIG', `the image config of ${subject} is not JSON`);
  }
  const diffIds = config.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.some((d) => typeof d !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(d))) {
    throw new KilnError('BAD_CONFIG', `the image config of ${subject} has no valid rootfs.diff_ids (is it an image, not an artifact?)`);
  }
  if (diffIds.length !== manifest.layers.length) {
    throw new KilnError('BAD_CONFIG', `${subject}: the manifest lists ${manifest.layers.length} layers but the config ${diffIds.length} diff_ids`);
  }
  if (config.os && config.architecture && !platformMatches(wanted, { os: config.os, architecture: config.architecture, variant: config.variant })) {
    const got = formatPlatform({ os: config.os, architecture: config.architecture, variant: config.variant });
    if (explicit) throw new KilnError('NO_MATCHING_PLATFORM', `${subject} is for ${got}, not the requested ${formatPlatform(wanted)}`);
    opts.onProgress?.({ status: 'warning', message: `the image's platform (${got}) does not match this machine's (${formatPlatform(wanted)})` });
  }
  return { ref, manifestDigest: fetched.digest, topDigest: top.digest, manifest, configBytes, config, diffIds };
}

function isTransient(e: unknown): boolean {
  if (e instanceof KilnError) return e.code === 'REGISTRY_UNREACHABLE';
  const code = (e as NodeJS.ErrnoException)?.code ?? '';
  return !code.startsWith('Z_') && !code.startsWith('ERR_STREAM_PREMATURE');
}

/** Downloads one layer into the store as its uncompressed tar, verified twice (blob digest, diff_id) while streaming. */
async function downloadLayer(store: Store, client: RegistryClient, ref: ImageReference, desc: Descriptor, diffId: string, onProgress: ProgressCallback | undefined, signal: AbortSignal): Promise<void> {
  const subject = familiarReference(ref);
  const compression = layerCompression(desc.mediaType);
  if (compression === undefined) throw new KilnError('UNSUPPORTED_LAYER', `layer ${desc.digest} of ${subject} has media type ${desc.mediaType}, which kiln cannot unpack`);
  const what = `layer ${shortDigest(desc.digest)} of ${subject}`;
  for (let attempt = 1; ; attempt++) {
    onProgress?.({ digest: desc.digest, status: 'downloading', current: 0, total: desc.size });
    const response = await client.request(`/v2/${ref.path}/blobs/${desc.digest}`, { scopes: [repositoryScope(ref.path, ['pull'])], signal });
    if (response.status === 404) {
      await response.body?.cancel();
      throw new KilnError('BLOB_UNKNOWN', `${what} (${desc.digest}) is missing from ${client.host}`);
    }
    if (!response.ok) throw await client.failure(response, `downloading ${what}`);
    const body = bodyStream(response);
    let lastReport = 0;
    const compressed = new VerifyingStream({
      digest: desc.digest,
      size: desc.size,
      what,
      subject,
      onBytes: (n) => {
        // A progress event per ~1 MiB is plenty for a terminal and cheap for a big layer.
        if (n - lastReport >= 1 << 20 || n === desc.size) {
          lastReport = n;
          onProgress?.({ digest: desc.digest, status: 'downloading', current: n, total: desc.size });
        }
      },
    });
    // The store hashes what it ingests and refuses it unless it is the diff_id: that is the
    // second verification, so the uncompressed bytes are hashed once, not twice.
    const inflate = decompressor(compression, subject);
    const flow = pipeline(body, compressed, inflate);
    const ingest = store.ingestBlob(inflate, { expectedDigest: diffId, source: `${fullReference(ref)} ${desc.digest}`, what: 'a layer' });
    try {
      await Promise.all([flow, ingest]);
      onProgress?.({ digest: desc.digest, status: 'done', current: desc.size, total: desc.size });
      return;
    } catch (caught) {
      for (const s of [body, compressed, inflate]) s.destroy();
      const [, ingested] = await Promise.allSettled([flow, ingest]);
      // The store refusing the bytes (no space…) stops the download too: its reason is the one.
      const e = ingested.status === 'rejected' && ingested.reason instanceof KilnError && ingested.reason.exitCode !== 1 ? ingested.reason : caught;
      if (signal.aborted) throw e;
      if (e instanceof KilnError && e.code === 'DIGEST_MISMATCH' && !e.message.includes(what)) {
        throw new KilnError('DIGEST_MISMATCH', `digest mismatch for the uncompressed ${what}: it is not the config's diff_id ${diffId}; refused, nothing stored`, { cause: e });
      }
      if (e instanceof KilnError && e.code !== 'REGISTRY_UNREACHABLE') throw e;
      const code = (e as NodeJS.ErrnoException)?.code ?? '';
      if (code.startsWith('Z_') || code === 'ERR_ZLIB_INITIALIZATION_FAILED') {
        throw new KilnError('BAD_LAYER', `${what} is corrupt: it does not decompress as ${compression} (${(e as Error).message}); refused, nothing stored`, { cause: e });
      }
      if (attempt >= DOWNLOAD_ATTEMPTS || !isTransient(e)) {
        throw new KilnError('REGISTRY_UNREACHABLE', `downloading ${what} from ${client.host} failed: ${(e as Error).message}`, { cause: e });
      }
      onProgress?.({ digest: desc.digest, status: 'warning', message: `retrying ${what} after: ${(e as Error).message}` });
    }
  }
}

/**
 * Makes sure every layer of a resolved image is in the store: layers already there are not
 * fetched again; the rest download `concurrency` at a time.
 */
export async function fetchLayers(store: Store, client: RegistryClient, image: ResolvedImage, opts: { concurrency?: number; onProgress?: ProgressCallback } = {}): Promise<void> {
  const sources = new BlobSources(store.root);
  const queue = new PQueue({ concurrency: opts.concurrency ?? DEFAULT_CONCURRENCY });
  // The first failure stops the other downloads: the pull has failed, their bytes are wasted.
  const abort = new AbortController();
  const seen = new Set<string>();
  const jobs: Promise<void>[] = [];
  image.manifest.layers.forEach((desc, i) => {
    const diffId = image.diffIds[i] as string;
    if (seen.has(diffId)) return;
    seen.add(diffId);
    opts.onProgress?.({ digest: desc.digest, status: 'waiting', total: desc.size });
    jobs.push(
      queue.add(async () => {
        if (abort.signal.aborted) return;
        await store.hold([diffId]); // before the store is asked: a prune meanwhile leaves it
        if (await store.hasBlob(diffId)) opts.onProgress?.({ digest: desc.digest, status: 'exists', total: desc.size });
        else await downloadLayer(store, client, image.ref, desc, diffId, opts.onProgress, abort.signal);
        await sources.record(diffId, { digest: desc.digest, size: desc.size, mediaType: desc.mediaType }, { registry: image.ref.domain, repository: image.ref.path });
      }) as Promise<void>,
    );
  });
  let first: unknown;
  await Promise.all(
    jobs.map((j) =>
      j.catch((e: unknown) => {
        if (first === undefined) {
          first = e;
          abort.abort();
        }
      }),
    ),
  );
  if (first !== undefined) throw first;
}

export interface PullResult {
  record: ImageRecord;
  /** The full reference pulled (`docker.io/library/busybox:latest`). */
  reference: string;
  /** What the tag pointed at: the index digest for a multi-platform image. */
  digest: string;
  /** The platform manifest's digest. */
  manifestDigest: string;
  /** Layers fetched (not already in the store). */
  downloaded: number;
}

/**
 * Pulls `refText` into the store and tags it (docker's behaviour: a digest reference gets a
 * repo digest but no tag). Returns the stored image.
 */
export async function pullImage(store: Store, name: string | ImageReference, opts: PullOptions = {}): Promise<ImageRecord> {
  return (await pullImageDetailed(store, name, opts)).record;
}

/** Pulls an image by reference: text is parsed here, a reference parsed at the CLI is not parsed again. */
export async function pullImageDetailed(store: Store, name: string | ImageReference, opts: PullOptions = {}): Promise<PullResult> {
  const ref = typeof name === 'string' ? parseReference(name) : name;
  const subject = familiarReference(ref);
  const client = new RegistryClient(ref.domain, subject, opts);
  const image = await resolveImage(client, ref, opts);
  let downloaded = 0;
  const onProgress: ProgressCallback = (e) => {
    if (e.status === 'done') downloaded++;
    opts.onProgress?.(e);
  };
  await fetchLayers(store, client, image, { ...opts, onProgress });
  let record = await store.commitImageBytes(image.configBytes, { source: subject });
  await store.addRepoDigest(record.id, ref, image.topDigest);
  if (ref.tag !== undefined) await store.tag(record.id, { domain: ref.domain, path: ref.path, tag: ref.tag });
  record = (await store.getImage(record.id)) ?? record;
  return { record, reference: fullReference(ref), digest: image.topDigest, manifestDigest: image.manifestDigest, downloaded };
}

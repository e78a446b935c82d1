/**
 * Blob uploads (OCI distribution "Push"): HEAD to skip what the registry has, cross-repository
 * mount, monolithic upload (POST then PUT with the bytes) for what fits one chunk, and chunked
 * upload (PATCH with Content-Range, then PUT ?digest=) for the rest. Content arrives as a stream
 * and is cut into chunks, so at most one chunk is in memory.
 */
import type { Readable } from 'node:stream';
import { KilnError } from '../errors/kilnError.js';
import { repositoryScope } from './auth.js';
import type { RegistryClient } from './client.js';
import type { ImageReference } from '../image/reference.js';
import { nodeCrypto } from '../host/nodeCrypto.js';

/** Chunk size of chunked uploads: a bound on memory, big enough to keep round trips few. */
export const UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024;

function pushScopes(ref: ImageReference, extra: string[] = []): string[] {
  return [repositoryScope(ref.path, ['pull', 'push']), ...extra];
}

/** True when the repository already has the blob. */
export async function blobExists(client: RegistryClient, ref: ImageReference, digest: string): Promise<boolean> {
  const response = await client.request(`/v2/${ref.path}/blobs/${digest}`, { method: 'HEAD', scopes: pushScopes(ref) });
  await response.body?.cancel();
  if (response.status === 200) return true;
  if (response.status === 404) return false;
  throw await client.failure(response, `checking blob ${digest}`);
}

/**
 * Asks the registry to mount a blob from another repository of the same registry. Returns
 * true when mounted; otherwise the upload session the registry opened instead (202).
 */
export async function mountBlob(client: RegistryClient, ref: ImageReference, digest: string, fromRepository: string): Promise<true | string> {
  const query = new URLSearchParams({ mount: digest, from: fromRepository });
  const response = await client.request(`/v2/${ref.path}/blobs/uploads/?${query.toString()}`, {
    method: 'POST',
    scopes: pushScopes(ref, [repositoryScope(fromRepository, ['pull'])]),
  });
  await response.body?.cancel();
  if (response.status === 201) return true;
  if (response.status === 202) return sessionLocation(response, client);
  throw await client.failure(response, `mounting ${digest} from ${fromRepository}`);
}

function sessionLocation(response: Response, client: RegistryClient): string {
  const location = response.headers.get('location');
  if (!location) throw new KilnError('REGISTRY_ERROR', `registry ${client.host} opened an upload without a Location for ${client.subject}`);
  return location;
}

export async function startUpload(client: RegistryClient, ref: ImageReference): Promise<string> {
  const response = await client.request(`/v2/${ref.path}/blobs/uploads/`, { method: 'POST', scopes: pushScopes(ref) });
  await response.body?.cancel();
  if (response.status !== 202) throw await client.failure(response, 'starting an upload');
  return sessionLocation(response, client);
}

function withDigestParam(location: string, digest: string): string {
  const u = new URL(location, 'http://placeholder.invalid');
  u.searchParams.set('digest', digest);
  // Keep a relative Location relative: the client resolves it against the registry.
  return /^[a-z]+:\/\//i.test(location) ? u.toString() : `${u.pathname}${u.search}`;
}

async function completeUpload(client: RegistryClient, ref: ImageReference, location: string, digest: string, body: Buffer | undefined): Promise<void> {
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
  const response = await client.request(withDigestParam(location, digest), { method: 'PUT', scopes: pushScopes(ref), headers, body: body ?? Buffer.alloc(0) });
  const announced = response.headers.get('docker-content-digest');
  if (response.status !== 201 && response.status !== 204) {
    throw await client.failure(response, `finishing the upload of ${digest}`);
  }
  await response.body?.cancel();
  if (announced && announced !== digest) {
    throw new KilnError('DIGEST_MISMATCH', `registry ${client.host} stored ${announced} for ${digest} of ${client.subject}`);
  }
}

/** Uploads bytes already in memory in one request (configs, manifests' blobs, small layers). */
export async function uploadBytes(client: RegistryClient, ref: ImageReference, bytes: Buffer, digest: string, session?: string): Promise<void> {
  const location = session ?? (await startUpload(client, ref));
  await completeUpload(client, ref, location, digest, bytes);
}

export interface StreamUploadResult {
  digest: string;
  size: number;
  /** 'monolithic' when it fitted in one chunk, else 'chunked'. */
  mode: 'monolithic' | 'chunked';
}

/**
 * Uploads a stream whose digest is not known in advance (a layer compressed on the fly): the
 * bytes are hashed as they go and the digest is given at the closing PUT.
 */
export async function uploadStream(client: RegistryClient, ref: ImageReference, content: Readable, opts: { session?: string; chunkBytes?: number; onBytes?: (n: number) => void } = {}): Promise<StreamUploadResult> {
  const chunkBytes = opts.chunkBytes ?? UPLOAD_CHUNK_BYTES;
  const hash = nodeCrypto().createHash('sha256');
  let location = opts.session ?? (await startUpload(client, ref));
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let sent = 0;
  let patched = false;
  const patch = async (data: Buffer): Promise<void> => {
    const response = await client.request(location, {
      method: 'PATCH',
      scopes: pushScopes(ref),
      headers: {
        'content-type': 'application/octet-stream',
        'content-range': `${sent}-${sent + data.length - 1}`,
      },
      body: data,
    });
    await response.body?.cancel();
    if (response.status !== 202) throw await client.failure(response, 'uploading a chunk');
    location = sessionLocation(response, client);
    sent += data.length;
    patched = true;
    opts.onBytes?.(sent);
  };
  // One chunk is on the wire while the next fills: compression and upload overlap, and at most
  // two chunks are in memory.
  let inflight: Promise<void> = Promise.resolve();
  for await (const piece of content) {
    const buf = piece as Buffer;
    hash.update(buf);
    pending.push(buf);
    pendingBytes += buf.length;
    if (pendingBytes >= chunkBytes) {
      const all = Buffer.concat(pending, pendingBytes);
      // Copy the small remainder so the big buffer is freed once its PATCH is done.
      pending = [Buffer.from(all.subarray(chunkBytes))];
      pendingBytes = all.length - chunkBytes;
      await inflight;
      inflight = patch(all.subarray(0, chunkBytes));
      // Keep a rejection from going unhandled while the next chunk fills; it is awaited below.
      inflight.catch(() => undefined);
    }
  }
  await inflight;
  const digest = `sha256:${hash.digest('hex')}`;
  const rest = Buffer.concat(pending, pendingBytes);
  if (!patched) {
    await completeUpload(client, ref, location, digest, rest);
    opts.onBytes?.(rest.length);
    return { digest, size: rest.length, mode: 'monolithic' };
  }
  if (rest.length > 0) await patch(rest);
  await completeUpload(client, ref, location, digest, undefined);
  return { digest, size: sent, mode: 'chunked' };
}

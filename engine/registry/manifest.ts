/**
 * Manifests and indexes as they come off the wire: typed, validated enough that the rest of
 * the pull can trust the shape, and kept with their exact bytes (the digest is of those bytes).
 */
import { KilnError } from '../errors/kilnError.js';
import { DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED, INDEX_TYPES, MANIFEST_TYPES, OCI_INDEX, OCI_MANIFEST } from '../image/mediaTypes.js';
import type { Platform } from '../image/platform.js';
import { nodeCrypto } from '../host/nodeCrypto.js';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform & { 'os.version'?: string; 'os.features'?: string[] };
  artifactType?: string;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
  subject?: Descriptor;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export type FetchedManifest =
  | { kind: 'index'; mediaType: string; digest: string; bytes: Buffer; index: ImageIndex }
  | { kind: 'manifest'; mediaType: string; digest: string; bytes: Buffer; manifest: ImageManifest };

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function sha256Digest(bytes: Buffer | string): string {
  return `sha256:${nodeCrypto().createHash('sha256').update(bytes).digest('hex')}`;
}

function bad(subject: string, why: string): KilnError {
  return new KilnError('BAD_MANIFEST', `invalid manifest for ${subject}: ${why}`);
}

function checkDescriptor(d: unknown, subject: string, where: string): Descriptor {
  const x = d as Partial<Descriptor> | null;
  if (!x || typeof x !== 'object') throw bad(subject, `${where} is not a descriptor`);
  if (typeof x.mediaType !== 'string') throw bad(subject, `${where} has no mediaType`);
  if (typeof x.digest !== 'string' || !DIGEST_RE.test(x.digest)) throw bad(subject, `${where} has an invalid or non-sha256 digest "${String(x.digest)}"`);
  if (typeof x.size !== 'number' || !Number.isSafeInteger(x.size) || x.size < 0) throw bad(subject, `${where} has an invalid size`);
  return x as Descriptor;
}

/**
 * Interprets a manifest body. The type comes from the body's mediaType when present, else the
 * Content-Type header; a disagreement is an error (a registry confused about what it serves).
 */
export function parseManifest(bytes: Buffer, contentType: string | null, digest: string, subject: string): FetchedManifest {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw bad(subject, 'not JSON');
  }
  if (!json || typeof json !== 'object') throw bad(subject, 'not a JSON object');
  const header = contentType?.split(';')[0]?.trim();
  const bodyType = typeof json.mediaType === 'string' ? json.mediaType : undefined;
  let mediaType = bodyType ?? header;
  if (header === DOCKER_SCHEMA1 || header === DOCKER_SCHEMA1_SIGNED || json.schemaVersion === 1) {
    throw new KilnError('UNSUPPORTED_MANIFEST', `${subject} uses the Docker schema 1 manifest, which is deprecated and not supported; re-push it with a current tool`);
  }
  if (json.schemaVersion !== 2) throw bad(subject, `schemaVersion ${String(json.schemaVersion)} (expected 2)`);
  if (mediaType === undefined || mediaType === 'application/json' || mediaType === 'application/octet-stream') {
    // OCI allows omitting mediaType; tell index from manifest by shape.
    mediaType = Array.isArray(json.manifests) ? OCI_INDEX : OCI_MANIFEST;
  }
  if (bodyType && header && header !== bodyType && (INDEX_TYPES.has(header) || MANIFEST_TYPES.has(header))) {
    throw bad(subject, `Content-Type ${header} disagrees with the body's mediaType ${bodyType}`);
  }
  if (INDEX_TYPES.has(mediaType)) {
    if (!Array.isArray(json.manifests)) throw bad(subject, 'an index without manifests');
    const manifests = json.manifests.map((m, i) => checkDescriptor(m, subject, `manifests[${i}]`));
    return { kind: 'index', mediaType, digest, bytes, index: { ...(json as object), schemaVersion: 2, manifests } as ImageIndex };
  }
  if (MANIFEST_TYPES.has(mediaType)) {
    const config = checkDescriptor(json.config, subject, 'config');
    if (!Array.isArray(json.layers)) throw bad(subject, 'a manifest without layers');
    const layers = json.layers.map((l, i) => checkDescriptor(l, subject, `layers[${i}]`));
    return { kind: 'manifest', mediaType, digest, bytes, manifest: { ...(json as object), schemaVersion: 2, config, layers } as ImageManifest };
  }
  throw new KilnError('UNSUPPORTED_MANIFEST', `${subject} is a ${mediaType}, not an image (kiln pulls OCI and Docker schema 2 images)`);
}

/**
 * A build cache carried through a registry (`--cache-to type=registry,ref=R` /
 * `--cache-from type=registry,ref=R`) as an OCI artifact: an image manifest with
 * `artifactType` KILN_CACHE_ARTIFACT, whose config blob (KILN_CACHE_CONFIG) is the cache's
 * exchange file and whose layers are the records' layers (gzip, as any pushed layer). This
 * side only moves bytes: what the file says and which records go is the cache's
 * (cache/exchange.ts).
 */
import type { CacheCarrier } from '../../cache/exchange.js';
import { KilnError } from '../errors/kilnError.js';
import { RegistryClient } from './client.js';
import { fetchLayers, fetchManifest, fetchSmallBlob, type PullOptions, type ResolvedImage } from './pull.js';
import { pushManifest, type PushOptions } from './push.js';
import { familiarReference, parseReference } from '../image/reference.js';
import type { ImageManifest } from './manifest.js';
import type { Store } from '../store/store.js';

export const KILN_CACHE_ARTIFACT = 'application/vnd.kiln.build-cache.v1';
export const KILN_CACHE_CONFIG = 'application/vnd.kiln.build-cache.config.v1+json';

export type CacheArtifactOptions = Omit<PullOptions, 'platform'> & PushOptions & {
  /** A ref with nothing there yet is no cache (the default), not an error. */
  missingIsEmpty?: boolean;
};

/** The carrier of the cache artifact at `refText` (a tag), for the store's blobs. */
export function registryCacheCarrier(store: Store, refText: string, opts: CacheArtifactOptions = {}): CacheCarrier {
  const ref = parseReference(refText);
  const name = familiarReference(ref);
  let fetched: { client: RegistryClient; digest: string; manifest: ImageManifest; configBytes: Buffer } | undefined;
  return {
    name,
    send: async (file, diffIds) => {
      await pushManifest(store, ref, { configBytes: file, configMediaType: KILN_CACHE_CONFIG, diffIds: [...diffIds], artifactType: KILN_CACHE_ARTIFACT }, opts);
    },
    receiveFile: async () => {
      const client = new RegistryClient(ref.domain, name, opts);
      let top;
      try {
        top = await fetchManifest(client, ref, ref.digest ?? ref.tag ?? 'latest', name);
      } catch (e) {
        if (e instanceof KilnError && e.code === 'IMAGE_NOT_FOUND' && opts.missingIsEmpty !== false) return undefined;
        throw e;
      }
      if (top.kind !== 'manifest' || top.manifest.config.mediaType !== KILN_CACHE_CONFIG) {
        throw new KilnError('NOT_A_CACHE', `${name} is not a kiln build cache (its manifest's config is ${top.kind === 'manifest' ? top.manifest.config.mediaType : 'an index'})`);
      }
      const configBytes = await fetchSmallBlob(client, ref, top.manifest.config, 'the cache config', name);
      fetched = { client, digest: top.digest, manifest: top.manifest, configBytes };
      return { bytes: configBytes, layers: top.manifest.layers.length };
    },
    receiveLayers: async (diffIds) => {
      if (!fetched) throw new Error('cache layers asked for before the cache file');
      const image: ResolvedImage = {
        ref, manifestDigest: fetched.digest, topDigest: fetched.digest, manifest: fetched.manifest, configBytes: fetched.configBytes, config: {}, diffIds: [...diffIds],
      };
      await fetchLayers(store, fetched.client, image, opts);
    },
  };
}

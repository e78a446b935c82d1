/**
 * A cache record: what one step produced, filed under its key. The one declaration of its
 * shape, for the index that keeps records, the exchange that carries them to other machines,
 * prune and check that read them.
 */

export interface CacheRecord {
  key: string;
  /** Layers the step added, in order (usually zero or one). */
  diffIds: string[];
  /** Opaque to the cache: what the build needs to continue from this step. */
  config: Record<string, unknown>;
  /** The image history entry the step contributed, if any. */
  history?: Record<string, unknown>;
  /** ISO time the record was made. */
  createdAt: string;
}

const KEY_SHAPE = /^[0-9a-f]{32}$/;
const DIGEST_SHAPE = /^sha256:[0-9a-f]{64}$/;

/** A step key as the cache makes them: 32 hex characters. */
export function isCacheKey(text: string): boolean {
  return KEY_SHAPE.test(text);
}

/** A layer digest a record may name. */
export function isLayerDigest(text: unknown): text is string {
  return typeof text === 'string' && DIGEST_SHAPE.test(text);
}

/** Whether `value` (read from a file or a registry) has a record's shape. */
export function isCacheRecord(value: unknown): value is CacheRecord {
  const x = value as Partial<CacheRecord> | null;
  return Boolean(
    x && typeof x === 'object' && typeof x.key === 'string' && isCacheKey(x.key) &&
      Array.isArray(x.diffIds) && x.diffIds.every(isLayerDigest) &&
      x.config !== null && typeof x.config === 'object' && !Array.isArray(x.config) && typeof x.createdAt === 'string',
  );
}

/**
 * The layers a record needs: those it added and, for a layer step, its stage's whole stack
 * (`config.layers`, what a hit restores; `config.rootfs.diff_ids` in records of an image config).
 */
export function recordLayers(record: CacheRecord): string[] {
  const config = record.config as { layers?: unknown; rootfs?: { diff_ids?: unknown } };
  const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((d): d is string => typeof d === 'string') : []);
  return [...new Set([...record.diffIds, ...strings(config.layers), ...strings(config.rootfs?.diff_ids)])];
}

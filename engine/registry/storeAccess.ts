/**
 * What the registry code needs from the image store (engine/store), as one interface so the
 * dependency is visible in one place. The Store class satisfies it.
 */
import type { Readable } from 'node:stream';

export interface RegistryBlobStore {
  readonly root: string;
  hasBlob(digest: string): Promise<boolean>;
  blobPath(digest: string): string;
  ingestBlob(source: Readable | AsyncIterable<Uint8Array>, opts?: { expectedDigest?: string; expectedSize?: number; source?: string }): Promise<{ digest: string; size: number }>;
}

/**
 * The one xxhash-wasm instance of the process. The wasm module is compiled on first use
 * only, so commands that never hash (kiln images, kiln --help) never pay for it.
 */
import xxhash, { type XXHashAPI } from 'xxhash-wasm';

let loading: Promise<XXHashAPI> | undefined;
let loaded: XXHashAPI | undefined;

export async function loadHasher(): Promise<XXHashAPI> {
  if (loaded) return loaded;
  loading ??= xxhash().then((api) => (loaded = api));
  return loading;
}

/** The hasher, once loadHasher() has resolved; a bug to call it earlier. */
export function hasher(): XXHashAPI {
  if (!loaded) throw new Error('xxhash-wasm used before loadHasher() resolved');
  return loaded;
}

// Two independent 64-bit hashes make a 128-bit digest: cache keys live for months in a
// shared store, and 64 bits alone get uncomfortably close to collisions at scale.
const SEED_A = 0n;
const SEED_B = 0x9e3779b97f4a7c15n;

function hex64(v: bigint): string {
  return v.toString(16).padStart(16, '0');
}

/** 128-bit hex digest of a string (32 hex characters). */
export function digestString(text: string): string {
  const h = hasher();
  return hex64(h.h64(text, SEED_A)) + hex64(h.h64(text, SEED_B));
}

/** 128-bit hex digest of bytes. */
export function digestBytes(bytes: Uint8Array): string {
  const h = hasher();
  return hex64(h.h64Raw(bytes, SEED_A)) + hex64(h.h64Raw(bytes, SEED_B));
}

/** A streaming 128-bit digest, for files too large to read at once. */
export class StreamDigest {
  private readonly a = hasher().create64(SEED_A);
  private readonly b = hasher().create64(SEED_B);
  update(chunk: Uint8Array | string): void {
    this.a.update(chunk);
    this.b.update(chunk);
  }
  digest(): string {
    return hex64(this.a.digest()) + hex64(this.b.digest());
  }
}

/**
 * node:crypto, loaded on first use. Loading it costs ~13 ms here (it pulls in streams and every
 * cipher), which is a large share of a cached rebuild or a `kiln run`, and neither needs it:
 * a cached rebuild hashes nothing new and a name needs only a few random bytes.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';

let loaded: typeof import('node:crypto') | undefined;

export function nodeCrypto(): typeof import('node:crypto') {
  return (loaded ??= createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto'));
}

/** `bytes` random bytes as hex, for unique names: read from the kernel, crypto only if that fails. */
export function randomHex(bytes: number): string {
  const buf = Buffer.alloc(bytes);
  try {
    const fd = openSync('/dev/urandom', 'r');
    try {
      if (readSync(fd, buf, 0, bytes, null) === bytes) return buf.toString('hex');
    } finally {
      closeSync(fd);
    }
  } catch {
    // no /dev/urandom here
  }
  return nodeCrypto().randomBytes(bytes).toString('hex');
}

/**
 * node:crypto, loaded on first use. Loading it costs ~13 ms here (it pulls in streams and every
 * cipher), which is a large share of a cached rebuild or a `kiln run`, and neither needs it:
 * a cached rebuild hashes nothing new and a name needs only a few random bytes (randomHex.ts).
 */
import { createRequire } from 'node:module';

let loaded: typeof import('node:crypto') | undefined;

export function nodeCrypto(): typeof import('node:crypto') {
  return (loaded ??= createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto'));
}

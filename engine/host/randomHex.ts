/**
 * Random bytes for unique names (temp files, container and lease ids), read from the kernel's
 * /dev/urandom: a few bytes need no crypto library (which costs start-up time to load).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { nodeCrypto } from './nodeCrypto.js';

/** `bytes` random bytes as hex: read from the kernel, node:crypto only if that fails. */
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

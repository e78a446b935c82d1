/**
 * Random bytes for unique names (temp files, container and lease ids), read from the kernel's
 * /dev/urandom: a few bytes need no crypto library (which costs start-up time to load). They are
 * read a few hundred at a time: a build names several things per step, and each read was an
 * open, a read and a close.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { nodeCrypto } from './nodeCrypto.js';

const POOL_BYTES = 512;
let pool = Buffer.alloc(0);
let taken = 0;

/** Fills the pool from the kernel; false when /dev/urandom cannot be read. */
function refill(): boolean {
  const fresh = Buffer.alloc(POOL_BYTES);
  try {
    const fd = openSync('/dev/urandom', 'r');
    try {
      if (readSync(fd, fresh, 0, POOL_BYTES, null) !== POOL_BYTES) return false;
    } finally {
      closeSync(fd);
    }
  } catch {
    return false; // no /dev/urandom here
  }
  pool = fresh;
  taken = 0;
  return true;
}

/** `bytes` random bytes as hex: read from the kernel, node:crypto only if that fails. Each byte is handed out once. */
export function randomHex(bytes: number): string {
  if (bytes <= POOL_BYTES && (taken + bytes <= pool.length || refill())) {
    const hex = pool.toString('hex', taken, taken + bytes);
    taken += bytes;
    return hex;
  }
  return nodeCrypto().randomBytes(bytes).toString('hex');
}

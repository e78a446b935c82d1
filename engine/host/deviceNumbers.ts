/**
 * Linux device ids (dev_t) split into major and minor numbers, as glibc's major() and minor():
 * what a tar header records for a device node and what mknod takes back.
 */

/** The major number of a device id. */
export function devMajor(rdev: bigint): number {
  return Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
}

/** The minor number of a device id. */
export function devMinor(rdev: bigint): number {
  return Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
}

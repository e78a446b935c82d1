/**
 * How privileged this kiln process is — the one place that decides it. Three cases matter:
 *
 * - 'host-root': uid 0 in the initial user namespace. Everything is allowed: mknod, trusted.*
 *   xattrs, cgroup limits, overlay mounts with trusted.overlay.* markers.
 * - 'namespace-root': uid 0 in a user namespace of its own (an unprivileged user's kiln re-executed
 *   itself there, see ownUserNamespace.ts). It may chown to every mapped id, mount overlays
 *   (with `userxattr`: markers are user.overlay.*), proc and tmpfs, and create nested namespaces;
 *   the kernel refuses mknod of real devices, trusted.* xattrs, fresh sysfs without a network
 *   namespace of its own, and cgroup writes outside a delegated subtree.
 * - 'unprivileged': any other uid. Containers need a user namespace of their own.
 */
import { readFileSync } from 'node:fs';

export type Privilege = 'host-root' | 'namespace-root' | 'unprivileged';

/** The initial user namespace maps every id onto itself: "0 0 4294967295". */
export function isIdentityMap(uidMap: string): boolean {
  const lines = uidMap.trim().split('\n');
  if (lines.length !== 1) return false;
  const [inside, outside, count] = (lines[0] as string).trim().split(/\s+/).map(Number);
  return inside === 0 && outside === 0 && count === 4294967295;
}

let cached: Privilege | undefined;

export function privilege(): Privilege {
  if (cached) return cached;
  if (process.getuid?.() !== 0) return (cached = 'unprivileged');
  let map = '';
  try {
    map = readFileSync('/proc/self/uid_map', 'utf8');
  } catch {
    // no /proc: nothing tells us we are in a namespace; take the uid at its word
    return (cached = 'host-root');
  }
  return (cached = isIdentityMap(map) ? 'host-root' : 'namespace-root');
}

/** Inside some user namespace (our own, or one we are about to create for a container). */
export function inUserNamespace(): boolean {
  return privilege() !== 'host-root';
}

/** May chown to other ids and mount: root of the host or of a user namespace with a full map. */
export function canOwnFiles(): boolean {
  return privilege() !== 'unprivileged';
}

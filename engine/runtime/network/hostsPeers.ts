/**
 * Name resolution on a user-defined network: each container's /etc/hosts holds a block with
 * every other container on the network (address, name, short ID), rewritten in place whenever
 * one joins or leaves. In place, because the file is bind-mounted into the container: the mount
 * pins the inode, a renamed replacement would never be seen. Lines outside kiln's block (what
 * the container wrote itself) are kept.
 *
 * The files live in other containers' state dirs (a memory file system shared with every user):
 * a file is written only through a directory that is root's and writable by no one else, and
 * never through a symlink.
 */
import { closeSync, constants, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { EndpointRecord } from './endpoints.js';

const MAX_HOSTS_FILE = 64 * 1024;

const begin = (network: string): string => `# containers on kiln network ${network}`;
const end = (network: string): string => `# end of kiln network ${network}`;

/** The file's text with the network's block replaced by one listing `peers`. */
export function withPeers(text: string, network: string, peers: readonly EndpointRecord[]): string {
  const lines = text.split('\n');
  const out: string[] = [];
  let inside = false;
  for (const line of lines) {
    if (line === begin(network)) inside = true;
    else if (inside && line === end(network)) inside = false;
    else if (!inside) out.push(line);
  }
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  if (peers.length > 0) {
    out.push(begin(network));
    for (const p of peers) out.push(`${p.address}\t${p.names.join(' ')}`);
    out.push(end(network));
  }
  return out.join('\n') + '\n';
}

/** Opens `path` for update only if its directory is root's alone and the file is a plain file. */
function openSafely(path: string): number | undefined {
  let dir: number;
  try {
    dir = openSync(dirname(path), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(dir);
    if (st.uid !== (process.getuid?.() ?? 0) || (st.mode & 0o022) !== 0) return undefined;
    const fd = openSync(`/proc/self/fd/${dir}/${basename(path)}`, constants.O_RDWR | constants.O_NOFOLLOW);
    if (!fstatSync(fd).isFile()) {
      closeSync(fd);
      return undefined;
    }
    return fd;
  } catch {
    return undefined;
  } finally {
    closeSync(dir);
  }
}

/** Rewrites the network's block of one container's hosts file; false when the file is not there (any more). */
export function rewritePeers(hostsFile: string, network: string, peers: readonly EndpointRecord[]): boolean {
  const fd = openSafely(hostsFile);
  if (fd === undefined) return false;
  try {
    const buf = Buffer.alloc(MAX_HOSTS_FILE);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const next = Buffer.from(withPeers(buf.subarray(0, n).toString('utf8'), network, peers));
    ftruncateSync(fd, 0);
    writeSync(fd, next, 0, next.length, 0);
    return true;
  } finally {
    closeSync(fd);
  }
}

/** Every member's file gets every other member (members: the network's live endpoints). */
export function refreshPeers(network: string, members: readonly EndpointRecord[]): void {
  for (const m of members) {
    if (m.hostsFile === undefined) continue;
    rewritePeers(m.hostsFile, network, members.filter((p) => p !== m));
  }
}

/**
 * The fingerprint of what a walk of one selection read from the disk: each selected path's
 * lstat, and the listing of every directory the walk listed, as the addon gave it (the names,
 * and each entry's mode, owner, size, inode, device, link count, mtime and ctime). Two walks
 * with one fingerprint read the same tree, entry for entry and stat for stat, so the stat
 * cache would serve every file of the second from what the first hashed: the selection's
 * digest can be remembered against the fingerprint (digestMemo.ts), and a rebuild with nothing
 * changed makes no object, string or digest per file. It still lstats every file: a file
 * rewritten in place changes its own mtime and ctime, not its directory's.
 *
 * The full walk (contentHash.ts) and the fingerprint's own walk (fingerprintOf, which lists
 * directories and reads nothing else) feed the same things in the same order: the selected
 * paths in order, each directory before its subdirectories, subdirectories in name order.
 */
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { listedIsDirectory, type DirectoryRead, type EntryStats } from '../engine/host/directoryListing.js';
import { StreamDigest } from './hasher.js';

/** Changes whenever what a fingerprint covers, or the digest remembered against it, changes. */
const FORMAT = 'kiln listing fingerprint 1';

export class ListingFingerprint {
  private readonly d = new StreamDigest();
  /** False once a directory was read without the addon's numbers: no fingerprint then. */
  private complete = true;

  /** `selection` names what was selected and what the walk leaves out (the same names, the same rules). */
  constructor(selection: string) {
    this.d.update(`${FORMAT}\0${selection}\0`);
  }

  /** A selected path and its lstat. */
  selected(rel: string, st: EntryStats): void {
    this.d.update(`s\0${rel}\0${st.mode} ${st.uid} ${st.gid} ${st.size} ${st.ino} ${st.dev} ${st.rdev} ${st.mtimeMs} ${st.ctimeMs}\0`);
  }

  /** A directory the walk listed, as it read it. */
  directory(rel: string, read: DirectoryRead): void {
    const listing = read.native;
    if (listing === undefined) {
      this.complete = false;
      return;
    }
    this.d.update(`d\0${rel}\0${listing.count}\0`);
    this.d.update(listing.names);
    this.d.update(new Uint8Array(listing.stats.buffer, listing.stats.byteOffset, listing.stats.byteLength));
  }

  /** The fingerprint: 32 hex characters, or undefined when a listing did not come from the addon. */
  digest(): string | undefined {
    return this.complete ? this.d.digest() : undefined;
  }
}

/** How a fingerprint's walk reads a directory, and which entries the selection leaves out. */
export interface FingerprintWalk {
  read: (abs: string) => DirectoryRead;
  exclude?: (relPath: string, isDirectory: boolean) => boolean;
}

/** The host path of `rel` under `root`. */
function hostPath(root: string, rel: string): string {
  return rel === '' ? root : join(root, rel);
}

/**
 * The fingerprint of the selected paths (relative, normalised) under `root`, listing each
 * directory the full walk would list and nothing more; undefined when a selected path is
 * missing (the full walk says so) or a listing did not come from the addon.
 */
export function fingerprintOf(root: string, paths: readonly string[], selection: string, walk: FingerprintWalk): string | undefined {
  const f = new ListingFingerprint(selection);
  for (const rel of paths) {
    const abs = hostPath(root, rel);
    let st: EntryStats;
    try {
      st = lstatSync(abs);
    } catch {
      return undefined;
    }
    f.selected(rel, st);
    if (st.isDirectory() && !(rel !== '' && walk.exclude?.(rel, true))) listDirectories(rel, abs, f, walk);
  }
  return f.digest();
}

/** Lists the directory at `abs` into the fingerprint, then its subdirectories the walk keeps, in name order. */
function listDirectories(rel: string, abs: string, f: ListingFingerprint, walk: FingerprintWalk): void {
  const read = walk.read(abs);
  f.directory(rel, read);
  const listing = read.native;
  if (listing === undefined) return;
  let any = false;
  for (let i = 0; i < listing.count && !any; i++) any = listedIsDirectory(listing, i);
  if (!any) return;
  const subdirectories: string[] = [];
  // Names are cut out only for directories: a directory of files costs no string per file.
  for (let i = 0, start = 0; i < listing.count; i++) {
    const end = i === listing.count - 1 ? listing.names.length : listing.names.indexOf('\0', start);
    if (listedIsDirectory(listing, i)) subdirectories.push(listing.names.slice(start, end));
    start = end + 1;
  }
  subdirectories.sort();
  for (const name of subdirectories) {
    const childRel = rel === '' ? name : `${rel}/${name}`;
    if (walk.exclude?.(childRel, true)) continue;
    listDirectories(childRel, abs === '/' ? `/${name}` : `${abs}/${name}`, f, walk);
  }
}

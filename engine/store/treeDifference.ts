/**
 * The first way two directory trees differ, as one line ("etc/passwd: content differs"), or
 * undefined when they hold the same: every entry's type, permission bits, owner (unless asked
 * not to), size, modification second, link target, device number, content, and the extended
 * attributes a layer carries (file capabilities, user.* and the overlay opaque marker). Used by
 * `kiln check --full` to hold a snapshot against its layer unpacked afresh.
 */
import { createReadStream, lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { nodeCrypto } from '../host/nodeCrypto.js';
import { nativeBinding } from '../../native/index.js';

export interface CompareOptions {
  /** Owners are not compared (a snapshot an unprivileged kiln made: every file is the user's). */
  ignoreOwners?: boolean;
}

function kind(st: Stats): string {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symbolic link';
  if (st.isCharacterDevice()) return 'character device';
  if (st.isBlockDevice()) return 'block device';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

async function contentDigest(path: string): Promise<string> {
  const hash = nodeCrypto().createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The attributes a layer's tar records (what extraction would set), by name. */
function layerXattrs(path: string): string {
  const all = nativeBinding().listXattrs(path);
  const kept = Object.entries(all)
    .filter(([n]) => n === 'security.capability' || n.endsWith('.overlay.opaque') || (n.startsWith('user.') && !n.startsWith('user.overlay.')))
    .map(([n, v]) => `${n.replace(/^(trusted|user)\.overlay\./, 'overlay.')}=${v.toString('hex')}`);
  return kept.sort().join(',');
}

function metadataDifference(rel: string, want: Stats, got: Stats, opts: CompareOptions): string | undefined {
  if (kind(want) !== kind(got)) return `${rel}: a ${kind(got)} where the layer has a ${kind(want)}`;
  if ((want.mode & 0o7777) !== (got.mode & 0o7777)) return `${rel}: mode ${(got.mode & 0o7777).toString(8)}, the layer says ${(want.mode & 0o7777).toString(8)}`;
  if (!opts.ignoreOwners && (want.uid !== got.uid || want.gid !== got.gid)) return `${rel}: owner ${got.uid}:${got.gid}, the layer says ${want.uid}:${want.gid}`;
  if (want.isFile() && want.size !== got.size) return `${rel}: ${got.size} bytes, the layer has ${want.size}`;
  if ((want.isCharacterDevice() || want.isBlockDevice()) && want.rdev !== got.rdev) return `${rel}: another device number`;
  if (!want.isDirectory() && !want.isSymbolicLink() && Math.floor(want.mtimeMs / 1000) !== Math.floor(got.mtimeMs / 1000)) return `${rel}: modified at another time than the layer says`;
  return undefined;
}

async function entryDifference(want: string, got: string, rel: string, opts: CompareOptions): Promise<string | undefined> {
  const ws = lstatSync(want);
  const gs = lstatSync(got, { throwIfNoEntry: false });
  if (!gs) return `${rel}: missing`;
  if (rel !== '.') {
    const meta = metadataDifference(rel, ws, gs, opts);
    if (meta) return meta;
  }
  if (ws.isSymbolicLink() && readlinkSync(want) !== readlinkSync(got)) return `${rel}: links elsewhere than the layer says`;
  if (!ws.isSymbolicLink() && layerXattrs(want) !== layerXattrs(got)) return `${rel}: extended attributes differ`;
  if (ws.isFile() && (await contentDigest(want)) !== (await contentDigest(got))) return `${rel}: content differs`;
  if (!ws.isDirectory()) return undefined;
  const wantNames = readdirSync(want).sort();
  const gotNames = new Set(readdirSync(got));
  for (const name of wantNames) {
    const d = await entryDifference(join(want, name), join(got, name), rel === '.' ? name : `${rel}/${name}`, opts);
    if (d) return d;
    gotNames.delete(name);
  }
  const extra = [...gotNames].sort()[0];
  return extra === undefined ? undefined : `${rel === '.' ? '' : `${rel}/`}${extra}: not in the layer`;
}

/** How `actual` differs from `expected` (first difference found), or undefined. */
export function treeDifference(expected: string, actual: string, opts: CompareOptions = {}): Promise<string | undefined> {
  return entryDifference(expected, actual, '.', opts);
}

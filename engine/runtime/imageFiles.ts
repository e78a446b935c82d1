/**
 * Files of an image read straight from its overlay-format snapshot dirs (topmost first), without
 * mounting anything: a path is looked up as overlayfs looks it up. The topmost layer holding an
 * entry decides what it is; an overlay whiteout (a 0:0 character device) hides it; a directory
 * merges with the directories below it until one of them is opaque or a lower layer holds a
 * non-directory there. Symlinks are not followed: only a mounted root resolves them the way the
 * container sees them, so a lookup that meets one says so and the caller decides.
 */
import { lstatSync, readFileSync, type Stats } from 'node:fs';
import { join, posix } from 'node:path';
import { nativeBinding } from '../../native/index.js';

export type LayeredEntry =
  | { kind: 'found'; /** Host path of the entry in the layer that provides it. */ path: string; stats: Stats }
  | { kind: 'absent' }
  | { kind: 'symlink' };

const OPAQUE_XATTRS = ['trusted.overlay.opaque', 'user.overlay.opaque'];

function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

function isOpaque(path: string): boolean {
  const native = nativeBinding();
  return OPAQUE_XATTRS.some((name) => native.getXattr(path, name)?.toString() === 'y');
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    // Most lookups miss in most layers: a miss is answered without an exception.
    return lstatSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/** How a lookup asks the layers' dirs: an entry's lstat (undefined when absent) and whether a directory is opaque. */
export interface LayerProbe {
  stat(path: string): Stats | undefined;
  opaque(path: string): boolean;
}

const askTheDisk: LayerProbe = { stat: statOrUndefined, opaque: isOpaque };

/**
 * A probe that remembers each answer, for dirs that never change once made (the store's layer
 * snapshots): a build's every RUN step looks up /etc/passwd and /etc/group through all of its
 * stage's layers, and all but the newest were asked already.
 */
export function rememberingProbe(limit = 20_000): LayerProbe {
  const stats = new Map<string, Stats | undefined>();
  const opaque = new Map<string, boolean>();
  const remember = <T>(memo: Map<string, T>, path: string, ask: (path: string) => T): T => {
    if (memo.has(path)) return memo.get(path) as T;
    if (memo.size >= limit) memo.clear();
    const answer = ask(path);
    memo.set(path, answer);
    return answer;
  };
  return { stat: (path) => remember(stats, path, statOrUndefined), opaque: (path) => remember(opaque, path, isOpaque) };
}

export function lookupInLayers(lowerDirs: readonly string[], path: string, probe: LayerProbe = askTheDisk): LayeredEntry {
  const parts = posix.normalize(`/${path}`).split('/').filter((p) => p !== '');
  if (parts.length === 0) {
    const top = lowerDirs[0];
    const st = top === undefined ? undefined : probe.stat(top);
    return top !== undefined && st ? { kind: 'found', path: top, stats: st } : { kind: 'absent' };
  }
  // The layers whose directory at the current prefix shows in the merged view, topmost first.
  let merged: readonly string[] = lowerDirs;
  let rel = '';
  for (let i = 0; i < parts.length; i++) {
    rel = rel === '' ? (parts[i] as string) : `${rel}/${parts[i] as string}`;
    let top: { dir: string; stats: Stats } | undefined;
    const below: string[] = [];
    for (const dir of merged) {
      const st = probe.stat(join(dir, rel));
      if (!st) continue;
      if (!top) {
        if (isWhiteout(st)) return { kind: 'absent' };
        if (st.isSymbolicLink()) return { kind: 'symlink' };
        top = { dir, stats: st };
        if (!st.isDirectory()) break; // a file hides whatever the layers below hold here
      } else if (!st.isDirectory()) {
        break; // a whiteout or a file under a directory ends the merge
      }
      below.push(dir);
      if (probe.opaque(join(dir, rel))) break;
    }
    if (!top) return { kind: 'absent' };
    if (i === parts.length - 1) return { kind: 'found', path: join(top.dir, rel), stats: top.stats };
    if (!top.stats.isDirectory()) return { kind: 'absent' };
    merged = below;
  }
  return { kind: 'absent' };
}

/**
 * A small text file of the image (/etc/passwd, /etc/group); undefined when it is absent, not a
 * regular file, or reached through a symlink.
 */
export async function readImageFile(lowerDirs: readonly string[], path: string): Promise<string | undefined> {
  const entry = lookupInLayers(lowerDirs, path);
  if (entry.kind !== 'found' || !entry.stats.isFile()) return undefined;
  return readFileSync(entry.path, 'utf8');
}

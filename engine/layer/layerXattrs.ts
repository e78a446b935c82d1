/**
 * The extended attributes of a file on disk that a layer records (security.capability), read
 * in-process through the native addon; none where the filesystem has no xattrs.
 */
import { nativeBinding } from '../../native/index.js';

const RECORDED = ['security.capability'];

export function layerXattrs(path: string): ReadonlyMap<string, Buffer> | undefined {
  let all: Record<string, Buffer>;
  try {
    all = nativeBinding().listXattrs(path);
  } catch {
    return undefined;
  }
  const picked = new Map<string, Buffer>();
  for (const name of RECORDED) if (all[name] !== undefined) picked.set(name, all[name] as Buffer);
  return picked.size > 0 ? picked : undefined;
}

/**
 * Names inside archives, checked before anything touches the disk: relative, no `..`, no NUL.
 * A hostile name is a KilnError naming the archive, so nothing outside the destination is ever
 * written or linked.
 */
import { KilnError } from '../errors/kilnError.js';

export function hostile(source: string, name: string, why: string): KilnError {
  return new KilnError('HOSTILE_ARCHIVE', `${source}: refusing archive entry "${name}": ${why}`, { location: { file: source } });
}

/**
 * The entry's path components (`./a//b/` → ['a','b']); [] for the archive root. A leading `/` is
 * dropped (tar strips it too); any `..` component is refused.
 */
export function entryComponents(source: string, name: string): string[] {
  if (name.includes('\0')) throw hostile(source, name, 'name contains a NUL byte');
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw hostile(source, name, 'path contains ".."');
  return parts;
}

/** A hardlink target, relative to the archive root like entry names. */
export function linkComponents(source: string, name: string, linkname: string): string[] {
  if (linkname.includes('\0')) throw hostile(source, name, 'link target contains a NUL byte');
  const parts = linkname.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw hostile(source, name, `hard link points outside the archive ("${linkname}")`);
  if (parts.length === 0) throw hostile(source, name, 'hard link to the archive root');
  return parts;
}

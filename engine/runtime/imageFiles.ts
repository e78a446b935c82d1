/**
 * Reads a small text file of an image (/etc/passwd, /etc/group) from its overlay-format
 * snapshot dirs, topmost first, without mounting anything: the first layer that has the path
 * wins; an overlay whiteout (a 0:0 character device) hides it in the layers below. Symlinked
 * files are not followed (the image's /etc/passwd is a regular file in practice).
 */
import { lstat, readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';

export async function readImageFile(lowerDirs: readonly string[], path: string): Promise<string | undefined> {
  const rel = posix.normalize(path).replace(/^\/+/, '');
  for (const dir of lowerDirs) {
    let st;
    try {
      st = await lstat(join(dir, rel));
    } catch {
      continue; // not in this layer: look below
    }
    if (st.isFile()) return readFile(join(dir, rel), 'utf8');
    return undefined; // a whiteout, a directory or a link: no plain file here
  }
  return undefined;
}

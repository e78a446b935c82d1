/**
 * Resolving a path inside a root directory the way a chroot would: symlinks are followed,
 * but an absolute target or a `..` can never leave the root. The build context and a stage's
 * root filesystem are both read through this, so a symlink never reaches the host.
 */
import { lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';

const MAX_LINKS = 255;

function segments(p: string): string[] {
  return p.split('/').filter((s) => s !== '' && s !== '.');
}

/**
 * Returns the host path for `path` (absolute or relative to `root`'s top) with every symlink
 * in it resolved within `root`. With `followFinal: false` a final symlink is left as is.
 * A missing component ends the resolution: the rest is appended unresolved.
 */
export async function resolveInRoot(root: string, path: string, followFinal = true): Promise<string> {
  let done: string[] = [];
  let todo = segments(path);
  let links = 0;
  while (todo.length > 0) {
    const seg = todo.shift() as string;
    if (seg === '..') { done.pop(); continue; }
    const candidate = [...done, seg];
    const last = todo.length === 0;
    let st;
    try {
      st = await lstat(join(root, ...candidate));
    } catch {
      return join(root, ...candidate, ...todo.filter((s) => s !== '..'));
    }
    if (st.isSymbolicLink() && (!last || followFinal)) {
      if (++links > MAX_LINKS) throw Object.assign(new Error(`too many levels of symbolic links: ${path}`), { code: 'ELOOP' });
      const target = await readlink(join(root, ...candidate));
      if (target.startsWith('/')) done = [];
      todo = [...segments(target), ...todo];
      continue;
    }
    done = candidate;
  }
  return join(root, ...done);
}

/** The path relative to the root (no leading `/`), with `..` clamped at the root. */
export function clampRelative(path: string): string {
  const out: string[] = [];
  for (const seg of segments(path)) {
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return out.join('/');
}

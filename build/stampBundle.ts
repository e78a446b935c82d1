/**
 * Stamps a built CLI bundle with the sha256 of its content, as its last line. bin/kiln keys its
 * V8 code cache on that stamp: V8 checks a cache only against the source's length, and a size
 * and mtime stamp is fooled by a rebuild of the same length within one timestamp tick, or by an
 * install that sets every file's mtime alike (npm packs them all with one date) — the cache's
 * old functions then run instead of the new bundle's. Run by `npm run build` after esbuild.
 *
 *   node dist/build/stampBundle.js BUNDLE...
 */
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** The last line of a stamped bundle; bin/kiln reads it with the same pattern. */
export const STAMP_PATTERN = /\n\/\/ kiln-bundle-id ([0-9a-f]{64})\n$/;

/** `text` with its stamp (re)written: the sha256 of everything before the stamp line. */
export function stamped(text: string): string {
  const body = text.replace(STAMP_PATTERN, '\n').replace(/\n?$/, '\n');
  return `${body}// kiln-bundle-id ${createHash('sha256').update(body, 'latin1').digest('hex')}\n`;
}

/** Rewrites `file` stamped, atomically (bin/kiln may be reading it). */
export function stampBundle(file: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, stamped(readFileSync(file, 'latin1')), 'latin1');
  renameSync(tmp, file);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const file of process.argv.slice(2)) stampBundle(file);
}

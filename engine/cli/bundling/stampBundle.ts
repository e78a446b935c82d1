/**
 * Stamps a built CLI bundle with the sha256 of its content, as its last line. bin/kiln keys its
 * V8 code cache on that stamp: V8 checks a cache only against the source's length, and a size
 * and mtime stamp is fooled by a rebuild of the same length within one timestamp tick, or by an
 * install that sets every file's mtime alike (npm packs them all with one date) — the cache's
 * old functions then run instead of the new bundle's. A verb's own bundle also names, in the
 * line before its stamp, the whole bundle it was built with: bin/kiln runs it only beside that
 * one, so a verb's bundle left from another build never runs (makeBundles.ts).
 */
import { createHash } from 'node:crypto';

import { STAMP_PATTERN, WHOLE_BUNDLE_PATTERN } from './bundleIdentity.js';

export { STAMP_PATTERN, WHOLE_BUNDLE_PATTERN };

/** The id a stamped bundle carries, if any. */
export function bundleId(text: string): string | undefined {
  return STAMP_PATTERN.exec(text.slice(-100))?.[1];
}

/**
 * `text` with its stamp (re)written: the sha256 of everything before the stamp line. With
 * `wholeId`, the text is a verb's bundle and names that whole bundle in the line before.
 */
export function stamped(text: string, wholeId?: string): string {
  let body = text.replace(STAMP_PATTERN, '\n').replace(/\n?$/, '\n');
  if (wholeId !== undefined) body = `${body.replace(/\/\/ kiln-bundle-of [0-9a-f]{64}\n$/, '')}// kiln-bundle-of ${wholeId}\n`;
  return `${body}// kiln-bundle-id ${createHash('sha256').update(body, 'latin1').digest('hex')}\n`;
}

/**
 * How a built bundle names itself (stampBundle.ts writes the lines), and which build of kiln the
 * running code is: what a record that only this build may trust (a build's replay record) is
 * stamped with. Kept apart from stampBundle.ts, which hashes with node:crypto: the build's
 * start-up loads no crypto.
 */
import { fileTail } from '../../host/fileEnds.js';
import { fileURLToPath } from 'node:url';

/** The last line of a stamped bundle; bin/kiln reads it with the same pattern. */
export const STAMP_PATTERN = /\n\/\/ kiln-bundle-id ([0-9a-f]{64})\n$/;

/** The line before a verb bundle's stamp: the id of the whole bundle of its build (bin/kiln reads it). */
export const WHOLE_BUNDLE_PATTERN = /\n\/\/ kiln-bundle-of ([0-9a-f]{64})\n\/\/ kiln-bundle-id [0-9a-f]{64}\n$/;

/** The whole bundle of the build this code was bundled in; undefined when it runs unbundled (from dist/, in tests). */
export function runningWholeBundleId(): string | undefined {
  const tail = fileTail(fileURLToPath(import.meta.url), 200)?.toString('latin1'); // bundles are ASCII
  if (tail === undefined) return undefined;
  return WHOLE_BUNDLE_PATTERN.exec(tail)?.[1] ?? STAMP_PATTERN.exec(tail)?.[1];
}

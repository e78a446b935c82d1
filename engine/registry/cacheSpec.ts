/**
 * The value of `--cache-to` / `--cache-from` for a registry cache, as BuildKit spells it:
 * `type=registry,ref=REF[,mode=min|max]` (a bare `REF` is `type=registry,ref=REF` for
 * --cache-from, as docker buildx accepts).
 */
import { KilnError } from '../errors/kilnError.js';
import { parseReference, fullReference } from '../image/reference.js';

export interface RegistryCacheSpec {
  /** Normalised reference of the cache artifact. */
  ref: string;
  /** min: the records of the final image's steps; max: every step's (BuildKit's default is min). */
  mode: 'min' | 'max';
}

export function parseRegistryCacheSpec(flag: '--cache-to' | '--cache-from', text: string): RegistryCacheSpec {
  const fields = new Map<string, string>();
  if (!text.includes('=')) fields.set('ref', text);
  else {
    for (const part of text.split(',')) {
      const eq = part.indexOf('=');
      if (eq <= 0) throw new KilnError('USAGE', `invalid ${flag} "${text}": "${part}" is not KEY=VALUE`, { exitCode: 2 });
      fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
    }
  }
  const type = fields.get('type') ?? 'registry';
  if (type !== 'registry') throw new KilnError('USAGE', `invalid ${flag} "${text}": kiln supports type=registry`, { exitCode: 2 });
  const ref = fields.get('ref');
  if (!ref) throw new KilnError('USAGE', `invalid ${flag} "${text}": ref=REFERENCE is required`, { exitCode: 2 });
  const mode = fields.get('mode') ?? 'min';
  if (mode !== 'min' && mode !== 'max') throw new KilnError('USAGE', `invalid ${flag} "${text}": mode must be min or max`, { exitCode: 2 });
  for (const k of fields.keys()) {
    if (!['type', 'ref', 'mode', 'oci-mediatypes', 'compression', 'ignore-error'].includes(k)) {
      throw new KilnError('USAGE', `invalid ${flag} "${text}": unknown field "${k}"`, { exitCode: 2 });
    }
  }
  return { ref: fullReference(parseReference(ref)), mode };
}

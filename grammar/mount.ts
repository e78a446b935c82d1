/**
 * `RUN --mount=<csv>`: the mount options BuildKit accepts, validated as it validates them.
 * Option values are variable-expanded at build time (except `from`): the build engine may
 * call `parseMount(raw, expand)` with its expander. `toRecipe` validates literal values early
 * and keeps the values unexpanded (`deferVariables` leaves `$…` values unchecked).
 */
import type { MountSpec } from './recipe.js';
import { suggestLike } from './suggest.js';

export class MountError extends Error {}

const TYPES = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'] as const;
const SHARING = ['shared', 'private', 'locked'] as const;
const KEYS = ['type', 'from', 'source', 'target', 'readonly', 'id', 'sharing', 'required', 'size', 'mode', 'uid', 'gid', 'src', 'dst', 'destination', 'ro', 'rw', 'readwrite', 'env'];

const withHint = (message: string, word: string, options: readonly string[]): string => {
  const hint = suggestLike(word, options, true);
  return hint !== undefined ? `${message} (did you mean ${hint}?)` : message;
};

/** One CSV record as Go's encoding/csv reads it (quotes, `""` escapes, no trimming). */
export function csvFields(line: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) throw new MountError(`parse error on line 1, column ${line.length + 1}: extraneous or missing " in quoted-field`);
        value += line.slice(i, q);
        i = q + 1;
        if (line[i] === '"') { value += '"'; i++; continue; }
        break;
      }
      fields.push(value);
      if (i >= line.length) return fields;
      if (line[i] !== ',') throw new MountError(`parse error on line 1, column ${i + 1}: extraneous or missing " in quoted-field`);
      i++;
      continue;
    }
    const comma = line.indexOf(',', i);
    const field = comma < 0 ? line.slice(i) : line.slice(i, comma);
    const bare = field.indexOf('"');
    if (bare >= 0) throw new MountError(`parse error on line 1, column ${i + bare + 1}: bare " in non-quoted-field`);
    fields.push(field);
    if (comma < 0) return fields;
    i = comma + 1;
  }
}

function parseBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

function parseUint(v: string, radix: 8 | 10): number | undefined {
  const re = radix === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  if (!re.test(v)) return undefined;
  const n = parseInt(v, radix);
  return n <= 0xffffffff ? n : undefined;
}

/** docker/go-units RAMInBytes: `64m`, `1.5GiB`, `1024` (binary multiples). */
export function ramInBytes(v: string): number | undefined {
  const m = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(v);
  if (!m) return undefined;
  const mult = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 }[(m[2] ?? '').toLowerCase() as 'k'] ?? 1;
  const n = parseFloat(m[1] as string);
  return Number.isNaN(n) ? undefined : Math.trunc(n * mult);
}

/**
 * Parses one `--mount` value. With `expand` (the build's word expander), every option value
 * but `from` is expanded first, as BuildKit does. Throws MountError.
 */
export function parseMount(raw: string, expand: (value: string) => string = (v) => v, options: { deferVariables?: boolean } = {}): MountSpec {
  let fields: string[];
  try {
    fields = csvFields(raw);
  } catch (e) {
    throw new MountError(`failed to parse csv mounts: ${(e as Error).message}`);
  }
  const r: MountReading = { m: { type: 'bind', readonly: true }, roAuto: true, sharing: undefined };
  for (const field of fields) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    if (eq < 0) {
      bareField(r, key, field);
      continue;
    }
    const value = field.slice(eq + 1);
    if (options.deferVariables && key !== 'from' && value.includes('$')) {
      deferredField(r.m, key, field, value);
      continue;
    }
    if (key === 'from') {
      const d = value.indexOf('$');
      if (d !== -1 && d !== value.length - 1) throw new MountError(`'${key}' doesn't support variable expansion, define alias stage instead`);
      keyValueField(r, key, field, value);
    } else {
      keyValueField(r, key, field, expand(value));
    }
  }
  return checkedMount(r);
}

/** A mount being read: the spec so far, whether ro/rw was said (else the type's default), and the sharing named. */
interface MountReading {
  m: MountSpec;
  roAuto: boolean;
  sharing: string | undefined;
}

function badKeyForType(m: MountSpec, key: string): MountError {
  return new MountError(`unexpected key '${key}' for mount type '${m.type}'`);
}

/** A field without `=`: ro, rw, or `required` of a secret or ssh mount. */
function bareField(r: MountReading, key: string, field: string): void {
  switch (key) {
    case 'readonly': case 'ro': r.m.readonly = true; r.roAuto = false; return;
    case 'readwrite': case 'rw': r.m.readonly = false; r.roAuto = false; return;
    case 'required':
      if (r.m.type === 'secret' || r.m.type === 'ssh') { r.m.required = true; return; }
      throw badKeyForType(r.m, key);
    default:
      throw new MountError(`invalid field '${field}' must be a key=value pair`);
  }
}

/** A value unknown until the build expands it: text values kept as written, nothing else checked. */
function deferredField(m: MountSpec, key: string, field: string, value: string): void {
  if (key === 'source' || key === 'src') m.source = value;
  else if (key === 'target' || key === 'dst' || key === 'destination') m.target = value;
  else if (key === 'id') m.id = value;
  else if (key === 'env') m.env = value;
  else if (!KEYS.includes(key)) throw new MountError(withHint(`unexpected key '${key}' in '${field}'`, key, KEYS));
}

function keyValueField(r: MountReading, key: string, field: string, value: string): void {
  const m = r.m;
  switch (key) {
    case 'type': {
      const t = value.toLowerCase();
      if (!(TYPES as readonly string[]).includes(t)) throw new MountError(withHint(`unsupported mount type ${JSON.stringify(value)}`, value, TYPES));
      m.type = t as MountSpec['type'];
      break;
    }
    case 'from': m.from = value; break;
    case 'source': case 'src': m.source = value; break;
    case 'target': case 'dst': case 'destination': m.target = value; break;
    case 'readonly': case 'ro': case 'readwrite': case 'rw': {
      const b = parseBool(value);
      if (b === undefined) throw new MountError(`invalid value for ${key}: ${value}`);
      m.readonly = key === 'readonly' || key === 'ro' ? b : !b;
      r.roAuto = false;
      break;
    }
    case 'required': {
      if (m.type !== 'secret' && m.type !== 'ssh') throw badKeyForType(m, key);
      const b = parseBool(value);
      if (b === undefined) throw new MountError(`invalid value for ${key}: ${value}`);
      m.required = b;
      break;
    }
    case 'size': {
      if (m.type !== 'tmpfs') throw badKeyForType(m, key);
      const n = ramInBytes(value);
      if (n === undefined) throw new MountError(`invalid value for ${key}: ${value}`);
      m.size = n;
      break;
    }
    case 'id': m.id = value; break;
    case 'sharing': {
      const s = value.toLowerCase();
      if (!(SHARING as readonly string[]).includes(s)) throw new MountError(withHint(`unsupported sharing value ${JSON.stringify(value)}`, value, SHARING));
      r.sharing = s;
      m.sharing = s as MountSpec['sharing'];
      break;
    }
    case 'mode': {
      const n = parseUint(value, 8);
      if (n === undefined) throw new MountError(`invalid value ${value} for mode`);
      m.mode = n;
      break;
    }
    case 'uid': case 'gid': {
      const n = parseUint(value, 10);
      if (n === undefined) throw new MountError(`invalid value ${value} for ${key}`);
      m[key] = n;
      break;
    }
    case 'env': m.env = value; break;
    default:
      throw new MountError(withHint(`unexpected key '${key}' in '${field}'`, key, KEYS));
  }
}

/** What BuildKit checks of the whole mount once its fields are read, and the ro default of its type. */
function checkedMount(r: MountReading): MountSpec {
  const { m, sharing } = r;
  const fileInfoAllowed = m.type === 'secret' || m.type === 'ssh' || m.type === 'cache';
  if (!fileInfoAllowed) {
    for (const k of ['mode', 'uid', 'gid'] as const) {
      if (m[k] !== undefined) throw new MountError(`${k} not allowed for ${JSON.stringify(m.type)} type mounts`);
    }
  }
  if (r.roAuto) m.readonly = !(m.type === 'cache' || m.type === 'tmpfs');
  if (m.type === 'secret') {
    if (m.from !== undefined && m.from !== '') throw new MountError('secret mount should not have a from');
    if (sharing !== undefined) throw new MountError('secret mount should not define sharing');
    if (!m.source && !m.target && !m.id) throw new MountError('invalid secret mount. one of source, target required');
    if (m.source && m.id) throw new MountError("both source and id can't be set");
  }
  if (sharing !== undefined && m.type !== 'cache') throw new MountError(`invalid cache sharing set for ${m.type} mount`);
  return m;
}

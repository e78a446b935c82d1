import { usageError, type CommandSpec, type ParsedArgs } from './args.js';
import { openStore } from './openStore.js';
import { formatTable } from './table.js';
import { humanAgo, humanSize } from '../units/humanUnits.js';
import { familiarName, parseReference, withDefaultTag, fullName } from '../image/reference.js';
import { renderTemplate } from './goTemplate.js';
import { writeStdout } from '../host/standardStreams.js';

export const spec: CommandSpec = {
  name: 'images',
  usage: '[OPTIONS] [REPOSITORY[:TAG]]',
  maxArgs: 1,
  flags: [
    { name: 'quiet', short: 'q', kind: 'bool', description: 'Only show image IDs' },
    { name: 'all', short: 'a', kind: 'bool', description: 'Show all images (kiln keeps no intermediate images; same as default)' },
    { name: 'no-trunc', kind: 'bool', description: "Don't truncate output" },
    { name: 'digests', kind: 'bool', description: 'Show digests' },
    { name: 'filter', short: 'f', kind: 'list', description: 'Filter output based on conditions provided (dangling=true|false, reference=PATTERN)', valueName: 'filter' },
    { name: 'format', kind: 'string', description: 'Format output using a Go template ({{.Repository}}, {{.Tag}}, {{.ID}}, {{.CreatedSince}}, {{.Size}})', valueName: 'string' },
  ],
};

interface Row {
  Repository: string;
  Tag: string;
  Digest: string;
  ID: string;
  CreatedAt: string;
  CreatedSince: string;
  Size: string;
  created: number;
}

export async function run(args: ParsedArgs): Promise<number> {
  const store = await openStore();
  const noTrunc = args.bools.has('no-trunc');
  let filter: { name: string; tag?: string } | undefined;
  if (args.positionals[0] !== undefined) {
    const ref = parseReference(args.positionals[0], { defaultTag: false });
    filter = { name: fullName(ref) };
    if (ref.tag !== undefined) filter.tag = ref.tag;
  }
  let dangling: boolean | undefined;
  const patterns: RegExp[] = [];
  for (const f of args.lists.get('filter') ?? []) {
    const eq = f.indexOf('=');
    const key = f.slice(0, eq);
    const value = f.slice(eq + 1);
    if (key === 'dangling' && (value === 'true' || value === 'false')) dangling = value === 'true';
    else if (key === 'reference' && value !== '') patterns.push(globToRegExp(value));
    else throw usageError('images', `invalid filter "${f}" (kiln knows dangling=true|false and reference=PATTERN)`);
  }
  const rows: Row[] = [];
  for (const img of await store.listImages()) {
    if (dangling !== undefined && dangling !== (img.tags.length === 0)) continue;
    const id = noTrunc ? img.id : img.id.slice(7, 19);
    const size = humanSize(await store.imageSize(img));
    const created = img.config.created ?? '';
    const base = { ID: id, CreatedAt: created, CreatedSince: humanAgo(created), Size: size, created: Date.parse(created) || 0 };
    const tags = img.tags.map((t) => withDefaultTag(parseReference(t)));
    if (tags.length === 0) {
      if (!filter && patterns.length === 0) rows.push({ ...base, Repository: '<none>', Tag: '<none>', Digest: '<none>' });
      continue;
    }
    for (const ref of tags) {
      if (patterns.length > 0 && !patterns.some((p) => p.test(`${familiarName(ref)}:${ref.tag ?? ''}`) || p.test(familiarName(ref)))) continue;
      if (filter && (fullName(ref) !== filter.name || (filter.tag !== undefined && filter.tag !== ref.tag))) continue;
      const digest = img.repoDigests.find((d) => d.startsWith(`${fullName(ref)}@`))?.split('@')[1] ?? '<none>';
      rows.push({ ...base, Repository: familiarName(ref), Tag: ref.tag ?? '<none>', Digest: digest });
    }
  }
  rows.sort((a, b) => b.created - a.created || (a.Repository < b.Repository ? -1 : a.Repository > b.Repository ? 1 : a.Tag < b.Tag ? -1 : 1));
  const format = args.strings.get('format');
  if (args.bools.has('quiet')) {
    const seen = new Set<string>();
    for (const r of rows) if (!seen.has(r.ID)) { seen.add(r.ID); writeStdout(`${r.ID}\n`); }
    return 0;
  }
  if (format !== undefined && format !== 'table') {
    for (const r of rows) writeStdout(`${renderTemplate(format, r)}\n`);
    return 0;
  }
  const digests = args.bools.has('digests');
  const header = digests ? ['REPOSITORY', 'TAG', 'DIGEST', 'IMAGE ID', 'CREATED', 'SIZE'] : ['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'];
  writeStdout(formatTable(header, rows.map((r) => (digests ? [r.Repository, r.Tag, r.Digest, r.ID, r.CreatedSince, r.Size] : [r.Repository, r.Tag, r.ID, r.CreatedSince, r.Size]))));
  return 0;
}

/** docker's reference filter: shell-style `*` and `?` within path components. */
function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${body}$`);
}

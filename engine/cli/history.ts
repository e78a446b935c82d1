/** `kiln history IMAGE`: the layers of an image and the instructions that made them, as docker history shows them. */
import type { CommandSpec, ParsedArgs } from './args.js';
import { openStore } from './openStore.js';
import { formatTable } from './table.js';
import { humanAgo, humanSize } from '../units/humanUnits.js';
import { renderTemplate } from './goTemplate.js';
import { parseImageArgument } from '../image/imageArgument.js';

export const spec: CommandSpec = {
  name: 'history',
  usage: '[OPTIONS] IMAGE',
  minArgs: 1,
  maxArgs: 1,
  flags: [
    { name: 'human', short: 'H', kind: 'bool', description: 'Print sizes and dates in human readable format (default true)' },
    { name: 'no-trunc', kind: 'bool', description: "Don't truncate output" },
    { name: 'quiet', short: 'q', kind: 'bool', description: 'Only show image IDs' },
    { name: 'format', kind: 'string', description: 'Format output using a Go template ({{.ID}}, {{.CreatedSince}}, {{.CreatedBy}}, {{.Size}}, {{.Comment}})', valueName: 'string' },
  ],
};

function ellipsis(s: string, max: number): string {
  const chars = [...s];
  return chars.length <= max ? s : `${chars.slice(0, max - 1).join('')}…`;
}

export async function run(args: ParsedArgs): Promise<number> {
  const name = parseImageArgument(args.positionals[0] as string);
  const store = await openStore();
  const image = await store.requireImage(name);
  const noTrunc = args.bools.has('no-trunc');
  const diffIds = image.config.rootfs.diff_ids;
  const history = image.config.history ?? [];
  let layer = 0;
  const rows = [];
  for (const h of history) {
    let size = 0;
    if (!h.empty_layer) {
      const d = diffIds[layer++];
      if (d !== undefined) size = await store.blobs.size(d).catch(() => 0);
    }
    rows.push({ h, size });
  }
  rows.reverse();
  const shown = rows.map(({ h, size }, i) => ({
    ID: i === 0 ? (noTrunc ? image.id : image.id.slice(7, 19)) : '<missing>',
    CreatedAt: h.created ?? '',
    CreatedSince: humanAgo(h.created),
    CreatedBy: noTrunc ? (h.created_by ?? '') : ellipsis((h.created_by ?? '').replace(/\s+/g, ' '), 45),
    Size: humanSize(size),
    Comment: h.comment ?? '',
  }));
  if (args.bools.has('quiet')) {
    for (const r of shown) process.stdout.write(`${r.ID}\n`);
    return 0;
  }
  const format = args.strings.get('format');
  if (format !== undefined && format !== 'table') {
    for (const r of shown) process.stdout.write(`${renderTemplate(format, r)}\n`);
    return 0;
  }
  process.stdout.write(formatTable(['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'], shown.map((r) => [r.ID, r.CreatedSince, r.CreatedBy, r.Size, r.Comment])));
  return 0;
}

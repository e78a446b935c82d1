/** `kiln system df`: how much space images, build cache and snapshots take. */
import type { CommandSpec, ParsedArgs } from './args.js';
import { usageError } from './args.js';

export const spec: CommandSpec = {
  name: 'system',
  ownUserNamespace: 'if-mapped',
  usage: 'df [OPTIONS]',
  flags: [{ name: 'format', kind: 'string', valueName: 'string', description: "Format the output: 'table' (default) or 'json'" }],
  minArgs: 1,
  maxArgs: 1,
};

export async function run(args: ParsedArgs): Promise<number> {
  if (args.positionals[0] !== 'df') throw usageError('system', `unknown subcommand "${args.positionals[0]}" (available: df)`);
  const format = args.strings.get('format') ?? 'table';
  if (format !== 'table' && format !== 'json') throw usageError('system', `unknown format "${format}" (table or json)`);
  const [{ Store }, { diskUsage, humanSize }] = await Promise.all([import('../store/store.js'), import('../../cache/prune.js')]);
  const rows = await diskUsage(await Store.open());
  if (format === 'json') {
    process.stdout.write(rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    return 0;
  }
  const table = [
    ['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE'],
    ...rows.map((r) => {
      const pct = r.size > 0 ? ` (${Math.round((100 * r.reclaimable) / r.size)}%)` : '';
      return [r.type, String(r.total), String(r.active), humanSize(r.size), `${humanSize(r.reclaimable)}${pct}`];
    }),
  ];
  const widths = (table[0] as string[]).map((_, i) => Math.max(...table.map((row) => (row[i] as string).length)));
  process.stdout.write(table.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd((widths[i] as number) + 3))).join('')).join('\n') + '\n');
  return 0;
}

/**
 * `kiln system df`: how much space images, build cache and snapshots take. `kiln system reset`:
 * removes what kiln added to the host outside its stores (its nftables table, its bridges, its
 * network records), refused while containers are on its networks.
 */
import type { CommandSpec, ParsedArgs } from './args.js';
import { usageError } from './args.js';
import { openStore } from './openStore.js';
import { diskUsage } from '../../cache/diskUsage.js';
import { humanSize } from '../units/humanUnits.js';
import { privilege } from '../host/privilege.js';
import { resetNetworks } from '../runtime/network/networkAdmin.js';

export const spec: CommandSpec = {
  name: 'system',
  ownUserNamespace: 'if-mapped',
  usage: 'df [OPTIONS] | reset',
  flags: [{ name: 'format', kind: 'string', valueName: 'string', description: "Format the output: 'table' (default) or 'json'" }],
  minArgs: 1,
  maxArgs: 1,
};

export async function run(args: ParsedArgs): Promise<number> {
  if (args.positionals[0] === 'reset') return reset();
  if (args.positionals[0] !== 'df') throw usageError('system', `unknown subcommand "${args.positionals[0]}" (available: df, reset)`);
  const format = args.strings.get('format') ?? 'table';
  if (format !== 'table' && format !== 'json') throw usageError('system', `unknown format "${format}" (table or json)`);
  const rows = await diskUsage(await openStore());
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

async function reset(): Promise<number> {
  if (privilege() !== 'host-root') {
    process.stdout.write('Nothing to reset: rootless kiln adds no bridge or firewall rule to the host.\n');
    return 0;
  }
  const { networks } = await resetNetworks();
  process.stdout.write(`Removed kiln's nftables table and ${networks} network(s) with their bridges.\n`);
  return 0;
}

/**
 * `kiln network create NAME` / `ls` / `rm NAME...`: user-defined bridge networks, on which
 * containers reach each other by name. Networks belong to the host (every store and every kiln
 * started as root sees the same ones), as a bridge does; `bridge`, `host` and `none` are always there.
 */
import { createHash } from 'node:crypto';
import type { CommandSpec, ParsedArgs } from './args.js';
import { usageError } from './args.js';
import { formatTable } from './table.js';
import { KilnError } from '../errors/kilnError.js';
import { privilege } from '../host/privilege.js';
import { createUserNetwork, networksAfterSweep, removeUserNetwork } from '../runtime/network/networkAdmin.js';

export const spec: CommandSpec = {
  name: 'network',
  usage: 'create [--subnet CIDR] NAME | ls [-q] | rm NAME [NAME...]',
  minArgs: 1,
  flags: [
    { name: 'subnet', kind: 'string', valueName: 'string', description: 'create: subnet in CIDR format (default: a free /24 of 10.100.0.0/14)' },
    { name: 'driver', short: 'd', kind: 'string', valueName: 'string', description: 'create: driver to manage the network (only bridge)' },
    { name: 'quiet', short: 'q', kind: 'bool', description: 'ls: only display network IDs' },
  ],
};

const PREDEFINED = [{ name: 'host', driver: 'host' }, { name: 'none', driver: 'null' }];

/** host and none have no record: a stable ID from the name, as docker shows one for them. */
function predefinedId(name: string): string {
  return createHash('sha256').update(`kiln network ${name}`).digest('hex');
}

function needRoot(verb: string): void {
  if (privilege() !== 'host-root') throw new KilnError('ROOTLESS_NETWORK', `kiln network ${verb}: user-defined networks need root (rootless containers use slirp4netns)`);
}

async function list(args: ParsedArgs): Promise<number> {
  let records: { id: string; name: string; driver: string }[] = [];
  if (privilege() === 'host-root') {
    records = (await networksAfterSweep()).map((n) => ({ id: n.id, name: n.name, driver: 'bridge' }));
  }
  if (!records.some((r) => r.name === 'bridge')) records.unshift({ id: predefinedId('bridge'), name: 'bridge', driver: privilege() === 'host-root' ? 'bridge' : 'slirp4netns' });
  const rows = [...records, ...PREDEFINED.map((p) => ({ id: predefinedId(p.name), ...p }))].sort((a, b) => a.name.localeCompare(b.name));
  if (args.bools.has('quiet')) {
    process.stdout.write(rows.map((r) => r.id.slice(0, 12) + '\n').join(''));
    return 0;
  }
  process.stdout.write(formatTable(['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'], rows.map((r) => [r.id.slice(0, 12), r.name, r.driver, 'local'])));
  return 0;
}

export async function run(args: ParsedArgs): Promise<number> {
  const [sub, ...names] = args.positionals as [string, ...string[]];
  switch (sub) {
    case 'ls':
    case 'list':
      return list(args);
    case 'create': {
      if (names.length !== 1) throw usageError('network', '"kiln network create" requires exactly 1 argument (the network name)');
      const driver = args.strings.get('driver') ?? 'bridge';
      if (driver !== 'bridge') throw new KilnError('USAGE', `plugin "${driver}" not found: kiln networks use the bridge driver`);
      needRoot('create');
      const net = await createUserNetwork(names[0] as string, args.strings.get('subnet'));
      process.stdout.write(net.id + '\n');
      return 0;
    }
    case 'rm':
    case 'remove': {
      if (names.length === 0) throw usageError('network', '"kiln network rm" requires at least 1 argument');
      needRoot('rm');
      let status = 0;
      for (const name of names) {
        try {
          await removeUserNetwork(name);
          process.stdout.write(name + '\n');
        } catch (err) {
          if (!(err instanceof KilnError)) throw err;
          process.stderr.write(`kiln: ${err.message}\n`);
          status = 1;
        }
      }
      return status;
    }
    default:
      throw usageError('network', `unknown subcommand "${sub}" (available: create, ls, rm)`);
  }
}

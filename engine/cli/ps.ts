/** `kiln ps [-a]`: the containers `kiln run` made (running ones; all with -a). */
import type { CommandSpec, ParsedArgs } from './args.js';
import { openStore } from './openStore.js';
import { formatTable } from './table.js';
import { humanAgo } from './humanUnits.js';
import { ContainerRecords, type ContainerRecord } from '../runtime/containerRecords.js';

export const spec: CommandSpec = {
  name: 'ps',
  usage: '[OPTIONS]',
  maxArgs: 0,
  flags: [
    { name: 'all', short: 'a', kind: 'bool', description: 'Show all containers (default shows just running)' },
    { name: 'quiet', short: 'q', kind: 'bool', description: 'Only display container IDs' },
    { name: 'no-trunc', kind: 'bool', description: "Don't truncate output" },
  ],
};

function status(c: ContainerRecord): string {
  if (c.state === 'running') return `Up ${humanAgo(c.created).replace(/ ago$/, '')}`;
  if (c.state === 'created') return 'Created';
  return `Exited (${c.exitCode ?? -1}) ${c.finished ? humanAgo(c.finished) : ''}`.trim();
}

/** docker's PORTS column: `0.0.0.0:8080->80/tcp, …` while the container runs. */
function ports(c: ContainerRecord): string {
  if (c.state !== 'running') return '';
  return (c.ports ?? []).map((p) => `${p.hostIp === '' ? '0.0.0.0' : p.hostIp}:${p.hostPort}->${p.containerPort}/${p.proto}`).join(', ');
}

export async function run(args: ParsedArgs): Promise<number> {
  const store = await openStore();
  const all = (await new ContainerRecords(store.root).list()).filter((c) => args.bools.has('all') || c.state === 'running');
  const noTrunc = args.bools.has('no-trunc');
  const id = (c: ContainerRecord): string => (noTrunc ? c.id : c.id.slice(0, 12));
  if (args.bools.has('quiet')) {
    process.stdout.write(all.map((c) => id(c) + '\n').join(''));
    return 0;
  }
  const command = (c: ContainerRecord): string => {
    const text = c.command.join(' ');
    return JSON.stringify(noTrunc || text.length <= 20 ? text : text.slice(0, 19) + '…');
  };
  process.stdout.write(formatTable(
    ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES'],
    all.map((c) => [id(c), c.image, command(c), humanAgo(c.created), status(c), ports(c), c.name]),
  ));
  return 0;
}

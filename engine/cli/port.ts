/**
 * `kiln port CONTAINER [PRIVATE_PORT[/PROTO]]`: the host ports a running container's ports are
 * published on, as `docker port` prints them.
 */
import type { CommandSpec, ParsedArgs } from './args.js';
import { openStore } from './openStore.js';
import { KilnError } from '../errors/kilnError.js';
import { ContainerRecords, isLive } from '../runtime/containerRecords.js';
import { writeStdout } from '../host/standardStreams.js';

export const spec: CommandSpec = {
  name: 'port',
  usage: 'CONTAINER [PRIVATE_PORT[/PROTO]]',
  minArgs: 1,
  maxArgs: 2,
  flags: [],
};

export async function run(args: ParsedArgs): Promise<number> {
  const [wanted, privatePort] = args.positionals as [string, string | undefined];
  const store = await openStore();
  const c = await new ContainerRecords(store.root).find(wanted);
  if (!c) throw new KilnError('NO_SUCH_CONTAINER', `No such container: ${wanted}`);
  // Only while its holder lives (a killed supervisor's record may still say running: its ports are gone).
  const bindings = c.state === 'running' && isLive(c) ? c.ports ?? [] : [];
  const host = (b: (typeof bindings)[number]): string => `${b.hostIp === '' ? '0.0.0.0' : b.hostIp}:${b.hostPort}`;
  if (privatePort === undefined) {
    const sorted = [...bindings].sort((a, b) => a.containerPort - b.containerPort || a.proto.localeCompare(b.proto));
    writeStdout(sorted.map((b) => `${b.containerPort}/${b.proto} -> ${host(b)}\n`).join(''));
    return 0;
  }
  const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/.exec(privatePort);
  if (!m) throw new KilnError('USAGE', `Error: invalid port (${privatePort})`);
  const proto = m[2] ?? 'tcp';
  const matching = bindings.filter((b) => b.containerPort === Number(m[1]) && b.proto === proto);
  if (matching.length === 0) throw new KilnError('NO_SUCH_PORT', `Error: No public port '${m[1]}/${proto}' published for ${wanted}`);
  writeStdout(matching.map((b) => host(b) + '\n').join(''));
  return 0;
}

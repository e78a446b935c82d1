/**
 * `kiln ps [-a] [-q] [--filter K=V] [-n N] [-l] [--format T] [--no-trunc]`: the containers kiln
 * made, as docker lists them — running ones (all with -a), newest first, docker's STATUS text
 * (Up 3 minutes, Up 2 seconds (Paused), Restarting (1) 1 second ago, Exited (0) 5 seconds ago,
 * Created) and docker's filters (id, name, status, exited, ancestor, before, since, label).
 */
import type { CommandSpec, ParsedArgs } from './args.js';
import { containerRecords } from './containerTargets.js';
import { formatTable } from './table.js';
import { humanAgo } from '../units/humanUnits.js';
import { renderTemplate } from './goTemplate.js';
import { KilnError } from '../errors/kilnError.js';
import { isLive, type ContainerRecord, type ContainerRecords } from '../runtime/containerRecords.js';
import { freezerOf, isFrozen } from '../runtime/lifecycle/freezer.js';
import { storedContainerOrUndefined } from '../runtime/lifecycle/storedContainer.js';
import { writeStdout } from '../host/standardStreams.js';

export const spec: CommandSpec = {
  name: 'ps',
  usage: '[OPTIONS]',
  maxArgs: 0,
  flags: [
    { name: 'all', short: 'a', kind: 'bool', description: 'Show all containers (default shows just running)' },
    { name: 'filter', short: 'f', kind: 'list', description: 'Filter output based on conditions provided (id, name, status, exited, ancestor, before, since, label)', valueName: 'filter' },
    { name: 'format', kind: 'string', description: 'Format output using a Go template ({{.ID}}, {{.Names}}, {{.Status}}, {{.State}}, …)', valueName: 'string' },
    { name: 'last', short: 'n', kind: 'string', description: 'Show n last created containers (includes all states)', valueName: 'int' },
    { name: 'latest', short: 'l', kind: 'bool', description: 'Show the latest created container (includes all states)' },
    { name: 'quiet', short: 'q', kind: 'bool', description: 'Only display container IDs' },
    { name: 'no-trunc', kind: 'bool', description: "Don't truncate output" },
  ],
};

/** docker's State: created, running, paused, restarting, exited. */
export function containerState(c: ContainerRecord): string {
  if (!isLive(c)) return c.state === 'created' ? 'created' : 'exited';
  if (c.state === 'restarting') return 'restarting';
  return isFrozen(freezerOf(c.cgroupDirs)) ? 'paused' : 'running';
}

/** docker's STATUS column. */
export function containerStatus(c: ContainerRecord, state = containerState(c)): string {
  const since = (t: string | undefined): string => humanAgo(t ?? c.created).replace(/ ago$/, '');
  switch (state) {
    case 'running': return `Up ${since(c.started)}`;
    case 'paused': return `Up ${since(c.started)} (Paused)`;
    case 'restarting': return `Restarting (${c.exitCode ?? 0}) ${humanAgo(c.finished ?? c.created)}`;
    case 'created': return 'Created';
    default: return `Exited (${c.exitCode ?? -1}) ${humanAgo(c.finished ?? c.created)}`;
  }
}

/** docker's PORTS column: `0.0.0.0:8080->80/tcp, …` while the container runs. */
function ports(c: ContainerRecord): string {
  if (!isLive(c)) return '';
  return (c.ports ?? []).map((p) => `${p.hostIp === '' ? '0.0.0.0' : p.hostIp}:${p.hostPort}->${p.containerPort}/${p.proto}`).join(', ');
}

const FILTER_KEYS = ['id', 'name', 'status', 'exited', 'ancestor', 'before', 'since', 'label'];
const STATUSES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];

function parseFilters(values: readonly string[]): Map<string, string[]> {
  const filters = new Map<string, string[]>();
  for (const v of values) {
    const eq = v.indexOf('=');
    const key = eq < 0 ? v : v.slice(0, eq);
    if (eq < 0 || !FILTER_KEYS.includes(key)) throw new KilnError('USAGE', `invalid filter '${v}'`, { exitCode: 1 });
    const value = v.slice(eq + 1);
    if (key === 'status' && !STATUSES.includes(value)) throw new KilnError('USAGE', `invalid filter 'status=${value}'`, { exitCode: 1 });
    if (key === 'exited' && !/^-?\d+$/.test(value)) throw new KilnError('USAGE', `invalid filter 'exited=${value}'`, { exitCode: 1 });
    filters.set(key, [...(filters.get(key) ?? []), value]);
  }
  return filters;
}

function matches(c: ContainerRecord, key: string, value: string, records: ContainerRecords, all: readonly ContainerRecord[]): boolean {
  switch (key) {
    case 'id': return c.id.startsWith(value);
    case 'name': return new RegExp(value).test(c.name);
    case 'status': return containerState(c) === value;
    case 'exited': return containerState(c) === 'exited' && c.exitCode === Number(value);
    case 'ancestor': return c.image === value || c.imageId.replace(/^sha256:/, '').startsWith(value.replace(/^sha256:/, '')) || c.image === `${value}:latest`;
    case 'before':
    case 'since': {
      const other = all.find((o) => o.name === value || o.id.startsWith(value));
      if (!other) throw new KilnError('NO_SUCH_CONTAINER', `No such container: ${value}`);
      return key === 'before' ? c.created < other.created : c.created > other.created;
    }
    default: {
      const [k, want] = value.split('=', 2) as [string, string | undefined];
      const labels = storedContainerOrUndefined(records.containerDir(c.id))?.imageConfig.Labels ?? {};
      return k in labels && (want === undefined || labels[k] === want);
    }
  }
}

export async function run(args: ParsedArgs): Promise<number> {
  const records = await containerRecords();
  const everything = await records.list();
  const filters = parseFilters(args.lists.get('filter') ?? []);
  const last = args.bools.has('latest') ? 1 : args.strings.has('last') ? Number(args.strings.get('last')) : -1;
  const showAll = args.bools.has('all') || last > 0 || filters.has('status') || filters.has('exited');
  let shown = everything.filter((c) => showAll || isLive(c));
  for (const [key, values] of filters) shown = shown.filter((c) => values.some((v) => matches(c, key, v, records, everything)));
  if (last > 0) shown = shown.slice(0, last);
  const noTrunc = args.bools.has('no-trunc');
  const id = (c: ContainerRecord): string => (noTrunc ? c.id : c.id.slice(0, 12));
  if (args.bools.has('quiet')) {
    writeStdout(shown.map((c) => id(c) + '\n').join(''));
    return 0;
  }
  const command = (c: ContainerRecord): string => {
    const text = c.command.join(' ');
    return JSON.stringify(noTrunc || text.length <= 20 ? text : text.slice(0, 19) + '…');
  };
  const format = args.strings.get('format');
  if (format !== undefined) {
    for (const c of shown) {
      const state = containerState(c);
      writeStdout(`${renderTemplate(format, {
        ID: id(c), Image: c.image, Command: command(c), CreatedAt: c.created, RunningFor: humanAgo(c.created), Ports: ports(c),
        State: state, Status: containerStatus(c, state), Names: c.name, Labels: '', Mounts: '', Networks: '', Size: '',
      })}\n`);
    }
    return 0;
  }
  writeStdout(formatTable(
    ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES'],
    shown.map((c) => [id(c), c.image, command(c), humanAgo(c.created), containerStatus(c), ports(c), c.name]),
  ));
  return 0;
}

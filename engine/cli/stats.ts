/**
 * `kiln stats [--no-stream] [-a] [--no-trunc] [--format T] [CONTAINER...]`: CPU %, memory use
 * and limit, network and block IO, pids of running containers, as `docker stats` shows them —
 * redrawn every second until interrupted, or one table (--no-stream) — read from the cgroup
 * files and network namespaces (runtime/lifecycle/containerStats.ts). CPU % is the share of
 * the host's CPU time over one interval, so the first table comes after one second.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { CommandSpec, ParsedArgs } from './args.js';
import { containerRecords } from './containerTargets.js';
import { renderTemplate } from './goTemplate.js';
import { binarySize, humanSize } from '../units/humanUnits.js';
import { formatTable } from './table.js';
import { isLive, type ContainerRecord, type ContainerRecords } from '../runtime/containerRecords.js';
import { cpuPercent, sampleStats, type StatsSample } from '../runtime/lifecycle/containerStats.js';

export const spec: CommandSpec = {
  name: 'stats',
  usage: '[OPTIONS] [CONTAINER...]',
  flags: [
    { name: 'all', short: 'a', kind: 'bool', description: 'Show all containers (default shows just running)' },
    { name: 'no-stream', kind: 'bool', description: 'Disable streaming stats and only pull the first result' },
    { name: 'no-trunc', kind: 'bool', description: "Don't truncate output" },
    { name: 'format', kind: 'string', description: 'Format output using a Go template ({{.Container}}, {{.Name}}, {{.ID}}, {{.CPUPerc}}, {{.MemUsage}}, {{.MemPerc}}, {{.NetIO}}, {{.BlockIO}}, {{.PIDs}})', valueName: 'string' },
  ],
};

/** How often the figures are refreshed, as docker's daemon collects them. */
const INTERVAL_MS = 1000;
const HEADER = ['CONTAINER ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'NET I/O', 'BLOCK I/O', 'PIDS'];

interface Row {
  Container: string;
  Name: string;
  ID: string;
  CPUPerc: string;
  MemUsage: string;
  MemPerc: string;
  NetIO: string;
  BlockIO: string;
  PIDs: string;
}

/** One sample of a container, or undefined when it does not run. */
function sampleOf(rec: ContainerRecord): StatsSample | undefined {
  return isLive(rec) && rec.state === 'running' && rec.pid !== undefined ? sampleStats(rec.pid, rec.cgroupDirs ?? []) : undefined;
}

function rowOf(rec: ContainerRecord, name: string, before: StatsSample | undefined, after: StatsSample | undefined, noTrunc: boolean): Row {
  const id = noTrunc ? rec.id : rec.id.slice(0, 12);
  const s = after;
  const percent = (n: number): string => `${n.toFixed(2)}%`;
  return {
    Container: name, Name: rec.name, ID: id,
    CPUPerc: percent(before && s ? cpuPercent(before, s) : 0),
    MemUsage: s ? `${binarySize(s.memoryBytes)} / ${binarySize(s.memoryLimitBytes)}` : '0B / 0B',
    MemPerc: percent(s && s.memoryLimitBytes > 0 ? (s.memoryBytes / s.memoryLimitBytes) * 100 : 0),
    NetIO: s ? `${humanSize(s.netRxBytes)} / ${humanSize(s.netTxBytes)}` : '0B / 0B',
    BlockIO: s ? `${humanSize(s.blockReadBytes)} / ${humanSize(s.blockWriteBytes)}` : '0B / 0B',
    PIDs: String(s?.pids ?? 0),
  };
}

/** The containers to show: those named (each must exist), else the running ones (-a: all). */
async function targets(records: ContainerRecords, names: readonly string[], all: boolean): Promise<{ rec: ContainerRecord; name: string }[]> {
  if (names.length > 0) return Promise.all(names.map(async (name) => ({ rec: await records.get(name), name })));
  return (await records.list()).filter((r) => all || isLive(r)).map((rec) => ({ rec, name: rec.id.slice(0, 12) }));
}

function render(rows: readonly Row[], format: string | undefined): string {
  if (format !== undefined) return rows.map((r) => `${renderTemplate(format, r)}\n`).join('');
  return formatTable(HEADER, rows.map((r) => [r.ID, r.Name, r.CPUPerc, r.MemUsage, r.MemPerc, r.NetIO, r.BlockIO, r.PIDs]));
}

export async function run(args: ParsedArgs): Promise<number> {
  const records = await containerRecords();
  const all = args.bools.has('all');
  const stream = !args.bools.has('no-stream');
  const noTrunc = args.bools.has('no-trunc');
  const format = args.strings.get('format');
  let previous = new Map<string, StatsSample>();
  for (const { rec } of await targets(records, args.positionals, all)) {
    const s = sampleOf(rec);
    if (s) previous.set(rec.id, s);
  }
  for (;;) {
    await sleep(INTERVAL_MS);
    const shown = await targets(records, args.positionals, all);
    const next = new Map<string, StatsSample>();
    const rows = shown.map(({ rec, name }) => {
      const current = records.read(rec.id) ?? rec;
      const s = sampleOf(current);
      if (s) next.set(rec.id, s);
      return rowOf(current, args.positionals.length > 0 ? name : rec.id.slice(0, 12), previous.get(rec.id), s, noTrunc);
    });
    previous = next;
    // docker's CLI clears the screen and draws the table again at the top.
    process.stdout.write(`${stream ? '\x1b[2J\x1b[H' : ''}${render(rows, format)}`);
    if (!stream) return 0;
  }
}

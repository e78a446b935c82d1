/**
 * `kiln logs [-f] [--tail N] [-t] [--since T] [--until T] CONTAINER`: the container's json-file
 * log as docker prints it — each entry's bytes to stdout or stderr as the container wrote
 * them, with -t the entry's time first (RFC 3339, nine digits) — read as a stream, never the
 * whole file at once; -f goes on until the container is down for good.
 */
import { existsSync } from 'node:fs';
import type { CommandSpec, ParsedArgs } from './args.js';
import { containerRecords } from './containerTargets.js';
import { KilnError } from '../errors/kilnError.js';
import { writeAll } from '../host/standardStreams.js';
import { isLive, type ContainerRecords } from '../runtime/containerRecords.js';
import { nowNanos, parseRfc3339, rfc3339NanoFixed, type NanoTime } from '../runtime/lifecycle/logClock.js';
import { followEntries, readEntriesFrom, tailOffset, type LogEntry } from '../runtime/lifecycle/logReader.js';

export const spec: CommandSpec = {
  name: 'logs',
  usage: '[OPTIONS] CONTAINER',
  minArgs: 1,
  maxArgs: 1,
  flags: [
    { name: 'follow', short: 'f', kind: 'bool', description: 'Follow log output' },
    { name: 'tail', short: 'n', kind: 'string', description: 'Number of lines to show from the end of the logs (default "all")', valueName: 'string' },
    { name: 'timestamps', short: 't', kind: 'bool', description: 'Show timestamps' },
    { name: 'since', kind: 'string', description: 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)', valueName: 'string' },
    { name: 'until', kind: 'string', description: 'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)', valueName: 'string' },
  ],
};

const DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** docker's GetTimestamp: a Go duration before now, Unix seconds[.nanos], RFC 3339, or a date/time (local). */
export function parseTimeFlag(text: string, flag: string, now: NanoTime = nowNanos()): NanoTime {
  const t = text.trim();
  if (/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(t)) {
    let nanos = 0;
    for (const m of t.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) nanos += Number(m[1]) * (DURATION_UNITS[m[2] as string] as number);
    return now - BigInt(Math.round(nanos));
  }
  const unix = /^(\d+)(?:\.(\d{1,9}))?$/.exec(t);
  if (unix) return BigInt(unix[1] as string) * 1_000_000_000n + BigInt((unix[2] ?? '').padEnd(9, '0') || '0');
  const exact = parseRfc3339(t);
  if (exact !== undefined) return exact;
  const local = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?$/.test(t) ? Date.parse(t.includes('T') ? t : `${t}T00:00:00`) : NaN;
  if (!Number.isNaN(local)) return BigInt(local) * 1_000_000n;
  throw new KilnError('USAGE', `invalid value for "${flag}": failed to parse value as time or duration: "${text}"`, { exitCode: 1 });
}

interface Shown { timestamps: boolean; since?: NanoTime; until?: NanoTime }

function printer(shown: Shown): (e: LogEntry) => void {
  return (e) => {
    if (shown.since !== undefined && e.time < shown.since) return;
    if (shown.until !== undefined && e.time > shown.until) return;
    const text = shown.timestamps ? Buffer.concat([Buffer.from(`${rfc3339NanoFixed(e.time)} `), e.text]) : e.text;
    writeAll(e.stream === 'stderr' ? 2 : 1, text);
  };
}

function logFileOf(records: ContainerRecords, id: string, name: string): string {
  const file = records.logPath(id);
  if (!existsSync(file)) {
    throw new KilnError('NO_LOG', `container ${name} has no log: it ran in the foreground, where its output went to the terminal (kiln run -d keeps a log)`);
  }
  return file;
}

/** Shows what the container logs from `offset` on until it is down for good; returns its exit code (`start -a`). */
export async function followFrom(records: ContainerRecords, id: string, offset: number): Promise<number> {
  const file = records.logPath(id);
  await followEntries(file, offset, printer({ timestamps: false }), () => { const r = records.read(id); return r !== undefined && isLive(r); });
  return records.read(id)?.exitCode ?? 0;
}

export async function run(args: ParsedArgs): Promise<number> {
  const name = args.positionals[0] as string;
  const tailText = args.strings.get('tail') ?? 'all';
  if (tailText !== 'all' && !/^-?\d+$/.test(tailText)) throw new KilnError('USAGE', `invalid value for --tail: ${tailText} (a number of lines or "all")`, { exitCode: 1 });
  const tail = tailText === 'all' || Number(tailText) < 0 ? undefined : Number(tailText);
  const shown: Shown = { timestamps: args.bools.has('timestamps') };
  if (args.strings.has('since')) shown.since = parseTimeFlag(args.strings.get('since') as string, '--since');
  if (args.strings.has('until')) shown.until = parseTimeFlag(args.strings.get('until') as string, '--until');
  const records = await containerRecords();
  const rec = await records.get(name);
  const file = logFileOf(records, rec.id, name);
  const offset = tail === undefined ? 0 : tailOffset(file, tail);
  const print = printer(shown);
  if (!args.bools.has('follow')) {
    readEntriesFrom(file, offset, print);
    return 0;
  }
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  await followEntries(file, offset, print, () => { const r = records.read(rec.id); return r !== undefined && isLive(r); }, stop.signal);
  return 0;
}

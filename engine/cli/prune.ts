/** `kiln prune`: remove build cache records and the blobs and snapshots only they kept. */
import type { CommandSpec, ParsedArgs } from './args.js';
import { usageError } from './args.js';
import { openStore } from './openStore.js';
import { pruneCache } from '../../cache/prune.js';
import { humanSize } from '../units/humanUnits.js';

export const spec: CommandSpec = {
  name: 'prune',
  ownUserNamespace: 'if-mapped',
  usage: '[OPTIONS]',
  flags: [
    { name: 'all', short: 'a', kind: 'bool', description: 'Remove all build cache, not only records unused for 48 hours' },
    { name: 'filter', kind: 'list', valueName: 'filter', description: "Remove records unused for longer than a duration (e.g. 'until=24h')" },
    { name: 'force', short: 'f', kind: 'bool', description: 'Do not prompt for confirmation (kiln never prompts)' },
  ],
  maxArgs: 0,
};

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go-style durations as docker takes them: 24h, 90m, 1h30m. */
export function parseDuration(text: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
    matched = re.lastIndex;
  }
  return matched === text.length && text !== '' ? total : undefined;
}

export async function run(args: ParsedArgs): Promise<number> {
  let unusedForMs: number | undefined;
  for (const f of args.lists.get('filter') ?? []) {
    const [name, value] = f.split('=', 2);
    const ms = name === 'until' && value !== undefined ? parseDuration(value) : undefined;
    if (ms === undefined) throw usageError('prune', `invalid filter "${f}" (supported: until=DURATION, e.g. until=24h)`);
    unusedForMs = ms;
  }
  const store = await openStore();
  const r = await pruneCache(store, { all: args.bools.has('all'), ...(unusedForMs !== undefined ? { unusedForMs } : {}) });
  const out: string[] = [];
  if (r.removedRecords + r.removedBlobs.length + r.removedSnapshots.length > 0) {
    out.push(`Deleted build cache records: ${r.removedRecords}`);
    if (r.removedBlobs.length > 0) out.push('Deleted layers:', ...r.removedBlobs.map((d) => `  ${d}`));
    if (r.removedSnapshots.length > 0) out.push(`Deleted snapshots: ${r.removedSnapshots.length}`);
    out.push('');
  }
  out.push(`Total reclaimed space: ${humanSize(r.reclaimedBytes)}`, '');
  process.stdout.write(out.join('\n'));
  return 0;
}
